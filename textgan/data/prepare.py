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
        held_out: for a single user file, the test split carved from it: ``{"source", "fraction",
            "seed", "num_test", "num_train"}`` (None otherwise).
        train_labels / test_labels: (N,) / (M,) int64 class of each row, aligned with ``train`` /
            ``test``, for a conditional generator (None otherwise).
        label_names: the K class names, class k = ``label_names[k]`` (None without labels).
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
    held_out: dict | None = None
    train_labels: Tensor | None = None
    test_labels: Tensor | None = None
    label_names: list[str] | None = None

    def summary(self) -> dict:
        """What ``run.json`` records about the data: the training split, truncation and any held-out split."""
        out: dict = {"train_split": self.train_split, "n_truncated": self.n_truncated}
        if self.held_out is not None:
            out["held_out"] = self.held_out
        if self.label_names is not None:
            counts = torch.bincount(self.train_labels, minlength=len(self.label_names)).tolist()
            out["train_labels"] = dict(zip(self.label_names, counts))
        return out

    def label_info(self) -> dict | None:
        """What a model that ``needs`` labels is built with: ``num_labels``, ``label_names``, ``label_prior``
        (the training label frequencies), or None without labels."""
        if self.label_names is None:
            return None
        counts = torch.bincount(self.train_labels, minlength=len(self.label_names)).double()
        return {"num_labels": len(self.label_names), "label_names": list(self.label_names),
                "label_prior": (counts / counts.sum()).tolist()}

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


def _row_labels(ds, cfg: DataConfig, source: str) -> list[tuple[Any, str]]:
    """(label value, label name) of the rows :func:`_texts` keeps, for a conditional run.

    Raises:
        TextganError: the split has no label column.
    """
    if "label" not in ds.column_names:
        raise TextganError(f"a conditional generator needs a label per text, and {source} has no label column: "
                           "name it with --set data.label_column=NAME (or use a labelled corpus such as fake_news/liar)")
    names = ds["label_name"] if "label_name" in ds.column_names else [str(v) for v in ds["label"]]
    rows = list(zip(ds["label"], (str(n) for n in names)))
    if cfg.keep_labels is not None:
        wanted = {str(x) for x in cfg.keep_labels}
        rows = [r for r in rows if str(r[0]) in wanted]
    return rows


def _label_ids(train: list[tuple[Any, str]], test: list[tuple[Any, str]]) -> tuple[Tensor, Tensor, list[str]]:
    """Class ids 0..K-1 (the label values in sorted order, over both splits) and the K names."""
    values = sorted({v for v, _ in train + test}, key=lambda v: (isinstance(v, str), v))
    index = {v: i for i, v in enumerate(values)}
    name_of = dict(train + test)
    ids = [torch.tensor([index[v] for v, _ in rows], dtype=torch.long) for rows in (train, test)]
    return ids[0], ids[1], [name_of[v] for v in values]


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


def single_user_file(corpus: str) -> bool:
    """True when ``corpus`` is one user file (not a named corpus, nor a folder of split files)."""
    from .corpus import _REGISTRY

    return corpus not in _REGISTRY and Path(corpus).expanduser().is_file()


def hold_out(texts: list[str], fraction: float, seed: int, source: str) -> tuple[list[str], list[str], dict]:
    """Split one file's texts into (train, test): a seeded random ``fraction`` of them is held out.

    Both parts keep the file's order. Returns the two lists and the record for ``run.json``.

    Raises:
        TextganError: fewer than two texts (nothing could be held out).
    """
    n = len(texts)
    if n < 2:
        raise TextganError(f"{source} holds {n} text(s): a test split is held out from a single file, so it needs at least "
                           "2: add texts, or set data.test_split=null to train without a test set")
    n_test = min(n - 1, max(1, round(n * fraction)))
    order = torch.randperm(n, generator=stream(seed, "data.split")).tolist()
    test_idx = set(order[:n_test])
    train = [t for i, t in enumerate(texts) if i not in test_idx]
    test = [t for i, t in enumerate(texts) if i in test_idx]
    record = {"source": source, "fraction": fraction, "seed": seed, "stream": "data.split",
              "num_train": len(train), "num_test": len(test)}
    return train, test, record


def prepare_data(cfg: DataConfig, seed: int, cache_dir: Path | None = None, labels: bool = False) -> PreparedData:
    """Load, tokenize and encode the recipe's data (the tokenized form is cached).

    Args:
        cfg: the recipe's data section.
        seed: the run's seed; oracle training and test sets are drawn from it.
        cache_dir: where tokenized corpora are cached (default: the user cache).
        labels: also return each text's class (``train_labels``, ``test_labels``, ``label_names``),
            for a conditional generator; a corpus without labels is refused.
    """
    from .vocab import Vocab

    if labels and cfg.corpus == ORACLE_CORPUS:
        raise TextganError("a conditional generator needs labelled texts and the synthetic oracle has no labels: set "
                           "data.corpus to a labelled corpus (e.g. fake_news/liar) or generator.type=lstm")
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
    train_rows = _row_labels(train_ds, cfg, f"{cfg.corpus!r} ({train_split})") if labels else []
    test_rows: list = []
    test_texts: list[str] = []
    held_out = None
    if cfg.test_split and single_user_file(cfg.corpus) and labels:  # the labels follow their texts
        train_pairs, test_pairs, held_out = hold_out(list(zip(train_texts, train_rows)), cfg.test_fraction, seed,
                                                     cfg.corpus)
        train_texts, train_rows = [t for t, _ in train_pairs], [r for _, r in train_pairs]
        test_texts, test_rows = [t for t, _ in test_pairs], [r for _, r in test_pairs]
    elif cfg.test_split and single_user_file(cfg.corpus):
        # One file has no test split: testing on the training texts would flatter NLL-test and BLEU.
        train_texts, test_texts, held_out = hold_out(train_texts, cfg.test_fraction, seed, cfg.corpus)
        log.info("%s is a single file: %d of its %d texts (data.test_fraction=%g, seed %d) are held out as the "
                    "test split", cfg.corpus, len(test_texts), len(train_texts) + len(test_texts), cfg.test_fraction, seed)
    elif cfg.test_split:
        test_ds = load_corpus(cfg.corpus, cfg.test_split, text_column=cfg.text_column, label_column=cfg.label_column)
        test_texts = _texts(test_ds, cfg)
        if labels:
            test_rows = _row_labels(test_ds, cfg, f"{cfg.corpus!r} ({cfg.test_split})")
    tokenizer = build_tokenizer(cfg.tokenizer, train_texts=train_texts, vocab_size=cfg.sentencepiece_vocab_size,
                                model_type=cfg.sentencepiece_model_type, path=cfg.tokenizer_path, lowercase=cfg.lowercase)
    train_tokens = [tokenizer.tokenize(t) for t in train_texts]  # once: for the vocabulary and the encoding
    from .vocab import SPECIALS

    if cfg.max_vocab is not None and cfg.max_vocab <= len(SPECIALS):
        raise TextganError(f"data.max_vocab={cfg.max_vocab} leaves no room for words (the {len(SPECIALS)} special tokens "
                           f"count towards it): set data.max_vocab to {len(SPECIALS) + 1} or more, or null for no cap")
    vocab = Vocab.build(train_tokens, min_freq=cfg.min_freq, max_size=cfg.max_vocab, specials=True)
    if len(vocab) <= len(SPECIALS):
        raise TextganError(f"data.min_freq={cfg.min_freq} leaves no word in the vocabulary (no token of {cfg.corpus!r} "
                           f"occurs that often; only the special tokens are left): lower data.min_freq, e.g. 1")
    longest = max((len(t) for t in train_tokens), default=0) + 1  # + end-of-sequence
    if cfg.max_len > 2 * longest and cfg.max_len > 64:
        log.warning("data.max_len=%d but the longest training text has %d tokens (with its end token): every sequence "
                    "is padded to max_len, so memory and time grow %.0fx for nothing; set data.max_len=%d",
                    cfg.max_len, longest, cfg.max_len / longest, longest)
    train, n_trunc = encode_cached(train_texts, tokenizer, vocab, cfg.max_len, cache_dir=cache_dir, tokens=train_tokens)
    test = None
    if test_texts:
        test, _ = encode_cached(test_texts, tokenizer, vocab, cfg.max_len, cache_dir=cache_dir)
    if n_trunc:
        log.warning("%d of %d training texts are longer than data.max_len=%d - 1 tokens and were truncated",
                    n_trunc, len(train_texts), cfg.max_len)
    data = PreparedData(train, test, vocab, tokenizer, None, train_texts, test_texts, n_trunc, train_split, held_out)
    if labels:
        data.train_labels, data.test_labels, data.label_names = _label_ids(train_rows, test_rows)
        if test is None:
            data.test_labels = None
    return data
