"""Figures of document embeddings and retrieval: PCA and t-SNE maps, precision-recall curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor


def pca_2d(vectors: Tensor, seed: int = 0) -> Tensor:
    """(N, H) -> (N, 2) projection on the two leading principal components (``torch.pca_lowrank``)."""
    x = vectors.float()
    with torch.random.fork_rng(devices=[]):  # pca_lowrank draws from the global generator: seed it privately
        torch.manual_seed(seed)
        _, _, v = torch.pca_lowrank(x, q=min(2, x.shape[1]), center=True, niter=6)
    return (x - x.mean(dim=0)) @ v[:, :2]


def _perplexity_affinities(distances: Tensor, perplexity: float, iterations: int = 60) -> Tensor:
    """Row-wise Gaussian affinities whose entropy matches ``log(perplexity)`` (bisection on beta)."""
    n = distances.shape[0]
    target = torch.log(torch.tensor(perplexity, dtype=distances.dtype))
    lo = torch.zeros(n, 1, dtype=distances.dtype)
    hi = torch.full((n, 1), float("inf"), dtype=distances.dtype)
    beta = torch.ones(n, 1, dtype=distances.dtype)
    eye = torch.eye(n, dtype=torch.bool)
    for _ in range(iterations):
        logits = (-distances * beta).masked_fill(eye, -float("inf"))
        p = torch.softmax(logits, dim=1)
        entropy = -(p * torch.log(p.clamp_min(1e-12))).sum(dim=1, keepdim=True)
        too_flat = entropy > target  # entropy too high: sharpen (raise beta)
        lo = torch.where(too_flat, beta, lo)
        hi = torch.where(too_flat, hi, beta)
        beta = torch.where(torch.isinf(hi), beta * 2, (lo + hi) / 2)
    return p


def tsne_2d(vectors: Tensor, *, perplexity: float = 30.0, iterations: int = 750, seed: int = 0) -> Tensor:
    """A small exact t-SNE (van der Maaten and Hinton, 2008), enough for a map of a few thousand points.

    Gaussian affinities at the given perplexity, symmetrised; Student-t similarities in 2-D;
    gradient descent with momentum 0.5 then 0.8, learning rate 200, early exaggeration 12 for
    the first 250 iterations. Cost and memory are O(N^2): subsample beyond ~5,000 points.

    Args:
        vectors: (N, H) points.
        perplexity: effective number of neighbours.
        iterations: gradient steps.
        seed: initialisation seed.

    Returns:
        (N, 2) float32 coordinates.
    """
    x = vectors.double()
    n = x.shape[0]
    if n < 3:
        return torch.zeros(n, 2)
    x = x - x.mean(dim=0)
    d = torch.cdist(x, x).pow(2)
    d = d / d[d > 0].mean().clamp_min(1e-12)
    p = _perplexity_affinities(d, min(perplexity, (n - 1) / 3))
    p = ((p + p.T) / (2 * n)).clamp_min(1e-12).float()
    y = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed)) * 1e-4
    velocity = torch.zeros_like(y)
    gains = torch.ones_like(y)
    for it in range(iterations):
        exaggeration = 12.0 if it < 250 else 1.0
        sq = (y * y).sum(dim=1)
        num = (sq[:, None] + sq[None, :] - 2.0 * (y @ y.T)).clamp_min_(0.0).add_(1.0).reciprocal_()  # (N, N) Student-t
        num.fill_diagonal_(0.0)
        w = (exaggeration * p).sub_(num / num.sum()).mul_(num)  # (P - Q) * kernel (Q's floor does not matter here)
        grad = 4.0 * (w.sum(dim=1, keepdim=True) * y - w @ y)
        gains = torch.where(torch.sign(grad) != torch.sign(velocity), gains + 0.2, gains * 0.8).clamp_min(0.01)
        velocity = (0.5 if it < 250 else 0.8) * velocity - 200.0 * gains * grad
        y = y + velocity
        y = y - y.mean(dim=0)
    return y.float()


def plot_precision_recall(table: dict[str, dict[str, float]], out: Path, title: str = "",
                          errors: dict[str, dict[str, float]] | None = None) -> Path:
    """Precision against recall fraction (log x axis), one curve per method.

    Args:
        table: method title -> {recall (as text): precision}.
        out: PNG path (written atomically).
        errors: the same shape as ``table``: a +- band per point (e.g. the std over seeds).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for method, row in table.items():
        pts = sorted((float(r), p) for r, p in row.items())
        line, = ax.plot(*zip(*pts), marker="o", ms=3, label=method)
        if errors and method in errors:
            band = sorted((float(r), errors[method].get(r, 0.0)) for r in row)
            ax.fill_between([x for x, _ in pts], [p - e for (_, p), (_, e) in zip(pts, band)],
                            [p + e for (_, p), (_, e) in zip(pts, band)], color=line.get_color(), alpha=0.2)
    ax.set_xscale("log")
    ax.set_xlabel("recall (fraction of the database retrieved)")
    ax.set_ylabel("precision")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, out)
    return out


def plot_embedding_map(points: Tensor, labels: Tensor, names: Sequence[str] | None, out: Path, title: str = "") -> Path:
    """Scatter of 2-D points coloured by label (tab20), legend with label names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 7))
    cmap = plt.get_cmap("tab20")
    for label in sorted(set(labels.tolist())):
        sel = labels == label
        name = names[label] if names and label < len(names) else str(label)
        ax.scatter(points[sel, 0], points[sel, 1], s=3, alpha=0.6, color=cmap(label % 20), label=name)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=6, markerscale=3, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    save_figure(fig, out)
    return out


def save_figure(fig, out: Path, dpi: int = 110) -> None:
    """Write a matplotlib figure to ``out`` through a temporary name (never half a PNG), and close it."""
    import matplotlib.pyplot as plt

    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    tmp.replace(out)
