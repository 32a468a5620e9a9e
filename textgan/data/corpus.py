"""Named corpora and user text files -> ``datasets.Dataset``; where corpus files are found.

A named corpus is described by a `CorpusCard`, read from its card file
``corpora/cards/<name>.yaml`` (see `textgan.data.cards`; the prose documentation is
``corpora/<family>.md``). Its files are looked up in ``$TEXTGAN_CORPORA/<name>/``, then in the
user cache ``$TEXTGAN_CACHE/corpora/<name>/`` (``TEXTGAN_CACHE`` defaults to ``~/.cache/textgan``),
and, only when asked (``download=True`` or ``TEXTGAN_DOWNLOAD=1``), downloaded from the card's
canonical source into the user cache (see `textgan.data.download`).
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import json
import logging
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textgan.data.cards import (  # noqa: F401  (re-exported: the card format lives in cards.py)
    FILE_FORMATS,
    TRANSFORMS,
    CorpusCard,
    RemoteFile,
    SplitSpec,
    cards_dir,
    load_card,
    load_cards,
)
from textgan.data.download import fetch_remote
from textgan.errors import TextganError
from textgan.io import file_sha256

if TYPE_CHECKING:
    from datasets import Dataset

logger = logging.getLogger(__name__)

ENV_CORPORA = "TEXTGAN_CORPORA"
ENV_CACHE = "TEXTGAN_CACHE"
ENV_DOWNLOAD = "TEXTGAN_DOWNLOAD"


# ----------------------------------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------------------------------


_REGISTRY: dict[str, CorpusCard] = {card.name: card for card in load_cards()}


def _looks_like_plain_text(path: Path, probe: int = 1 << 16) -> bool:
    """True when the start of ``path`` is UTF-8 text without NUL bytes, over several lines."""
    try:
        with open(path, "rb") as f:
            head = f.read(probe)
    except OSError:
        return False
    if not head or b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:  # not just a character cut at the probe's end
            return False
    return b"\n" in head


# How a user picks the text column, in the CLI's terms (the Python API's keyword is text_column=).
_TEXT_COLUMN_FIX = ("pick the text column (`textgan run`: --set data.text_column=NAME; "
                    "embed and corpus detection: --text-column NAME; Python: text_column=NAME)")


def _liar_split_field(name: str) -> tuple[str, ...]:
    card = _REGISTRY.get("fake_news/liar")
    split = card.splits.get("train") if card is not None else None
    return tuple(getattr(split, name, None) or ())


LIAR_LABELS: tuple[str, ...] = _liar_split_field("label_names")
"""LIAR's six labels from least to most truthful; ``label`` is the index in this tuple (from its card)."""

LIAR_COLUMNS: tuple[str, ...] = _liar_split_field("columns")
"""Column names of the header-less LIAR TSV files, in the order of the LIAR README (from its card)."""


def register_corpus(card: CorpusCard, *, replace: bool = False) -> None:
    """Add a named corpus to the registry.

    Args:
        card: its description.
        replace: allow replacing an existing entry of the same name.

    Raises:
        TextganError: the name is taken (and ``replace`` is false), or a split is malformed.
    """
    if card.name in _REGISTRY and not replace:
        raise TextganError(f"corpus {card.name!r} is already registered: choose another name or pass replace=True")
    for split, spec in card.splits.items():
        if spec.format not in FILE_FORMATS:
            raise TextganError(
                f"corpus {card.name!r} split {split!r} has format {spec.format!r}: use one of {list(FILE_FORMATS)}"
            )
    for relpath, remote in card.remote.items():
        if remote.transform not in TRANSFORMS:
            raise TextganError(
                f"corpus {card.name!r} file {relpath} has transform {remote.transform!r}: use one of {list(TRANSFORMS)}"
            )
    _REGISTRY[card.name] = card


def list_corpora() -> list[CorpusCard]:
    """All registered corpora, sorted by name."""
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def corpus_info(name: str) -> CorpusCard:
    """The card of a registered corpus.

    Raises:
        TextganError: unknown name (the message suggests the nearest one).
    """
    card = _REGISTRY.get(name)
    if card is None:
        raise _unknown_corpus(name)
    return card


def _unknown_corpus(name: str) -> TextganError:
    names = sorted(_REGISTRY)
    family = [n for n in names if n.startswith(name.rstrip("/") + "/")]
    if family:
        return TextganError(f"{name!r} is a family of corpora: use one of {family}")
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return TextganError(
        f"unknown corpus {name!r}{hint}: use one of {names}, or a path to a "
        ".txt/.jsonl/.csv/.tsv file or a saved dataset folder"
    )


# ----------------------------------------------------------------------------------------------
# Locating files
# ----------------------------------------------------------------------------------------------


def corpora_root() -> Path | None:
    """``$TEXTGAN_CORPORA`` as a path, or ``None`` when unset or empty."""
    value = os.environ.get(ENV_CORPORA, "").strip()
    return Path(value).expanduser() if value else None


def cache_root() -> Path:
    """``$TEXTGAN_CACHE``, defaulting to ``~/.cache/textgan``."""
    value = os.environ.get(ENV_CACHE, "").strip()
    return Path(value).expanduser() if value else Path.home() / ".cache" / "textgan"


def _download_enabled(download: bool | None) -> bool:
    if download is not None:
        return download
    return os.environ.get(ENV_DOWNLOAD, "").strip().lower() in ("1", "true", "yes", "on")


def _candidate_paths(name: str, relpath: str) -> list[tuple[str, Path]]:
    root = corpora_root()
    out = []
    if root is not None:
        out.append((f"${ENV_CORPORA}", root / name / relpath))
    out.append(("user cache", cache_root() / "corpora" / name / relpath))
    return out


def locate_file(name: str, relpath: str) -> Path | None:
    """Where a corpus file is found locally (corpora folder first, then the user cache).

    Args:
        name: registered corpus name (it is not validated, so any folder name works).
        relpath: path relative to the corpus folder.

    Returns:
        The path, or ``None`` when the file is in neither place.
    """
    for _, path in _candidate_paths(name, relpath):
        if path.is_file():
            return path
    return None


def _where_to_put(name: str, relpath: str) -> str:
    root = corpora_root()
    first = str(root / name / relpath) if root is not None else f"${ENV_CORPORA}/{name}/{relpath}"
    return f"{first} or {cache_root() / 'corpora' / name / relpath}"


def corpus_file(name: str, relpath: str, *, download: bool | None = None) -> Path:
    """The local path of one file of a named corpus, downloading it if allowed.

    Example: ``corpus_file("newsgroups20", "20newsgroups.vocab")`` or
    ``corpus_file("synthetic_oracle", "seqgan_oracle_params.npz")``.

    Args:
        name: registered corpus name.
        relpath: path relative to the corpus folder (see ``corpus_info(name).files``).
        download: fetch a missing file from the card's source into the user cache;
            ``None`` reads ``$TEXTGAN_DOWNLOAD`` (off unless ``1``/``true``).

    Returns:
        An existing file.

    Raises:
        TextganError: unknown corpus, or the file is missing and cannot be fetched.
    """
    card = corpus_info(name)
    path = locate_file(name, relpath)
    if path is not None:
        return path
    remote = card.remote.get(relpath)
    if remote is not None and _download_enabled(download):
        return _fetch(card, relpath, remote)
    if relpath not in card.files and not any(relpath in s.files for s in card.splits.values()):
        raise TextganError(
            f"corpus {name!r} has no file {relpath!r}: use one of {sorted(card.files)}"
        )
    if remote is not None:
        how = f"or set {ENV_DOWNLOAD}=1 (download=True in Python) to fetch it from {remote.url}"
    else:
        how = card.download or "see the corpus card"
    raise TextganError(
        f"corpus {name!r} file {relpath} not found: put it at {_where_to_put(name, relpath)}; {how}"
    )


def split_status(card: CorpusCard) -> dict[str, dict[str, Path | None]]:
    """For each split, where each of its files is found locally (``None``: missing)."""
    return {
        split: {relpath: locate_file(card.name, relpath) for relpath in spec.files}
        for split, spec in card.splits.items()
    }


def verify_corpus(name: str) -> dict[str, bool | None]:
    """Check the sha256 of each locally present file of a corpus against its card.

    Returns:
        Relative path -> ``True`` (matches), ``False`` (differs), or ``None`` (missing, or no
        checksum is known).
    """
    card = corpus_info(name)
    out: dict[str, bool | None] = {}
    for relpath, expected in card.files.items():
        path = locate_file(name, relpath)
        out[relpath] = None if (path is None or expected is None) else file_sha256(path) == expected
    return out


def format_card_line(card: CorpusCard) -> str:
    """One line: name, title and each split marked present or missing locally."""
    status = split_status(card)
    splits = ", ".join(
        f"{split}{'' if all(p is not None for p in files.values()) else ' (missing)'}"
        for split, files in status.items()
    )
    return f"{card.name:<26} {card.title}  [splits: {splits}]"


def format_card(card: CorpusCard) -> str:
    """A multi-line, human-readable summary of a card, with the local status of each file."""
    integer_note = f" (integer tokens, Vocab.integers({card.integer_vocab}))" if card.integer_vocab else ""
    lines = [
        f"{card.name}: {card.title}",
        f"  {card.description}",
        f"  source:    {card.source}",
        f"  license:   {card.license}",
        f"  tokenizer: {card.tokenizer}{integer_note}",
        f"  card:      {card.card_path}",
        "  splits:",
    ]
    status = split_status(card)
    for split, spec in card.splits.items():
        columns = "text" + (", label" if spec.label_field else "")
        rows = f"{spec.rows:,} rows" if spec.rows is not None else "size unknown"
        lines.append(f"    {split}: {spec.format}, {rows}, columns {columns}" + (f"; {spec.note}" if spec.note else ""))
        for relpath, path in status[split].items():
            lines.append(f"      {relpath}: " + (f"present ({path})" if path else "MISSING"))
    split_files = {f for spec in card.splits.values() for f in spec.files}
    extra = [f for f in card.files if f not in split_files]
    if extra:
        lines.append("  other files:")
        for relpath in extra:
            path = locate_file(card.name, relpath)
            lines.append(f"    {relpath}: " + (f"present ({path})" if path else "MISSING"))
    if card.remote:
        lines.append(f"  download:  {len(card.remote)} file(s) with download=True or {ENV_DOWNLOAD}=1")
    if card.download:
        lines.append(f"  by hand:   {card.download}")
    if card.missing:
        lines.append(f"  missing:   {card.missing}")
    return "\n".join(lines)


def _fetch(card: CorpusCard, relpath: str, remote: RemoteFile) -> Path:
    """Download (and convert) one corpus file into the user cache; return its path."""
    corpora = cache_root() / "corpora"
    return fetch_remote(card, relpath, remote, dest=corpora / card.name / relpath, downloads=corpora / "_downloads",
                        where=_where_to_put(card.name, relpath))


# ----------------------------------------------------------------------------------------------
# Reading files
# ----------------------------------------------------------------------------------------------


def _read_text(path: Path) -> str:
    """Read a UTF-8 file (a BOM is allowed) with a one-line error on bad bytes."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise TextganError(f"file {path} not found: check the path") from None
    except IsADirectoryError:
        raise TextganError(f"{path} is a directory, not a file: pass a file path") from None
    base = 0
    if raw.startswith(codecs.BOM_UTF8):
        raw, base = raw[len(codecs.BOM_UTF8):], len(codecs.BOM_UTF8)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise TextganError(
            f"file {path} is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {base + exc.start}, "
            f"line {line}): re-encode it to UTF-8, e.g. iconv -f latin1 -t utf-8 {path.name} > fixed_{path.name}"
        ) from None


def _split_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _read_records(path: Path, fmt: str, columns: Sequence[str] | None = None) -> tuple[list[str], list[dict[str, Any]]]:
    """Read a file into (column names in order, records)."""
    text = _read_text(path)
    if fmt == "txt":
        return ["text"], [{"text": line} for line in _split_lines(text)]
    if fmt == "jsonl":
        names: dict[str, None] = {}
        records = []
        for lineno, line in enumerate(_split_lines(text), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TextganError(
                    f"file {path} line {lineno} is not valid JSON ({exc.msg}): write one JSON object per line"
                ) from None
            if not isinstance(record, dict):
                raise TextganError(
                    f"file {path} line {lineno} is a JSON {type(record).__name__}, not an object: "
                    'write one object per line, e.g. {"text": "..."}'
                )
            names.update(dict.fromkeys(record))
            records.append(record)
        return list(names), records
    if fmt in ("csv", "tsv"):
        return _read_delimited(path, text, fmt, columns)
    raise TextganError(f"unsupported format {fmt!r} for {path}: use one of {list(FILE_FORMATS)}")


def _read_delimited(
    path: Path, text: str, fmt: str, columns: Sequence[str] | None
) -> tuple[list[str], list[dict[str, Any]]]:
    # TSV is read without quote handling (statements in LIAR start with '"'); CSV uses the
    # usual double-quote rules, including quoted newlines.
    kwargs: dict[str, Any] = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if fmt == "tsv" else {}
    old_limit = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)  # whole articles in one field exceed the 128 KiB default
    try:
        reader = csv.reader(io.StringIO(text, newline=""), **kwargs)
        header = list(columns) if columns is not None else None
        records = []
        for row in reader:
            if not row:
                continue
            if header is None:
                header = [name.strip() for name in row]
                continue
            if len(row) != len(header):
                raise TextganError(
                    f"file {path} line {reader.line_num} has {len(row)} fields but the header has "
                    f"{len(header)}: fix that row" + (" (quote fields that contain commas)" if fmt == "csv" else "")
                )
            records.append(dict(zip(header, row)))
    except csv.Error as exc:
        raise TextganError(f"file {path} is not valid {fmt.upper()} ({exc}): fix the file's quoting") from None
    finally:
        csv.field_size_limit(old_limit)
    return header or [], records


_INT_RE = re.compile(r"-?\d+")


def _records_to_dataset(
    records: list[dict[str, Any]],
    names: list[str],
    *,
    source: str,
    text_field: str,
    label_field: str | None,
    label_required: bool,
    label_names: Sequence[str] | None = None,
) -> Dataset:
    """Turn records into a Dataset with ``text`` (and ``label``) first; drop blank texts."""
    from datasets import Dataset

    if text_field not in names:
        if not records:
            raise TextganError(f"{source} is empty (no non-blank texts): pass a file with at least one text")
        raise TextganError(
            f"{source} has no column {text_field!r}: available columns are {names}; " + _TEXT_COLUMN_FIX
        )
    if label_field is not None and label_field not in names:
        if label_required:
            raise TextganError(
                f"{source} has no column {label_field!r}: available columns are {names}; "
                "pick the label column (`textgan run`: --set data.label_column=NAME) or leave it unset"
            )
        label_field = None

    kept = []
    for i, record in enumerate(records):
        value = record.get(text_field)
        if value is None:
            continue
        if not isinstance(value, str):
            raise TextganError(
                f"{source} row {i + 1}: column {text_field!r} holds a {type(value).__name__}, not text: "
                + _TEXT_COLUMN_FIX
            )
        if value.strip():
            kept.append(record)
    if len(kept) < len(records):
        logger.info("%s: dropped %d blank text(s)", source, len(records) - len(kept))
    if not kept:
        raise TextganError(f"{source} is empty (no non-blank texts): pass a file with at least one text")

    columns: dict[str, list[Any]] = {"text": [r[text_field] for r in kept]}
    if label_field is not None:
        labels = [r.get(label_field) for r in kept]
        if label_names is not None:
            index = {name: i for i, name in enumerate(label_names)}
            unknown = sorted({str(v) for v in labels if v not in index})
            if unknown:
                raise TextganError(
                    f"{source}: unknown label(s) {unknown[:5]} in column {label_field!r}: "
                    f"expected one of {list(label_names)}"
                )
            columns["label"] = [index[v] for v in labels]
            columns["label_name"] = labels
        else:
            if labels and all(isinstance(v, str) and _INT_RE.fullmatch(v.strip()) for v in labels):
                labels = [int(v) for v in labels]  # CSV/TSV give strings; "0"/"1" labels are ints
            columns["label"] = labels
    for name in names:
        if name in (text_field, label_field) or name in columns:
            continue
        columns[name] = [r.get(name) for r in kept]
    try:
        return Dataset.from_dict(columns)
    except Exception as exc:  # pyarrow raises several types for inconsistent columns
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TextganError(
            f"{source}: could not build a table ({first}): make each column hold one type of value"
        ) from None


# ----------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------


def load_corpus(
    spec: str | os.PathLike,
    split: str = "train",
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    download: bool | None = None,
) -> Dataset:
    """Load a named corpus split or a user file as an in-memory ``datasets.Dataset``.

    The result has a ``text`` column (str, no blank texts) first, then ``label`` when the
    source has labels, then the source's other columns. Rows with blank text are dropped.

    ``spec`` is either a registered corpus name (see `list_corpora`) or a path to
    a ``.txt`` file (one text per line), a ``.jsonl``, ``.csv`` or ``.tsv`` file (with a header
    row; text in column ``text_column``, default ``"text"``), a folder written by
    ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``, or a folder holding
    ``<split>.txt|.jsonl|.csv|.tsv``. For a single file ``split`` is ignored.

    Args:
        spec: corpus name or path.
        split: split name (named corpora, dataset dicts and split folders).
        text_column: source column holding the text (default: the card's, or ``"text"``).
        label_column: source column holding the label (default: the card's, or ``"label"``
            when present). Naming a column that does not exist is an error.
        download: fetch missing files of a named corpus (default: ``$TEXTGAN_DOWNLOAD``).

    Returns:
        The dataset, held in memory (nothing is written to the datasets cache).

    Raises:
        TextganError: unknown name or split, missing/empty/undecodable file, missing column,
            unsupported extension.
    """
    name = os.fspath(spec)
    if name in _REGISTRY:
        return _load_named(_REGISTRY[name], split, text_column, label_column, download)
    path = Path(name).expanduser()
    if path.exists():
        return _load_path(path, split, text_column, label_column)
    first = name.replace(os.sep, "/").split("/")[0]
    looks_like_path = bool(path.suffix) or os.sep in name or "/" in name
    if looks_like_path and first not in {n.split("/")[0] for n in _REGISTRY}:
        raise TextganError(
            f"file {name} not found (and it is not a named corpus): check the path, or use one of {sorted(_REGISTRY)}"
        )
    raise _unknown_corpus(name)


def _load_named(
    card: CorpusCard, split: str, text_column: str | None, label_column: str | None, download: bool | None
) -> Dataset:
    spec = card.splits.get(split)
    if spec is None:
        raise TextganError(f"corpus {card.name!r} has no split {split!r}: use one of {list(card.splits)}")
    names: list[str] = []
    records: list[dict[str, Any]] = []
    for relpath in spec.files:
        path = corpus_file(card.name, relpath, download=download)
        file_names, file_records = _read_records(path, spec.format, spec.columns)
        names.extend(n for n in file_names if n not in names)
        records.extend(file_records)
    label_field = label_column if label_column is not None else spec.label_field
    return _records_to_dataset(
        records,
        names,
        source=f"corpus {card.name!r} split {split!r}",
        text_field=text_column or spec.text_field,
        label_field=label_field,
        label_required=label_column is not None,
        label_names=spec.label_names if label_column is None else None,
    )


def _load_path(path: Path, split: str, text_column: str | None, label_column: str | None) -> Dataset:
    if path.is_dir():
        if any((path / marker).is_file() for marker in ("dataset_info.json", "state.json", "dataset_dict.json")):
            return _load_saved(path, split, text_column, label_column)
        for fmt in FILE_FORMATS:
            candidate = path / f"{split}.{fmt}"
            if candidate.is_file():
                return _load_path(candidate, split, text_column, label_column)
        raise TextganError(
            f"folder {path} is neither a saved dataset nor holds {split}.txt/.jsonl/.csv/.tsv: "
            "pass a file, or a folder written by Dataset.save_to_disk"
        )
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FILE_FORMATS:
        if _looks_like_plain_text(path):
            raise TextganError(
                f"{path} holds plain text, but its extension {path.suffix or '(none)'!r} does not say how to read it: "
                f"name it (or a link to it) {path.stem}.txt to read one text per line, or .jsonl/.csv/.tsv for records"
            )
        raise TextganError(
            f"unsupported file type {path.suffix or '(no extension)'!r} for {path}: use "
            ".txt (one text per line), .jsonl, .csv or .tsv, or a saved dataset folder"
        )
    if fmt == "txt" and text_column not in (None, "text"):
        raise TextganError(
            f"{path} is a .txt file with one text per line, it has no column {text_column!r}: leave text_column unset"
        )
    names, records = _read_records(path, fmt)
    return _records_to_dataset(
        records,
        names,
        source=f"file {path}",
        text_field=text_column or "text",
        label_field=label_column or "label",
        label_required=label_column is not None,
    )


def _load_saved(path: Path, split: str, text_column: str | None, label_column: str | None) -> Dataset:
    from datasets import DatasetDict, load_from_disk

    data = load_from_disk(str(path), keep_in_memory=True)
    if isinstance(data, DatasetDict):
        if split not in data:
            raise TextganError(f"saved dataset {path} has no split {split!r}: use one of {list(data)}")
        data = data[split]
    source = f"saved dataset {path}"
    text_field = text_column or "text"
    names = list(data.column_names)
    if text_field not in names:
        raise TextganError(
            f"{source} has no column {text_field!r}: available columns are {names}; " + _TEXT_COLUMN_FIX
        )
    if label_column is not None and label_column not in names:
        raise TextganError(
            f"{source} has no column {label_column!r}: available columns are {names}; "
            "pass label_column=<one of them> or leave it unset"
        )
    # Convert through Python records so saved datasets get the same checks and column order.
    records = data.to_list()
    return _records_to_dataset(
        records,
        names,
        source=source,
        text_field=text_field,
        label_field=label_column or "label",
        label_required=label_column is not None,
    )


# --------------------------------------------------------------------------- streaming


STREAMED_FORMATS: tuple[str, ...] = ("txt", "jsonl")
"""Formats :func:`iter_corpus` reads line by line; other sources are loaded whole."""


def iter_corpus(spec: str | os.PathLike, split: str = "test", *, text_column: str | None = None,
                download: bool | None = None) -> Iterator[tuple[Any, str]]:
    """Yield ``(id, text)`` for every non-blank text of a corpus split or user file, in order.

    ``.txt`` and ``.jsonl`` sources (user files, and named corpora stored that way) are read
    line by line, so memory stays constant however many texts there are; other sources (CSV,
    TSV, saved datasets) are loaded with :func:`load_corpus` and iterated. The texts and their
    order are those of :func:`load_corpus`; the id is the record's ``id`` field when it has one,
    else, for ``.txt`` / ``.jsonl`` sources, the 0-based line number (blank lines are skipped but
    counted, so an id points back at its line; over a corpus stored in several files, the line
    number in their concatenation), and for other sources the text's position among the kept
    (non-blank) texts. ``textgan embed`` numbers its vectors so.

    Raises:
        TextganError: as :func:`load_corpus` (missing file, bad JSON line, missing text column,
            bytes that are not UTF-8).
    """
    name = os.fspath(spec)
    files: list[tuple[Path, str]] = []
    field = text_column or "text"
    if name in _REGISTRY:
        card = _REGISTRY[name]
        split_spec = card.splits.get(split)
        if split_spec is not None and split_spec.format in STREAMED_FORMATS:
            files = [(corpus_file(card.name, rel, download=download), split_spec.format) for rel in split_spec.files]
            field = text_column or split_spec.text_field
    else:
        path = Path(name).expanduser()
        fmt = path.suffix.lower().lstrip(".")
        if path.is_file() and fmt in STREAMED_FORMATS:
            if fmt == "txt" and text_column not in (None, "text"):
                raise TextganError(f"{path} is a .txt file with one text per line, it has no column {text_column!r}: "
                                   "leave text_column unset")
            files = [(path, fmt)]
    if not files:
        ds = load_corpus(spec, split, text_column=text_column, download=download)
        ids = ds["id"] if "id" in ds.column_names else None
        for i in range(len(ds)):
            yield (ids[i] if ids is not None else i), ds[i]["text"]
        return
    lines_before = 0  # lines of the files already read: ids number the lines of the files joined
    for path, fmt in files:
        lineno = 0
        for lineno, line in _stream_lines(path):
            if fmt == "txt":
                record: dict[str, Any] = {"text": line}
            else:
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise TextganError(f"file {path} line {lineno} is not valid JSON ({exc.msg}): write one JSON "
                                       "object per line") from None
                if not isinstance(record, dict):
                    raise TextganError(f"file {path} line {lineno} is a JSON {type(record).__name__}, not an object: "
                                       'write one object per line, e.g. {"text": "..."}')
                if field not in record:
                    raise TextganError(f"file {path} line {lineno} has no field {field!r} (fields: {list(record)}): "
                                       "pass the text column (--text-column NAME)")
            text = record[field]
            if not isinstance(text, str) or not text.strip():
                continue
            yield record.get("id", lines_before + lineno - 1), text
        lines_before += lineno


def _stream_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of a UTF-8 file without its line ends (a BOM is allowed), with
    :func:`_read_text`'s one-line error on bad bytes."""
    try:
        f = open(path, encoding="utf-8-sig", newline="\n")  # lines end at \n only, as _split_lines
    except FileNotFoundError:
        raise TextganError(f"file {path} not found: check the path") from None
    with f:
        lineno = 0
        try:
            for lineno, line in enumerate(f, start=1):
                yield lineno, line.rstrip("\n").rstrip("\r")
        except UnicodeDecodeError:
            raise TextganError(f"file {path} is not valid UTF-8 (after line {lineno}): re-encode it to UTF-8, e.g. "
                               f"iconv -f latin1 -t utf-8 {path.name} > fixed_{path.name}") from None
