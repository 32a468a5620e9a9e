"""Running a recipe: build its phases, make the run folder, hand them to the engine, resume.

This is the workflow layer over the engine: it knows the recipe kinds (language model with
optional adversarial training, Adversarial Document Model, the fake-news pipeline after
training) and turns each into engine phases. The order of events makes failures clean:
the recipe is validated, the data loaded and every model built *before* the run folder is
made, so bad input leaves nothing behind; once training has started, a failure or a signal
leaves a resumable folder whose ``run.json`` says so.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

import torch

from .config import Recipe, load_recipe, recipe_from_dict, recipe_to_dict
from .engine.distributed import Dist, setup
from .engine.loop import PHASE_STATES, Engine, Phase, RunInterrupted
from .engine.state import TrainState
from .device import fit_dtypes, resolve_device
from .engine.rundir import RunDir, environment, warn_if_oversubscribed
from .errors import TextganError
from .seeds import RANK_STRIDE

log = logging.getLogger(__name__)

SHAPE_KEYS = ("seed", "data.", "generator.", "discriminator.type", "discriminator.embed_dim",
              "discriminator.filter_sizes", "discriminator.num_filters", "discriminator.highway_gate_bias",
              "discriminator.pretrain_cycles", "discriminator.num_rep", "discriminator.rep_dim", "discriminator.hidden",
              "discriminator.model_type", "discriminator.config", "discriminator.pretrained",
              "adm.vocab_file", "adm.vocab_size", "adm.tokenizer", "adm.hidden_dim",
              "adm.noise_dim", "adm.generator_dim", "adm.validation_fraction", "adm.baselines")
"""Recipe keys a resumed run may not change: they fix the data, the models' shapes or the phases."""


def default_run_dir(recipe: Recipe) -> Path:
    """``runs/<recipe name>/<timestamp>`` under the working directory."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / recipe.name / stamp


@contextlib.contextmanager
def isolated_runtime(recipe: Recipe, device: torch.device) -> Iterator[None]:
    """Seed and thread settings for one run, undone afterwards.

    The run seeds torch's default generator (model initialisation, dropout) inside
    ``torch.random.fork_rng``, and sets the recipe's thread count, so the caller's random state
    and thread count are what they were once the run returns (a notebook keeps its own).
    """
    threads = torch.get_num_threads()
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        if recipe.threads:
            torch.set_num_threads(recipe.threads)
        torch.manual_seed(recipe.seed)
        try:
            yield
        finally:
            torch.set_num_threads(threads)


@dataclass
class Built:
    """A recipe built for training: its phases and state, and how to summarise the run."""

    phases: list[Phase]
    state: TrainState
    bind: Callable[[RunDir], None]  # tells the builders where to write, once the folder exists
    summary: Callable[[list[dict]], dict]  # the logged records -> fields of run.json


def build(recipe: Recipe, device: torch.device, progress: bool, dist: Dist | None = None) -> Built:
    """Load the data and build every model and phase of ``recipe`` (nothing is written)."""
    dist = dist or Dist()
    if recipe.adm is not None:
        if dist.active:
            raise TextganError("the ADM trains in one process: run its recipe without torchrun")
        from .train.energy import build_adm

        adm = build_adm(recipe, device, progress)
        return Built(adm.phases, adm.state, adm.bind, adm.summary)
    from .train.lm import build_language_model

    lm = build_language_model(recipe, device, progress, dist)
    phases = list(lm.phases)

    def bind(run: RunDir) -> None:
        lm.run = run

    if recipe.pipeline is not None:
        phases.append(PipelinePhase(recipe, device))
    return Built(phases, lm.state, bind, lm.summary)


class PipelinePhase(Phase):
    """After training: generate texts, build the detection dataset, report detectability (one step).

    Generation writes resumable shards, so a run killed here and resumed keeps what was generated.
    """

    name = "pipeline"
    steps = 1

    def __init__(self, recipe: Recipe, device: torch.device) -> None:
        super().__init__()
        self.recipe, self.device = recipe, device
        self.result: dict = {}

    def step(self, i: int) -> dict:
        from .detection import run_pipeline

        if not self.ctx.engine.dist.is_main:  # under torchrun, rank 0 generates and reports for the run
            return {}
        self.result = run_pipeline(self.recipe, self.ctx.run.path, self.device.type, self.ctx.engine.progress)
        return {}

    def end(self) -> dict:
        return {"pipeline": self.result}

    def state_dict(self) -> dict:
        return {"result": self.result}

    def load_state_dict(self, state: dict) -> None:
        self.result = state["result"]


class RunResult:
    """A finished run, for a notebook or a script: its folder, numbers and trained model.

    Returned by :func:`start`, :func:`resume` (``api.train``, ``api.resume``) and by
    :func:`load` (``textgan.load(path)``), so a run trained now and one read back later are used
    the same way. The model is read from the run's checkpoint (``best``, else ``last``) when
    first needed.

    Attributes:
        path: the run folder.
        metrics: the final evaluation (``final_metrics`` of ``run.json``).
        wall_time_s: training seconds (across resumes).
    """

    def __init__(self, path: str | Path, metrics: dict | None = None, wall_time_s: float | None = None) -> None:
        self.path = Path(path)
        info = RunDir(self.path).info() if (self.path / "run.json").is_file() else {}
        self.metrics = metrics if metrics is not None else info.get("final_metrics", {})
        self.wall_time_s = wall_time_s if wall_time_s is not None else info.get("wall_time_s")
        self._model = None

    def __repr__(self) -> str:
        return f"RunResult({str(self.path)!r}, metrics={self.metrics})"

    @property
    def history(self) -> list[dict]:
        """Every record of ``metrics.jsonl`` (one per evaluation), as dicts."""
        return RunDir(self.path).metrics()

    @property
    def recipe(self) -> Recipe:
        """The run's resolved recipe."""
        return load_recipe(self.path / "recipe.yaml")

    def model(self, device: str = "cpu"):
        """The trained generator (a :class:`textgan.train.checkpoint.LoadedGenerator`), loaded once."""
        if self._model is None:
            from .train.checkpoint import load_generator

            self._model = load_generator(self.path, resolve_device(device))
        return self._model

    def sample(self, n: int, *, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, seed: int = 0,
               batch_size: int = 1000, device: str = "cpu") -> list[str]:
        """``n`` texts drawn from the trained generator (the same seed gives the same texts)."""
        from .generation import SamplingSettings

        SamplingSettings(temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)  # one-line errors
        loaded = self.model(device)
        gen = loaded.model
        rng = torch.Generator(device=next(gen.parameters()).device).manual_seed(seed)
        with torch.no_grad():
            ids = gen.sample(n, temperature=temperature, top_k=top_k, top_p=top_p, generator=rng,
                             batch_size=batch_size)
        words = [loaded.vocab.decode(row) for row in ids.tolist()]
        if loaded.tokenizer is None:
            return [" ".join(w) for w in words]
        return [loaded.tokenizer.detokenize(w) for w in words]

    def evaluate(self, texts: list[str] | None = None, *, references=None, train=None, n: int = 1000,
                 metrics: tuple[str, ...] = ("bleu", "self_bleu", "distinct", "novelty", "length"),
                 orders: tuple[int, ...] = (2, 3, 4, 5), tokenize: str = "whitespace", **sampling) -> dict:
        """Score ``texts`` (default: ``n`` fresh samples) with the text metrics of ``textgan evaluate``.

        ``references`` and ``train`` are lists of texts or corpus specs (``NAME``, ``NAME:SPLIT``,
        a file); metrics whose input is missing are skipped.
        """
        from .data.texts import load_texts
        from .train.evaluation import evaluate_texts

        texts = self.sample(n, **sampling) if texts is None else list(texts)
        refs = load_texts(references, "test") if isinstance(references, (str, Path)) else references
        train_texts = load_texts(train, "train") if isinstance(train, (str, Path)) else train
        metrics = tuple(m for m in metrics if not (m == "bleu" and refs is None) and not (m == "novelty" and train_texts is None))
        return evaluate_texts(texts, refs, train_texts, metrics=metrics, orders=orders, tokenize=tokenize)


def load(path: str | Path) -> RunResult:
    """The run in ``path`` (a folder made by ``textgan run``), as :func:`start` returns it."""
    path = Path(path)
    if not (path / "run.json").is_file():
        raise TextganError(f"{str(path)!r} is not a run folder (no run.json): pass a folder made by `textgan run`")
    return RunResult(path)


def _execute(recipe: Recipe, device: torch.device, out: Path, make_run, progress: bool, dist: Dist,
             resume: bool = False) -> RunResult:
    built = build(recipe, device, progress, dist)
    if dist.active:  # ranks draw their own dropout masks (their weights are DDP's, equal on every rank)
        torch.manual_seed(recipe.seed + RANK_STRIDE * dist.rank)
    if resume or not dist.is_main:
        run = RunDir(out)
    else:
        run = make_run()
    dist.barrier()  # the folder exists for every rank
    if dist.is_main:
        built.bind(run)
    engine = Engine(built.phases, built.state, run, checkpoint_every=recipe.checkpoint.every, progress=progress,
                    tensorboard=recipe.tensorboard, dist=dist, phase_states=recipe.checkpoint.phase_states)
    if resume:
        engine.resume()
        if dist.is_main:
            run.update_info(status="running")
    try:
        summary = engine.run_phases()
    except RunInterrupted:
        if dist.is_main and run.owned():
            run.update_info(status="interrupted", elapsed_s=round(engine.elapsed(), 1))
        raise
    except BaseException as e:
        try:  # a run whose folder was taken: whatever failed (a write into a vanished folder...), that is the cause
            run.check_owned()
        except TextganError as lost:
            raise lost from e
        if dist.is_main:
            status = "interrupted" if isinstance(e, KeyboardInterrupt) else "failed"
            run.update_info(status=status, error=f"{type(e).__name__}: {e}"[:500],
                            elapsed_s=round(engine.elapsed(), 1))
        raise
    wall = engine.elapsed()
    if not dist.is_main:
        dist.barrier()
        return RunResult(run.path, {}, wall)
    summary = {**built.summary(engine.records), **summary}
    if dist.active:
        summary["processes"] = dist.world
    from .runtime import peak_rss_mb

    peak = peak_rss_mb()
    if peak is not None:
        summary["peak_memory_mb"] = round(peak)  # of this process (rank 0 under torchrun), across the run
    run.finish({"wall_time_s": round(wall, 1), **summary})
    dist.barrier()
    return RunResult(run.path, summary.get("final_metrics", {}), wall)


def _setup(recipe: Recipe) -> tuple[torch.device, Dist]:
    """The run's device and, under torchrun, its place in the process group (device cuda:LOCAL_RANK)."""
    device = resolve_device(recipe.device)
    dist = setup(device.type)
    if dist.active and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
    return device, dist


def _fit_dtypes(recipe: Recipe, device: torch.device, dist: Dist) -> Recipe:
    """The recipe with its ``auto`` precisions chosen for ``device`` (the run folder saves the choice,
    so a resumed run keeps it); warns when an explicit bfloat16 is slower than float32 here."""
    raw, warnings = fit_dtypes(recipe_to_dict(recipe), device)
    if dist.is_main:
        for w in warnings:
            log.warning(w)
    return recipe_from_dict(raw)


def start(recipe: Recipe, out_dir: str | Path | None = None, progress: bool = True) -> RunResult:
    """Train a recipe from nothing into ``out_dir`` (which must not hold a run)."""
    device, dist = _setup(recipe)
    recipe = _fit_dtypes(recipe, device, dist)
    if device.type == "cpu" and dist.is_main:
        warn_if_oversubscribed(recipe.threads or torch.get_num_threads())
    out = Path(dist.broadcast(str(out_dir) if out_dir is not None else str(default_run_dir(recipe))))
    if RunDir.holds_run(out):
        raise TextganError(f"run folder {str(out)!r} already holds a run: continue it with "
                           f"`textgan run --resume {out}`, or pass another --out")
    dist.barrier()  # every rank has looked before rank 0 makes the folder
    with isolated_runtime(recipe, device):
        def make_run() -> RunDir:
            run = RunDir.create(out, recipe_to_dict(recipe), environment(recipe.seed, device))
            log.info("run folder: %s", run.path)
            return run

        return _execute(recipe, device, out, make_run, progress, dist)


def _fixes_the_model(key: str) -> bool:
    """Is the dotted recipe ``key`` one of :data:`SHAPE_KEYS` (a section prefix ending in "." or a key)?"""
    return any(key.startswith(s) if s.endswith(".") else key == s or key.startswith(s + ".") for s in SHAPE_KEYS)


def _overridden(run: Path, overrides: list[str] | None, refusal: str) -> Recipe:
    """The recipe saved in ``run`` with ``overrides`` applied; one line (ending in ``refusal``)
    when an override would change the model, the data or the seed."""
    saved = recipe_to_dict(load_recipe(run / "recipe.yaml"))
    recipe = load_recipe(run / "recipe.yaml", overrides)
    changed = [k for k in _changed_keys(saved, recipe_to_dict(recipe)) if _fixes_the_model(k)]
    if changed:
        raise TextganError(f"--set {', '.join(changed)} would change the model, the data or the seed of {refusal}")
    return recipe


def _changed_keys(old: dict, new: dict, prefix: str = "") -> list[str]:
    keys = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        full = f"{prefix}{k}"
        if isinstance(a, dict) and isinstance(b, dict):
            keys += _changed_keys(a, b, full + ".")
        elif a != b:
            keys.append(full)
    return keys


def resume(run_dir: str | Path, overrides: list[str] | None = None, progress: bool = True) -> RunResult:
    """Continue the run in ``run_dir`` from its last saved state.

    ``overrides`` may change what does not fix the models or the data (evaluation, thread
    count, number of adversarial batches...); a change to a model's shape, the data or the seed
    is refused with one line.
    """
    run = RunDir(run_dir)
    if not (run.path / "recipe.yaml").is_file():
        raise TextganError(f"{str(run.path)!r} is not a run folder (no recipe.yaml): pass the folder a "
                           "`textgan run` made")
    if not run.state.is_dir():
        raise TextganError(f"{str(run.path)!r} has no saved training state: it was stopped before its first "
                           "checkpoint; start it again without --resume")
    info = run.info()
    if info.get("status") == "finished":
        raise TextganError(f"the run in {str(run.path)!r} has finished: nothing to resume (start a new run with --out)")
    recipe = _overridden(run.path, overrides, "a resumed run: drop it, or start a new run with --out")
    device, dist = _setup(recipe)
    recipe = _fit_dtypes(recipe, device, dist)
    dist.barrier()  # every rank has read the recipe before rank 0 rewrites it
    if dist.is_main:
        if overrides:
            import yaml

            from .io import atomic_open

            with atomic_open(run.path / "recipe.yaml") as f:
                yaml.safe_dump(recipe_to_dict(recipe), f, sort_keys=False)
        run.update_info(resumed=[*info.get("resumed", []), {"at": datetime.now().isoformat(timespec="seconds"),
                                                            "overrides": list(overrides or [])}])
    with isolated_runtime(recipe, device):
        return _execute(recipe, device, run.path, None, progress, dist, resume=True)


def forked_recipe(parent: str | Path, at: str, overrides: list[str] | None = None) -> Recipe:
    """The recipe a fork of run ``parent`` at phase ``at`` trains with; one-line errors when the
    folder is no run, did not keep the start of ``at``, or an override would change the model."""
    parent = Path(parent)
    if not (parent / "recipe.yaml").is_file():
        raise TextganError(f"{str(parent)!r} is not a run folder (no recipe.yaml): pass the folder a `textgan run` made")
    states = parent / PHASE_STATES
    kept = sorted(d.name for d in states.iterdir() if (d / "state").is_dir()) if states.is_dir() else []
    if at not in kept:
        where = (f"it kept the starts of: {', '.join(kept)}" if kept else
                 "it kept none (no phase had ended yet, or checkpoint.phase_states was false)")
        raise TextganError(f"run {str(parent)!r} has no saved start of phase {at!r}: {where}; pass --at with one of "
                           "those, or run the parent further")
    return _overridden(parent, overrides, "the forked state: drop it, or start a new run")


def fork(parent: str | Path, at: str, out_dir: str | Path | None = None, overrides: list[str] | None = None,
         progress: bool = True) -> RunResult:
    """Train a new run from the state ``parent``'s phase ``at`` started with.

    An ablation of the adversarial phase (LeakGAN's two cosine forms, SeqGAN's rollout update
    rate) needs the same pretrained models: pretrain once, then fork at ``adversarial`` once per
    setting. ``overrides`` may change what a resume may change (nothing that fixes the models,
    the data or the seed). The new folder holds the parent's metric log up to that point, its
    checkpoints and samples as they were, and ``run.json`` names the parent (``forked_from``);
    with the same settings the fork's log equals the parent's, value for value. The folder is
    built aside and appears whole, or not at all.

    Args:
        parent: a run folder that kept its phases' starting states (``checkpoint.phase_states``,
            on by default); the parent may still be running.
        at: the phase to start from (``phase_states/<at>/`` of the parent).
        out_dir: the new run folder (default: ``runs/<name>/<timestamp>``); must not hold a run.
        overrides: ``--set``-style ``SECTION.KEY=VALUE`` strings.
    """
    import shutil
    import sys

    from .io import make_tmp_dir

    parent = Path(parent)
    recipe = forked_recipe(parent, at, overrides)
    states = parent / PHASE_STATES
    out = Path(out_dir) if out_dir is not None else default_run_dir(recipe)
    if RunDir.holds_run(out) or (out.is_dir() and any(out.iterdir())):
        raise TextganError(f"{str(out)!r} is not empty: pass a new --out for the fork")
    tmp = make_tmp_dir(out)
    try:
        run = RunDir.create(tmp, recipe_to_dict(recipe), environment(recipe.seed, resolve_device(recipe.device)))
        for log_file in parent.rglob("metrics.jsonl"):  # the run's log and any sub-log; resume cuts them
            rel = log_file.relative_to(parent)
            if rel.parts[0] != PHASE_STATES:
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(log_file, tmp / rel)
        for sub in sorted((states / at).iterdir()):
            shutil.copytree(sub, tmp / sub.name)
        run.update_info(forked_from={"run": str(parent.resolve()), "at": at, "overrides": list(overrides or [])},
                        command=sys.argv)
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.is_dir():
            out.rmdir()  # empty, checked above
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("forked %s at %s into %s", parent, at, out)
    return resume(out, progress=progress)


__all__ = ["RunResult", "start", "resume", "fork", "forked_recipe", "load", "build", "default_run_dir", "isolated_runtime"]
