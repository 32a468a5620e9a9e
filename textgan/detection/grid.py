"""A decoding grid: generate over temperature x top-p x top-k, detect each setting, name the hardest.

Grover (Zellers et al., 2019) found that how detectable generated text is depends mostly on how it
was decoded. :func:`decoding_grid` (``textgan corpus grid``) samples ``num`` texts from one
generator for every combination of the given temperatures, top-p and top-k values (the same seed
in every cell), builds a detection dataset of each against the same real texts (the same source,
seed and text form, :func:`~textgan.detection.dataset.build_detection_dataset` with the generator),
runs the detectability report's detectors on it, and ranks the cells by their strongest
detector's AUROC. Layout of ``OUT``::

    grid.json                  settings, every cell's counts, detector metrics and text statistics, the ranking
    grid.md                    the table, sorted by the strongest detector's AUROC (hardest cell first)
    cells/t{T}_p{P}_k{K}/      one folder per cell:
        cell.json              the cell's summary (written last: a folder without it is not a cell)
        generated.jsonl        the generated records, each with its ``sampling`` settings (+ manifest)
        used.jsonl             exactly ``num`` of them, none a copy of a real text in the shared text form
        plan.json              how many texts the cell draws (kept so a killed cell resumes the same draw)
        detection/             the detection dataset (and the CNN's report.json / report.md / roc.png)

A cell is built in ``cells/.NAME.partial/`` and renamed when complete, so ``cells/NAME`` is
either absent or whole; a rerun of the same command skips finished cells and resumes a partial
one (its generation continues from its finished shards), and ``grid.json`` / ``grid.md`` are
rewritten after every cell (``"complete": false`` until the last).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from .. import generation
from ..errors import TextganError
from ..io import atomic_open, check_output, is_stdout, replace_dir, write_json
import textgan.detection.dataset as _dataset  # a module object: tests patch its functions
from .canonical import make_canonicalizer
from .dataset import SPLITS, _load_split

GRID_FORMAT = "textgan.detection.grid/1"
DETECTORS: tuple[str, ...] = ("tfidf_logreg", "zero_shot_loglik", "zero_shot_logrank", "cnn")
ZERO_SHOT = {"zero_shot_loglik": ("loglik", "mean token log-likelihood"),
             "zero_shot_logrank": ("logrank", "minus the mean log token rank (GLTR)")}


@dataclass
class GridResult:
    """What :func:`decoding_grid` did.

    Attributes:
        path: the grid folder.
        cells: one summary per cell, in grid order (temperature, then top-p, then top-k).
        hardest: the cell whose strongest detector has the lowest AUROC (its name, detector, AUROC, CI).
        skipped: cells that were already complete (not computed again).
        seconds: wall time of this call.
    """

    path: Path
    cells: list[dict]
    hardest: dict | None
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0


def cell_name(temperature: float, top_p: float, top_k: int) -> str:
    """The folder name of a cell: ``t{T}_p{P}_k{K}`` (e.g. ``t0.7_p0.9_k40``)."""
    return f"t{float(temperature)}_p{float(top_p)}_k{int(top_k)}"


def parse_values(text: str, flag: str, kind: type, example: str) -> tuple:
    """``"0.7,1.0"`` -> ``(0.7, 1.0)``; a one-line error naming ``flag`` for anything else (or nothing)."""
    items = [x.strip() for x in str(text).split(",")]
    if not any(items):
        raise TextganError(f"{flag} is empty: give at least one value, e.g. {flag} {example}")
    try:
        return tuple(kind(x) for x in items)
    except ValueError:
        raise TextganError(f"{flag} takes comma-separated {'whole ' if kind is int else ''}numbers, got {text!r}: "
                           f"e.g. {flag} {example}") from None


def _check_values(temperatures: Sequence[float], top_ps: Sequence[float], top_ks: Sequence[int]) -> None:
    for flag, values, example in (("--temperatures", temperatures, "0.7,1.0"), ("--top-p", top_ps, "0.9,1.0"),
                                  ("--top-k", top_ks, "0,40")):
        if not len(values):
            raise TextganError(f"{flag} is empty: give at least one value, e.g. {flag} {example}")
        if len(set(values)) < len(values):
            raise TextganError(f"{flag} lists a value twice ({', '.join(map(str, values))}): give each value once")
    for t in temperatures:
        if not (isinstance(t, (int, float)) and math.isfinite(t) and t > 0):
            raise TextganError(f"--temperatures values must be > 0, got {t}: e.g. --temperatures 0.7,1.0")
    for p in top_ps:
        if not (isinstance(p, (int, float)) and 0 < p <= 1):
            raise TextganError(f"--top-p values must be in (0, 1] (1: no nucleus cut), got {p}: e.g. --top-p 0.9,1.0")
    for k in top_ks:
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise TextganError(f"--top-k values must be whole numbers >= 0 (0: no limit), got {k}: e.g. --top-k 0,40")


def _sha(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8") + b"\n")
    return h.hexdigest()


# --------------------------------------------------------------------------- one cell


def _text_detectors(rows: dict, wanted: Sequence[str], reference: str | Path, n_bootstrap: int, seed: int,
                    device) -> dict:
    """TF-IDF + logistic regression and the zero-shot detectors of the report (:mod:`.baselines`, the same
    settings and metrics as :func:`~textgan.detection.report.detectability_report`), on the text column.

    The zero-shot scores have no trained direction: in a decoding grid generated texts can be *less*
    likely than real ones under the generator (high temperature), so each zero-shot score is negated
    when its AUROC on the validation split is below 0.5 (``direction`` says which); the threshold is
    then the best one on validation, as in the report.
    """
    from .baselines import tfidf_logreg, zero_shot_detectors
    from .metrics import evaluate_scores

    text = {s: [r["text"] for r in rows[s]] for s in SPLITS}
    y = {s: [int(r["label"]) for r in rows[s]] for s in SPLITS}
    tune = "validation" if y["validation"] else "train"
    found: dict[str, dict] = {}
    if "tfidf_logreg" in wanted:
        t0 = time.perf_counter()
        scores, info = tfidf_logreg(text["train"], y["train"], text["validation"], y["validation"],
                                    {"test": text["test"]}, seed=seed)
        found["tfidf_logreg"] = {**evaluate_scores(scores["test"], y["test"], 0.5, n_bootstrap, seed), **info,
                                 "seconds": round(time.perf_counter() - t0, 1),
                                 "what": "word 1-2-gram TF-IDF + logistic regression; score P(generated), threshold 0.5"}
    zs_wanted = [d for d in wanted if d in ZERO_SHOT]
    if zs_wanted:
        zs, secs = zero_shot_detectors(reference, text, y, tune, keys=[ZERO_SHOT[n][0] for n in zs_wanted],
                                       fit_direction=True, device=device)
        for name in zs_wanted:
            key, what = ZERO_SHOT[name]
            z = zs[key]
            found[name] = {**evaluate_scores(z["test"], y["test"], z["threshold"], n_bootstrap, seed),
                           "direction": "higher is generated" if z["sign"] > 0 else "lower is generated",
                           "seconds": secs, "reference_lm": str(reference),
                           "what": f"zero-shot {what} under the generator; direction and threshold from the {tune} split"}
    return found


def _text_stats(texts: list[str], tokenize: str, self_bleu_samples: int, seed: int) -> dict:
    """distinct-1/2, Self-BLEU-4 (a seeded subsample of ``self_bleu_samples`` texts) and lengths."""
    from ..train.evaluation import evaluate_texts

    stats = evaluate_texts(texts, metrics=("distinct", "length"), orders=(2,), tokenize=tokenize)
    sub = random.Random(seed).sample(texts, min(len(texts), self_bleu_samples))
    out = {"num_texts": len(texts), "distinct1": stats["distinct1"], "distinct2": stats["distinct2"],
           "len_mean": stats["len_mean"], "len_std": stats.get("len_std"), "self_bleu_samples": len(sub)}
    out["self_bleu4"] = (evaluate_texts(sub, metrics=("self_bleu",), orders=(4,), tokenize=tokenize)["self_bleu4"]
                         if len(sub) >= 2 else float("nan"))
    return out


def _best(cell: dict) -> tuple[str | None, float]:
    """The cell's strongest detector (highest test AUROC) and that AUROC (NaN AUROCs ignored)."""
    found = [(m["auroc"], name) for name, m in cell["detectors"].items() if not math.isnan(m.get("auroc", math.nan))]
    if not found:
        return None, math.nan
    auc, name = max(found)
    return name, auc


def _plan_settings(common: dict, sampling) -> dict:
    """What a partial cell was started with (compared after a JSON round trip)."""
    return json.loads(json.dumps({**common, "sampling": [sampling.temperature, sampling.top_p, sampling.top_k]}))


def _usable_texts(checkpoint, partial: Path, sampling, common: dict, canon, real_keys: set, *, batch_size: int,
                  device: str, progress: bool) -> tuple[list[dict], object, dict]:
    """Exactly ``num`` generated records that the dataset builder keeps: distinct, and neither a copy of a
    real text nor another record's twin once in the shared text form.

    Every cell then gives the builder the same number of texts, so its splits have the same sizes and
    hold the same real texts in every cell (the real part is shuffled with the same seed). Draws
    ``num`` plus 5 % (at least 10) distinct texts, and more (a new, larger draw) while too few are
    usable; ``plan.json`` in the cell's folder keeps the current draw so a killed cell resumes it.
    """
    num, plan_file = common["num"], partial / "plan.json"
    draw = num + max(num // 20, 10)
    if plan_file.is_file():
        draw = json.loads(plan_file.read_text(encoding="utf-8")).get("draw", draw)
    out = partial / "generated.jsonl"
    for _ in range(4):
        write_json(plan_file, {"settings": _plan_settings(common, sampling), "draw": draw})
        try:
            gen = generation.generate_texts(checkpoint, draw, out, sampling=sampling, batch_size=batch_size,
                                            drop_duplicates=True, device=device, progress=progress)
        except TextganError as e:
            if "passed the filters" not in str(e):
                raise
            raise TextganError(f"cell {cell_name(sampling.temperature, sampling.top_p, sampling.top_k)}: the generator "
                               f"gives fewer than {draw} distinct texts at temperature {sampling.temperature}, top-p "
                               f"{sampling.top_p}, top-k {sampling.top_k}: lower -n, or leave this value out "
                               "(finished cells are kept)") from None
        used, seen = [], set()
        for r in generation.read_generated(out):
            key = canon(r["text"], "generated")
            if key is None or key in real_keys or key in seen:
                continue
            seen.add(key)
            used.append(r)
        if len(used) >= num:
            return used[:num], gen, {"draw": draw, "usable": len(used)}
        draw = math.ceil(draw * num / max(len(used), 1) * 1.1) + 10  # too many copies of real texts: draw more
        for path in (out, generation.manifest_path(out)):
            path.unlink(missing_ok=True)
    raise TextganError(f"cell {cell_name(sampling.temperature, sampling.top_p, sampling.top_k)}: after {draw} draws "
                       f"fewer than {num} generated texts differ from every real text: lower -n")


def _build_cell(checkpoint, real, partial: Path, sampling, common: dict, detectors: Sequence[str], *,
                real_labels, text_column, batch_size: int, device: str, progress: bool, tokenize: str,
                self_bleu_samples: int, detector_options: dict, canon, real_keys: set, oov: str | None) -> dict:
    """Generate, build the dataset, run the detectors and describe the texts of one cell, in ``partial``."""
    from .report import detectability_report

    seed, timings = common["seed"], {}
    t0 = time.perf_counter()
    used, gen, draw = _usable_texts(checkpoint, partial, sampling, common, canon, real_keys, batch_size=batch_size,
                                    device=device, progress=progress)
    with atomic_open(partial / "used.jsonl") as f:
        f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in used))
    timings["generate_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    ds = _dataset.build_detection_dataset(real, [partial / "used.jsonl"], partial / "detection",
                                          real_labels=real_labels, real_max_tokens=common["real_max_tokens"],
                                          text_column=text_column, seed=seed, generator=checkpoint, oov=oov)
    timings["dataset_s"] = round(time.perf_counter() - t0, 1)
    rows = {s: _load_split(ds.path, s) for s in SPLITS}

    t0 = time.perf_counter()
    from ..device import resolve_device

    found = _text_detectors(rows, detectors, checkpoint, common["n_bootstrap"], seed, resolve_device(device))
    if "cnn" in detectors:  # the report's CNN (and its report.json / report.md / roc.png in detection/)
        report = detectability_report(ds.path, epochs=common["epochs"], tokenize=tokenize, seed=seed, device=device,
                                      baselines=False, n_bootstrap=common["n_bootstrap"],
                                      **detector_options)
        found["cnn"] = {**report["detectors"]["cnn"], "train_seconds": report["detector"]["train_seconds"]}
    timings["detectors_s"] = round(time.perf_counter() - t0, 1)

    t0 = time.perf_counter()
    generated = [r["text"] for s in SPLITS for r in rows[s] if r["label"] == 1]
    stats = _text_stats(generated, tokenize, self_bleu_samples, seed)
    timings["text_stats_s"] = round(time.perf_counter() - t0, 1)
    real_test = sorted(r["text"] for r in rows["test"] if r["label"] == 0)
    meta = json.loads((ds.path / "detection.json").read_text(encoding="utf-8"))
    cell = {
        "name": cell_name(sampling.temperature, sampling.top_p, sampling.top_k),
        "sampling": {"temperature": sampling.temperature, "top_p": sampling.top_p, "top_k": sampling.top_k},
        "records_sampling": meta["generated"][0]["sampling"],
        "settings": common,
        "counts": {"generated": gen.num, "drawn": gen.drawn, "dropped": gen.dropped, "used": len(used),
                   "dropped_as_real_copies_or_same_form": gen.num - draw["usable"], "dataset": ds.counts,
                   "removed": ds.removed},
        "real_test_sha256": _sha(real_test),
        "unk_token_rate": {side: meta.get("canonical", {}).get(side, {}).get("unk_token_rate")
                           for side in ("real", "generated")},
        "detectors": {d: found[d] for d in detectors},
        "text": stats,
        "seconds": timings,
    }
    cell["best_detector"], cell["best_auroc"] = _best(cell)
    return cell


# --------------------------------------------------------------------------- the grid


def decoding_grid(checkpoint: str | Path, real: str | Path, out: str | Path, *,
                  temperatures: Sequence[float] = (0.7, 1.0), top_ps: Sequence[float] = (0.9, 1.0),
                  top_ks: Sequence[int] = (0, 40), num: int = 2000, detectors: Sequence[str] = DETECTORS,
                  seed: int = 0, real_max_tokens: int | None = None, real_labels: Sequence[str] | None = None,
                  text_column: str | None = None, oov: str | None = None, epochs: int = 2, n_bootstrap: int = 1000,
                  batch_size: int = 1000, tokenize: str = "whitespace", self_bleu_samples: int = 500,
                  device: str = "auto", progress: bool = False, detector_options: dict | None = None,
                  echo: Callable[[str], None] | None = None) -> GridResult:
    """Generate over temperature x top-p x top-k, detect each setting, and name the hardest to detect.

    For each cell (every combination of ``temperatures``, ``top_ps`` and ``top_ks``): ``num``
    distinct texts from ``checkpoint`` with :func:`textgan.generation.generate_texts` (the same
    ``seed`` in every cell; every record keeps its ``sampling`` settings), none a copy of a real
    text once in the shared text form (:func:`_usable_texts`), a detection dataset against
    ``real`` (:func:`build_detection_dataset` with ``generator=checkpoint``, so both classes
    share the generator's text form; the same real source, cut, seed and number of texts in
    every cell, so the splits hold the same real texts and only the decoding differs), and the detectors
    (``tfidf_logreg``, ``zero_shot_loglik``, ``zero_shot_logrank`` under the generator, ``cnn``:
    see :mod:`textgan.detection.baselines` and :func:`detectability_report`): accuracy, AUROC,
    TPR at 1 % and 5 % FPR with bootstrap 95 % intervals on the test split, plus distinct-n,
    Self-BLEU-4 (on ``self_bleu_samples`` texts) and the mean length of the generated texts.

    The hardest cell is the one whose strongest detector (highest AUROC) has the lowest AUROC.
    See the module docstring for the folder, resuming and atomic writes.

    Args:
        checkpoint: the generator's run or checkpoint folder (also the zero-shot reference model).
        real: real texts: ``NAME``, ``NAME:SPLIT`` or a file.
        out: the grid folder (rerun the same call to resume).
        temperatures, top_ps, top_ks: the values of each axis (each non-empty, no repeats).
        num: distinct generated texts per cell in its dataset (5 % more are drawn, more when needed).
        detectors: names from :data:`DETECTORS`.
        seed: generation, dataset, detector and subsampling seed (the same in every cell).
        real_max_tokens: cut texts to this many of the generator's tokens (None: its ``max_len - 1``).
        real_labels, text_column: select the real rows (see :func:`load_real_texts`).
        oov: real tokens the generator cannot emit: "unk" (default, as ``corpus detection``), "drop"
            (drop the real text: use it when the generator never saw ``<unk>`` in training, e.g. a
            vocabulary of every training word; ``grid.md`` warns when ``<unk>`` tells the classes
            apart) or "keep".
        epochs: CNN detector epochs.
        n_bootstrap: bootstrap resamples of the confidence intervals.
        batch_size: texts sampled together.
        tokenize: the CNN's tokens and the text statistics' ("whitespace" or "nltk").
        self_bleu_samples: texts per cell in Self-BLEU-4 (a seeded subsample).
        device: "auto", "cpu" or "cuda".
        progress: progress bars.
        detector_options: more keyword arguments of :func:`detectability_report` for the CNN
            (e.g. smaller ``filter_sizes`` / ``num_filters`` for a quick grid).
        echo: called with one line per finished or skipped cell (None: silent).

    Returns:
        A :class:`GridResult`; ``OUT/grid.json`` and ``OUT/grid.md`` hold the same.

    Raises:
        TextganError: a bad value (checked before anything is written), an ``out`` textgan did not
            write, or an ``out`` started with other common settings.
    """
    from ..generation import SamplingSettings
    from ..io import file_sha256
    from ..train.checkpoint import read_config, resolve_checkpoint

    start = time.perf_counter()
    temperatures, top_ps, top_ks = tuple(temperatures), tuple(top_ps), tuple(top_ks)
    _check_values(temperatures, top_ps, top_ks)
    detectors = tuple(detectors)
    unknown = [d for d in detectors if d not in DETECTORS]
    if not detectors or unknown:
        raise TextganError(f"unknown detector(s) {unknown or '(none given)'}: choose from {','.join(DETECTORS)}")
    if len(set(detectors)) < len(detectors):
        raise TextganError(f"--detectors lists a detector twice ({','.join(detectors)}): give each once")
    for flag, value, least in (("-n/--num", num, 10), ("--epochs", epochs, 1), ("--batch-size", batch_size, 1),
                               ("--self-bleu-samples", self_bleu_samples, 2)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise TextganError(f"{flag} must be a whole number >= {least}, got {value}: pass a larger value")
    if n_bootstrap < 0:
        raise TextganError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    if real_max_tokens is not None and real_max_tokens < 1:
        raise TextganError(f"--real-max-tokens must be positive, got {real_max_tokens}: pass a positive number or leave it out")
    if tokenize not in ("whitespace", "nltk"):
        raise TextganError(f"unknown tokenize {tokenize!r}: use whitespace or nltk")
    if is_stdout(out):
        raise TextganError("--out of `corpus grid` is a folder, not a stream: pass a folder name")
    out = Path(out)
    check_output(out, folder=True, own=("grid.json", "cells"))
    ckpt = resolve_checkpoint(checkpoint)  # no checkpoint: one line, nothing written
    model_len = int(read_config(ckpt)["args"].get("max_len") or 0)
    if real_max_tokens is None and model_len > 1:
        real_max_tokens = model_len - 1
    real_texts, _ = _dataset.load_real_texts(real, real_labels, text_column)  # a bad source fails before any write
    for t, p, k in itertools.product(temperatures, top_ps, top_ks):
        SamplingSettings(temperature=t, top_p=p, top_k=k, seed=seed)
    common = {"checkpoint": str(ckpt), "checkpoint_sha256": file_sha256(ckpt / "model.safetensors"),
              "real": str(real), "real_labels": None if real_labels is None else [str(x) for x in real_labels],
              "oov": oov or "unk",
              "num": num, "seed": seed, "real_max_tokens": real_max_tokens, "detectors": sorted(detectors),
              "epochs": epochs if "cnn" in detectors else None, "n_bootstrap": n_bootstrap, "batch_size": batch_size,
              "tokenize": tokenize, "self_bleu_samples": self_bleu_samples,
              "detector_options": {k: list(v) if isinstance(v, tuple) else v for k, v in (detector_options or {}).items()}}

    cells_dir = out / "cells"
    grid = [(t, p, k) for t, p, k in itertools.product(temperatures, top_ps, top_ks)]
    done: dict[str, dict] = {}
    for t, p, k in grid:  # every finished cell must have been made with these settings, before any new work
        final = cells_dir / cell_name(t, p, k)
        if (final / "cell.json").is_file():
            cell = json.loads((final / "cell.json").read_text(encoding="utf-8"))
            diff = [f"{key} {cell['settings'].get(key)!r} vs {common.get(key)!r}" for key in sorted(common)
                    if cell.get("settings", {}).get(key) != common.get(key) and key != "checkpoint"]
            if diff:
                raise TextganError(f"{str(out)!r} holds cell {final.name} made with other settings (then vs now: "
                                   f"{'; '.join(diff[:3])}): rerun with the original settings, or pass another --out")
            done[final.name] = cell

    cells: list[dict] = []
    skipped: list[str] = []
    real_keys = None
    # One <unk> rule for every cell ("auto" could settle differently per cell, and the cells must share their
    # real texts): "unk" by default, with grid.md's warning when <unk> tells the classes apart.
    oov = oov or "unk"
    if oov == "auto":
        raise TextganError("--oov auto is not offered by the grid (each cell could settle it differently, and the "
                           "cells must share their real texts): pass --oov unk (default) or --oov drop")
    canon = make_canonicalizer(checkpoint, oov, real_max_tokens)  # a bad --oov fails before anything is written
    cells_dir.mkdir(parents=True, exist_ok=True)
    for i, (t, p, k) in enumerate(grid, 1):
        name = cell_name(t, p, k)
        if name in done:
            cells.append(done[name])
            skipped.append(name)
            if echo:
                echo(f"[{i}/{len(grid)}] {name}: already complete (skipped)")
            continue
        t0 = time.perf_counter()
        if real_keys is None:  # the real texts in the shared text form (as the dataset builder makes them)
            real_keys = {k for k in (canon(t, "real") for t in real_texts) if k is not None}
        partial = cells_dir / f".{name}.partial"
        sampling = SamplingSettings(temperature=t, top_p=p, top_k=k, seed=seed)
        plan = partial / "plan.json"
        if plan.is_file() and json.loads(plan.read_text(encoding="utf-8")).get("settings") != _plan_settings(common,
                                                                                                           sampling):
            shutil.rmtree(partial)  # an unfinished cell of other settings: begun again
        partial.mkdir(exist_ok=True)
        cell = _build_cell(checkpoint, real, partial, sampling,
                           common, detectors, real_labels=real_labels, text_column=text_column,
                           batch_size=batch_size, device=device, progress=progress, tokenize=tokenize,
                           self_bleu_samples=self_bleu_samples, detector_options=detector_options or {},
                           canon=canon, real_keys=real_keys, oov=oov)
        cell["seconds"]["total_s"] = round(time.perf_counter() - t0, 1)
        write_json(partial / "cell.json", cell)
        replace_dir(partial, cells_dir / name)
        cells.append(cell)
        _write_summary(out, common, grid, cells, start)
        if echo:
            echo(f"[{i}/{len(grid)}] {name}: best detector {cell['best_detector']} AUROC {cell['best_auroc']:.3f} "
                 f"({cell['seconds']['total_s']:.0f} s)")
    summary = _write_summary(out, common, grid, cells, start)
    return GridResult(out, cells, summary["hardest"], skipped, round(time.perf_counter() - start, 1))


def _overlaps(a: Sequence[float], b: Sequence[float]) -> bool:
    return not (a[1] < b[0] or b[1] < a[0])


def summarize(cells: list[dict]) -> dict:
    """The ranking (cell names, hardest first: the lowest strongest-detector AUROC), the hardest cell, and the
    cells whose strongest detector's AUROC interval overlaps the hardest cell's."""
    ranked = sorted((c for c in cells if not math.isnan(c["best_auroc"])), key=lambda c: (c["best_auroc"], c["name"]))
    if not ranked:
        return {"ranking": [], "hardest": None, "overlapping": []}
    h = ranked[0]
    ci = h["detectors"][h["best_detector"]].get("ci95", {}).get("auroc")
    hardest = {"name": h["name"], "sampling": h["sampling"], "detector": h["best_detector"], "auroc": h["best_auroc"],
               "auroc_ci95": ci}
    overlapping = []
    if ci and not any(math.isnan(x) for x in ci):
        for c in ranked[1:]:
            other = c["detectors"][c["best_detector"]].get("ci95", {}).get("auroc")
            if other and _overlaps(ci, other):
                overlapping.append(c["name"])
    return {"ranking": [c["name"] for c in ranked], "hardest": hardest, "overlapping": overlapping}


def _write_summary(out: Path, common: dict, grid: list[tuple], cells: list[dict], start: float) -> dict:
    summary = summarize(cells)
    same_real = len({c["real_test_sha256"] for c in cells}) <= 1
    shared = _real_test_shared(out, cells) if cells else {}
    data = {"format": GRID_FORMAT, "settings": common,
            "axes": {"temperatures": sorted({g[0] for g in grid}), "top_p": sorted({g[1] for g in grid}),
                     "top_k": sorted({g[2] for g in grid})},
            "complete": len(cells) == len(grid), "num_cells": len(grid), "cells_done": len(cells),
            "same_real_test_texts": same_real, "real_test_shared": shared, **summary, "cells": cells,
            "seconds": round(time.perf_counter() - start, 1)}
    write_json(out / "grid.json", data)
    with atomic_open(out / "grid.md") as f:
        f.write(format_grid(data))
    return data


def _real_test_shared(out: Path, cells: list[dict]) -> dict[str, float]:
    """Per cell, the share of its real test texts that the cell with the most real test texts holds too.

    Every cell gets the same number of usable generated texts and the same shuffled real texts, so
    the splits match; but the dataset builder's near-duplicate filter removes validation / test
    texts that nearly repeat a train text of their class and keeps each split balanced, so a cell
    with more such generated texts keeps the first, fewer, real test texts of the same list (1.0)."""
    texts = {}
    for c in cells:
        rows = _load_split(out / "cells" / c["name"] / "detection", "test")
        texts[c["name"]] = {r["text"] for r in rows if int(r["label"]) == 0}
    largest = max(texts.values(), key=len)
    return {name: round(len(t & largest) / len(t), 4) if t else math.nan for name, t in texts.items()}


def _fmt(x, digits: int = 3) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _unk_gap(cell: dict) -> float:
    """How much more often real texts hold ``<unk>`` than generated ones (0 when not notably)."""
    r = cell.get("unk_token_rate") or {}
    real, gen = r.get("real") or 0.0, r.get("generated") or 0.0
    return real - gen if real > 0.005 and real > 2 * gen else 0.0


def format_grid(data: dict) -> str:
    """``grid.md``: one table of the cells sorted by their strongest detector's AUROC (hardest first)."""
    s = data["settings"]
    dets = [d for d in DETECTORS if d in s["detectors"]]
    by_name = {c["name"]: c for c in data["cells"]}
    order = data["ranking"] + [c["name"] for c in data["cells"] if c["name"] not in data["ranking"]]
    lines = [f"# Decoding grid: {s['checkpoint']}", "",
             f"{data['cells_done']} of {data['num_cells']} cells" + ("" if data["complete"] else " (incomplete: rerun "
                                                                      "the same command to continue)")
             + f"; {s['num']} distinct texts generated per cell (seed {s['seed']}; copies of real texts are removed "
             "before the split); real texts "
             f"{s['real']}, cut to {s['real_max_tokens']} tokens"
             + (", the same real test texts in every cell" if data["same_real_test_texts"] else
                "; the real test texts of a cell are the first ones of the same list, fewer where the near-duplicate "
                "filter removed generated test texts (" + (
                    "every cell's are among the largest cell's" if min(data["real_test_shared"].values()) >= 1 else
                    f"{_fmt(100 * min(data['real_test_shared'].values()), 1)} % or more of each cell's are among the "
                    "largest cell's") + ")") + ".",
             "Sorted by the strongest detector's test AUROC, lowest (hardest to detect) first; "
             "AUROC [bootstrap 95 % CI], accuracy and TPR at 1 % FPR are those of the strongest detector.", "",
             "| rank | cell | temperature | top-p | top-k | strongest detector | AUROC [95 % CI] | accuracy | TPR@1%FPR | "
             + " | ".join(f"{d} AUROC" for d in dets) + " | test texts | distinct-2 | Self-BLEU-4 | mean length |",
             "|" + "---|" * (13 + len(dets))]
    for rank, name in enumerate(order, 1):
        c = by_name[name]
        best = c["detectors"].get(c["best_detector"] or "", {})
        ci = best.get("ci95", {}).get("auroc") or [math.nan, math.nan]
        n_test = c["counts"]["dataset"]["test"]
        lines.append(
            f"| {rank} | {name} | {c['sampling']['temperature']:g} | {c['sampling']['top_p']:g} | "
            f"{c['sampling']['top_k']} | {c['best_detector'] or '-'} | {_fmt(c['best_auroc'])} "
            f"[{_fmt(ci[0])}, {_fmt(ci[1])}] | {_fmt(best.get('accuracy'))} | {_fmt(best.get('tpr_at_fpr_1pct'))} | "
            + " | ".join(_fmt(c["detectors"][d].get("auroc")) for d in dets)
            + f" | {n_test['real']}+{n_test['generated']} | {_fmt(c['text']['distinct2'])} | "
            f"{_fmt(c['text']['self_bleu4'])} | {_fmt(c['text']['len_mean'], 1)} |")
    h = data["hardest"]
    if h:
        ci = h["auroc_ci95"] or [math.nan, math.nan]
        lines += ["", f"**Hardest to detect: {h['name']}** (temperature {h['sampling']['temperature']:g}, top-p "
                      f"{h['sampling']['top_p']:g}, top-k {h['sampling']['top_k']}): its strongest detector, "
                      f"{h['detector']}, reaches AUROC {_fmt(h['auroc'])} [{_fmt(ci[0])}, {_fmt(ci[1])}]."]
        if data["overlapping"]:
            lines.append(f"Its interval overlaps those of {', '.join(data['overlapping'])}: at this test size the "
                         "ranking among these cells is not resolved (generate more texts, -n, to separate them).")
        elif len(data["ranking"]) > 1:
            lines.append("No other cell's interval overlaps it.")
    zs = [d for d in dets if d in ZERO_SHOT]
    if zs:
        flipped = sorted(f"{c['name']} ({d})" for c in data["cells"] for d in zs
                         if c["detectors"][d].get("direction") == "lower is generated")
        lines += ["", "Zero-shot scores are under the generator itself; their direction is fitted on the validation "
                      "split" + (f" (lower is generated in: {', '.join(flipped)})." if flipped else " (higher is "
                                                                                                "generated in every cell).")]
    unk = [c for c in data["cells"] if _unk_gap(c)]
    if unk:
        r = max(unk, key=_unk_gap)["unk_token_rate"]
        lines += ["", f"**Warning**: real texts hold `<unk>` (up to {100 * r['real']:.1f} % of their tokens) far more "
                      f"often than generated ones ({100 * r['generated']:.1f} %) in {len(unk)} cell(s): the generator "
                      "rarely writes `<unk>`, so a detector can read the label off it. Rerun with `--oov drop` (real "
                      "texts with words the generator cannot write are dropped) into another --out."]
    lines += ["", "Per cell: `cells/<cell>/cell.json` (every detector's metrics with intervals), "
                  "`cells/<cell>/generated.jsonl`, `cells/<cell>/detection/`."]
    return "\n".join(lines) + "\n"


__all__ = ["DETECTORS", "GRID_FORMAT", "GridResult", "cell_name", "decoding_grid", "format_grid", "parse_values",
           "summarize"]
