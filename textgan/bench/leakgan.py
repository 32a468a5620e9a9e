"""Timing of LeakGAN at the paper's shapes: an MLE epoch, sampling, an adversarial generator step."""

from __future__ import annotations

import os
import time

import torch

from textgan.models.cnn_discriminator import SEQGAN_FILTER_SIZES, SEQGAN_NUM_FILTERS, CNNDiscriminator
from textgan.models.leakgan import LeakGANGenerator, leakgan_flops_per_token
from textgan.rl.leakgan import leakgan_loss, leakgan_rewards
from textgan.rl.rollout import make_rollout_policy
from textgan.engine.optim import adam

# TextGAN-PyTorch's LeakGAN on the development machine (2 CPU cores), for comparison.
TEXTGAN_PYTORCH_SECONDS = {"mle_epoch": (330.0, 445.0), "sample_10000": 147.0, "adversarial_step_16_rollouts": 57.0}


def bench_leakgan(vocab_size: int = 5000, length: int = 20, batch_size: int = 64, num_train: int = 10_000,
                  num_samples: int = 10_000, num_rollouts: tuple[int, ...] = (4, 16), mle_batches: int = 20,
                  compute_dtype: str = "float32", threads: int | None = None, seed: int = 0,
                  sample_batch_size: int = 1000) -> dict:
    """Time LeakGAN's three costly operations with the paper's synthetic-data shapes.

    Shapes (CR-Gjx/LeakGAN, length 20): V = 5000, T = 20, generator emb 32 / hidden 32, goal 16,
    c = 4; discriminator emb 64 with SeqGAN's 12 widths (1720 features).

    Args:
        vocab_size, length, batch_size: the shapes.
        num_train: training sequences per MLE epoch (batches = num_train // batch_size).
        num_samples: sequences drawn for the sampling time.
        num_rollouts: rollouts per prefix for the adversarial-step times.
        mle_batches: MLE batches actually timed; the epoch time is extrapolated from them.
        compute_dtype: the discriminator's and the Worker output's product dtype ("float32" or "bfloat16").
        threads: torch threads (None: leave as is).
        seed: parameters and data.
        sample_batch_size: sequences drawn in parallel for the sampling time (on 2 CPU cores 1,000-1,250
            was fastest: 5.7 s for 10,000 against 6.3 s at 2,000 and 7.3 s at 10,000).

    Returns:
        Wall seconds per operation, the process CPU seconds (``cpu_*``: all threads together; on a
        shared machine, the better measure of the work), the FLOPs of a sampling step, the load
        average and settings.
    """
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    d = CNNDiscriminator(vocab_size, 64, SEQGAN_FILTER_SIZES, SEQGAN_NUM_FILTERS, dropout=0.0, l2_reg=0.0,
                         compute_dtype=compute_dtype)
    g = LeakGANGenerator(vocab_size, 32, 32, length, goal_out_size=d.feature_dim, goal_size=16, step_size=4,
                         discriminator=d, compute_dtype=compute_dtype)
    rng = torch.Generator().manual_seed(seed)
    data = torch.randint(0, vocab_size, (mle_batches * batch_size, length), generator=rng)
    opt = adam(g.parameters(), lr=1e-3)
    out: dict = {"threads": torch.get_num_threads(), "compute_dtype": compute_dtype, "sampling_batch": sample_batch_size,
                 "load_before": os.getloadavg()[0]}

    def mle_batch(x: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        g.nll_loss(x).backward()
        torch.nn.utils.clip_grad_norm_(g.parameters(), 5.0)
        opt.step()

    mle_batch(data[:batch_size])  # warm-up
    start, cpu = time.perf_counter(), time.process_time()
    for b in range(mle_batches):
        mle_batch(data[b * batch_size:(b + 1) * batch_size])
    per_batch = (time.perf_counter() - start) / mle_batches
    out["mle_batch"] = per_batch
    out["mle_epoch_extrapolated"] = per_batch * (num_train // batch_size)
    out["cpu_mle_epoch_extrapolated"] = (time.process_time() - cpu) / mle_batches * (num_train // batch_size)

    g.eval()
    start, cpu = time.perf_counter(), time.process_time()
    g.sample(num_samples, generator=rng, batch_size=sample_batch_size)
    out[f"sample_{num_samples}"] = time.perf_counter() - start
    out[f"cpu_sample_{num_samples}"] = time.process_time() - cpu

    rollout = make_rollout_policy(g)
    for n in num_rollouts:
        start, cpu = time.perf_counter(), time.process_time()
        tokens = g.sample(batch_size, generator=rng, temperature=1.5)
        rewards = leakgan_rewards(tokens, rollout, d, num_rollouts=n, generator=rng)
        opt.zero_grad(set_to_none=True)
        leakgan_loss(g, tokens, rewards).backward()
        torch.nn.utils.clip_grad_norm_(g.parameters(), 5.0)
        opt.step()
        out[f"adversarial_step_{n}_rollouts"] = time.perf_counter() - start
        out[f"cpu_adversarial_step_{n}_rollouts"] = time.process_time() - cpu
    out["flops_per_sampling_step_row"] = leakgan_flops_per_token(vocab_size, 32, 32, 16, SEQGAN_FILTER_SIZES,
                                                                SEQGAN_NUM_FILTERS, 64)["total"]
    out["load_after"] = os.getloadavg()[0]
    return out


def format_leakgan_bench(result: dict) -> str:
    """A small table of :func:`bench_leakgan`'s times beside TextGAN-PyTorch's."""
    lines = [f"LeakGAN at the paper's shapes: {result['threads']} threads, products in {result['compute_dtype']}, "
             f"load average {result['load_before']:.1f} -> {result['load_after']:.1f}",
             f"{'operation':<40} {'seconds':>9} {'cpu s':>9}   TextGAN-PyTorch"]
    ref = TEXTGAN_PYTORCH_SECONDS
    lines.append(f"{'MLE batch (64)':<40} {result['mle_batch']:9.3f}")
    lines.append(f"{'MLE epoch (extrapolated)':<40} {result['mle_epoch_extrapolated']:9.1f} "
                 f"{result['cpu_mle_epoch_extrapolated']:9.1f}   {ref['mle_epoch'][0]:.0f}-{ref['mle_epoch'][1]:.0f}")
    for key, value in result.items():
        if key.startswith("sample_"):
            label = f"{key.replace('_', ' ')} sequences (batch {result['sampling_batch']})"
            lines.append(f"{label:<40} {value:9.2f} {result['cpu_' + key]:9.2f}   "
                         f"{ref['sample_10000']:.0f} (10,000)")
        if key.startswith("adversarial_step_"):
            extra = f"{ref['adversarial_step_16_rollouts']:.0f}" if key.endswith("_16_rollouts") else ""
            lines.append(f"{key.replace('_', ' '):<40} {value:9.2f} {result['cpu_' + key]:9.2f}   {extra}")
    return "\n".join(lines)
