"""Text <-> token strings: whitespace, NLTK, SentencePiece and local Hugging Face tokenizers."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from textgan.errors import TextganError
from textgan.io import atomic_open, make_tmp_dir

logger = logging.getLogger(__name__)

TOKENIZER_KINDS: tuple[str, ...] = ("whitespace", "nltk", "sentencepiece", "hf")
"""Valid values of ``kind`` for `build_tokenizer` and `load_tokenizer`."""

SENTENCEPIECE_MODEL_TYPES: tuple[str, ...] = ("unigram", "bpe")

_SP_MODEL_FILE = "sentencepiece.model"
_HF_FOLDER = "hf_tokenizer"


@runtime_checkable
class Tokenizer(Protocol):
    """What the data pipeline needs from a tokenizer.

    Attributes:
        kind: the registered kind (one of `TOKENIZER_KINDS` for the built-in ones).
    """

    kind: str

    def tokenize(self, text: str) -> list[str]:
        """Split ``text`` into token strings."""
        ...

    def detokenize(self, tokens: Sequence[str]) -> str:
        """Join token strings back into text (the inverse of `tokenize` up to spacing)."""
        ...

    def save(self, directory: str | os.PathLike) -> dict[str, Any]:
        """Write any files the tokenizer needs into ``directory``; return a JSON-able config.

        ``load_tokenizer(config, directory)`` must rebuild an equivalent tokenizer.
        """
        ...


def _maybe_lower(text: str, lowercase: bool) -> str:
    return text.lower() if lowercase else text


class WhitespaceTokenizer:
    """Split on runs of whitespace (``str.split``); join with single spaces.

    This is the tokenization of the pre-tokenized benchmarks (COCO captions, EMNLP news, the
    synthetic oracle).

    Args:
        lowercase: lower-case text before splitting.
    """

    kind = "whitespace"

    def __init__(self, lowercase: bool = False) -> None:
        self.lowercase = lowercase

    def tokenize(self, text: str) -> list[str]:
        return _maybe_lower(text, self.lowercase).split()

    def detokenize(self, tokens: Sequence[str]) -> str:
        return " ".join(tokens)

    def save(self, directory: str | os.PathLike) -> dict[str, Any]:
        return {"kind": self.kind, "lowercase": self.lowercase}


class NltkTokenizer:
    """NLTK's Treebank-style word tokenizer, which needs no downloaded NLTK data.

    ``nltk.word_tokenize(text, preserve_line=True)`` skips the Punkt sentence splitter (the
    only part that needs the ``punkt`` download); a period is therefore split off only at the
    end of the text. Detokenization uses ``TreebankWordDetokenizer``.

    Args:
        lowercase: lower-case text before tokenizing.
    """

    kind = "nltk"

    def __init__(self, lowercase: bool = False) -> None:
        import nltk
        from nltk.tokenize.treebank import TreebankWordDetokenizer

        self.lowercase = lowercase
        self._word_tokenize = nltk.word_tokenize
        self._detokenizer = TreebankWordDetokenizer()
        self._version = nltk.__version__

    def tokenize(self, text: str) -> list[str]:
        return self._word_tokenize(_maybe_lower(text, self.lowercase), preserve_line=True)

    def detokenize(self, tokens: Sequence[str]) -> str:
        """Text that `tokenize` splits back into exactly ``tokens``.

        ``TreebankWordDetokenizer`` gives the natural spacing but does not invert the tokenizer
        for every sequence a model can sample: it glues a period to the word before it
        ("a . b" -> "a. b", read back as "a." and "b": with ``preserve_line`` only a final
        period is split off), merges repeated ellipses ("... ..." -> "......") and writes both
        quote tokens (the opening two backticks and the closing two apostrophes) as a double
        quote, whose direction the tokenizer then guesses from the context. Its output is
        therefore tokenized again (one tokenization per text when it reads back, the common
        case); where it does not, the first token read wrongly is set apart by spaces (a
        closing quote token is written as such and attached to the token before it instead:
        after a space the tokenizer reads it as an opening quote), and so on until the text
        reads back. When that fails, the tokens are joined by single spaces (each token the
        tokenizer emits reads back alone between spaces).

        A few sequences have no text at all that tokenizes into them: a closing quote token
        right after an opening bracket or an opening quote, a token ending in a period (an
        abbreviation such as "Mr.", which only occurs inside a line) at the end of the text, and
        tokens that the tokenizer itself splits (special tokens such as "<unk>" read as "<",
        "unk", ">"). They come back as a best effort, the split tokens written where the other
        tokens read back as themselves.
        """
        tokens = list(tokens)
        text, ok = self._render(tokens)
        if ok:
            return text
        # When tokens that the tokenizer splits even alone ("<unk>") are the cause, spell the
        # rest as if they were plain words, so that it still reads back. (A word ending in a
        # period is split alone but not inside a line: it is not one of them.)
        split = {t for t in set(tokens) if not t.endswith(".") and self.tokenize(t) != [t]}
        if not split:
            return text
        slots = {f"xtextgantoken{i}x": t for i, t in enumerate(tokens) if t in split}
        text, _ = self._render([f"xtextgantoken{i}x" if t in split else t for i, t in enumerate(tokens)])
        for slot, token in slots.items():
            text = text.replace(slot, token)
        return text

    def _render(self, tokens: list[str]) -> tuple[str, bool]:
        """(text, whether it tokenizes back into ``tokens``): see :meth:`detokenize`."""
        text = self._detokenizer.detokenize(tokens)
        if self.tokenize(text) == tokens:
            return text, True
        layout = _treebank_layout(tokens, text)
        if layout is not None:
            pieces, spaces = layout

            def set_apart(j: int) -> None:
                # The token as itself (a quote token, not '"'), spaces around it; a closing quote
                # token attached to the token before it (after a space it reads as an opening one).
                pieces[j], spaces[j] = tokens[j], j > 0 and tokens[j] != "''"
                if j + 1 < len(tokens) and tokens[j + 1] != "''":
                    spaces[j + 1] = True

            while True:  # each round sets more apart (never less), so this ends
                text = _join_layout(pieces, spaces)
                got = self.tokenize(text)
                if got == tokens:
                    return text, True
                k = next((i for i, (a, b) in enumerate(zip(got, tokens)) if a != b), min(len(got), len(tokens)))
                k = min(k, len(tokens) - 1)  # the first token read wrongly
                before = (pieces[:], spaces[:])
                set_apart(k)
                if (pieces, spaces) == before:  # already apart: the cause is next to it
                    for j in (k - 1, k + 1):
                        if 0 <= j < len(tokens):
                            set_apart(j)
                    if (pieces, spaces) == before:
                        break
        text = _spaced_treebank_text(tokens)
        return text, self.tokenize(text) == tokens

    def save(self, directory: str | os.PathLike) -> dict[str, Any]:
        return {"kind": self.kind, "lowercase": self.lowercase, "nltk_version": self._version}


def _treebank_layout(tokens: list[str], text: str) -> tuple[list[str], list[bool]] | None:
    """How ``TreebankWordDetokenizer`` wrote ``tokens`` as ``text``: each token's spelling (a
    quote token may have become '"') and whether a space precedes it; None when the text is not
    the tokens in order with spaces dropped (the detokenizer also reorders some quotes)."""
    pieces, spaces, pos = [], [], 0
    for token in tokens:
        start = pos
        while pos < len(text) and text[pos] == " ":
            pos += 1
        spaces.append(pos > start)
        if text.startswith(token, pos):
            pieces.append(token)
        elif token in ("``", "''") and text.startswith('"', pos):
            pieces.append('"')
        else:
            return None
        pos += len(pieces[-1])
    return (pieces, spaces) if pos == len(text) else None


def _join_layout(pieces: list[str], spaces: list[bool]) -> str:
    return "".join((" " if space and i else "") + piece for i, (piece, space) in enumerate(zip(pieces, spaces)))


def _spaced_treebank_text(tokens: list[str]) -> str:
    """``tokens`` joined by single spaces, each closing quote token attached to the token before it.

    The fallback of `NltkTokenizer.detokenize`: nltk's tokenizer splits a text at the spaces
    between tokens and reads each token emitted by it back as itself, except the closing quote
    token (two apostrophes), which it reads as an opening quote after a space or an opening
    bracket.
    """
    parts: list[str] = []
    for token in tokens:
        if token == "''" and parts and parts[-1] != "``":
            parts[-1] += token
        else:
            parts.append(token)
    return " ".join(parts)


class SentencePieceTokenizer:
    """A SentencePiece unigram or BPE model; tokens are its pieces.

    Args:
        model_proto: the serialized SentencePiece model.
        lowercase: lower-case text before encoding (and training).
    """

    kind = "sentencepiece"

    def __init__(self, model_proto: bytes, lowercase: bool = False) -> None:
        import sentencepiece as spm

        self.model_proto = bytes(model_proto)
        self.lowercase = lowercase
        self._sp = spm.SentencePieceProcessor(model_proto=self.model_proto)

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        *,
        vocab_size: int = 8000,
        model_type: str = "unigram",
        lowercase: bool = False,
    ) -> SentencePieceTokenizer:
        """Train a model on ``texts``, deterministically.

        Every line of every text is used, in order, on one thread: SentencePiece's sampling
        and multi-threaded EM make results depend on the machine otherwise.

        Args:
            texts: training texts (split into lines; blank lines are skipped).
            vocab_size: target number of pieces (a soft limit: fewer when the data is small).
            model_type: ``"unigram"`` or ``"bpe"``.
            lowercase: lower-case the texts first.

        Returns:
            The trained tokenizer.

        Raises:
            TextganError: bad ``model_type``/``vocab_size``, no training text, or a training
                failure reported by SentencePiece.
        """
        import sentencepiece as spm

        if model_type not in SENTENCEPIECE_MODEL_TYPES:
            raise TextganError(
                f"unknown sentencepiece model_type {model_type!r}: use one of {list(SENTENCEPIECE_MODEL_TYPES)}"
            )
        if vocab_size < 4:
            raise TextganError(f"sentencepiece vocab_size must be >= 4, got {vocab_size}: use e.g. 8000")
        lines = [
            line
            for text in texts
            for line in _maybe_lower(text, lowercase).splitlines()
            if line.strip()
        ]
        if not lines:
            raise TextganError(
                "sentencepiece needs training text but train_texts is empty: pass the training corpus texts"
            )
        model = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(lines),
                model_writer=model,
                vocab_size=vocab_size,
                model_type=model_type,
                character_coverage=1.0,
                input_sentence_size=0,
                shuffle_input_sentence=False,
                num_threads=1,
                hard_vocab_limit=False,
                # textgan's Vocab owns bos/eos/pad; SentencePiece keeps only its <unk>.
                unk_id=0,
                bos_id=-1,
                eos_id=-1,
                pad_id=-1,
                minloglevel=2,
            )
        except (RuntimeError, OSError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise TextganError(
                f"sentencepiece training failed ({first}): check train_texts, or lower vocab_size"
            ) from None
        tokenizer = cls(model.getvalue(), lowercase=lowercase)
        logger.info(
            "trained sentencepiece %s model: %d pieces from %d lines", model_type, len(tokenizer), len(lines)
        )
        return tokenizer

    def __len__(self) -> int:
        return self._sp.get_piece_size()

    def tokenize(self, text: str) -> list[str]:
        return self._sp.encode(_maybe_lower(text, self.lowercase), out_type=str)

    def detokenize(self, tokens: Sequence[str]) -> str:
        return self._sp.decode_pieces(list(tokens))

    def save(self, directory: str | os.PathLike) -> dict[str, Any]:
        with atomic_open(Path(directory) / _SP_MODEL_FILE, "wb") as f:
            f.write(self.model_proto)
        import sentencepiece as spm

        return {
            "kind": self.kind,
            "lowercase": self.lowercase,
            "model_file": _SP_MODEL_FILE,
            "pieces": len(self),
            "sentencepiece_version": spm.__version__,
        }


class HFTokenizer:
    """A Hugging Face tokenizer read from a local folder; tokens are its token strings.

    Args:
        tokenizer: a ``transformers`` tokenizer (anything with ``tokenize``,
            ``convert_tokens_to_string`` and ``save_pretrained``).
        source: where it was loaded from (recorded in the saved config).
        lowercase: lower-case text before tokenizing.
    """

    kind = "hf"

    def __init__(self, tokenizer: Any, source: str = "", lowercase: bool = False) -> None:
        self.tokenizer = tokenizer
        self.source = source
        self.lowercase = lowercase

    @classmethod
    def from_path(cls, path: str | os.PathLike, lowercase: bool = False) -> HFTokenizer:
        """Load ``AutoTokenizer.from_pretrained(path)`` without touching the network.

        Raises:
            TextganError: the folder is missing or holds no loadable tokenizer.
        """
        from transformers import AutoTokenizer

        path = Path(path)
        if not path.is_dir():
            raise TextganError(
                f"Hugging Face tokenizer folder {path} not found: pass a local folder written by "
                "save_pretrained (the hub is not used)"
            )
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise TextganError(
                f"could not load a Hugging Face tokenizer from {path} ({first}): the folder needs "
                "tokenizer.json or vocab files plus tokenizer_config.json, as save_pretrained writes"
            ) from None
        return cls(tokenizer, source=str(path), lowercase=lowercase)

    def tokenize(self, text: str) -> list[str]:
        return list(self.tokenizer.tokenize(_maybe_lower(text, self.lowercase)))

    def detokenize(self, tokens: Sequence[str]) -> str:
        return self.tokenizer.convert_tokens_to_string(list(tokens))

    def save(self, directory: str | os.PathLike) -> dict[str, Any]:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / _HF_FOLDER
        # save_pretrained writes several files; write them to a fresh folder and rename it
        # into place so a reader never sees half a tokenizer.
        tmp = make_tmp_dir(target)
        try:
            self.tokenizer.save_pretrained(str(tmp))
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        import transformers

        return {
            "kind": self.kind,
            "lowercase": self.lowercase,
            "path": _HF_FOLDER,
            "source": self.source,
            "transformers_version": transformers.__version__,
        }


def _unknown_kind(kind: object) -> TextganError:
    return TextganError(f"unknown tokenizer kind {kind!r}: use one of {list(TOKENIZER_KINDS)}")


def build_tokenizer(
    kind: str,
    *,
    train_texts: Iterable[str] | None = None,
    vocab_size: int = 8000,
    model_type: str = "unigram",
    path: str | os.PathLike | None = None,
    lowercase: bool = False,
) -> Tokenizer:
    """Build a tokenizer of the given kind.

    Args:
        kind: one of `TOKENIZER_KINDS`.
        train_texts: training texts (``"sentencepiece"`` only; required there).
        vocab_size: SentencePiece target vocabulary size.
        model_type: SentencePiece ``"unigram"`` or ``"bpe"``.
        path: local Hugging Face tokenizer folder (``"hf"`` only; required there).
        lowercase: lower-case texts before tokenizing.

    Returns:
        The tokenizer.

    Raises:
        TextganError: unknown kind, or a required argument missing for the kind.
    """
    if kind == "whitespace":
        return WhitespaceTokenizer(lowercase=lowercase)
    if kind == "nltk":
        return NltkTokenizer(lowercase=lowercase)
    if kind == "sentencepiece":
        if train_texts is None:
            raise TextganError("the sentencepiece tokenizer is trained on texts: pass train_texts=<training texts>")
        return SentencePieceTokenizer.train(
            train_texts, vocab_size=vocab_size, model_type=model_type, lowercase=lowercase
        )
    if kind == "hf":
        if path is None:
            raise TextganError(
                "the hf tokenizer is read from a local folder: pass path=<folder written by save_pretrained>"
            )
        return HFTokenizer.from_path(path, lowercase=lowercase)
    raise _unknown_kind(kind)


def load_tokenizer(config: dict[str, Any], directory: str | os.PathLike) -> Tokenizer:
    """Rebuild a tokenizer from the config that its ``save(directory)`` returned.

    Args:
        config: the dict returned by ``save``.
        directory: the folder ``save`` wrote into.

    Returns:
        The tokenizer.

    Raises:
        TextganError: unknown kind, or the tokenizer's files are missing from ``directory``.
    """
    if not isinstance(config, dict) or "kind" not in config:
        raise TextganError(
            "tokenizer config must be a dict with a 'kind' key: pass the dict returned by tokenizer.save()"
        )
    kind = config["kind"]
    lowercase = bool(config.get("lowercase", False))
    directory = Path(directory)
    if kind == "whitespace":
        return WhitespaceTokenizer(lowercase=lowercase)
    if kind == "nltk":
        return NltkTokenizer(lowercase=lowercase)
    if kind == "sentencepiece":
        model_path = directory / config.get("model_file", _SP_MODEL_FILE)
        try:
            proto = model_path.read_bytes()
        except FileNotFoundError:
            raise TextganError(
                f"sentencepiece model {model_path} not found: copy the run folder with its "
                f"{model_path.name}, or retrain the tokenizer"
            ) from None
        return SentencePieceTokenizer(proto, lowercase=lowercase)
    if kind == "hf":
        return HFTokenizer.from_path(directory / config.get("path", _HF_FOLDER), lowercase=lowercase)
    raise _unknown_kind(kind)


def tokenizer_fingerprint(tokenizer: Tokenizer) -> str:
    """A sha256 hex digest of a tokenizer's saved config and files.

    Two tokenizers with the same fingerprint tokenize identically (as far as their saved
    state goes); the tokenized-data cache uses it as part of its key.

    Args:
        tokenizer: any `Tokenizer`.

    Returns:
        64 hex characters.
    """
    digest = hashlib.sha256()
    with tempfile.TemporaryDirectory(prefix="textgan-tok-") as tmp:
        config = dict(tokenizer.save(tmp))
        # Where a tokenizer was loaded from does not change how it tokenizes.
        config.pop("source", None)
        digest.update(json.dumps(config, sort_keys=True, default=str).encode("utf-8"))
        root = Path(tmp)
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            digest.update(b"\0" + file.relative_to(root).as_posix().encode("utf-8") + b"\0")
            digest.update(file.read_bytes())
    return digest.hexdigest()
