"""Retrieval precision at recall fractions (ADM reference protocol) and TF-IDF weights."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from textgan.metrics.retrieval import retrieval_precision, retrieved_count, tfidf

DB = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
DB_LABELS = torch.tensor([0, 0, 1, 1])


def test_retrieved_count_rounds_half_up_like_the_reference():
    assert retrieved_count(11314, 0.0001) == 1
    assert retrieved_count(11314, 0.0002) == 2
    assert retrieved_count(11314, 0.0005) == 6
    assert retrieved_count(11314, 0.2) == 2263
    assert retrieved_count(4, 0.125) == 1  # 0.5 rounds up
    assert retrieved_count(4, 0.1) == 0


def test_hand_built_example():
    # Query 0 (label 0) ranks db0, db1, db3, db2: hits 1, 2, 2, 2.
    # Query 1 (label 1) points near the label-0 documents: ranks db1, db0, db3, db2: hits 0, 0, 1, 2.
    queries = torch.tensor([[1.0, 0.05], [1.0, 0.2]])
    labels = torch.tensor([0, 1])
    recalls = [0.25, 0.5, 0.75, 1.0]
    q0 = retrieval_precision(queries[:1], labels[:1], DB, DB_LABELS, recalls)
    q1 = retrieval_precision(queries[1:], labels[1:], DB, DB_LABELS, recalls)
    assert q0 == pytest.approx([1.0, 1.0, 2 / 3, 0.5])
    assert q1 == pytest.approx([0.0, 0.0, 1 / 3, 0.5])
    both = retrieval_precision(queries, labels, DB, DB_LABELS, recalls, block_size=1)
    assert both == pytest.approx([0.5, 0.5, 0.5, 0.5])


def test_zero_retrieved_gives_zero_and_scale_does_not_matter():
    queries = torch.tensor([[3.0, 0.15]])
    assert retrieval_precision(queries, torch.tensor([0]), DB * 7, DB_LABELS, [0.1, 0.25]) == [0.0, 1.0]


def _brute_force(q, ql, db, dbl, recalls):
    sim = F.normalize(q, dim=1) @ F.normalize(db, dim=1).T
    order = sim.argsort(dim=1, descending=True)
    out = []
    for r in recalls:
        n = int(db.shape[0] * r + 0.5)
        out.append(0.0 if n == 0 else (dbl[order[:, :n]] == ql[:, None]).float().mean(dim=1).mean().item())
    return out


@pytest.mark.parametrize("block_size", [1, 7, 1024])
def test_matches_brute_force_argsort(block_size):
    g = torch.Generator().manual_seed(0)
    db, q = torch.randn(300, 6, generator=g), torch.randn(40, 6, generator=g)
    dbl, ql = torch.randint(0, 4, (300,), generator=g), torch.randint(0, 4, (40,), generator=g)
    recalls = [0.001, 0.01, 0.05, 0.2, 0.5, 1.0]
    got = retrieval_precision(q, ql, db, dbl, recalls, block_size=block_size)
    assert got == pytest.approx(_brute_force(q, ql, db, dbl, recalls), abs=1e-6)


def test_tfidf_by_hand():
    counts = torch.tensor([[2, 0], [1, 1]], dtype=torch.uint8)
    df = torch.tensor([2, 1])
    out = tfidf(counts, df, 2)
    idf0, idf1 = math.log(3 / 3) + 1, math.log(3 / 2) + 1
    assert out.flatten().tolist() == pytest.approx([2 * idf0, 0.0, idf0, idf1])
