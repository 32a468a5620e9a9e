"""Exact resume: a run killed with SIGKILL (or stopped by SIGTERM) mid-run and resumed logs the same values.

Each test trains a tiny recipe uninterrupted in this process, then runs the same recipe with
``python -m textgan run`` in a subprocess, kills it once the log shows it is inside the phase
under test, resumes it with ``textgan run --resume`` and compares every logged value (all but
the wall-clock ``time``) and the final numbers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.train.engine_cases import ADM, LEAKGAN, ROOT, SEQGAN, case_recipe, outcome, read_jsonl
from textgan import api
from textgan.cli import main
from textgan.errors import TextganError

LONGER = {  # more steps in the phase that is killed, so the kill lands inside it
    "seqgan": [*SEQGAN, "adversarial.batches=12"],
    "leakgan": [*LEAKGAN, "adversarial.batches=10"],
    "adm": [*ADM, "adm.steps=400", "adm.eval_every=40"],
}


def killed_when(case: str):
    """The log condition at which the subprocess is killed."""
    if case == "adm":  # inside the first baseline's training, after the ADM finished
        return lambda run: len(_records(run / "baselines" / "adm_ae" / "metrics.jsonl")) >= 2
    return lambda run: sum(r.get("phase") == "adversarial" for r in _records(run / "metrics.jsonl")) >= 2


def _records(path: Path) -> list[dict]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:  # a line being written
            break
    return out


def _recipe_and_overrides(case: str, tmp: Path) -> tuple[Path, list[str]]:
    recipe, overrides = case_recipe(case, tmp)
    extra = [o for o in LONGER[case] if o not in overrides]
    return recipe, [*overrides, *extra]


def _run_and_kill(recipe: Path, overrides: list[str], out: Path, ready, sig: int, timeout: float = 120.0) -> int:
    cmd = [sys.executable, "-m", "textgan", "run", str(recipe), "--out", str(out), "--quiet"]
    for o in overrides:
        cmd += ["--set", o]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                _, err = proc.communicate()
                pytest.fail(f"the run ended (status {proc.returncode}) before it could be killed: {err[-2000:]}")
            if ready(out):
                proc.send_signal(sig)
                break
            time.sleep(0.003)
        else:
            pytest.fail("the run did not reach the kill point in time")
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if sig == signal.SIGTERM:
        assert "--resume" in err, err[-2000:]
    return proc.returncode


@pytest.mark.parametrize("case", ["seqgan", "leakgan", "adm"])
def test_kill_9_mid_run_then_resume_gives_the_uninterrupted_metrics(case, tmp_path):
    recipe, overrides = _recipe_and_overrides(case, tmp_path)
    expected = outcome(api.train(recipe, out_dir=tmp_path / "whole", overrides=overrides, progress=False).path)

    out = tmp_path / "killed"
    rc = _run_and_kill(recipe, overrides, out, killed_when(case), signal.SIGKILL)
    assert rc == -signal.SIGKILL
    assert json.loads((out / "run.json").read_text())["status"] == "running"  # killed: nothing could mark it
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    got = outcome(out)
    assert got == json.loads(json.dumps(expected))
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "finished" and len(info["resumed"]) == 1
    for name in ("best", "last") if case != "adm" else ("best", "last"):
        assert (out / "checkpoints" / name / "model.safetensors").is_file()


def test_sigterm_saves_the_state_and_names_the_resume_command(tmp_path):
    recipe, overrides = _recipe_and_overrides("seqgan", tmp_path)
    expected = outcome(api.train(recipe, out_dir=tmp_path / "whole", overrides=overrides, progress=False).path)
    out = tmp_path / "stopped"
    rc = _run_and_kill(recipe, overrides, out, killed_when("seqgan"), signal.SIGTERM)
    assert rc == 130
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    assert api.resume(out, progress=False).path == out
    assert outcome(out) == json.loads(json.dumps(expected))


def test_out_folder_holding_a_run_is_refused_with_the_resume_command(tmp_path, capsys):
    recipe, overrides = case_recipe("seqgan", tmp_path)
    out = tmp_path / "run"
    api.train(recipe, out_dir=out, overrides=[*overrides, "adversarial.batches=0", "mle.epochs=1"], progress=False)
    argv = ["run", str(recipe), "--out", str(out), "--quiet"] + [a for o in overrides for a in ("--set", o)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"textgan run --resume {out}" in err
    assert main(["run", "--resume", str(out)]) == 2  # finished: nothing to resume
    assert "finished" in capsys.readouterr().err


def test_resume_refuses_a_shape_change_and_accepts_other_overrides(tmp_path, capsys):
    recipe, overrides = case_recipe("seqgan", tmp_path)
    out = tmp_path / "run"
    rc = _run_and_kill(recipe, [*overrides, "adversarial.batches=12"], out, killed_when("seqgan"), signal.SIGKILL)
    assert rc == -signal.SIGKILL
    before = (out / "metrics.jsonl").read_bytes()
    assert main(["run", "--resume", str(out), "--set", "generator.hidden_dim=48"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "generator.hidden_dim" in err
    assert (out / "metrics.jsonl").read_bytes() == before  # the refusal touched nothing
    assert main(["run", "--resume", str(out), "--quiet", "--set", "adversarial.batches=13"]) == 0
    adversarial = [r for r in read_jsonl(out / "metrics.jsonl") if r["phase"] == "adversarial"]
    assert adversarial[-1]["batch"] == 12


def test_train_returns_a_handle_that_load_gives_back(tmp_path):
    import textgan

    recipe, overrides = case_recipe("seqgan", tmp_path)
    result = api.train(recipe, out_dir=tmp_path / "run", progress=False,
                       overrides=[*overrides, "adversarial.batches=0", "mle.epochs=1"])
    again = textgan.load(result.path)
    assert again.metrics == result.metrics and again.path == result.path
    assert [r["step"] for r in again.history] == [0, 1, 1]
    texts = result.sample(5, temperature=0.8, seed=3)
    assert len(texts) == 5 and texts == again.sample(5, temperature=0.8, seed=3)
    scores = again.evaluate(n=20, metrics=("self_bleu", "distinct", "length"))
    assert 0.0 <= scores["self_bleu2"] <= 1.0


def test_train_leaves_the_callers_seed_and_threads_alone(tmp_path):
    import torch

    recipe, overrides = case_recipe("seqgan", tmp_path)
    torch.set_num_threads(1)
    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)
    api.train(recipe, out_dir=tmp_path / "run", progress=False,
              overrides=[*overrides, "adversarial.batches=0", "mle.epochs=1", "threads=2"])
    assert torch.get_num_threads() == 1
    assert torch.equal(torch.rand(3), expected)


def test_tensorboard_gets_every_logged_value(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    recipe, overrides = case_recipe("seqgan", tmp_path)
    result = api.train(recipe, out_dir=tmp_path / "run", progress=False,
                       overrides=[*overrides, "adversarial.batches=2", "mle.epochs=1", "tensorboard=true"])
    events = EventAccumulator(str(result.path / "tensorboard"))
    events.Reload()
    logged = read_jsonl(result.path / "metrics.jsonl")
    nll = [r["nll_oracle"] for r in logged if r["phase"] == "mle"]
    got = [e.value for e in events.Scalars("mle/nll_oracle")]
    assert got == pytest.approx(nll)
    assert [e.step for e in events.Scalars("adversarial/nll_oracle")] == [2, 3]


def test_training_state_round_trip_is_exact_and_unpickled(tmp_path):
    import random

    import numpy as np
    import torch

    from textgan.engine.optim import adam
    from textgan.engine.state import TrainState, load_state, save_state

    def make():
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 2)
        return model, adam(model.parameters(), lr=0.1), torch.Generator().manual_seed(5)

    model, opt, gen = make()
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(4, 3, generator=gen)).pow(2).sum().backward()
        opt.step()
    state = TrainState()
    for name, part in (("model", model), ("opt", opt), ("gen", gen)):
        state.register(name, part)
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    save_state(tmp_path / "state", *state.capture())
    expected = (random.random(), np.random.rand(), torch.rand(1), torch.rand(1, generator=gen))
    model2, opt2, gen2 = make()
    state2 = TrainState()
    for name, part in (("model", model2), ("opt", opt2), ("gen", gen2)):
        state2.register(name, part)
    state2.restore(*load_state(tmp_path / "state"))
    assert (random.random(), np.random.rand()) == expected[:2]
    assert torch.equal(torch.rand(1), expected[2]) and torch.equal(torch.rand(1, generator=gen2), expected[3])
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), model2.state_dict().values()))
    assert opt2.state_dict()["param_groups"][0]["betas"] == (0.9, 0.999)
    for a, b in zip(opt.state.values(), opt2.state.values()):
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["state.json", "state.safetensors"]
    (tmp_path / "state" / "state.safetensors").write_bytes(b"broken")
    with pytest.raises(TextganError, match="damaged"):
        load_state(tmp_path / "state")


def test_an_oversubscribed_machine_is_named_with_the_fix(monkeypatch, caplog):
    import os

    from textgan.engine.rundir import warn_if_oversubscribed

    from textgan.engine import rundir

    monkeypatch.setattr(os, "getloadavg", lambda: (3.0, 3.0, 3.0))
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    monkeypatch.setattr(rundir, "_running_now", lambda: 3)
    message = warn_if_oversubscribed(2)
    assert message is not None and "threads=1" in message and "load 3.0 on 4 cores" in message
    monkeypatch.setattr(os, "getloadavg", lambda: (4.0, 4.0, 4.0))
    monkeypatch.setattr(rundir, "_running_now", lambda: 4)
    assert "threads=" not in warn_if_oversubscribed(1)  # one thread already: nothing smaller to suggest
    monkeypatch.setattr(rundir, "_running_now", lambda: 3)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 0.2, 0.2))
    assert warn_if_oversubscribed(2) is None
    monkeypatch.setattr(os, "getloadavg", lambda: (3.0, 3.0, 3.0))
    monkeypatch.setattr(rundir, "_running_now", lambda: 0)  # the average still counts a job that ended
    assert warn_if_oversubscribed(2) is None
