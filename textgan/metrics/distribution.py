"""Distribution-level n-gram metrics: forward/backward BLEU and MS-Jaccard, exact.

- **Forward BLEU** (Shi et al., 2018, "Toward Diverse Text Generation with Inverse Reinforcement
  Learning", Sec. 5): every generated sample scored against the real test set, averaged over
  samples; this is the text-GAN BLEU of :func:`textgan.metrics.bleu.bleu` (quality).
- **Backward BLEU**: every real test sentence scored against the generated set, averaged over the
  test sentences (coverage: a collapsed generator leaves test n-grams unmatched).
- **BLEU-HA**: their harmonic mean ``2 F B / (F + B)``.
- **MS-Jaccard** (Montahaei, Alihosseini and Soleymani Baghshah, 2019, "Jointly Measuring
  Diversity and Quality in Text Generation Models"): per order k, each n-gram's count in a set
  divided by the number of sentences in that set; the score of order k is
  ``sum_g min(c_gen(g), c_real(g)) / sum_g max(c_gen(g), c_real(g))``, and MS-Jaccard-n is the
  geometric mean of the scores of orders 1..n.

BLEU reuses :class:`textgan.metrics.bleu.BleuReference` (bit-identical to nltk). MS-Jaccard
counts n-grams with the same interning as BLEU (``bleu._own_ngram_ids``) over the two sets
together; the per-order ratio is formed from exact integers (``min(c1 * N2, c2 * N1)`` over
``max(...)``), so it is correctly rounded.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np

from .bleu import (DEFAULT_ORDERS, BleuReference, Sample, Tokenize, _flatten, _intern, _orders,
                   _own_ngram_ids, sequential_mean, tokenize_texts)


def forward_backward_bleu_scores(
    samples: Sequence[Sequence[Hashable]],
    references: Sequence[Sequence[Hashable]],
    orders: int | Sequence[int] = DEFAULT_ORDERS,
    smoothing: str = "method1",
    epsilon: float = 0.1,
) -> tuple[dict[int, list[float]], dict[int, list[float]]]:
    """Per-sentence forward and backward BLEU.

    Args:
        samples: S >= 1 tokenized generated sentences.
        references: R >= 1 tokenized real sentences.
        orders: BLEU orders.
        smoothing: ``"method1"`` (text-GAN protocol) or ``"method0"``.
        epsilon: method1's added count.

    Returns:
        ``(forward, backward)``: ``{n: [S scores]}`` (each sample against all references) and
        ``{n: [R scores]}`` (each reference against all samples), each score equal to nltk's
        ``sentence_bleu``.
    """
    orders = _orders(orders)
    if len(samples) == 0 or len(references) == 0:
        raise ValueError("forward/backward BLEU need at least one sample and one reference")
    fwd = BleuReference(references, max_n=max(orders)).scores_by_order(samples, orders, smoothing, epsilon)
    bwd = BleuReference(samples, max_n=max(orders)).scores_by_order(references, orders, smoothing, epsilon)
    return fwd, bwd


def forward_backward_bleu(
    samples: Sequence[Sample],
    references: Sequence[Sample],
    n: int | Sequence[int] = DEFAULT_ORDERS,
    tokenize: Tokenize = "whitespace",
    smoothing: str = "method1",
    epsilon: float = 0.1,
) -> dict[str, dict[int, float]]:
    """Forward BLEU, backward BLEU and their harmonic mean (Shi et al., 2018).

    Args:
        samples: generated texts or token sequences.
        references: real texts or token sequences (the test set).
        n: one order or several.
        tokenize: see :func:`textgan.metrics.bleu.tokenize_texts`.
        smoothing: ``"method1"`` or ``"method0"``.
        epsilon: method1's added count.

    Returns:
        ``{"forward": {n: mean}, "backward": {n: mean}, "harmonic": {n: 2FB/(F+B)}}``; the
        harmonic mean is 0 where F + B is 0.
    """
    fwd, bwd = forward_backward_bleu_scores(tokenize_texts(samples, tokenize), tokenize_texts(references, tokenize),
                                            n, smoothing, epsilon)
    f = {k: sequential_mean(v) for k, v in fwd.items()}
    b = {k: sequential_mean(v) for k, v in bwd.items()}
    return {"forward": f, "backward": b, "harmonic": {k: harmonic_mean(f[k], b[k]) for k in f}}


def harmonic_mean(a: float, b: float) -> float:
    """``2ab / (a + b)``, 0 when ``a + b`` is 0."""
    return 0.0 if a + b == 0 else 2 * a * b / (a + b)


def ms_jaccard_by_order(
    samples: Sequence[Sequence[Hashable]], references: Sequence[Sequence[Hashable]], max_n: int = 5
) -> list[float]:
    """The per-order multiset Jaccard scores of orders 1..max_n.

    Args:
        samples: S >= 1 tokenized generated sentences.
        references: R >= 1 tokenized real sentences.
        max_n: highest order.

    Returns:
        ``max_n`` scores; order k's is ``sum min / sum max`` of the per-sentence n-gram counts
        (0 when neither set has a k-gram).
    """
    if len(samples) == 0 or len(references) == 0:
        raise ValueError("MS-Jaccard needs at least one sample and one reference")
    if max_n < 1:
        raise ValueError(f"max_n must be >= 1, got {max_n}")
    n_s, n_r = len(samples), len(references)
    vocab, ids = _intern([*samples, *references])
    flat = _flatten(ids)
    is_sample = flat.sentence < n_s
    scores = []
    for _, starts, gid, n_ids, _ in _own_ngram_ids(flat, len(vocab), max_n):
        side = is_sample[starts]
        c_s = np.bincount(gid[side], minlength=n_ids).astype(np.int64) * n_r  # count / n_s, times n_s * n_r
        c_r = np.bincount(gid[~side], minlength=n_ids).astype(np.int64) * n_s
        lo = int(np.minimum(c_s, c_r).sum(dtype=np.int64))
        hi = int(np.maximum(c_s, c_r).sum(dtype=np.int64))
        scores.append(lo / hi if hi else 0.0)
    return scores


def ms_jaccard(
    samples: Sequence[Sample],
    references: Sequence[Sample],
    n: int | Sequence[int] = DEFAULT_ORDERS,
    tokenize: Tokenize = "whitespace",
) -> dict[int, float]:
    """MS-Jaccard-n: the geometric mean of the multiset Jaccard scores of orders 1..n.

    Args:
        samples: generated texts or token sequences.
        references: real texts or token sequences.
        n: one order or several.
        tokenize: see :func:`textgan.metrics.bleu.tokenize_texts`.

    Returns:
        ``{n: score}`` (0 when any order 1..n scores 0).
    """
    orders = _orders(n)
    per_order = ms_jaccard_by_order(tokenize_texts(samples, tokenize), tokenize_texts(references, tokenize),
                                    max(orders))
    return {k: geometric_mean(per_order[:k]) for k in orders}


def geometric_mean(values: Sequence[float]) -> float:
    """``(prod values) ** (1 / len)``, 0 when a value is 0."""
    if any(v == 0 for v in values):
        return 0.0
    return math.exp(math.fsum(math.log(v) for v in values) / len(values))


def token_entropy(samples: Sequence[Sequence[Hashable]]) -> float:
    """Entropy (nats) of the unigram distribution pooled over all sample tokens.

    ``-sum_w p(w) log p(w)`` with ``p(w)`` the share of token occurrences that are ``w``
    (0 for no tokens). Higher means a richer vocabulary in use; a collapsed generator scores low.
    """
    counts: dict[Hashable, int] = {}
    for s in samples:
        for t in s:
            counts[t] = counts.get(t, 0) + 1
    total = sum(counts.values())
    if total == 0:
        return 0.0
    c = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
    p = c / total
    return float(-(p * np.log(p)).sum())
