"""Sharded, resumable sampling of many texts from a generator checkpoint (``textgan generate``).

Layout while a run is in progress, for ``--out OUT``::

    OUT.parts/manifest.json      settings + one entry per finished shard (written atomically)
    OUT.parts/shard-00000.jsonl  one record per line; each shard file is written atomically

Shard ``i`` draws its texts with a ``torch.Generator`` seeded by :func:`shard_seed` ``(seed, i)``
and the texts kept by earlier shards (for duplicate filtering) are re-read from their files, so a
run that is interrupted (Ctrl-C, ``kill -9``) and resumed with the same command writes exactly
the texts of an uninterrupted run. When the last shard is done the shards are merged into OUT
(JSONL, Parquet or a ``datasets`` folder, written to a temporary name and renamed),
``OUT.manifest.json`` records the settings and counts, and ``OUT.parts/`` is removed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import torch

from .errors import TextganError
from .io import atomic_open, check_output, is_stdout, replace_dir, write_json

log = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("jsonl", "parquet", "hf")
MANIFEST_FORMAT = "textgan.generation/1"
DROP_REASONS: tuple[str, ...] = ("duplicate", "train_copy", "too_short")


@dataclass(frozen=True)
class SamplingSettings:
    """How each text is drawn.

    Attributes:
        temperature: softmax temperature (> 0).
        top_k: keep the k most likely tokens at each step (0: all).
        top_p: nucleus sampling mass (1.0: all).
        min_len: texts with fewer tokens (the end-of-sequence token excluded) are dropped and
            counted as ``too_short`` (default 1: no empty text) (rejection sampling: the kept texts follow the model's
            distribution conditioned on length >= min_len).
        max_len: tokens drawn per text (None: the model's ``max_len``).
        seed: the run's seed; shard ``i`` uses ``shard_seed(seed, i)``.
        ban_unk: never draw ``<unk>`` (its probability goes to the other tokens, as padding's
            does): a generator trained on texts with rare words mapped to ``<unk>`` otherwise writes
            the literal string. The kept texts follow the model's distribution conditioned on no
            ``<unk>`` at any step.
    """

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    min_len: int = 1
    max_len: int | None = None
    seed: int = 0
    ban_unk: bool = False

    def __post_init__(self) -> None:
        checks = [
            (self.temperature > 0, f"temperature must be > 0, got {self.temperature}"),
            (self.top_k >= 0, f"top-k must be >= 0, got {self.top_k}"),
            (0.0 < self.top_p <= 1.0, f"top-p must be in (0, 1], got {self.top_p}"),
            (self.min_len >= 0, f"min-len must be >= 0, got {self.min_len}"),
            (self.max_len is None or self.max_len >= 1, f"max-len must be >= 1, got {self.max_len}"),
        ]
        for ok, message in checks:
            if not ok:
                raise TextganError(f"{message}: fix the sampling setting")
        if self.max_len is not None and self.min_len > self.max_len:
            raise TextganError(f"min-len {self.min_len} is above max-len {self.max_len}: lower --min-len or raise --max-len")


@dataclass
class GenerationResult:
    """What :func:`generate_texts` did.

    Attributes:
        path: the output (file, or folder for ``hf``).
        format: "jsonl", "parquet" or "hf".
        num: records in the output.
        drawn: texts sampled in total (kept + dropped).
        dropped: texts dropped per reason (``duplicate``, ``train_copy``, ``too_short``).
        shards: shard count.
        resumed: records already finished when this call started (0 for a fresh run).
        seconds: wall time of this call.
        texts_per_second: records written by this call per second.
        manifest: ``OUT.manifest.json`` (None for standard output).
        already_complete: the output was complete before the call (nothing was generated).
    """

    path: Path
    format: str
    num: int
    drawn: int
    dropped: dict[str, int]
    shards: int
    resumed: int
    seconds: float
    texts_per_second: float
    manifest: Path | None
    already_complete: bool = False


def shard_seed(seed: int, index: int) -> int:
    """The seed of shard ``index``: 63 bits of sha256("seed:index"), independent across shards."""
    digest = hashlib.sha256(f"textgan.generation:{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


# File extensions of each file format (a name without extension is taken as JSONL).
FORMAT_SUFFIXES: dict[str, tuple[str, ...]] = {"jsonl": (".jsonl", ".json", ".ndjson"), "parquet": (".parquet",)}


def resolve_format(out: str | Path, format: str | None) -> str:
    """``format`` if given, else from the extension: ``.parquet`` -> parquet, ``.jsonl`` (or none) -> jsonl.

    Raises:
        TextganError: an unknown format, or a file extension that names another format
            (``--out g.csv`` would hold JSONL under a CSV name).
    """
    if format is not None and format not in FORMATS:
        raise TextganError(f"unknown output format {format!r}: use one of {', '.join(FORMATS)}")
    if is_stdout(out):
        if format not in (None, "jsonl"):
            raise TextganError(f"--format {format} cannot be written to standard output: pass --out FILE, or --format jsonl")
        return "jsonl"
    suffix = Path(out).suffix.lower()
    if format is None:
        format = "parquet" if suffix == ".parquet" else "jsonl"
    if format != "hf" and suffix and suffix not in FORMAT_SUFFIXES[format]:
        raise TextganError(f"--out {str(out)!r} ends in {suffix!r}, which is not a format `textgan generate` writes: "
                           f"end it with .jsonl or .parquet (or pass --format hf for a dataset folder)")
    return format


def parts_dir(out: str | Path) -> Path:
    """``OUT.parts``: the shards and manifest of a run in progress."""
    out = Path(out)
    return out.with_name(out.name + ".parts")


def manifest_path(out: str | Path) -> Path:
    """``OUT.manifest.json``: settings and counts of a finished output."""
    out = Path(out)
    return out.with_name(out.name + ".manifest.json")


# --------------------------------------------------------------------------- filters


def _content(row: list[int], eos_id: int | None, pad_id: int | None) -> tuple[int, ...]:
    """The ids of a sequence up to (not including) its first end-of-sequence or padding id."""
    for j, i in enumerate(row):
        if i == eos_id or i == pad_id:
            return tuple(row[:j])
    return tuple(row)


def _text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def training_sequences(loaded: Any, train: str | Path | None = None) -> set[tuple[int, ...]]:
    """The training sequences of a checkpoint as id tuples, cut as the model saw them.

    Args:
        loaded: a :class:`textgan.train.checkpoint.LoadedGenerator`.
        train: the training texts (a file, ``NAME`` or ``NAME:SPLIT``); None: the data section of
            the run's ``recipe.yaml`` (the checkpoint must lie in ``RUN/checkpoints/<name>/``).

    Returns:
        A set of id tuples without end-of-sequence or padding ids; text is tokenized with the
        checkpoint's tokenizer and mapped with its vocabulary. Each training text gives its first
        ``max_len - 1`` tokens (what an encoded training text keeps before its end-of-sequence
        token) and its first ``max_len`` tokens (what a sampled text that never ends holds).
    """
    vocab, tokenizer = loaded.vocab, loaded.tokenizer
    T = loaded.model.max_len
    if train is None:
        recipe_file = Path(loaded.path).parent.parent / "recipe.yaml"
        if not recipe_file.is_file():
            raise TextganError(f"dropping training copies needs the training texts, and {str(loaded.path)!r} is not inside "
                               "a run folder with recipe.yaml: pass --train CORPUS_OR_FILE")
        from .config import load_recipe
        from .data.prepare import prepare_data

        recipe = load_recipe(recipe_file)
        data = prepare_data(recipe.data, recipe.seed)
        if data.tokenizer is None:  # integer tokens (synthetic oracle): the ids are the data
            return {_content(r, vocab.eos_id, vocab.pad_id) for r in data.train.tolist()}
        token_lists: Iterable[list[str]] = (data.tokenizer.tokenize(t) for t in data.train_texts)
    else:
        from .data.texts import load_texts

        texts = load_texts(train, "train")
        token_lists = (t.split() if tokenizer is None else tokenizer.tokenize(t) for t in texts)
    out: set[tuple[int, ...]] = set()
    for tokens in token_lists:
        ids = tuple(vocab.encode(list(tokens)[:T]))
        out.add(ids)
        out.add(ids[:T - 1])
    return out


# --------------------------------------------------------------------------- shards and manifest


def _read_lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [line for line in f.read().split("\n") if line]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _differences(old: dict, new: dict) -> list[str]:
    keys = sorted(set(old) | set(new))
    return [f"{k} {old.get(k)!r} vs {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]


def _check_settings(found: dict, settings: dict, where: Path) -> None:
    diff = _differences(found, settings)
    if diff:
        raise TextganError(f"{str(where)!r} was started with other settings (then vs now: {'; '.join(diff[:3])}): "
                           "rerun with the original settings to resume, or pass another --out")


def _valid_shards(parts: Path, manifest: dict) -> list[dict]:
    """The manifest's shards whose files exist and are intact, up to the first bad one."""
    good = []
    for entry in manifest.get("shards", []):
        path = parts / entry["file"]
        if not path.is_file() or _sha256(path) != entry["sha256"]:
            log.warning("shard %s is missing or damaged; it and later shards are generated again", entry["file"])
            break
        good.append(entry)
    return good


def _clean_parts(parts: Path, keep: set[str]) -> None:
    """Remove temporary files and shards that the manifest does not list (a run killed mid-shard)."""
    for path in parts.iterdir():
        if path.name != "manifest.json" and path.name not in keep:
            path.unlink() if path.is_file() else shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------- main entry


def generate_texts(checkpoint: str | Path, num: int, out: str | Path, *,
                   sampling: SamplingSettings = SamplingSettings(), format: str | None = None,
                   shard_size: int = 10_000, batch_size: int = 1000, drop_duplicates: bool = False,
                   drop_train_copies: bool = False, train: str | Path | None = None, device: str = "auto",
                   progress: bool = False, max_draw_factor: int = 20, fixed_shards: bool = False,
                   label: str | None = None, labels: str | None = None) -> GenerationResult:
    """Sample ``num`` texts into ``out`` in resumable shards (see the module docstring).

    Each record: ``{"id": int, "text", "label": "generated", "model", "recipe",
    "checkpoint_sha256", "sampling": {temperature, top_k, top_p, min_len, max_len, seed}}``;
    ids run from 0 to num - 1.

    Args:
        checkpoint: run folder or checkpoint folder.
        num: records wanted (with filters, sampling continues until ``num`` are kept).
        out: output file (folder for ``hf``).
        sampling: temperature, top-k, top-p, length bounds and seed.
        format: "jsonl", "parquet" or "hf" (None: from the extension of ``out``).
        shard_size: texts drawn per shard (the work lost to a kill is at most one shard).
        batch_size: texts sampled in parallel (part of the settings: it orders the random draws).
        drop_duplicates: drop a text identical to one already kept.
        drop_train_copies: drop a text equal to a training text (see :func:`training_sequences`).
        train: training texts for ``drop_train_copies`` (None: from the run's recipe).
        device: "auto", "cpu" or "cuda".
        progress: show a progress bar with texts per second.
        max_draw_factor: give up when more than ``max(max_draw_factor * num, 1000)`` texts
            were drawn (filters that reject almost everything).
        fixed_shards: shards of exactly ``shard_size`` draws, filtered on their own, duplicates
            dropped at the merge (:func:`_draw_fixed`): the layout of ``torchrun ... -m textgan
            generate`` (always on under torchrun), whose texts are the same for any number of
            processes, this one included.
        label: a label-conditional generator's class for every text (a name or an index).
        labels: a label-conditional generator's mix of classes, ``"NAME:WEIGHT,NAME:WEIGHT"`` (default:
            the training mix). Its records add ``class_label`` (the index) and ``class_name``;
            ``label`` stays "generated" (what detection datasets read). See :func:`label_mix`.

    Returns:
        A :class:`GenerationResult`.

    Raises:
        TextganError: bad settings, settings that differ from an interrupted or finished run in
            the same place, or filters that reject almost every text, or an output path that is
            a symbolic link, device, pipe or foreign folder (standard output, ``-``, is written
            directly, as JSONL, without shards on disk or a manifest).
    """
    if num <= 0:
        raise TextganError(f"--num must be positive, got {num}")
    if shard_size <= 0 or batch_size <= 0:
        raise TextganError(f"--shard-size and --batch-size must be positive, got {shard_size} and {batch_size}")
    fmt = resolve_format(out, format)
    if is_stdout(out):  # a stream: shards in a private temporary folder, written straight to stdout
        tmp_parts = Path(tempfile.mkdtemp(prefix="textgan-generate-"))
        try:
            return _generate(checkpoint, num, out, fmt, sampling, shard_size, batch_size, drop_duplicates,
                             drop_train_copies, train, device, progress, max_draw_factor, tmp_parts,
                             label=label, labels=labels)
        finally:
            shutil.rmtree(tmp_parts, ignore_errors=True)
    out = Path(out)
    check_output(out, folder=fmt == "hf", own=("state.json", "dataset_info.json"))
    check_output(manifest_path(out), flag="--out's manifest")
    check_output(parts_dir(out), folder=True, own=("manifest.json",), flag="--out's shard folder")
    return _generate(checkpoint, num, out, fmt, sampling, shard_size, batch_size, drop_duplicates,
                     drop_train_copies, train, device, progress, max_draw_factor, None, fixed_shards,
                     label=label, labels=labels)


MAX_SAMPLE_BYTES = 2 << 30  # token ids of one sampled batch: beyond this --max-len x --batch-size is refused


def check_max_len(max_len: int, model_len: int, batch_size: int) -> None:
    """Refuse a ``--max-len`` whose batch of ids would not fit in memory; warn above the model's length.

    Raises:
        TextganError: ``batch_size * max_len`` token ids (and their padded copy) above 2 GiB.
    """
    need = 2 * 8 * batch_size * max_len  # int64 ids, and the padded copy made after sampling
    if need > MAX_SAMPLE_BYTES:
        fit = max(1, MAX_SAMPLE_BYTES // (16 * batch_size))
        raise TextganError(f"--max-len {max_len} with --batch-size {batch_size} needs about {need / 2**30:.0f} GiB for the "
                           f"token ids alone (the model was trained on {model_len} tokens): lower --max-len (at most "
                           f"{fit} at this batch size) or --batch-size")
    if max_len > model_len:
        log.warning("--max-len %d is above the model's training length %d: the model never saw texts that long (they "
                    "drift), and time grows with --max-len", max_len, model_len)


def label_mix(model: Any, label: str | None, labels: str | None) -> dict[str, float] | None:
    """The classes to generate, name -> weight: None for an unconditional model (no flag allowed),
    ``{label: 1.0}`` for ``--label``, the parsed ``--labels`` mix, else the model's training mix.

    Raises:
        TextganError: a flag for an unconditional model, both flags, an unknown class (the message
            lists the valid ones) or a bad weight.
    """
    names = getattr(model, "label_names", None)
    if names is None:
        if label is not None or labels is not None:
            raise TextganError(f"--label/--labels need a label-conditional generator and this {type(model).__name__} "
                               "generates without labels: drop --label/--labels (or train generator.type=conditional_lstm)")
        return None
    if label is not None and labels is not None:
        raise TextganError("--label and --labels both choose the classes: pass one of them")

    def resolve(name: str) -> str:
        name = name.strip()
        if name in names:
            return name
        if name.isdigit() and int(name) < len(names):
            return names[int(name)]
        raise TextganError(f"unknown label {name!r}: this model's labels are {', '.join(names)} "
                           f"(or their indices 0-{len(names) - 1})")

    if label is not None:
        return {resolve(label): 1.0}
    if labels is None:
        return dict(zip(names, model.label_prior.tolist()))
    mix: dict[str, float] = {}
    for item in labels.split(","):
        name, sep, weight = item.rpartition(":")
        try:
            value = float(weight) if sep else -1.0
        except ValueError:
            value = -1.0
        if not value >= 0:
            raise TextganError(f"--labels entry {item.strip()!r} is not NAME:WEIGHT with a weight >= 0: "
                               "write e.g. --labels false:0.5,true:0.5")
        mix[resolve(name)] = mix.get(resolve(name), 0.0) + value
    if sum(mix.values()) <= 0:
        raise TextganError("--labels weights sum to 0: give at least one class a positive weight")
    return mix


def _generate(checkpoint, num, out, fmt, sampling, shard_size, batch_size, drop_duplicates, drop_train_copies,
              train, device, progress, max_draw_factor, stream_parts: Path | None,
              fixed_shards: bool = False, label: str | None = None, labels: str | None = None) -> GenerationResult:
    """`generate_texts` once ``out`` is checked; ``stream_parts``: the temporary shard folder of a stream."""
    from .device import resolve_device
    from .engine.distributed import setup
    from .train.checkpoint import load_generator

    start = time.perf_counter()
    dist = setup("cuda" if str(device).startswith("cuda") or (device == "auto" and torch.cuda.is_available())
                 else "cpu")
    if dist.active and stream_parts is not None:
        raise TextganError("under torchrun --out must be a file or folder on a file system every rank sees, not "
                           "standard output: pass --out FILE")
    dev = resolve_device(device)
    loaded = load_generator(checkpoint, dev)
    model, vocab = loaded.model, loaded.vocab
    mix = label_mix(model, label, labels)  # before anything is written: a bad label leaves nothing behind
    max_len = sampling.max_len or model.max_len
    check_max_len(max_len, model.max_len, batch_size)
    sampling_rec = {"temperature": sampling.temperature, "top_k": sampling.top_k, "top_p": sampling.top_p,
                    "min_len": sampling.min_len, "max_len": max_len, "seed": sampling.seed}
    if sampling.ban_unk:  # only when set: outputs written before the option resume unchanged
        if vocab.unk_id is None:
            raise TextganError("--ban-unk: this model's vocabulary has no <unk>, so it never writes one: drop --ban-unk")
        sampling_rec["ban_unk"] = True
    settings = {"checkpoint_sha256": loaded.sha256, "num": num, "sampling": sampling_rec, "format": fmt,
                "shard_size": shard_size, "batch_size": batch_size, "drop_duplicates": drop_duplicates,
                "drop_train_copies": drop_train_copies, "train": None if train is None else str(train),
                "device": dev.type}
    if mix is not None:  # a conditional model's classes (unconditional settings, and old manifests, are unchanged)
        settings["labels"] = mix
    parts, final_manifest = parts_dir(out), manifest_path(out)
    if stream_parts is not None:
        parts, final_manifest = stream_parts, None
    if dist.active or fixed_shards or "fixed" in (_found_layout(parts), _found_layout(final_manifest)):
        settings["layout"] = "fixed"  # texts independent of the number of processes (see _draw_fixed)

    if final_manifest is not None and final_manifest.is_file() and out.exists():
        done = json.loads(final_manifest.read_text(encoding="utf-8"))
        _check_settings(done.get("settings", {}), settings, out)
        shutil.rmtree(parts, ignore_errors=True)  # left over by a kill after the merge
        return GenerationResult(out, fmt, done["num"], done["drawn"], done["dropped"], len(done["shards"]), num,
                                time.perf_counter() - start, 0.0, final_manifest, already_complete=True)

    if settings.get("layout") == "fixed":
        return _draw_fixed(loaded, dev, dist, num, out, fmt, sampling, sampling_rec, settings, parts, final_manifest,
                           shard_size, batch_size, drop_duplicates, drop_train_copies, train, progress,
                           max_draw_factor, max_len, start)
    manifest: dict = {"format": MANIFEST_FORMAT, "settings": settings, "shards": []}
    if (parts / "manifest.json").is_file():
        found = json.loads((parts / "manifest.json").read_text(encoding="utf-8"))
        _check_settings(found.get("settings", {}), settings, parts)
        manifest["shards"] = _valid_shards(parts, found)
    made_parts = not parts.exists()
    try:
        parts.mkdir(parents=True, exist_ok=True)
        _clean_parts(parts, {e["file"] for e in manifest["shards"]})
        write_json(parts / "manifest.json", manifest)
        return _draw_and_merge(loaded, dev, num, out, fmt, sampling, sampling_rec, settings, manifest, parts,
                               final_manifest, shard_size, batch_size, drop_duplicates, drop_train_copies, train,
                               progress, max_draw_factor, max_len, start)
    except BaseException:
        if made_parts and not manifest["shards"]:  # nothing finished: leave nothing behind
            shutil.rmtree(parts, ignore_errors=True)
        raise


def _draw_and_merge(loaded, dev, num, out, fmt, sampling, sampling_rec, settings, manifest, parts, final_manifest,
                    shard_size, batch_size, drop_duplicates, drop_train_copies, train, progress, max_draw_factor,
                    max_len, start) -> GenerationResult:
    """Draw the missing shards into ``parts``, then merge them into ``out`` (see `generate_texts`)."""
    from tqdm.auto import tqdm

    # State carried across shards, rebuilt from the finished shards on resume.
    kept_keys: set[bytes] = set()
    kept = sum(e["kept"] for e in manifest["shards"])
    if drop_duplicates:
        for e in manifest["shards"]:
            kept_keys.update(_text_key(json.loads(line)["text"]) for line in _read_lines(parts / e["file"]))
    train_keys = training_sequences(loaded, train) if drop_train_copies else set()
    resumed = kept
    if resumed:
        log.info("resuming %s: %d of %d texts in %d finished shards", parts, kept, num, len(manifest["shards"]))

    base = {"label": "generated", "model": loaded.kind, "recipe": loaded.config.get("extra", {}).get("recipe"),
            "checkpoint_sha256": loaded.sha256, "sampling": sampling_rec}
    max_draws = max(max_draw_factor * num, 1000)
    bar = tqdm(total=num, initial=kept, unit="text", desc="generate", disable=not progress, dynamic_ncols=True)
    try:
        while kept < num:
            index = len(manifest["shards"])
            drawn_total = sum(e["drawn"] for e in manifest["shards"])
            if drawn_total >= max_draws:
                dropped = _sum_dropped(manifest["shards"])
                raise TextganError(f"after drawing {drawn_total} texts only {kept} of {num} passed the filters "
                                   f"(dropped: {dropped}): lower --num or --min-len, raise --temperature, or drop a filter")
            # Draw what is still missing, scaled up by the share the filters dropped so far (the
            # history is the same on resume, so the draws are too).
            done = sum(e["kept"] for e in manifest["shards"])
            draw = num - kept if not drawn_total else -(-(num - kept) * drawn_total // max(done, 1))
            draw = min(shard_size, max(draw, num - kept))
            rng = torch.Generator(device=dev).manual_seed(shard_seed(sampling.seed, index))
            lines, examined, dropped = _draw_shard(loaded, draw, rng, sampling, max_len, batch_size, base,
                                                   train_keys if drop_train_copies else None,
                                                   kept_keys if drop_duplicates else None, kept, num - kept, bar,
                                                   mix=settings.get("labels"))
            name = f"shard-{index:05d}.jsonl"
            with atomic_open(parts / name) as f:
                f.write("".join(line + "\n" for line in lines))
            manifest["shards"].append({"index": index, "file": name, "seed": shard_seed(sampling.seed, index),
                                       "drawn": examined, "kept": len(lines), "dropped": dropped,
                                       "sha256": _sha256(parts / name)})
            write_json(parts / "manifest.json", manifest)
            kept += len(lines)
    finally:
        bar.close()

    shards = manifest["shards"]
    _merge(parts, [parts / e["file"] for e in shards], out, fmt)
    seconds = time.perf_counter() - start
    drawn, dropped_total = sum(e["drawn"] for e in shards), _sum_dropped(shards)
    if final_manifest is None:  # standard output: no manifest, nothing to resume
        rate = kept / seconds if seconds > 0 else 0.0
        return GenerationResult(out, fmt, kept, drawn, dropped_total, len(shards), 0, seconds, rate, None)
    write_json(final_manifest, {"format": MANIFEST_FORMAT, "settings": settings, "num": kept, "drawn": drawn,
                                "dropped": dropped_total, "shards": shards, "output": str(out)})
    shutil.rmtree(parts, ignore_errors=True)
    rate = (kept - resumed) / seconds if seconds > 0 else 0.0
    return GenerationResult(out, fmt, kept, drawn, dropped_total, len(shards), resumed, seconds, rate, final_manifest)


def _draw_shard(loaded, draw: int, rng: torch.Generator, sampling: SamplingSettings, max_len: int, batch_size: int,
                base: dict, train_keys: set | None, kept_keys: set | None, first_id: int, limit: int | None,
                bar, mix: dict[str, float] | None = None) -> tuple[list[str], int, dict[str, int]]:
    """Sample ``draw`` texts in batches and filter them: one shard's JSONL lines.

    Args:
        train_keys: training sequences to drop (None: keep copies).
        kept_keys: keys of the texts kept so far, extended here (None: no duplicate filter).
        first_id: the ``id`` of the shard's first kept record.
        limit: stop once this many texts are kept; later texts are not examined (None: examine all).
        mix: a conditional model's classes, name -> weight: each row's class is drawn from it with
            ``rng`` before its batch is sampled (None: an unconditional model).

    Returns:
        ``(lines, examined, dropped)``: the records as JSON lines, the texts examined, and the
        drop counts by reason.
    """
    model, vocab = loaded.model, loaded.vocab
    lines: list[str] = []
    dropped = dict.fromkeys(DROP_REASONS, 0)
    examined = 0
    for b in range(0, draw, batch_size):
        if limit is not None and len(lines) >= limit:
            break
        n = min(batch_size, draw - b)
        cond, classes = {}, [None] * n
        if mix is not None:
            weights = torch.tensor([mix.get(name, 0.0) for name in model.label_names], device=rng.device)
            cond = {"labels": torch.multinomial(weights, n, replacement=True, generator=rng)}
            classes = cond["labels"].tolist()
        with model.banning((vocab.unk_id,) if sampling.ban_unk else ()):
            ids = model.sample(n, max_len, temperature=sampling.temperature, top_k=sampling.top_k,
                               top_p=sampling.top_p, generator=rng, batch_size=n, **cond)
        before = len(lines)
        for row, cls in zip(ids.tolist(), classes):
            if limit is not None and len(lines) >= limit:  # texts past the last one needed are not examined
                break
            examined += 1
            seq = _content(row, vocab.eos_id, vocab.pad_id)
            if len(seq) < sampling.min_len:
                dropped["too_short"] += 1
                continue
            if train_keys is not None and seq in train_keys:
                dropped["train_copy"] += 1
                continue
            tokens = vocab.decode(seq)
            text = " ".join(tokens) if loaded.tokenizer is None else loaded.tokenizer.detokenize(tokens)
            if kept_keys is not None:
                key = _text_key(text)
                if key in kept_keys:
                    dropped["duplicate"] += 1
                    continue
                kept_keys.add(key)
            record = {"id": first_id + len(lines), "text": text, **base}
            if cls is not None:
                record.update(class_label=cls, class_name=model.label_names[cls])
            lines.append(json.dumps(record, ensure_ascii=False))
        if bar is not None:
            bar.update(len(lines) - before)
            if any(dropped.values()):
                bar.set_postfix(dropped=sum(dropped.values()), refresh=False)
    return lines, examined, dropped


def shard_entry(parts: Path, index: int) -> dict | None:
    """Shard ``index``'s entry (``shard-XXXXX.json``) in ``parts``, None when it is missing or its
    file is damaged (its sha256 differs); shared by the fixed-shard layouts of ``generate`` and ``embed``."""
    try:
        e = json.loads((parts / f"shard-{index:05d}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    path = parts / e.get("file", "")
    return e if path.is_file() and _sha256(path) == e.get("sha256") else None


def _found_layout(where: Path | None) -> str | None:
    """The shard layout of an interrupted run's shard folder or of a finished run's manifest file
    (None when there is none)."""
    if where is None:
        return None
    try:
        path = where / "manifest.json" if where.is_dir() else where
        return json.loads(path.read_text(encoding="utf-8"))["settings"].get("layout")
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _draw_fixed(loaded, dev, dist, num, out, fmt, sampling, sampling_rec, settings, parts, final_manifest,
                shard_size, batch_size, drop_duplicates, drop_train_copies, train, progress, max_draw_factor,
                max_len, start) -> GenerationResult:
    """Shards of a fixed size, drawn by several processes (``torchrun ... -m textgan generate``).

    Shard ``i`` samples exactly ``shard_size`` texts from the stream ``shard_seed(seed, i)`` and
    drops, on its own, too-short texts and training copies; so its content depends on nothing
    but ``i``, and the output is the same for any number of processes. Rounds of ``world`` shards
    run side by side (rank ``r`` draws shard ``round * world + r``); each finished shard writes its
    file and a small entry (``shard-XXXXX.json``: counts and sha256) atomically, so a killed run
    resumes, with any number of processes. After each round rank 0 counts the texts kept so
    far, in shard order and after dropping duplicates across shards, and all ranks stop once
    ``num`` are kept. Rank 0 then merges the shards in order (duplicates dropped, ids numbered
    0..num-1, texts beyond ``num`` left out) into ``out``. The output directory must be on a
    file system every process sees.
    """
    from tqdm.auto import tqdm

    base = {"label": "generated", "model": loaded.kind, "recipe": loaded.config.get("extra", {}).get("recipe"),
            "checkpoint_sha256": loaded.sha256, "sampling": sampling_rec}
    train_keys = training_sequences(loaded, train) if drop_train_copies else None
    if dist.is_main:
        if (parts / "manifest.json").is_file():
            _check_settings(json.loads((parts / "manifest.json").read_text(encoding="utf-8")).get("settings", {}),
                            settings, parts)
        parts.mkdir(parents=True, exist_ok=True)
        write_json(parts / "manifest.json", {"format": MANIFEST_FORMAT, "settings": settings, "shards": []})
    dist.barrier()

    def entry(index: int) -> dict | None:
        return shard_entry(parts, index)

    max_draws = max(max_draw_factor * num, 1000)
    kept_keys: set[bytes] = set()
    counted: list[dict] = []  # rank 0: the shards counted so far, in order, each with its kept count after duplicates
    kept = drawn = 0
    bar = tqdm(total=num, unit="text", desc="generate", disable=not (progress and dist.is_main), dynamic_ncols=True)
    try:
        for round_ in range(10**9):
            index = round_ * dist.world + dist.rank
            if entry(index) is None:
                rng = torch.Generator(device=dev).manual_seed(shard_seed(sampling.seed, index))
                lines, examined, dropped = _draw_shard(loaded, shard_size, rng, sampling, max_len, batch_size, base,
                                                       train_keys, None, 0, None, None, mix=settings.get("labels"))
                name = f"shard-{index:05d}.jsonl"
                with atomic_open(parts / name) as f:
                    f.write("".join(line + "\n" for line in lines))
                write_json(parts / f"shard-{index:05d}.json",
                           {"index": index, "file": name, "seed": shard_seed(sampling.seed, index), "drawn": examined,
                            "kept": len(lines), "dropped": dropped, "sha256": _sha256(parts / name)})
            dist.barrier()
            verdict = 0  # rank 0 decides: 0 go on, 1 enough texts, 2 the filters reject almost everything
            if dist.is_main:
                for i in range(len(counted), (round_ + 1) * dist.world):
                    e = entry(i)
                    records = [json.loads(line) for line in _read_lines(parts / e["file"])]
                    fresh = 0
                    for r in records:
                        key = _text_key(r["text"])
                        if drop_duplicates and key in kept_keys:
                            continue
                        if drop_duplicates:
                            kept_keys.add(key)
                        fresh += 1
                    counted.append({**e, "unique": fresh})
                    kept, drawn = kept + fresh, drawn + e["drawn"]
                    bar.update(min(fresh, max(num - bar.n, 0)))
                    if kept >= num:
                        break
                verdict = 1 if kept >= num else 2 if drawn >= max_draws else 0
            verdict = dist.max(verdict)
            if verdict == 2:
                raise TextganError(f"after drawing {dist.broadcast(str(drawn))} texts too few passed the filters: lower "
                                   "--num or --min-len, raise --temperature, or drop a filter")
            if verdict == 1:
                break
    finally:
        bar.close()
    result = None
    if dist.is_main:
        result = _merge_fixed(parts, counted, num, out, fmt, settings, final_manifest, drop_duplicates, start)
    dist.barrier()
    if result is None:  # another rank: the same counts, read from rank 0's manifest
        done = json.loads(final_manifest.read_text(encoding="utf-8"))
        result = GenerationResult(out, fmt, done["num"], done["drawn"], done["dropped"], len(done["shards"]), 0,
                                  time.perf_counter() - start, 0.0, final_manifest)
    return result


def _merge_fixed(parts: Path, counted: list[dict], num: int, out: Path, fmt: str, settings: dict,
                 final_manifest: Path | None, drop_duplicates: bool, start: float) -> GenerationResult:
    """Rank 0 of :func:`_draw_fixed`: the first ``num`` texts of the shards in order, duplicates dropped,
    renumbered, written to ``out``; then the manifest, and the shard folder removed."""
    merged = parts / "merged.jsonl"
    seen: set[bytes] = set()
    kept = duplicates = 0
    with atomic_open(merged) as f:
        for e in counted:
            for line in _read_lines(parts / e["file"]):
                if kept >= num:
                    break
                record = json.loads(line)
                key = _text_key(record["text"])
                if drop_duplicates and key in seen:
                    duplicates += 1
                    continue
                seen.add(key)
                record["id"] = kept
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
                kept += 1
    _merge(parts, [merged], out, fmt)
    shards = [{k: v for k, v in e.items() if k != "unique"} for e in counted]
    drawn = sum(e["drawn"] for e in shards)
    dropped = _sum_dropped(shards)
    dropped["duplicate"] = duplicates
    seconds = time.perf_counter() - start
    write_json(final_manifest, {"format": MANIFEST_FORMAT, "settings": settings, "num": kept, "drawn": drawn,
                                "dropped": dropped, "shards": shards, "output": str(out)})
    shutil.rmtree(parts, ignore_errors=True)
    return GenerationResult(out, fmt, kept, drawn, dropped, len(shards), 0, seconds,
                            kept / seconds if seconds > 0 else 0.0, final_manifest)


def _sum_dropped(shards: list[dict]) -> dict[str, int]:
    return {r: sum(e["dropped"].get(r, 0) for e in shards) for r in DROP_REASONS}


# --------------------------------------------------------------------------- output formats


def iter_records(files: list[Path]) -> Iterator[dict]:
    """The records of JSONL shard files, in order."""
    for path in files:
        for line in _read_lines(path):
            yield json.loads(line)


def _merge(parts: Path, files: list[Path], out: Path, fmt: str) -> None:
    """Write the shards' records to ``out`` in ``fmt``, atomically (temporary name, then rename)."""
    if fmt == "jsonl":
        with atomic_open(out) as dst:
            for path in files:
                with open(path, encoding="utf-8") as src:
                    shutil.copyfileobj(src, dst)
        return
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        from .io import atomic_tmp_path

        tmp = atomic_tmp_path(out)
        writer = None
        try:
            for path in files:
                table = pa.Table.from_pylist([json.loads(line) for line in _read_lines(path)])
                if table.num_rows == 0:
                    continue
                if writer is None:
                    writer = pq.ParquetWriter(str(tmp), table.schema)
                writer.write_table(table.cast(writer.schema))
            if writer is not None:
                writer.close()
                writer = None
            os.replace(tmp, out)
        except BaseException:
            if writer is not None:
                writer.close()
            tmp.unlink(missing_ok=True)
            raise
        return
    from datasets import Dataset

    tmp = parts / "dataset.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    with quiet_datasets():
        Dataset.from_list(list(iter_records(files))).save_to_disk(str(tmp))
    replace_dir(tmp, out)


class quiet_datasets:
    """Silence the datasets library's progress bars for one block (the previous state is restored)."""

    def __enter__(self) -> None:
        from datasets.utils import logging as dlog

        self._was = dlog.is_progress_bar_enabled()
        dlog.disable_progress_bar()

    def __exit__(self, *exc: object) -> None:
        from datasets.utils import logging as dlog

        if self._was:
            dlog.enable_progress_bar()


def read_generated(path: str | Path) -> list[dict]:
    """The records of a ``textgan generate`` output (JSONL, Parquet or ``datasets`` folder).

    Raises:
        TextganError: the path does not exist, or holds no record with a ``text`` field.
    """
    path = Path(path)
    if not path.exists():
        raise TextganError(f"generated file {str(path)!r} not found: pass the --out of a `textgan generate` run")
    if path.is_dir():
        from datasets import load_from_disk

        try:
            records = load_from_disk(str(path)).to_list()
        except Exception as e:  # datasets raises several types for a folder it did not write
            raise TextganError(f"{str(path)!r} is not a dataset folder written by `textgan generate --format hf` ({type(e).__name__}): "
                               "pass a .jsonl, .parquet or dataset folder") from None
    elif path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        records = pq.read_table(str(path)).to_pylist()
    elif path.suffix.lower() == ".txt":
        with open(path, encoding="utf-8") as f:
            records = [{"text": line.rstrip("\n")} for line in f]
    else:
        records = []
        with open(path, encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    rec = None
                if not isinstance(rec, dict):
                    raise TextganError(f"{str(path)!r} line {i} is not a JSON object: pass the JSONL written by `textgan generate`")
                records.append(rec)
    records = [r for r in records if isinstance(r.get("text"), str) and r["text"].strip()]
    if not records:
        raise TextganError(f"{str(path)!r} holds no generated text: pass the output of `textgan generate`")
    return records


def format_result(result: GenerationResult) -> str:
    """One or two lines for the CLI."""
    if result.already_complete:
        return f"{result.path} already holds {result.num} texts generated with these settings (nothing to do)"
    dropped = {k: v for k, v in result.dropped.items() if v}
    extra = f"; dropped {sum(dropped.values())} ({', '.join(f'{k} {v}' for k, v in dropped.items())})" if dropped else ""
    resumed = f", resumed after {result.resumed}" if result.resumed else ""
    return (f"wrote {result.num} texts to {result.path} ({result.format}, {result.shards} shards{resumed}) in "
            f"{result.seconds:.1f} s, {result.texts_per_second:.0f} texts/s; drew {result.drawn}{extra}")


__all__ = ["SamplingSettings", "GenerationResult", "generate_texts", "shard_seed", "training_sequences",
           "read_generated", "format_result", "resolve_format", "parts_dir", "manifest_path", "FORMATS"]
