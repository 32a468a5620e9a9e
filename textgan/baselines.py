"""Document-representation baselines beside the ADM, all offline: LSA, LDA, doc2vec, a local encoder.

Each function fits on the database documents (training + validation in an ADM run) and returns
``(database vectors, query vectors)``:

* ``lsa``: truncated SVD (scikit-learn ``TruncatedSVD``, randomized, seeded) of the TF-IDF
  matrix of the ADM's vocabulary (the same weighting as the TF-IDF baseline).
* ``lda``: scikit-learn ``LatentDirichletAllocation`` (batch variational Bayes, 20 passes,
  seeded) on the word counts of the ADM's vocabulary; the vectors are topic proportions.
* ``doc2vec``: gensim ``Doc2Vec`` (PV-DM, window 5, min_count 2, 20 epochs, one worker, seeded)
  on all tokens of each database text (the ADM's tokenizer); queries get ``infer_vector``.
  gensim is optional: without it the baseline is skipped with a one-line message.
* ``encoder``: mean-pooled last hidden states (over the attention mask) of a local
  ``transformers`` folder (``adm.encoder_path``, never downloaded); its dimension is the
  model's hidden size.

A recipe names them in ``adm.baselines``; ``name@D`` picks dimension D (``lsa@300``), plain
``name`` uses ``adm.baseline_dim`` (50).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .errors import TextganError

log = logging.getLogger(__name__)

FEATURE_BASELINES: tuple[str, ...] = ("lsa", "lda", "doc2vec", "encoder")
"""Baselines computed here (the ADM's own ones, adm_ae/dae/bow/tfidf, live in textgan/train/energy.py)."""

TEXT_BASELINES = ("doc2vec", "encoder")
"""Baselines that read the raw texts, not the bags of words."""


class BaselineUnavailable(TextganError):
    """An optional baseline whose package is missing (the run skips it with a message)."""


def parse_baseline(spec: str) -> tuple[str, int | None]:
    """``"lsa@300"`` -> ``("lsa", 300)``; ``"lsa"`` -> ``("lsa", None)``."""
    name, _, dim = spec.partition("@")
    if not dim:
        return name, None
    if not dim.isdigit() or int(dim) < 1:
        raise TextganError(f"baseline {spec!r}: the size after '@' must be a positive integer")
    return name, int(dim)


def baseline_title(spec: str, default_dim: int = 50, encoder_path: str | None = None) -> str:
    """Row title of a feature baseline in the evaluation tables."""
    name, dim = parse_baseline(spec)
    dim = dim or default_dim
    if name == "lsa":
        return f"LSA ({dim}-d, TF-IDF SVD)"
    if name == "lda":
        return f"LDA ({dim} topics)"
    if name == "doc2vec":
        return f"doc2vec ({dim}-d)"
    if name == "encoder":
        return f"encoder {Path(encoder_path).name if encoder_path else ''} (mean-pooled)".replace("  ", " ")
    raise TextganError(f"unknown baseline {spec!r}")


def _tfidf_matrix(counts: Tensor, df: Tensor, n: int) -> np.ndarray:
    from .metrics.retrieval import tfidf

    return tfidf(counts, df, n).numpy()


def _need_sklearn(what: str):
    try:
        import sklearn  # noqa: F401
    except ImportError as e:
        raise BaselineUnavailable(f"{what} skipped: scikit-learn is not installed (pip install scikit-learn)") from e


def lsa_features(database_counts: Tensor, query_counts: Tensor, dim: int = 50, seed: int = 0) -> tuple[Tensor, Tensor]:
    """LSA: truncated SVD of the database's TF-IDF matrix; queries projected on the same components."""
    _need_sklearn("LSA")
    from sklearn.decomposition import TruncatedSVD

    df = (database_counts > 0).sum(dim=0)
    n = database_counts.shape[0]
    db, q = _tfidf_matrix(database_counts, df, n), _tfidf_matrix(query_counts, df, n)
    k = max(1, min(dim, db.shape[1] - 1, n - 1))
    if k < dim:
        log.warning("LSA: %d components asked, %d possible (vocabulary %d, %d documents)", dim, k, db.shape[1], n)
    svd = TruncatedSVD(n_components=k, algorithm="randomized", n_iter=7, random_state=seed).fit(db)
    return torch.from_numpy(svd.transform(db)).float(), torch.from_numpy(svd.transform(q)).float()


def lda_features(database_counts: Tensor, query_counts: Tensor, dim: int = 50, seed: int = 0,
                 max_iter: int = 20) -> tuple[Tensor, Tensor]:
    """LDA topic proportions (scikit-learn, batch variational Bayes) of database and query counts."""
    _need_sklearn("LDA")
    from sklearn.decomposition import LatentDirichletAllocation

    db, q = database_counts.numpy().astype(np.float64), query_counts.numpy().astype(np.float64)
    lda = LatentDirichletAllocation(n_components=dim, learning_method="batch", max_iter=max_iter, random_state=seed)
    lda.fit(db)
    return torch.from_numpy(lda.transform(db)).float(), torch.from_numpy(lda.transform(q)).float()


def doc2vec_features(database_tokens: Sequence[Sequence[str]], query_tokens: Sequence[Sequence[str]], dim: int = 50,
                     seed: int = 0, epochs: int = 20) -> tuple[Tensor, Tensor]:
    """doc2vec (gensim PV-DM): trained vectors of the database documents, inferred vectors of the queries.

    Raises:
        BaselineUnavailable: gensim is not installed.
    """
    try:
        from gensim.models.doc2vec import Doc2Vec, TaggedDocument
    except ImportError as e:
        raise BaselineUnavailable("doc2vec skipped: gensim is not installed (pip install gensim)") from e
    docs = [TaggedDocument(list(t), [i]) for i, t in enumerate(database_tokens)]
    model = Doc2Vec(vector_size=dim, window=5, min_count=2, epochs=epochs, workers=1, seed=seed, dm=1)
    model.build_vocab(docs)
    model.train(docs, total_examples=len(docs), epochs=model.epochs)
    db = np.stack([model.dv[i] for i in range(len(docs))]) if docs else np.zeros((0, dim), np.float32)
    model.random.seed(seed)  # infer_vector draws its initial vector from the model's generator
    q = np.stack([model.infer_vector(list(t)) for t in query_tokens]) if len(query_tokens) else np.zeros((0, dim))
    return torch.from_numpy(np.asarray(db, np.float32)), torch.from_numpy(np.asarray(q, np.float32))


@torch.no_grad()
def encoder_features(texts: Sequence[str], path: str | Path, *, batch_size: int = 32, max_length: int = 256,
                     device: torch.device | str = "cpu") -> Tensor:
    """Mean-pooled last hidden states of a local ``transformers`` encoder folder (no download).

    Args:
        texts: documents.
        path: a folder with ``config.json``, weights and a tokenizer (``AutoModel`` / ``AutoTokenizer``).
        batch_size: texts per forward pass.
        max_length: tokens kept per text (truncation).

    Returns:
        (N, H) float32 on the CPU.
    """
    from transformers import AutoModel, AutoTokenizer

    path = Path(path).expanduser()
    if not (path / "config.json").is_file():
        raise TextganError(f"adm.encoder_path {str(path)!r} is not a transformers model folder (no config.json)")
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    model = AutoModel.from_pretrained(str(path), local_files_only=True).to(device).eval()
    out = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(list(texts[start:start + batch_size]), padding=True, truncation=True,
                          max_length=max_length, return_tensors="pt").to(device)
        hidden = model(**batch).last_hidden_state  # (B, T, H)
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        out.append(((hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)).float().cpu())
    if not out:
        return torch.zeros(0, model.config.hidden_size)
    return torch.cat(out)


def split_texts(recipe, data) -> tuple[list[str], list[str]]:
    """The raw texts of an ADM run's database (training + validation) and queries, in the bags' order.

    Reloads the corpus as ``load_bow_data`` did (same splits, columns and validation permutation).
    Queries are the test split, or the validation documents (database = training) without one.
    """
    from .data.bow import validation_split
    from .data.corpus import load_corpus

    d = recipe.data
    train_ds = load_corpus(d.corpus, d.train_split, text_column=d.text_column, label_column=d.label_column)
    texts = list(train_ds["text"])
    train_index, valid_index = validation_split(len(texts), recipe.adm.validation_fraction, recipe.seed)
    train, valid = [texts[i] for i in train_index.tolist()], [texts[i] for i in valid_index.tolist()]
    if len(train) != len(data.train) or len(valid) != len(data.valid):
        raise TextganError("the corpus changed while the run was training: its texts no longer match the bags of words")
    if data.test is None:
        return train, valid
    test_ds = load_corpus(d.corpus, d.test_split, text_column=d.text_column, label_column=d.label_column)
    return train + valid, list(test_ds["text"])


def baseline_features(spec: str, *, database_counts: Tensor, query_counts: Tensor, texts=None, tokenize=None,
                      dim: int = 50, seed: int = 0, encoder_path: str | None = None, encoder_max_length: int = 256,
                      batch_size: int = 32, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
    """``(database vectors, query vectors)`` of one feature baseline.

    Args:
        spec: ``lsa``, ``lda``, ``doc2vec`` or ``encoder``, optionally with ``@D``.
        database_counts / query_counts: (N, V) / (Q, V) word counts (LSA, LDA).
        texts: a callable returning ``(database texts, query texts)`` (doc2vec, encoder; called lazily).
        tokenize: text -> tokens (doc2vec).
        dim: size when ``spec`` has none.

    Raises:
        BaselineUnavailable: an optional package is missing.
    """
    name, size = parse_baseline(spec)
    size = size or dim
    if name == "lsa":
        return lsa_features(database_counts, query_counts, size, seed)
    if name == "lda":
        return lda_features(database_counts, query_counts, size, seed)
    if name == "doc2vec":
        db_texts, q_texts = texts()
        return doc2vec_features([tokenize(t) for t in db_texts], [tokenize(t) for t in q_texts], size, seed)
    if name == "encoder":
        if not encoder_path:
            raise TextganError("the encoder baseline needs adm.encoder_path (a local transformers model folder)")
        db_texts, q_texts = texts()
        kw = dict(batch_size=batch_size, max_length=encoder_max_length, device=device)
        return encoder_features(db_texts, encoder_path, **kw), encoder_features(q_texts, encoder_path, **kw)
    raise TextganError(f"unknown baseline {spec!r}: use some of {list(FEATURE_BASELINES)}")
