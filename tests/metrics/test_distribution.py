"""Tests for textgan.metrics.distribution: forward/backward BLEU against nltk, MS-Jaccard against
a direct Counter implementation of Montahaei et al. (2019), and hand-worked values."""

from __future__ import annotations

import math
import warnings
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

nltk_bleu = pytest.importorskip("nltk.translate.bleu_score")

from textgan.metrics.distribution import (  # noqa: E402
    forward_backward_bleu,
    forward_backward_bleu_scores,
    geometric_mean,
    harmonic_mean,
    ms_jaccard,
    ms_jaccard_by_order,
)

METHOD1 = nltk_bleu.SmoothingFunction().method1

TOKEN = st.sampled_from(["a", "b", "c", "é", "a."])
SENTENCE = st.lists(TOKEN, min_size=0, max_size=8)
SET = st.lists(SENTENCE, min_size=1, max_size=6)
PROPERTY = settings(max_examples=100, deadline=None)


def nltk_mean(hyps, refs, n):
    """Independent forward BLEU: nltk's sentence_bleu per hypothesis, summed left to right."""
    total = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for h in hyps:
            total += nltk_bleu.sentence_bleu(refs, h, (1 / n,) * n, smoothing_function=METHOD1)
    return total / len(hyps)


def counter_ms_jaccard(samples, refs, n):
    """Direct transcription of the definition with Counters and float division."""
    scores = []
    for k in range(1, n + 1):
        cs = Counter(tuple(s[i:i + k]) for s in samples for i in range(len(s) - k + 1))
        cr = Counter(tuple(s[i:i + k]) for s in refs for i in range(len(s) - k + 1))
        lo = sum(min(cs[g] / len(samples), cr[g] / len(refs)) for g in set(cs) | set(cr))
        hi = sum(max(cs[g] / len(samples), cr[g] / len(refs)) for g in set(cs) | set(cr))
        scores.append(lo / hi if hi else 0.0)
    return 0.0 if 0.0 in scores else math.prod(scores) ** (1 / n)


@PROPERTY
@given(SET, SET, st.integers(1, 5))
def test_forward_and_backward_bleu_equal_nltk(samples, refs, n):
    got = forward_backward_bleu(samples, refs, n=n, tokenize=None)
    assert got["forward"][n] == nltk_mean(samples, refs, n)
    assert got["backward"][n] == nltk_mean(refs, samples, n)
    f, b = got["forward"][n], got["backward"][n]
    assert got["harmonic"][n] == pytest.approx(0.0 if f + b == 0 else 2 * f * b / (f + b))


@PROPERTY
@given(SET, SET, st.integers(1, 5))
def test_ms_jaccard_equals_the_direct_definition(samples, refs, n):
    assert ms_jaccard(samples, refs, n=n, tokenize=None)[n] == pytest.approx(counter_ms_jaccard(samples, refs, n),
                                                                             rel=1e-12, abs=1e-15)


def test_forward_backward_on_texts_per_sentence():
    fwd, bwd = forward_backward_bleu_scores([["a", "b"], ["c"]], [["a", "b"]], orders=(1, 2))
    assert len(fwd[1]) == 2 and len(bwd[1]) == 1
    assert fwd[2][0] == 1.0 and fwd[1][1] == 0.0  # "c" matches no reference unigram
    assert bwd[2][0] == 1.0  # the reference is one of the samples


def test_ms_jaccard_hand_worked():
    # samples: {a:2, b:1}/1 sentence; refs: {a:1}/2 sentences -> a: 2 vs 0.5, b: 1 vs 0
    assert ms_jaccard_by_order([["a", "a", "b"]], [["a"], []], max_n=1) == [0.5 / 3]
    # identical sets (up to repetition) score 1 at every order
    assert ms_jaccard(["x y z"], ["x y z", "x y z"], n=3) == {3: 1.0}
    # no shared n-gram: 0
    assert ms_jaccard(["x y"], ["u v"], n=(1, 2)) == {1: 0.0, 2: 0.0}
    # no bigram anywhere: order 2 scores 0, so MS-Jaccard-2 is 0
    assert ms_jaccard(["x"], ["x"], n=(1, 2)) == {1: 1.0, 2: 0.0}


def test_means_and_errors():
    assert harmonic_mean(0.0, 0.0) == 0.0 and harmonic_mean(0.5, 0.5) == 0.5
    assert geometric_mean([0.25, 1.0]) == pytest.approx(0.5) and geometric_mean([0.0, 1.0]) == 0.0
    with pytest.raises(ValueError):
        ms_jaccard([], ["a"])
    with pytest.raises(ValueError):
        forward_backward_bleu(["a"], [])
