"""Detectors beside the CNN and the metrics of issue 18 part 3: TF-IDF + logistic regression, zero-shot
likelihood / token rank under the generator, AUROC, TPR at fixed FPR, bootstrap intervals, ROC plot."""

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from textgan.cli import main
from textgan.data.tokenizers import build_tokenizer
from textgan.data.vocab import Vocab
from textgan.detection import build_detection_dataset, detectability_report
from textgan.detection.metrics import best_threshold, bootstrap_ci, point_metrics, tpr_at_fpr
from textgan.detection.report import TABLE_METRICS, detector_table
from textgan.generation import SamplingSettings, generate_texts
from textgan.models.lstm_generator import LSTMGenerator
from textgan.train.checkpoint import save_checkpoint

WORDS = [f"w{i}" for i in range(20)]
TINY = dict(embed_dim=8, filter_sizes=(1, 2), num_filters=(8, 8), epochs=2, lr=0.02, batch_size=16, device="cpu",
            n_bootstrap=200)


def test_metrics_on_known_scores():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.9, 0.4, 0.8, 0.85, 0.95])
    m = point_metrics(s, y, threshold=0.5)
    assert m["accuracy"] == 0.75 and m["precision"] == 0.75 and m["recall"] == 0.75
    assert m["auroc"] == pytest.approx(13 / 16)  # 13 of the 16 (generated, real) pairs are ordered right
    assert tpr_at_fpr(s, y, 0.0) == 0.25 and tpr_at_fpr(s, y, 0.25) == 1.0
    perfect = point_metrics(np.arange(10.0), np.array([0] * 5 + [1] * 5), 4.5)
    assert perfect["auroc"] == perfect["tpr_at_fpr_1pct"] == perfect["accuracy"] == 1.0
    assert best_threshold(np.arange(10.0), np.array([0] * 5 + [1] * 5)) == 4.5

    rng = np.random.default_rng(0)
    noise, labels = rng.random(400), rng.integers(0, 2, 400)
    ci = bootstrap_ci(noise, labels, 0.5, n=300, seed=1)
    assert ci["auroc"][0] < 0.5 < ci["auroc"][1] and ci["accuracy"][0] < 0.5 < ci["accuracy"][1]
    assert ci["auroc"][1] - ci["auroc"][0] < 0.2


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny generator, 600 of its texts, and 600 "real" texts: the same words in uniform random order."""
    tmp = tmp_path_factory.mktemp("world")
    torch.manual_seed(0)
    vocab = Vocab.build([WORDS])
    model = LSTMGenerator(len(vocab), 8, 8, max_len=10, start_token=vocab.bos_id, pad_id=vocab.pad_id,
                          eos_id=vocab.eos_id, init_std=1.0)
    ckpt = save_checkpoint(tmp / "ckpt", model, "lstm", vocab, build_tokenizer("whitespace"), {"recipe": "tiny"})
    gen = tmp / "gen.jsonl"
    generate_texts(ckpt, 600, gen, sampling=SamplingSettings(seed=1), progress=False)
    lengths = [len(json.loads(line)["text"].split()) for line in gen.read_text().splitlines()]
    rng = random.Random(2)
    real = tmp / "real.txt"
    real.write_text("".join(" ".join(rng.choice(WORDS) for _ in range(n)) + "\n" for n in lengths))
    return ckpt, gen, real


def test_report_has_every_detector_with_intervals_and_a_roc_plot(world, tmp_path):
    ckpt, gen, real = world
    ds = build_detection_dataset(real, [gen], tmp_path / "det", generator=ckpt, test_fraction=0.25)
    report = detectability_report(ds.path, reference_lm=ckpt, **TINY)
    d = report["detectors"]
    assert set(d) == {"cnn", "tfidf_logreg", "zero_shot_loglik", "zero_shot_logrank"}
    for name, m in d.items():
        for k in ("accuracy", "f1", "auroc", "tpr_at_fpr_1pct", "tpr_at_fpr_5pct"):
            lo, hi = m["ci95"][k]
            assert 0.0 <= lo <= m[k] + 1e-9 and m[k] - 1e-9 <= hi <= 1.0, (name, k, m[k], lo, hi)
        assert m["reads"] == "text" and m["n"] == 2 * report["counts"]["test"]["real"]
    # The generator's own likelihood tells its texts from shuffled words; its CNN score is the old "test".
    assert d["zero_shot_loglik"]["auroc"] > 0.8 and d["zero_shot_logrank"]["auroc"] > 0.7
    assert d["cnn"]["accuracy"] == pytest.approx(report["test"]["accuracy"], abs=0.02)
    assert (ds.path / "roc.png").stat().st_size > 1000
    table = (ds.path / "report.md").read_text()
    assert "| zero_shot_loglik |" in table and "TPR at 1 % FPR" in table and "roc.png" in table


def test_detectors_read_the_text_only(world, tmp_path):
    ckpt, gen, real = world
    ds = build_detection_dataset(real, [gen], tmp_path / "det", generator=ckpt)
    first = detectability_report(ds.path, reference_lm=ckpt, **TINY)["detectors"]
    for split in ("train", "validation", "test"):  # scramble every metadata column
        file = ds.path / f"{split}.jsonl"
        rows = [json.loads(line) for line in file.read_text().splitlines()]
        for r in rows:
            r["meta_source"] = random.choice(["x", "y"])
        file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    second = detectability_report(ds.path, reference_lm=ckpt, **TINY)["detectors"]
    for name in first:
        assert {k: first[name][k] for k in ("accuracy", "auroc", "f1")} == \
            {k: second[name][k] for k in ("accuracy", "auroc", "f1")}, name


def test_cli_report_with_the_generator(world, tmp_path, capsys):
    ckpt, gen, real = world
    out = tmp_path / "det"
    assert main(["corpus", "detection", "--real", str(real), "--generated", str(gen), "--out", str(out),
                 "--generator", str(ckpt), "--oov", "drop", "--report", "--epochs", "1", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "roc.png" in printed and "zero_shot_logrank" in printed
    saved = json.loads((out / "report.json").read_text())
    assert {"cnn", "tfidf_logreg", "zero_shot_loglik"} <= set(saved["detectors"])
    assert json.loads((out / "detection.json").read_text())["canonical"]["oov"] == "drop"


def test_cnn_over_several_seeds(world, tmp_path):
    ckpt, gen, real = world
    ds = build_detection_dataset(real, [gen], tmp_path / "det", generator=ckpt)
    report = detectability_report(ds.path, baselines=False, cnn_seeds=3, **TINY)
    cnn = report["detectors"]["cnn"]
    assert [r["seed"] for r in cnn["seeds"]] == [0, 1, 2]
    assert cnn["seeds"][0]["auroc"] == pytest.approx(cnn["auroc"])
    spread = cnn["over_seeds"]["auroc"]
    assert spread["mean"] == pytest.approx(np.mean([r["auroc"] for r in cnn["seeds"]])) and spread["std"] >= 0
    assert "CNN over 3 seeds" in (ds.path / "report.md").read_text()
    table = detector_table(report)  # what run.json keeps and seed summaries average
    assert table["cnn"] == {k: cnn[k] for k in TABLE_METRICS}
    assert table["cnn_seed_mean"]["auroc"] == pytest.approx(spread["mean"])


def test_transformer_detector_small_and_from_a_local_folder(world, tmp_path):
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from textgan.detection.baselines import transformer_classifier

    ckpt, gen, real = world
    ds = build_detection_dataset(real, [gen], tmp_path / "det", generator=ckpt, test_fraction=0.25)
    report = detectability_report(ds.path, transformer="small", **TINY)
    t = report["detectors"]["transformer"]
    assert t["reads"] == "text" and 0.0 <= t["auroc"] <= 1.0 and t["best_epoch"] in (1, 2, 3)
    assert "ci95" in t and t["model"].startswith("small")

    # a local folder: its own tokenizer and weights (here a word-level tokenizer and a tiny BERT)
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["[PAD]", "[UNK]", *WORDS]
    word = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    word.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=word, unk_token="[UNK]", pad_token="[PAD]").save_pretrained(tmp_path / "m")
    cfg = AutoConfig.for_model("bert", vocab_size=len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=32, max_position_embeddings=32, num_labels=2)
    AutoModelForSequenceClassification.from_config(cfg).save_pretrained(tmp_path / "m")
    texts = ["w1 w2 w3", "w4 w5"] * 20
    scores, info = transformer_classifier(texts, [0, 1] * 20, texts[:8], [0, 1] * 4, {"test": texts[:6]},
                                          model=str(tmp_path / "m"), epochs=2, lr=1e-3, max_len=16)
    assert scores["test"].shape == (6,) and info["model"] == str(tmp_path / "m")
    assert scores["test"][1] > scores["test"][0]  # learnt the two fixed texts apart


def test_report_says_when_a_detector_is_reliably_below_chance():
    """A zero-shot score whose direction is wrong for the data (AUROC interval below 0.5) is named in
    the report with the reversed AUROC; one whose interval holds 0.5 is not."""
    from textgan.detection.report import format_report

    def det(auroc, lo, hi):
        return {"accuracy": 0.5, "f1": 0.6, "auroc": auroc, "tpr_at_fpr_1pct": 0.0, "tpr_at_fpr_5pct": 0.0,
                "ci95": {"auroc": [lo, hi]}}

    stats = {"len_mean": 20.0, "len_std": 2.0, "len_min": 15, "len_median": 20, "len_max": 25, "num_samples": 40,
             "novelty_reference": "train"}
    report = {"dataset": "d", "test": {"accuracy": 0.5, "f1": 0.6, "precision": 0.5, "recall": 1.0},
              "generated_text": stats, "real_text": stats, "counts": {"test": {"real": 20, "generated": 20}},
              "detector": {"architecture": "cnn", "tokenize": "nltk", "vocab_size": 100, "epochs": 1,
                           "train_seconds": 1.0, "device": "cpu"},
              "detectors": {"cnn": det(0.52, 0.34, 0.70), "zero_shot_loglik": det(0.04, 0.0, 0.12)}}
    text = format_report(report)
    assert "zero_shot_loglik: AUROC 0.040, below chance" in text and "AUROC 0.960" in text
    assert "cnn: AUROC" not in text
