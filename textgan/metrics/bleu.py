"""BLEU and Self-BLEU with the text-GAN protocol, equal to nltk's ``sentence_bleu`` per sample.

The text-GAN protocol (Texygen, Zhu et al., 2018) scores every generated sample with
``nltk.translate.bleu_score.sentence_bleu(references, sample, weights=(1/n,)*n,
smoothing_function=SmoothingFunction().method1)`` against the *whole* reference set and averages
over samples; Self-BLEU scores each sample against all the *other* samples. nltk re-counts every
reference for every sample, which costs O(|samples| x |references|). Here the references are
counted once (per n-gram order: the largest count of each n-gram in any one reference, and the
sorted distinct reference lengths), so the work grows with the number of tokens, not with
samples x references. The integer statistics (clipped matches, n-gram totals, closest reference
length) are exact, and the final float arithmetic repeats nltk's operations in nltk's order, so
the per-sample scores are bit-identical to nltk's (see ``docs/evaluation.md``).
"""

from __future__ import annotations

import itertools
import logging
import math
import sys
import warnings
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

Tokenize = str | Callable[[str], Sequence[Hashable]] | None
"""``"whitespace"`` (``str.split``), ``"nltk"`` (``nltk.word_tokenize(text, preserve_line=True)``),
any callable mapping a text to its tokens, or ``None`` when every input is already tokenized."""

Sample = str | Sequence[Hashable]
"""A text (tokenized with the ``tokenize`` setting) or an already tokenized sentence."""

SMOOTHINGS = ("method1", "method0")
"""Supported nltk smoothing functions: ``method1`` (add ``epsilon`` to zero match counts, the
text-GAN protocol) and ``method0`` (none; nltk's default)."""

DEFAULT_ORDERS = (2, 3, 4, 5)


def tokenize_texts(texts: Sequence[Sample], tokenize: Tokenize = "whitespace") -> list[list[Hashable]]:
    """Tokenize texts; items that are already token sequences are copied unchanged.

    Args:
        texts: N texts (``str``) or token sequences.
        tokenize: ``"whitespace"`` splits on runs of whitespace (``str.split()``); ``"nltk"`` uses
            ``nltk.word_tokenize(text, preserve_line=True)`` (the Treebank-style word tokenizer
            without sentence splitting, which needs no downloaded nltk data); a callable is
            applied to each text; ``None`` accepts token sequences only.

    Returns:
        N token lists.

    Raises:
        ValueError: ``tokenize`` is an unknown name, or is ``None`` and a text is given.
    """
    fn = _tokenizer(tokenize)
    return [fn(t) if isinstance(t, str) else list(t) for t in texts]


def _tokenizer(tokenize: Tokenize) -> Callable[[str], list[Hashable]]:
    if tokenize is None:

        def refuse(text: str) -> list[Hashable]:
            raise ValueError(
                f"got the text {text[:40]!r} with tokenize=None: pass token lists or a tokenize setting"
            )

        return refuse
    if callable(tokenize):
        return lambda text: list(tokenize(text))
    if tokenize == "whitespace":
        return str.split
    if tokenize == "nltk":
        from nltk.tokenize import word_tokenize

        return lambda text: word_tokenize(text, preserve_line=True)
    raise ValueError(f"unknown tokenize setting {tokenize!r}: use 'whitespace', 'nltk' or a callable")


def _orders(n: int | Sequence[int]) -> tuple[int, ...]:
    orders = (n,) if isinstance(n, int) else tuple(n)
    if not orders or any(not isinstance(k, int) or isinstance(k, bool) or k < 1 for k in orders):
        raise ValueError(f"BLEU orders must be integers >= 1, got {n!r}")
    return orders


def _check_smoothing(smoothing: str) -> None:
    if smoothing not in SMOOTHINGS:
        raise ValueError(f"unknown smoothing {smoothing!r}: use one of {SMOOTHINGS}")


# ---------------------------------------------------------------------------------------------
# Float arithmetic, in nltk's order (nltk/translate/bleu_score.py: corpus_bleu, method0/1).
# ---------------------------------------------------------------------------------------------


def _log_precisions(
    numerators: Sequence[int], denominators: Sequence[int], smoothing: str, epsilon: float
) -> list[float | None]:
    """log p_k for each order, or None where nltk drops the order (``if p_i > 0``)."""
    logs: list[float | None] = []
    for num, den in zip(numerators, denominators):
        if num != 0:
            # nltk keeps an unnormalised Fraction; math.log converts it with int / int true
            # division, which is correctly rounded, as is num / den here.
            logs.append(math.log(num / den))
            continue
        if smoothing == "method1":
            p = (num + epsilon) / den
        else:
            # method0 substitutes the smallest normal float (and warns; see callers).
            p = sys.float_info.min
        logs.append(math.log(p) if p > 0 else None)
    return logs


def _bleu_from_logs(logs: Sequence[float | None], bp: float, n: int) -> float:
    w = 1 / n  # each entry of nltk's weights=(1/n,)*n
    terms = [w * lp for lp in logs[:n] if lp is not None]
    return bp * math.exp(math.fsum(terms))


def _brevity_penalty(ref_len: int, hyp_len: int) -> float:
    # nltk returns the int 1 here; 1 * x == 1.0 * x for every float x.
    if hyp_len > ref_len:
        return 1.0
    if hyp_len == 0:
        return 0.0
    return math.exp(1 - ref_len / hyp_len)


def _scores_from_stats(
    numerators: Sequence[Sequence[int]],
    hyp_lens: Sequence[int],
    ref_lens: Sequence[int],
    orders: tuple[int, ...],
    smoothing: str,
    epsilon: float,
) -> dict[int, list[float]]:
    """Per-sample BLEU for several orders from exact integer statistics.

    Args:
        numerators: K lists of S clipped match counts, K >= max(orders) (order k at index k-1).
        hyp_lens: S hypothesis lengths.
        ref_lens: S closest reference lengths.
        orders: BLEU orders to return.
        smoothing: ``"method1"`` or ``"method0"``.
        epsilon: method1's added count.

    Returns:
        ``{n: [S scores]}``.
    """
    max_n = max(orders)
    out: dict[int, list[float]] = {n: [] for n in orders}
    zero_precision = False
    for i, (hyp_len, ref_len) in enumerate(zip(hyp_lens, ref_lens)):
        nums = [numerators[k][i] for k in range(max_n)]
        if nums[0] == 0:
            # nltk: "no matching unigram" (this includes the empty hypothesis) returns 0.
            for n in orders:
                out[n].append(0.0)
            continue
        dens = [max(1, hyp_len - k) for k in range(max_n)]
        zero_precision = zero_precision or 0 in nums
        logs = _log_precisions(nums, dens, smoothing, epsilon)
        bp = _brevity_penalty(ref_len, hyp_len)
        for n in orders:
            out[n].append(_bleu_from_logs(logs, bp, n))
    if smoothing == "method0" and zero_precision:
        _warn_zero_precision()
    return out


def _corpus_from_stats(
    numerators: Sequence[Sequence[int]],
    hyp_lens: Sequence[int],
    ref_lens: Sequence[int],
    orders: tuple[int, ...],
    smoothing: str,
    epsilon: float,
) -> dict[int, float]:
    max_n = max(orders)
    # Python ints: exact sums, like nltk's Counter of ints.
    nums = [sum(int(x) for x in numerators[k]) for k in range(max_n)]
    dens = [sum(max(1, h - k) for h in hyp_lens) for k in range(max_n)]
    hyp_total, ref_total = sum(hyp_lens), sum(ref_lens)
    if nums[0] == 0:
        return {n: 0.0 for n in orders}
    if smoothing == "method0" and 0 in nums:
        _warn_zero_precision()
    logs = _log_precisions(nums, dens, smoothing, epsilon)
    bp = _brevity_penalty(ref_total, hyp_total)
    return {n: _bleu_from_logs(logs, bp, n) for n in orders}


def _warn_zero_precision() -> None:
    # nltk warns once per zero-count order per sentence; one warning per call is enough here.
    warnings.warn(
        "Some hypotheses contain 0 counts of some n-gram order, so their unsmoothed BLEU is "
        "(almost) 0; consider smoothing='method1'.",
        UserWarning,
        stacklevel=3,
    )


def sequential_mean(values: Sequence[float]) -> float:
    """Mean with a plain left-to-right float sum, as Texygen's ``score += s`` then ``/ cnt``.

    Python >= 3.12's built-in ``sum`` compensates rounding, which could change the last bits.

    Args:
        values: N >= 1 numbers.

    Returns:
        Their mean.
    """
    total = 0.0
    for v in values:
        total += v
    return total / len(values)


# ---------------------------------------------------------------------------------------------
# Exact integer statistics with numpy.
#
# An n-gram of order k gets an integer id by interning (id of its first k-1 tokens, its last
# token): key = prefix_id * V + token, made dense by np.unique. Ids are exact (no hashing), and
# keys stay below (#distinct (k-1)-grams) * V, far from int64 overflow.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Flat:
    tokens: np.ndarray  # (T,) int64 token ids, -1 for a token unknown to the reference vocab
    lengths: np.ndarray  # (S,) int64 sentence lengths
    sentence: np.ndarray  # (T,) int64 sentence index of each token
    remaining: np.ndarray  # (T,) int64 tokens from this one to the end of its sentence


def _flatten(ids: list[list[int]]) -> _Flat:
    lengths = np.fromiter((len(s) for s in ids), dtype=np.int64, count=len(ids))
    total = int(lengths.sum())
    tokens = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=total)
    sentence = np.repeat(np.arange(len(ids), dtype=np.int64), lengths)
    ends = np.cumsum(lengths)
    remaining = np.repeat(ends, lengths) - np.arange(total, dtype=np.int64)
    return _Flat(tokens, lengths, sentence, remaining)


def _intern(tokenized: Sequence[Sequence[Hashable]]) -> tuple[dict[Hashable, int], list[list[int]]]:
    vocab: dict[Hashable, int] = {}
    setdefault = vocab.setdefault
    ids = [[setdefault(t, len(vocab)) for t in s] for s in tokenized]
    return vocab, ids


def _pair_counts(sentence: np.ndarray, gid: np.ndarray, n_ids: int) -> tuple[np.ndarray, ...]:
    """Count each (sentence, n-gram id) pair. Returns (sentence, gid, count), each (P,)."""
    pair, count = np.unique(sentence * n_ids + gid, return_counts=True)
    return pair // n_ids, pair % n_ids, count


def _own_ngram_ids(
    flat: _Flat, vocab_size: int, max_n: int
) -> Iterator[tuple[int, np.ndarray, np.ndarray, int, np.ndarray | None]]:
    """Yield (k, starts, gid, n_ids, keys) for k = 1..max_n over one sentence set.

    ``starts`` (P,) are the positions where a k-gram starts, ``gid`` (P,) its dense id,
    ``n_ids`` the number of distinct k-grams and ``keys`` the sorted keys (None for k = 1).
    """
    prev = flat.tokens
    for k in range(1, max_n + 1):
        if k == 1:
            starts = np.arange(flat.tokens.size, dtype=np.int64)
            yield k, starts, flat.tokens, vocab_size, None
            continue
        starts = np.flatnonzero(flat.remaining >= k)
        keys, gid = np.unique(prev[starts] * vocab_size + flat.tokens[starts + k - 1], return_inverse=True)
        gid = gid.reshape(-1).astype(np.int64, copy=False)
        nxt = np.full(flat.tokens.size, -1, dtype=np.int64)
        nxt[starts] = gid
        prev = nxt
        yield k, starts, gid, keys.size, keys


class BleuReference:
    """A reference set counted once, against which hypotheses are scored like nltk's BLEU.

    ``BleuReference(refs).sentence_bleu(hyp, n)`` equals (bit for bit)
    ``nltk.translate.bleu_score.sentence_bleu(refs, hyp, weights=(1/n,)*n,
    smoothing_function=SmoothingFunction().method1)``.

    Args:
        references: R >= 1 tokenized reference sentences (any hashable tokens).
        max_n: highest n-gram order that can be scored.

    Raises:
        ValueError: no references, or ``max_n`` < 1.
    """

    def __init__(self, references: Sequence[Sequence[Hashable]], max_n: int = 5) -> None:
        if len(references) == 0:
            raise ValueError("BLEU needs at least one reference sentence")
        if max_n < 1:
            raise ValueError(f"max_n must be >= 1, got {max_n}")
        self.max_n = max_n
        self.num_references = len(references)
        self._vocab, ids = _intern(references)
        flat = _flatten(ids)
        self._keys: list[np.ndarray | None] = []
        self._max_counts: list[np.ndarray] = []
        for _, starts, gid, n_ids, keys in _own_ngram_ids(flat, len(self._vocab), max_n):
            _, g, count = _pair_counts(flat.sentence[starts], gid, n_ids)
            max_count = np.zeros(n_ids, dtype=np.int64)
            np.maximum.at(max_count, g, count)  # largest count in any single reference
            self._keys.append(keys)
            self._max_counts.append(max_count)
        self._lengths = np.unique(flat.lengths)  # sorted distinct reference lengths
        logger.debug("BleuReference: %d references, %d token types", self.num_references, len(self._vocab))

    def _numerators(self, hypotheses: Sequence[Sequence[Hashable]], max_n: int) -> list[np.ndarray]:
        """Clipped match counts: max_n arrays of shape (H,), int64."""
        get = self._vocab.get
        flat = _flatten([[get(t, -1) for t in h] for h in hypotheses])
        n_hyp, vocab_size = len(hypotheses), len(self._vocab)
        numerators = []
        prev = flat.tokens
        for k in range(1, max_n + 1):
            if k == 1:
                starts = np.flatnonzero(flat.tokens >= 0)
                gid = flat.tokens[starts]
            else:
                keys = self._keys[k - 1]
                starts = np.flatnonzero((flat.remaining >= k) & (prev >= 0))
                last = flat.tokens[starts + k - 1]
                starts, last = starts[last >= 0], last[last >= 0]
                key = prev[starts] * vocab_size + last
                # A k-gram whose last token, (k-1)-prefix or key is absent from the references
                # has no match; it only adds to the denominator.
                pos = np.minimum(np.searchsorted(keys, key), max(keys.size - 1, 0))
                hit = keys[pos] == key if keys.size else np.zeros(key.size, dtype=bool)
                starts, gid = starts[hit], pos[hit].astype(np.int64)
                prev = np.full(flat.tokens.size, -1, dtype=np.int64)
                prev[starts] = gid
            max_count = self._max_counts[k - 1]
            sent, g, count = _pair_counts(flat.sentence[starts], gid, max_count.size)
            clipped = np.minimum(count, max_count[g])
            numerators.append(np.bincount(sent, weights=clipped, minlength=n_hyp).astype(np.int64))
        return numerators

    def closest_lengths(self, hyp_lens: Sequence[int] | np.ndarray) -> np.ndarray:
        """Closest reference length to each hypothesis length; ties go to the shorter one.

        Args:
            hyp_lens: (H,) hypothesis lengths.

        Returns:
            (H,) int64 closest reference lengths (nltk's ``closest_ref_length``).
        """
        return _closest(self._lengths, np.asarray(hyp_lens, dtype=np.int64))

    def _stats(
        self, hypotheses: Sequence[Sequence[Hashable]], orders: tuple[int, ...]
    ) -> tuple[list[list[int]], list[int], list[int]]:
        max_n = max(orders)
        if max_n > self.max_n:
            raise ValueError(
                f"BLEU-{max_n} requested but this BleuReference counts n-grams up to max_n={self.max_n}"
            )
        numerators = [a.tolist() for a in self._numerators(hypotheses, max_n)]
        hyp_lens = [len(h) for h in hypotheses]
        ref_lens = self.closest_lengths(hyp_lens).tolist()
        return numerators, hyp_lens, ref_lens

    def scores_by_order(
        self,
        hypotheses: Sequence[Sequence[Hashable]],
        orders: int | Sequence[int] = DEFAULT_ORDERS,
        smoothing: str = "method1",
        epsilon: float = 0.1,
    ) -> dict[int, list[float]]:
        """Per-hypothesis BLEU for several orders, sharing the n-gram counting.

        Args:
            hypotheses: H tokenized hypotheses.
            orders: BLEU orders n (uniform weights 1/n over orders 1..n).
            smoothing: ``"method1"`` (text-GAN protocol) or ``"method0"`` (none).
            epsilon: count added to zero match counts by method1 (nltk's default 0.1).

        Returns:
            ``{n: [H scores]}``, each equal to nltk's ``sentence_bleu``.
        """
        orders = _orders(orders)
        _check_smoothing(smoothing)
        if len(hypotheses) == 0:
            return {n: [] for n in orders}
        return _scores_from_stats(*self._stats(hypotheses, orders), orders, smoothing, epsilon)

    def scores(
        self,
        hypotheses: Sequence[Sequence[Hashable]],
        n: int = 4,
        smoothing: str = "method1",
        epsilon: float = 0.1,
    ) -> list[float]:
        """Per-hypothesis BLEU-n.

        Args:
            hypotheses: H tokenized hypotheses.
            n: BLEU order.
            smoothing: see :meth:`scores_by_order`.
            epsilon: see :meth:`scores_by_order`.

        Returns:
            H scores.
        """
        return self.scores_by_order(hypotheses, n, smoothing, epsilon)[n]

    def sentence_bleu(
        self, hypothesis: Sequence[Hashable], n: int = 4, smoothing: str = "method1", epsilon: float = 0.1
    ) -> float:
        """BLEU-n of one tokenized hypothesis against all references (nltk's ``sentence_bleu``)."""
        return self.scores([hypothesis], n, smoothing, epsilon)[0]

    def corpus_bleu(
        self,
        hypotheses: Sequence[Sequence[Hashable]],
        orders: int | Sequence[int] = DEFAULT_ORDERS,
        smoothing: str = "method1",
        epsilon: float = 0.1,
    ) -> dict[int, float]:
        """Corpus BLEU with every hypothesis scored against all references.

        Equals ``nltk.translate.bleu_score.corpus_bleu([refs] * H, hypotheses, (1/n,)*n, ...)``:
        match counts, n-gram totals, hypothesis lengths and closest reference lengths are summed
        over hypotheses before the precisions and the brevity penalty are formed.

        Args:
            hypotheses: H >= 1 tokenized hypotheses.
            orders: BLEU orders.
            smoothing: see :meth:`scores_by_order`.
            epsilon: see :meth:`scores_by_order`.

        Returns:
            ``{n: score}``.
        """
        orders = _orders(orders)
        _check_smoothing(smoothing)
        if len(hypotheses) == 0:
            raise ValueError("corpus BLEU needs at least one hypothesis")
        return _corpus_from_stats(*self._stats(hypotheses, orders), orders, smoothing, epsilon)


def _closest(sorted_lengths: np.ndarray, hyp_lens: np.ndarray) -> np.ndarray:
    """nltk's ``closest_ref_length``: min over references of (|r - h|, r), vectorised."""
    j = np.searchsorted(sorted_lengths, hyp_lens)  # sorted_lengths[j - 1] < h <= sorted_lengths[j]
    has_lower, has_upper = j > 0, j < sorted_lengths.size
    lower = sorted_lengths[np.maximum(j - 1, 0)]
    upper = sorted_lengths[np.minimum(j, sorted_lengths.size - 1)]
    take_lower = has_lower & (~has_upper | (hyp_lens - lower <= upper - hyp_lens))
    return np.where(take_lower, lower, upper)


def self_bleu_scores(
    samples: Sequence[Sequence[Hashable]],
    orders: int | Sequence[int] = DEFAULT_ORDERS,
    smoothing: str = "method1",
    epsilon: float = 0.1,
) -> dict[int, list[float]]:
    """Per-sample Self-BLEU: each sample scored against all the *other* samples.

    Sample i gets ``nltk.sentence_bleu(samples[:i] + samples[i+1:], samples[i], (1/n,)*n, ...)``.
    For leave-one-out maxima, each n-gram keeps its largest count over samples, how many samples
    reach it, and the largest count below it; a sample holding the unique maximum sees the
    runner-up. Lengths are a multiset: a sample's own length counts only if another sample shares it.

    Args:
        samples: S >= 2 tokenized samples.
        orders: BLEU orders.
        smoothing: ``"method1"`` or ``"method0"``.
        epsilon: method1's added count.

    Returns:
        ``{n: [S scores]}``.

    Raises:
        ValueError: fewer than two samples (a lone sample has no references).
    """
    orders = _orders(orders)
    _check_smoothing(smoothing)
    if len(samples) < 2:
        raise ValueError(f"Self-BLEU needs at least 2 samples, got {len(samples)}")
    vocab, ids = _intern(samples)
    flat = _flatten(ids)
    n_samples, max_n = len(samples), max(orders)
    numerators = []
    for _, starts, gid, n_ids, _ in _own_ngram_ids(flat, len(vocab), max_n):
        sent, g, count = _pair_counts(flat.sentence[starts], gid, n_ids)
        top = np.zeros(n_ids, dtype=np.int64)
        np.maximum.at(top, g, count)
        is_top = count == top[g]
        n_top = np.bincount(g[is_top], minlength=n_ids)
        runner_up = np.zeros(n_ids, dtype=np.int64)
        np.maximum.at(runner_up, g[~is_top], count[~is_top])
        others_max = np.where(is_top & (n_top[g] == 1), runner_up[g], top[g])
        clipped = np.minimum(count, others_max)
        numerators.append(np.bincount(sent, weights=clipped, minlength=n_samples).astype(np.int64).tolist())
    hyp_lens = flat.lengths
    distinct, multiplicity = np.unique(hyp_lens, return_counts=True)
    j = np.searchsorted(distinct, hyp_lens)  # distinct[j] == own length
    shared = multiplicity[j] >= 2
    has_lower, has_upper = j > 0, j + 1 < distinct.size
    lower = distinct[np.maximum(j - 1, 0)]
    upper = distinct[np.minimum(j + 1, distinct.size - 1)]
    take_lower = has_lower & (~has_upper | (hyp_lens - lower <= upper - hyp_lens))
    ref_lens = np.where(shared, hyp_lens, np.where(take_lower, lower, upper))
    return _scores_from_stats(numerators, hyp_lens.tolist(), ref_lens.tolist(), orders, smoothing, epsilon)


def sentence_bleu(
    references: Sequence[Sequence[Hashable]],
    hypothesis: Sequence[Hashable],
    n: int = 4,
    smoothing: str = "method1",
    epsilon: float = 0.1,
) -> float:
    """BLEU-n of one tokenized hypothesis (one-off; build a :class:`BleuReference` to reuse).

    Args:
        references: R >= 1 tokenized references.
        hypothesis: tokenized hypothesis.
        n: BLEU order (uniform weights).
        smoothing: ``"method1"`` or ``"method0"``.
        epsilon: method1's added count.

    Returns:
        nltk's ``sentence_bleu(references, hypothesis, (1/n,)*n, smoothing_function=...)``.
    """
    return BleuReference(references, max_n=n).sentence_bleu(hypothesis, n, smoothing, epsilon)


def bleu(
    samples: Sequence[Sample],
    references: Sequence[Sample],
    n: int | Sequence[int] = DEFAULT_ORDERS,
    tokenize: Tokenize = "whitespace",
    smoothing: str = "method1",
    epsilon: float = 0.1,
) -> dict[int, float]:
    """Text-GAN BLEU: mean over samples of each sample's BLEU-n against all references.

    Args:
        samples: S >= 1 generated texts or token sequences.
        references: R >= 1 reference texts or token sequences (e.g. the test set).
        n: one order or several (default BLEU-2..5).
        tokenize: see :func:`tokenize_texts`.
        smoothing: ``"method1"`` (Texygen) or ``"method0"``.
        epsilon: method1's added count.

    Returns:
        ``{n: mean score}``.
    """
    orders = _orders(n)
    hyps = tokenize_texts(samples, tokenize)
    if not hyps:
        raise ValueError("BLEU needs at least one sample")
    ref = BleuReference(tokenize_texts(references, tokenize), max_n=max(orders))
    scores = ref.scores_by_order(hyps, orders, smoothing, epsilon)
    return {k: sequential_mean(v) for k, v in scores.items()}


def corpus_bleu(
    samples: Sequence[Sample],
    references: Sequence[Sample],
    n: int | Sequence[int] = DEFAULT_ORDERS,
    tokenize: Tokenize = "whitespace",
    smoothing: str = "method1",
    epsilon: float = 0.1,
) -> dict[int, float]:
    """Corpus-level BLEU, every sample against all references (see :meth:`BleuReference.corpus_bleu`).

    Args:
        samples: S >= 1 generated texts or token sequences.
        references: R >= 1 reference texts or token sequences.
        n: one order or several.
        tokenize: see :func:`tokenize_texts`.
        smoothing: ``"method1"`` or ``"method0"``.
        epsilon: method1's added count.

    Returns:
        ``{n: score}``.
    """
    orders = _orders(n)
    ref = BleuReference(tokenize_texts(references, tokenize), max_n=max(orders))
    return ref.corpus_bleu(tokenize_texts(samples, tokenize), orders, smoothing, epsilon)


def self_bleu(
    samples: Sequence[Sample],
    n: int | Sequence[int] = DEFAULT_ORDERS,
    tokenize: Tokenize = "whitespace",
    smoothing: str = "method1",
    epsilon: float = 0.1,
) -> dict[int, float]:
    """Texygen Self-BLEU: mean over samples of each sample's BLEU against all other samples.

    Texygen's default (``get_score(is_fast=True)``) scores only the first 500 samples; pass
    ``samples[:500]`` to reproduce it.

    Args:
        samples: S >= 2 generated texts or token sequences.
        n: one order or several (default 2..5).
        tokenize: see :func:`tokenize_texts`.
        smoothing: ``"method1"`` or ``"method0"``.
        epsilon: method1's added count.

    Returns:
        ``{n: mean score}``.
    """
    scores = self_bleu_scores(tokenize_texts(samples, tokenize), n, smoothing, epsilon)
    return {k: sequential_mean(v) for k, v in scores.items()}
