"""Detectors beside the CNN: TF-IDF + logistic regression, and zero-shot likelihood / token-rank (GLTR-style).

Every detector reads the ``text`` column only (never ``meta_*``) and returns a score per text,
higher = more likely generated.

- :func:`tfidf_logreg`: word 1-2-gram TF-IDF (sublinear tf) and scikit-learn's logistic
  regression, the GPT-2 output dataset's baseline; C is chosen on the validation split by AUROC.
- :func:`zero_shot_scores`: under a reference language model (a textgan generator checkpoint,
  e.g. the run's own generator), per text the mean token log-likelihood and the mean log-rank of
  each observed token among the model's predictions (GLTR, Gehrmann et al. 2019), and the share
  of tokens in the model's top 10. No training: a threshold is set on the validation split for
  accuracy and F1 only; AUROC and TPR at a fixed FPR need none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch


def tfidf_logreg(train_texts: Sequence[str], train_labels: Sequence[int], val_texts: Sequence[str],
                 val_labels: Sequence[int], texts: dict[str, Sequence[str]], seed: int = 0,
                 cs: Sequence[float] = (0.1, 1.0, 10.0)) -> tuple[dict[str, np.ndarray], dict]:
    """Fit TF-IDF + logistic regression on the train split; return P(generated) for each of ``texts``
    (name -> texts) and the settings (chosen C, vocabulary size)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, token_pattern=r"\S+", lowercase=False)
    x_train = vec.fit_transform(train_texts)
    best, best_c, best_auc = None, cs[0], -1.0
    for c in cs:
        clf = LogisticRegression(C=c, max_iter=1000, random_state=seed).fit(x_train, train_labels)
        if len(set(val_labels)) < 2:
            best, best_c = clf, c
            break
        auc = roc_auc_score(val_labels, clf.predict_proba(vec.transform(val_texts))[:, 1])
        if auc > best_auc:
            best, best_c, best_auc = clf, c, auc
    scores = {name: best.predict_proba(vec.transform(t))[:, 1] for name, t in texts.items()}
    return scores, {"C": best_c, "features": len(vec.vocabulary_), "ngram_range": [1, 2], "sublinear_tf": True}


@torch.no_grad()
def zero_shot_scores(reference: str | Path, texts: Sequence[str], batch_size: int = 256,
                     device: str | torch.device = "cpu") -> dict[str, np.ndarray]:
    """Per text, under the reference generator: ``loglik`` (mean token log-likelihood, the end of text
    included), ``logrank`` (minus the mean log of each token's rank, 1 = the model's top choice)
    and ``top10`` (share of tokens among the model's 10 most likely). Higher = more generated-like.
    """
    from ..data.encode import encode_texts
    from ..data.tokenizers import build_tokenizer
    from ..train.checkpoint import load_generator

    loaded = load_generator(reference, device)
    model, vocab = loaded.model, loaded.vocab
    tokenizer = loaded.tokenizer or build_tokenizer("whitespace")
    ids, _ = encode_texts(list(texts), tokenizer, vocab, model.max_len)
    out = {"loglik": [], "logrank": [], "top10": []}
    for i in range(0, ids.size(0), batch_size):
        batch = ids[i:i + batch_size].to(device)
        logits = model(batch, output="logits").float()  # (B, T, V): position t predicts batch[:, t]
        logp = torch.log_softmax(logits, dim=-1)
        tok_lp = logp.gather(-1, batch.unsqueeze(-1)).squeeze(-1)
        rank = (logp > tok_lp.unsqueeze(-1)).sum(-1).float() + 1  # 1 = most likely token
        mask = (batch != vocab.pad_id).float() if vocab.pad_id is not None else torch.ones_like(tok_lp)
        n = mask.sum(-1).clamp(min=1)
        out["loglik"].append(((tok_lp * mask).sum(-1) / n).cpu())
        out["logrank"].append((-(rank.log() * mask).sum(-1) / n).cpu())
        out["top10"].append((((rank <= 10).float() * mask).sum(-1) / n).cpu())
    return {k: torch.cat(v).numpy().astype(float) for k, v in out.items()}
