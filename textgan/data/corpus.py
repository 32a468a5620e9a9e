"""Named corpora and user text files -> ``datasets.Dataset``; where corpus files are found.

A named corpus is described by a `CorpusCard` (mirrored by ``corpora/<name>.md``). Its files
are looked up in ``$TEXTGAN_CORPORA/<name>/``, then in the user cache
``$TEXTGAN_CACHE/corpora/<name>/`` (``TEXTGAN_CACHE`` defaults to ``~/.cache/textgan``), and,
only when asked (``download=True`` or ``TEXTGAN_DOWNLOAD=1``), downloaded from the card's
canonical source into the user cache.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import difflib
import hashlib
import http.client
import io
import json
import logging
import os
import re
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textgan.errors import TextganError
from textgan.io import atomic_open, atomic_tmp_path, file_sha256

if TYPE_CHECKING:
    from datasets import Dataset

logger = logging.getLogger(__name__)

ENV_CORPORA = "TEXTGAN_CORPORA"
ENV_CACHE = "TEXTGAN_CACHE"
ENV_DOWNLOAD = "TEXTGAN_DOWNLOAD"

FILE_FORMATS: tuple[str, ...] = ("txt", "jsonl", "csv", "tsv")
"""Formats of user files (by extension) and of corpus split files."""

TRANSFORMS: tuple[str, ...] = ("copy", "rstrip_lines", "newsgroups_train", "newsgroups_test", "newsgroups_labels")
"""How a downloaded file becomes the corpus file (see `RemoteFile`)."""

_DOWNLOAD_TIMEOUT_S = 60


# ----------------------------------------------------------------------------------------------
# Cards
# ----------------------------------------------------------------------------------------------


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


_TEXYGEN = "https://raw.githubusercontent.com/geek-ai/Texygen/3104e22ac75f3cc2070da2bf5e2da6d2bef149ad"
_GFS = "https://raw.githubusercontent.com/pclucas14/GansFallingShort/e6be915b1aed7843d83f7d543bfb8de9f3d3461f"
_ADM = "https://raw.githubusercontent.com/AYLIEN/adversarial-document-model/d2f7378728697069caa6ee33d12edacbc0c4ba0a"
_LIAR = "https://raw.githubusercontent.com/nishitpatel01/Fake_News_Detection/880a2782ab627c10e4f9cf98c3d753d48439a9d1"
_FAKES = "https://raw.githubusercontent.com/fmohsen/Fake-news-res/396124a80e3c4ae447d3b708487a5033cf82b400"
# The scikit-learn mirror of Jason Rennie's 20news-bydate.tar.gz, with the checksum sklearn uses.
_NEWSGROUPS_TAR = RemoteFile(
    url="https://ndownloader.figshare.com/files/5975967",
    sha256="8f1b2514ca22a5ade8fbb9cfa5727df95fa587f4c87b786e15c759fa66d95610",
    size="14 MB",
)

LIAR_LABELS: tuple[str, ...] = ("pants-fire", "false", "barely-true", "half-true", "mostly-true", "true")
"""LIAR's six labels from least to most truthful; ``label`` is the index in this tuple."""

LIAR_COLUMNS: tuple[str, ...] = (
    "id",
    "label",
    "statement",
    "subject",
    "speaker",
    "speaker_job",
    "state",
    "party",
    "barely_true_count",
    "false_count",
    "half_true_count",
    "mostly_true_count",
    "pants_on_fire_count",
    "context",
)
"""Column names of the header-less LIAR TSV files, in the order of the LIAR README."""


def _builtin_cards() -> list[CorpusCard]:
    newsgroups_train = dataclasses.replace(_NEWSGROUPS_TAR, transform="newsgroups_train")
    newsgroups_test = dataclasses.replace(_NEWSGROUPS_TAR, transform="newsgroups_test")
    newsgroups_labels = dataclasses.replace(_NEWSGROUPS_TAR, transform="newsgroups_labels")
    return [
        CorpusCard(
            name="coco_captions",
            title="Image COCO captions (LeakGAN/Texygen benchmark)",
            description=(
                "10,000 train / 10,000 test MS COCO image captions, lower-cased and whitespace "
                "tokenized, as used by LeakGAN, Texygen, RelGAN and TextGAN-PyTorch."
            ),
            source="https://github.com/geek-ai/Texygen (data/image_coco.txt, data/testdata/test_coco.txt)",
            license="Captions from MS COCO annotations (CC BY 4.0); Texygen and RelGAN repositories MIT.",
            splits={
                "train": SplitSpec(("train.txt",), "txt", rows=10000),
                "test": SplitSpec(("test.txt",), "txt", rows=10000),
            },
            tokenizer="whitespace",
            files={
                "train.txt": "21d92a3a9af0478ce63180fe01f6f0f2463c727f516b86b16df33598c12ac4c7",
                "test.txt": "99be29a05a039ad0d43ad88445b88bb885991957db0c8c4ed0c28e9cd9bf6e27",
            },
            remote={
                "train.txt": RemoteFile(
                    f"{_TEXYGEN}/data/image_coco.txt",
                    git_blob="f858bc9262633a0630108c03f67ee139dd30e778",
                    transform="rstrip_lines",
                ),
                "test.txt": RemoteFile(
                    f"{_TEXYGEN}/data/testdata/test_coco.txt",
                    git_blob="07d2f7fe20946c9483d2f06fec8367ae7e0839d3",
                    transform="rstrip_lines",
                ),
            },
            download=(
                "copy geek-ai/Texygen data/image_coco.txt to train.txt and data/testdata/test_coco.txt "
                "to test.txt (or pass download=True)"
            ),
        ),
        CorpusCard(
            name="emnlp_news",
            title="EMNLP2017 WMT News (LeakGAN/Texygen benchmark)",
            description=(
                "Sentences from the WMT17 News Crawl, whitespace tokenized: the standard 10,000-sentence "
                "test set, a non-standard 10,000-sentence held-out set from GansFallingShort (valid), and "
                "the ~270k-sentence training set emnlp_news.txt (not shipped; see the card)."
            ),
            source=(
                "https://github.com/geek-ai/Texygen (data/emnlp_news.txt, data/testdata/test_emnlp.txt); "
                "https://github.com/pclucas14/GansFallingShort (real_data_experiments/data/news/valid.txt)"
            ),
            license="Derived from WMT17 News Crawl (research use; article copyright stays with publishers).",
            splits={
                "train": SplitSpec(
                    ("emnlp_news.txt",), "txt", note="standard training set; absent from the shared corpora"
                ),
                "valid": SplitSpec(
                    ("valid_gansfallingshort.txt",),
                    "txt",
                    rows=10000,
                    note="NON-standard held-out set (GansFallingShort); splits ',\"' into ', \"'",
                ),
                "test": SplitSpec(("test.txt",), "txt", rows=10000),
            },
            tokenizer="whitespace",
            files={
                "emnlp_news.txt": None,
                "test.txt": "a5b3cf321d9db5b5a831a6b488226bf1a23309561eaa2b90710ae8be27de6cac",
                "valid_gansfallingshort.txt": "e66a6fdd1f6cb15cb8f851051e5c49062270e0de1e69213289ce50b88a1d7281",
            },
            remote={
                "emnlp_news.txt": RemoteFile(
                    f"{_TEXYGEN}/data/emnlp_news.txt", git_blob="538653e5f946", transform="rstrip_lines"
                ),
                "test.txt": RemoteFile(
                    f"{_TEXYGEN}/data/testdata/test_emnlp.txt",
                    git_blob="9e180502bad14b00e46b32d88d8ee6417ebc050d",
                    transform="rstrip_lines",
                ),
                "valid_gansfallingshort.txt": RemoteFile(
                    f"{_GFS}/real_data_experiments/data/news/valid.txt",
                    git_blob="b4a75a5893fc7a080ea660800ee5a0b4e12a7e39",
                ),
            },
            download=(
                "get data/emnlp_news.txt from geek-ai/Texygen or weilinie/RelGAN "
                "(or pass download=True)"
            ),
            missing="train (emnlp_news.txt, ~270k sentences) is not in the shared corpora",
        ),
        CorpusCard(
            name="newsgroups20",
            title="20 Newsgroups (bydate split) + ADM 2,000-word vocabulary",
            description=(
                "11,314 train / 7,532 test Usenet messages (headers included) labelled with one of 20 "
                "newsgroups (label = alphabetical index, the scikit-learn order), plus the 2,000-word "
                "vocabulary of the Adversarial Document Model (Glover, 2016)."
            ),
            source=(
                "http://qwone.com/~jason/20Newsgroups/ (20news-bydate.tar.gz); "
                "https://github.com/AYLIEN/adversarial-document-model (data/20newsgroups.vocab)"
            ),
            license="No explicit license; Usenet posts by their authors, widely redistributed for research.",
            splits={
                "train": SplitSpec(("train.jsonl",), "jsonl", label_field="label", rows=11314),
                "test": SplitSpec(("test.jsonl",), "jsonl", label_field="label", rows=7532),
            },
            tokenizer="nltk",
            files={
                "train.jsonl": "cca2fffb89629efc27eab275a4c997b860ec762364df98d826b018c9737a5649",
                "test.jsonl": "4fa931492b7b5a88e526a6d3de64b28fa0ebec594a189322ea695e77cccbdac5",
                "labels.txt": "e639d15e21a5fef5fa90955acc42bbf428a9bd3a379cd3084b9595cb0066831b",
                "20newsgroups.vocab": "2c238e0c722a22725ed459ac83842e3aceff508947cc87bae773337042e568a8",
            },
            remote={
                "train.jsonl": newsgroups_train,
                "test.jsonl": newsgroups_test,
                "labels.txt": newsgroups_labels,
                "20newsgroups.vocab": RemoteFile(
                    f"{_ADM}/data/20newsgroups.vocab", git_blob="2a7c0b8a4302630d3f68615389991b1c49ef07da"
                ),
            },
            download="pass download=True to convert 20news-bydate.tar.gz (scikit-learn's mirror) into JSONL",
        ),
        CorpusCard(
            name="fake_news/fa_kes",
            title="FA-KES: fake news about the Syrian war",
            description=(
                "804 full news articles about the Syrian war (Salem et al., ICWSM 2019), label 0=fake "
                "1=credible; no official split, a 'fold' column (0-4) gives a stratified 5-fold assignment."
            ),
            source="https://doi.org/10.5281/zenodo.2607278 (copy from github.com/fmohsen/Fake-news-res)",
            license="CC BY 4.0",
            splits={
                "all": SplitSpec(
                    ("fa_kes.jsonl",), "jsonl", label_field="label", rows=804, note="use the fold column for CV"
                ),
            },
            tokenizer="nltk",
            files={
                "fa_kes.jsonl": "385e748ac6034aa1fee8b5dc104a8314135738a982af0871c8e208924f71ac4e",
                "FA-KES-Dataset.csv": "a7104da367bad8462d87f9602391c7de56ddcdaaa55bd5c7d1e07aeaed64f45a",
            },
            remote={
                "FA-KES-Dataset.csv": RemoteFile(
                    f"{_FAKES}/FA-KES-Dataset.csv", git_blob="7d31971cbdf5f486024ff06b7b2418ca7371ec3e"
                ),
            },
            download=(
                "fa_kes.jsonl (with its fold column) exists only in the shared corpora; the original CSV "
                "can be downloaded and loaded as a user file with text_column='article_content'"
            ),
        ),
        CorpusCard(
            name="fake_news/fakenewsnet_v1",
            title="FakeNewsNet v1 (BuzzFeed + PolitiFact articles)",
            description=(
                "422 full news articles from the first FakeNewsNet release (Shu et al., 2017), label "
                "1=fake 0=real (the opposite polarity of FA-KES); 'platform' and 'fold' (0-4) columns."
            ),
            source="https://github.com/KaiDMML/FakeNewsNet @ 2f4a9a9e4ff4 (Data/, removed in dataset v2)",
            license="No license file; article texts are copyrighted by their publishers (research use).",
            splits={
                "all": SplitSpec(
                    ("articles.jsonl",),
                    "jsonl",
                    label_field="label",
                    rows=422,
                    note="2 articles with empty text are dropped on load; use the fold column for CV",
                ),
            },
            tokenizer="nltk",
            files={"articles.jsonl": "9c6eb1eb7009397f1f6bbdfeb4e8dddb1d94736896fde8804a4327162bc92869"},
            download="articles.jsonl exists only in the shared corpora (built from FakeNewsNet's old Data/ folder)",
        ),
        CorpusCard(
            name="fake_news/liar",
            title="LIAR: PolitiFact statements with 6-way truthfulness labels",
            description=(
                "12.8k short political statements (Wang, ACL 2017) with official train/valid/test splits; "
                "label = index in pants-fire, false, barely-true, half-true, mostly-true, true."
            ),
            source=(
                "https://www.cs.ucsb.edu/~william/data/liar_dataset.zip "
                "(copy from nishitpatel01/Fake_News_Detection)"
            ),
            license="Research purposes only; original sources retain copyright (LIAR README).",
            splits={
                split: SplitSpec(
                    (f"{split}.tsv",),
                    "tsv",
                    text_field="statement",
                    label_field="label",
                    columns=LIAR_COLUMNS,
                    label_names=LIAR_LABELS,
                    rows=rows,
                )
                for split, rows in (("train", 10269), ("valid", 1284), ("test", 1283))
            },
            tokenizer="nltk",
            files={
                "train.tsv": "23ef8cb7ff57b25c941100d0744039cebc595d65a67ea190f72b330a658d8c36",
                "valid.tsv": "8dd3d7ed1a11e78ed7df090c9eddb0f91147f895850c78d49dd7b4e88fd09a16",
                "test.tsv": "ee41e2c741e0019216952625145af8c4aa8c8d3057ec68284b134267bb845e6f",
            },
            remote={
                "train.tsv": RemoteFile(
                    f"{_LIAR}/liar_dataset/train.tsv", git_blob="04b34a7c5eb1ee026a61a99c92512754c1dacc6b"
                ),
                "valid.tsv": RemoteFile(
                    f"{_LIAR}/liar_dataset/valid.tsv", git_blob="8d1fc7a75a9e77eb197aefd81113d9f24f175c40"
                ),
                "test.tsv": RemoteFile(
                    f"{_LIAR}/liar_dataset/test.tsv", git_blob="a53fa254e1aab00e9c4d2442248bd43ff103ad90"
                ),
            },
            download="copy liar_dataset/{train,valid,test}.tsv from the LIAR release (or pass download=True)",
        ),
        CorpusCard(
            name="synthetic_oracle",
            title="SeqGAN synthetic oracle (random LSTM, vocabulary 5000, length 20)",
            description=(
                "The fixed random LSTM language model of SeqGAN's synthetic experiments (parameters as "
                ".npz) and 10,000 sequences of 20 integer tokens sampled from it."
            ),
            source="https://github.com/LantaoYu/SeqGAN (save/target_params_py3.pkl, target_lstm.py)",
            license="No license file; the parameters are random numbers published with the paper code.",
            splits={"train": SplitSpec(("oracle_samples_10k.txt",), "txt", rows=10000)},
            tokenizer="whitespace",
            files={
                "oracle_samples_10k.txt": "36783f42b899bfdbafce1e5689091cf168059e099bed008c82cf90c8f81af7e6",
                "seqgan_oracle_params.npz": "bcfc7b5884bc937407e2903486db87e993ecd7aa7ac9f26f5e82bbddd481df15",
            },
            download=(
                "both files exist only in the shared corpora (the .npz is converted from SeqGAN's pickle, "
                "the samples were drawn from it)"
            ),
            integer_vocab=5000,
        ),
    ]


_REGISTRY: dict[str, CorpusCard] = {card.name: card for card in _builtin_cards()}


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
        how = f"pass download=True (or set {ENV_DOWNLOAD}=1) to fetch it from {remote.url}"
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


# ----------------------------------------------------------------------------------------------
# Downloading
# ----------------------------------------------------------------------------------------------


def _git_blob_id(path: Path) -> str:
    """The git blob id of a file: sha1 of ``b"blob <size>\\0" + content``."""
    digest = hashlib.sha1()
    digest.update(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download_to(url: str, dest: Path) -> None:
    """Stream ``url`` into ``dest`` atomically; raise the underlying network error."""
    request = urllib.request.Request(url, headers={"User-Agent": "textgan"})
    tmp = atomic_tmp_path(dest)
    try:
        with urllib.request.urlopen(request, timeout=_DOWNLOAD_TIMEOUT_S) as response, open(tmp, "wb") as out:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                out.write(chunk)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _fetch(card: CorpusCard, relpath: str, remote: RemoteFile) -> Path:
    """Download (and convert) one corpus file into the user cache; return its path."""
    dest = cache_root() / "corpora" / card.name / relpath
    raw = cache_root() / "corpora" / "_downloads" / (
        hashlib.sha256(remote.url.encode()).hexdigest()[:16] + "-" + (remote.url.rsplit("/", 1)[-1] or "download")
    )
    if not raw.is_file():
        logger.info("downloading %s %s from %s %s", card.name, relpath, remote.url, remote.size)
        try:
            _download_to(remote.url, raw)
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise TextganError(
                f"could not download {card.name} {relpath} from {remote.url} ({reason}): download it by "
                f"hand and put it at {_where_to_put(card.name, relpath)}"
            ) from None
        problem = None
        if remote.sha256 is not None and file_sha256(raw) != remote.sha256:
            problem = f"sha256 differs from {remote.sha256[:12]}"
        elif remote.git_blob is not None and not _git_blob_id(raw).startswith(remote.git_blob):
            problem = f"git blob id differs from {remote.git_blob[:12]}"
        if problem:
            raw.unlink(missing_ok=True)
            raise TextganError(
                f"downloaded {remote.url} is not the expected file ({problem}): retry, or get {relpath} "
                f"by hand and put it at {_where_to_put(card.name, relpath)}"
            )
    data = _TRANSFORM_FNS[remote.transform](raw)
    with atomic_open(dest, "wb") as f:
        f.write(data)
    # Keep a shared download (the 20news tarball feeds three files); drop single-use ones.
    if sum(r.url == remote.url for r in card.remote.values()) == 1:
        raw.unlink(missing_ok=True)
    expected = card.files.get(relpath)
    if expected is not None and file_sha256(dest) != expected:
        logger.warning(
            "%s %s: sha256 differs from the card's %s (the conversion may not match the shared copy)",
            card.name,
            relpath,
            expected[:12],
        )
    logger.info("saved %s", dest)
    return dest


def _rstrip_lines(raw: Path) -> bytes:
    lines = raw.read_bytes().split(b"\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return b"".join(line.rstrip() + b"\n" for line in lines)


def _newsgroups_members(raw: Path) -> dict[str, list[tuple[str, str, bytes]]]:
    """Read 20news-bydate.tar.gz: split -> [(label name, file name, bytes)], sorted."""
    out: dict[str, list[tuple[str, str, bytes]]] = {"train": [], "test": []}
    with tarfile.open(raw, "r:gz") as tar:
        for member in tar:
            parts = member.name.strip("./").split("/")
            if not member.isfile() or len(parts) != 3 or not parts[0].startswith("20news-bydate-"):
                continue
            split = parts[0].removeprefix("20news-bydate-")
            if split in out:
                data = tar.extractfile(member)
                if data is not None:
                    out[split].append((parts[1], parts[2], data.read()))
    for records in out.values():
        records.sort(key=lambda r: (r[0], r[1]))
    return out


def _newsgroups_labels_from(members: dict[str, list[tuple[str, str, bytes]]]) -> list[str]:
    return sorted({label for records in members.values() for label, _, _ in records})


def _newsgroups_jsonl(split: str) -> Callable[[Path], bytes]:
    def convert(raw: Path) -> bytes:
        members = _newsgroups_members(raw)
        labels = _newsgroups_labels_from(members)
        index = {label: i for i, label in enumerate(labels)}
        out = io.StringIO()
        for label, fname, data in members[split]:
            # The original archive is Latin-1 (as scikit-learn decodes it).
            record = {"id": f"{split}/{label}/{fname}", "label": index[label], "label_name": label,
                      "text": data.decode("latin-1")}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        return out.getvalue().encode("utf-8")

    return convert


def _newsgroups_labels(raw: Path) -> bytes:
    return "".join(label + "\n" for label in _newsgroups_labels_from(_newsgroups_members(raw))).encode()


_TRANSFORM_FNS: dict[str, Callable[[Path], bytes]] = {
    "copy": lambda raw: raw.read_bytes(),
    "rstrip_lines": _rstrip_lines,
    "newsgroups_train": _newsgroups_jsonl("train"),
    "newsgroups_test": _newsgroups_jsonl("test"),
    "newsgroups_labels": _newsgroups_labels,
}


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
            f"{source} has no column {text_field!r}: available columns are {names}; pass text_column=<one of them>"
        )
    if label_field is not None and label_field not in names:
        if label_required:
            raise TextganError(
                f"{source} has no column {label_field!r}: available columns are {names}; "
                "pass label_column=<one of them> or leave it unset"
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
                "pick a text column with text_column=..."
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
            f"{source} has no column {text_field!r}: available columns are {names}; pass text_column=<one of them>"
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
