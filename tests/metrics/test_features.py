"""Fréchet distance (against a scipy-free closed form and hand-worked Gaussians), encoder features
from a tiny random BERT folder built from a config, and MAUVE's plumbing (mauve-text is optional)."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from textgan.errors import TextganError
from textgan.metrics.features import EncoderFeatures, feature_metrics, frechet_distance, trace_sqrt_product
from textgan.train.evaluation import evaluate_texts

CORPUS = ["a cat sits on the mat", "the dog runs in the park", "a bird sings in a tree",
          "the man rides a horse", "a woman reads a book on the bench"]  # the words of conftest's tokenizers


def test_frechet_of_a_set_with_itself_is_zero_and_of_a_shift_is_the_squared_shift():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 4))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(x, x + np.array([1.0, 2.0, 0.0, 0.0])) == pytest.approx(5.0, rel=1e-9)


def test_frechet_matches_the_diagonal_closed_form():
    # For diagonal covariances: sum (mu1-mu2)^2 + (s1 - s2)^2 with s the standard deviations.
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4000, 3)) * np.array([1.0, 2.0, 0.5])
    y = rng.normal(size=(3000, 3)) * np.array([3.0, 1.0, 0.5]) + 1.0
    sx, sy = np.sqrt(np.var(x, axis=0, ddof=1)), np.sqrt(np.var(y, axis=0, ddof=1))
    cx, cy = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    # The empirical covariances are nearly diagonal; compare against scipy when it is there.
    scipy_linalg = pytest.importorskip("scipy.linalg")
    expected = float(np.sum((x.mean(0) - y.mean(0)) ** 2) + np.trace(cx) + np.trace(cy)
                     - 2 * np.trace(scipy_linalg.sqrtm(cx @ cy).real))
    assert frechet_distance(x, y) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(x, y) == pytest.approx(np.sum((x.mean(0) - y.mean(0)) ** 2 + (sx - sy) ** 2), rel=0.05)


def test_trace_sqrt_product_hand_worked():
    a, b = np.diag([4.0, 9.0]), np.diag([1.0, 4.0])
    assert trace_sqrt_product(a, b) == pytest.approx(2.0 + 6.0)


def test_frechet_rejects_bad_shapes():
    with pytest.raises(ValueError):
        frechet_distance(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(ValueError):
        frechet_distance(np.zeros((1, 2)), np.zeros((5, 2)))


def test_encoder_features_are_mean_pooled_and_order_independent(tiny_encoder):
    enc = EncoderFeatures(tiny_encoder, batch_size=2)
    texts = CORPUS + ["a cat"]
    feats = enc(texts)
    assert feats.shape == (len(texts), 16) and np.isfinite(feats).all()
    # Each row is the same whatever batch it lands in.
    alone = np.stack([enc([t])[0] for t in texts])
    np.testing.assert_allclose(feats, alone, rtol=1e-5, atol=1e-6)
    assert enc.identity()["encoder_sha256"] == EncoderFeatures(tiny_encoder).identity()["encoder_sha256"]


def test_feature_metrics_with_an_encoder_and_with_a_function(tiny_encoder):
    same, proto = feature_metrics(CORPUS * 4, CORPUS * 4, encoder=tiny_encoder)
    assert same["frechet"] == pytest.approx(0.0, abs=1e-8) and proto["feature_dim"] == 16
    differ, _ = feature_metrics(["a a a", "the the", "a the a"] * 4, CORPUS * 4, encoder=tiny_encoder)
    assert differ["frechet"] > 1e-3

    def length_features(texts):
        return np.array([[len(t.split()), len(t)] for t in texts], dtype=float)

    scores, proto = feature_metrics(CORPUS, CORPUS[::-1], feature_fn=length_features)
    assert scores["frechet"] == pytest.approx(0.0, abs=1e-9) and "length_features" in proto["feature_fn"]
    with pytest.raises(TextganError, match="exactly one"):
        feature_metrics(CORPUS, CORPUS)
    with pytest.raises(TextganError, match="not a local"):
        feature_metrics(CORPUS, CORPUS, encoder="/nonexistent/folder")


def test_mauve_is_fed_the_same_features(tiny_encoder, monkeypatch):
    seen = {}

    def compute_mauve(p_features, q_features, seed, verbose, **kw):
        seen.update(p=p_features, q=q_features, seed=seed, kw=kw)
        return types.SimpleNamespace(mauve=0.75)

    monkeypatch.setitem(sys.modules, "mauve", types.SimpleNamespace(compute_mauve=compute_mauve))
    out = evaluate_texts(CORPUS[:3] * 2, CORPUS * 2, metrics=("frechet", "mauve"),
                         features={"encoder": tiny_encoder, "mauve_kwargs": {"num_buckets": 2}})
    assert out["mauve"] == 0.75 and out["frechet"] >= 0
    assert seen["p"].shape == (10, 16) and seen["q"].shape == (6, 16) and seen["kw"] == {"num_buckets": 2}
    assert out["protocol"]["features"]["mauve"]["package"] == "mauve-text"


def test_mauve_without_the_package_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "mauve", None)  # import fails
    with pytest.raises(TextganError, match="pip install mauve-text"):
        feature_metrics(CORPUS, CORPUS, which=("mauve",), feature_fn=lambda t: np.ones((len(t), 2)))
    # "all" leaves MAUVE out when the package is missing, and the feature metrics without features.
    out = evaluate_texts(CORPUS, CORPUS, metrics=("all",), orders=(2,))
    assert "mauve" not in out and "frechet" not in out


def test_real_mauve_when_installed(tiny_encoder):
    pytest.importorskip("mauve")
    out, _ = feature_metrics(CORPUS * 10, CORPUS * 10, which=("mauve",), encoder=tiny_encoder,
                             mauve_kwargs={"num_buckets": 2})
    assert 0 < out["mauve"] <= 1
