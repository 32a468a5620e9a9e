"""Run folders: resolved recipe, environment, metric log, samples, checkpoints, training state and curves."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import platform
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import torch
import yaml

from ..errors import TextganError
from ..io import atomic_open, write_json

log = logging.getLogger(__name__)


def _git_commit() -> str | None:
    try:
        root = Path(__file__).resolve().parents[2]
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def environment(seed: int, device: torch.device) -> dict:
    """Versions, seed and device recorded with every run."""
    import importlib.metadata as md

    versions = {}
    for pkg in ("textgan", "torch", "transformers", "datasets", "sentencepiece", "nltk", "numpy", "safetensors"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    return {
        "seed": seed,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_at_start": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "versions": versions,
        "git_commit": _git_commit(),
        "command": sys.argv,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def warn_if_oversubscribed(threads: int) -> str | None:
    """Warn (and return the message) when other work already keeps the CPU cores busy.

    With one other busy process on 2 cores, 2 torch threads ran 2.3 times slower than alone and
    slower than 1 thread: threads that wait for a busy core stall each other at every operator.
    The thread count is not changed behind the user's back (it changes the numbers' rounding);
    the warning says what to do.
    """
    if not hasattr(os, "getloadavg") or not os.cpu_count():
        return None
    load, cores = os.getloadavg()[0], os.cpu_count()
    running = _running_now()
    if running is not None:  # the 1-minute average lags: a job that just ended still counts in it
        load = min(load, float(running))
    if load + threads <= cores + 0.5:
        return None
    free = max(int(cores - load + 0.5), 1)
    fix = f"--set threads={free} fits the free cores" if free < threads else "expect slower steps (or wait for the cores)"
    message = (f"the machine is oversubscribed (load {load:.1f} on {cores} cores, this run adds {threads} threads): "
               f"training will be slower than on idle cores; {fix}")
    log.warning(message)
    return message


def _running_now() -> int | None:
    """Runnable processes right now, this one excluded (Linux ``/proc/loadavg``), or None."""
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            return max(int(f.read().split()[3].split("/")[0]) - 1, 0)
    except (OSError, ValueError, IndexError):
        return None


class RunDir:
    """One run's folder.

    Layout: ``recipe.yaml`` (resolved), ``run.json`` (environment, seed, timing, status),
    ``metrics.jsonl`` (one JSON object per evaluation), ``samples/``, ``checkpoints/`` (models
    to use: ``best``, ``last``...), ``state/`` (the full training state that ``--resume`` reads),
    ``learning_curve.png``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # The run's identity (``run_id`` in run.json, written by :meth:`create`): every write checks
        # that the folder still holds this run, so a process whose folder was deleted, or deleted and
        # taken by a new run at the same path, writes nothing there (it would otherwise recreate a
        # half folder, or leave its training state where the new run's ``--resume`` would read it).
        self._run_id = self._read_run_id()

    def _read_run_id(self) -> str | None:
        try:
            return json.loads((self.path / "run.json").read_text(encoding="utf-8")).get("run_id")
        except (OSError, ValueError):
            return None

    def owned(self) -> bool:
        """True unless this run's folder was removed or replaced by another run since it was opened."""
        return self._run_id is None or self._read_run_id() == self._run_id

    def check_owned(self) -> None:
        """Raise when :meth:`owned` is false (before any write to the folder)."""
        if not self.owned():
            raise TextganError(f"run folder {str(self.path)!r} was removed or taken by another run while this one was "
                               "writing to it: this run stops and writes nothing more there (use another --out for "
                               "a new run, and wait for a stopped run to exit before deleting its folder)")

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Around a write into the folder: an ``OSError`` raised while the folder was removed or taken
        by another run (a file written into the old folder that is gone) becomes that one-line error.

        A write that takes time (a training state, a checkpoint) also passes :meth:`check_owned` as
        the ``check`` of its final rename, so a folder replaced while it was written is never changed.
        """
        try:
            yield
        except OSError:
            self.check_owned()
            raise

    @staticmethod
    def holds_run(path: str | Path) -> bool:
        """True when ``path`` already holds a run (its recipe, log or state)."""
        path = Path(path)
        return any((path / name).exists() for name in ("run.json", "metrics.jsonl", "state"))

    @classmethod
    def create(cls, path: str | Path, recipe_dict: dict, env: dict) -> "RunDir":
        """Create the folder (it must not hold a previous run) and write recipe and environment."""
        path = Path(path)
        if cls.holds_run(path):
            raise TextganError(f"run folder {str(path)!r} already holds a run: continue it with "
                               f"`textgan run --resume {path}`, or pass another --out")
        path.mkdir(parents=True, exist_ok=True)
        with atomic_open(path / "recipe.yaml") as f:
            yaml.safe_dump(recipe_dict, f, sort_keys=False)
        write_json(path / "run.json", {**env, "run_id": uuid.uuid4().hex, "status": "running"})
        with atomic_open(path / "metrics.jsonl") as f:
            pass
        return cls(path)

    @property
    def checkpoints(self) -> Path:
        """The models' folder; asking for it checks that the run still owns its folder (it is asked before a save)."""
        self.check_owned()
        return self.path / "checkpoints"

    @property
    def state(self) -> Path:
        """The full training state's folder (see :mod:`textgan.engine.state`); checked as :attr:`checkpoints`."""
        self.check_owned()
        return self.path / "state"

    def log_metrics(self, record: dict) -> None:
        """Append one record to ``metrics.jsonl`` (a whole line per write, flushed)."""
        line = json.dumps(record, default=float) + "\n"
        self.check_owned()
        with self.guard(), open(self.path / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()

    def metrics(self) -> list[dict]:
        """Every record logged so far."""
        with open(self.path / "metrics.jsonl", encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    def keep_metrics(self, count: int) -> None:
        """Cut ``metrics.jsonl`` back to its first ``count`` records (those of the state being resumed)."""
        path = self.path / "metrics.jsonl"
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True) if path.exists() else []
        whole = [line for line in lines if line.endswith("\n")]
        if len(whole) < count:
            raise TextganError(f"{str(path)!r} has {len(whole)} records but the saved state expects {count}: "
                               "the log was edited or truncated; start the run again without --resume")
        with atomic_open(path) as f:
            f.writelines(whole[:count])

    def write_samples(self, name: str, texts: list[str]) -> Path:
        """Write generated texts, one per line, to ``samples/<name>.txt``."""
        out = self.path / "samples" / f"{name}.txt"
        self.check_owned()
        with self.guard(), atomic_open(out, check=self.check_owned) as f:
            for t in texts:
                f.write(t.replace("\n", " ") + "\n")
        return out

    def info(self) -> dict:
        """The contents of ``run.json``."""
        return json.loads((self.path / "run.json").read_text(encoding="utf-8"))

    def update_info(self, **fields) -> None:
        """Add or replace fields of ``run.json`` (atomically)."""
        self.check_owned()
        env = self.info()
        env.update(fields)
        with self.guard():
            write_json(self.path / "run.json", env, check=self.check_owned)

    def finish(self, summary: dict) -> None:
        """Record the end of the run and draw the learning curve."""
        self.update_info(**summary, status="finished",
                         finished=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        plot_learning_curve(self.metrics(), self.path / "learning_curve.png")


def plot_learning_curve(records: list[dict], out: Path) -> Path | None:
    """One panel per metric against the training step; nothing is written without records."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in dict.fromkeys(k for r in records for k in r)
            if k not in ("epoch", "step", "phase", "time")
            and all(isinstance(r.get(k), (int, float)) or r.get(k) is None for r in records)]
    if not records or not keys:
        return None
    fig, axes = plt.subplots(len(keys), 1, figsize=(6, 2.2 * len(keys)), squeeze=False, sharex=True)
    for ax, key in zip(axes[:, 0], keys):
        pts = [(r["step"], r[key]) for r in records if key in r and r[key] is not None and math.isfinite(r[key])]
        if pts:
            ax.plot(*zip(*pts), marker="o", ms=3)
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    phases = [(r["step"], r.get("phase")) for r in records]
    for (s0, p0), (s1, p1) in zip(phases, phases[1:]):
        if p0 != p1:
            for ax in axes[:, 0]:
                ax.axvline((s0 + s1) / 2, color="grey", ls="--", lw=0.8)
    axes[-1, 0].set_xlabel("training step (epochs of MLE, then adversarial batches)")
    fig.tight_layout()
    from ..figures import save_figure

    save_figure(fig, out, dpi=100)
    return out
