"""The fake-news pipeline of a recipe: generate texts, build the detection dataset, write the detectability report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .dataset import build_detection_dataset
from .report import detectability_report, detector_table


def run_pipeline(recipe: Any, run_path: str | Path, device: str = "auto", progress: bool = False) -> dict:
    """The stages after training when a recipe has a ``pipeline`` section: generate texts from the
    run's checkpoint, build the detection dataset, write the detectability report.

    Outputs go into the run folder: ``generated/generated.jsonl`` and ``detection/``.

    Args:
        recipe: the :class:`textgan.config.Recipe` (with ``pipeline`` set).
        run_path: the run folder holding ``checkpoints/``.
        device: where to sample and train the detector.
        progress: show progress bars.

    Returns:
        A summary for ``run.json``: generated count and speed, dataset counts, detector test
        accuracy and F1, wall time per stage.
    """
    from ..data.prepare import first_available_split
    from ..generation import SamplingSettings, generate_texts

    cfg, data = recipe.pipeline, recipe.data
    run_path = Path(run_path)
    timings = {}
    t0 = time.perf_counter()
    sampling = SamplingSettings(temperature=cfg.temperature, top_k=cfg.top_k, top_p=cfg.top_p, min_len=cfg.min_len,
                                seed=recipe.seed if cfg.seed is None else cfg.seed, ban_unk=cfg.ban_unk)
    gen = generate_texts(run_path, cfg.num_generate, run_path / "generated" / "generated.jsonl", sampling=sampling,
                         shard_size=cfg.shard_size, batch_size=cfg.batch_size, drop_duplicates=cfg.drop_duplicates,
                         drop_train_copies=cfg.drop_train_copies, device=device, progress=progress)
    timings["generate_s"] = round(time.perf_counter() - t0, 1)

    t0 = time.perf_counter()
    train_split, train_ds = first_available_split(data)
    generator_train = f"{data.corpus}:{train_split}" + (f" (labels {list(data.keep_labels)})" if data.keep_labels else "")
    real = cfg.real or (f"{data.corpus}:{data.test_split}" if data.test_split else data.corpus)
    if real in (data.corpus, f"{data.corpus}:{train_split}"):
        generator_train += "; the real part includes these training texts"
    else:
        generator_train += f"; the real part ({real}) is another split or source"
    labels = cfg.real_labels if cfg.real_labels is not None else data.keep_labels
    max_tokens = cfg.real_max_tokens if cfg.real_max_tokens is not None else data.max_len - 1
    ds = build_detection_dataset(real, [gen.path], run_path / "detection", real_labels=labels,
                                 real_max_tokens=max_tokens, text_column=data.text_column,
                                 validation_fraction=cfg.validation_fraction, test_fraction=cfg.test_fraction,
                                 max_per_class=cfg.max_per_class, seed=recipe.seed, generator=run_path,
                                 generator_train=generator_train, split_by=cfg.split_by,
                                 group_column=cfg.group_column, near_dup_threshold=cfg.near_dup_threshold,
                                 match_length=cfg.match_length, oov=cfg.oov)
    timings["dataset_s"] = round(time.perf_counter() - t0, 1)

    t0 = time.perf_counter()
    train_texts = list(train_ds["text"])
    if data.keep_labels is not None and "label" in train_ds.column_names:
        wanted = {str(x) for x in data.keep_labels}
        train_texts = [t for t, lab in zip(train_texts, train_ds["label"]) if str(lab) in wanted]
    d = cfg.detector
    report = detectability_report(ds.path, embed_dim=d.embed_dim, filter_sizes=d.filter_sizes,
                                  num_filters=d.num_filters, dropout=d.dropout, l2_reg=d.l2_reg, lr=d.lr,
                                  batch_size=d.batch_size, epochs=d.epochs, max_len=d.max_len, tokenize=d.tokenizer,
                                  compute_dtype=d.compute_dtype, novelty_texts=train_texts,
                                  novelty_source=f"the generator's training texts ({data.corpus}:{train_split})",
                                  max_eval_samples=d.max_eval_samples, seed=recipe.seed, device=device,
                                  progress=progress, reference_lm=run_path, transformer=d.transformer,
                                  cnn_seeds=d.cnn_seeds)
    timings["report_s"] = round(time.perf_counter() - t0, 1)
    summary = {"generated": {"path": str(gen.path), "num": gen.num, "drawn": gen.drawn, "dropped": gen.dropped,
                             "texts_per_second": round(gen.texts_per_second, 1)},
               "detection": {"path": str(ds.path), "counts": ds.counts},
               "detector_test": report["test"], "detectors": detector_table(report), "timings": timings,
               "shortcuts": {k: report["shortcuts"][k] for k in ("passed", "shortcuts", "content_cues", "bound", "n_test")}}
    if cfg.augmentation is not None:  # real vs real + generated training data (a label-conditional generator)
        from .augment import run_augmentation

        t0 = time.perf_counter()
        summary["augmentation"] = run_augmentation(recipe, run_path, device, progress)
        timings["augmentation_s"] = round(time.perf_counter() - t0, 1)
    return summary
