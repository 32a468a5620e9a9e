"""Detection datasets (balanced, run-wise splits, no real/generated overlap), report, pipeline smoke run."""

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import requires_corpora
from textgan.cli import main
from textgan.detection import build_detection_dataset, detectability_report
from textgan.errors import TextganError

ROOT = Path(__file__).resolve().parents[1]
TINY_DETECTOR = dict(embed_dim=8, filter_sizes=(1, 2), num_filters=(8, 8), epochs=3, lr=0.02, batch_size=16)


def write_real(tmp_path: Path, n: int = 100) -> Path:
    path = tmp_path / "real.txt"
    path.write_text("".join(f"the council met on day {i} and voted on plan {i % 7} .\n" for i in range(n)))
    return path


def write_generated(tmp_path: Path, name: str, texts: list[str], temperature: float = 1.0) -> Path:
    path = tmp_path / name
    with open(path, "w") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": i, "text": t, "label": "generated", "model": "lstm", "recipe": "news",
                                "checkpoint_sha256": "ab" * 32, "sampling": {"temperature": temperature, "seed": 0}}) + "\n")
    return path


def gen_texts(prefix: str, n: int) -> list[str]:
    return [f"{prefix} zz qq {i} zz qq" for i in range(n)]


def split_rows(out: Path, split: str) -> list[dict]:
    return [json.loads(line) for line in (out / f"{split}.jsonl").read_text().splitlines()]


def test_balanced_splits_without_real_generated_overlap(tmp_path):
    real = write_real(tmp_path)
    texts = gen_texts("g", 55)
    # Two copies of real texts (one with other spacing) and three duplicates are removed.
    texts += ["the council met on day 3 and voted on plan 3 .", "the  council met on day 4 and voted on plan 4 .\n"]
    texts += texts[:3]
    gen = write_generated(tmp_path, "run.jsonl", texts)
    ds = build_detection_dataset(real, [gen], tmp_path / "det", seed=1)
    assert ds.counts == {"train": {"real": 43, "generated": 43}, "validation": {"real": 6, "generated": 6},
                         "test": {"real": 6, "generated": 6}}
    assert ds.removed == {"duplicate_real": 0, "duplicate_generated": 3, "generated_identical_to_real": 2,
                          "real_unused": 45, "generated_unused": 0}
    rows = {s: split_rows(ds.path, s) for s in ("train", "validation", "test")}
    real_texts = {r["text"] for rs in rows.values() for r in rs if r["label"] == 0}
    gen_set = {" ".join(r["text"].split()) for rs in rows.values() for r in rs if r["label"] == 1}
    assert not real_texts & gen_set and len(gen_set) == 55
    ids = [r["id"] for rs in rows.values() for r in rs]
    assert len(ids) == len(set(ids)) == 110

    from datasets import load_from_disk

    dd = load_from_disk(str(ds.path))
    assert dd["test"].features["label"].names == ["real", "generated"] and dd["train"].num_rows == 86
    card = (ds.path / "README.md").read_text()
    assert "| train | 43 | 43 | 86 |" in card and "temperature=1.0" in card and "License" in card


def test_generated_runs_are_split_by_run_unless_mixed(tmp_path):
    real = write_real(tmp_path, 300)
    runs = [write_generated(tmp_path, f"run{i}.jsonl", gen_texts(f"r{i}", 40), temperature=0.5 + i) for i in range(3)]
    ds = build_detection_dataset(real, runs, tmp_path / "by_run")
    sources = {s: {r["meta_source"] for r in split_rows(ds.path, s) if r["label"] == 1} for s in ("train", "validation", "test")}
    assert sources == {"train": {str(runs[0])}, "validation": {str(runs[1])}, "test": {str(runs[2])}}
    assert all(c["real"] == c["generated"] == 40 for c in ds.counts.values())

    two = build_detection_dataset(real, runs[:2], tmp_path / "two")
    test_sources = {r["meta_source"] for r in split_rows(two.path, "test") if r["label"] == 1}
    assert test_sources == {str(runs[1])} and two.assignment["train"] == [str(runs[0])]

    mixed = build_detection_dataset(real, runs, tmp_path / "mixed", mix_runs=True)
    assert len({r["meta_source"] for r in split_rows(mixed.path, "test") if r["label"] == 1}) == 3


def test_report_trains_the_cnn_and_writes_json_and_table(tmp_path):
    real = write_real(tmp_path, 120)
    gen = write_generated(tmp_path, "run.jsonl", gen_texts("g", 120))
    ds = build_detection_dataset(real, [gen], tmp_path / "det")
    report = detectability_report(ds.path, **TINY_DETECTOR, device="cpu")
    saved = json.loads((ds.path / "report.json").read_text())
    assert saved["test"] == report["test"] and saved["counts"]["test"] == {"real": 12, "generated": 12}
    assert report["test"]["accuracy"] == 1.0 and report["test"]["f1"] == 1.0  # "zz qq" gives every fake away
    g = report["generated_text"]
    for key in ("bleu2", "bleu5", "self_bleu2", "self_bleu5", "copied", "novel_2gram", "len_mean", "len_max"):
        assert key in g
    assert g["copied"] == 0.0 and g["len_mean"] == 6.0 and report["real_text"]["len_mean"] == 12.0
    assert report["detector"]["vocab_size"] > 4 and len(report["detector"]["history"]) == 3
    table = (ds.path / "report.md").read_text()
    assert "| detector accuracy (test) | 1.0000 |" in table and "Self-BLEU-5" in table


def test_bad_inputs_give_one_line_errors(tmp_path, capsys):
    real = write_real(tmp_path)
    with pytest.raises(TextganError, match="generated file .* not found"):
        build_detection_dataset(real, [tmp_path / "missing.jsonl"], tmp_path / "d")
    assert main(["corpus", "detection", "--real", str(real), "--generated", str(tmp_path / "missing.jsonl"),
                 "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: generated file") and "\n" not in err
    copies = write_generated(tmp_path, "copies.jsonl", ["the council met on day 1 and voted on plan 1 ."])
    with pytest.raises(TextganError, match="no generated text is left"):
        build_detection_dataset(real, [copies], tmp_path / "d")
    with pytest.raises(TextganError, match="not found"):
        detectability_report(tmp_path / "nothing")


def test_cli_builds_the_folder_and_report(tmp_path, capsys):
    real = write_real(tmp_path, 60)
    gen = write_generated(tmp_path, "run.jsonl", gen_texts("g", 60))
    out = tmp_path / "det"
    assert main(["corpus", "detection", "--real", str(real), "--generated", str(gen), "--out", str(out),
                 "--real-max-tokens", "9", "--quiet"]) == 0
    assert "train 48+48" in capsys.readouterr().out
    assert all(len(r["text"].split()) == 9 for r in split_rows(out, "train") if r["label"] == 0)
    for name in ("README.md", "detection.json", "dataset_dict.json", "test.jsonl", "validation.jsonl"):
        assert (out / name).is_file(), name


@requires_corpora
def test_card_takes_the_license_of_a_named_corpus(tmp_path):
    gen = write_generated(tmp_path, "run.jsonl", gen_texts("g", 50))
    ds = build_detection_dataset("fake_news/fa_kes", [gen], tmp_path / "det", real_labels=["1"], real_max_tokens=100)
    card = (ds.path / "README.md").read_text()
    assert "**License**: CC BY 4.0" in card and "FA-KES" in card and "Label filter: ['1']" in card
    meta = json.loads((ds.path / "detection.json").read_text())
    assert meta["real"]["num_texts"] == 427  # FA-KES credible articles


@pytest.mark.slow
@requires_corpora
def test_cpu_recipe_smoke_run(tmp_path):
    from textgan import api

    shrink = ["mle.epochs=1", "data.max_vocab=500", "eval.num_samples=50", "eval.metrics=[nll_test]",
              "pipeline.num_generate=300", "pipeline.detector.epochs=1", "pipeline.detector.max_eval_samples=50",
              "pipeline.match_length=false"]  # one MLE epoch writes 1-17 tokens, EMNLP keeps 21-48: nothing to match
    result = api.train(ROOT / "recipes" / "fake_news" / "emnlp_news_lstm_cpu.yaml", out_dir=tmp_path / "run",
                       overrides=shrink, progress=False)
    det = result.path / "detection"
    for name in ("README.md", "report.md", "report.json", "train.jsonl", "dataset_dict.json"):
        assert (det / name).is_file(), name
    report = json.loads((det / "report.json").read_text())
    assert 0.0 <= report["test"]["accuracy"] <= 1.0 and report["counts"]["test"]["real"] == report["counts"]["test"]["generated"]
    summary = json.loads((result.path / "run.json").read_text())["pipeline"]
    assert summary["generated"]["num"] == 300
    assert summary["detectors"]["cnn"]["auroc"] == report["detectors"]["cnn"]["auroc"]
    assert set(summary["detectors"]) == set(report["detectors"]) | {"cnn_seed_mean"}  # the recipe trains 3 CNNs
    assert summary["shortcuts"]["passed"] == (not summary["shortcuts"]["shortcuts"]) and "## Shortcut check" in (
        det / "report.md").read_text()


@pytest.mark.slow
@requires_corpora
def test_leakgan_cpu_recipe_smoke_run(tmp_path):
    """The LeakGAN chain end to end (MLE, discriminator, an adversarial batch, generation, dataset, report)."""
    from textgan import api

    shrink = ["data.max_len=16", "data.max_vocab=300", "mle.epochs=1", "generator.embed_dim=8", "generator.hidden_dim=8",
              "discriminator.embed_dim=8", "discriminator.filter_sizes=[1,2,3]", "discriminator.num_filters=[8,8,8]",
              "pipeline.detector.embed_dim=8", "discriminator.pretrain_rounds=1",
              "discriminator.pretrain_cycles=1", "discriminator.num_negatives=128", "adversarial.batches=1",
              "adversarial.mle_every=1", "eval.num_samples=50", "eval.metrics=[bleu]", "pipeline.num_generate=200",
              "pipeline.detector.epochs=1", "pipeline.detector.max_eval_samples=50",
              "pipeline.match_length=false"]  # texts of at most 15 tokens against EMNLP's 21-48: nothing to match
    result = api.train(ROOT / "recipes" / "fake_news" / "emnlp_news_leakgan_cpu.yaml", out_dir=tmp_path / "run",
                       overrides=shrink, progress=False)
    run = json.loads((result.path / "run.json").read_text())
    assert yaml.safe_load((result.path / "recipe.yaml").read_text())["generator"]["type"] == "leakgan"
    report = json.loads((result.path / "detection" / "report.json").read_text())
    assert report["counts"]["test"]["real"] == report["counts"]["test"]["generated"] > 0
    assert run["pipeline"]["generated"]["num"] == 200


def test_pipeline_section_validates(tmp_path):
    from textgan.config import load_recipe

    recipe = load_recipe(ROOT / "recipes" / "fake_news" / "emnlp_news_leakgan_cpu.yaml",
                         ["pipeline.detector.epochs=1", "pipeline.real_labels=[1]"])
    assert recipe.pipeline.detector.epochs == 1 and recipe.pipeline.real_labels == ("1",)
    bad = tmp_path / "r.yaml"
    bad.write_text("pipeline:\n  num_generate: 10\n")
    with pytest.raises(TextganError, match="pipeline section needs a text corpus"):
        load_recipe(bad)
    assert load_recipe(ROOT / "recipes" / "fake_news" / "emnlp_news_lstm_cpu.yaml",
                       ["pipeline.detector.cnn_seeds=3"]).pipeline.detector.cnn_seeds == 3
    with pytest.raises(TextganError, match="cnn_seeds is 0: use a whole number >= 1"):
        load_recipe(ROOT / "recipes" / "fake_news" / "emnlp_news_lstm_cpu.yaml", ["pipeline.detector.cnn_seeds=0"])
    with pytest.raises(TextganError, match="did you mean 'pipeline.num_generate'"):
        load_recipe(ROOT / "recipes" / "fake_news" / "emnlp_news_leakgan_cpu.yaml", ["pipeline.num_generated=5"])


@pytest.mark.parametrize("ban", [False, True])
def test_pipeline_generates_with_the_recipes_sampling_settings(tmp_path, monkeypatch, ban):
    """`pipeline.ban_unk` (and the other sampling keys) reach the generation stage."""
    from textgan import generation
    from textgan.config import load_recipe
    from textgan.detection.pipeline import run_pipeline

    seen = {}

    def fake_generate(run_path, num, out, sampling, **kwargs):
        seen.update(num=num, sampling=sampling)
        raise KeyboardInterrupt  # stop before the later stages

    monkeypatch.setattr(generation, "generate_texts", fake_generate)
    recipe = load_recipe(ROOT / "recipes" / "fake_news" / "emnlp_news_lstm_cpu.yaml",
                         [f"pipeline.ban_unk={str(ban).lower()}", "pipeline.temperature=0.9", "pipeline.top_p=0.95"])
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(recipe, tmp_path)
    s = seen["sampling"]
    assert (s.ban_unk, s.temperature, s.top_p, s.seed, seen["num"]) == (ban, 0.9, 0.95, recipe.seed, 10_000)
