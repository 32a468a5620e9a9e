"""The Python API behind every CLI command: train, generate, list recipes, corpora."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable

import torch

from .config import Recipe, load_recipe, recipe_to_dict
from .errors import TextganError
from .io import atomic_open

log = logging.getLogger(__name__)

RECIPES_DIR = Path(__file__).resolve().parent.parent / "recipes"


@dataclass
class RunResult:
    """What :func:`train` returns: the run folder and the last evaluation."""

    path: Path
    metrics: dict
    wall_time_s: float


def default_run_dir(recipe: Recipe) -> Path:
    """``runs/<recipe name>/<timestamp>`` under the working directory."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / recipe.name / stamp


def train(recipe: Recipe | str | Path, out_dir: str | Path | None = None, overrides: list[str] | None = None,
          progress: bool = True) -> RunResult:
    """Run a recipe end to end: prepare data, train, evaluate, save checkpoints and curves.

    Args:
        recipe: a Recipe or a path to a YAML recipe.
        out_dir: the run folder (default: ``runs/<name>/<timestamp>``).
        overrides: ``key=value`` strings (only with a path).
        progress: show progress bars.

    Returns:
        The run folder, the final metrics and the wall time.
    """
    from .train.lm import run_language_model
    from .train.loop import RunDir, Timer, environment, resolve_device

    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, overrides)
    timer = Timer()
    if recipe.threads:
        torch.set_num_threads(recipe.threads)
    device = resolve_device(recipe.device)
    torch.manual_seed(recipe.seed)
    run = RunDir.create(out_dir or default_run_dir(recipe), recipe_to_dict(recipe), environment(recipe.seed, device))
    log.info("run folder: %s", run.path)
    summary = run_language_model(recipe, run, device, timer, progress)
    wall = timer()
    run.finish({"wall_time_s": round(wall, 1), **summary})
    return RunResult(run.path, summary.get("final_metrics", {}), wall)


def generate(checkpoint: str | Path, num: int, out: str | Path, *, temperature: float = 1.0, top_k: int = 0,
             top_p: float = 1.0, seed: int = 0, batch_size: int = 1000, device: str = "auto") -> Path:
    """Sample ``num`` texts from a run or checkpoint and write JSONL records atomically.

    Each record: ``{"id", "text", "label": "generated", "model", "checkpoint_sha256", "sampling"}``.
    """
    from .train.checkpoint import load_generator
    from .train.loop import resolve_device

    if num <= 0:
        raise TextganError(f"--num must be positive, got {num}")
    loaded = load_generator(checkpoint, resolve_device(device))
    rng = torch.Generator(device=next(loaded.model.parameters()).device).manual_seed(seed)
    ids = loaded.model.sample(num, temperature=temperature, top_k=top_k, top_p=top_p, generator=rng, batch_size=batch_size)
    rows = ids.tolist()
    sampling = {"temperature": temperature, "top_k": top_k, "top_p": top_p, "seed": seed,
                "max_len": loaded.model.max_len}
    recipe_name = loaded.config.get("extra", {}).get("recipe")
    with atomic_open(out) as f:
        for i, row in enumerate(rows):
            tokens = loaded.vocab.decode(row)
            text = " ".join(tokens) if loaded.tokenizer is None else loaded.tokenizer.detokenize(tokens)
            rec = {"id": i, "text": text, "label": "generated", "model": loaded.kind, "recipe": recipe_name,
                   "checkpoint_sha256": loaded.sha256, "sampling": sampling}
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return Path(out)


def list_recipes(root: Path = RECIPES_DIR) -> list[tuple[str, str]]:
    """Every shipped recipe as (path relative to recipes/, first line of its header comment)."""
    out = []
    for path in sorted(root.rglob("*.yaml")):
        summary = ""
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("#"):
                summary = line.lstrip("# ").strip()
                if summary:
                    break
            elif line.strip():
                break
        out.append((str(path.relative_to(root)), summary))
    return out


def find_recipe(name: str | Path) -> Path:
    """A recipe path as given, or a shipped recipe by its name (``mle/synthetic_oracle``)."""
    path = Path(name)
    if path.is_file():
        return path
    for cand in (RECIPES_DIR / name, RECIPES_DIR / f"{name}.yaml"):
        if cand.is_file():
            return cand
    import difflib

    names = [p for p, _ in list_recipes()]
    close = difflib.get_close_matches(str(name), names, n=1)
    hint = f" (did you mean recipes/{close[0]}?)" if close else ""
    raise TextganError(f"recipe {str(name)!r} not found{hint}: pass a YAML path or a name from `textgan recipes`")
