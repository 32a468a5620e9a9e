"""The three representation evaluations (retrieval, linear probe, k-means clustering) on any embeddings."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("sklearn")

from textgan.errors import TextganError
from textgan.metrics.representation import (clustering_scores, evaluate_embeddings, format_table, linear_probe,
                                            write_evaluation_tables)


def blobs(n: int, classes: int = 3, dim: int = 8, spread: float = 0.05, seed: int = 0):
    """Well separated clusters (one direction per class) and their labels."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.eye(dim)[:classes] * 5
    y = torch.arange(n) % classes
    return centres[y] + spread * torch.randn(n, dim, generator=g), y


def test_separable_embeddings_score_perfectly_and_noise_does_not():
    xtr, ytr = blobs(60)
    xte, yte = blobs(30, seed=1)
    assert linear_probe(xtr, ytr, xte, yte)["accuracy"] == 1.0
    scores = clustering_scores(xte, yte)
    assert scores["k"] == 3 and scores["nmi"] == pytest.approx(1.0) and scores["v_measure"] == pytest.approx(1.0)
    noise = torch.randn(30, 8, generator=torch.Generator().manual_seed(3))
    assert clustering_scores(noise, yte)["nmi"] < 0.5


def test_string_labels_and_numpy_inputs_work():
    xtr, ytr = blobs(60)
    xte, yte = blobs(30, seed=1)
    names = np.array(["fake", "real", "satire"])
    tables = evaluate_embeddings({"mine": (xtr.numpy(), xte.numpy())}, names[ytr.numpy()], names[yte.numpy()],
                                 recalls=[0.05, 1.0])
    assert set(tables) == {"retrieval", "probe", "clustering"}
    assert tables["retrieval"]["mine"]["0.05"] == 1.0 and tables["retrieval"]["mine"]["1"] == pytest.approx(1 / 3)
    assert tables["probe"]["mine"]["accuracy"] == 1.0


def test_evaluate_and_write_tables(tmp_path):
    xtr, ytr = blobs(60)
    xte, yte = blobs(30, seed=1)
    rand_tr = torch.randn(60, 8, generator=torch.Generator().manual_seed(5))
    rand_te = torch.randn(30, 8, generator=torch.Generator().manual_seed(6))
    tables = evaluate_embeddings({"good": (xtr, xte), "random": (rand_tr, rand_te)}, ytr, yte,
                                 evaluations=["probe", "clustering"])
    assert list(tables) == ["probe", "clustering"] and list(tables["probe"]) == ["good", "random"]
    assert tables["probe"]["good"]["accuracy"] > tables["probe"]["random"]["accuracy"]
    # deterministic for a seed
    assert tables == evaluate_embeddings({"good": (xtr, xte), "random": (rand_tr, rand_te)}, ytr, yte,
                                         evaluations=["probe", "clustering"])
    written = write_evaluation_tables(tables, tmp_path, title="blobs", info={"num_queries": 30})
    assert set(written) == {"probe", "clustering"}
    for name in ("probe.json", "probe.md", "probe.png", "clustering.json", "clustering.md", "clustering.png"):
        assert (tmp_path / name).is_file(), name
    saved = json.loads((tmp_path / "probe.json").read_text())
    assert saved["num_queries"] == 30 and saved["table"] == tables["probe"]
    assert "| good | 1.0000 |" in (tmp_path / "probe.md").read_text()
    assert "nmi" in (tmp_path / "clustering.md").read_text().splitlines()[2]


def test_format_and_errors():
    assert format_table({"a": {"x": 0.5, "k": 3}}) == "| method | x | k |\n|---|---|---|\n| a | 0.5000 | 3 |\n"
    x, y = blobs(6)
    with pytest.raises(TextganError, match="two classes"):
        linear_probe(x, torch.zeros(6, dtype=torch.long), x, y)
    with pytest.raises(TextganError, match="k >= 2"):
        clustering_scores(x[:2], y[:2], k=3)
    with pytest.raises(TextganError, match="unknown evaluation"):
        evaluate_embeddings({"a": (x, x)}, y, y, evaluations=["accuracy"])
