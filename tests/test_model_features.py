"""Fréchet distance / MAUVE features from textgan's own trained models (``textgan evaluate --features RUN``):
a run's discriminator, or an ADM's document embedding."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.train.engine_cases import ADM, SEQGAN, write_doc_corpus, write_news_corpus
from textgan import api
from textgan.cli import main
from textgan.embedding import model_features
from textgan.errors import TextganError

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


@pytest.fixture(scope="module")
def seqgan_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("features")
    corpus = write_news_corpus(tmp / "news")
    overrides = [f"data.corpus={corpus}", "data.train_split=train", "data.max_len=12", "data.max_vocab=200",
                 "eval.metrics=[nll_test]", *[o for o in SEQGAN if not o.startswith(("data.num", "adversarial.best"))],
                 "adversarial.batches=1"]
    return api.train(RECIPES / "seqgan" / "synthetic_oracle.yaml", out_dir=tmp / "run", overrides=overrides,
                     progress=False).path, corpus


def test_discriminator_features_are_the_cnns_features_of_the_encoded_texts(seqgan_run):
    from textgan.data.encode import encode_texts
    from textgan.data.tokenizers import load_tokenizer
    from textgan.data.vocab import Vocab
    from textgan.registry import build_discriminator
    from textgan.train.checkpoint import build_from_config, load_into, read_config

    run, corpus = seqgan_run
    texts = (corpus / "test.txt").read_text().splitlines()[:10] + ["an unseen zebra word ."]
    fn, name = model_features(run)
    got = fn(texts)
    ckpt = run / "checkpoints" / "discriminator"
    config = read_config(ckpt)
    model = load_into(build_from_config(ckpt, config, build_discriminator), ckpt / "model.safetensors").eval()
    ids, _ = encode_texts(texts, load_tokenizer(config["tokenizer"], ckpt / "tokenizer"),
                          Vocab.load(ckpt / "vocab.json"), 12)
    with torch.no_grad():
        expected = model.features(ids).double().numpy()
    assert got.shape == (11, model.feature_dim) and got.dtype == np.float64
    np.testing.assert_array_equal(got, expected)
    assert "cnn discriminator features" in name and "sha256" in name


def test_evaluate_with_run_features_scores_frechet_and_records_them(seqgan_run, tmp_path, capsys):
    run, corpus = seqgan_run
    refs = corpus / "test.txt"
    out = tmp_path / "m.json"
    assert main(["evaluate", "--samples", str(refs), "--references", str(refs), "--metrics", "frechet",
                 "--features", str(run), "--out", str(out)]) == 0
    same = json.loads(out.read_text())
    assert same["frechet"] == pytest.approx(0.0, abs=1e-9)  # a set against itself
    assert "discriminator features" in same["protocol"]["features"]["feature_fn"]
    train = corpus / "train.txt"
    assert main(["evaluate", "--samples", str(train), "--references", str(refs), "--metrics", "frechet",
                 "--features", str(run), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["frechet"] > 0.0


def test_adm_run_gives_its_document_embedding(tmp_path):
    from textgan.embedding import embed_texts, load_document_model

    corpus = write_doc_corpus(tmp_path / "docs")
    run = api.train(RECIPES / "adm" / "newsgroups20.yaml", out_dir=tmp_path / "adm",
                    overrides=[f"data.corpus={corpus}", *ADM], progress=False).path
    texts = ["apple banana juice people", "car engine road data", "god church soul thing"]
    fn, name = model_features(run)
    expected = embed_texts(load_document_model(run), texts).vectors.double().numpy()
    np.testing.assert_array_equal(fn(texts), expected)
    assert name.startswith("adm embedding")


def test_a_generator_checkpoint_is_refused_in_one_line(seqgan_run):
    run, _ = seqgan_run
    with pytest.raises(TextganError, match="without text features: pass a run folder with checkpoints/discriminator"):
        model_features(run / "checkpoints" / "mle")


def test_encoder_and_features_together_are_refused(seqgan_run, tmp_path):
    run, corpus = seqgan_run
    refs = corpus / "test.txt"
    with pytest.raises(TextganError, match="not both"):
        api.evaluate(refs, refs, metrics=("frechet",), features={"encoder": str(tmp_path), "model": str(run)})
