"""Real-versus-generated detection datasets: loading the real texts, building the balanced splits, writing the folder.

The folder layout and record format are described in :mod:`textgan.detection`.
"""

from __future__ import annotations

import bisect
import json
import random
import shutil
import tempfile
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..errors import TextganError
from ..io import atomic_open, check_output, is_stdout, replace_dir, write_json
from .canonical import make_canonicalizer
from .card import dataset_card
from .neardup import DEFAULT_NUM_PERM, DEFAULT_SHINGLE, DEFAULT_THRESHOLD, NearDupIndex, check_threshold

LABEL_NAMES: tuple[str, ...] = ("real", "generated")
SPLITS: tuple[str, ...] = ("train", "validation", "test")
# /3: detection.json gained "split" and "near_duplicates" (and settings split_by, group_column, near_dup_*);
# a group split's records have a meta_group column. Readers take /2 folders as they are (no meta_group).
DETECTION_FORMAT = "textgan.detection/3"
META_SOURCE = "meta_source"  # provenance: the real corpus or the generated file (reveals the label: never a feature)
META_GROUP = "meta_group"  # the group (source, date, topic) of a group split (metadata: never a feature)
# The class of a label-conditional corpus (e.g. LIAR's truth label): the real row's corpus label, the generated
# row's conditioning label (``class_name`` of its record). Both classes share the same set of values.
CLASS_COLUMN = "class_name"
SPLIT_BY: tuple[str, ...] = ("run", "random", "source", "date", "topic")
GROUP_SPLITS: tuple[str, ...] = ("source", "date", "topic")
DEFAULT_GROUP_COLUMN = {"source": "source", "date": "date", "topic": "subject"}
# Fields every `textgan generate` record has: never a group of generated texts.
GENERATION_FIELDS = frozenset({"id", "text", "label", "model", "recipe", "checkpoint_sha256", "sampling"})


def textgan_version() -> str:
    import importlib.metadata as md

    try:
        return md.version("textgan")
    except md.PackageNotFoundError:
        return "unknown"


# --------------------------------------------------------------------------- sources


def load_real_texts(real: str | Path, labels: Sequence[str] | None = None,
                    text_column: str | None = None, group_column: str | None = None,
                    classes: bool = False) -> tuple[list[str], dict]:
    """Texts of the real part: a named corpus (``NAME`` = every split present locally,
    ``NAME:SPLIT`` = one split) or a user file / folder.

    Args:
        real: the source.
        labels: keep only rows whose ``label`` (as a string) is one of these (e.g. ``["1"]`` for
            the credible articles of ``fake_news/fa_kes``).
        text_column: the text column of a user file.
        group_column: also keep this metadata column (e.g. ``platform`` of FakeNewsNet v1,
            ``date`` of FA-KES, ``subject`` of LIAR): its values, one per text and in the same
            order, are in ``info["groups"]`` (for the group splits of :func:`build_detection_dataset`).
        classes: also keep each text's class (its ``label_name``, else its ``label``) in
            ``info["classes"]`` (for a label-conditional dataset).

    Returns:
        The texts and a description for the card: spec, corpus, splits, title, license, source
        (and ``groups`` with ``group_column``).

    Raises:
        TextganError: no such source, no label column for ``labels``, no text left, or no column
            ``group_column`` (the message lists the columns there are).
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
    groups: list[Any] = []
    classes_of: list[str] = []
    wanted = None if labels is None else {str(x) for x in labels}
    for ds in datasets:
        if wanted is not None and "label" not in ds.column_names:
            raise TextganError(f"real source {spec!r} has no label column, so --real-label cannot select rows: drop --real-label")
        if group_column is not None and group_column not in ds.column_names:
            others = [c for c in ds.column_names if c != "text"]
            raise TextganError(f"real source {spec!r} has no column {group_column!r} to split by (its columns: "
                               f"{others or 'none besides text'}): pass --real-group-column with one of them, or --split-by run")
        column = ds["text"]
        keep = range(len(column)) if wanted is None else [i for i, lab in enumerate(ds["label"]) if str(lab) in wanted]
        texts.extend(column[i] for i in keep)
        if group_column is not None:
            values = ds[group_column]
            groups.extend(values[i] for i in keep)
        if classes:
            name = "label_name" if "label_name" in ds.column_names else "label" if "label" in ds.column_names else None
            if name is None:
                raise TextganError(f"the generated texts carry classes (a label-conditional generator) but real source "
                                   f"{spec!r} has no label column: use a labelled corpus (e.g. fake_news/liar) or "
                                   "generate without labels")
            values = ds[name]
            classes_of.extend(str(values[i]) for i in keep)
    if not texts:
        raise TextganError(f"real source {spec!r} has no text with label in {list(labels or [])}: check --real-label")
    if group_column is not None:
        info["groups"] = groups
    if classes:
        info["classes"] = classes_of
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
            texts beyond the balanced size; with a group split, real texts without a group value
            and grouped generated texts whose group has no real text).
        assignment: split -> generated sources used in it.
        split: how the texts were split (``detection.json``'s ``split``: method, groups per split).
        near_duplicates: the near-duplicate removal (``detection.json``'s ``near_duplicates``:
            settings and removed texts per split and class).
    """

    path: Path
    counts: dict[str, dict[str, int]]
    removed: dict[str, int]
    assignment: dict[str, list[str]]
    split: dict = field(default_factory=dict)
    near_duplicates: dict = field(default_factory=dict)


def _fraction_sizes(n: int, validation_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    n_test = round(n * test_fraction)
    n_val = round(n * validation_fraction)
    return n - n_val - n_test, n_val, n_test


# --------------------------------------------------------------------------- group splits

_DATE_FORMATS = ("%m/%d/%Y", "%m/%d/%y", "%Y/%m/%d", "%d %b %Y", "%d %B %Y", "%b %d %Y", "%b %d, %Y", "%B %d %Y",
                 "%B %d, %Y", "%a %d %b %Y", "%Y-%m", "%Y")


def parse_date(value: Any) -> datetime | float:
    """A sortable date from a metadata value: ISO 8601 (``2016-09-19T00:00:00Z``), ``M/D/YYYY``
    (FA-KES), ``YYYY/MM/DD``, ``5 Apr 2017``, ``Apr 5, 2017``, ``YYYY-MM``, ``YYYY``; a number is
    kept as a number (a year or a timestamp). Aware times are converted to UTC.

    Raises:
        TextganError: a value that is none of these.
    """
    if isinstance(value, bool):
        raise TextganError(f"date value {value!r} is not a date: use ISO dates (YYYY-MM-DD), or --split-by source|topic")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    else:
        text = " ".join(str(value).split())
        parsed = None
        try:
            parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            for fmt in _DATE_FORMATS:
                try:
                    parsed = datetime.strptime(text, fmt)
                    break
                except ValueError:
                    continue
        if parsed is None:
            raise TextganError(f"date value {str(value)[:40]!r} is not a date textgan reads (ISO YYYY-MM-DD[THH:MM:SS], "
                               "M/D/YYYY, YYYY/MM/DD, 5 Apr 2017, Apr 5, 2017, YYYY): convert the column, or --split-by source|topic")
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed


def _day(d: datetime | float) -> datetime | float:
    """The calendar day of a date (the groups of a date split are days: a day is never in two splits)."""
    return d if isinstance(d, float) else datetime(d.year, d.month, d.day)


def _date_name(d: datetime | float) -> str:
    if isinstance(d, float):
        return str(int(d)) if d.is_integer() else str(d)
    return d.date().isoformat() if d.time() == datetime.min.time() else d.isoformat()


def _group_name(value: Any) -> str | None:
    """A group's name (a string), or None for a missing value (None, blank, empty list)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        parts = [str(v).strip() for v in value if v is not None and str(v).strip()]
        return ", ".join(parts) or None
    text = str(value).strip()
    return text or None


def assign_groups(sizes: dict[Any, int], order: Sequence[Any], contiguous: bool, validation_fraction: float,
                  test_fraction: float) -> tuple[dict[str, list], bool]:
    """Whole groups to splits (a group is in one split only).

    Test is filled first, then validation, from ``order``, up to ``fraction x (texts in all
    groups)`` texts each: ``contiguous`` (dates, newest first) takes the next groups while that
    brings the split closer to its target (at least one); otherwise (sources, topics, in a seeded
    random order) every group that still fits is taken, and the smallest group when none fits.
    Train keeps the rest (at least one group). With two groups and ``validation_fraction > 0``
    validation gets no group of its own: it is carved from train's texts (returned flag True).

    Raises:
        TextganError: fewer than two groups.
    """
    n = sum(sizes.values())
    if len(order) < 2:
        raise TextganError(f"a group split needs at least 2 groups with texts, found {len(order)} "
                           f"({list(order)[:3]}): pick a column with more distinct values (--real-group-column) or --split-by run")
    shared = validation_fraction > 0 and len(order) < 3
    out: dict[str, list] = {"train": [], "validation": [], "test": []}
    remaining = list(order)
    for split, fraction in (("test", test_fraction), ("validation", validation_fraction)):
        if fraction <= 0 or (split == "validation" and shared):
            continue
        later = 1 + (1 if split == "test" and validation_fraction > 0 and not shared else 0)  # groups kept for later splits
        limit, target = len(remaining) - later, n * fraction
        chosen: list = []
        total = 0
        for g in remaining:
            if len(chosen) >= limit:
                break
            if contiguous:
                if chosen and abs(total + sizes[g] - target) >= abs(total - target):
                    break
                chosen.append(g)
                total += sizes[g]
            elif total + sizes[g] <= target:
                chosen.append(g)
                total += sizes[g]
        if not chosen and limit > 0:
            chosen = [remaining[0] if contiguous else min(remaining, key=lambda g: sizes[g])]
        out[split] = chosen
        taken = set(chosen)
        remaining = [g for g in remaining if g not in taken]
    out["train"] = remaining
    return out, shared


def _near_dup_filter(selected: dict[str, dict[str, list]], reserves: dict[str, dict[str, list]],
                     shared_reserve: dict[str, list], index_factory) -> dict[str, dict[str, int]]:
    """Drop validation / test texts that nearly repeat a train text of their class (test: or a
    validation text), refill from the split's unused texts (checked the same way), keep each
    split balanced. ``selected`` and the reserves are changed in place (texts are ``(text, ...)``
    tuples); returns split -> class -> texts removed as near duplicates."""
    removed = {s: {c: 0 for c in LABEL_NAMES} for s in ("validation", "test")}
    indexes = {}
    for c in LABEL_NAMES:
        indexes[c] = index_factory()
        indexes[c].add_many((i, item[0]) for i, item in enumerate(selected["train"][c]))
    for s in ("validation", "test"):
        target = len(selected[s]["real"])
        kept: dict[str, list] = {}
        for c in LABEL_NAMES:
            index, out = indexes[c], []
            queue = selected[s][c]
            refill = reserves[s][c] + shared_reserve[c]
            pos = 0
            for item in queue:
                if index.is_near_duplicate(item[0]):
                    removed[s][c] += 1
                else:
                    out.append(item)
            while len(out) < target and pos < len(refill):
                item = refill[pos]
                pos += 1
                if index.is_near_duplicate(item[0]):
                    removed[s][c] += 1
                else:
                    out.append(item)
            used_own = min(pos, len(reserves[s][c]))
            reserves[s][c] = reserves[s][c][used_own:]
            shared_reserve[c][:] = shared_reserve[c][pos - used_own:]
            kept[c] = out
        n = min(len(kept["real"]), len(kept["generated"]))
        for c in LABEL_NAMES:
            reserves[s][c] = kept[c][n:] + reserves[s][c]  # beyond the balanced size: unused (not removed)
            selected[s][c] = kept[c][:n]
            base = len(indexes[c])
            indexes[c].add_many((base + i, item[0]) for i, item in enumerate(selected[s][c]))
    return removed


def _length_stats(lengths: Sequence[int]) -> dict:
    xs = sorted(lengths)
    n = len(xs)
    mean = sum(xs) / n
    return {"n": n, "mean": round(mean, 1), "std": round((sum((x - mean) ** 2 for x in xs) / n) ** 0.5, 1),
            "min": xs[0], "median": xs[n // 2], "max": xs[-1]}


def _interleaved(runs: list) -> list[tuple[int, int]]:
    """Every (run, position) of ``runs``, the runs interleaved (first texts of each run, then the
    second ones...), so a step that keeps a prefix of the order keeps each run's share."""
    return sorted(((i, j) for i, run in enumerate(runs) for j in range(len(run))),
                  key=lambda ij: (ij[1] * len(runs) + ij[0]))


def _match_lengths(real_norm: dict, real_pool: list, class_of: dict, runs: list, seed: int):
    """Pair every generated text with a distinct real text at least as long, and cut the real text to
    its partner's whitespace-token length: both classes then have the same multiset of lengths.

    The generated texts are taken in turn (the runs interleaved, each already shuffled, so each run
    keeps its share); each takes the shortest unused real text that reaches its length (the first of
    the shuffled pool among equals), so real texts lose as few words as they can and the long ones are
    left for the long generated texts. A generated text that no unused real text reaches is dropped,
    and so is every real text left without a partner. (Until 2026-12-02 each real text was cut to a
    length drawn from the generated ones and kept whole when shorter than its draw, which left the real
    side shorter: FA-KES, 178.5 against 207.4 tokens, and a token-count shortcut.)

    Returns the new ``real_norm`` (canonical text -> group), ``real_pool`` (shuffled again),
    ``class_of`` (real keys renamed), ``runs`` and a description for the card.
    """
    gen_lengths = [len(t.split()) for run in runs for t, _ in run]
    if not gen_lengths:
        raise TextganError("--match-length needs generated texts to take the lengths from")
    before = [len(t.split()) for t in real_pool]
    by_length: dict[int, deque] = {}
    for t, n in zip(real_pool, before):
        by_length.setdefault(n, deque()).append(t)
    open_lengths = sorted(by_length)
    generated = {t for run in runs for t, _ in run}
    order = _interleaved(runs)
    new_norm: dict[str, Any] = {}
    new_pool: list[str] = []
    new_class = {}
    keep: set[tuple[int, int]] = set()
    cut = dup = 0
    for i, j in order:
        if not open_lengths:
            break
        text = runs[i][j][0]
        n = len(text.split())
        k = bisect.bisect_left(open_lengths, n)
        if k == len(open_lengths):  # longer than every real text left
            continue
        m = open_lengths[k]  # the partner's length
        queue = by_length[m]
        t = queue.popleft()
        if not queue:
            del by_length[m]
            open_lengths.pop(k)
        key = " ".join(t.split()[:n]) if m > n else t
        if key in new_norm or key in generated:  # the cut made it a duplicate (or a generated text's copy)
            dup += 1
            continue
        cut += key != t
        new_norm[key] = real_norm[t]
        new_pool.append(key)
        keep.add((i, j))
        if (0, t) in class_of:
            new_class[(0, key)] = class_of[(0, t)]
    if not new_pool:
        raise TextganError(f"match_length cut: no real text is as long as a generated one (real {min(before, default=0)}-{max(before, default=0)} "
                           f"tokens, generated {min(gen_lengths)}-{max(gen_lengths)}): use match_length sample or false, "
                           "or a generator trained on texts like the real ones")
    new_runs = [[item for j, item in enumerate(run) if (i, j) in keep] for i, run in enumerate(runs)]
    kept_gen = {t for run in new_runs for t, _ in run}
    new_class.update({k: v for k, v in class_of.items() if k[0] == 1 and k[1] in kept_gen})
    rng = random.Random(f"match-length-{seed}")
    rng.shuffle(new_pool)  # taken in the generated texts' order: shuffle, as the pool was
    info = {"mode": "cut", "generated_before": _length_stats(gen_lengths), "real_before": _length_stats(before),
            "after": _length_stats([len(t.split()) for t in new_pool]), "real_cut": cut,
            "real_dropped": len(real_pool) - len(new_pool), "generated_dropped": len(gen_lengths) - len(new_pool),
            "generated_longer_than_every_real": sum(n > max(before, default=0) for n in gen_lengths), "duplicates_after_cut": dup}
    return new_norm, new_pool, new_class, new_runs, info


def _first_per_length(items: Iterable, quota: dict[int, int], text: Callable[[Any], str]) -> list:
    """The items in order, keeping at each whitespace-token length of ``text(item)`` the first ``quota[n]``."""
    left = dict(quota)
    kept = []
    for item in items:
        n = len(text(item).split())
        if left.get(n, 0) > 0:
            left[n] -= 1
            kept.append(item)
    return kept


def _sample_lengths(real_norm: dict, real_pool: list, class_of: dict, runs: list, seed: int):
    """Keep, for every whitespace-token length, as many real as generated texts (the smaller count of the
    two): both classes then have one length distribution, and no text is cut (sentence corpora, whose
    real texts passed a length filter that the generator never saw). ``real_pool`` and each run are
    already shuffled, so the texts kept at a length are a random choice among those of that length.

    Returns the new ``real_norm``, ``real_pool``, ``class_of``, ``runs`` and a description for the card.
    """
    real_len = Counter(len(t.split()) for t in real_pool)
    gen_len = Counter(len(t.split()) for run in runs for t, _ in run)
    quota = {n: min(real_len[n], gen_len[n]) for n in real_len.keys() | gen_len.keys()}
    if not any(quota.values()):
        raise TextganError("match_length sample: no real text has the length of a generated one (real "
                           f"{min(real_len)}-{max(real_len)} tokens, generated {min(gen_len)}-{max(gen_len)}): "
                           "use match_length cut, or a generator trained on texts like the real ones")
    new_pool = _first_per_length(real_pool, quota, lambda t: t)
    order = _interleaved(runs)
    keep = set(_first_per_length(order, quota, lambda ij: runs[ij[0]][ij[1]][0]))
    new_runs = [[item for j, item in enumerate(run) if (i, j) in keep] for i, run in enumerate(runs)]
    # the texts kept at a length are the first ones of the pool: shuffle again, or the splits taken in
    # pool order (train first) would hold the lengths whose quota ran out early more than the others
    rng = random.Random(f"sample-lengths-{seed}")
    rng.shuffle(new_pool)
    for run in new_runs:
        rng.shuffle(run)
    kept_real = set(new_pool)
    kept_gen = {t for run in new_runs for t, _ in run}
    new_class = {k: v for k, v in class_of.items() if (k[1] in kept_real if k[0] == 0 else k[1] in kept_gen)}
    info = {"mode": "sample", "generated_before": _length_stats(list(gen_len.elements())),
            "real_before": _length_stats(list(real_len.elements())),
            "after": _length_stats([len(t.split()) for t in new_pool]),
            "real_dropped": len(real_pool) - len(new_pool),
            "generated_dropped": sum(len(r) for r in runs) - len(kept_gen)}
    return {t: real_norm[t] for t in new_pool}, new_pool, new_class, new_runs, info


def _match_split_lengths(selected: dict[str, dict[str, list]]) -> dict[str, int]:
    """In every split, keep at each whitespace-token length the first ``min(real, generated)`` texts of
    each class (``selected`` is changed in place); returns the texts dropped per split (both classes)."""
    dropped = {}
    for s, classes in selected.items():
        counts = {c: Counter(len(item[0].split()) for item in rows) for c, rows in classes.items()}
        quota = {n: min(counts["real"][n], counts["generated"][n]) for n in counts["real"] | counts["generated"]}
        before = sum(len(rows) for rows in classes.values())
        for c, rows in classes.items():
            classes[c] = _first_per_length(rows, quota, lambda item: item[0])
        dropped[s] = before - sum(len(rows) for rows in classes.values())
    return dropped


def match_length_mode(value: bool | str | None) -> str | None:
    """``match_length`` as a mode: None (off), ``"cut"`` (``True``: real texts cut to generated partners' lengths)
    or ``"sample"`` (texts kept so both classes have one length distribution)."""
    if value is None or value is False or (isinstance(value, str) and value.lower() in ("none", "false", "off")):
        return None
    if value is True or (isinstance(value, str) and value.lower() in ("true", "cut")):
        return "cut"
    if isinstance(value, str) and value.lower() == "sample":
        return "sample"
    raise TextganError(f"match_length is {value!r}: use false, cut (true: real texts cut to generated partners' lengths; "
                       "articles) or sample (as many real as generated texts at every length; sentences)")


def build_detection_dataset(real: str | Path, generated: Sequence[str | Path], out: str | Path, *,
                            real_labels: Sequence[str] | None = None, real_max_tokens: int | None = None,
                            text_column: str | None = None, mix_runs: bool = False,
                            validation_fraction: float = 0.1, test_fraction: float = 0.1,
                            max_per_class: int | None = None, seed: int = 0,
                            generator: str | Path | None = None, oov: str | None = None,
                            generator_train: str | None = None, split_by: str = "run",
                            group_column: str | None = None, near_dup_threshold: float | str | None = DEFAULT_THRESHOLD,
                            near_dup_shingle: int = DEFAULT_SHINGLE,
                            near_dup_num_perm: int = DEFAULT_NUM_PERM,
                            match_length: bool | str | None = False) -> DetectionDataset:
    """Build a balanced real-versus-generated dataset with train / validation / test splits.

    Construction: every text, real or generated, goes through the same
    :class:`~textgan.detection.canonical.Canonicalizer` (the generator's tokenizer, vocabulary
    and detokenization when ``generator`` is given, else whitespace tokens joined by single
    spaces) and is cut to ``real_max_tokens`` tokens (so real texts match the generator's length
    budget); real texts are de-duplicated; generated texts are de-duplicated across
    all runs and any generated text identical to a real text (after whitespace normalisation)
    is removed.

    Splits (``split_by``):

    - ``"run"`` (default): generated texts by source run unless ``mix_runs``: with one run its
      texts are split by the fractions; with two, the first gives train + validation and the
      second test; with three or more, the last is test, the one before validation, the rest
      train. Real texts at random.
    - ``"random"``: the runs pooled and split at random by the fractions (``mix_runs``); real
      texts at random.
    - ``"source"``, ``"topic"``: real texts by the value of a metadata column (``group_column``;
      default ``source`` / ``subject``), whole groups held out: test and validation get groups
      (in a seeded random order) up to their fractions, train the rest. ``"date"``: the groups are
      the calendar days (UTC) of a date column (default ``date``; see :func:`parse_date`): the
      oldest go to train, the newest to test, validation between. No group is in two splits; with only two groups validation is carved
      at random from train's texts (the card says so). Real texts without a value are dropped and
      counted. Generated texts follow the same groups when every generated record has that field
      (source / topic; groups without real texts dropped and counted); otherwise several runs
      stay split by run, and one run (or ``mix_runs``) is split at random in the real splits'
      proportions.

    Each split then gets as many real texts as generated ones (both are subsampled
    proportionally under ``max_per_class``).

    Near duplicates (``near_dup_threshold``, default 0.8; 0 or None: off): a validation or test
    text whose word ``near_dup_shingle``-gram set has a Jaccard similarity of at least the
    threshold with a train text of its class (test: or a validation text) is removed
    (:class:`~textgan.detection.neardup.NearDupIndex`: MinHash LSH with ``near_dup_num_perm``
    permutations seeded by ``seed``, confirmed by exact Jaccard), and replaced from the split's
    unused texts when there are any; the counts per split and class go into the card.

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
        seed: shuffling seed (and the MinHash seed).
        generator: the run or checkpoint folder of the generator: its tokenizer and vocabulary
            define what it can emit (strongly advised: without it real texts may hold words the
            generator can never write).
        oov: real tokens outside the generator's vocabulary: "auto" (the default with a generator:
            ``<unk>``, or "drop" when the sides hold it at different rates), "unk" (map to ``<unk>``),
            "drop" (drop the text), "delete" (take them, and every ``<unk>`` of both sides, out) or
            "keep" (see :mod:`textgan.detection.canonical`).
        generator_train: what the generator was trained on (for the card), e.g. "emnlp_news:valid".
        split_by: "run", "random", "source", "date" or "topic" (see above).
        group_column: the real corpus's column for "source", "date" and "topic".
        near_dup_threshold: Jaccard threshold of the near-duplicate removal (None, 0 or "none": off).
        near_dup_shingle: words per shingle.
        near_dup_num_perm: MinHash permutations.
        match_length: ``"cut"`` (or ``True``): pair every generated text with an unused real text at
            least as long (the shortest such) and cut the real text to its partner's whitespace-token
            length; texts left without a partner are dropped, so both classes have one multiset of
            lengths (real articles cut to a fixed budget are all about that long; generated ones stop
            anywhere). ``"sample"``: cut nothing, keep
            at every length as many real as generated texts (sentence corpora whose real texts passed
            a length filter, e.g. EMNLP News' 20 words and more). The card gives the distributions.

    Returns:
        A :class:`DetectionDataset`.

    Raises:
        TextganError: a missing generated file, no generated text left, a split without text, an
            unknown ``split_by``, a missing group column or too few groups, or an ``out`` that is a
            file, link, device or a non-empty folder textgan did not write.
    """
    from ..generation import read_generated

    if not generated:
        raise TextganError("no generated texts given: pass --generated PATH (the output of `textgan generate`)")
    if not (0 <= validation_fraction < 1 and 0 < test_fraction < 1 and validation_fraction + test_fraction < 1):
        raise TextganError(f"validation and test fractions ({validation_fraction}, {test_fraction}) must be in [0, 1) "
                           "and sum below 1: e.g. 0.1 and 0.1")
    if split_by not in SPLIT_BY:
        raise TextganError(f"unknown split method {split_by!r}: use one of {', '.join(SPLIT_BY)} (--split-by)")
    grouped = split_by in GROUP_SPLITS
    if group_column is not None and not grouped:
        raise TextganError(f"--real-group-column {group_column} is only read by --split-by source|date|topic, "
                           f"not {split_by}: drop it or pick a group split")
    column = (group_column or DEFAULT_GROUP_COLUMN[split_by]) if grouped else None
    threshold = check_threshold(near_dup_threshold)
    match_length = match_length_mode(match_length)
    if near_dup_shingle < 1 or near_dup_num_perm < 2:
        raise TextganError(f"--near-dup-shingle must be >= 1 word (got {near_dup_shingle}) and the MinHash permutations "
                           f">= 2 (got {near_dup_num_perm})")
    if is_stdout(out):
        raise TextganError("--out of `corpus detection` is a dataset folder, not a stream: pass a folder name")
    check_output(out, folder=True, own=("detection.json",))  # a foreign folder is never replaced
    gen_paths = [Path(p) for p in generated]
    gen_records = [read_generated(p) for p in gen_paths]  # checks every file before any work
    pooled = mix_runs or split_by == "random"
    rng = random.Random(seed)
    removed = dict.fromkeys(("duplicate_real", "duplicate_generated", "generated_identical_to_real",
                             "real_unused", "generated_unused"), 0)

    canon = make_canonicalizer(generator, oov, real_max_tokens)
    with_class = [sum(1 for r in recs if r.get(CLASS_COLUMN) is not None) for recs in gen_records]
    conditional = any(with_class)
    if conditional and not all(n == len(recs) for n, recs in zip(with_class, gen_records)):
        raise TextganError(f"only some generated records carry a class ({sum(with_class)} of "
                           f"{sum(len(r) for r in gen_records)} have {CLASS_COLUMN!r}): build the dataset from runs of one "
                           "kind, all label-conditional or none")
    real_texts, real_info = load_real_texts(real, real_labels, text_column, group_column=column, classes=conditional)
    raw_groups = real_info.pop("groups", None)
    raw_classes = real_info.pop("classes", None)
    class_of: dict[tuple[int, str], str] = {}  # (label 0 real / 1 generated, canonical text) -> class
    real_info["max_tokens"] = real_max_tokens
    real_norm: dict[str, Any] = {}  # canonical text -> its group value (None without a group split)
    missing_group = 0
    for i, t in enumerate(real_texts):
        t = canon(t, "real")
        if t is None:
            continue
        if t in real_norm:
            removed["duplicate_real"] += 1
            continue
        g = None
        if grouped:
            raw = raw_groups[i]
            dated = split_by == "date" and isinstance(raw, (int, float, date)) and not isinstance(raw, bool)
            g = raw if dated else _group_name(raw)  # a date split keeps numbers and dates for parse_date
            if g is None:
                missing_group += 1
                continue
        real_norm[t] = g
        if conditional:
            class_of[(0, t)] = raw_classes[i]
    if grouped:
        removed["real_missing_group"] = missing_group
        if not real_norm:
            raise TextganError(f"no real text has a value in column {column!r}: pick another --real-group-column or --split-by run")
    real_pool = list(real_norm)
    rng.shuffle(real_pool)

    gen_column = None
    if grouped and split_by != "date" and column not in GENERATION_FIELDS:
        has = [sum(1 for r in recs if _group_name(r.get(column)) is not None) for recs in gen_records]
        if all(h == len(recs) for h, recs in zip(has, gen_records)):
            gen_column = column
        elif any(has):
            raise TextganError(f"only some generated records have the field {column!r} ({sum(has)} of "
                               f"{sum(len(r) for r in gen_records)}): give it to every record or to none")
    seen: set[str] = set()
    runs: list[list[tuple[str, Any]]] = []
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
                kept.append((key, _group_name(r.get(gen_column)) if gen_column else None))
                if conditional:
                    class_of[(1, key)] = str(r[CLASS_COLUMN])
        rng.shuffle(kept)
        runs.append(kept)
    names = [str(p) for p in gen_paths]
    if canon.oov == "auto":  # settle <unk> now that both sides are read: equal rates, or no <unk> on either side
        kept_real, kept_gen = canon.resolve(list(real_norm), [t for run in runs for t, _ in run])
        if len(kept_real) < len(real_norm):
            keep_r = set(kept_real)
            real_norm = {t: g for t, g in real_norm.items() if t in keep_r}
            real_pool = [t for t in real_pool if t in keep_r]
        if len(kept_gen) < sum(len(r) for r in runs):
            keep_g = set(kept_gen)
            runs = [[(t, g) for t, g in run if t in keep_g] for run in runs]
        if not real_norm or not any(runs):
            raise TextganError(f"no {'real' if not real_norm else 'generated'} text is left once texts holding <unk> "
                               f"are dropped ({canon.auto['why']}): pass --oov unk to keep them, or use a generator "
                               "whose vocabulary covers the real texts")

    length_info = None
    if match_length == "cut":  # real texts cut to their generated partners' lengths (no length shortcut)
        real_norm, real_pool, class_of, runs, length_info = _match_lengths(real_norm, real_pool, class_of, runs, seed)
        removed["duplicate_real"] += length_info["duplicates_after_cut"]
        removed["real_length_unmatched"] = length_info["real_dropped"] - length_info["duplicates_after_cut"]
        removed["generated_length_unmatched"] = length_info["generated_dropped"]
    elif match_length == "sample":  # as many real as generated texts at every length
        real_norm, real_pool, class_of, runs, length_info = _sample_lengths(real_norm, real_pool, class_of, runs, seed)
        removed["real_length_unmatched"] = length_info["real_dropped"]
        removed["generated_length_unmatched"] = length_info["generated_dropped"]

    # ---- real texts per split (group splits) and the split description
    split_info: dict[str, Any] = {"by": split_by if not (split_by == "run" and pooled) else "random",
                                  "requested": split_by, "group_column": column}
    real_split: dict[str, list[tuple[str, Any]]] | None = None
    split_of: dict[Any, str] = {}
    if grouped:
        sizes_by_group: dict[Any, int] = {}
        keys: dict[str, Any] = {}
        for t in real_pool:
            g = real_norm[t]
            k = _day(parse_date(g)) if split_by == "date" else g
            keys[t] = k
            sizes_by_group[k] = sizes_by_group.get(k, 0) + 1
        if split_by == "date":
            kinds = {type(k) for k in sizes_by_group}
            if len(kinds) > 1:
                raise TextganError(f"column {column!r} mixes numbers and dates: make it one kind (e.g. ISO dates)")
            order = sorted(sizes_by_group, reverse=True)  # newest first: test, then validation
        else:
            order = sorted(sizes_by_group)
            random.Random(seed).shuffle(order)
        groups, shared = assign_groups(sizes_by_group, order, split_by == "date", validation_fraction, test_fraction)
        split_of = {g: s for s, gs in groups.items() for g in gs}
        real_split = {s: [] for s in SPLITS}
        for t in real_pool:
            real_split[split_of[keys[t]]].append((t, keys[t]))
        if shared:
            share = validation_fraction / (1 - test_fraction)
            n_val = round(len(real_split["train"]) * share)
            real_split["validation"], real_split["train"] = real_split["train"][:n_val], real_split["train"][n_val:]
        names_of = (lambda gs: [_date_name(g) for g in sorted(gs)]) if split_by == "date" else (lambda gs: sorted(gs))
        split_info.update(groups={s: names_of(gs) for s, gs in groups.items()},
                          num_groups={s: len(gs) for s, gs in groups.items()},
                          real_texts_per_split_before_balancing={s: len(v) for s, v in real_split.items()},
                          validation_shares_train_groups=shared, real_missing_group=missing_group)
        if shared:
            split_info["groups"]["validation"] = list(split_info["groups"]["train"])
            split_info["num_groups"]["validation"] = split_info["num_groups"]["train"]
        if split_by == "date":
            spans = {**groups, "validation": groups["train"] if shared else groups["validation"]}
            split_info["date_range"] = {s: ([_date_name(min(spans[s])), _date_name(max(spans[s]))] if spans[s] else None)
                                        for s in SPLITS}

    # ---- generated texts per split, with the run (and group) each came from
    by_split: dict[str, list[tuple[str, str, Any]]] = {s: [] for s in SPLITS}
    assignment: dict[str, list[str]] = {s: [] for s in SPLITS}
    if gen_column is not None:
        unmatched = 0
        for i, run in enumerate(runs):
            for t, g in run:
                s = split_of.get(g)
                if s is None:
                    unmatched += 1
                else:
                    by_split[s].append((t, names[i], g))
        if split_info.get("validation_shares_train_groups"):
            share = validation_fraction / (1 - test_fraction)
            n_val = round(len(by_split["train"]) * share)
            by_split["validation"], by_split["train"] = by_split["train"][:n_val], by_split["train"][n_val:]
        removed["generated_unmatched_group"] = unmatched
        split_info["generated"] = f"grouped by the field {column!r} of the generated records, like the real texts"
    elif pooled or len(runs) == 1:
        pool = [(t, names[i], g) for i, run in enumerate(runs) for t, g in run]
        rng.shuffle(pool)
        if real_split is not None:
            n_real = sum(len(v) for v in real_split.values())
            n_train, n_val, _ = _fraction_sizes(len(pool), len(real_split["validation"]) / n_real,
                                                len(real_split["test"]) / n_real)
            how = "in the real splits' proportions"
        else:
            n_train, n_val, _ = _fraction_sizes(len(pool), validation_fraction, test_fraction)
            how = "by the fractions"
        parts = {"train": pool[:n_train], "validation": pool[n_train:n_train + n_val], "test": pool[n_train + n_val:]}
        for s in SPLITS:
            by_split[s] = parts[s]
        split_info["generated"] = (("runs pooled" if len(runs) > 1 else "a single run") + f", split at random {how}")
    else:
        if len(runs) == 2:
            first = [(t, names[0], g) for t, g in runs[0]]
            share = validation_fraction / (1 - test_fraction)
            n_val = round(len(first) * share)
            by_split["train"], by_split["validation"] = first[n_val:], first[:n_val]
            by_split["test"] = [(t, names[1], g) for t, g in runs[1]]
        else:
            idx = {"train": list(range(len(runs) - 2)), "validation": [len(runs) - 2], "test": [len(runs) - 1]}
            for s, ii in idx.items():
                by_split[s] = [(t, names[i], g) for i in ii for t, g in runs[i]]
        split_info["generated"] = "by source run (one --generated file = one run)"
    for s in SPLITS:
        assignment[s] = sorted({src for _, src, _ in by_split[s]}, key=names.index)

    total_gen = sum(len(v) for v in by_split.values())
    if total_gen == 0:
        raise TextganError("no generated text is left after removing duplicates and copies of real texts: generate more, or more diverse, texts")
    if real_split is None:
        budget = min(len(real_pool), total_gen, max_per_class or total_gen)
        sizes = {s: len(by_split[s]) * budget // total_gen for s in SPLITS}
    else:
        avail = {s: min(len(real_split[s]), len(by_split[s])) for s in SPLITS}
        cap = max_per_class or sum(avail.values())
        sizes = {s: (avail[s] * cap // sum(avail.values()) if sum(avail.values()) > cap else avail[s]) for s in SPLITS}
    for s in SPLITS:
        if sizes[s] == 0 and (s != "validation" or validation_fraction > 0):
            real_counts = {k: len(v) for k, v in real_split.items()} if real_split is not None else len(real_pool)
            raise TextganError(f"the {s} split would hold no text ({real_counts} real, {total_gen} generated texts "
                               f"usable; generated per split {dict((k, len(v)) for k, v in by_split.items())}): pass more texts "
                               "or change the fractions" + (" or the group column" if grouped else ""))

    # ---- the texts of each split: (text, meta_source, group)
    real_spec = real_info["corpus"] or str(real)
    selected: dict[str, dict[str, list]] = {s: {} for s in SPLITS}
    reserves: dict[str, dict[str, list]] = {s: {} for s in SPLITS}
    shared_reserve: dict[str, list] = {"real": [], "generated": []}
    offset = 0
    for s in SPLITS:
        n = sizes[s]
        selected[s]["generated"], reserves[s]["generated"] = by_split[s][:n], by_split[s][n:]
        if real_split is None:
            selected[s]["real"] = [(t, real_spec, None) for t in real_pool[offset:offset + n]]
            reserves[s]["real"] = []
            offset += n
        else:
            rows = [(t, real_spec, g) for t, g in real_split[s]]
            selected[s]["real"], reserves[s]["real"] = rows[:n], rows[n:]
    if real_split is None:
        shared_reserve["real"] = [(t, real_spec, None) for t in real_pool[offset:]]

    near: dict[str, Any] = {"enabled": threshold is not None, "threshold": threshold}
    if threshold is not None:
        factory = lambda: NearDupIndex(threshold, near_dup_shingle, near_dup_num_perm, seed)  # noqa: E731
        near_removed = _near_dup_filter(selected, reserves, shared_reserve, factory)
        near.update(factory().describe())
        near.update(compared="validation vs train, test vs train and validation, within each class (real with real, "
                             "generated with generated); a removed text is replaced by an unused text of its split when "
                             "there is one, and the split is kept balanced",
                    removed=near_removed,
                    removed_total={c: sum(v[c] for v in near_removed.values()) for c in LABEL_NAMES})
    else:
        near_removed = {s: dict.fromkeys(LABEL_NAMES, 0) for s in ("validation", "test")}
        near.update(removed=near_removed, removed_total=dict.fromkeys(LABEL_NAMES, 0))
    if match_length == "sample":  # again within each split: a split with more real than generated texts of a
        # length would leave the others with fewer, which a length threshold fitted on train reads backwards
        length_info["dropped_in_splits"] = _match_split_lengths(selected)
    sizes = {s: len(selected[s]["real"]) for s in SPLITS}
    for s in SPLITS:
        if sizes[s] == 0 and (s != "validation" or validation_fraction > 0):
            raise TextganError(f"the {s} split holds no text after removing near duplicates of other splits "
                               f"({near_removed}): pass more texts, or a higher --near-dup-threshold")
    used = sum(sizes.values())
    removed["generated_unused"] = total_gen - used - near["removed_total"]["generated"]
    removed["real_unused"] = (len(real_pool) - used - near["removed_total"]["real"])

    splits: dict[str, list[dict]] = {}
    for s in SPLITS:
        rows = []
        for c, label in (("generated", 1), ("real", 0)):
            for t, src, g in selected[s][c]:
                row = {"text": t, "label": label, "label_name": c, META_SOURCE: src}
                if grouped:
                    row[META_GROUP] = None if g is None else (_date_name(g) if split_by == "date" else str(g))
                if conditional:
                    row[CLASS_COLUMN] = class_of[(label, t)]
                rows.append(row)
        rng.shuffle(rows)
        splits[s] = [{"id": f"{s}-{i}", **r} for i, r in enumerate(rows)]
    counts = {s: {"real": sizes[s], "generated": sizes[s]} for s in SPLITS}
    if grouped:
        split_info["groups_used"] = {s: sorted({r[META_GROUP] for r in rows if r["label"] == 0}) for s, rows in splits.items()}
        if split_by == "date":  # many dates: the card shows their range
            split_info["groups_used"] = {s: len(v) for s, v in split_info["groups_used"].items()}

    metadata_columns = [META_SOURCE] + ([META_GROUP] if grouped else [])
    class_mix = None
    if conditional:
        names = sorted({c for rows in splits.values() for r in rows for c in [r[CLASS_COLUMN]]})
        class_mix = {s: {side: {c: sum(1 for r in rows if r["label"] == lab and r[CLASS_COLUMN] == c) for c in names}
                         for side, lab in (("real", 0), ("generated", 1))} for s, rows in splits.items()}
        unmatched = sorted({r[CLASS_COLUMN] for rows in splits.values() for r in rows if r["label"] == 1}
                           - {r[CLASS_COLUMN] for rows in splits.values() for r in rows if r["label"] == 0})
        if unmatched:
            raise TextganError(f"generated classes {unmatched} are not labels of the real part {str(real)!r} "
                               f"(its labels: {sorted({c for (lab, _), c in class_of.items() if lab == 0})}): "
                               "generate from a generator trained on this corpus's labels")
    meta = {"format": DETECTION_FORMAT, "real": {**real_info, "num_texts": len(real_texts)},
            "generated": [describe_generated(p, recs) for p, recs in zip(gen_paths, gen_records)],
            "counts": counts, "removed": removed, "assignment": assignment,
            "split": split_info, "near_duplicates": near, "classes": class_mix,
            "length_matching": length_info,
            "settings": {"mix_runs": mix_runs, "split_by": split_by, "group_column": column, "match_length": match_length,
                         "validation_fraction": validation_fraction,
                         "test_fraction": test_fraction, "max_per_class": max_per_class, "seed": seed,
                         "real_labels": real_info["labels"], "real_max_tokens": real_max_tokens,
                         "near_dup_threshold": threshold, "near_dup_shingle": near_dup_shingle,
                         "near_dup_num_perm": near_dup_num_perm},
            "labels": list(LABEL_NAMES),
            "canonical": canon.describe(),
            "generator_checkpoint": None if generator is None else str(generator),
            "generator_train": generator_train,
            "columns": {"features": ["text"], "label": ["label", "label_name"], "metadata": metadata_columns,
                        "class": CLASS_COLUMN if conditional else None,
                        "note": "meta_* columns are provenance (they reveal the label by construction): never use them as features"},
            "textgan_version": textgan_version()}
    out = Path(out)
    _write_dataset_folder(out, splits, meta, group_column=grouped, class_column=conditional)
    return DetectionDataset(out, counts, removed, assignment, split_info, near)


def _write_dataset_folder(out: Path, splits: dict[str, list[dict]], meta: dict, group_column: bool = False,
                          class_column: bool = False) -> None:
    """DatasetDict + JSONL + detection.json + README.md, built in a temporary folder, then renamed."""
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    from ..generation import quiet_datasets

    columns = {"id": Value("string"), "text": Value("string"), "label": ClassLabel(names=list(LABEL_NAMES)),
               "label_name": Value("string"), META_SOURCE: Value("string")}
    if group_column:
        columns[META_GROUP] = Value("string")
    if class_column:
        columns[CLASS_COLUMN] = Value("string")
    features = Features(columns)
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
