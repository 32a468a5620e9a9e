"""Detection metrics: accuracy, F1, AUROC, TPR at a fixed FPR, bootstrap confidence intervals, ROC plot.

Scores are "how generated" a text looks (higher = more likely generated, label 1); predictions
are thresholded scores. Every metric treats "generated" as the positive class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

METRICS: tuple[str, ...] = ("accuracy", "precision", "recall", "f1", "auroc", "tpr_at_fpr_1pct", "tpr_at_fpr_5pct")


def roc_points(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) of the ROC curve, from (0, 0) to (1, 1), one point per distinct score (ties: one step)."""
    s, y = np.asarray(scores, dtype=float), np.asarray(labels, dtype=int)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # the last index of each distinct score
    tps = np.cumsum(y)[last]
    fps = last + 1 - tps
    p, n = max(int(tps[-1]), 1), max(int(fps[-1]), 1)
    return np.r_[0.0, fps / n], np.r_[0.0, tps / p]


def _auroc(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Area under the ROC steps (ties count one half, as the Mann-Whitney statistic)."""
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def _tpr_at(fpr: np.ndarray, tpr: np.ndarray, max_fpr: float) -> float:
    ok = fpr <= max_fpr + 1e-12
    return float(tpr[ok].max()) if ok.any() else 0.0


def tpr_at_fpr(scores: np.ndarray, labels: np.ndarray, max_fpr: float) -> float:
    """The highest true-positive rate of a threshold whose false-positive rate is at most ``max_fpr``."""
    return _tpr_at(*roc_points(scores, labels), max_fpr)


def point_metrics(scores: Sequence[float], labels: Sequence[int], threshold: float) -> dict[str, float]:
    """Accuracy, precision, recall, F1 (prediction: score > threshold), AUROC and TPR at 1 % and 5 % FPR."""
    s, y = np.asarray(scores, dtype=float), np.asarray(labels, dtype=int)
    pred = (s > threshold).astype(int)
    tp, fp, fn = int(((pred == 1) & (y == 1)).sum()), int(((pred == 1) & (y == 0)).sum()), int(((pred == 0) & (y == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    out = {"accuracy": float((pred == y).mean()), "precision": precision, "recall": recall, "f1": f1}
    if len(set(y.tolist())) < 2:
        return {**out, "auroc": float("nan"), "tpr_at_fpr_1pct": float("nan"), "tpr_at_fpr_5pct": float("nan")}
    fpr, tpr = roc_points(s, y)
    return {**out, "auroc": _auroc(fpr, tpr), "tpr_at_fpr_1pct": _tpr_at(fpr, tpr, 0.01),
            "tpr_at_fpr_5pct": _tpr_at(fpr, tpr, 0.05)}


def bootstrap_ci(scores: Sequence[float], labels: Sequence[int], threshold: float, n: int = 1000,
                 level: float = 0.95, seed: int = 0) -> dict[str, list[float]]:
    """Percentile bootstrap confidence intervals of :func:`point_metrics` (test texts resampled with
    replacement, ``n`` times; resamples with a single class are skipped)."""
    s, y = np.asarray(scores, dtype=float), np.asarray(labels, dtype=int)
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {k: [] for k in METRICS}
    for _ in range(n):
        idx = rng.integers(0, len(s), len(s))
        if len(set(y[idx].tolist())) < 2:
            continue
        for k, v in point_metrics(s[idx], y[idx], threshold).items():
            draws[k].append(v)
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    return {k: ([float(np.percentile(v, lo)), float(np.percentile(v, hi))] if v else [float("nan")] * 2)
            for k, v in draws.items()}


def best_threshold(scores: Sequence[float], labels: Sequence[int]) -> float:
    """The threshold with the highest accuracy (prediction: score > threshold), midway between scores."""
    s, y = np.asarray(scores, dtype=float), np.asarray(labels, dtype=int)
    if not len(s):
        return 0.0
    values = np.unique(s)
    cands = np.concatenate([[values[0] - 1.0], (values[:-1] + values[1:]) / 2])
    acc = [((s > c).astype(int) == y).mean() for c in cands]
    return float(cands[int(np.argmax(acc))])


def evaluate_scores(scores: Sequence[float], labels: Sequence[int], threshold: float, n_bootstrap: int = 1000,
                    seed: int = 0) -> dict:
    """Point metrics, their bootstrap confidence intervals (``ci95``) and the threshold used."""
    return {**point_metrics(scores, labels, threshold), "threshold": float(threshold), "n": len(scores),
            "ci95": bootstrap_ci(scores, labels, threshold, n_bootstrap, seed=seed) if n_bootstrap else {}}


def plot_roc(curves: dict[str, tuple[Sequence[float], Sequence[int]]], path: str | Path) -> Path:
    """One ROC curve per detector (name -> (scores, labels)) in one PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    for name, (s, y) in curves.items():
        fpr, tpr = roc_points(np.asarray(s, dtype=float), np.asarray(y, dtype=int))
        ax.plot(fpr, tpr, label=f"{name} (AUROC {_auroc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8, label="chance")
    ax.set_xlabel("false-positive rate (real texts flagged)")
    ax.set_ylabel("true-positive rate (generated texts found)")
    ax.set_title("ROC, test split")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
