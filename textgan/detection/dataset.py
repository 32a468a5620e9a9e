"""Real-versus-generated detection datasets: loading the real texts, building the balanced splits, writing the folder.

The folder layout and record format are described in :mod:`textgan.detection`.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..errors import TextganError
from ..io import atomic_open, check_output, is_stdout, replace_dir, write_json
from .canonical import make_canonicalizer
from .card import dataset_card

LABEL_NAMES: tuple[str, ...] = ("real", "generated")
SPLITS: tuple[str, ...] = ("train", "validation", "test")
DETECTION_FORMAT = "textgan.detection/2"
META_SOURCE = "meta_source"  # provenance: the real corpus or the generated file (reveals the label: never a feature)


def textgan_version() -> str:
    import importlib.metadata as md

    try:
        return md.version("textgan")
    except md.PackageNotFoundError:
        return "unknown"


# --------------------------------------------------------------------------- sources


def load_real_texts(real: str | Path, labels: Sequence[str] | None = None,
                    text_column: str | None = None) -> tuple[list[str], dict]:
    """Texts of the real part: a named corpus (``NAME`` = every split present locally,
    ``NAME:SPLIT`` = one split) or a user file / folder.

    Args:
        real: the source.
        labels: keep only rows whose ``label`` (as a string) is one of these (e.g. ``["1"]`` for
            the credible articles of ``fake_news/fa_kes``).
        text_column: the text column of a user file.

    Returns:
        The texts and a description for the card: spec, corpus, splits, title, license, source.
    """
    from ..data.corpus import _REGISTRY, load_corpus, split_status

    spec = str(real)
    name, splits = spec, None
    if ":" in spec and spec.rsplit(":", 1)[0] in _REGISTRY:
        name, split = spec.rsplit(":", 1)
        splits = [split]
    info: dict[str, Any] = {"spec": spec, "corpus": None, "splits": None, "title": None,
                            "license": "unknown (a user file: state its license here)", "source": spec,
                            "labels": None if labels is None else list(labels)}
    if name in _REGISTRY:
        card = _REGISTRY[name]
        if splits is None:
            status = split_status(card)
            splits = [s for s, files in status.items() if files and all(p is not None for p in files.values())]
            if not splits:
                raise TextganError(f"no split of corpus {name!r} is present locally: set TEXTGAN_CORPORA or see `textgan corpus info {name}`")
        info.update(corpus=name, splits=splits, title=card.title, license=card.license, source=card.source)
        datasets = [load_corpus(name, s, text_column=text_column) for s in splits]
    else:
        datasets = [load_corpus(spec, "train", text_column=text_column)]
    texts: list[str] = []
    for ds in datasets:
        if labels is None:
            texts.extend(ds["text"])
            continue
        if "label" not in ds.column_names:
            raise TextganError(f"real source {spec!r} has no label column, so --real-label cannot select rows: drop --real-label")
        wanted = {str(x) for x in labels}
        texts.extend(t for t, lab in zip(ds["text"], ds["label"]) if str(lab) in wanted)
    if not texts:
        raise TextganError(f"real source {spec!r} has no text with label in {list(labels or [])}: check --real-label")
    return texts, info


def describe_generated(path: Path, records: list[dict]) -> dict:
    """What the card says about one generated file: its generator, checkpoint and sampling settings."""

    def distinct(key: str) -> list:
        seen = []
        for r in records:
            v = r.get(key)
            if v is not None and v not in seen:
                seen.append(v)
        return seen

    return {"path": str(path), "num_records": len(records), "model": distinct("model"), "recipe": distinct("recipe"),
            "checkpoint_sha256": distinct("checkpoint_sha256"), "sampling": distinct("sampling")}


# --------------------------------------------------------------------------- dataset


@dataclass
class DetectionDataset:
    """What :func:`build_detection_dataset` wrote.

    Attributes:
        path: the dataset folder.
        counts: split -> {"real": n, "generated": n} (equal within each split).
        removed: texts left out and why (duplicates, generated texts identical to a real one,
            texts beyond the balanced size).
        assignment: split -> generated sources used in it.
    """

    path: Path
    counts: dict[str, dict[str, int]]
    removed: dict[str, int]
    assignment: dict[str, list[str]]


def _fraction_sizes(n: int, validation_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    n_test = round(n * test_fraction)
    n_val = round(n * validation_fraction)
    return n - n_val - n_test, n_val, n_test


def build_detection_dataset(real: str | Path, generated: Sequence[str | Path], out: str | Path, *,
                            real_labels: Sequence[str] | None = None, real_max_tokens: int | None = None,
                            text_column: str | None = None, mix_runs: bool = False,
                            validation_fraction: float = 0.1, test_fraction: float = 0.1,
                            max_per_class: int | None = None, seed: int = 0,
                            generator: str | Path | None = None, oov: str | None = None,
                            generator_train: str | None = None) -> DetectionDataset:
    """Build a balanced real-versus-generated dataset with train / validation / test splits.

    Construction: every text, real or generated, goes through the same
    :class:`~textgan.detection.canonical.Canonicalizer` (the generator's tokenizer, vocabulary
    and detokenization when ``generator`` is given, else whitespace tokens joined by single
    spaces) and is cut to ``real_max_tokens`` tokens (so real texts match the generator's length
    budget); real texts are de-duplicated; generated texts are de-duplicated across
    all runs and any generated text identical to a real text (after whitespace normalisation)
    is removed. Generated texts are split by source run unless ``mix_runs``: with one run its
    texts are split by the fractions; with two, the first gives train + validation and the
    second test; with three or more, the last is test, the one before validation, the rest
    train. Each split then gets as many real texts as generated ones (both are subsampled
    proportionally when the real texts are fewer).

    Args:
        real: real texts: ``NAME``, ``NAME:SPLIT`` or a file (see :func:`load_real_texts`).
        generated: one file per generation run (``textgan generate`` output).
        out: dataset folder (replaced if it exists).
        real_labels: keep only real rows with these labels.
        real_max_tokens: cut real texts to this many whitespace tokens (None: keep whole).
        text_column: text column of a real user file.
        mix_runs: pool every run's texts before splitting.
        validation_fraction: share of texts in validation.
        test_fraction: share of texts in test.
        max_per_class: cap on texts per class, over all splits.
        seed: shuffling seed.
        generator: the run or checkpoint folder of the generator: its tokenizer and vocabulary
            define what it can emit (strongly advised: without it real texts may hold words the
            generator can never write).
        oov: real tokens outside the generator's vocabulary: "unk" (map to ``<unk>``, default),
            "drop" (drop the text) or "keep".
        generator_train: what the generator was trained on (for the card), e.g. "emnlp_news:valid".

    Returns:
        A :class:`DetectionDataset`.

    Raises:
        TextganError: a missing generated file, no generated text left, a split without text, or
            an ``out`` that is a file, link, device or a non-empty folder textgan did not write.
    """
    from ..generation import read_generated

    if not generated:
        raise TextganError("no generated texts given: pass --generated PATH (the output of `textgan generate`)")
    if not (0 <= validation_fraction < 1 and 0 < test_fraction < 1 and validation_fraction + test_fraction < 1):
        raise TextganError(f"validation and test fractions ({validation_fraction}, {test_fraction}) must be in [0, 1) "
                           "and sum below 1: e.g. 0.1 and 0.1")
    if is_stdout(out):
        raise TextganError("--out of `corpus detection` is a dataset folder, not a stream: pass a folder name")
    check_output(out, folder=True, own=("detection.json",))  # a foreign folder is never replaced
    gen_paths = [Path(p) for p in generated]
    gen_records = [read_generated(p) for p in gen_paths]  # checks every file before any work
    rng = random.Random(seed)
    removed = dict.fromkeys(("duplicate_real", "duplicate_generated", "generated_identical_to_real",
                             "real_unused", "generated_unused"), 0)

    canon = make_canonicalizer(generator, oov, real_max_tokens)
    real_texts, real_info = load_real_texts(real, real_labels, text_column)
    real_info["max_tokens"] = real_max_tokens
    real_norm: dict[str, str] = {}
    for t in real_texts:
        t = canon(t, "real")
        if t is None:
            continue
        if t in real_norm:
            removed["duplicate_real"] += 1
        else:
            real_norm[t] = t
    real_pool = list(real_norm.values())
    rng.shuffle(real_pool)

    seen: set[str] = set()
    runs: list[list[str]] = []
    for records in gen_records:
        kept = []
        for r in records:
            key = canon(r["text"], "generated")
            if key is None:
                continue
            if key in real_norm:
                removed["generated_identical_to_real"] += 1
            elif key in seen:
                removed["duplicate_generated"] += 1
            else:
                seen.add(key)
                kept.append(key)
        rng.shuffle(kept)
        runs.append(kept)
    names = [str(p) for p in gen_paths]

    # Generated texts per split, with the run each came from.
    by_split: dict[str, list[tuple[str, str]]] = {s: [] for s in SPLITS}
    assignment: dict[str, list[str]] = {s: [] for s in SPLITS}
    if mix_runs or len(runs) == 1:
        pool = [(t, names[i]) for i, run in enumerate(runs) for t in run]
        rng.shuffle(pool)
        n_train, n_val, _ = _fraction_sizes(len(pool), validation_fraction, test_fraction)
        parts = {"train": pool[:n_train], "validation": pool[n_train:n_train + n_val], "test": pool[n_train + n_val:]}
        for s in SPLITS:
            by_split[s] = parts[s]
            assignment[s] = sorted({src for _, src in parts[s]})
    else:
        if len(runs) == 2:
            first = [(t, names[0]) for t in runs[0]]
            share = validation_fraction / (1 - test_fraction)
            n_val = round(len(first) * share)
            by_split["train"], by_split["validation"] = first[n_val:], first[:n_val]
            by_split["test"] = [(t, names[1]) for t in runs[1]]
            assignment = {"train": [names[0]], "validation": [names[0]] if n_val else [], "test": [names[1]]}
        else:
            groups = {"train": list(range(len(runs) - 2)), "validation": [len(runs) - 2], "test": [len(runs) - 1]}
            for s, idx in groups.items():
                by_split[s] = [(t, names[i]) for i in idx for t in runs[i]]
                assignment[s] = [names[i] for i in idx]

    total_gen = sum(len(v) for v in by_split.values())
    if total_gen == 0:
        raise TextganError("no generated text is left after removing duplicates and copies of real texts: generate more, or more diverse, texts")
    budget = min(len(real_pool), total_gen, max_per_class or total_gen)
    sizes = {s: len(by_split[s]) * budget // total_gen for s in SPLITS}
    for s in SPLITS:
        if sizes[s] == 0 and (s != "validation" or validation_fraction > 0):
            raise TextganError(f"the {s} split would hold no text ({len(real_pool)} real, {total_gen} generated texts "
                               f"usable; per split {dict((k, len(v)) for k, v in by_split.items())}): pass more texts "
                               "or change the fractions")
    removed["generated_unused"] = total_gen - sum(sizes.values())
    removed["real_unused"] = len(real_pool) - sum(sizes.values())

    real_spec = real_info["corpus"] or str(real)
    splits: dict[str, list[dict]] = {}
    offset = 0
    for s in SPLITS:
        n = sizes[s]
        rows = [{"text": t, "label": 1, "label_name": "generated", META_SOURCE: src} for t, src in by_split[s][:n]]
        rows += [{"text": t, "label": 0, "label_name": "real", META_SOURCE: real_spec} for t in real_pool[offset:offset + n]]
        offset += n
        rng.shuffle(rows)
        splits[s] = [{"id": f"{s}-{i}", **r} for i, r in enumerate(rows)]
    counts = {s: {"real": sizes[s], "generated": sizes[s]} for s in SPLITS}

    meta = {"format": DETECTION_FORMAT, "real": {**real_info, "num_texts": len(real_texts)},
            "generated": [describe_generated(p, recs) for p, recs in zip(gen_paths, gen_records)],
            "counts": counts, "removed": removed, "assignment": assignment,
            "settings": {"mix_runs": mix_runs, "validation_fraction": validation_fraction,
                         "test_fraction": test_fraction, "max_per_class": max_per_class, "seed": seed,
                         "real_labels": real_info["labels"], "real_max_tokens": real_max_tokens},
            "labels": list(LABEL_NAMES),
            "canonical": canon.describe(),
            "generator_checkpoint": None if generator is None else str(generator),
            "generator_train": generator_train,
            "columns": {"features": ["text"], "label": ["label", "label_name"], "metadata": [META_SOURCE],
                        "note": "meta_* columns are provenance (they reveal the label by construction): never use them as features"},
            "textgan_version": textgan_version()}
    out = Path(out)
    _write_dataset_folder(out, splits, meta)
    return DetectionDataset(out, counts, removed, assignment)


def _write_dataset_folder(out: Path, splits: dict[str, list[dict]], meta: dict) -> None:
    """DatasetDict + JSONL + detection.json + README.md, built in a temporary folder, then renamed."""
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    from ..generation import quiet_datasets

    features = Features({"id": Value("string"), "text": Value("string"), "label": ClassLabel(names=list(LABEL_NAMES)),
                         "label_name": Value("string"), META_SOURCE: Value("string")})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        dd = DatasetDict({s: Dataset.from_list(rows, features=features) for s, rows in splits.items()})
        with quiet_datasets():
            dd.save_to_disk(str(tmp))
        for s, rows in splits.items():
            with atomic_open(tmp / f"{s}.jsonl") as f:
                for r in rows:
                    f.write(json.dumps(r, ensure_ascii=False) + "\n")
        write_json(tmp / "detection.json", meta)
        with atomic_open(tmp / "README.md") as f:
            f.write(dataset_card(meta))
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _load_split(path: Path, split: str) -> list[dict]:
    file = path / f"{split}.jsonl"
    if not file.is_file():
        raise TextganError(f"{str(path)!r} has no {split}.jsonl: pass a folder written by `textgan corpus detection`")
    with open(file, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
