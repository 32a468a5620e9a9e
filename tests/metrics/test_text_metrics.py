"""Tests for textgan.metrics.text: hand-worked distinct-n, novelty and length statistics."""

from __future__ import annotations

import math

import pytest

from textgan.metrics.text import distinct_n, length_stats, novelty


def test_distinct_n_hand_worked():
    samples = [["a", "b", "a", "b"], ["a", "b"]]
    assert distinct_n(samples, 1) == 2 / 6  # {a, b} out of 6 tokens
    assert distinct_n(samples, 2) == 2 / 4  # (a,b) (b,a) (a,b) | (a,b): 2 distinct of 4
    assert distinct_n(samples, 3) == 1.0  # (a,b,a) (b,a,b)
    assert distinct_n(samples, 5) == 0.0  # no 5-gram at all
    # n-grams do not span sample boundaries: (b, a) across the two samples is not counted.
    assert distinct_n([["a", "b"], ["a", "b"]], 2) == 1 / 2


def test_distinct_n_rejects_order_zero():
    with pytest.raises(ValueError, match="n must be >= 1"):
        distinct_n([["a"]], 0)


def test_novelty_hand_worked():
    samples = ["a b c", "x y", "a  b c "]  # the third copies a training text up to whitespace
    train = ["a b c d", "a b c", "x z"]
    got = novelty(samples, train, n=(2, 3, 4))
    assert got["copied"] == 2 / 3
    # Sample bigrams: (a,b) (b,c) | (x,y) | (a,b) (b,c); only (x,y) is unseen in training.
    assert got["novel_2gram"] == 1 / 5
    assert got["novel_3gram"] == 0.0  # (a,b,c) twice, both seen
    assert got["novel_4gram"] == 0.0  # samples have no 4-gram
    assert set(got) == {"copied", "novel_2gram", "novel_3gram", "novel_4gram"}


def test_novelty_counts_repeated_ngrams_and_accepts_tokens():
    got = novelty([["p", "q", "p", "q"]], [["q", "p"]], n=2)
    # (p,q) twice unseen, (q,p) once seen -> 2/3 novel.
    assert got == {"copied": 0.0, "novel_2gram": 2 / 3}


def test_novelty_needs_samples():
    with pytest.raises(ValueError, match="at least one sample"):
        novelty([], ["a b"])


def test_length_stats_hand_worked():
    got = length_stats([["a", "b"], ["a"], ["a", "b", "c", "d"]])  # lengths 2, 1, 4
    assert got["mean"] == pytest.approx(7 / 3)
    # Population std: sqrt(((2 - 7/3)^2 + (1 - 7/3)^2 + (4 - 7/3)^2) / 3) = sqrt(14 / 9).
    assert got["std"] == pytest.approx(math.sqrt(14 / 9))
    assert (got["min"], got["max"], got["median"]) == (1.0, 4.0, 2.0)
    assert length_stats([[1], [1, 2], [1, 2, 3], [1, 2, 3, 4]])["median"] == 2.5
    assert length_stats([[]])["std"] == 0.0


def test_length_stats_needs_samples():
    with pytest.raises(ValueError, match="at least one sample"):
        length_stats([])
