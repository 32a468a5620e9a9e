"""Transformer generator timings: sampling with the key/value cache, an MLE epoch, and the
adversarial generator step with Monte Carlo rollouts against one sampling pass of its batch."""

from __future__ import annotations

import os
import time

import torch

from ..device import cpu_name
from ..models.hf import HFCausalLMGenerator

TARGET_TEXTS_PER_S = 500.0  # 4-layer, 256-wide generator at length 51, 2 CPU cores
TARGET_STEP_RATIO = 3.0  # adversarial step with 16 rollouts / one sampling pass of the batch

BENCH_CONFIG = {"n_layer": 4, "n_embd": 256, "n_head": 4, "activation_function": "gelu_pytorch_tanh"}
TINY_CONFIG = {"n_layer": 2, "n_embd": 128, "n_head": 4, "activation_function": "gelu_pytorch_tanh"}


def _generator(vocab_size: int, max_len: int, config: dict, sample_dtype: str = "float32",
               seed: int = 0) -> HFCausalLMGenerator:
    torch.manual_seed(seed)
    return HFCausalLMGenerator(vocab_size, max_len=max_len, start_token=1, pad_id=0, eos_id=None, config=config,
                               sample_dtype=sample_dtype).eval()


def _best_seconds(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def sampling_runs(vocab_size: int = 5700, lengths=(51, 256), num: int = 1024, batch_size: int | tuple = 512,
                  dtypes=("float32", "bfloat16"), config: dict | None = None, repeats: int = 1) -> list[dict]:
    """Texts per second of a randomly initialised generator (no end-of-sequence token: every text
    runs the full length, the worst case) at each length, sampling dtype and batch size."""
    runs = []
    sizes = batch_size if isinstance(batch_size, tuple) else (batch_size,)
    for length in lengths:
        for dtype in dtypes:
            g = _generator(vocab_size, length, config or BENCH_CONFIG, dtype)
            rng = torch.Generator().manual_seed(0)
            g.sample(min(64, num), generator=rng)  # warm-up
            for b in sizes:
                seconds = _best_seconds(lambda: g.sample(max(num, b), generator=rng, batch_size=b), repeats)
                n = max(num, b)
                runs.append({"kind": "hf_causal_lm", "max_len": length, "sample_dtype": dtype, "batch_size": b,
                             "num": n, "seconds": seconds, "texts_per_s": n / seconds, "tokens_per_s": n * length / seconds})
    return runs


def _real_sequences(max_len: int, limit: int):
    """COCO captions (Texygen's 10,000 training captions, nltk tokens) encoded for the MLE timing, or None."""
    try:
        from ..config import DataConfig
        from ..data.prepare import prepare_data

        data = prepare_data(DataConfig(corpus="coco_captions", tokenizer="nltk", max_len=max_len, test_split=None), 0)
    except Exception:  # no corpus on this machine: random tokens of the same shape instead
        return None
    return data.train[:limit], len(data.vocab)


def mle_epoch_seconds(num: int = 10_000, max_len: int = 37, vocab_size: int = 5700, batch_size: int = 64,
                      config: dict | None = None, batches: int | None = None) -> dict:
    """One MLE epoch (Adam, batch 64) of the tiny generator over COCO's 10,000 training captions."""
    real = _real_sequences(max_len, num)
    if real is None:
        tokens = torch.randint(3, vocab_size, (num, max_len), generator=torch.Generator().manual_seed(0))
        source = "random tokens (COCO captions not found)"
    else:
        tokens, vocab_size = real
        source = "coco_captions train"
    g = _generator(vocab_size, max_len, config or TINY_CONFIG).train()
    opt = torch.optim.Adam(g.parameters(), lr=1e-3)
    order = torch.randperm(tokens.size(0), generator=torch.Generator().manual_seed(0))
    total = tokens.size(0) // batch_size
    run = total if batches is None else min(batches, total)
    start = time.perf_counter()
    for b in range(run):
        x = tokens[order[b * batch_size:(b + 1) * batch_size]]
        loss = g(x, output="nll")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - start
    return {"source": source, "sequences": tokens.size(0), "max_len": max_len, "vocab_size": vocab_size,
            "batches_timed": run, "batches_per_epoch": total, "seconds": seconds * total / run,
            "measured_whole_epoch": run == total}


def adversarial_step(batch_size: int = 64, num_rollouts: int = 16, max_len: int = 20, vocab_size: int = 5700,
                     config: dict | None = None, kv_cache: bool = True, repeats: int = 1) -> dict:
    """One generator step (sample the batch, rollout rewards from a CNN discriminator, REINFORCE
    update) against one sampling pass of the batch, and of the rollouts' rows."""
    from ..models.cnn_discriminator import CNNDiscriminator
    from ..rl.losses import reinforce_loss
    from ..rl.rewards import rollout_rewards
    from ..rl.rollout import make_rollout_policy

    g = _generator(vocab_size, max_len, config or TINY_CONFIG)
    g.kv_cache = kv_cache
    d = CNNDiscriminator(vocab_size, embed_dim=32, filter_sizes=(1, 2, 3, 4, 5), num_filters=(50, 50, 50, 50, 50),
                         pad_id=0).eval()
    rollout = make_rollout_policy(g)
    opt = torch.optim.Adam(g.parameters(), lr=1e-5)
    rng = torch.Generator().manual_seed(0)

    def sample_batch(n: int = batch_size):
        return g.sample(n, generator=rng)

    def step():
        tokens = sample_batch()
        rewards = rollout_rewards(tokens, rollout, d, num_rollouts=num_rollouts, generator=rng)
        g.train()
        loss = reinforce_loss(g, tokens, rewards, reduction="mean")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        g.eval()

    sample_batch()
    t_sample = _best_seconds(sample_batch, max(repeats, 3))
    t_rows = _best_seconds(lambda: sample_batch(batch_size * num_rollouts), 1)
    t_step = _best_seconds(step, repeats)
    return {"batch_size": batch_size, "num_rollouts": num_rollouts, "max_len": max_len, "kv_cache": kv_cache,
            "step_seconds": t_step, "sample_batch_seconds": t_sample, "sample_rollout_rows_seconds": t_rows,
            "ratio_to_batch_pass": t_step / t_sample, "ratio_to_rollout_rows_pass": t_step / t_rows}


def bench_transformer(threads: int | None = 2, quick: bool = False) -> dict:
    """Every transformer timing with its target. ``quick`` times fewer texts and MLE batches."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        sampling = sampling_runs(num=256 if quick else 1024, lengths=(51,),
                                 batch_size=(256,) if quick else (256, 512, 1024))
        if not quick:  # article length: fewer texts (a text costs about 20 times one of length 51)
            sampling += sampling_runs(num=256, lengths=(256,), batch_size=(256,))
        mle = mle_epoch_seconds(batches=20 if quick else None)
        step = adversarial_step()
        uncached = adversarial_step(kv_cache=False, batch_size=16) if not quick else None
        cached_small = adversarial_step(batch_size=16) if not quick else None
    finally:
        torch.set_num_threads(previous)
    best51 = max((r["texts_per_s"] for r in sampling if r["max_len"] == 51), default=0.0)
    return {"settings": {"cpu": cpu_name(), "threads": threads, "torch": torch.__version__,
                         "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
                         "sampling_model": BENCH_CONFIG, "training_model": TINY_CONFIG},
            "sampling": sampling, "mle_epoch": mle, "adversarial_step": step,
            "cache_comparison": {"cached": cached_small, "uncached": uncached} if uncached else None,
            "targets": {"texts_per_s_len51": TARGET_TEXTS_PER_S, "step_ratio": TARGET_STEP_RATIO},
            "meets": {"texts_per_s_len51": best51 >= TARGET_TEXTS_PER_S,
                      "step_ratio": step["ratio_to_batch_pass"] <= TARGET_STEP_RATIO}}


def format_transformer_bench(result: dict) -> str:
    s = result["settings"]
    lines = [f"transformer generator on {s['cpu']}, {s['threads']} threads, torch {s['torch']}, "
             f"load average {s['load_average']}",
             f"sampling ({s['sampling_model']}, V=5700, no early stop):",
             f"  {'length':>6} {'dtype':<9} {'batch':>5} {'texts/s':>8} {'tokens/s':>9}"]
    for r in result["sampling"]:
        lines.append(f"  {r['max_len']:>6} {r['sample_dtype']:<9} {r['batch_size']:>5} {r['texts_per_s']:>8.0f} "
                     f"{r['tokens_per_s']:>9.0f}")
    m = result["mle_epoch"]
    lines.append(f"MLE epoch ({s['training_model']}, {m['source']}, {m['sequences']} sequences, T={m['max_len']}, "
                 f"V={m['vocab_size']}): {m['seconds']:.1f} s"
                 + ("" if m["measured_whole_epoch"] else f" (projected from {m['batches_timed']} batches)"))
    a = result["adversarial_step"]
    lines.append(f"adversarial generator step (batch {a['batch_size']}, {a['num_rollouts']} rollouts, T={a['max_len']}): "
                 f"{a['step_seconds']:.2f} s = {a['ratio_to_batch_pass']:.1f} x one sampling pass of the batch "
                 f"({a['sample_batch_seconds']:.3f} s), {a['ratio_to_rollout_rows_pass']:.2f} x one pass of its "
                 f"{a['batch_size'] * a['num_rollouts']} rollout rows ({a['sample_rollout_rows_seconds']:.2f} s)")
    cmp_ = result.get("cache_comparison")
    if cmp_:
        c, u = cmp_["cached"], cmp_["uncached"]
        lines.append(f"rollouts with the cache {c['step_seconds']:.2f} s, without {u['step_seconds']:.2f} s "
                     f"(batch {c['batch_size']}): {u['step_seconds'] / c['step_seconds']:.1f} x")
    t, ok = result["targets"], result["meets"]
    best = max((r["texts_per_s"] for r in result["sampling"] if r["max_len"] == 51), default=0.0)
    lines.append(f"target: >= {t['texts_per_s_len51']:.0f} texts/s at length 51: best {best:.0f} "
                 f"({'meets' if ok['texts_per_s_len51'] else 'misses'}); step <= {t['step_ratio']:.0f} x a batch pass: "
                 f"{a['ratio_to_batch_pass']:.1f} ({'meets' if ok['step_ratio'] else 'misses'})")
    return "\n".join(lines)
