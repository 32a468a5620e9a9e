"""``textgan run --fork RUN --at PHASE``: a new run from the state another run's phase began with.

A fork with the parent's settings must log exactly what the parent logged (it is a resume from
the state kept when the previous phase ended); a fork with another adversarial setting shares the
pretraining and differs after it; bad requests stop with one line and leave no folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.train.engine_cases import SEQGAN, ROOT, read_jsonl, strip_time
from textgan import api
from textgan.cli import main
from textgan.errors import TextganError

RECIPE = ROOT / "recipes" / "seqgan" / "synthetic_oracle.yaml"


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    out = tmp_path_factory.mktemp("fork") / "parent"
    api.train(RECIPE, out_dir=out, overrides=SEQGAN, progress=False)
    return out


def _phase_records(run: Path, phase: str | None = None) -> list[dict]:
    records = strip_time(read_jsonl(run / "metrics.jsonl"))
    return [r for r in records if phase is None or r.get("phase") == phase]


def test_parent_keeps_the_start_of_every_phase_after_the_first(parent):
    kept = sorted(p.name for p in (parent / "phase_states").iterdir())
    assert kept == ["adversarial", "discriminator"]
    for name in kept:
        assert (parent / "phase_states" / name / "state" / "state.safetensors").is_file()
    assert (parent / "phase_states" / "adversarial" / "checkpoints").is_dir()  # the checkpoints as they were then


def test_a_fork_with_the_parents_settings_logs_what_the_parent_logged(parent, tmp_path):
    out = tmp_path / "same"
    api.fork(parent, "adversarial", out, progress=False)
    assert _phase_records(out) == _phase_records(parent)
    info = json.loads((out / "run.json").read_text())
    assert info["forked_from"]["at"] == "adversarial" and info["status"] == "finished"
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == sorted(
        p.name for p in (parent / "checkpoints").iterdir())


def test_a_fork_with_another_setting_shares_the_pretraining_only(parent, tmp_path):
    out = tmp_path / "other"
    assert main(["run", "--fork", str(parent), "--at", "adversarial", "--out", str(out), "--quiet",
                 "--set", "adversarial.rollout_update_rate=0.0"]) == 0
    before = [r for r in _phase_records(parent) if r.get("phase") != "adversarial"]
    assert [r for r in _phase_records(out) if r.get("phase") != "adversarial"] == before
    ours, theirs = _phase_records(out, "adversarial"), _phase_records(parent, "adversarial")
    assert len(ours) == len(theirs) and ours != theirs


@pytest.mark.parametrize("argv, message", [
    (["--at", "nowhere"], "no saved start of phase 'nowhere': it kept the starts of: adversarial, discriminator"),
    (["--at", "adversarial", "--set", "generator.hidden_dim=64"], "would change the model"),
    ([], "--fork needs --at PHASE"),
])
def test_bad_forks_stop_with_one_line_and_leave_nothing(parent, tmp_path, capsys, argv, message):
    out = tmp_path / "bad"
    assert main(["run", "--fork", str(parent), "--out", str(out), *argv]) != 0
    assert message in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".bad*"))


def test_fork_of_a_folder_that_is_no_run(tmp_path):
    with pytest.raises(TextganError, match="is not a run folder"):
        api.fork(tmp_path, "adversarial", tmp_path / "x", progress=False)


def test_a_seeds_folder_forks_every_seed_and_summarises_them(tmp_path):
    import shutil

    from textgan.multiseed import run_seeds
    from textgan.config import load_recipe

    parent, out = tmp_path / "seeds", tmp_path / "forked"
    run_seeds(load_recipe(RECIPE, SEQGAN), [0, 1], parent, progress=False)
    assert main(["run", "--fork", str(parent), "--at", "adversarial", "--out", str(out), "--quiet",
                 "--set", "adversarial.rollout_update_rate=0.0"]) == 0
    manifest = json.loads((out / "seeds.json").read_text())
    assert manifest["forked_from"]["at"] == "adversarial" and manifest["recipe"]["adversarial"]["rollout_update_rate"] == 0.0
    assert (out / "summary.md").is_file()
    for seed in (0, 1):
        ours, theirs = _phase_records(out / f"seed{seed}"), _phase_records(parent / f"seed{seed}")
        pre = [r for r in theirs if r.get("phase") != "adversarial"]
        assert [r for r in ours if r.get("phase") != "adversarial"] == pre and ours != theirs
    # a seed lost before it started is forked again by --resume, with the same result
    kept = _phase_records(out / "seed1")
    shutil.rmtree(out / "seed1")
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    assert _phase_records(out / "seed1") == kept


def test_compare_pairs_the_seeds_of_two_settings(tmp_path, capsys):
    from textgan.multiseed import compare

    a, b = tmp_path / "a", tmp_path / "b"
    for folder, seed, values in ((a, 0, (9.0, 8.0)), (a, 1, (9.5, 8.6)), (b, 0, (9.1, 7.9)), (b, 1, (9.3, 8.2))):
        run = folder / f"seed{seed}"
        run.mkdir(parents=True)
        (run / "run.json").write_text(json.dumps({"seed": seed, "status": "finished",
                                                  "final_metrics": {"nll_oracle": values[1]}}))
        (run / "metrics.jsonl").write_text("".join(json.dumps({"phase": "adversarial", "step": i, "nll_oracle": v}) + "\n"
                                                   for i, v in enumerate(values)))
    for folder in (a, b):
        (folder / "seeds.json").write_text(json.dumps({"seeds": [0, 1], "recipe": {}}))
    result = compare(a, b)
    final = next(r for r in result["rows"] if r["kind"] == "final" and r["metric"] == "nll_oracle")
    assert final["b_minus_a"]["mean"] == pytest.approx((-0.1 - 0.4) / 2)
    assert final["b_minus_a"]["std"] == pytest.approx(0.2121320, abs=1e-6)  # stdev of -0.1 and -0.4
    best = next(r for r in result["rows"] if r["kind"] == "best" and r["metric"] == "nll_oracle")
    assert best["a"]["mean"] == pytest.approx(8.3) and best["b"]["mean"] == pytest.approx(8.05)
    assert main(["compare", str(a), str(b)]) == 0
    assert "B - A (paired)" in capsys.readouterr().out
    assert main(["compare", str(a), str(tmp_path)]) != 0
    assert "neither a run folder nor a --seeds folder" in capsys.readouterr().err


def test_summary_and_compare_give_every_metric_at_the_best_checkpoints_evaluation(tmp_path, capsys):
    """NLL-test beside the best NLL-oracle it came with: the evaluation the `best` checkpoint keeps
    (the recipe's adversarial.best_metric over the adversarial phase; the first of equal values),
    not each metric's own best (the MLE phase's lower NLL-oracle here must not count)."""
    from textgan.multiseed import compare, write_summary

    records = {  # seed -> (phase, nll_oracle, nll_test) per evaluation
        0: [("mle", 8.0, 7.0), ("adversarial", 9.0, 8.0), ("adversarial", 8.5, 8.4), ("adversarial", 8.5, 8.9),
            ("adversarial", 8.7, 8.1)],
        1: [("mle", 8.1, 7.1), ("adversarial", 9.2, 8.2), ("adversarial", 8.9, 8.3), ("adversarial", 8.6, 8.6)],
    }
    folders = {}
    for name, shift in (("a", 0.0), ("b", -0.1)):
        folder = tmp_path / name
        for seed, rows in records.items():
            run = folder / f"seed{seed}"
            run.mkdir(parents=True)
            (run / "recipe.yaml").write_text("adversarial:\n  best_metric: nll_oracle\n")
            (run / "run.json").write_text(json.dumps({"seed": seed, "status": "finished",
                                                      "final_metrics": {"nll_oracle": rows[-1][1] + shift}}))
            (run / "metrics.jsonl").write_text("".join(
                json.dumps({"phase": p, "step": i, "nll_oracle": o + shift, "nll_test": t}) + "\n"
                for i, (p, o, t) in enumerate(rows)))
        (folder / "seeds.json").write_text(json.dumps({"seeds": [0, 1], "recipe": {}}))
        folders[name] = folder
    summary = write_summary(folders["a"], [0, 1])
    at = summary["at_best"]
    assert at["metric"] == "nll_oracle"
    assert at["values"]["nll_oracle"]["mean"] == pytest.approx((8.5 + 8.6) / 2)
    assert at["values"]["nll_test"]["mean"] == pytest.approx((8.4 + 8.6) / 2)  # the first 8.5 of seed 0, not the second
    assert at["values"]["step"]["mean"] == pytest.approx((2 + 3) / 2)
    assert summary["best"]["nll_oracle"]["mean"] == pytest.approx(8.05)  # each metric's own best: the MLE phase's
    assert "At the evaluation with the best nll_oracle of each seed" in (folders["a"] / "summary.md").read_text()
    result = compare(folders["a"], folders["b"])
    row = next(r for r in result["rows"] if r["kind"] == "at best nll_oracle" and r["metric"] == "nll_test")
    assert row["b_minus_a"]["mean"] == pytest.approx(0.0)  # the same evaluations are the best on both sides
    assert main(["compare", str(folders["a"]), str(folders["b"])]) == 0
    assert "| at best nll_oracle nll_test |" in capsys.readouterr().out
