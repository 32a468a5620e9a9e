"""Document-retrieval precision at fixed recall fractions, and the bag-of-words / TF-IDF baselines.

The protocol is the ADM reference's (AYLIEN/adversarial-document-model, ``model/evaluate.py``),
itself the DocNADE / Replicated Softmax protocol: every query document ranks the database
documents by cosine similarity of their vectors; for a recall fraction ``r`` the top
``n = int(r * N + 0.5)`` documents are retrieved (N = database size) and the precision is the
share of them with the query's label, averaged over queries (``n = 0`` gives precision 0, as in
the reference). Zero vectors have cosine 0 with everything (scikit-learn's convention).
Here the similarities are one matrix product of L2-normalised vectors per block of queries,
followed by ``topk``, instead of a full argsort.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

PAPER_RECALLS: tuple[float, ...] = (0.0001, 0.0002, 0.0005, 0.002, 0.01, 0.05, 0.2)
"""Recall fractions of the reference's ``evaluate.py`` (1.0 is added in our tables)."""


def retrieved_count(database_size: int, recall: float) -> int:
    """Documents retrieved at recall fraction ``recall``: ``int(recall * N + 0.5)`` as the reference."""
    return int(database_size * recall + 0.5)


def retrieval_precision(queries: Tensor, query_labels: Tensor, database: Tensor, database_labels: Tensor,
                        recalls: Sequence[float] = PAPER_RECALLS, *, block_size: int = 1024) -> list[float]:
    """Mean precision of cosine-similarity retrieval at each recall fraction.

    Args:
        queries: (Q, D) query vectors (any float dtype; computed in float32).
        query_labels: (Q,) int labels.
        database: (N, D) database vectors.
        database_labels: (N,) int labels.
        recalls: fractions r in (0, 1].
        block_size: queries per similarity block (memory is about ``block_size * N`` floats).

    Returns:
        One precision per recall fraction, in order.
    """
    n = database.shape[0]
    counts = [retrieved_count(n, r) for r in recalls]
    k_max = max(counts, default=0)
    sums = torch.zeros(len(counts), dtype=torch.float64)
    if k_max == 0 or queries.shape[0] == 0:
        return [0.0] * len(counts)
    # Retrieving the whole database needs no ranking: the precision is the label's share.
    rank_k = max((c for c in counts if c < n), default=0)
    q = F.normalize(queries.float(), dim=1)
    db = F.normalize(database.float().to(q.device), dim=1)
    db_labels = database_labels.to(q.device)
    q_labels = query_labels.to(q.device)
    label_totals = torch.bincount(db_labels, minlength=int(max(db_labels.max(), q_labels.max())) + 1).double()
    for start in range(0, q.shape[0], block_size):
        block = q[start:start + block_size]
        labels = q_labels[start:start + block_size]
        if rank_k:
            top = (block @ db.T).topk(rank_k, dim=1).indices  # (b, k), most similar first
            hits = (db_labels[top] == labels[:, None]).double().cumsum(dim=1)  # (b, k) hits within the top j+1
        for i, c in enumerate(counts):
            if c == 0:
                continue
            if c == n:
                sums[i] += (label_totals[labels] / n).sum().cpu()
            else:
                sums[i] += (hits[:, c - 1] / c).sum().cpu()
    return (sums / q.shape[0]).tolist()


def tfidf(counts: Tensor, document_frequency: Tensor, num_documents: int) -> Tensor:
    """TF-IDF vectors: raw count times smoothed idf ``ln((1 + N) / (1 + df)) + 1``.

    Args:
        counts: (B, V) word counts.
        document_frequency: (V,) documents of the reference collection containing each word.
        num_documents: N, size of that collection.

    Returns:
        (B, V) float32 (scikit-learn's ``TfidfVectorizer(norm=None)`` weighting; cosine
        similarity normalises anyway).
    """
    idf = torch.log((1.0 + num_documents) / (1.0 + document_frequency.double())) + 1.0
    return (counts.double() * idf).float()
