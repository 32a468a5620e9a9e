"""A run writes only into its own folder: when the folder is deleted, or deleted and taken by a new
run at the same path, while the first process still runs (a user stopped it and started again with
the same --out before it had exited), the first process writes nothing more there.

Before the guard, the stopping process saved its training state and ``status: interrupted`` into the
new run's folder (seen on 2026-12-02: a SIGTERM'd run finishing its step wrote into the folder of the
run started after it), so a ``--resume`` of the new run could have read the old run's state.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.train.engine_cases import ROOT, case_recipe
from textgan.engine.rundir import RunDir
from textgan.errors import TextganError


def test_run_dir_refuses_to_write_into_a_folder_it_no_longer_owns(tmp_path):
    out = tmp_path / "run"
    mine = RunDir.create(out, {"name": "mine"}, {"seed": 0})
    run_id = json.loads((out / "run.json").read_text())["run_id"]
    assert len(run_id) == 32 and mine.owned()
    mine.log_metrics({"step": 0, "loss": 1.0})
    assert RunDir(out).owned()  # reopened (resume): same id on disk

    shutil.rmtree(out)  # deleted under the running process
    with pytest.raises(TextganError, match="removed or taken by another run"):
        mine.log_metrics({"step": 1, "loss": 0.5})
    assert not out.exists()  # not recreated half-empty

    theirs = RunDir.create(out, {"name": "theirs"}, {"seed": 1})  # a new run at the same path
    for write in (lambda: mine.log_metrics({"step": 2}), lambda: mine.update_info(status="interrupted"),
                  lambda: mine.write_samples("s", ["x"]), mine.check_owned, lambda: mine.state,
                  lambda: mine.checkpoints):  # the state and model folders are asked for before every save
        with pytest.raises(TextganError, match="removed or taken by another run"):
            write()
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "running" and info["run_id"] != run_id and theirs.owned() and not mine.owned()
    assert (out / "metrics.jsonl").read_text() == "" and not (out / "samples").exists()


def test_a_stopped_run_does_not_write_into_the_run_that_took_its_folder(tmp_path):
    """The incident end to end: a training subprocess whose folder is replaced by a new run's while it
    trains. At its next write (a metric, a checkpoint, its state, its status) it stops with a one-line
    error and exit status 2, and the new run's folder is left as the new run wrote it."""
    recipe, overrides = case_recipe("seqgan", tmp_path)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "textgan", "run", str(recipe), "--out", str(out), "--quiet"]
    for o in [*overrides, "adversarial.batches=40"]:
        cmd += ["--set", o]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            log = out / "metrics.jsonl"
            if log.is_file() and '"adversarial"' in log.read_text():
                break
            time.sleep(0.01)
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        proc.send_signal(signal.SIGSTOP)  # held still while its folder goes and a new run takes the path
        try:
            out.rename(tmp_path / "gone")
            shutil.rmtree(tmp_path / "gone")
            RunDir.create(out, {"name": "new"}, {"seed": 7})
            foreign = (out / "run.json").read_text()
        finally:
            proc.send_signal(signal.SIGCONT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 2, err[-2000:]
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "removed or taken by another run" in errors[0] and "Traceback" not in err, err
    assert (out / "run.json").read_text() == foreign  # the new run's status and id untouched
    assert not (out / "state").exists() and (out / "metrics.jsonl").read_text() == ""


@pytest.mark.parametrize("when", ["before", "during"])
def test_a_state_being_saved_when_the_folder_is_taken_is_not_written_into_the_new_run(tmp_path, when):
    """The race the end-to-end test once lost (CI, 2026-12-02): the process passed its ownership check,
    was stopped while it wrote its training state, and its folder was taken by a new run before the
    state's final rename. The check now runs again just before that rename."""
    import torch

    from textgan.engine.state import save_state

    out = tmp_path / "run"
    mine = RunDir.create(out, {"name": "mine"}, {"seed": 0})
    folder = mine.state  # asked for (and checked) before the save, as the loop does

    def take_folder() -> None:
        out.rename(tmp_path / "gone")
        shutil.rmtree(tmp_path / "gone")
        RunDir.create(out, {"name": "new"}, {"seed": 7})

    def taken_then_check() -> None:
        take_folder()
        mine.check_owned()

    if when == "before":  # taken between the check and the save: the temporary folder lands in the new run's
        take_folder()
        check = mine.check_owned
    else:  # taken after the state was written into the old folder's temporary folder
        check = taken_then_check
    with pytest.raises(TextganError, match="removed or taken by another run"):
        with mine.guard():
            save_state(folder, {"w": torch.zeros(3)}, {"format": 1}, check=check)
    foreign = json.loads((out / "run.json").read_text())
    assert foreign["seed"] == 7 and sorted(p.name for p in out.iterdir()) == ["metrics.jsonl", "recipe.yaml", "run.json"]
