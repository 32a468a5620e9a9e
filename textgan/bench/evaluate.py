"""Timing of every `textgan evaluate` metric on 10,000 samples x 10,000 references.

Targets (issue 15, 2 CPU cores): the n-gram metrics under 5 s, the LM and reverse LM scores with
the LSTM LM under 5 minutes, the Fréchet distance with a small local encoder under a minute.

Data: COCO captions from ``$TEXTGAN_CORPORA`` (samples: the first ``n`` training captions;
references: the first ``n`` test captions; LM training texts: the same training captions), else a synthetic
Zipf corpus. The encoder is a local folder (``encoder=PATH``) or, by default, a small BERT
(4 layers, hidden 256, word-level tokenizer) randomly initialised from a config in a temporary
folder: its values mean nothing, its time is that of a small encoder.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

NGRAM_METRICS = ("bleu", "self_bleu", "fbleu", "ms_jaccard", "distinct", "entropy", "novelty", "length")


def _texts(n: int, seed: int) -> tuple[list[str], list[str], list[str], str]:
    from .bleu import _coco_file, _read_lines, synthetic_corpus

    train_file, test_file = _coco_file("train.txt"), _coco_file("test.txt")
    if train_file and test_file:
        train = _read_lines(train_file)
        return train[:n], _read_lines(test_file, n), train[:n], "coco_captions"
    return synthetic_corpus(n, seed), synthetic_corpus(n, seed + 1), synthetic_corpus(n, seed + 2), "synthetic"


def small_encoder(folder: Path, texts: list[str], hidden: int = 256, layers: int = 4) -> Path:
    """Save a randomly initialised small BERT and a word-level tokenizer of ``texts`` in ``folder``."""
    import torch
    from tokenizers import Tokenizer as RustTokenizer
    from tokenizers import models, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    rust = RustTokenizer(models.WordLevel(unk_token="[UNK]"))
    rust.pre_tokenizer = pre_tokenizers.Whitespace()
    rust.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=["[UNK]", "[PAD]", "[CLS]", "[SEP]"],
                                                              show_progress=False))
    tok = PreTrainedTokenizerFast(tokenizer_object=rust, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                  sep_token="[SEP]")
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=4,
                     intermediate_size=4 * hidden, max_position_embeddings=128, pad_token_id=tok.pad_token_id)
    from ..metrics.features import quiet_transformers

    with quiet_transformers():
        BertModel(cfg).save_pretrained(str(folder))
        tok.save_pretrained(str(folder))
    return folder


def bench_evaluate(n: int = 10_000, lm: bool = True, frechet: bool = True, encoder: str | None = None,
                   lm_options: dict | None = None, tokenize: str = "whitespace", seed: int = 0) -> dict[str, Any]:
    """Time the metric groups of ``evaluate_texts``.

    Returns:
        A flat dict: ``corpus``, ``n``, ``ngram_s`` (all n-gram metrics together) and
        ``<metric>_s`` for each n-gram metric alone, ``lm_s`` (LM + reverse LM score, training
        included), ``frechet_s`` (features of both sets + distance), and the values.
    """
    from ..train.evaluation import evaluate_texts

    import os

    samples, refs, train, corpus = _texts(n, seed)
    out: dict[str, Any] = {"corpus": corpus, "n": n, "tokenize": tokenize,
                           "load": round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None}
    t, c = time.perf_counter(), time.process_time()
    values = evaluate_texts(samples, refs, train, metrics=NGRAM_METRICS, tokenize=tokenize)
    out["ngram_s"], out["ngram_cpu_s"] = time.perf_counter() - t, time.process_time() - c
    for m in NGRAM_METRICS:
        t = time.perf_counter()
        evaluate_texts(samples, refs, train, metrics=(m,), tokenize=tokenize)
        out[f"{m}_s"] = time.perf_counter() - t
    out["values"] = {k: v for k, v in values.items() if isinstance(v, float)}
    if lm:
        t, c = time.perf_counter(), time.process_time()
        res = evaluate_texts(samples, refs, train, metrics=("lm_score", "reverse_lm_score"), tokenize=tokenize,
                             lm=lm_options)
        out["lm_s"], out["lm_cpu_s"] = time.perf_counter() - t, time.process_time() - c
        out["values"].update(lm_score=res["lm_score"], reverse_lm_score=res["reverse_lm_score"])
        out["lm_protocol"] = res["protocol"]["lm"]
    if frechet:
        with tempfile.TemporaryDirectory() as tmp:
            path = encoder or small_encoder(Path(tmp), train + refs)
            t, c = time.perf_counter(), time.process_time()
            res = evaluate_texts(samples, refs, metrics=("frechet",), features={"encoder": path})
            out["frechet_s"], out["frechet_cpu_s"] = time.perf_counter() - t, time.process_time() - c
            out["encoder"] = str(encoder) if encoder else "random small BERT (4 layers, hidden 256)"
        out["values"]["frechet"] = res["frechet"]
    return out


TARGETS = {"ngram_s": 5.0, "lm_s": 300.0, "frechet_s": 60.0}


def format_evaluate_bench(r: dict[str, Any]) -> str:
    """The bench as a table with the issue's targets."""
    import torch

    threads = torch.get_num_threads()
    lines = [f"evaluate bench: {r['n']} samples vs {r['n']} references ({r['corpus']}, tokenize={r['tokenize']}, "
             f"{threads} torch threads, load average {r.get('load', '?')})", "",
             f"{'metric group':<28}{'wall':>10}{'cpu/thread':>12}{'target':>10}"]
    for key in NGRAM_METRICS:
        lines.append(f"  {key:<26}{r[key + '_s']:>9.2f}s")
    rows = [("n-gram metrics together", "ngram_s"), ("LM + reverse LM (LSTM)", "lm_s"),
            ("Frechet distance", "frechet_s")]
    for label, key in rows:
        if key in r:
            ok = "ok" if r[key] <= TARGETS[key] else "OVER"
            cpu = r.get(key.replace("_s", "_cpu_s"), float("nan")) / threads
            lines.append(f"{label:<28}{r[key]:>9.2f}s{cpu:>11.2f}s{TARGETS[key]:>9.0f}s  {ok}")
    lines.append("(cpu/thread: process CPU seconds / threads, close to the wall time of an unloaded machine)")
    if "lm_protocol" in r:
        lp = r["lm_protocol"]
        lines.append("LM epochs (best / trained): " + ", ".join(
            f"{k} {lp[k]['training']['best_epoch']}/{lp[k]['training']['epochs']} ({lp[k]['training']['seconds']:.0f} s)"
            for k in ("lm_score", "reverse_lm_score") if k in lp))
    if "encoder" in r:
        lines.append(f"Frechet encoder: {r['encoder']}")
    lines.append("")
    lines.extend(f"{k:<20}{v:.4f}" for k, v in r["values"].items())
    return "\n".join(lines)
