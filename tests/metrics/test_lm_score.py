"""LM score and reverse LM score (Caccia et al., 2018) on a small grammar corpus: the scores rank
fluent against scrambled samples and diverse against collapsed ones; a local transformers causal
LM folder (tiny, random, built from a config) can replace the LSTM."""

from __future__ import annotations

import math
import random

import pytest

from textgan.train.lm_score import LMConfig, _split, lm_scores
from textgan.train.evaluation import evaluate_texts

FAST = dict(embed_dim=16, hidden_dim=32, batch_size=32, lr=1e-2, max_epochs=6, patience=2)


def grammar(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    adj, noun, verb = ["big", "small", "red", "old"], ["cat", "dog", "man", "bird", "car"], ["sees", "likes", "finds"]
    return [f"the {rng.choice(adj)} {rng.choice(noun)} {rng.choice(verb)} a {rng.choice(noun)}" for _ in range(n)]


TRAIN, TEST, GOOD = grammar(400, 0), grammar(100, 1), grammar(200, 2)


def test_split_is_deterministic_and_disjoint():
    a, b = _split([str(i) for i in range(50)], 0.1, 0)
    assert (a, b) == _split([str(i) for i in range(50)], 0.1, 0)
    assert len(b) == 5 and set(a).isdisjoint(b) and len(a) + len(b) == 50


def test_lm_score_prefers_fluent_samples():
    rng = random.Random(3)
    scrambled = [" ".join(rng.sample(s.split(), 6)) for s in GOOD]
    good, proto = lm_scores(GOOD, TRAIN, TEST, which=("lm_score",), **FAST)
    bad, _ = lm_scores(scrambled, TRAIN, TEST, which=("lm_score",), **FAST)
    assert good["lm_score"] < bad["lm_score"] - 0.5
    info, trained = proto["lm_score"], proto["lm_score"]["training"]
    assert 1 <= trained["best_epoch"] <= trained["epochs"] <= FAST["max_epochs"]
    assert info["train_texts"] == 360 and info["heldout_texts"] == 40 and math.isfinite(trained["heldout_nll"])
    again, _ = lm_scores(GOOD, TRAIN, TEST, which=("lm_score",), **FAST)
    assert again == good  # seeded


def test_reverse_lm_score_catches_mode_collapse():
    collapsed = [GOOD[i % 3] for i in range(200)]
    diverse, proto = lm_scores(GOOD, TRAIN, TEST, which=("reverse_lm_score",), **FAST)
    mode, _ = lm_scores(collapsed, TRAIN, TEST, which=("reverse_lm_score",), **FAST)
    assert diverse["reverse_lm_score"] < mode["reverse_lm_score"] - 0.5
    assert proto["reverse_lm_score"]["early_stopping_on"] == "real held-out training texts"
    alone, proto = lm_scores(GOOD, None, TEST, which=("reverse_lm_score",), **FAST)
    assert proto["reverse_lm_score"]["early_stopping_on"] == "held-out samples" and proto["vocab_from"] == "samples"
    assert math.isfinite(alone["reverse_lm_score"])


def test_causal_lm_folder(tiny_causal_lm):
    scores, proto = lm_scores(GOOD[:40], TRAIN[:60], TEST[:20], model=str(tiny_causal_lm),
                              **{**FAST, "max_epochs": 2, "batch_size": 16})
    assert set(scores) == {"lm_score", "reverse_lm_score"}
    assert all(math.isfinite(v) and v > 0 for v in scores.values())
    assert proto["model"].startswith("transformers:") and proto["tokenizer"] == "model"


def test_evaluate_texts_records_the_lm_protocol():
    out = evaluate_texts(GOOD, TEST, TRAIN, metrics=("lm_score", "reverse_lm_score"), lm=FAST)
    assert out["lm_score"] > 0 and out["reverse_lm_score"] > 0
    assert out["protocol"]["lm"]["config"] == {**LMConfig().__dict__, **FAST}
    other = evaluate_texts(GOOD, TEST, TRAIN, metrics=("lm_score", "reverse_lm_score"), lm={**FAST, "max_epochs": 3})
    assert other["fingerprint"] != out["fingerprint"]


def test_lm_scores_need_their_inputs():
    from textgan.errors import TextganError

    with pytest.raises(TextganError, match="training texts"):
        evaluate_texts(GOOD, TEST, None, metrics=("lm_score",))
    with pytest.raises(TextganError, match="held-out"):
        evaluate_texts(GOOD, None, TRAIN, metrics=("reverse_lm_score",))
    with pytest.raises(TextganError, match="not 'lstm'"):
        lm_scores(GOOD, TRAIN, TEST, model="/nonexistent/folder", **FAST)
