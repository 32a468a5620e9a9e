"""Texts <-> fixed-length id tensors, with an on-disk cache of the tokenized form."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from textgan.data.corpus import cache_root
from textgan.data.tokenizers import Tokenizer, tokenizer_fingerprint
from textgan.data.vocab import Vocab
from textgan.errors import TextganError
from textgan.io import apply_umask, atomic_tmp_path, write_json

if TYPE_CHECKING:
    from datasets import Dataset

logger = logging.getLogger(__name__)

_CACHE_FORMAT = "textgan.tokenized/1"


def _encode_token_lists(token_lists: Sequence[Sequence[str]], vocab: Vocab, max_len: int) -> tuple[torch.Tensor, int]:
    if max_len < 1:
        raise TextganError(f"max_len must be >= 1, got {max_len}: pass the sequence length, e.g. max_len=20")
    n = len(token_lists)
    rows: list[list[int]] = []
    n_truncated = 0
    if vocab.specials:
        if max_len < 2:
            raise TextganError(f"max_len must be >= 2 to fit a token and <eos>, got {max_len}: raise max_len")
        assert vocab.pad_id is not None and vocab.eos_id is not None
        keep = max_len - 1  # the last position is reserved for <eos>
        for tokens in token_lists:
            if len(tokens) > keep:
                tokens = tokens[:keep]
                n_truncated += 1
            row = vocab.encode(tokens)
            row.append(vocab.eos_id)
            row.extend([vocab.pad_id] * (max_len - len(row)))
            rows.append(row)
    else:
        # No <pad>/<eos> exist (e.g. the synthetic oracle), so every text must already have
        # exactly max_len tokens: padding is impossible and truncating would change the data.
        for i, tokens in enumerate(token_lists):
            if len(tokens) != max_len:
                raise TextganError(
                    f"text {i} has {len(tokens)} tokens but the vocabulary has no <pad>/<eos>, so every "
                    f"text needs exactly max_len={max_len}: set max_len to the data's length or use a "
                    "vocabulary with specials"
                )
            rows.append(vocab.encode(tokens))
    ids = torch.tensor(rows, dtype=torch.long) if rows else torch.empty((0, max_len), dtype=torch.long)  # (N, T)
    if n_truncated:
        logger.info("truncated %d of %d texts to %d tokens (+ <eos>)", n_truncated, n, max_len - 1)
    return ids, n_truncated


def encode_texts(texts: Sequence[str], tokenizer: Tokenizer, vocab: Vocab, max_len: int) -> tuple[torch.Tensor, int]:
    """Tokenize texts and turn them into a padded id matrix.

    With a vocabulary that has specials, each row holds the ids of the text's tokens
    (truncated to ``max_len - 1``), then ``eos_id``, then ``pad_id`` up to ``max_len``; there
    is no ``<bos>``. Without specials (integer oracle tokens) every text must have exactly
    ``max_len`` tokens.

    Args:
        texts: N texts.
        tokenizer: splits each text into tokens.
        vocab: maps tokens to ids (unknown tokens -> ``unk_id``).
        max_len: T, the row length.

    Returns:
        ``(ids, n_truncated)``: a LongTensor of shape (N, T) and the number of texts that were
        cut (also logged).

    Raises:
        TextganError: ``max_len`` too small, or a length mismatch without specials.
    """
    return _encode_token_lists([tokenizer.tokenize(t) for t in texts], vocab, max_len)


def build_vocab_and_encode(
    texts: Sequence[str],
    tokenizer: Tokenizer,
    max_len: int,
    *,
    min_freq: int = 1,
    max_size: int | None = None,
) -> tuple[Vocab, torch.Tensor, int]:
    """Tokenize once, build a vocabulary (with specials) from the tokens, and encode.

    Args:
        texts: N training texts.
        tokenizer: splits texts into tokens.
        max_len: T, the row length.
        min_freq: see `Vocab.build`.
        max_size: see `Vocab.build` (counts the special tokens).

    Returns:
        ``(vocab, ids, n_truncated)`` with ``ids`` a LongTensor of shape (N, T).
    """
    token_lists = [tokenizer.tokenize(t) for t in texts]
    vocab = Vocab.build(token_lists, min_freq=min_freq, max_size=max_size, specials=True)
    ids, n_truncated = _encode_token_lists(token_lists, vocab, max_len)
    return vocab, ids, n_truncated


def decode_ids(ids: torch.Tensor | Sequence[Sequence[int]], vocab: Vocab, tokenizer: Tokenizer) -> list[str]:
    """Turn id rows back into text, stopping each row at its first ``<eos>``.

    Args:
        ids: LongTensor of shape (N, T) or (T,), or nested lists of ints.
        vocab: the vocabulary the ids come from.
        tokenizer: joins tokens back into text.

    Returns:
        N strings (one for a 1-D input).
    """
    if isinstance(ids, torch.Tensor):
        rows = ids.detach().cpu()
        rows_list = [rows.tolist()] if rows.dim() == 1 else rows.tolist()
    else:
        rows_list = [list(r) for r in ids]
    return [tokenizer.detokenize(vocab.decode(row)) for row in rows_list]


def _texts_of(dataset_or_texts: Dataset | Sequence[str]) -> list[str]:
    column_names = getattr(dataset_or_texts, "column_names", None)
    if column_names is not None:
        if "text" not in column_names:
            raise TextganError(
                f"dataset has no 'text' column (columns: {column_names}): load it with textgan.data.corpus.load_corpus"
            )
        return list(dataset_or_texts["text"])  # type: ignore[index]
    return list(dataset_or_texts)  # type: ignore[arg-type]


def tokenized_cache_dir() -> Path:
    """``$TEXTGAN_CACHE/tokenized`` (``TEXTGAN_CACHE`` defaults to ``~/.cache/textgan``)."""
    return cache_root() / "tokenized"


def cache_key(texts: Sequence[str], tokenizer: Tokenizer, vocab: Vocab, max_len: int) -> str:
    """The sha256 hex key of the tokenized cache: texts, tokenizer state, vocabulary, length."""
    text_digest = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8")
        text_digest.update(len(data).to_bytes(8, "little"))  # length prefix: no ambiguity
        text_digest.update(data)
    payload = {
        "format": _CACHE_FORMAT,
        "texts": text_digest.hexdigest(),
        "n_texts": len(texts),
        "tokenizer": tokenizer_fingerprint(tokenizer),
        "vocab": hashlib.sha256(json.dumps(vocab.to_dict()).encode("utf-8")).hexdigest(),
        "max_len": max_len,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def encode_cached(
    dataset_or_texts: Dataset | Sequence[str],
    tokenizer: Tokenizer,
    vocab: Vocab,
    max_len: int,
    cache_dir: str | os.PathLike | None = None,
    tokens: Sequence[Sequence[str]] | None = None,
) -> tuple[torch.Tensor, int]:
    """`encode_texts` with an on-disk cache, so a second run does not tokenize again.

    The key is a sha256 of the texts, the tokenizer's saved state, the vocabulary and
    ``max_len``. Entries are ``<key>.safetensors`` (the ids) plus ``<key>.json`` (metadata),
    both written atomically; the JSON is written last, so its presence marks a complete entry.
    An unreadable entry is recomputed.

    Args:
        dataset_or_texts: a Dataset with a ``text`` column, or N texts.
        tokenizer: splits texts into tokens.
        vocab: maps tokens to ids.
        max_len: T, the row length.
        cache_dir: folder of the cache (default `tokenized_cache_dir`).
        tokens: the texts already tokenized by ``tokenizer`` (e.g. to build the vocabulary);
            on a cache miss they are encoded as they are instead of tokenizing again.

    Returns:
        ``(ids, n_truncated)`` as `encode_texts`: a LongTensor of shape (N, T) and a count.
    """
    from safetensors.torch import load_file, save_file

    texts = _texts_of(dataset_or_texts)
    folder = Path(cache_dir) if cache_dir is not None else tokenized_cache_dir()
    key = cache_key(texts, tokenizer, vocab, max_len)
    tensor_path = folder / f"{key}.safetensors"
    meta_path = folder / f"{key}.json"
    if meta_path.is_file() and tensor_path.is_file():
        try:
            meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
            ids = load_file(str(tensor_path))["ids"]
            if tuple(ids.shape) == (len(texts), max_len) and ids.dtype == torch.long:
                logger.info("tokenized cache hit %s (%d texts)", key[:12], len(texts))
                return ids, int(meta["n_truncated"])
        except Exception as exc:  # a damaged entry is rebuilt, never fatal
            logger.warning("ignoring unreadable tokenized cache entry %s: %s", key[:12], exc)
    if tokens is not None:
        ids, n_truncated = _encode_token_lists(tokens, vocab, max_len)
    else:
        ids, n_truncated = encode_texts(texts, tokenizer, vocab, max_len)
    tmp = atomic_tmp_path(tensor_path)
    try:
        save_file({"ids": ids.contiguous()}, str(tmp))
        os.replace(apply_umask(tmp), tensor_path)  # safetensors writes 0600 files
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    write_json(
        meta_path,
        {
            "format": _CACHE_FORMAT,
            "n_texts": len(texts),
            "max_len": max_len,
            "n_truncated": n_truncated,
            "vocab_size": len(vocab),
            "tokenizer_kind": getattr(tokenizer, "kind", type(tokenizer).__name__),
        },
    )
    logger.info("tokenized cache stored %s (%d texts)", key[:12], len(texts))
    return ids, n_truncated
