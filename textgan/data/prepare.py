"""Turn a recipe's data section into id tensors, a vocabulary, a tokenizer and (maybe) an oracle."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..config import DataConfig
from ..errors import TextganError
from ..seeds import stream

log = logging.getLogger(__name__)

ORACLE_CORPUS = "synthetic_oracle"


@dataclass
class PreparedData:
    """Everything a run needs from its data.

    Attributes:
        train: (N, T) int64 training sequences.
        test: (M, T) int64 held-out sequences, or None.
        vocab: the Vocab the ids refer to.
        tokenizer: the text tokenizer (None for the synthetic oracle).
        oracle: the oracle LSTM for synthetic data, else None.
        train_texts / test_texts: the raw texts (BLEU references, novelty), empty for the oracle.
        n_truncated: training texts cut to ``max_len``.
        train_split: the split the training texts came from (the first available one when the
            recipe lists alternatives, e.g. ``train|valid``).
    """

    train: Tensor
    test: Tensor | None
    vocab: Any
    tokenizer: Any | None
    oracle: Any | None = None
    train_texts: list[str] = field(default_factory=list)
    test_texts: list[str] = field(default_factory=list)
    n_truncated: int = 0
    train_split: str | None = None

    @property
    def start_token(self) -> int:
        return 0 if self.vocab.bos_id is None else self.vocab.bos_id


def build_oracle(cfg: DataConfig):
    """SeqGAN's published oracle (``oracle: seqgan``) or a random one from ``oracle_seed``."""
    from ..models.oracle import OracleLSTM

    if cfg.oracle == "seqgan":
        from .corpus import corpus_file

        oracle = OracleLSTM.from_npz(corpus_file(ORACLE_CORPUS, "seqgan_oracle_params.npz"), seq_len=cfg.max_len)
    else:
        oracle = OracleLSTM.random(cfg.oracle_seed, seq_len=cfg.max_len)
    return oracle


def _texts(ds, cfg: DataConfig) -> list[str]:
    """The texts of a split, keeping only rows labelled with one of ``cfg.keep_labels`` when set."""
    if cfg.keep_labels is None:
        return list(ds["text"])
    if "label" not in ds.column_names:
        raise TextganError(f"data.keep_labels is set but {cfg.corpus!r} has no label column: unset data.keep_labels or set data.label_column")
    wanted = {str(x) for x in cfg.keep_labels}
    texts = [t for t, label in zip(ds["text"], ds["label"]) if str(label) in wanted]
    if not texts:
        raise TextganError(f"no row of {cfg.corpus!r} has a label in {list(cfg.keep_labels)}: fix data.keep_labels")
    return texts


def first_available_split(cfg: DataConfig):
    """Load the first available of the ``|``-separated splits in ``cfg.train_split``.

    ``train|valid`` trains on the full training file where a user has it and falls back to the
    held-out file otherwise (EMNLP2017 News, whose ~270k-sentence training file is often absent);
    the fallback is logged as a warning. With one split this is plain ``load_corpus``.

    Returns:
        (split name, dataset).
    """
    from ..errors import TextganError
    from .corpus import load_corpus

    splits = [s.strip() for s in cfg.train_split.split("|") if s.strip()]
    if not splits:
        raise TextganError("data.train_split is empty: name a split, e.g. data.train_split=train")
    for split, fallback in zip(splits, splits[1:]):
        try:
            return split, load_corpus(cfg.corpus, split, text_column=cfg.text_column, label_column=cfg.label_column)
        except TextganError as e:
            log.warning("data.train_split: %r is not available (%s); trying %r", split, e, fallback)
    return splits[-1], load_corpus(cfg.corpus, splits[-1], text_column=cfg.text_column, label_column=cfg.label_column)


def prepare_data(cfg: DataConfig, seed: int, cache_dir: Path | None = None) -> PreparedData:
    """Load, tokenize and encode the recipe's data (the tokenized form is cached).

    Args:
        cfg: the recipe's data section.
        seed: the run's seed; oracle training and test sets are drawn from it.
        cache_dir: where tokenized corpora are cached (default: the user cache).
    """
    from .vocab import Vocab

    if cfg.corpus == ORACLE_CORPUS:
        oracle = build_oracle(cfg)
        train = oracle.sample(cfg.num_train, stream(seed, "data.train"))
        test = oracle.sample(cfg.num_test, stream(seed, "data.test")) if cfg.num_test else None
        return PreparedData(train, test, Vocab.integers(oracle.vocab_size), None, oracle)

    from .corpus import load_corpus
    from .encode import encode_cached
    from .tokenizers import build_tokenizer

    train_split, train_ds = first_available_split(cfg)
    train_texts = _texts(train_ds, cfg)
    test_texts: list[str] = []
    if cfg.test_split:
        test_texts = _texts(load_corpus(cfg.corpus, cfg.test_split, text_column=cfg.text_column, label_column=cfg.label_column), cfg)
    tokenizer = build_tokenizer(cfg.tokenizer, train_texts=train_texts, vocab_size=cfg.sentencepiece_vocab_size,
                                model_type=cfg.sentencepiece_model_type, path=cfg.tokenizer_path, lowercase=cfg.lowercase)
    train_tokens = [tokenizer.tokenize(t) for t in train_texts]  # once: for the vocabulary and the encoding
    vocab = Vocab.build(train_tokens, min_freq=cfg.min_freq, max_size=cfg.max_vocab, specials=True)
    train, n_trunc = encode_cached(train_texts, tokenizer, vocab, cfg.max_len, cache_dir=cache_dir, tokens=train_tokens)
    test = None
    if test_texts:
        test, _ = encode_cached(test_texts, tokenizer, vocab, cfg.max_len, cache_dir=cache_dir)
    if n_trunc:
        log.warning("%d of %d training texts are longer than data.max_len=%d - 1 tokens and were truncated",
                    n_trunc, len(train_texts), cfg.max_len)
    return PreparedData(train, test, vocab, tokenizer, None, train_texts, test_texts, n_trunc, train_split)
