"""Several seeds, one command: per-seed run folders, summary statistics, bands, resume."""

from __future__ import annotations

import json
import statistics

import pytest

from tests.train.engine_cases import case_recipe
from textgan.cli import main
from textgan.errors import TextganError
from textgan.multiseed import parse_seeds

SHORT = ["adversarial.batches=2", "mle.epochs=1"]


def _argv(recipe, overrides, out, *extra):
    return ["run", str(recipe), "--out", str(out), "--quiet", *extra] + [a for o in overrides for a in ("--set", o)]


def test_seeds_run_in_their_folders_and_the_summary_is_their_statistics(tmp_path, capsys):
    recipe, overrides = case_recipe("seqgan", tmp_path)
    out = tmp_path / "seeds"
    assert main(_argv(recipe, [*overrides, *SHORT], out, "--seeds", "0,1,2")) == 0
    assert "nll_oracle:" in capsys.readouterr().out
    finals = {s: json.loads((out / f"seed{s}" / "run.json").read_text())["final_metrics"] for s in (0, 1, 2)}
    assert len({f["nll_oracle"] for f in finals.values()}) == 3  # the seeds really differ
    summary = json.loads((out / "summary.json").read_text())
    values = [finals[s]["nll_oracle"] for s in (0, 1, 2)]
    got = summary["final"]["nll_oracle"]
    assert got["n"] == 3 and got["mean"] == pytest.approx(statistics.fmean(values))
    assert got["std"] == pytest.approx(statistics.stdev(values)) and got["min"] == min(values)
    best = [min(r["nll_oracle"] for r in map(json.loads, (out / f"seed{s}" / "metrics.jsonl").read_text().splitlines())
                if "nll_oracle" in r) for s in (0, 1, 2)]
    assert summary["best"]["nll_oracle"]["mean"] == pytest.approx(statistics.fmean(best))
    assert summary["per_step"]["adversarial:3"]["nll_oracle"]["n"] == 3
    # every metric at the evaluation each seed's `best` checkpoint keeps (the recipe's best_metric)
    at = []
    for s in (0, 1, 2):
        recs = [r for r in map(json.loads, (out / f"seed{s}" / "metrics.jsonl").read_text().splitlines())
                if r.get("phase") == "adversarial" and "nll_oracle" in r]
        at.append(min(recs, key=lambda r: r["nll_oracle"])["nll_test"])
    assert summary["at_best"]["metric"] == "nll_oracle"
    assert summary["at_best"]["values"]["nll_test"]["mean"] == pytest.approx(statistics.fmean(at))
    assert (out / "learning_curve.png").stat().st_size > 0 and "+-" in (out / "summary.md").read_text()
    # seed 1 equals a single run with seed 1
    single = tmp_path / "single"
    assert main(_argv(recipe, [*overrides, *SHORT, "seed=1"], single)) == 0
    assert json.loads((single / "run.json").read_text())["final_metrics"] == finals[1]


def test_side_by_side_seeds_equal_sequential_ones_and_resume_finishes_a_missing_seed(tmp_path):
    recipe, overrides = case_recipe("seqgan", tmp_path)
    out = tmp_path / "seeds"
    assert main(_argv(recipe, [*overrides, *SHORT], out, "--seeds", "3,4", "--parallel", "2")) == 0  # 2 processes
    before = json.loads((out / "summary.json").read_text())
    import shutil

    shutil.rmtree(out / "seed4")
    (out / "summary.json").unlink()
    assert main(["run", "--resume", str(out), "--quiet", "--parallel", "1"]) == 0  # seed 4 again, in this process
    assert json.loads((out / "summary.json").read_text())["final"] == before["final"]
    assert main(_argv(recipe, overrides, out, "--seeds", "3,4")) == 2  # the folder holds a run


@pytest.mark.parametrize("text", ["0", "1,1", "a,b", ""])
def test_bad_seed_lists_are_one_line_errors(text):
    with pytest.raises(TextganError):
        parse_seeds(text)
    assert parse_seeds("0-2") == [0, 1, 2] and parse_seeds("5, 7") == [5, 7]


def test_adm_seeds_summarise_every_evaluation_table_per_method(tmp_path):
    recipe, overrides = case_recipe("adm", tmp_path)
    out = tmp_path / "adm_seeds"
    assert main(_argv(recipe, overrides, out, "--seeds", "0,1")) == 0
    infos = [json.loads((out / f"seed{s}" / "run.json").read_text()) for s in (0, 1)]
    summary = json.loads((out / "summary.json").read_text())
    for evaluation in ("retrieval", "probe", "clustering"):
        for method, row in infos[0][evaluation].items():
            for column, value in row.items():
                if column == "k":
                    continue
                got = summary["tables"][evaluation][method][column]
                values = [value, infos[1][evaluation][method][column]]
                assert got["n"] == 2 and got["mean"] == pytest.approx(statistics.fmean(values))
                assert got["std"] == pytest.approx(statistics.stdev(values))
    assert infos[0]["retrieval"]["ADM"] != infos[1]["retrieval"]["ADM"]  # the seeds really differ
    text = (out / "summary.md").read_text()
    assert "## retrieval: mean +- std over 2 seeds" in text and "## probe" in text and "## clustering" in text
    for png in ("precision_recall.png", "probe.png", "clustering.png"):
        assert (out / png).stat().st_size > 0


def test_pipeline_seeds_summarise_each_detector_and_the_shortcut_checks(tmp_path):
    """A fake-news recipe run with --seeds: each seed's run.json keeps its detectors' test metrics
    (`pipeline.detectors`), and the summary averages them per detector and lists each shortcut check."""
    from textgan.multiseed import write_summary

    rows = {0: {"cnn": {"accuracy": 0.70, "auroc": 0.78}, "tfidf_logreg": {"accuracy": 0.81, "auroc": 0.90}},
            1: {"cnn": {"accuracy": 0.64, "auroc": 0.74}, "tfidf_logreg": {"accuracy": 0.79, "auroc": 0.88}},
            2: {"cnn": {"accuracy": 0.67, "auroc": 0.70}, "tfidf_logreg": {"accuracy": 0.80, "auroc": 0.86}}}
    checks = {0: [], 1: [], 2: ["trailing_whitespace"]}
    for seed, table in rows.items():
        folder = tmp_path / f"seed{seed}"
        folder.mkdir()
        (folder / "metrics.jsonl").write_text(json.dumps({"phase": "mle", "step": 1, "nll_test": 5.0 + seed}) + "\n")
        (folder / "run.json").write_text(json.dumps({"seed": seed, "final_metrics": {"nll_test": 5.0 + seed},
                                                     "pipeline": {"detectors": table, "shortcuts": {
                                                         "passed": not checks[seed], "shortcuts": checks[seed]}}}))
    summary = write_summary(tmp_path, [0, 1, 2])
    for detector in ("cnn", "tfidf_logreg"):
        for metric in ("accuracy", "auroc"):
            values = [rows[s][detector][metric] for s in (0, 1, 2)]
            got = summary["tables"]["detection"][detector][metric]
            assert got["n"] == 3 and got["mean"] == pytest.approx(statistics.fmean(values))
            assert got["std"] == pytest.approx(statistics.stdev(values))
    text = (tmp_path / "summary.md").read_text()
    assert "## detection: mean +- std over 3 seeds" in text and "| tfidf_logreg | 0.8000 +- 0.0100 | 0.8800 +- 0.0200 |" in text
    assert "seed 0: passed; seed 1: passed; seed 2: FAILED (trailing_whitespace)" in text
    assert (tmp_path / "detection.png").stat().st_size > 0
