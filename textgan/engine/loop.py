"""The training loop: every phase of every algorithm runs here.

An algorithm is a list of :class:`Phase` objects (MLE pretraining, discriminator pretraining,
adversarial rounds, energy-based training, detector training...), each with a step function.
The :class:`Engine` owns everything around the steps, written once: the step counter and the
position in the phase list, evaluation calls, the metric log (``metrics.jsonl`` and, optionally,
TensorBoard), progress bars, the best-checkpoint trackers, full-state checkpoints and their
resumption, and stopping cleanly on SIGINT/SIGTERM.

Exact resume: the state written at a step boundary holds every registered model, optimizer and
random generator (:class:`textgan.engine.state.TrainState`), the process-wide random streams,
the phase and step, each phase's own counters, the best trackers and the number of metric
records logged. Resuming restores all of it and cuts ``metrics.jsonl`` back to that number, so a
run killed at any moment and resumed logs the same values as one never interrupted (same
device, same thread count).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from ..errors import TextganError
from ..io import make_tmp_dir, replace_dir
from .rundir import RunDir
from .state import TrainState, flatten, load_state, save_state, unflatten

log = logging.getLogger(__name__)


class RunInterrupted(TextganError):
    """SIGINT or SIGTERM stopped a run after its state was saved."""

    def __init__(self, path, signum: int) -> None:
        name = signal.Signals(signum).name if signum else "interrupt"
        super().__init__(f"{name}: the run stopped and its state is saved in {str(path)!r}: continue it with "
                         f"`textgan run --resume {path}`")
        self.path = path


@dataclass
class BestTracker:
    """Keeps the best value of one metric and calls ``on_improve(step, value, record)`` on a new best.

    Args:
        metric: the record key watched.
        mode: "min" or "max".
        on_improve: e.g. saves ``checkpoints/best``.
    """

    metric: str
    mode: str = "min"
    on_improve: Callable[[int, float, dict], None] | None = None
    best: float | None = None
    best_step: int | None = None

    def update(self, step: int, record: dict) -> bool:
        value = record.get(self.metric)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        if self.best is not None and not (value < self.best if self.mode == "min" else value > self.best):
            return False
        self.best, self.best_step = float(value), step
        if self.on_improve is not None:
            self.on_improve(step, float(value), record)
        return True

    def state_dict(self) -> dict:
        return {"best": self.best, "best_step": self.best_step}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_step = state["best"], state["best_step"]


class BestWeights:
    """CPU copies of a module's weights at its best validation score (register it in the run's TrainState to keep it across a resume)."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.weights = self._copy()

    def _copy(self) -> dict:
        return {k: v.detach().cpu().clone() for k, v in self.module.state_dict().items()}

    def keep(self) -> None:
        self.weights = self._copy()

    def state_dict(self) -> dict:
        return {"weights": self.weights}

    def load_state_dict(self, state: dict) -> None:
        self.weights = dict(state["weights"])


class Phase:
    """One stage of an algorithm: ``steps`` calls of :meth:`step`, with evaluations between them.

    Subclasses set ``name`` and ``steps`` and implement :meth:`step`; the rest is optional.
    A phase logs through ``self.ctx`` (set by the engine), never to files of its own, and keeps
    every value that must survive a resume in parts registered in the run's :class:`TrainState`
    or in :meth:`state_dict`.

    Attributes:
        name: the phase's name in progress bars and state ("mle", "adversarial"...).
        steps: how many steps the phase runs.
        unit: what one step is, for the progress bar ("epoch", "batch", "step").
        best: trackers updated with every evaluation record.
    """

    name: str = "phase"
    steps: int = 0
    unit: str = "step"

    def __init__(self) -> None:
        self.best: list[BestTracker] = []
        self.ctx: Context | None = None

    def begin(self) -> None:
        """Called once when the phase starts (not again when a run resumes inside it)."""

    def step(self, i: int) -> dict:
        """Run step ``i`` (0-based); return its statistics (shown on the progress bar)."""
        raise NotImplementedError

    def should_evaluate(self, i: int) -> bool:
        """Evaluate after step ``i``? (default: never)."""
        return False

    def evaluate(self, i: int, stats: dict) -> dict | None:
        """Evaluate after step ``i``; return the record to log (the engine adds ``time``), or None."""
        return None

    def end(self) -> dict:
        """Called once after the last step (and after a resume that lands at the end); returns summary fields."""
        return {}

    def state_dict(self) -> dict:
        """The phase's own counters (JSON-able or tensors); models and optimizers are registered parts."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


@dataclass
class Context:
    """What a phase may use of the engine: the log, messages, the run's clock."""

    engine: "Engine"

    def log(self, record: dict, to: str = "") -> dict:
        return self.engine.log(record, to)

    def say(self, text: str) -> None:
        self.engine.say(text)

    @property
    def run(self) -> RunDir | None:
        return self.engine.run

    def elapsed(self) -> float:
        return self.engine.elapsed()


@dataclass
class Position:
    """Where the engine is: phase index, next step of that phase, and whether the phase has begun."""

    phase: int = 0
    step: int = 0
    begun: bool = False
    ended: bool = False


class Engine:
    """Runs phases in order with logging, evaluation, best tracking, checkpoints and resume.

    Args:
        phases: the algorithm's phases, in order.
        state: the run's registered models, optimizers and random generators.
        run: the run folder (None: log in memory only, no checkpoint; e.g. a detector trained for
            a report).
        checkpoint_every: save the full state every this many steps of a phase; None: after
            every evaluation. The state is always saved at the end of each phase and when a
            signal stops the run.
        progress: show progress bars.
        tensorboard: also write every numeric record value to TensorBoard under ``run/tensorboard``.
        handle_signals: on SIGINT/SIGTERM, finish the current step, save the state and stop with
            :class:`RunInterrupted` (only from the main thread; a second signal stops at once).
        phase_states: when a phase ends, keep the state with which the next one starts in
            ``run/phase_states/<next phase>/`` (its training state, checkpoints and samples), so
            a run can be forked there (:func:`textgan.runs.fork`). The state and checkpoint files
            are hard links where the file system allows (they are only ever replaced, never
            rewritten in place), so a snapshot costs no disk space.
    """

    def __init__(self, phases: list[Phase], state: TrainState | None = None, run: RunDir | None = None, *,
                 checkpoint_every: int | None = None, progress: bool = False, tensorboard: bool = False,
                 handle_signals: bool = True, dist=None, phase_states: bool = False) -> None:
        from .distributed import Dist

        names = [p.name for p in phases]
        if len(set(names)) != len(names):
            raise ValueError(f"phase names must be unique, got {names}")
        self.phases, self.state, self.run = phases, state or TrainState(), run
        self.dist = dist or Dist()
        self.checkpoint_every, self.progress = checkpoint_every, progress and self.dist.is_main
        self.handle_signals = handle_signals
        self.phase_states = phase_states
        self.position = Position()
        self.records: list[dict] = []
        self.n_logged: dict[str, int] = {}  # log (relative folder, "" for the run's own) -> records written
        self._elapsed_before = 0.0
        self._started = time.perf_counter()
        self._stop_signal = 0
        self._writer = None
        if tensorboard and run is not None and self.dist.is_main:
            self._writer = _tensorboard_writer(run)
        for p in phases:
            p.ctx = Context(self)

    # ------------------------------------------------------------------ services for phases
    def elapsed(self) -> float:
        """Training seconds so far, across resumes."""
        return self._elapsed_before + time.perf_counter() - self._started

    def _log_folder(self, to: str) -> RunDir | None:
        if self.run is None or not self.dist.is_main:  # rank 0 alone writes the run's logs
            return None
        return self.run if not to else RunDir(self.run.path / to)

    def log(self, record: dict, to: str = "") -> dict:
        """Add ``time`` and append the record to a metric log (and TensorBoard).

        Args:
            record: the values.
            to: "" for the run's ``metrics.jsonl``, or a folder inside the run (e.g.
                ``baselines/dae``) whose ``metrics.jsonl`` gets the record instead.
        """
        record = {**record, "time": round(self.elapsed(), 2)}
        if not to:
            self.records.append(record)
        folder = self._log_folder(to)
        if folder is not None:
            folder.log_metrics(record)
        self.n_logged[to] = self.n_logged.get(to, 0) + 1
        if self._writer is not None:
            step = int(record.get("step", self.n_logged[to]))
            for k, v in record.items():
                if k not in ("step", "epoch", "batch", "time") and isinstance(v, (int, float)) \
                        and not isinstance(v, bool) and math.isfinite(v):
                    tag = to or record.get("phase") or record.get("model") or "run"
                    self._writer.add_scalar(f"{tag}/{k}", v, step)
            self._writer.flush()
        return record

    def say(self, text: str) -> None:
        if self.progress:
            from tqdm.auto import tqdm

            tqdm.write(text)
        else:
            log.info(text)

    # ------------------------------------------------------------------ state
    def _engine_state(self) -> dict:
        return {
            "position": vars(self.position).copy(),
            "phases": [p.name for p in self.phases],
            "phase_state": {p.name: p.state_dict() for p in self.phases},
            "best": {p.name: [t.state_dict() for t in p.best] for p in self.phases},
            "n_logged": self.n_logged,
            "elapsed": self.elapsed(),
        }

    def state_folder(self):
        """Where this process saves its training state: ``state/`` (rank 0), ``state.rank<R>/`` (other ranks)."""
        return self.run.state if self.dist.is_main else self.run.path / f"state.rank{self.dist.rank}"

    def checkpoint(self) -> None:
        """Save the full state now (atomically; under torchrun every rank saves its own, between barriers)."""
        if self.run is None:
            return
        tensors, meta = self.state.capture()
        meta["engine"] = flatten("__engine__", self._engine_state(), tensors)
        self.dist.barrier()
        self.run.check_owned()
        with self.run.guard():
            save_state(self.state_folder(), tensors, meta, check=self.run.check_owned)
        self.dist.barrier()

    def snapshot(self, name: str) -> None:
        """Keep the saved state (and the checkpoints and samples) in ``phase_states/<name>/``."""
        if self.run is None:
            return
        target = self.run.path / PHASE_STATES / name
        self.dist.barrier()
        # every rank keeps its own state folder; rank 0 also the run's checkpoints and samples
        parts = [self.state_folder()]
        if self.dist.is_main:
            parts += [self.run.path / sub for sub in SNAPSHOT_FOLDERS if (self.run.path / sub).is_dir()]
        for source in parts:
            self.run.check_owned()
            with self.run.guard():
                tmp = make_tmp_dir(target / source.name)
                try:
                    shutil.copytree(source, tmp, dirs_exist_ok=True,
                                    copy_function=_link_or_copy if source.name != "samples" else shutil.copy2)
                    replace_dir(tmp, target / source.name, check=self.run.check_owned)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
        self.dist.barrier()

    def resume(self) -> None:
        """Restore the state saved in the run folder and cut the metric log back to it."""
        assert self.run is not None
        tensors, meta = load_state(self.state_folder())
        engine = unflatten(meta["engine"], tensors)
        names = [p.name for p in self.phases]
        if engine["phases"] != names:
            raise TextganError(f"the saved run has phases {engine['phases']}, this recipe {names}: resume with the "
                               "recipe the run started with (a --set may not add or remove a phase)")
        self.state.restore(tensors, meta)
        for p in self.phases:
            p.load_state_dict(engine["phase_state"][p.name])
            for tracker, saved in zip(p.best, engine["best"][p.name]):
                tracker.load_state_dict(saved)
        self.position = Position(**engine["position"])
        self.n_logged = engine["n_logged"]
        self._elapsed_before = engine["elapsed"]
        self._started = time.perf_counter()
        if self.dist.is_main:
            for to, count in self.n_logged.items():
                self._log_folder(to).keep_metrics(count)
        self.records = self.run.metrics() if "" in self.n_logged and self.dist.is_main else []
        if self._writer is not None:  # drop the events logged after the saved state
            from torch.utils.tensorboard import SummaryWriter

            self._writer.close()
            last = max((int(r["step"]) for r in self.records if "step" in r), default=-1)
            self._writer = SummaryWriter(str(self.run.path / "tensorboard"), purge_step=last + 1)

    # ------------------------------------------------------------------ the loop
    def run_phases(self) -> dict:
        """Run (or continue) every phase; returns the phases' merged summaries."""
        previous = self._install_signals()
        try:
            if self.position == Position() and self.run is not None and not self.state_folder().exists():
                self.checkpoint()  # from the first step on, the run folder can be resumed
            return self._loop()
        finally:
            self._restore_signals(previous)
            if self._writer is not None:
                self._writer.close()

    def _loop(self) -> dict:
        from tqdm.auto import tqdm

        summary: dict = {}
        pos = self.position
        for index, phase in enumerate(self.phases):
            if index < pos.phase:
                continue
            if index > pos.phase:
                self.position = pos = Position(phase=index)
            if not pos.begun:
                phase.begin()
                pos.begun = True
            bar = tqdm(total=phase.steps, initial=pos.step, desc=phase.name, unit=phase.unit,
                       disable=not self.progress or phase.steps == 0, dynamic_ncols=True, leave=False)
            try:
                while pos.step < phase.steps:
                    i = pos.step
                    stats = phase.step(i)
                    pos.step = i + 1
                    bar.update(1)
                    shown = {k: f"{v:.4f}" for k, v in stats.items() if isinstance(v, float)}
                    if shown:
                        bar.set_postfix(shown, refresh=False)
                    evaluated = False
                    if phase.should_evaluate(i):
                        record = phase.evaluate(i, stats)
                        evaluated = True
                        if record is not None:
                            step = int(record.get("step", i))
                            for tracker in phase.best:
                                tracker.update(step, record)
                    due = (evaluated if self.checkpoint_every is None
                           else pos.step % self.checkpoint_every == 0)
                    # Every rank stops at the same step, or none does. The handler's flag is only read
                    # here: a signal landing while the collective runs is seen at the next step.
                    stop = self.dist.max(self._stop_signal) if self.dist.active else self._stop_signal
                    if stop:
                        self.checkpoint()
                        raise RunInterrupted(self.run.path if self.run else "(no run folder)", stop)
                    if due and pos.step < phase.steps:
                        self.checkpoint()
            finally:
                bar.close()
            summary.update(phase.end() or {})
            pos.ended = True
            self.position = pos = Position(phase=index + 1)
            self.checkpoint()
            if self.phase_states and index + 1 < len(self.phases):
                self.snapshot(self.phases[index + 1].name)
            stop = self.dist.max(self._stop_signal) if self.dist.active else self._stop_signal
            if stop:
                raise RunInterrupted(self.run.path if self.run else "(no run folder)", stop)
        return summary

    # ------------------------------------------------------------------ signals
    def _install_signals(self) -> dict:
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}

        def handler(signum, frame):
            if self._stop_signal:  # a second signal: stop now, the last saved state stays
                raise KeyboardInterrupt
            self._stop_signal = signum
            self.say(f"{signal.Signals(signum).name}: saving the training state after this step "
                     "(send it again to stop at once)")

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                previous[sig] = signal.signal(sig, handler)
            except (ValueError, OSError):
                pass
        return previous

    @staticmethod
    def _restore_signals(previous: dict) -> None:
        for sig, h in previous.items():
            signal.signal(sig, h)


PHASE_STATES = "phase_states"
"""The run-folder subfolder that holds the state at the start of each phase after the first."""
SNAPSHOT_FOLDERS = ("checkpoints", "samples")
"""Run-folder subfolders kept with a phase's starting state (besides the training state)."""


def _link_or_copy(source: str, dest: str) -> None:
    try:
        os.link(source, dest)
    except OSError:  # no hard links here (another file system, Windows shares...): a copy
        shutil.copy2(source, dest)


def _tensorboard_writer(run: RunDir) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise TextganError("tensorboard: true needs the tensorboard package: pip install 'textgan[tensorboard]'") from None
    return SummaryWriter(str(run.path / "tensorboard"))
