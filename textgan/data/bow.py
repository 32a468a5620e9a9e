"""Binary bag-of-words for the Adversarial Document Model: tokenizers, stop list, vocabulary, splits.

Preprocessing follows the ADM reference code (AYLIEN/adversarial-document-model, ``preprocess.py``):
a document is tokenized with NLTK's ``word_tokenize``, every token is lower-cased, tokens outside
the vocabulary are dropped, and the document becomes a 0/1 vector over the vocabulary (a word's
count does not matter). Two deviations, both documented in ``docs/adm.md``:

* NLTK's ``word_tokenize`` first splits sentences with Punkt, which needs a data download. The
  ``"nltk"`` tokenizer here splits sentences after ``.``, ``!`` or ``?`` followed by whitespace,
  then runs the same Treebank word tokenizer on each sentence, so sentence-final periods are
  split off as Punkt would (abbreviations such as ``Mr.`` are split too, which Punkt would not).
* The reference keeps a token only when ``vocab_to_id.get(token)`` is truthy, which silently drops
  the vocabulary's first word (id 0, ``"aa"`` in the 20 Newsgroups vocabulary). Here it is kept.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ..errors import TextganError
from ..io import atomic_open

log = logging.getLogger(__name__)

BOW_TOKENIZERS: tuple[str, ...] = ("nltk", "words")
"""``"nltk"``: the reference's Treebank tokenizer (about 350 long documents/s per core);
``"words"``: runs of two or more word characters, lower-cased (scikit-learn's default token
pattern, about 40 times faster)."""

# A hand-written English stop list (function words, pronouns, auxiliaries and contraction
# fragments), so that building a vocabulary needs no NLTK download
# and no scikit-learn. It is close to the usual lists (NLTK's, Glasgow's) but is ours.
ENGLISH_STOP_WORDS: frozenset[str] = frozenset("""
a about above across after afterwards again against all almost alone along already also although
always am among amongst an and another any anybody anyhow anyone anything anyway anywhere are
aren around as at back be became because become becomes becoming been before beforehand behind
being below beside besides between beyond both but by can cannot could couldn did didn do does
doesn doing don done down due during each either else elsewhere enough etc even ever every
everyone everything everywhere except few for former formerly from further had hadn has hasn have
haven having he hence her here hereafter hereby herein hereupon hers herself him himself his how
however i ie if in indeed into is isn it its itself just last latter latterly least less ll many
may me meanwhile might mine more moreover most mostly much must mustn my myself namely neither
never nevertheless next no nobody none noone nor not nothing now nowhere of off often on once one
only onto or other others otherwise our ours ourselves out over own per perhaps please quite
rather re really same several she should shouldn since so some somehow someone something
sometime sometimes somewhere still such than that the their theirs them themselves then thence
there thereafter thereby therefore therein thereupon these they this those though through
throughout thru thus to together too toward towards under until up upon us ve very via was wasn
we well were weren what whatever when whence whenever where whereafter whereas whereby wherein
whereupon wherever whether which while whither who whoever whole whom whose why will with within
without won would wouldn yet you your yours yourself yourselves
n't 's 're 've 'll 'd 'm
""".split())
"""Words left out of a vocabulary built by :meth:`BowEncoder.build` (pass your own to override)."""

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORDS = re.compile(r"\b\w\w+\b")
_ALPHA = re.compile(r"^[a-z]{2,}$")


def _nltk_tokenizer() -> Callable[[str], list[str]]:
    from nltk.tokenize import TreebankWordTokenizer

    tokenize = TreebankWordTokenizer().tokenize

    def nltk_tokens(text: str) -> list[str]:
        return [t.lower() for sentence in _SENTENCE_END.split(text) for t in tokenize(sentence)]

    return nltk_tokens


def _word_tokens(text: str) -> list[str]:
    return _WORDS.findall(text.lower())


def get_tokenizer(kind: str) -> Callable[[str], list[str]]:
    """A text -> lower-cased tokens function.

    Args:
        kind: one of :data:`BOW_TOKENIZERS`.

    Raises:
        TextganError: unknown kind.
    """
    if kind == "nltk":
        return _nltk_tokenizer()
    if kind == "words":
        return _word_tokens
    raise TextganError(f"unknown bag-of-words tokenizer {kind!r}: use one of {list(BOW_TOKENIZERS)}")


class BowEncoder:
    """A vocabulary plus a tokenizer: texts -> (N, V) word counts or binary bags of words.

    Args:
        words: the vocabulary; column ``i`` of an encoded matrix is ``words[i]``.
        tokenizer: one of :data:`BOW_TOKENIZERS`.

    Raises:
        TextganError: an empty vocabulary or a repeated word.
    """

    def __init__(self, words: Sequence[str], tokenizer: str = "nltk") -> None:
        words = [w.strip() for w in words if w.strip()]
        if not words:
            raise TextganError("the bag-of-words vocabulary is empty: give a vocabulary file with one word per line")
        index = {}
        for i, w in enumerate(words):
            if w in index:
                raise TextganError(f"word {w!r} appears twice in the bag-of-words vocabulary: remove the duplicate")
            index[w] = i
        self.words = list(words)
        self.tokenizer = tokenizer
        self._index = index
        self._tokenize = get_tokenizer(tokenizer)

    def __len__(self) -> int:
        return len(self.words)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BowEncoder) and other.words == self.words and other.tokenizer == self.tokenizer

    def tokenize(self, text: str) -> list[str]:
        """Lower-cased tokens of ``text`` (all of them, in and out of the vocabulary)."""
        return self._tokenize(text)

    def counts(self, texts: Iterable[str], *, progress: bool = False) -> Tensor:
        """Count vocabulary words per text.

        Args:
            texts: documents.
            progress: show a progress bar.

        Returns:
            (N, V) uint8 counts, clipped at 255 (only TF-IDF reads counts; 255 is far above any
            count in 20 Newsgroups that matters for cosine ranking).
        """
        from tqdm.auto import tqdm

        texts = list(texts)
        rows: list[int] = []
        cols: list[int] = []
        index = self._index
        for i, text in enumerate(tqdm(texts, desc="bag of words", unit="doc", disable=not progress, dynamic_ncols=True)):
            ids = [index[t] for t in self._tokenize(text) if t in index]
            rows.extend([i] * len(ids))
            cols.extend(ids)
        out = torch.zeros(len(texts) * len(self), dtype=torch.int32)
        if cols:
            flat = torch.tensor(rows, dtype=torch.int64) * len(self) + torch.tensor(cols, dtype=torch.int64)
            out.index_add_(0, flat, torch.ones_like(flat, dtype=torch.int32))
        return out.clamp_(max=255).to(torch.uint8).view(len(texts), len(self))

    def encode(self, texts: Iterable[str], *, progress: bool = False) -> Tensor:
        """Binary bags of words, as the reference's ``preprocess.py``.

        Returns:
            (N, V) float32 of 0/1: 1 where the word occurs in the text at least once.
        """
        return (self.counts(texts, progress=progress) > 0).float()

    def save(self, path: str | os.PathLike) -> None:
        """Write ``{"kind": "bow", "tokenizer", "words"}`` as JSON, atomically."""
        with atomic_open(path) as f:
            json.dump({"kind": "bow", "tokenizer": self.tokenizer, "words": self.words}, f, ensure_ascii=False)
            f.write("\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "BowEncoder":
        """Read what :meth:`save` wrote.

        Raises:
            TextganError: the file is missing, unreadable or not a bag-of-words vocabulary.
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise TextganError(f"bag-of-words vocabulary {str(path)!r} is unreadable ({e}): re-save the checkpoint") from None
        if not isinstance(data, dict) or data.get("kind") != "bow":
            raise TextganError(f"{str(path)!r} is not a bag-of-words vocabulary: pass an ADM checkpoint or run folder")
        return cls(data["words"], data["tokenizer"])

    @classmethod
    def from_file(cls, path: str | os.PathLike, tokenizer: str = "nltk") -> "BowEncoder":
        """A vocabulary file with one word per line (the reference's ``.vocab`` format).

        Raises:
            TextganError: the file is missing or empty.
        """
        path = Path(path)
        if not path.is_file():
            raise TextganError(f"vocabulary file {str(path)!r} not found: give a file with one word per line")
        return cls(path.read_text(encoding="utf-8").splitlines(), tokenizer)

    @classmethod
    def build(cls, texts: Iterable[str], size: int = 2000, tokenizer: str = "nltk",
              stop_words: Iterable[str] | None = None, *, progress: bool = False) -> "BowEncoder":
        """The ``size`` most frequent words of ``texts`` (by token count), stop words removed.

        Only alphabetic tokens of two or more letters are candidates, like every word of the
        paper's 20 Newsgroups vocabulary. Ties break alphabetically; the result is sorted
        alphabetically, as the paper's file is.

        Args:
            texts: training documents (never the test split).
            size: vocabulary size V.
            tokenizer: one of :data:`BOW_TOKENIZERS`.
            stop_words: words to leave out (default :data:`ENGLISH_STOP_WORDS`).
            progress: show a progress bar.
        """
        from tqdm.auto import tqdm

        stop = ENGLISH_STOP_WORDS if stop_words is None else frozenset(stop_words)
        tok = get_tokenizer(tokenizer)
        freq: Counter[str] = Counter()
        for text in tqdm(texts, desc="vocabulary", unit="doc", disable=not progress, dynamic_ncols=True):
            freq.update(tok(text))
        ranked = sorted((w for w in freq if _ALPHA.match(w) and w not in stop), key=lambda w: (-freq[w], w))
        if not ranked:
            raise TextganError("no vocabulary word found in the training texts: check data.text_column")
        return cls(sorted(ranked[:size]), tokenizer)


@dataclass
class BowSplit:
    """Encoded documents of one split.

    Attributes:
        counts: (N, V) uint8 word counts (binary input is ``counts > 0``).
        labels: (N,) int64 label ids, or None for an unlabelled corpus.
        ids: one identifier per document (the source's ``id`` column, else the row number).
    """

    counts: Tensor
    labels: Tensor | None
    ids: list

    @property
    def binary(self) -> Tensor:
        """(N, V) float32 0/1 bags of words."""
        return (self.counts > 0).float()

    def __len__(self) -> int:
        return self.counts.shape[0]

    def subset(self, index: Tensor) -> "BowSplit":
        """The documents at ``index`` (a (K,) int64 tensor), in that order."""
        labels = None if self.labels is None else self.labels[index]
        return BowSplit(self.counts[index], labels, [self.ids[i] for i in index.tolist()])


@dataclass
class BowData:
    """Training, validation and (optional) test bags of words with one vocabulary.

    Attributes:
        encoder: the vocabulary and tokenizer.
        train: the training split minus the validation documents.
        valid: validation documents cut from the training split.
        test: the test split, or None when the corpus has none.
        label_names: label id -> name, when known.
    """

    encoder: BowEncoder
    train: BowSplit
    valid: BowSplit
    test: BowSplit | None
    label_names: list[str] | None


def label_ids(values: Sequence, names: list[str] | None = None) -> tuple[Tensor, list[str]]:
    """Map labels (ints or strings) to int64 ids.

    Integer labels are kept as they are; strings are numbered in sorted order, extending
    ``names`` (so that test labels reuse the training numbering).

    Returns:
        (N,) int64 ids and the (possibly extended) list of string names ([] for integer labels).
    """
    names = list(names or [])
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return torch.tensor(list(values), dtype=torch.int64), names
    strings = [str(v) for v in values]
    for s in sorted(set(strings) - set(names)):
        names.append(s)
    index = {s: i for i, s in enumerate(names)}
    return torch.tensor([index[s] for s in strings], dtype=torch.int64), names


def validation_split(n: int, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """A deterministic split of ``range(n)`` into training and validation indices.

    Args:
        n: number of training documents.
        fraction: share held out for validation (rounded, at least one document and at least
            one left for training).
        seed: the permutation's seed.

    Returns:
        Sorted (n - k,) training and (k,) validation int64 indices.
    """
    if n < 2:
        raise TextganError(f"the training split has {n} document(s): at least 2 are needed to cut a validation set")
    k = min(max(1, int(math.floor(n * fraction + 0.5))), n - 1)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[k:].sort().values, perm[:k].sort().values


def _split_from_dataset(ds, encoder: BowEncoder, label_names: list[str] | None, progress: bool) -> tuple[BowSplit, list[str] | None]:
    counts = encoder.counts(ds["text"], progress=progress)
    ids = list(ds["id"]) if "id" in ds.column_names else list(range(len(ds)))
    labels = None
    if "label" in ds.column_names:
        labels, label_names = label_ids(list(ds["label"]), label_names)
        if not label_names and "label_name" in ds.column_names:  # integer labels with names (newsgroups20)
            named = dict(zip(labels.tolist(), ds["label_name"]))
            label_names = [str(named.get(i, i)) for i in range(int(labels.max()) + 1)] if len(labels) else None
    return BowSplit(counts, labels, ids), label_names


def load_bow_data(corpus: str, encoder: BowEncoder | None, *, train_split: str = "train", test_split: str | None = "test",
                  text_column: str | None = None, label_column: str | None = None, validation_fraction: float = 0.1,
                  seed: int = 0, vocab_size: int = 2000, tokenizer: str = "nltk",
                  stop_words: Iterable[str] | None = None, progress: bool = False) -> BowData:
    """Load a named corpus or user file and encode its splits as bags of words.

    Args:
        corpus: registered corpus name or a path (see :func:`textgan.data.corpus.load_corpus`).
        encoder: the vocabulary to use; None builds one from the training documents (after the
            validation documents are cut off, so they stay unseen).
        train_split: split holding training (and validation) documents.
        test_split: test split, or None. A single user file has no test split.
        text_column: source column of the text.
        label_column: source column of the label (optional: retrieval needs labels).
        validation_fraction: share of the training split held out, by a permutation seeded
            with ``seed``.
        seed: validation split seed.
        vocab_size: V when the vocabulary is built.
        tokenizer: tokenizer when the vocabulary is built.
        stop_words: stop list when the vocabulary is built.
        progress: show progress bars.
    """
    from .corpus import load_corpus

    train_ds = load_corpus(corpus, train_split, text_column=text_column, label_column=label_column)
    train_index, valid_index = validation_split(len(train_ds), validation_fraction, seed)
    if encoder is None:
        texts = train_ds.select(train_index.tolist())["text"]
        encoder = BowEncoder.build(texts, vocab_size, tokenizer, stop_words, progress=progress)
    full, names = _split_from_dataset(train_ds, encoder, None, progress)
    test = None
    if test_split is not None and not Path(corpus).is_file():
        test_ds = load_corpus(corpus, test_split, text_column=text_column, label_column=label_column)
        test, names = _split_from_dataset(test_ds, encoder, names, progress)
        if (test.labels is None) != (full.labels is None):
            raise TextganError(f"corpus {corpus!r}: only one of the {train_split!r} and {test_split!r} splits has labels: label both or neither")
    return BowData(encoder, full.subset(train_index), full.subset(valid_index), test, names or None)
