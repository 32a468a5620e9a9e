"""The detectability report of a detection dataset: a baseline detector's test scores and text statistics."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import TextganError
from ..io import atomic_open, write_json
from .dataset import SPLITS, _load_split
from .shortcuts import format_shortcuts, shortcut_check
from .detector import _classification, _predict, _scores, train_detector


TABLE_METRICS = ("accuracy", "f1", "auroc", "tpr_at_fpr_1pct", "tpr_at_fpr_5pct")
"""The test metrics of each detector that a run's ``run.json`` keeps (``pipeline.detectors``) and the CNN reports over its seeds."""


def _all_detectors(rows: dict, model, encoded: dict, dev, baselines: bool, reference_lm, n_bootstrap: int,
                   seed: int, transformer: str | None = None) -> tuple[dict, dict]:
    """Scores and metrics of every detector on the test split (the text column only), and ROC inputs."""
    from .metrics import evaluate_scores

    text = {s: [r["text"] for r in rows[s]] for s in SPLITS}
    y = {s: [int(r["label"]) for r in rows[s]] for s in SPLITS}
    tune = "validation" if y["validation"] else "train"
    found: dict[str, dict] = {}
    curves: dict[str, tuple] = {}

    def add(name: str, scores, threshold: float, **info) -> None:
        t0 = time.perf_counter()
        found[name] = {**info, **evaluate_scores(scores, y["test"], threshold, n_bootstrap, seed)}
        found[name]["bootstrap_seconds"] = round(time.perf_counter() - t0, 1)
        curves[name] = (list(map(float, scores)), y["test"])

    add("cnn", _scores(model, encoded["test"][0], 512, dev).numpy(), 0.5, reads="text",
        what="SeqGAN's CNN discriminator trained from scratch; score P(generated), threshold 0.5")
    if not baselines:
        return found, curves
    from .baselines import tfidf_logreg, zero_shot_detectors

    t0 = time.perf_counter()
    scores, info = tfidf_logreg(text["train"], y["train"], text["validation"], y["validation"],
                                {"test": text["test"]}, seed=seed)
    add("tfidf_logreg", scores["test"], 0.5, reads="text", seconds=round(time.perf_counter() - t0, 1),
        what="word 1-2-gram TF-IDF + logistic regression (scikit-learn); score P(generated), threshold 0.5", **info)
    if transformer is not None:
        from .baselines import transformer_classifier

        t0 = time.perf_counter()
        scores, info = transformer_classifier(text["train"], y["train"], text["validation"], y["validation"],
                                              {"test": text["test"]}, model=transformer, seed=seed, device=dev)
        add("transformer", scores["test"], 0.5, reads="text", seconds=round(time.perf_counter() - t0, 1),
            what="a transformers sequence classifier fine-tuned on the train split; score P(generated), "
                 "threshold 0.5", **info)
    if reference_lm is not None:
        zs, secs = zero_shot_detectors(reference_lm, text, y, tune, device=dev)
        for key, what in (("loglik", "mean token log-likelihood"), ("logrank", "minus the mean log token rank (GLTR)")):
            add(f"zero_shot_{key}", zs[key]["test"], zs[key]["threshold"], reads="text", seconds=secs,
                reference_lm=str(reference_lm),
                what=f"zero-shot {what} under the reference LM; threshold from the {tune} split")
    return found, curves


def detectability_report(dataset: str | Path, *, embed_dim: int = 64,
                         filter_sizes: Sequence[int] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20),
                         num_filters: Sequence[int] = (100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160),
                         dropout: float = 0.25, l2_reg: float = 0.2, lr: float = 1e-4, batch_size: int = 64,
                         epochs: int = 3, max_len: int | None = None, tokenize: str = "whitespace",
                         compute_dtype: str = "float32", novelty_texts: Sequence[str] | None = None,
                         novelty_source: str | None = None, max_eval_samples: int = 2000, seed: int = 0,
                         device: str = "auto", progress: bool = False, reference_lm: str | Path | None = None,
                         baselines: bool = True, n_bootstrap: int = 1000, cnn_seeds: int = 1,
                         transformer: str | None = None) -> dict:
    """Train a baseline detector on a detection dataset and describe how detectable the generated texts are.

    Detector: SeqGAN's CNN discriminator trained from scratch (see :func:`train_detector`) on
    ``tokenize`` tokens with a vocabulary built from the train split; accuracy, precision,
    recall and F1 (generated = positive class) on the test split. Text statistics of the
    generated test texts (at most ``max_eval_samples``, a seeded subsample): BLEU-2..5 against
    the real test texts, Self-BLEU-2..5, distinct-n, novelty against ``novelty_texts`` (default:
    the real train texts) and lengths; real test lengths are given for comparison.

    Other detectors (``baselines``; every detector reads the ``text`` column only): TF-IDF +
    logistic regression, and with ``reference_lm`` (a generator run or checkpoint, e.g. the run's
    own) the zero-shot log-likelihood and token-rank (GLTR-style) scores, see
    :mod:`textgan.detection.baselines`. For each detector (the CNN included): accuracy,
    precision, recall, F1, AUROC and TPR at 1 % and 5 % FPR on the test split, with percentile
    bootstrap 95 % confidence intervals (``n_bootstrap`` resamples), in ``report["detectors"]``,
    and one ROC curve each in ``roc.png``.

    Writes ``report.json``, ``report.md`` and ``roc.png`` into the dataset folder.

    Args:
        dataset: a folder written by :func:`build_detection_dataset`.
        embed_dim, filter_sizes, num_filters, dropout, l2_reg, lr, batch_size, epochs,
            compute_dtype: the detector and its training.
        max_len: tokens per text given to the detector (None: the longest train text, at most 512).
        tokenize: "whitespace" or "nltk".
        novelty_texts: the generator's training texts for novelty (None: the real train texts).
        novelty_source: what ``novelty_texts`` are, for the report.
        max_eval_samples: generated / real test texts used for BLEU and Self-BLEU.
        seed: detector and subsampling seed.
        device: "auto", "cpu" or "cuda".
        progress: show progress bars.
        reference_lm: the reference language model of the zero-shot detectors (None: none).
        baselines: also run TF-IDF + logistic regression (and the zero-shot detectors).
        transformer: also fine-tune a transformer classifier (with ``baselines``): ``"small"``
            (a 2-layer BERT built from a config) or a local ``save_pretrained`` folder.
        n_bootstrap: bootstrap resamples of the confidence intervals (0: none).
        cnn_seeds: train the CNN with this many seeds (``seed``, ``seed + 1``, ...) and report each
            seed's test metrics and their mean and standard deviation (``detectors["cnn"]["over_seeds"]``);
            the other detectors are deterministic.

    Returns:
        The report as a dict (also in ``report.json``).
    """
    from ..data.encode import encode_texts
    from ..data.tokenizers import build_tokenizer
    from ..data.vocab import Vocab
    from ..metrics.bleu import tokenize_texts
    from ..train.evaluation import evaluate_texts
    from ..device import resolve_device

    path = Path(dataset)
    if not path.is_dir():
        raise TextganError(f"detection dataset {str(path)!r} not found: build it with `textgan corpus detection`")
    start = time.perf_counter()
    rows = {s: _load_split(path, s) for s in SPLITS}
    tokenizer = build_tokenizer(tokenize)
    train_tokens = tokenize_texts([r["text"] for r in rows["train"]], tokenize)
    vocab = Vocab.build(train_tokens, specials=True)
    if max_len is None:
        max_len = min(max(len(t) for t in train_tokens) + 1, 512)
    encoded, truncated = {}, {}
    for s in SPLITS:
        ids, n_trunc = encode_texts([r["text"] for r in rows[s]], tokenizer, vocab, max_len)
        encoded[s] = (ids, torch.tensor([r["label"] for r in rows[s]], dtype=torch.long))
        truncated[s] = n_trunc
    dev = resolve_device(device)
    model, history = train_detector(*encoded["train"], *encoded["validation"], len(vocab), vocab.pad_id,
                                    embed_dim=embed_dim, filter_sizes=filter_sizes, num_filters=num_filters,
                                    dropout=dropout, l2_reg=l2_reg, lr=lr, batch_size=batch_size, epochs=epochs,
                                    compute_dtype=compute_dtype, seed=seed, device=dev, progress=progress)
    test_ids, test_labels = encoded["test"]
    detector = _classification(_predict(model, test_ids, 512, dev), test_labels)
    train_seconds = sum(h["seconds"] for h in history)
    detectors, curves = _all_detectors(rows, model, encoded, dev, baselines, reference_lm, n_bootstrap, seed,
                                       transformer)
    if cnn_seeds > 1:  # the CNN again with other seeds: its spread from initialisation and shuffling alone
        from .metrics import point_metrics

        per_seed = []
        for k in range(cnn_seeds):
            m = model if k == 0 else train_detector(
                *encoded["train"], *encoded["validation"], len(vocab), vocab.pad_id, embed_dim=embed_dim,
                filter_sizes=filter_sizes, num_filters=num_filters, dropout=dropout, l2_reg=l2_reg, lr=lr,
                batch_size=batch_size, epochs=epochs, compute_dtype=compute_dtype, seed=seed + k, device=dev,
                progress=progress)[0]
            per_seed.append({"seed": seed + k, **point_metrics(_scores(m, test_ids, 512, dev).numpy(),
                                                               test_labels.numpy(), 0.5)})
        detectors["cnn"]["seeds"] = per_seed
        detectors["cnn"]["over_seeds"] = {
            k: {"mean": float(np.mean([r[k] for r in per_seed])), "std": float(np.std([r[k] for r in per_seed], ddof=1))}
            for k in TABLE_METRICS}

    rng = random.Random(seed)
    gen_test = [r["text"] for r in rows["test"] if r["label"] == 1]
    real_test = [r["text"] for r in rows["test"] if r["label"] == 0]
    gen_eval = rng.sample(gen_test, min(len(gen_test), max_eval_samples))
    real_eval = rng.sample(real_test, min(len(real_test), max_eval_samples))
    if novelty_texts is None:
        novelty_texts = [r["text"] for r in rows["train"] if r["label"] == 0]
        novelty_source = "real texts of the train split"
    metrics = ("bleu", "self_bleu", "distinct", "novelty", "length") if len(gen_eval) >= 2 else ("bleu", "novelty", "length")
    text_stats = evaluate_texts(gen_eval, real_eval, list(novelty_texts), metrics=metrics, orders=(2, 3, 4, 5),
                                tokenize=tokenize)
    real_len = evaluate_texts(real_eval, metrics=("length",), tokenize=tokenize)
    meta = json.loads((path / "detection.json").read_text(encoding="utf-8")) if (path / "detection.json").is_file() else {}
    report = {
        "dataset": str(path),
        "counts": {s: {"real": sum(r["label"] == 0 for r in rows[s]), "generated": sum(r["label"] == 1 for r in rows[s])}
                   for s in SPLITS},
        "detector": {"architecture": "CNNDiscriminator (SeqGAN), trained from scratch", "tokenize": tokenize,
                     "vocab_size": len(vocab), "max_len": max_len, "truncated": truncated, "embed_dim": embed_dim,
                     "filter_sizes": list(filter_sizes), "num_filters": list(num_filters), "dropout": dropout,
                     "l2_reg": l2_reg, "lr": lr, "batch_size": batch_size, "epochs": epochs,
                     "compute_dtype": compute_dtype, "seed": seed, "device": dev.type, "history": history,
                     "train_seconds": round(train_seconds, 1)},
        "test": detector,
        "detectors": detectors,
        "generated_text": {**text_stats, "novelty_reference": novelty_source or "given texts",
                           "num_novelty_reference": len(novelty_texts)},
        "real_text": {k: v for k, v in real_len.items()},
        "generator": meta.get("generated", []),
        "real_source": meta.get("real", {}),
        "shortcuts": shortcut_check(rows["train"], rows["validation"] + rows["test"], ("validation", "test"), path),
        "seconds": round(time.perf_counter() - start, 1),
    }
    if curves:
        from .metrics import plot_roc

        report["roc_plot"] = str(plot_roc(curves, path / "roc.png"))
    write_json(path / "report.json", report)
    with atomic_open(path / "report.md") as f:
        f.write(format_report(report))
    return report


def detector_table(report: dict) -> dict:
    """Each detector's test metrics (:data:`TABLE_METRICS`, no intervals) by detector name; with the CNN
    trained on several seeds, one more row ``cnn_seed_mean`` holds their means. Seed summaries of a
    pipeline recipe (``textgan run RECIPE --seeds ...``) average this table over the runs."""
    table = {name: {k: d[k] for k in TABLE_METRICS if isinstance(d.get(k), (int, float))}
             for name, d in report.get("detectors", {}).items()}
    over = report.get("detectors", {}).get("cnn", {}).get("over_seeds")
    if over:
        table["cnn_seed_mean"] = {k: v["mean"] for k, v in over.items() if k in TABLE_METRICS}
    return table


def format_report(report: dict) -> str:
    """The report as one Markdown table (plus a short header)."""
    t, g, r = report["test"], report["generated_text"], report["real_text"]
    counts = report["counts"]
    rows = [("detector accuracy (test)", t["accuracy"]), ("detector F1, generated = positive (test)", t["f1"]),
            ("detector precision (test)", t["precision"]), ("detector recall (test)", t["recall"])]
    rows += [(f"BLEU-{n} of generated vs real test texts", g.get(f"bleu{n}")) for n in (2, 3, 4, 5)]
    rows += [(f"Self-BLEU-{n} of generated texts", g.get(f"self_bleu{n}")) for n in (2, 3, 4, 5)]
    rows += [("novelty: share of generated texts copied from the reference", g.get("copied"))]
    rows += [(f"novelty: share of novel {n}-grams", g.get(f"novel_{n}gram")) for n in (2, 3, 4)]
    rows += [("length of generated texts, mean (std) tokens", f"{g['len_mean']:.1f} ({g['len_std']:.1f})"),
             ("length of generated texts, min / median / max", f"{g['len_min']:.0f} / {g['len_median']:.0f} / {g['len_max']:.0f}"),
             ("length of real test texts, mean (std) tokens", f"{r['len_mean']:.1f} ({r['len_std']:.1f})")]
    det = report["detector"]
    lines = ["# Detectability report", "",
             f"Dataset `{report['dataset']}`: " + ", ".join(f"{s} {c['real']} real + {c['generated']} generated"
                                                           for s, c in counts.items()) + ".",
             f"Detector: {det['architecture']}, {det['tokenize']} tokens, vocabulary {det['vocab_size']} from the "
             f"train split, {det['epochs']} epochs (best validation epoch kept), {det['train_seconds']} s on {det['device']}.",
             f"Text statistics on {g['num_samples']} generated test texts; novelty against {g['novelty_reference']}.", "",
             "| measure | value |", "|---|---:|"]
    for name, value in rows:
        shown = "n/a" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value))
        lines.append(f"| {name} | {shown} |")
    if report.get("detectors"):
        def cell(d: dict, k: str) -> str:
            ci = d.get("ci95", {}).get(k)
            return f"{d[k]:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")

        lines += ["", "## Detectors (test split; 95 % bootstrap confidence intervals)", "",
                  "Every detector reads the text only. Generated = positive class.", "",
                  "| detector | accuracy | F1 | AUROC | TPR at 1 % FPR | TPR at 5 % FPR |", "|---|---|---|---|---|---|"]
        for name, d in report["detectors"].items():
            lines.append(f"| {name} | " + " | ".join(cell(d, k) for k in ("accuracy", "f1", "auroc", "tpr_at_fpr_1pct",
                                                                           "tpr_at_fpr_5pct")) + " |")
        reversed_ = [(name, d) for name, d in report["detectors"].items()
                     if d.get("auroc") is not None and d.get("ci95", {}).get("auroc", [0.0, 1.0])[1] < 0.5]
        for name, d in reversed_:
            lines += ["", f"**{name}: AUROC {d['auroc']:.3f}, below chance with its whole interval.** The score ranks real "
                          f"texts as the more generated-like: its fixed direction is reversed on this data (a zero-shot "
                          f"score does this when the reference model gives the real texts the higher likelihood, e.g. "
                          f"because it was trained on them). Reversed, the same score separates the classes with AUROC "
                          f"{1 - d['auroc']:.3f}; a detector allowed to pick its direction on the validation split "
                          f"(`textgan corpus grid` does) would report that."]
        spread = report["detectors"].get("cnn", {}).get("over_seeds")
        if spread:
            lines += ["", f"CNN over {len(report['detectors']['cnn']['seeds'])} seeds (mean +- std): " + ", ".join(
                f"{k} {v['mean']:.3f} +- {v['std']:.3f}" for k, v in spread.items())]
        if report.get("roc_plot"):
            lines += ["", "ROC curves: `roc.png`."]
    if report.get("shortcuts"):
        lines += ["", "## Shortcut check", "", format_shortcuts(report["shortcuts"]).rstrip("\n")]
    return "\n".join(lines) + "\n"
