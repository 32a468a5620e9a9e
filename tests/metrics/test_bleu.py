"""Tests for textgan.metrics.bleu (and textgan.bench.bleu): equal to nltk, bit for bit."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

nltk_bleu = pytest.importorskip("nltk.translate.bleu_score")

from textgan.bench.bleu import bench_bleu, format_bleu_bench  # noqa: E402
from textgan.metrics.bleu import (  # noqa: E402
    BleuReference,
    bleu,
    corpus_bleu,
    self_bleu,
    self_bleu_scores,
    sentence_bleu,
    sequential_mean,
    tokenize_texts,
)

METHOD1 = nltk_bleu.SmoothingFunction().method1
TOL = 1e-12


def nltk_sentence(refs, hyp, n, smoothing="method1"):
    fn = METHOD1 if smoothing == "method1" else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # method0 warns about zero counts
        return nltk_bleu.sentence_bleu(refs, hyp, (1 / n,) * n, smoothing_function=fn)


def nltk_self(samples, n):
    return [nltk_sentence(samples[:i] + samples[i + 1 :], samples[i], n) for i in range(len(samples))]


def assert_same(ours: float, theirs: float) -> None:
    # The float operations follow nltk's order, so the values are identical, not just close.
    assert abs(ours - theirs) <= TOL
    assert ours == theirs, (ours, theirs)


# Strategies: a 2-letter alphabet makes n-grams collide often; unicode tokens check that tokens
# are compared as opaque values.
SMALL = st.sampled_from(["a", "b"])
WIDE = st.sampled_from(["a", "b", "c", "é", "日本", "🙂", "a."])
TOKEN = st.one_of(SMALL, WIDE)
SENTENCE = st.lists(TOKEN, min_size=0, max_size=9)
LONG_SENTENCE = st.lists(TOKEN, min_size=0, max_size=16)
REFERENCES = st.lists(SENTENCE, min_size=1, max_size=6)
ORDER = st.integers(min_value=1, max_value=7)
PROPERTY = settings(max_examples=150, deadline=None)


# --------------------------------------------------------------------------- hand-worked values


def test_identical_sentence_scores_one_for_every_order():
    ref = "the cat sat on the mat".split()
    for n in range(1, 7):
        assert sentence_bleu([ref], ref, n) == 1.0
    texts = ["the cat sat on the mat", "a dog"]
    assert corpus_bleu(texts, texts, n=(1, 2)) == {1: 1.0, 2: 1.0}


def test_hand_worked_brevity_penalty_and_smoothing():
    refs = [["a", "b", "c", "d"]]
    hyp = ["a", "b", "x"]
    # p1 = 2/3, p2 = 1/2 ((a,b) matches, (b,x) does not), hyp 3 < ref 4: bp = exp(1 - 4/3).
    bp = math.exp(1 - 4 / 3)
    assert sentence_bleu(refs, hyp, 2) == pytest.approx(bp * math.sqrt(2 / 3 * 1 / 2), abs=1e-15)
    # The trigram (a,b,x) has no match: method1 uses 0.1 / 1 instead of 0.
    assert sentence_bleu(refs, hyp, 3) == pytest.approx(bp * (2 / 3 * 1 / 2 * 0.1) ** (1 / 3), abs=1e-15)
    # BLEU-4 of a 3-token hypothesis: the 4-gram denominator is max(1, 0) = 1, smoothed to 0.1.
    expected = bp * (2 / 3 * 1 / 2 * 0.1 * 0.1) ** (1 / 4)
    assert sentence_bleu(refs, hyp, 4) == pytest.approx(expected, abs=1e-15)


def test_clipping_uses_max_count_in_a_single_reference():
    # "the" occurs twice in each reference, never three times: clipped to 2 of 7.
    refs = ["the cat is on the mat".split(), "there is a cat on the mat".split()]
    hyp = ["the"] * 7  # closest reference length 7: no brevity penalty
    assert BleuReference(refs).scores([hyp], 1)[0] == pytest.approx(2 / 7, abs=1e-15)


def test_closest_reference_length_ties_go_to_the_shorter():
    refs = [["a"] * 13, ["a"] * 11]
    hyp = ["a"] * 12
    # Tie between 11 and 13: nltk takes 11 < 12, so no brevity penalty.
    assert sentence_bleu(refs, hyp, 1) == 1.0
    assert sentence_bleu([["a"] * 13], hyp, 1) == pytest.approx(math.exp(1 - 13 / 12), abs=1e-15)
    assert BleuReference(refs).closest_lengths([12, 0, 30, 11]).tolist() == [11, 11, 13, 11]


def test_nltk_docstring_examples():
    ref1 = "It is a guide to action that ensures that the military will forever heed Party commands".split()
    ref2 = (
        "It is the guiding principle which guarantees the military forces always being under the command"
        " of the Party"
    ).split()
    ref3 = "It is the practical guide for the army always to heed the directions of the party".split()
    hyp1 = (
        "It is a guide to action which ensures that the military always obeys the commands of the party"
    ).split()
    hyp2 = "It is to insure the troops forever hearing the activity guidebook that party direct".split()
    ref = BleuReference([ref1, ref2, ref3])
    # nltk's doctests print these with an ellipsis: 0.5045..., 0.3920..., 0.0370...
    assert str(ref.sentence_bleu(hyp1, 4, smoothing="method0")).startswith("0.5045")
    assert str(ref.sentence_bleu(hyp1, 5)).startswith("0.3920")
    assert str(ref.sentence_bleu(hyp2, 4)).startswith("0.0370")


def test_empty_and_unmatched_hypotheses_score_zero():
    ref = BleuReference([["a", "b"], []], max_n=3)
    assert ref.scores([[], ["z"], ["z", "y", "x"]], 2) == [0.0, 0.0, 0.0]


def test_self_bleu_hand_worked():
    # Sample 0 ("x x y") vs {"x x", "x"}: x clipped at 2, y unmatched -> 2/3; closest length 2.
    # Sample 1 ("x x") vs {"x x y", "x"}: 2/2; lengths 3 and 1 tie at distance 1 -> 1, no penalty.
    # Sample 2 ("x") vs {"x x y", "x x"}: 1/1; closest length 2 -> bp = exp(1 - 2/1).
    scores = self_bleu_scores([["x", "x", "y"], ["x", "x"], ["x"]], 1)[1]
    assert scores == [pytest.approx(2 / 3, abs=1e-15), 1.0, pytest.approx(math.exp(-1), abs=1e-15)]


def test_self_bleu_excludes_the_sample_itself():
    # "x x" holds the unique maximum count of x; the others have at most one x -> 1/2, not 1.
    assert self_bleu_scores([["x", "x"], ["x"], ["y"]], 1)[1][0] == 0.5
    # With the maximum shared by two samples, each still sees a count of 2 elsewhere.
    assert self_bleu_scores([["x", "x"], ["x", "x"], ["y"]], 1)[1][:2] == [1.0, 1.0]


def test_self_bleu_of_duplicated_sentences_is_one():
    assert self_bleu(["a man rides a horse ."] * 3) == {2: 1.0, 3: 1.0, 4: 1.0, 5: 1.0}


def test_bleu_means_over_samples_and_tokenizes_texts():
    samples = ["a man rides a horse", "a horse", "two dogs run"]
    references = ["a man rides a brown horse", "two dogs run in a field", "a cat"]
    refs = [r.split() for r in references]
    expected = {n: sum(nltk_sentence(refs, s.split(), n) for s in samples) / 3 for n in (2, 3)}
    got = bleu(samples, references, n=(2, 3))
    assert got.keys() == {2, 3}
    for n in (2, 3):
        assert abs(got[n] - expected[n]) <= TOL
    # Token sequences are used as given.
    assert bleu([s.split() for s in samples], refs, n=(2, 3)) == got


def test_sequential_mean_is_a_left_to_right_sum():
    # 1e16 + 1.0 rounds back to 1e16, so a left-to-right sum gives 1.0 (mean 0.25), while an
    # exact or compensated sum (math.fsum, Python 3.12's sum) gives 2.0 (mean 0.5).
    assert sequential_mean([1e16, 1.0, -1e16, 1.0]) == 0.25
    assert sequential_mean([0.25, 0.75]) == 0.5


# --------------------------------------------------------------------------- errors


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="at least one reference"):
        BleuReference([])
    with pytest.raises(ValueError, match="max_n=2"):
        BleuReference([["a"]], max_n=2).scores([["a"]], 3)
    with pytest.raises(ValueError, match="at least 2 samples"):
        self_bleu(["only one"])
    with pytest.raises(ValueError, match="orders"):
        bleu(["a"], ["a"], n=0)
    with pytest.raises(ValueError, match="tokenize"):
        bleu(["a"], ["a"], tokenize="spacy")
    with pytest.raises(ValueError, match="smoothing"):
        BleuReference([["a"]]).scores([["a"]], 1, smoothing="method7")
    with pytest.raises(ValueError, match="hypothesis"):
        BleuReference([["a"]]).corpus_bleu([], 1)


# --------------------------------------------------------------------------- tokenizers


def test_nltk_tokenizer_needs_no_data_and_matches_word_tokenize(monkeypatch):
    import nltk

    monkeypatch.setattr(nltk.data, "path", [])  # any data lookup would now fail
    text = "a man's bike, parked near the u.s. flag. it is \"red\"."
    got = tokenize_texts([text], "nltk")[0]
    assert got == nltk.word_tokenize(text, preserve_line=True)
    assert got[:5] == ["a", "man", "'s", "bike", ","]
    assert got[-2:] == ["''", "."]


def test_whitespace_callable_and_no_tokenizer():
    assert tokenize_texts([" a  b\tc\n", ["x", "y"]]) == [["a", "b", "c"], ["x", "y"]]
    assert tokenize_texts(["ab"], list) == [["a", "b"]]
    assert self_bleu([["a", "b"], ["a", "b"]], n=2, tokenize=None) == {2: 1.0}
    with pytest.raises(ValueError, match="tokenize=None"):
        tokenize_texts(["a b"], None)


def test_import_does_not_load_nltk():
    code = (
        "import sys, textgan.metrics.bleu, textgan.metrics.text, textgan.bench.bleu; "
        "assert 'nltk' not in sys.modules"
    )
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root))
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=root)


# --------------------------------------------------------------------------- properties vs nltk


@PROPERTY
@given(refs=REFERENCES, hyp=LONG_SENTENCE, n=ORDER)
@example(refs=[["a"]], hyp=[], n=4)  # empty sample
@example(refs=[["a", "b"]], hyp=["a"], n=4)  # one token, n larger than the sample
@example(refs=[["a"], ["b"]], hyp=["a", "b"] * 8, n=2)  # longer than every reference
@example(refs=[[]], hyp=["a"], n=1)  # only an empty reference
@example(refs=[["日本", "🙂"], ["é"]], hyp=["🙂", "日本", "🙂"], n=3)
def test_sentence_bleu_equals_nltk(refs, hyp, n):
    ours = BleuReference(refs, max_n=7).sentence_bleu(hyp, n)
    assert_same(ours, nltk_sentence(refs, hyp, n))


@PROPERTY
@given(refs=REFERENCES, hyp=LONG_SENTENCE, n=ORDER)
@example(refs=[["a", "b"]], hyp=["a", "c", "d"], n=3)
def test_unsmoothed_sentence_bleu_equals_nltk(refs, hyp, n):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = BleuReference(refs, max_n=7).sentence_bleu(hyp, n, smoothing="method0")
    assert_same(ours, nltk_sentence(refs, hyp, n, smoothing="method0"))


@PROPERTY
@given(refs=REFERENCES, hyps=st.lists(LONG_SENTENCE, min_size=1, max_size=5))
def test_scores_for_several_orders_equal_nltk(refs, hyps):
    got = BleuReference(refs, max_n=5).scores_by_order(hyps, (1, 2, 3, 4, 5))
    for n, scores in got.items():
        assert len(scores) == len(hyps)
        for hyp, ours in zip(hyps, scores):
            assert_same(ours, nltk_sentence(refs, hyp, n))


@PROPERTY
@given(
    refs=REFERENCES,
    hyps=st.lists(LONG_SENTENCE, min_size=1, max_size=5),
    n=ORDER,
    smoothing=st.sampled_from(["method1", "method0"]),
)
@example(refs=[["a"]], hyps=[[], []], n=2, smoothing="method1")
def test_corpus_bleu_equals_nltk(refs, hyps, n, smoothing):
    fn = METHOD1 if smoothing == "method1" else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = nltk_bleu.corpus_bleu([refs] * len(hyps), hyps, (1 / n,) * n, smoothing_function=fn)
        ours = BleuReference(refs, max_n=7).corpus_bleu(hyps, n, smoothing=smoothing)[n]
    assert_same(ours, theirs)


@PROPERTY
@given(samples=st.lists(SENTENCE, min_size=2, max_size=7), n=ORDER)
@example(samples=[["a", "a"], ["a"], ["b"]], n=1)  # unique maximum count
@example(samples=[["a", "b"], ["a", "b"], ["a", "b", "b"]], n=2)  # shared maximum, duplicates
@example(samples=[[], ["a"]], n=3)
@example(samples=[["a"] * 5, ["a"] * 3, ["a"] * 4], n=2)  # length neighbours on both sides
def test_self_bleu_equals_nltk_loop(samples, n):
    ours = self_bleu_scores(samples, n)[n]
    theirs = nltk_self(samples, n)
    assert len(ours) == len(samples)
    for a, b in zip(ours, theirs):
        assert_same(a, b)
    assert abs(self_bleu(samples, n)[n] - sum(theirs) / len(theirs)) <= TOL


def test_method0_warns_like_nltk():
    with pytest.warns(UserWarning, match="0 counts"):
        BleuReference([["a", "b"]]).scores([["a", "c"]], 2, smoothing="method0")


# --------------------------------------------------------------------------- bench


def test_bench_agrees_with_nltk_and_formats():
    refs = ["a man rides a horse", "two dogs run in a field", "a cat sits on a mat"]
    samples = ["a man rides", "two cats run in a field", "a dog", "a cat sits on a mat"]
    result = bench_bleu(refs, samples, nltk_subsample=2, orders=(2, 3), tokenize="whitespace")
    assert result["agree"] is True
    assert result["bleu_max_abs_diff"] == 0.0 and result["self_bleu_max_abs_diff"] == 0.0
    assert result["n_samples"] == 4 and result["nltk_subsample"] == 2
    assert result["bleu"] == bleu(samples, refs, n=(2, 3))
    assert result["self_bleu"] == self_bleu(samples, n=(2, 3))
    text = format_bleu_bench(result)
    assert "BLEU-2..3" in text and "Self-BLEU" in text and "agree" in text


# --------------------------------------------------------------------------- Texygen table


# Texygen docs/evaluation.md (geek-ai/Texygen), Image COCO, "training set" columns: BLEU of the
# training captions against the test captions, and Self-BLEU of the training captions.
TEXYGEN_TRAIN_VS_TEST = {2: 0.740, 3: 0.520, 4: 0.337, 5: 0.218}
TEXYGEN_TRAIN_SELF = {2: 0.892, 3: 0.747, 4: 0.573, 5: 0.415}


def _coco_or_skip() -> tuple[list[str], list[str]]:
    root = os.environ.get("TEXTGAN_CORPORA")
    if not root:
        pytest.skip("TEXTGAN_CORPORA is unset: the Texygen reproduction needs coco_captions/{train,test}.txt")
    folder = Path(root) / "coco_captions"
    if not (folder / "train.txt").is_file() or not (folder / "test.txt").is_file():
        pytest.skip(f"{folder} lacks train.txt/test.txt")
    read = lambda name: (folder / name).read_text(encoding="utf-8").splitlines()  # noqa: E731
    return read("train.txt"), read("test.txt")


def _truncated(x: float) -> int:
    return math.floor(x * 1000)


def test_reproduces_texygen_coco_training_set_columns():
    train, test = _coco_or_skip()
    train_tokens = tokenize_texts(train, "nltk")
    got = bleu(train_tokens, tokenize_texts(test, "nltk"))
    got_self = self_bleu(train_tokens)
    # Texygen printed three decimals truncated, not rounded (Self-BLEU-4 is 0.57364 -> 0.573).
    published = {n: round(v * 1000) for n, v in TEXYGEN_TRAIN_VS_TEST.items()}
    published_self = {n: round(v * 1000) for n, v in TEXYGEN_TRAIN_SELF.items()}
    assert {n: _truncated(v) for n, v in got.items()} == published
    assert {n: _truncated(v) for n, v in got_self.items()} == published_self
