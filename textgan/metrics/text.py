"""Surface statistics of generated text: distinct-n, novelty against training data, lengths."""

from __future__ import annotations

import statistics
from collections.abc import Hashable, Iterator, Sequence

from textgan.metrics.bleu import Sample, Tokenize, tokenize_texts


def _ngrams(tokens: Sequence[Hashable], n: int) -> Iterator[tuple[Hashable, ...]]:
    return (tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def distinct_n(samples_tokens: Sequence[Sequence[Hashable]], n: int) -> float:
    """Distinct-n (Li et al., 2016): distinct n-grams / all n-grams, pooled over samples.

    Args:
        samples_tokens: S tokenized samples; samples shorter than ``n`` add no n-grams.
        n: n-gram order, >= 1.

    Returns:
        A ratio in [0, 1]; 0.0 when there is no n-gram at all.

    Raises:
        ValueError: ``n`` < 1.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    seen: set[tuple[Hashable, ...]] = set()
    total = 0
    for tokens in samples_tokens:
        grams = list(_ngrams(tokens, n))
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else 0.0


def novelty(
    samples: Sequence[Sample],
    train_texts: Sequence[Sample],
    n: int | Sequence[int] = (2, 3, 4),
    tokenize: Tokenize = "whitespace",
) -> dict[str, float]:
    """How much of the generated text is copied from the training data.

    Texts are compared after tokenization, so whitespace differences do not count.

    Args:
        samples: S >= 1 generated texts or token sequences.
        train_texts: training texts or token sequences.
        n: n-gram orders for the novel n-gram shares.
        tokenize: see :func:`textgan.metrics.bleu.tokenize_texts`.

    Returns:
        ``{"copied": share of samples equal to some training text,
        "novel_<k>gram": share of the samples' k-gram occurrences (counted with repetition)
        whose k-gram occurs nowhere in the training data}``; a novel share is 0.0 when the
        samples have no k-gram.

    Raises:
        ValueError: no samples, or an order < 1.
    """
    orders = (n,) if isinstance(n, int) else tuple(n)
    if any(k < 1 for k in orders):
        raise ValueError(f"n-gram orders must be >= 1, got {n!r}")
    gen = tokenize_texts(samples, tokenize)
    if not gen:
        raise ValueError("novelty needs at least one sample")
    train = tokenize_texts(train_texts, tokenize)
    train_set = {tuple(t) for t in train}
    result = {"copied": sum(tuple(t) in train_set for t in gen) / len(gen)}
    for k in orders:
        train_grams = {g for t in train for g in _ngrams(t, k)}
        total = novel = 0
        for t in gen:
            for g in _ngrams(t, k):
                total += 1
                novel += g not in train_grams
        result[f"novel_{k}gram"] = novel / total if total else 0.0
    return result


def length_stats(samples_tokens: Sequence[Sequence[Hashable]]) -> dict[str, float]:
    """Length statistics of tokenized samples.

    Args:
        samples_tokens: S >= 1 tokenized samples.

    Returns:
        ``{"mean", "std" (population, ddof=0), "min", "max", "median"}`` in tokens.

    Raises:
        ValueError: no samples.
    """
    lengths = [len(t) for t in samples_tokens]
    if not lengths:
        raise ValueError("length_stats needs at least one sample")
    mean = statistics.fmean(lengths)
    return {
        "mean": mean,
        "std": statistics.pstdev(lengths),
        "min": float(min(lengths)),
        "max": float(max(lengths)),
        "median": float(statistics.median(lengths)),
    }
