"""MaliGAN and RankGAN end to end through ``textgan run`` on their CPU recipes, shrunk to seconds."""

import json
import signal
from pathlib import Path

import pytest

from tests.train.engine_cases import outcome
from tests.train.test_resume import _run_and_kill, killed_when
from textgan import api
from textgan.cli import main

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
TINY = ["--set", "data.num_train=256", "--set", "data.num_test=64", "--set", "mle.epochs=1",
        "--set", "eval.num_samples=64", "--set", "eval.every=1", "--set", "eval.every_adversarial=1",
        "--set", "discriminator.embed_dim=8", "--set", "discriminator.filter_sizes=[1,2,3]",
        "--set", "discriminator.num_filters=[8,8,8]", "--set", "discriminator.pretrain_rounds=1",
        "--set", "discriminator.pretrain_epochs=1", "--set", "adversarial.batches=2",
        "--set", "adversarial.batch_size=16", "--set", "device=cpu", "--set", "threads=1", "--quiet"]  # one thread in
# every process (the subprocess would take all cores): exact resume holds at one thread count


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


CASES = [
    ("maligan/synthetic_oracle_cpu.yaml", ["--set", "adversarial.g_steps=2"]),
    ("rankgan/synthetic_oracle_cpu.yaml", ["--set", "adversarial.num_rollouts=2",
                                           "--set", "discriminator.reference_size=4",
                                           "--set", "discriminator.comparison_size=8"]),
]


@pytest.mark.parametrize("recipe,extra", CASES)
def test_variant_runs_end_to_end(recipe, extra, tmp_path):
    out = tmp_path / "run"
    assert main(["run", str(RECIPES / recipe), "--out", str(out), *TINY, *extra]) == 0
    adv = [r for r in records(out) if r["phase"] == "adversarial"]
    assert [r["batch"] for r in adv] == [0, 1]
    for r in adv:
        assert all(abs(r[k]) < 1e6 for k in ("g_loss", "reward_mean", "d_loss", "nll_oracle"))
    assert (out / "checkpoints/last/model.safetensors").is_file()
    assert (out / "checkpoints/discriminator/model.safetensors").is_file()


@pytest.mark.parametrize("recipe,extra", CASES)
def test_kill_9_then_resume_gives_the_uninterrupted_metrics(recipe, extra, tmp_path):
    """The ranker's redrawn sets and MaliGAN's prefix schedule come back exactly from the saved state."""
    flags = [*TINY, *extra, "--set", "adversarial.batches=8"]
    overrides = [flags[i + 1] for i in range(len(flags)) if flags[i] == "--set"]
    path = RECIPES / recipe
    expected = outcome(api.train(path, out_dir=tmp_path / "whole", overrides=overrides, progress=False).path)
    out = tmp_path / "killed"
    assert _run_and_kill(path, overrides, out, killed_when("seqgan"), signal.SIGKILL) == -signal.SIGKILL
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    assert outcome(out) == json.loads(json.dumps(expected))
