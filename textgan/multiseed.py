"""Several seeds of one recipe, one command: ``textgan run RECIPE --seeds 0,1,2``.

GAN results vary from seed to seed by more than the differences papers report, so a headline
number is a mean +- standard deviation over seeds. The seeds run in their own folders under one
parent (``<out>/seed<N>/``, each a complete run folder), one after another on a CPU or side by
side as separate processes (``parallel``; the default on a GPU, where each run is bound by
kernel launches and one card holds several). Then the parent gets:

* ``summary.json``: for every metric, mean, standard deviation (sample, n - 1), min and max of
  the final value and of the best value over the run, and the same per evaluation step;
* ``at_best``: where the recipe names ``adversarial.best_metric`` (the evaluation its ``best``
  checkpoint keeps), every metric at that evaluation, so NLL-test stands beside the best
  NLL-oracle it came with (the ``best`` column takes each metric's own best, at different steps);
* ``summary.md``: the final, best and at-the-best tables;
* ``learning_curve.png``: the mean of every metric against the step, with a +- std band.

``seeds.json`` in the parent records the recipe and the seeds; ``textgan run --resume PARENT``
finishes every seed that has not finished (resuming those that had started).

``textgan run --fork PARENT --at PHASE --out NEW --set ...`` on such a folder forks every seed
(:func:`fork_seeds`): an ablation of a later phase over the same seeds, sharing their pretraining,
with its own summary. NEW's ``seeds.json`` names the parent, so ``--resume NEW`` forks the seeds
that had not started.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

from .config import Recipe, recipe_from_dict, recipe_to_dict
from .errors import TextganError
from .io import atomic_open, write_json

MANIFEST = "seeds.json"
BEST_MODES = (("nll", "min"), ("bleu", "max"), ("precision@", "max"), ("val_score", "max"))
"""Metrics whose best value over a run is reported (prefix -> which is better); others: final value only."""


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` or ``"0-4"`` -> the seeds; one-line errors for anything else."""
    seeds: list[int] = []
    try:
        for part in str(text).split(","):
            part = part.strip()
            if "-" in part[1:]:
                lo, hi = part.split("-", 1)
                seeds += list(range(int(lo), int(hi) + 1))
            elif part:
                seeds.append(int(part))
    except ValueError:
        raise TextganError(f"--seeds expects integers like 0,1,2 or 0-4, got {text!r}") from None
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise TextganError(f"--seeds needs at least two distinct seeds, got {text!r}: e.g. --seeds 0,1,2")
    return seeds


def seed_dir(parent: Path, seed: int) -> Path:
    return parent / f"seed{seed}"


def run_seeds(recipe: Recipe, seeds: list[int], parent: str | Path, *, parallel: int | None = None,
              progress: bool = True, resume: bool = False) -> dict:
    """Train ``recipe`` once per seed under ``parent`` and write the summary; returns it."""
    from .device import resolve_device
    from .engine.rundir import RunDir
    from .runs import resume as resume_run
    from .runs import start

    parent = Path(parent)
    if not resume:
        if (parent / MANIFEST).exists() or RunDir.holds_run(parent):
            raise TextganError(f"{str(parent)!r} already holds a run: continue it with `textgan run --resume {parent}`, "
                               "or pass another --out")
        resolve_device(recipe.device)  # a bad device fails before anything is written
        parent.mkdir(parents=True, exist_ok=True)
        write_json(parent / MANIFEST, {"seeds": seeds, "recipe": recipe_to_dict(recipe)})
    if parallel is None:
        parallel = len(seeds) if resolve_device(recipe.device).type == "cuda" else 1
    origin = json.loads((parent / MANIFEST).read_text(encoding="utf-8")).get("forked_from")
    todo = []
    for seed in seeds:
        folder = seed_dir(parent, seed)
        info = folder / "run.json"
        if info.is_file() and json.loads(info.read_text(encoding="utf-8")).get("status") == "finished":
            continue
        todo.append(seed)
    if parallel > 1 and len(todo) > 1:
        _run_side_by_side(parent, todo, parallel, origin)
    else:
        for seed in todo:
            folder = seed_dir(parent, seed)
            if (folder / "state").is_dir():
                resume_run(folder, progress=progress)
            elif origin:
                from .runs import fork

                fork(seed_dir(Path(origin["run"]), seed), origin["at"], folder, origin["overrides"], progress)
            else:
                start(recipe_from_dict({**recipe_to_dict(recipe), "seed": seed}), folder, progress)
    return write_summary(parent, seeds)


def fork_seeds(parent: str | Path, at: str, out: str | Path, overrides: list[str] | None = None, *,
               parallel: int | None = None, progress: bool = True) -> dict:
    """Fork every seed of the ``--seeds`` folder ``parent`` at phase ``at`` into ``out/seed<N>/``
    (see :func:`textgan.runs.fork`) and write the summary; returns it. Every seed is checked
    (kept the start of ``at``, no override that changes the model) before anything is written."""
    from .runs import forked_recipe

    parent, out = Path(parent), Path(out)
    manifest = json.loads((parent / MANIFEST).read_text(encoding="utf-8"))
    seeds = manifest["seeds"]
    recipes = [forked_recipe(seed_dir(parent, seed), at, overrides) for seed in seeds]
    if (out / MANIFEST).exists() or (out.is_dir() and any(out.iterdir())):
        raise TextganError(f"{str(out)!r} is not empty: pass a new --out for the fork")
    out.mkdir(parents=True, exist_ok=True)
    recipe = recipe_from_dict({**recipe_to_dict(recipes[0]), "seed": manifest["recipe"].get("seed", 0)})
    write_json(out / MANIFEST, {"seeds": seeds, "recipe": recipe_to_dict(recipe),
                                "forked_from": {"run": str(parent.resolve()), "at": at, "overrides": list(overrides or [])}})
    return run_seeds(recipe, seeds, out, parallel=parallel, progress=progress, resume=True)


def _run_side_by_side(parent: Path, seeds: list[int], parallel: int, origin: dict | None = None) -> None:
    """Each seed as its own ``python -m textgan run`` process, ``parallel`` at a time (a fork of
    ``origin``'s seed where the manifest names one)."""
    recipe_file = parent / "recipe.yaml"
    manifest = json.loads((parent / MANIFEST).read_text(encoding="utf-8"))
    with atomic_open(recipe_file) as f:
        yaml.safe_dump(manifest["recipe"], f, sort_keys=False)
    pending, running, failed = list(seeds), [], []
    while pending or running:
        while pending and len(running) < parallel:
            seed = pending.pop(0)
            folder = seed_dir(parent, seed)
            cmd = [sys.executable, "-m", "textgan", "run", "--quiet"]
            if (folder / "state").is_dir():
                cmd += ["--resume", str(folder)]
            elif origin:
                cmd += ["--fork", str(seed_dir(Path(origin["run"]), seed)), "--at", origin["at"], "--out", str(folder)]
                cmd += [arg for o in origin["overrides"] for arg in ("--set", o)]
            else:
                cmd += [str(recipe_file), "--out", str(folder), "--set", f"seed={seed}"]
            log = open(parent / f"seed{seed}.log", "a", encoding="utf-8")
            running.append((seed, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log))
        for item in list(running):
            seed, proc, log = item
            if proc.poll() is not None:
                log.close()
                running.remove(item)
                if proc.returncode != 0:
                    failed.append(seed)
        if running:
            time.sleep(0.5)
    if failed:
        raise TextganError(f"seed(s) {failed} failed: see {parent}/seed<N>.log; fix the cause and continue with "
                           f"`textgan run --resume {parent}`")


def _best_mode(metric: str) -> str | None:
    return next((mode for prefix, mode in BEST_MODES if metric.startswith(prefix)), None)


def _stats(values: list[float]) -> dict:
    values = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not values:
        return {"n": 0}
    return {"n": len(values), "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0, "min": min(values), "max": max(values)}


EVALUATION_TABLES = ("retrieval", "probe", "clustering", "validation_retrieval")
"""Tables a run's ``run.json`` may carry (an ADM run: evaluation -> method -> column -> value)."""


def run_tables(info: dict) -> dict[str, dict]:
    """The evaluation tables of one run's ``run.json`` (evaluation -> method -> column -> value): an ADM
    run's :data:`EVALUATION_TABLES`, and a pipeline run's detectors (``detection``: detector -> test metric)."""
    tables = {e: info[e] for e in EVALUATION_TABLES if info.get(e)}
    detectors = (info.get("pipeline") or {}).get("detectors")
    if detectors:
        tables["detection"] = detectors
    return tables


def best_record(folder: Path, records: list[dict]) -> tuple[str | None, dict | None]:
    """The evaluation a run's ``best`` checkpoint keeps: ``(metric, record)`` for the recipe's
    ``adversarial.best_metric`` over the adversarial phase (the first of equal values, as the
    tracker keeps), or ``(None, None)`` when the recipe names none or no evaluation carries it."""
    recipe_file = folder / "recipe.yaml"
    recipe = yaml.safe_load(recipe_file.read_text(encoding="utf-8")) if recipe_file.is_file() else None
    metric = ((recipe or {}).get("adversarial") or {}).get("best_metric")
    mode = _best_mode(metric) if metric else None
    candidates = [r for r in records if r.get("phase") == "adversarial" and isinstance(r.get(metric), (int, float))
                  and math.isfinite(r[metric])] if mode else []
    if not candidates:
        return None, None
    pick = min if mode == "min" else max
    return metric, pick(candidates, key=lambda r: r[metric])


def summarize(runs: dict[int, Path]) -> dict:
    """Statistics over seeds of the final metrics, the best metrics, every metric at the evaluation
    of the best checkpoint (``at_best``), every evaluation step and the evaluation tables
    (``tables``: evaluation -> method -> column -> statistics, :func:`run_tables`); a pipeline
    run's shortcut check by seed (``shortcut_checks``)."""
    finals, bests, steps, prints, tables, at_best, at_metric, checks = {}, {}, {}, {}, {}, {}, set(), {}
    for seed, folder in runs.items():
        info = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        shortcuts = (info.get("pipeline") or {}).get("shortcuts")
        if shortcuts is not None:
            checks[seed] = {"passed": shortcuts.get("passed"), "shortcuts": shortcuts.get("shortcuts"),
                            "content_cues": shortcuts.get("content_cues") or []}
        for evaluation, methods in run_tables(info).items():
            for method, row in methods.items():
                for column, v in row.items():
                    if isinstance(v, (int, float)) and column != "k":
                        tables.setdefault(evaluation, {}).setdefault(method, {}).setdefault(column, []).append(v)
        for k, v in info.get("final_metrics", {}).items():
            if isinstance(v, (int, float)):
                finals.setdefault(k, []).append(v)
        records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
                   if line.strip()]
        run_best: dict[str, float] = {}
        for r in records:
            key = f"{r.get('phase', r.get('model', 'run'))}:{r.get('step')}"
            if "fingerprint" in r:
                prints.setdefault(str(seed), [])
                if r["fingerprint"] not in prints[str(seed)]:
                    prints[str(seed)].append(r["fingerprint"])
            for k, v in r.items():
                if k in ("phase", "epoch", "batch", "step", "time", "model") or not isinstance(v, (int, float)):
                    continue
                steps.setdefault(key, {}).setdefault(k, []).append(v)
                mode = _best_mode(k)
                if mode and math.isfinite(v):
                    old = run_best.get(k)
                    run_best[k] = v if old is None else (min(old, v) if mode == "min" else max(old, v))
        for k, v in run_best.items():
            bests.setdefault(k, []).append(v)
        metric, record = best_record(folder, records)
        if record is not None:
            at_metric.add(metric)
            for k, v in record.items():
                if k not in ("phase", "epoch", "batch", "time", "model") and isinstance(v, (int, float)):
                    at_best.setdefault(k, []).append(v)
    return {"seeds": sorted(runs), "fingerprints": prints, "final": {k: _stats(v) for k, v in finals.items()},
            "best": {k: _stats(v) for k, v in bests.items()},
            "at_best": ({"metric": at_metric.pop(), "values": {k: _stats(v) for k, v in at_best.items()}}
                        if len(at_metric) == 1 else None),
            "tables": {e: {m: {c: _stats(v) for c, v in row.items()} for m, row in methods.items()}
                       for e, methods in tables.items()},
            "shortcut_checks": checks,
            "per_step": {key: {k: _stats(v) for k, v in metrics.items()} for key, metrics in steps.items()}}


def fingerprint_note(prints: dict[str, list[str]]) -> str:
    """One line on the seeds' evaluation protocols: the shared fingerprint, or a note that they differ."""
    distinct = sorted({fp for fps in prints.values() for fp in fps})
    if not distinct:
        return "Protocol fingerprint: none recorded (runs made before fingerprints were added)."
    if len(distinct) == 1 and all(fps == distinct for fps in prints.values()):
        return f"Protocol fingerprint: {distinct[0]}, the same for every seed and evaluation."
    per_seed = "; ".join(f"seed {s}: {', '.join(fps)}" for s, fps in prints.items())
    return (f"**Note: the evaluations were not all made with one protocol** ({per_seed}): numbers in one column "
            "above mix protocols; compare `eval_protocol` in each seed's run.json before reading them together.")


def _fmt(s: dict) -> str:
    if not s.get("n"):
        return "-"
    return f"{s['mean']:.4f} +- {s['std']:.4f} (min {s['min']:.4f}, max {s['max']:.4f}, n {s['n']})"


def write_summary(parent: str | Path, seeds: list[int]) -> dict:
    """Write ``summary.json``, ``summary.md`` and ``learning_curve.png`` for the seeds under ``parent``."""
    parent = Path(parent)
    runs = {s: seed_dir(parent, s) for s in seeds}
    missing = [s for s, f in runs.items() if not (f / "run.json").is_file()]
    if missing:
        raise TextganError(f"seed(s) {missing} have no run in {str(parent)!r}: continue with `textgan run --resume {parent}`")
    summary = summarize(runs)
    write_json(parent / "summary.json", summary)
    lines = [f"# {parent.name}: {len(seeds)} seeds ({', '.join(map(str, seeds))})", "",
             "Mean +- standard deviation (n - 1) over seeds; each seed's run folder is seed<N>/.", "",
             "| metric | final | best over the run |", "|---|---|---|"]
    for k in sorted(set(summary["final"]) | set(summary["best"])):
        lines.append(f"| {k} | {_fmt(summary['final'].get(k, {}))} | {_fmt(summary['best'].get(k, {}))} |")
    if summary["at_best"]:
        metric, values = summary["at_best"]["metric"], summary["at_best"]["values"]
        n = values.get(metric, {}).get("n", 0)
        lines += ["", f"At the evaluation with the best {metric} of each seed (the `best` checkpoint; "
                      f"{n} of {len(seeds)} seeds):", "", "| metric | at the best |", "|---|---|"]
        lines += [f"| {k} | {_fmt(values[k])} |" for k in sorted(values)]
    lines += ["", fingerprint_note(summary["fingerprints"])]
    if summary["shortcut_checks"]:
        lines += ["", "Shortcut check of each seed's detection dataset (`textgan corpus shortcuts`): " + "; ".join(
            f"seed {s}: " + ("passed" if c["passed"] else f"FAILED ({', '.join(map(str, c['shortcuts'] or []))})")
            + (f", content cues {', '.join(c['content_cues'])}" if c.get("content_cues") else "")
            for s, c in summary["shortcut_checks"].items()) + "."]
    lines += _evaluation_tables(summary, parent)
    with atomic_open(parent / "summary.md") as f:
        f.write("\n".join(lines) + "\n")
    plot_bands(summary, parent / "learning_curve.png")
    return summary


def _evaluation_tables(summary: dict, parent: Path) -> list[str]:
    """Markdown lines for each evaluation table (mean +- std per method and column) and its plot with
    bands or whiskers of one std: ``precision_recall.png``, ``probe.png``, ``clustering.png``."""
    from .figures import plot_precision_recall
    from .metrics.representation import plot_scores

    lines: list[str] = []
    n = len(summary["seeds"])
    for evaluation, methods in summary.get("tables", {}).items():
        columns = list(dict.fromkeys(c for row in methods.values() for c in row))
        lines += ["", f"## {evaluation}: mean +- std over {n} seeds", "",
                  "| method | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
        for method, row in methods.items():
            cells = [f"{row[c]['mean']:.4f} +- {row[c]['std']:.4f}" if row.get(c, {}).get("n") else "-" for c in columns]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        means = {m: {c: s["mean"] for c, s in row.items() if s.get("n")} for m, row in methods.items()}
        stds = {m: {c: s["std"] for c, s in row.items() if s.get("n")} for m, row in methods.items()}
        title = f"{parent.name}: {evaluation}, mean +- std over {n} seeds"
        if evaluation in ("retrieval", "validation_retrieval"):
            name = "precision_recall.png" if evaluation == "retrieval" else "validation_precision_recall.png"
            plot_precision_recall(means, parent / name, title, errors=stds)
        else:
            shown = [c for c in ("accuracy", "auroc", "nmi", "v_measure") if c in columns]
            plot_scores(means, shown, parent / f"{evaluation}.png", title, "score", errors=stds)
    return lines


def plot_bands(summary: dict, out: Path) -> Path | None:
    """Mean of every metric against the step, with a +- std band over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[str, list[tuple[int, float, float]]] = {}
    for key, metrics in summary["per_step"].items():
        step = key.rsplit(":", 1)[1]
        if step in ("None", ""):
            continue
        for k, s in metrics.items():
            if s.get("n"):
                series.setdefault(k, []).append((int(float(step)), s["mean"], s["std"]))
    keys = [k for k in series if _best_mode(k) or k.startswith(("self_bleu", "d_", "g_loss", "reward"))]
    if not keys:
        return None
    fig, axes = plt.subplots(len(keys), 1, figsize=(6, 2.2 * len(keys)), squeeze=False, sharex=True)
    for ax, k in zip(axes[:, 0], keys):
        pts = sorted(series[k])
        x = [p[0] for p in pts]
        m = [p[1] for p in pts]
        sd = [p[2] for p in pts]
        ax.plot(x, m, marker="o", ms=3)
        ax.fill_between(x, [a - b for a, b in zip(m, sd)], [a + b for a, b in zip(m, sd)], alpha=0.25)
        ax.set_ylabel(k)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel(f"training step (mean +- std over {len(summary['seeds'])} seeds)")
    fig.tight_layout()
    from .figures import save_figure

    save_figure(fig, out, dpi=100)
    return out


def resume_seeds(parent: str | Path, progress: bool = True, parallel: int | None = None) -> dict:
    """Finish the seeds of a ``--seeds`` parent folder."""
    parent = Path(parent)
    manifest = json.loads((parent / MANIFEST).read_text(encoding="utf-8"))
    recipe = recipe_from_dict(manifest["recipe"])
    return run_seeds(recipe, manifest["seeds"], parent, parallel=parallel, progress=progress, resume=True)


def seed_runs(folder: str | Path) -> dict[int, Path]:
    """The finished-or-not runs of ``folder`` by seed: a ``--seeds`` folder's ``seed<N>/``, or the
    folder itself when it is one run."""
    folder = Path(folder)
    if (folder / MANIFEST).is_file():
        seeds = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["seeds"]
        runs = {s: seed_dir(folder, s) for s in seeds if (seed_dir(folder, s) / "run.json").is_file()}
    elif (folder / "run.json").is_file():
        runs = {int(json.loads((folder / "run.json").read_text(encoding="utf-8")).get("seed", 0)): folder}
    else:
        raise TextganError(f"{str(folder)!r} is neither a run folder nor a --seeds folder: pass a folder `textgan run` made")
    if not runs:
        raise TextganError(f"{str(folder)!r} holds no run yet: run or resume it first")
    return runs


def compare(a: str | Path, b: str | Path) -> dict:
    """Two settings over the same seeds: each side's mean +- std, and the paired difference
    ``b - a`` per seed (mean +- std over the seeds both have), of every final metric and of every
    metric's best value over the run. Pairing removes what the seeds share (the pretraining of a
    fork, the data order), so its spread is the one that says whether the settings differ."""
    runs_a, runs_b = seed_runs(a), seed_runs(b)
    common = sorted(set(runs_a) & set(runs_b))
    if not common:
        raise TextganError(f"{str(a)!r} (seeds {sorted(runs_a)}) and {str(b)!r} (seeds {sorted(runs_b)}) share no seed: "
                           "compare runs of the same seeds")
    per_seed = {side: {s: summarize({s: runs[s]}) for s in common} for side, runs in (("a", runs_a), ("b", runs_b))}
    for side in "ab":  # every metric at the evaluation of the best checkpoint, as a third kind of row
        for s in common:
            at = per_seed[side][s]["at_best"]
            if at:
                per_seed[side][s]["at best " + at["metric"]] = at["values"]
    kinds = ["final", "best"]
    names = {k for side in "ab" for s in common for k in per_seed[side][s] if k.startswith("at best ")}
    if len(names) == 1:
        kinds.append(names.pop())
    rows = []
    for kind in kinds:
        metrics = sorted(set.intersection(*(set(per_seed[side][s].get(kind, {})) for side in "ab" for s in common)))
        for m in metrics:
            va = [per_seed["a"][s][kind][m].get("mean") for s in common]
            vb = [per_seed["b"][s][kind][m].get("mean") for s in common]
            if any(v is None for v in va + vb):
                continue
            rows.append({"kind": kind, "metric": m, "a": _stats(va), "b": _stats(vb),
                         "b_minus_a": _stats([y - x for x, y in zip(va, vb)]),
                         "per_seed": {str(s): {"a": x, "b": y} for s, x, y in zip(common, va, vb)}})
    return {"a": str(a), "b": str(b), "seeds": common, "rows": rows}


def format_comparison(result: dict) -> str:
    seeds = ", ".join(map(str, result["seeds"]))
    lines = [f"A = {result['a']}", f"B = {result['b']}", f"seeds both have: {seeds} (mean +- std over them, n - 1)", "",
             "| metric | A | B | B - A (paired) | per seed (A / B) |", "|---|---|---|---|---|"]
    def short(st: dict) -> str:
        return f"{st['mean']:.4f} +- {st['std']:.4f}"

    for r in result["rows"]:
        per = "; ".join(f"{s}: {v['a']:.4f} / {v['b']:.4f}" for s, v in r["per_seed"].items())
        lines.append(f"| {r['kind']} {r['metric']} | {short(r['a'])} | {short(r['b'])} | {short(r['b_minus_a'])} | {per} |")
    return "\n".join(lines)


__all__ = ["parse_seeds", "run_seeds", "resume_seeds", "fork_seeds", "summarize", "write_summary", "seed_runs",
           "compare", "format_comparison"]
