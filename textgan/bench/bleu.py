"""Timing of BLEU / Self-BLEU against nltk on COCO captions (or a synthetic corpus)."""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from textgan.metrics.bleu import BleuReference, Tokenize, sequential_mean, self_bleu_scores, tokenize_texts

logger = logging.getLogger(__name__)

AGREEMENT_TOLERANCE = 1e-12


def _coco_file(name: str) -> Path | None:
    root = os.environ.get("TEXTGAN_CORPORA")
    if not root:
        return None
    path = Path(root) / "coco_captions" / name
    return path if path.is_file() else None


def _read_lines(path: Path, limit: int | None = None) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[:limit] if limit is not None else lines


def synthetic_corpus(n_sentences: int, seed: int, vocab_size: int = 5000) -> list[str]:
    """Random sentences with Zipf-distributed words, a stand-in for captions.

    Args:
        n_sentences: number of sentences.
        seed: random seed.
        vocab_size: number of word types.

    Returns:
        ``n_sentences`` whitespace-joined sentences of 5 to 25 words.
    """
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(vocab_size)]
    weights = [1.0 / (i + 1) for i in range(vocab_size)]
    return [" ".join(rng.choices(words, weights, k=rng.randint(5, 25))) for _ in range(n_sentences)]


def bench_bleu(
    references: list[str] | None = None,
    samples: list[str] | None = None,
    n_samples: int = 10000,
    nltk_subsample: int = 20,
    orders: Sequence[int] = (2, 3, 4, 5),
    seed: int = 0,
    tokenize: Tokenize = "nltk",
) -> dict[str, Any]:
    """Time our BLEU and Self-BLEU over all samples and nltk's on a random subsample.

    Ours: BLEU-n for every order in ``orders`` of every sample against all references
    (including counting the references), and Self-BLEU of every sample against the others.
    nltk: ``sentence_bleu`` once per order (as Texygen calls it) for ``nltk_subsample`` random
    samples, for BLEU and for Self-BLEU (each against the other ``n_samples - 1`` samples); the
    per-sample values are compared with ours.

    Args:
        references: reference texts; default the COCO test captions
            (``$TEXTGAN_CORPORA/coco_captions/test.txt``) if present, else a synthetic corpus.
        samples: sample texts; default the first ``n_samples`` COCO train captions, else synthetic.
        n_samples: number of samples when ``samples`` is not given.
        nltk_subsample: samples scored by nltk (0 skips nltk).
        orders: BLEU orders.
        seed: seed of the subsample and of the synthetic corpus.
        tokenize: see :func:`textgan.metrics.bleu.tokenize_texts` (Texygen used nltk's).

    Returns:
        A flat dict: corpus facts (``source``, ``n_references``, ``n_samples``, ``orders``,
        ``tokenize``), times in seconds (``tokenize_s``, ``bleu_precompute_s``, ``bleu_s``,
        ``self_bleu_s``, their ``*_per_sample_s`` and nltk's ``nltk_bleu_per_sample_s``,
        ``nltk_self_bleu_per_sample_s``), ``bleu_speedup`` and ``self_bleu_speedup`` (nltk time
        per sample / ours), ``bleu_max_abs_diff`` and ``self_bleu_max_abs_diff`` over the
        subsample, ``agree`` (both diffs <= 1e-12), and the mean scores ``bleu`` and
        ``self_bleu`` as ``{n: score}``.
    """
    orders = tuple(orders)
    source = "given"
    if references is None:
        path = _coco_file("test.txt")
        references = _read_lines(path) if path else synthetic_corpus(10000, seed + 1)
        source = "coco_captions" if path else "synthetic"
    if samples is None:
        path = _coco_file("train.txt")
        samples = _read_lines(path, n_samples) if path else synthetic_corpus(n_samples, seed + 2)
    result: dict[str, Any] = {
        "source": source,
        "n_references": len(references),
        "n_samples": len(samples),
        "orders": list(orders),
        "tokenize": tokenize if isinstance(tokenize, str) else getattr(tokenize, "__name__", "callable"),
    }

    start = time.perf_counter()
    ref_tokens = tokenize_texts(references, tokenize)
    hyp_tokens = tokenize_texts(samples, tokenize)
    result["tokenize_s"] = time.perf_counter() - start

    start = time.perf_counter()
    ref = BleuReference(ref_tokens, max_n=max(orders))
    precompute = time.perf_counter()
    ours = ref.scores_by_order(hyp_tokens, orders)
    end = time.perf_counter()
    result["bleu_precompute_s"] = precompute - start
    result["bleu_s"] = end - start
    result["bleu_per_sample_s"] = (end - start) / len(hyp_tokens)

    start = time.perf_counter()
    ours_self = self_bleu_scores(hyp_tokens, orders)
    end = time.perf_counter()
    result["self_bleu_s"] = end - start
    result["self_bleu_per_sample_s"] = (end - start) / len(hyp_tokens)
    result["bleu"] = {n: sequential_mean(v) for n, v in ours.items()}
    result["self_bleu"] = {n: sequential_mean(v) for n, v in ours_self.items()}

    if nltk_subsample > 0:
        from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

        smoothing = SmoothingFunction().method1
        picked = random.Random(seed).sample(range(len(hyp_tokens)), min(nltk_subsample, len(hyp_tokens)))
        bleu_time = self_time = 0.0
        bleu_diff = self_diff = 0.0
        for i in picked:
            for n in orders:
                start = time.perf_counter()
                value = sentence_bleu(ref_tokens, hyp_tokens[i], (1 / n,) * n, smoothing_function=smoothing)
                bleu_time += time.perf_counter() - start
                bleu_diff = max(bleu_diff, abs(value - ours[n][i]))
            for n in orders:
                start = time.perf_counter()
                others = hyp_tokens[:i] + hyp_tokens[i + 1 :]
                value = sentence_bleu(others, hyp_tokens[i], (1 / n,) * n, smoothing_function=smoothing)
                self_time += time.perf_counter() - start
                self_diff = max(self_diff, abs(value - ours_self[n][i]))
        result["nltk_subsample"] = len(picked)
        result["nltk_bleu_per_sample_s"] = bleu_time / len(picked)
        result["nltk_self_bleu_per_sample_s"] = self_time / len(picked)
        result["bleu_speedup"] = result["nltk_bleu_per_sample_s"] / result["bleu_per_sample_s"]
        result["self_bleu_speedup"] = result["nltk_self_bleu_per_sample_s"] / result["self_bleu_per_sample_s"]
        result["bleu_max_abs_diff"] = bleu_diff
        result["self_bleu_max_abs_diff"] = self_diff
        result["agree"] = bleu_diff <= AGREEMENT_TOLERANCE and self_diff <= AGREEMENT_TOLERANCE
        if not result["agree"]:
            logger.warning("BLEU differs from nltk: %.3g (BLEU), %.3g (Self-BLEU)", bleu_diff, self_diff)
    return result


def format_bleu_bench(result: dict[str, Any]) -> str:
    """Render a :func:`bench_bleu` result as a plain-text table.

    Args:
        result: the dict returned by :func:`bench_bleu`.

    Returns:
        A multi-line string (no trailing newline).
    """
    orders = result["orders"]
    span = f"{min(orders)}..{max(orders)}" if len(orders) > 1 else str(orders[0])
    lines = [
        f"BLEU bench: {result['n_samples']} samples vs {result['n_references']} references "
        f"({result['source']}, tokenize={result['tokenize']}, orders {span})",
        f"tokenize (not in the times below): {result['tokenize_s']:.3f} s",
        "",
        f"{'':<12}{'ours total':>12}{'ours/sample':>14}{'nltk/sample':>14}{'speedup':>11}{'max |diff|':>12}",
    ]
    has_nltk = "nltk_subsample" in result
    for key, label in (("bleu", f"BLEU-{span}"), ("self_bleu", "Self-BLEU")):
        row = f"{label:<12}{result[key + '_s']:>10.3f} s{result[key + '_per_sample_s'] * 1e6:>11.1f} us"
        if has_nltk:
            row += (
                f"{result['nltk_' + key + '_per_sample_s']:>12.3f} s"
                f"{result[key + '_speedup']:>10.0f}x{result[key + '_max_abs_diff']:>12.1e}"
            )
        lines.append(row)
    lines.append(f"(BLEU total includes counting the references: {result['bleu_precompute_s']:.3f} s)")
    if has_nltk:
        verdict = "agree" if result["agree"] else "DISAGREE"
        lines.append(
            f"nltk timed on {result['nltk_subsample']} random samples; values {verdict} "
            f"(tolerance {AGREEMENT_TOLERANCE:g})"
        )
    lines.append("")
    lines.append(f"{'n':<12}" + "".join(f"{n:>10}" for n in orders))
    for key, label in (("bleu", "BLEU"), ("self_bleu", "Self-BLEU")):
        lines.append(f"{label:<12}" + "".join(f"{result[key][n]:>10.4f}" for n in orders))
    return "\n".join(lines)
