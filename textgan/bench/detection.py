"""Timing of a large detection dataset and its detectability report (issue 18, item 7).

Target: a 100,000-text detection dataset (50,000 real + 50,000 generated) with the TF-IDF, CNN
and zero-shot detectors and its report in under 10 minutes on 2 CPU cores, generation excluded;
the transformer detector's time reported beside it.

What is timed: ``build_detection_dataset`` (reading, the shared text form, clean-up, splits,
writing the folder) and ``detectability_report`` with the detector settings of the shipped
fake-news CPU recipes (``recipes/fake_news/*_cpu.yaml`` ``pipeline.detector``: SeqGAN's CNN with
embedding 64, bfloat16 products, 2 epochs at lr 1e-3), plus TF-IDF + logistic regression and the
zero-shot detectors under the generator, every metric with 1,000 bootstrap resamples, the ROC plot
and the text statistics. Real texts are cut to the generator's 50 tokens, as the pipeline does. The transformer detector (``transformer=True``: the
small BERT of the report, 3 epochs, on the same splits) is timed on its own.

Not timed (prepared first): the real texts, a generator and its texts.

- Real texts: every short real-text corpus present under ``$TEXTGAN_CORPORA`` pooled (COCO
  captions train + test, EMNLP2017 News test + held-out, LIAR statements), about 52,800
  sentences, drawn at random; without the corpora, a synthetic Zipf corpus.
- Generator: SeqGAN's LSTM (embedding and hidden 32) trained by MLE for ``generator_epochs``
  epochs on 10,000 texts of that pool (whitespace tokens, lower-cased, the 10,000 most frequent
  words, ``max_len`` 51; a few minutes), or a given run / checkpoint (``generator=``).
- Both classes keep ``<unk>`` (``oov="unk"``) so that every real text stays: the bench times the
  work, and its AUROCs are not detection results (``<unk>`` rates may differ between the sides).
- Generated texts: ``n / 2`` plus 5 % sampled at temperature 1 with duplicates dropped.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

# The detector of the shipped fake-news CPU recipes (their pipeline.detector section).
RECIPE_DETECTOR = {"embed_dim": 64, "epochs": 2, "lr": 1e-3, "compute_dtype": "auto", "max_eval_samples": 1000}
REAL_SOURCES = (("coco_captions", "train"), ("coco_captions", "test"), ("emnlp_news", "test"),
                ("emnlp_news", "valid"), ("fake_news/liar", "train"), ("fake_news/liar", "valid"),
                ("fake_news/liar", "test"))


def real_pool(limit: int, seed: int = 0) -> tuple[list[str], str]:
    """Short real texts from the local corpora (at most ``limit``), or a synthetic corpus without them."""
    from ..data.corpus import load_corpus
    from ..errors import TextganError

    texts: list[str] = []
    used = []
    for name, split in REAL_SOURCES:
        try:
            ds = load_corpus(name, split)
        except (TextganError, FileNotFoundError):
            continue
        texts += [" ".join(t.split()) for t in ds["text"] if t.strip()]
        used.append(f"{name}:{split}")
    if len(texts) < limit // 2:
        from .bleu import synthetic_corpus

        return synthetic_corpus(limit, seed), "synthetic Zipf corpus"
    import random

    return random.Random(seed).sample(texts, min(limit, len(texts))), " + ".join(used)


def _train_generator(real_file: Path, out: Path, epochs: int, threads: int, texts: int = 10_000) -> Path:
    from ..config import recipe_from_dict
    from ..runs import start

    lines = real_file.read_text(encoding="utf-8").splitlines()[:texts]
    train_file = out.parent / "generator_train.txt"
    train_file.write_text("".join(t + "\n" for t in lines), encoding="utf-8")
    recipe = recipe_from_dict({
        "name": "bench_detection_generator", "seed": 0, "threads": threads,
        "data": {"corpus": str(train_file), "test_fraction": 0.02, "tokenizer": "whitespace",
                 "lowercase": True, "max_vocab": 10_000, "max_len": 51},
        "generator": {"type": "lstm", "embed_dim": 32, "hidden_dim": 32},
        "mle": {"epochs": epochs, "batch_size": 64, "lr": 0.01, "grad_clip": 5.0},
        "eval": {"every": epochs, "num_samples": 100, "metrics": ["bleu"], "save_samples": 0},
    })
    return start(recipe, out, progress=False).path


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_detection(n: int = 100_000, generator: str | Path | None = None, generator_epochs: int = 1,
                    transformer: bool = False, threads: int = 2, workdir: str | Path | None = None,
                    seed: int = 0) -> dict[str, Any]:
    """Time building an ``n``-text detection dataset and its report (see the module docstring).

    Returns:
        Counts, seconds per stage and per detector, test AUROC of each detector, peak memory,
        the load average before and after, and what was prepared.
    """
    import torch

    from ..config import DetectorConfig
    from ..device import resolve_dtype_name
    from ..detection.dataset import build_detection_dataset
    from ..detection.report import detectability_report
    from ..generation import SamplingSettings, generate_texts

    torch.set_num_threads(threads)
    per_class = n // 2
    keep = tempfile.TemporaryDirectory(prefix="textgan-bench-detection-") if workdir is None else None
    work = Path(workdir or keep.name)
    work.mkdir(parents=True, exist_ok=True)
    prep: dict[str, Any] = {}
    t0 = time.perf_counter()
    real, source = real_pool(per_class + per_class // 10, seed)
    real_file = work / "real.txt"
    real_file.write_text("".join(t + "\n" for t in real), encoding="utf-8")
    prep.update(real_source=source, real_texts=len(real))
    if generator is None:
        generator = work / "generator"
        if not (Path(generator) / "checkpoints").is_dir():
            _train_generator(real_file, Path(generator), generator_epochs, threads)
        prep["generator"] = f"LSTM 32/32, {generator_epochs} MLE epoch(s) on 10,000 of the real texts"
    else:
        prep["generator"] = str(generator)
    gen_file = work / "generated.jsonl"
    if not gen_file.is_file():
        generate_texts(generator, per_class + per_class // 20, gen_file, sampling=SamplingSettings(seed=seed),
                       drop_duplicates=True, device="cpu")
    prep["seconds"] = round(time.perf_counter() - t0, 1)

    load_before = os.getloadavg()[0]
    out = work / "detection"
    timed: dict[str, float] = {}
    t0 = time.perf_counter()
    ds = build_detection_dataset(real_file, [gen_file], out, max_per_class=per_class, seed=seed, generator=generator,
                                 real_max_tokens=50, oov="unk")
    timed["dataset"] = time.perf_counter() - t0
    d = DetectorConfig(**{**RECIPE_DETECTOR, "compute_dtype": resolve_dtype_name(RECIPE_DETECTOR["compute_dtype"], "cpu")})
    t0 = time.perf_counter()
    report = detectability_report(out, embed_dim=d.embed_dim, filter_sizes=d.filter_sizes, num_filters=d.num_filters,
                                  dropout=d.dropout, l2_reg=d.l2_reg, lr=d.lr, batch_size=d.batch_size,
                                  epochs=d.epochs, compute_dtype=d.compute_dtype, max_eval_samples=d.max_eval_samples,
                                  seed=seed, device="cpu", reference_lm=generator)
    timed["report"] = time.perf_counter() - t0
    total = timed["dataset"] + timed["report"]
    result: dict[str, Any] = {
        "n": sum(c["real"] + c["generated"] for c in ds.counts.values()), "counts": ds.counts,
        "threads": threads, "prepared": prep,
        "detector": f"{d.epochs} epochs, {d.compute_dtype}, lr {d.lr}, embedding {d.embed_dim}",
        "seconds": {"dataset": round(timed["dataset"], 1), "report": round(timed["report"], 1),
                    "total": round(total, 1),
                    "cnn_training": report["detector"]["train_seconds"],
                    **{f"{k}_fit_and_score": v.get("seconds") for k, v in report["detectors"].items() if v.get("seconds")},
                    "bootstrap": round(sum(v.get("bootstrap_seconds", 0) for v in report["detectors"].values()), 1)},
        "auroc": {k: round(v["auroc"], 4) for k, v in report["detectors"].items()},
        "target_seconds": 600, "met": total < 600,
        "peak_rss_mb": round(_peak_rss_mb()),
        "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
    }
    if transformer:
        from ..detection.baselines import transformer_classifier
        from ..detection.dataset import _load_split

        rows = {s: _load_split(out, s) for s in ("train", "validation", "test")}
        text = {s: [r["text"] for r in v] for s, v in rows.items()}
        y = {s: [int(r["label"]) for r in v] for s, v in rows.items()}
        t0 = time.perf_counter()
        scores, info = transformer_classifier(text["train"], y["train"], text["validation"], y["validation"],
                                              {"test": text["test"]}, model="small", seed=seed)
        from sklearn.metrics import roc_auc_score

        result["seconds"]["transformer"] = round(time.perf_counter() - t0, 1)
        result["auroc"]["transformer"] = round(float(roc_auc_score(y["test"], scores["test"])), 4)
    if keep is not None:
        keep.cleanup()
    return result


def format_detection_bench(r: dict[str, Any]) -> str:
    s = r["seconds"]
    splits = ", ".join(f"{k} {v['real']:,}+{v['generated']:,}" for k, v in r["counts"].items())
    lines = [f"detection dataset + report: {r['n']:,} texts "
             f"({splits}), {r['threads']} threads, "
             f"load {r['load_before']} -> {r['load_after']}",
             f"  real texts: {r['prepared']['real_source']}; generator: {r['prepared']['generator']} "
             f"(prepared in {r['prepared']['seconds']} s, not timed)",
             "| stage | seconds |", "|---|---:|",
             f"| dataset (text form, clean-up, splits, folder) | {s['dataset']} |",
             f"| report (every detector below, bootstrap CIs, ROC plot, text statistics) | {s['report']} |",
             f"|   CNN training ({r['detector']}) | {s['cnn_training']} |"]
    lines += [f"|   {k.replace('_fit_and_score', '')} fit + score | {v} |" for k, v in s.items()
              if k.endswith("_fit_and_score") and k != "zero_shot_logrank_fit_and_score"]  # one pass scores both
    lines += [f"|   bootstrap CIs (all detectors) | {s['bootstrap']} |",
              f"| **total** (target 600 s: {'met' if r['met'] else 'missed'}) | **{s['total']}** |"]
    if "transformer" in s:
        lines.append(f"| transformer detector (small BERT, 3 epochs; not in the total) | {s['transformer']} |")
    lines.append("test AUROC (a timing bench, not a detection result: <unk> is kept on both sides): "
                 + ", ".join(f"{k} {v}" for k, v in r["auroc"].items()))
    lines.append(f"peak memory {r['peak_rss_mb']} MB")
    return "\n".join(lines)
