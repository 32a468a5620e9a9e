"""Corpus cards: the catalogue of named corpora, read from one YAML file per corpus.

The cards live in ``corpora/cards/`` (shipped in the wheel as ``textgan/corpus_cards/cards/``).
A corpus's registered name is its card's path under that folder without ``.yaml``:
``corpora/cards/coco_captions.yaml`` is ``coco_captions`` and ``corpora/cards/fake_news/liar.yaml``
is ``fake_news/liar`` (the name is also the corpus's folder under ``$TEXTGAN_CORPORA``). The
keys of a card are the fields of `CorpusCard`, `SplitSpec` and `RemoteFile`; ``corpora/README.md``
describes them with an example. A malformed card raises a one-line `TextganError` that names
the file and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from textgan.errors import TextganError

FILE_FORMATS: tuple[str, ...] = ("txt", "jsonl", "csv", "tsv")
"""Formats of user files (by extension) and of corpus split files."""

TRANSFORMS: tuple[str, ...] = ("copy", "rstrip_lines", "newsgroups_train", "newsgroups_test", "newsgroups_labels")
"""How a downloaded file becomes the corpus file (see `RemoteFile`)."""

CARD_SUFFIX = ".yaml"


@dataclass(frozen=True)
class RemoteFile:
    """Where one corpus file can be downloaded from, and how to check and convert it.

    Attributes:
        url: the download URL (pinned to a commit where the source is a git repository).
        sha256: expected sha256 of the downloaded bytes, if known.
        git_blob: expected git blob id (or a prefix of it) of the downloaded bytes, if known.
        transform: one of `TRANSFORMS`: ``"copy"`` keeps the bytes; ``"rstrip_lines"``
            strips trailing whitespace from every line and ends the file with one newline;
            ``"newsgroups_*"`` convert the 20news-bydate tarball to JSONL / the label list.
        size: approximate download size, for messages.
    """

    url: str
    sha256: str | None = None
    git_blob: str | None = None
    transform: str = "copy"
    size: str = ""


@dataclass(frozen=True)
class SplitSpec:
    """How to read one split of a named corpus.

    Attributes:
        files: file paths relative to the corpus folder; their rows are concatenated.
        format: one of `FILE_FORMATS`.
        text_field: the source field holding the text (becomes the ``text`` column).
        label_field: the source field holding the label (becomes ``label``), if any.
        columns: column names of a header-less CSV/TSV file.
        label_names: when set, string labels are mapped to their index in this tuple and the
            string is kept in a ``label_name`` column.
        rows: number of rows in the file(s) (blank texts included), from the manifest.
        note: one line for the card.
    """

    files: tuple[str, ...]
    format: str
    text_field: str = "text"
    label_field: str | None = None
    columns: tuple[str, ...] | None = None
    label_names: tuple[str, ...] | None = None
    rows: int | None = None
    note: str = ""


@dataclass(frozen=True)
class CorpusCard:
    """Facts about a named corpus and how textgan loads it.

    Attributes:
        name: the registered name, e.g. ``"coco_captions"`` or ``"fake_news/liar"``; it is
            also the folder under ``$TEXTGAN_CORPORA`` and the user cache.
        title: one-line title.
        description: what the corpus is.
        source: canonical source (URL / repository and path).
        license: license or terms of use.
        splits: split name -> `SplitSpec`.
        tokenizer: default tokenizer kind (see `textgan.data.tokenizers.TOKENIZER_KINDS`).
        files: every known file (relative path) -> sha256 (``None`` when unknown).
        remote: relative path -> `RemoteFile` for the files that can be downloaded.
        download: how to get the files by hand, in one sentence.
        integer_vocab: when set, tokens are the integers ``0..integer_vocab-1`` and the
            vocabulary is ``Vocab.integers(integer_vocab)``.
        missing: files the card expects but that are known to be unavailable, in one sentence.
    """

    name: str
    title: str
    description: str
    source: str
    license: str
    splits: dict[str, SplitSpec]
    tokenizer: str = "whitespace"
    files: dict[str, str | None] = field(default_factory=dict)
    remote: dict[str, RemoteFile] = field(default_factory=dict)
    download: str = ""
    integer_vocab: int | None = None
    missing: str = ""

    @property
    def card_path(self) -> str:
        """The card document, relative to the repository root (one per corpus family)."""
        return f"corpora/{self.name.split('/')[0]}.md"


# ----------------------------------------------------------------------------------------------
# Reading card files
# ----------------------------------------------------------------------------------------------


def cards_dir() -> Path:
    """The folder of the card files: ``corpora/cards/`` (installed: ``textgan/corpus_cards/cards/``)."""
    from textgan.resources import corpora_dir

    return corpora_dir() / "cards"


def card_name(path: Path, root: Path) -> str:
    """The registered name of the card file ``path`` under ``root``: its relative path without ``.yaml``."""
    return path.relative_to(root).with_suffix("").as_posix()


def load_cards(root: Path | None = None) -> list[CorpusCard]:
    """Read every ``*.yaml`` card under ``root`` (default: `cards_dir`), sorted by name.

    Raises:
        TextganError: the folder is missing, or a card is malformed (one line naming the file).
    """
    root = cards_dir() if root is None else Path(root)
    if not root.is_dir():
        raise TextganError(
            f"corpus cards folder {root} not found: reinstall textgan, or run it from a checkout that has corpora/cards/"
        )
    cards = [load_card(path, root) for path in sorted(root.rglob(f"*{CARD_SUFFIX}"))]
    return sorted(cards, key=lambda card: card.name)


def load_card(path: Path, root: Path | None = None) -> CorpusCard:
    """Read and check one card file; its name is its path under ``root`` (default: `cards_dir`).

    Raises:
        TextganError: the file is not valid YAML or does not follow the card format; the
            one-line message names the file, the problem and the fix.
    """
    path = Path(path)
    root = cards_dir() if root is None else Path(root)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TextganError(f"corpus card {path} cannot be read ({exc}): check the file") from None
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise TextganError(f"corpus card {path} is not valid YAML ({problem}{where}): fix the YAML syntax") from None
    return _Reader(path).card(card_name(path, root), data)


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_CARD_KEYS = {
    "title": "the one-line title",
    "description": "what the corpus is",
    "source": "where it comes from",
    "license": "its license or terms of use",
    "splits": "split name -> how to read it",
}
_OPTIONAL_CARD_KEYS = ("tokenizer", "files", "remote", "download", "integer_vocab", "missing")
_SPLIT_KEYS = ("files", "format", "text_field", "label_field", "columns", "label_names", "rows", "note")
_REMOTE_KEYS = ("url", "sha256", "git_blob", "transform", "size")


class _Reader:
    """Checks the YAML data of one card and builds the dataclasses; errors name the file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, problem: str, fix: str) -> TextganError:
        return TextganError(f"corpus card {self.path}: {problem}: {fix}")

    def mapping(self, value: Any, what: str, example: str) -> dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise self.error(f"{what} is a {type(value).__name__}, not a mapping", f"write it as {example}")
        return value

    def keys(self, data: dict, what: str, allowed: tuple[str, ...], required: tuple[str, ...]) -> None:
        for key in data:
            if key not in allowed:
                raise self.error(f"unknown key {key!r} in {what}", f"use only {list(allowed)}")
        for key in required:
            if key not in data:
                raise self.error(f"{what} lacks the key {key!r}", f"add {key}: <value>")

    def string(self, value: Any, what: str, *, optional: bool = False) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str):
            kind = "null" if value is None else type(value).__name__
            raise self.error(f"{what} is {kind}, not a string", "quote it, e.g. " + what.split()[-1] + ': "..."')
        return value

    def strings(self, value: Any, what: str, *, optional: bool = False) -> tuple[str, ...] | None:
        if value is None and optional:
            return None
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise self.error(f"{what} is not a non-empty list of strings", f"write it as {what.split()[-1]}: [a, b]")
        return tuple(value)

    def integer(self, value: Any, what: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.error(f"{what} is {value!r}, not a count", f"write a whole number, e.g. {what.split()[-1]}: 1000")
        return value

    def card(self, name: str, data: Any) -> CorpusCard:
        if data is None:
            raise self.error("the file is empty", "write the card's keys (see corpora/README.md)")
        data = self.mapping(data, "the card", "key: value lines (see corpora/README.md)")
        if "name" in data:
            raise self.error(
                "the card has a 'name' key",
                f"remove it (the name is the file's path under corpora/cards/ without .yaml, here {name})",
            )
        self.keys(data, "the card", (*_CARD_KEYS, *_OPTIONAL_CARD_KEYS), tuple(_CARD_KEYS))
        from textgan.data.tokenizers import TOKENIZER_KINDS

        tokenizer = self.string(data.get("tokenizer", "whitespace"), "tokenizer")
        if tokenizer not in TOKENIZER_KINDS:
            raise self.error(f"tokenizer {tokenizer!r} is unknown", f"use one of {list(TOKENIZER_KINDS)}")
        splits_data = self.mapping(data["splits"], "splits", "splits: {train: {files: [train.txt], format: txt}}")
        if not splits_data:
            raise self.error("splits is empty", "add at least one split, e.g. train: {files: [train.txt], format: txt}")
        files_data = self.mapping(data.get("files") or {}, "files", "files: {train.txt: <sha256 or null>}")
        files: dict[str, str | None] = {}
        for relpath, sha256 in files_data.items():
            sha = self.string(sha256, f"files: {relpath}", optional=True)
            if sha is not None and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha)):
                raise self.error(f"files: {relpath} has {sha!r}, not a sha256", "write 64 lower-case hex digits or null")
            files[relpath] = sha
        splits = {str(split): self.split(str(split), spec) for split, spec in splits_data.items()}
        for split, spec in splits.items():
            for relpath in spec.files:
                if relpath not in files:
                    raise self.error(
                        f"split {split!r} reads {relpath} but files does not list it", f"add {relpath}: <sha256 or null> to files"
                    )
        remote_data = self.mapping(data.get("remote") or {}, "remote", "remote: {train.txt: {url: https://...}}")
        remote = {relpath: self.remote(relpath, spec) for relpath, spec in remote_data.items()}
        for relpath in remote:
            if relpath not in files:
                raise self.error(f"remote lists {relpath} but files does not", f"add {relpath}: <sha256 or null> to files")
        integer_vocab = self.integer(data.get("integer_vocab"), "integer_vocab")
        return CorpusCard(
            name=name,
            title=self.string(data["title"], "title"),
            description=self.string(data["description"], "description"),
            source=self.string(data["source"], "source"),
            license=self.string(data["license"], "license"),
            splits=splits,
            tokenizer=tokenizer,
            files=files,
            remote=remote,
            download=self.string(data.get("download", ""), "download"),
            integer_vocab=integer_vocab,
            missing=self.string(data.get("missing", ""), "missing"),
        )

    def split(self, split: str, data: Any) -> SplitSpec:
        what = f"split {split!r}"
        data = self.mapping(data, what, f"{split}: {{files: [{split}.txt], format: txt}}")
        self.keys(data, what, _SPLIT_KEYS, ("files", "format"))
        fmt = self.string(data["format"], f"{what} format")
        if fmt not in FILE_FORMATS:
            raise self.error(f"{what} has format {fmt!r}", f"use one of {list(FILE_FORMATS)}")
        return SplitSpec(
            files=self.strings(data["files"], f"{what} files"),
            format=fmt,
            text_field=self.string(data.get("text_field", "text"), f"{what} text_field"),
            label_field=self.string(data.get("label_field"), f"{what} label_field", optional=True),
            columns=self.strings(data.get("columns"), f"{what} columns", optional=True),
            label_names=self.strings(data.get("label_names"), f"{what} label_names", optional=True),
            rows=self.integer(data.get("rows"), f"{what} rows"),
            note=self.string(data.get("note", ""), f"{what} note"),
        )

    def remote(self, relpath: str, data: Any) -> RemoteFile:
        what = f"remote {relpath}"
        data = self.mapping(data, what, f"{relpath}: {{url: https://..., sha256: ...}}")
        self.keys(data, what, _REMOTE_KEYS, ("url",))
        transform = self.string(data.get("transform", "copy"), f"{what} transform")
        if transform not in TRANSFORMS:
            raise self.error(f"{what} has transform {transform!r}", f"use one of {list(TRANSFORMS)}")
        return RemoteFile(
            url=self.string(data["url"], f"{what} url"),
            sha256=self.string(data.get("sha256"), f"{what} sha256", optional=True),
            git_blob=self.string(data.get("git_blob"), f"{what} git_blob", optional=True),
            transform=transform,
            size=self.string(data.get("size", ""), f"{what} size"),
        )
