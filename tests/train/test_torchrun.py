"""torchrun: a tiny SeqGAN recipe on 2 CPU processes (gloo), its run folder, equal weights, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from safetensors.torch import load_file

from tests.train.engine_cases import ROOT, SEQGAN, case_recipe, outcome, read_jsonl


def torchrun(recipe, overrides, out, *extra) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "textgan",
           "run", "--quiet", *extra]
    if recipe is not None:
        cmd += [str(recipe), "--out", str(out)] + [a for o in overrides for a in ("--set", o)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def generator_weights(folder):
    tensors = load_file(str(folder / "state.safetensors"))
    return {k: v for k, v in tensors.items() if k.startswith("generator.")}


def test_two_processes_train_the_same_weights_and_rank_0_writes_the_run(tmp_path):
    recipe, overrides = case_recipe("seqgan", tmp_path)
    out = tmp_path / "run"
    proc = torchrun(recipe, [*overrides, "adversarial.batches=2"], out)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-3000:]
    assert stdout.count("run folder:") == 1  # rank 0 alone reports
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "finished" and info["processes"] == 2
    records = read_jsonl(out / "metrics.jsonl")
    assert [r["phase"] for r in records].count("mle") == 3 and len(records) == 6  # one log, not two
    # each rank drew half of the evaluation samples; rank 0 scored all of them
    assert all(r["nll_oracle"] > 0 and r["nll_test"] > 0 for r in records if r["phase"] in ("mle", "adversarial"))
    assert len((out / "samples" / "mle_epoch002.txt").read_text().splitlines()) == 5  # eval.save_samples of the gathered
    for name in ("last", "mle", "discriminator"):
        assert (out / "checkpoints" / name / "model.safetensors").is_file()
    rank0, rank1 = generator_weights(out / "state"), generator_weights(out / "state.rank1")
    assert rank0.keys() == rank1.keys() and len(rank0) > 3
    for k in rank0:
        assert (rank0[k] == rank1[k]).all(), f"{k} differs between the ranks"
    assert not list(tmp_path.glob("run/samples/*rank*"))


def test_a_stopped_torchrun_run_resumes_to_the_uninterrupted_numbers(tmp_path):
    recipe, overrides = case_recipe("seqgan", tmp_path)
    overrides = [*overrides, "adversarial.batches=10"]
    whole = torchrun(recipe, overrides, tmp_path / "whole")
    assert whole.wait(timeout=300) == 0, whole.stderr.read()[-3000:]
    out = tmp_path / "stopped"
    proc = torchrun(recipe, overrides, out)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        records = read_jsonl(out / "metrics.jsonl") if (out / "metrics.jsonl").is_file() else []
        if sum(r.get("phase") == "adversarial" for r in records) >= 2:
            break
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)  # torchrun passes it on to both ranks
    _, err = proc.communicate(timeout=120)
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted", err[-3000:]
    again = torchrun(None, [], out, "--resume", str(out))
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err[-3000:]
    assert outcome(out) == outcome(tmp_path / "whole")
