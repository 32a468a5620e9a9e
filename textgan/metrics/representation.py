"""Three evaluations of document representations: retrieval, linear probe, clustering.

Usable on any embeddings with labels (a user corpus with a label column, vectors from
``textgan embed`` or from another model)::

    from textgan.metrics.representation import evaluate_embeddings, write_evaluation_tables
    tables = evaluate_embeddings({"mine": (train_x, test_x)}, train_y, test_y)
    write_evaluation_tables(tables, "out/")     # retrieval/probe/clustering .json + .md + .png

* **retrieval**: precision of cosine retrieval at recall fractions (test documents query the
  training documents; :func:`textgan.metrics.retrieval.retrieval_precision`).
* **probe**: linear-probe accuracy, a multinomial logistic regression (scikit-learn,
  ``max_iter=1000``, L2, C = 1) fitted on the standardised training embeddings and scored on
  the test embeddings (also macro F1).
* **clustering**: k-means (k = number of classes among the test labels, ``n_init=10``, seeded)
  on the L2-normalised test embeddings (cosine geometry, as retrieval); NMI and V-measure
  against the labels. NMI is normalised by the geometric mean of the entropies (Strehl and
  Ghosh, 2002); V-measure equals NMI with the arithmetic mean (scikit-learn's default NMI).

Probe and clustering need scikit-learn (``pip install scikit-learn``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import TextganError
from .retrieval import PAPER_RECALLS, retrieval_precision

log = logging.getLogger(__name__)

EVALUATIONS: tuple[str, ...] = ("retrieval", "probe", "clustering")
"""Evaluation names, in table order."""

_DESCRIPTIONS = {
    "retrieval": "Precision of cosine retrieval (test queries against training documents), by recall fraction.",
    "probe": "Linear probe: logistic regression on standardised embeddings, fitted on training documents, "
             "scored on test documents.",
    "clustering": "k-means (k = number of classes, 10 restarts) on L2-normalised test embeddings; "
                  "NMI and V-measure against the labels.",
}


def _numpy(x) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def _labels(y) -> np.ndarray:
    if isinstance(y, Tensor):
        return y.detach().cpu().numpy().astype(np.int64)
    return np.asarray(y)


def _sklearn():
    try:
        import sklearn  # noqa: F401
    except ImportError as e:
        raise TextganError("the probe and clustering evaluations need scikit-learn: pip install scikit-learn") from e


def linear_probe(train_x, train_y, test_x, test_y, *, seed: int = 0, max_iter: int = 1000) -> dict[str, float]:
    """Accuracy and macro F1 of a logistic regression fitted on ``train_x`` and scored on ``test_x``.

    Features are standardised with the training mean and standard deviation (constant features
    stay 0). Labels may be ints or strings.
    """
    _sklearn()
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.preprocessing import StandardScaler

    xtr, xte, ytr, yte = _numpy(train_x), _numpy(test_x), _labels(train_y), _labels(test_y)
    if len(np.unique(ytr)) < 2:
        raise TextganError("the linear probe needs at least two classes among the training labels")
    scaler = StandardScaler().fit(xtr)
    clf = LogisticRegression(max_iter=max_iter, random_state=seed)
    clf.fit(scaler.transform(xtr), ytr)
    pred = clf.predict(scaler.transform(xte))
    return {"accuracy": float(accuracy_score(yte, pred)), "macro_f1": float(f1_score(yte, pred, average="macro"))}


def clustering_scores(x, y, *, k: int | None = None, seed: int = 0, n_init: int = 10) -> dict[str, float]:
    """NMI (geometric normalisation) and V-measure (= arithmetic NMI) of k-means on the L2-normalised ``x``.

    k is the number of distinct labels by default.
    """
    _sklearn()
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score, v_measure_score

    xs, ys = _numpy(x).astype(np.float64), _labels(y)
    k = k if k is not None else len(np.unique(ys))
    if k < 2 or xs.shape[0] < k:
        raise TextganError(f"clustering needs k >= 2 and at least k documents (k={k}, {xs.shape[0]} documents)")
    norms = np.linalg.norm(xs, axis=1, keepdims=True)
    xs = xs / np.where(norms > 0, norms, 1.0)
    pred = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(xs)
    return {"nmi": float(normalized_mutual_info_score(ys, pred, average_method="geometric")), "v_measure": float(v_measure_score(ys, pred)),
            "k": int(k)}


def evaluate_embeddings(methods: Mapping[str, tuple], train_y, test_y, *,
                        evaluations: Sequence[str] = EVALUATIONS, recalls: Sequence[float] = (*PAPER_RECALLS, 1.0),
                        seed: int = 0, device: torch.device | str = "cpu") -> dict[str, dict[str, dict[str, float]]]:
    """Every evaluation of every method.

    Args:
        methods: method title -> (train vectors (N, D), test vectors (Q, D)); tensors or arrays.
        train_y: (N,) labels of the training documents (the retrieval database, the probe's fit).
        test_y: (Q,) labels of the test documents (queries, probe scoring, clustering).
        evaluations: some of ``retrieval``, ``probe``, ``clustering``.
        recalls: retrieval recall fractions.
        seed: probe and k-means seed.

    Returns:
        evaluation -> method -> {column: value}: ``retrieval`` columns are the recall fractions
        (as text), ``probe`` has ``accuracy`` and ``macro_f1``, ``clustering`` ``nmi``,
        ``v_measure`` and ``k``.
    """
    unknown = [e for e in evaluations if e not in EVALUATIONS]
    if unknown:
        raise TextganError(f"unknown evaluation(s) {unknown}: use some of {list(EVALUATIONS)}")
    tables: dict[str, dict[str, dict[str, float]]] = {e: {} for e in EVALUATIONS if e in evaluations}
    ytr, yte = _labels(train_y), _labels(test_y)
    if "retrieval" in tables:
        if ytr.dtype.kind not in "iu" or yte.dtype.kind not in "iu":  # string labels: number them jointly
            names = {s: i for i, s in enumerate(sorted(set(ytr.tolist()) | set(yte.tolist())))}
            ytr_i = np.array([names[s] for s in ytr.tolist()], dtype=np.int64)
            yte_i = np.array([names[s] for s in yte.tolist()], dtype=np.int64)
        else:
            ytr_i, yte_i = ytr, yte
    for title, (train_x, test_x) in methods.items():
        if "retrieval" in tables:
            q = torch.as_tensor(_numpy(test_x)).to(device)
            db = torch.as_tensor(_numpy(train_x)).to(device)
            precision = retrieval_precision(q, torch.as_tensor(yte_i), db, torch.as_tensor(ytr_i), list(recalls))
            tables["retrieval"][title] = {f"{r:g}": p for r, p in zip(recalls, precision)}
        if "probe" in tables:
            tables["probe"][title] = linear_probe(train_x, ytr, test_x, yte, seed=seed)
        if "clustering" in tables:
            tables["clustering"][title] = clustering_scores(test_x, yte, seed=seed)
    return tables


def format_table(table: Mapping[str, Mapping[str, float]], columns: Sequence[str] | None = None) -> str:
    """Markdown table: one row per method, one column per key (floats to 4 places)."""
    if columns is None:
        columns = list(next(iter(table.values())).keys()) if table else []
    lines = ["| method | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for method, row in table.items():
        cells = [f"{row[c]:.4f}" if isinstance(row[c], float) else str(row[c]) for c in columns]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_scores(table: Mapping[str, Mapping[str, float]], columns: Sequence[str], out: Path, title: str = "",
                ylabel: str = "score", errors: Mapping[str, Mapping[str, float]] | None = None) -> Path:
    """Horizontal grouped bars: one group per method, one bar per column (``errors``: +- whiskers, same shape)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..figures import save_figure

    methods = list(table)
    fig, ax = plt.subplots(figsize=(7, 1.0 + 0.45 * max(1, len(methods)) * max(1, len(columns))))
    height = 0.8 / max(1, len(columns))
    for j, col in enumerate(columns):
        ys = [i + j * height for i in range(len(methods))]
        xerr = [errors[m].get(col, 0.0) for m in methods] if errors else None
        ax.barh(ys, [table[m][col] for m in methods], height=height, label=col, xerr=xerr, capsize=2 if xerr else 0)
    ax.set_yticks([i + height * (len(columns) - 1) / 2 for i in range(len(methods))])
    ax.set_yticklabels(methods, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(ylabel)
    ax.set_xlim(0, 1)
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="x")
    if len(columns) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, out)
    return out


def write_evaluation_tables(tables: Mapping[str, Mapping], folder: str | Path, *, title: str = "",
                            info: Mapping | None = None, skip: Sequence[str] = ()) -> dict[str, Path]:
    """Write ``<evaluation>.json`` / ``.md`` / ``.png`` for each table in ``tables``.

    ``retrieval`` gets ``retrieval.json``/``retrieval.md``/``precision_recall.png``; ``probe``
    ``probe.json``/``probe.md``/``probe.png``; ``clustering`` ``clustering.json``/``clustering.md``/
    ``clustering.png``. ``info`` is merged into each JSON file (e.g. split sizes); evaluations named
    in ``skip`` are not written (the ADM run writes its own retrieval files).

    Returns:
        evaluation -> JSON path.
    """
    from ..figures import plot_precision_recall
    from ..io import atomic_open, write_json

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, table in tables.items():
        if name in skip or not table:
            continue
        write_json(folder / f"{name}.json", {**dict(info or {}), "description": _DESCRIPTIONS[name], "table": table})
        columns = {"probe": ["accuracy", "macro_f1"], "clustering": ["nmi", "v_measure"]}.get(name)
        with atomic_open(folder / f"{name}.md") as f:
            f.write(_DESCRIPTIONS[name] + "\n\n" + format_table(table, columns))
        heading = f"{title}: {name}" if title else name
        if name == "retrieval":
            plot_precision_recall(table, folder / "precision_recall.png", heading)
        elif name == "probe":
            plot_scores(table, ["accuracy"], folder / "probe.png", heading, "test accuracy")
        else:
            plot_scores(table, ["nmi", "v_measure"], folder / "clustering.png", heading, "score")
        written[name] = folder / f"{name}.json"
    return written
