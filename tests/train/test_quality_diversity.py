"""The quality-diversity temperature sweep: every metric, the MLE baseline curve, the
equal-diversity comparison with it (Caccia et al. 2018), and the CLI's outputs."""

import json

import numpy as np
import pytest

from textgan.api import RECIPES_DIR, train
from textgan.cli import main
from textgan.errors import TextganError
from textgan.train.evaluation import (format_quality_diversity_summary, plot_quality_diversity, quality_diversity,
                                      summarize_quality_diversity)

LINES = ["the cat sat on the mat .", "a dog ran in the park .", "birds sing in the morning .",
         "the dog sat in the sun ."] * 16
TEST = ["the cat ran in the park .", "birds sat on the mat .", "a dog sings in the morning ."]
TEMPS = (0.7, 1.0, 1.5)


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    """A tiny SeqGAN run on a small text corpus: 1 MLE epoch, then 1 adversarial batch, so the
    run holds checkpoints/mle beside its final generator (a few seconds on one thread)."""
    root = tmp_path_factory.mktemp("qd")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "train.txt").write_text("\n".join(LINES) + "\n")
    (corpus / "test.txt").write_text("\n".join(TEST) + "\n")
    overrides = [f"data.corpus={corpus}", "data.max_len=8", "data.tokenizer=whitespace", "eval.tokenizer=whitespace",
                 "mle.epochs=1", "mle.batch_size=16", "eval.num_samples=16", "eval.every=1", "eval.every_adversarial=1",
                 "generator.embed_dim=8", "generator.hidden_dim=8", "discriminator.pretrain_rounds=1",
                 "discriminator.pretrain_epochs=1", "discriminator.filter_sizes=[2,3]", "discriminator.num_filters=[4,4]",
                 "discriminator.compute_dtype=float32", "adversarial.batches=1", "adversarial.d_rounds=1",
                 "adversarial.d_epochs=1", "adversarial.num_rollouts=2", "threads=1"]
    result = train(RECIPES_DIR / "seqgan" / "coco_captions_cpu.yaml", out_dir=root / "run", overrides=overrides,
                   progress=False)
    assert (result.path / "checkpoints" / "mle" / "model.safetensors").is_file()
    return result.path


def toy_features(texts):
    """A cheap stand-in for an encoder: a few counts per text."""
    return np.array([[len(t), t.count(" "), t.count("the"), t.count("a"), t.count(".")] for t in texts], dtype=float)


# A metric's name -> one column it writes (orders 2..5).
COLUMN = {"bleu": "bleu4", "self_bleu": "self_bleu4", "fbleu": "bleu_f4", "ms_jaccard": "ms_jaccard4",
          "distinct": "distinct2", "entropy": "token_entropy", "novelty": "novel_2gram", "length": "len_mean",
          "lm_score": "lm_score", "reverse_lm_score": "reverse_lm_score", "frechet": "frechet", "nll_test": "nll_test"}


def test_every_requested_metric_in_every_row_and_the_mle_curve_at_every_temperature(text_run, tmp_path):
    rows = quality_diversity([text_run], TEMPS, num_samples=16, metrics=tuple(COLUMN),
                             lm={"max_epochs": 1}, features={"feature_fn": toy_features})
    final = [r for r in rows if r["role"] == "final"]
    mle = [r for r in rows if r["role"] == "mle"]
    assert [r["temperature"] for r in final] == [r["temperature"] for r in mle] == list(TEMPS)
    name = final[0]["curve"]
    assert all(r["curve"] == f"{name} (MLE)" and r["baseline_of"] == name for r in mle)
    assert all(r["baseline_of"] is None for r in final)
    text_metrics = [m for m in COLUMN if m != "nll_test"]
    for r in rows:
        missing = [m for m, col in COLUMN.items() if not isinstance(r.get(col), float)]
        assert not missing, (r["curve"], r["temperature"], missing)
        assert r["protocol"]["metrics"] == text_metrics and r["fingerprint"]
    # Same seed at every temperature for both curves, and a different generator: the curves differ.
    assert [r["nll_test"] for r in final] != [r["nll_test"] for r in mle]
    png = plot_quality_diversity(rows, tmp_path / "qd.png")  # with the LM-score panel
    assert png.stat().st_size > 1000
    with pytest.raises(TextganError, match="nll_oracle needs the synthetic oracle"):
        quality_diversity([text_run], (1.0,), num_samples=4, metrics=("nll_oracle",))
    with pytest.raises(TextganError, match="unknown sweep metrics"):
        quality_diversity([text_run], (1.0,), num_samples=4, metrics=("bleu", "blue"))


def rows_of(curve, points, quality, diversity, baseline_of=None):
    """Hand-made sweep rows: ``points`` are (temperature, diversity, quality)."""
    return [{"curve": curve, "role": "mle" if baseline_of else "final", "baseline_of": baseline_of,
             "temperature": t, diversity: d, quality: q} for t, d, q in points]


# The baseline along self_bleu4 0.2..0.6 has bleu4 = self_bleu4 - 0.1.
BASE = [(0.7, 0.2, 0.1), (1.0, 0.4, 0.3), (1.3, 0.6, 0.5)]


def test_a_curve_above_the_mle_curve_gains_and_points_outside_are_not_compared():
    # At self_bleu4 0.3 the MLE curve's bleu4 is 0.2 (gain +0.1); at 0.5 it is 0.4 (gain +0.05); 0.8 is outside.
    rows = (rows_of("gan", [(0.7, 0.3, 0.3), (1.0, 0.5, 0.45), (1.3, 0.8, 0.9)], "bleu4", "self_bleu4")
            + rows_of("gan (MLE)", BASE, "bleu4", "self_bleu4", baseline_of="gan"))
    summary = summarize_quality_diversity(rows, "bleu4", "self_bleu4")
    gan, base = summary["curves"]
    cmp = gan["comparison"]
    assert cmp["mean_gain"] == pytest.approx(0.075)
    assert (cmp["compared"], cmp["outside"], cmp["above"], cmp["below"]) == (2, 1, 2, 0)
    assert cmp["verdict"] == "above MLE at every compared point"
    assert [p.get("outside", False) for p in cmp["points"]] == [False, False, True]
    assert gan["baseline"] == "gan (MLE)" and "comparison" not in base
    assert (gan["quality_at_t1"], gan["diversity_at_t1"]) == (0.45, 0.5)
    assert summary["quality_direction"] == "higher is better"
    assert summary["diversity_direction"] == "lower is more diverse"  # Self-BLEU: higher means LESS diverse
    table = format_quality_diversity_summary(summary)
    assert "| gan | 0.7,1,1.3 | 0.4500 | 0.5000 | 0.0750 (2 compared, 2 above, 0 below, 1 outside) |" in table


def test_a_curve_below_the_mle_curve_loses_and_a_crossing_is_named():
    below = rows_of("gan", [(0.7, 0.3, 0.1), (1.0, 0.6, 0.3)], "bleu4", "self_bleu4")
    base = rows_of("gan (MLE)", BASE, "bleu4", "self_bleu4", baseline_of="gan")
    cmp = summarize_quality_diversity(below + base, "bleu4", "self_bleu4")["curves"][0]["comparison"]
    assert cmp["mean_gain"] == pytest.approx(-0.15) and (cmp["above"], cmp["below"]) == (0, 2)
    assert cmp["verdict"] == "below MLE at every compared point"
    crossing = rows_of("gan", [(0.7, 0.3, 0.3), (1.0, 0.6, 0.3)], "bleu4", "self_bleu4")
    cmp = summarize_quality_diversity(crossing + base, "bleu4", "self_bleu4")["curves"][0]["comparison"]
    assert cmp["verdict"] == "crosses MLE" and (cmp["above"], cmp["below"]) == (1, 1)
    far = rows_of("gan", [(1.0, 0.9, 0.3)], "bleu4", "self_bleu4")
    cmp = summarize_quality_diversity(far + base, "bleu4", "self_bleu4")["curves"][0]["comparison"]
    assert cmp["mean_gain"] is None and cmp["compared"] == 0 and cmp["outside"] == 1


def test_the_gain_is_better_quality_when_lower_is_better():
    # NLL-oracle (quality, lower is better) against NLL-test: the MLE curve runs (2, 10), (3, 8), (4, 6).
    base = rows_of("gan (MLE)", [(0.7, 2.0, 10.0), (1.0, 3.0, 8.0), (1.3, 4.0, 6.0)], "nll_oracle", "nll_test",
                   baseline_of="gan")
    better = rows_of("gan", [(1.0, 2.5, 8.5)], "nll_oracle", "nll_test")  # the MLE curve has 9.0 at NLL-test 2.5
    summary = summarize_quality_diversity(better + base, "nll_oracle", "nll_test")
    cmp = summary["curves"][0]["comparison"]
    assert cmp["mean_gain"] == pytest.approx(0.5) and cmp["verdict"] == "above MLE at every compared point"
    assert summary["quality_direction"] == "lower is better"
    assert summary["diversity_direction"] == "lower is better coverage"
    worse = rows_of("gan", [(1.0, 3.5, 7.5)], "nll_oracle", "nll_test")  # the MLE curve has 7.0 there
    cmp = summarize_quality_diversity(worse + base, "nll_oracle", "nll_test")["curves"][0]["comparison"]
    assert cmp["mean_gain"] == pytest.approx(-0.5) and cmp["verdict"] == "below MLE at every compared point"


def test_unknown_or_missing_axes_fail_with_one_line():
    rows = rows_of("gan", [(1.0, 0.5, 0.4)], "bleu4", "self_bleu4") + [
        {"curve": "x", "temperature": 1.0, "bleu4": 0.1, "self_bleu4": 0.2, "len_mean": 5.0}]
    with pytest.raises(TextganError, match="no known better direction"):
        summarize_quality_diversity(rows, "len_mean", "self_bleu4")
    with pytest.raises(TextganError, match="--quality 'bleu2' is not a column"):
        summarize_quality_diversity(rows, "bleu2", "self_bleu4")


def test_cli_writes_the_summary_and_prints_the_table(text_run, tmp_path, capsys):
    out = tmp_path / "qd"
    assert main(["evaluate", "--run", str(text_run), "--temperatures", "0.7,1.0,1.5", "--num-samples", "16",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for name in ("quality_diversity.json", "quality_diversity.tsv", "quality_diversity.png",
                 "quality_diversity_summary.json", "quality_diversity_summary.md"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "quality_diversity_summary.json").read_text())
    assert (summary["quality"], summary["diversity"]) == ("bleu4", "self_bleu4")
    final, mle = summary["curves"]
    assert final["baseline"] == mle["curve"] == f"{final['curve']} (MLE)"
    assert final["comparison"]["compared"] + final["comparison"]["outside"] == 3
    table = (out / "quality_diversity_summary.md").read_text()
    assert "| curve | temperatures | bleu4 at T=1 | self_bleu4 at T=1 | gain over MLE at equal diversity | verdict |" in table
    assert table in printed
    tsv = (out / "quality_diversity.tsv").read_text().splitlines()
    assert "protocol" not in tsv[0] and len(tsv) == 7  # flat: header + 2 curves x 3 temperatures
    assert main(["evaluate", "--run", str(text_run), "--num-samples", "4", "--out", str(tmp_path / "bad"),
                 "--quality", "len_mean"]) == 2
    assert "no known better direction" in capsys.readouterr().err


def test_no_mle_baseline_drops_the_baseline_curve(text_run, tmp_path, capsys):
    out = tmp_path / "qd"
    assert main(["evaluate", "--run", str(text_run), "--temperatures", "0.7,1.0", "--num-samples", "16",
                 "--out", str(out), "--no-mle-baseline", "--sweep-metrics", "bleu,self_bleu,distinct"]) == 0
    rows = json.loads((out / "quality_diversity.json").read_text())
    assert [r["role"] for r in rows] == ["final", "final"] and all("distinct2" in r for r in rows)
    summary = json.loads((out / "quality_diversity_summary.json").read_text())
    assert len(summary["curves"]) == 1 and "comparison" not in summary["curves"][0]
    assert "no MLE baseline" in capsys.readouterr().out
