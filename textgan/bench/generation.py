"""Generation throughput (texts per second) of the registered generators, and of ``textgan generate``."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Sequence

import torch

logger = logging.getLogger(__name__)

TARGET_TEXTS_PER_S = 500.0  # the LSTM at length 51, vocabulary ~5,700, on 2 CPU cores


def build_bench_generator(kind: str, vocab_size: int, max_len: int, embed_dim: int = 32, hidden_dim: int = 32,
                          seed: int = 0) -> torch.nn.Module:
    """A freshly initialised generator of a registered ``kind``, with specials as for text.

    Ids 0..3 are pad, bos, eos, unk (as :class:`textgan.data.vocab.Vocab`). A kind that needs a
    discriminator (LeakGAN) gets SeqGAN's CNN with the recipe defaults.
    """
    from ..config import recipe_from_dict
    from ..registry import build_discriminator_from_config, build_generator_from_config, generator_needs

    torch.manual_seed(seed)
    discriminator = None
    if "discriminator" in generator_needs(kind):
        d = recipe_from_dict({"discriminator": {}}).discriminator
        discriminator = build_discriminator_from_config(d, vocab_size=vocab_size, pad_id=0)
    cfg = recipe_from_dict({"generator": {"type": kind, "embed_dim": embed_dim, "hidden_dim": hidden_dim},
                            "discriminator": {}}).generator
    return build_generator_from_config(cfg, vocab_size=vocab_size, max_len=max_len, start_token=1, pad_id=0, eos_id=2,
                                       discriminator=discriminator).eval()


def _time_sample(model: torch.nn.Module, num: int, batch_size: int, repeats: int, **sampling) -> float:
    """Best texts per second over ``repeats`` calls of ``model.sample`` (after one warm-up batch)."""
    g = torch.Generator().manual_seed(0)
    model.sample(min(batch_size, num), generator=g, batch_size=batch_size, **sampling)
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        model.sample(num, generator=g, batch_size=batch_size, **sampling)
        best = max(best, num / (time.perf_counter() - start))
    return best


def bench_generation(kinds: Sequence[str] | None = None, vocab_size: int = 5700, max_len: int = 51,
                     batch_sizes: Sequence[int] = (250, 500, 1000, 2000), num: int = 2000, repeats: int = 2,
                     threads: int | None = 2, sampling_variants: Sequence[dict] | None = None,
                     end_to_end: int = 5000, embed_dim: int = 32, hidden_dim: int = 32, seed: int = 0,
                     transformer_lengths: Sequence[int] = (51, 256), transformer_num: int = 512) -> dict:
    """Time sampling of freshly initialised generators, and ``generate_texts`` end to end.

    Random weights sample at the same speed as trained ones (the work per token does not depend
    on the values), except that untrained models rarely stop early: every text runs the full
    ``max_len`` steps, the worst case.

    Args:
        kinds: registered generator types (None: lstm, and leakgan when registered).
        vocab_size: V (EMNLP2017 News in LeakGAN's setup: about 5,700).
        max_len: T (EMNLP News: 51).
        batch_sizes: texts sampled in parallel, each timed.
        num: texts per timed call.
        repeats: timed calls per setting (the best counts).
        threads: torch intra-op threads (restored afterwards); None keeps the current.
        sampling_variants: keyword sets for ``sample`` (default: plain, temperature 0.9, top-p 0.9);
            the variants are timed at the fastest plain batch size only.
        end_to_end: texts written by ``generate_texts`` (JSONL, shards of 10,000) with the
            LSTM at the best batch size; 0 skips it.
        embed_dim, hidden_dim: generator sizes (SeqGAN / LeakGAN: 32).
        seed: initialisation seed.
        transformer_lengths: lengths at which the 4-layer, 256-wide ``hf_causal_lm`` generator is
            timed (float32 and bfloat16 sampling; see :mod:`textgan.bench.transformer`); () skips it.
        transformer_num: texts per transformer timing.

    Returns:
        ``{"settings", "runs": [{"kind", "batch_size", "sampling", "texts_per_s", "tokens_per_s"}],
        "best": {kind: texts_per_s}, "end_to_end": {...} or None, "target_texts_per_s",
        "lstm_meets_target"}``.
    """
    from ..registry import generators

    if kinds is None:
        kinds = [k for k in ("lstm", "leakgan") if k in generators()]
    if sampling_variants is None:
        sampling_variants = ({"temperature": 0.9}, {"top_p": 0.9})
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        runs, best = [], {}
        for kind in kinds:
            model = build_bench_generator(kind, vocab_size, max_len, embed_dim, hidden_dim, seed)
            plain = {}
            for b in batch_sizes:
                rate = _time_sample(model, max(num, b), b, repeats)
                plain[b] = rate
                runs.append({"kind": kind, "batch_size": b, "sampling": "plain", "texts_per_s": rate,
                             "tokens_per_s": rate * max_len})
                logger.info("%s batch %d: %.0f texts/s", kind, b, rate)
            best_batch = max(plain, key=plain.get)
            best[kind] = {"texts_per_s": plain[best_batch], "batch_size": best_batch}
            for variant in sampling_variants:
                rate = _time_sample(model, max(num // 2, best_batch), best_batch, 1, **variant)
                runs.append({"kind": kind, "batch_size": best_batch,
                             "sampling": ", ".join(f"{k}={v}" for k, v in variant.items()),
                             "texts_per_s": rate, "tokens_per_s": rate * max_len})
        e2e = None
        if end_to_end and "lstm" in best:
            e2e = _end_to_end(end_to_end, vocab_size, max_len, embed_dim, hidden_dim, best["lstm"]["batch_size"], seed)
        transformer = []
        if transformer_lengths:
            from .transformer import sampling_runs

            transformer = sampling_runs(vocab_size, tuple(transformer_lengths), num=transformer_num)
        lstm_rate = best.get("lstm", {}).get("texts_per_s")
        return {"settings": {"vocab_size": vocab_size, "max_len": max_len, "embed_dim": embed_dim,
                             "hidden_dim": hidden_dim, "num": num, "repeats": repeats,
                             "threads": torch.get_num_threads(), "torch": torch.__version__,
                             "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None},
                "runs": runs, "best": best, "end_to_end": e2e, "target_texts_per_s": TARGET_TEXTS_PER_S,
                "transformer": transformer,
                "lstm_meets_target": None if lstm_rate is None else lstm_rate >= TARGET_TEXTS_PER_S}
    finally:
        torch.set_num_threads(previous)


def _end_to_end(num: int, vocab_size: int, max_len: int, embed_dim: int, hidden_dim: int, batch_size: int,
                seed: int) -> dict:
    """``generate_texts`` from a saved random LSTM checkpoint: sampling + decoding + JSONL shards."""
    from ..data.tokenizers import build_tokenizer
    from ..data.vocab import Vocab
    from ..generation import generate_texts
    from ..train.checkpoint import save_checkpoint

    model = build_bench_generator("lstm", vocab_size, max_len, embed_dim, hidden_dim, seed)
    vocab = Vocab.build([[f"w{i}" for i in range(vocab_size - 4)]])
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = save_checkpoint(os.path.join(tmp, "ckpt"), model, "lstm", vocab, build_tokenizer("whitespace"))
        result = generate_texts(ckpt, num, os.path.join(tmp, "out.jsonl"), batch_size=batch_size, device="cpu")
        size = os.path.getsize(result.path)
    return {"num": num, "batch_size": batch_size, "seconds": result.seconds, "texts_per_s": result.texts_per_second,
            "bytes": size}


def format_generation_bench(result: dict) -> str:
    """A plain-text table of :func:`bench_generation`'s result."""
    s = result["settings"]
    lines = [f"generation throughput: V={s['vocab_size']}, T={s['max_len']}, embed/hidden {s['embed_dim']}/"
             f"{s['hidden_dim']}, {s['threads']} threads, torch {s['torch']}, load average {s['load_average']}",
             f"{'kind':<8} {'batch':>6} {'sampling':<18} {'texts/s':>9} {'tokens/s':>10}"]
    for r in result["runs"]:
        lines.append(f"{r['kind']:<8} {r['batch_size']:>6} {r['sampling']:<18} {r['texts_per_s']:>9.0f} {r['tokens_per_s']:>10.0f}")
    for r in result.get("transformer", []):
        lines.append(f"{'hf_causal_lm':<8} {r['batch_size']:>6} {'T=' + str(r['max_len']) + ' ' + r['sample_dtype']:<18} "
                     f"{r['texts_per_s']:>9.0f} {r['tokens_per_s']:>10.0f}")
    e2e = result.get("end_to_end")
    if e2e:
        lines.append(f"textgan generate end to end (lstm, batch {e2e['batch_size']}): {e2e['num']} texts in "
                     f"{e2e['seconds']:.1f} s = {e2e['texts_per_s']:.0f} texts/s")
    lstm = result["best"].get("lstm")
    if lstm:
        verdict = "meets" if result["lstm_meets_target"] else f"misses by {result['target_texts_per_s'] - lstm['texts_per_s']:.0f} texts/s"
        lines.append(f"LSTM best {lstm['texts_per_s']:.0f} texts/s (batch {lstm['batch_size']}): {verdict} the "
                     f"{result['target_texts_per_s']:.0f} texts/s target")
    return "\n".join(lines)
