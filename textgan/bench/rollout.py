"""Timing of SeqGAN's generator step (Monte Carlo rewards + update): batched against the sequential reference."""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path

import torch

from textgan.device import cpu_name, resolve_dtype_name
from textgan.errors import TextganError
from textgan.bench.discriminator import discriminator_flops, measure_matmul_peak
from textgan.models.cnn_discriminator import SEQGAN_FILTER_SIZES, SEQGAN_NUM_FILTERS, CNNDiscriminator
from textgan.models.lstm_generator import LSTMGenerator
from textgan.rl.losses import reinforce_loss
from textgan.rl.rewards import rollout_rewards
from textgan.rl.rollout import make_rollout_policy, sequential_monte_carlo_rewards, update_rollout_policy
from textgan.engine.optim import adam
from textgan.train.mle import mle_epoch

logger = logging.getLogger(__name__)


def _generator_step(generator, rollout, discriminator, optimizer, batch_size, reward_fn, rng) -> float:
    """One SeqGAN g-step (sample, rewards, REINFORCE update, rollout update); returns seconds."""
    start = time.perf_counter()
    tokens = generator.sample(batch_size, generator=rng)
    rewards = reward_fn(tokens, rollout, discriminator, generator=rng)
    loss = reinforce_loss(generator, tokens, rewards)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(generator.parameters(), 5.0)
    optimizer.step()
    update_rollout_policy(rollout, generator, 0.8)
    return time.perf_counter() - start


def _sequential_rewards(tokens, rollout, discriminator, *, generator=None, num_rollouts=16):
    discriminator.eval()
    return sequential_monte_carlo_rewards(tokens, rollout, discriminator.prob_real, num_rollouts, generator=generator)


def check_anchor(repo: str | Path) -> Path:
    """The resolved folder of a TextGAN-PyTorch checkout, or a one-line error."""
    repo = Path(repo).resolve()
    if not (repo / "models" / "generator.py").is_file() or not (repo / "config.py").is_file():
        raise TextganError(f"--anchor {repo}: not a TextGAN-PyTorch checkout (no models/generator.py and config.py); "
                           "clone https://github.com/williamSYSU/TextGAN-PyTorch and pass its folder")
    return repo


def time_anchor_mle_epoch(repo: str | Path, data: torch.Tensor, vocab_size: int, embed_dim: int, hidden_dim: int,
                          seed: int = 0, batch_size: int = 64) -> float:
    """Seconds of one MLE epoch of TextGAN-PyTorch's ``LSTMGenerator`` on ``data``, in this process.

    ``repo`` is a checkout of williamSYSU/TextGAN-PyTorch (nothing of it ships with textgan). The
    epoch is what its ``BasicInstructor.train_gen_epoch`` and ``optimize`` run per batch (its
    ``forward`` with the log-softmax, ``nn.NLLLoss``, gradient clip at ``cfg.clip_norm``, an Adam step
    at ``cfg.gen_lr``), over batches sliced from one tensor: its DataLoader is left out, which can
    only make the anchor faster.
    """
    import importlib
    import sys

    repo = check_anchor(repo)
    def foreign(name: str) -> bool:  # imported in this process from somewhere else than the checkout
        module = sys.modules[name]
        places = [module.__file__] if getattr(module, "__file__", None) else list(getattr(module, "__path__", []))
        return not places or not all(Path(w).resolve().is_relative_to(repo) for w in places)

    clash = [m for m in ("config", "models", "utils", "metrics") if m in sys.modules and foreign(m)]
    if clash:
        raise TextganError(f"--anchor: modules {clash} are already imported in this process; run the bench alone")
    sys.path.insert(0, str(repo))
    try:
        cfg = importlib.import_module("config")
        anchor = importlib.import_module("models.generator")
    finally:
        sys.path.remove(str(repo))
    torch.manual_seed(seed)
    model = anchor.LSTMGenerator(embed_dim, hidden_dim, vocab_size, data.size(1), cfg.padding_idx)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.gen_lr)
    criterion = torch.nn.NLLLoss()
    start_tokens = torch.full((batch_size, 1), cfg.start_letter, dtype=torch.long)
    order = torch.randperm(data.size(0), generator=torch.Generator().manual_seed(seed))

    def epoch(batches: int) -> None:
        for b in range(batches):
            target = data[order[b * batch_size:(b + 1) * batch_size]]
            inp = torch.cat([start_tokens, target[:, :-1]], dim=1)
            pred = model.forward(inp, model.init_hidden(batch_size))
            loss = criterion(pred, target.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_norm)
            optimizer.step()
            loss.item()  # train_gen_epoch reads every loss, as mle_epoch does

    batches = data.size(0) // batch_size
    epoch(min(3, batches))  # warm-up
    start = time.perf_counter()
    epoch(batches)
    return time.perf_counter() - start


def bench_rollout(batch_size: int = 64, seq_len: int = 20, vocab_size: int = 5000, num_rollouts: int = 16,
                  embed_dim: int = 32, hidden_dim: int = 32, threads: int | None = None, seed: int = 0, *,
                  discriminator_dtype: str = "auto", run_sequential: bool = True,
                  num_samples: int = 10_000, mle_sequences: int = 10_000, peak_size: int = 2048,
                  anchor: str | Path | None = None) -> dict:
    """Time the generator step at SeqGAN's shapes, sampling, and one MLE epoch.

    Args:
        batch_size: generated sequences per generator step (SeqGAN: 64).
        seq_len: T (20).
        vocab_size: V (5000).
        num_rollouts: N (16).
        embed_dim, hidden_dim: the generator's sizes (32, 32).
        threads: torch intra-op threads for the measurement (None: leave as is).
        seed: model and sampling seed.
        discriminator_dtype: the SeqGAN CNN's ``compute_dtype`` ("bfloat16", "float32", or "auto": bfloat16
            where it is faster on this CPU, as the CPU recipes).
        run_sequential: also time the sequential reference (about 10-30x slower).
        num_samples: sequences drawn in the sampling measurement (10,000).
        mle_sequences: training sequences of the timed MLE epoch (10,000, SeqGAN's set).
        peak_size: matrix size of the matmul-peak measurement.
        anchor: a TextGAN-PyTorch checkout: also time its MLE epoch on the same data
            (:func:`time_anchor_mle_epoch`), or None.

    Returns:
        A dict of seconds, counts and rates: ``step_batched_s``, ``step_sequential_s``,
        ``speedup``, ``rewards_sampling_s`` (rewards with a free discriminator: the policy's part),
        ``rewards_discriminator_s``, ``tokens_sampled_per_s``, ``logits_per_s``, ``flops_per_s``,
        ``matmul_peak_gflops`` (fp32 and bf16), ``sample_s``, ``mle_epoch_s`` and the settings.
    """
    if anchor is not None:
        check_anchor(anchor)  # before any timing: a wrong folder fails at once
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        torch.manual_seed(seed)
        generator = LSTMGenerator(vocab_size, embed_dim, hidden_dim, seq_len)
        discriminator_dtype = resolve_dtype_name(discriminator_dtype, "cpu")  # the report names the one timed
        discriminator = CNNDiscriminator(vocab_size, compute_dtype=discriminator_dtype)
        discriminator.eval()
        rollout = make_rollout_policy(generator)
        optimizer = adam(generator.parameters(), lr=0.01)
        rng = torch.Generator().manual_seed(seed)
        batched = functools.partial(rollout_rewards, num_rollouts=num_rollouts)
        _generator_step(generator, rollout, discriminator, optimizer, batch_size, batched, rng)  # warm-up
        step_batched = _generator_step(generator, rollout, discriminator, optimizer, batch_size, batched, rng)

        tokens = generator.sample(batch_size, generator=rng)
        free = lambda x: torch.zeros(x.size(0))  # noqa: E731 - the policy's share alone
        from textgan.rl.rollout import monte_carlo_rewards

        start = time.perf_counter()
        monte_carlo_rewards(tokens, rollout, free, num_rollouts, generator=rng)
        rewards_sampling = time.perf_counter() - start
        scored = batch_size * num_rollouts * (seq_len - 1) + batch_size
        with torch.no_grad():
            fake = torch.randint(0, vocab_size, (scored, seq_len), generator=rng)
            start = time.perf_counter()
            for i in range(0, scored, 4096):
                discriminator.prob_real(fake[i:i + 4096])
            rewards_discriminator = time.perf_counter() - start

        step_sequential = None
        if run_sequential:
            sequential = functools.partial(_sequential_rewards, num_rollouts=num_rollouts)
            step_sequential = _generator_step(generator, rollout, discriminator, optimizer, batch_size, sequential, rng)

        start = time.perf_counter()
        generator.sample(num_samples, generator=rng)
        sample_s = time.perf_counter() - start

        data = torch.randint(0, vocab_size, (mle_sequences, seq_len), generator=rng)
        fused_rows, fused_dtype = generator.nll_chunk_rows, generator.compute_dtype
        mle_times = {}
        # the fused output layer + loss (default), the same with bfloat16 products, then the plain loss
        for key, chunk, dtype in (("fused", fused_rows, "float32"), ("bf16", fused_rows, "bfloat16"), ("plain", 0, "float32")):
            mle_times[key] = _timed_mle_epoch(generator, data, optimizer, chunk, dtype, 64, seed)
        generator.nll_chunk_rows, generator.compute_dtype = fused_rows, fused_dtype
        mle_s, mle_bf16_s, mle_plain_s = mle_times["fused"], mle_times["bf16"], mle_times["plain"]
        anchor_s = None if anchor is None else time_anchor_mle_epoch(anchor, data, vocab_size, embed_dim, hidden_dim, seed)

        # Work of one generator step's rewards: policy steps (LSTM + output projection) and D.
        policy_rows = batch_size * num_rollouts * (seq_len - 1) * (seq_len - 2) // 2 + batch_size * seq_len
        policy_flops = policy_rows * 2 * (hidden_dim * vocab_size + 4 * hidden_dim * (embed_dim + hidden_dim))
        d_flops = discriminator_flops(scored, seq_len, discriminator.embed_dim, SEQGAN_FILTER_SIZES,
                                      SEQGAN_NUM_FILTERS)["total"]
        sampled = batch_size * num_rollouts * (seq_len - 1) * seq_len // 2
        return {
            "batch_size": batch_size, "seq_len": seq_len, "vocab_size": vocab_size, "num_rollouts": num_rollouts,
            "embed_dim": embed_dim, "hidden_dim": hidden_dim, "threads": torch.get_num_threads(),
            "discriminator_dtype": discriminator_dtype,
            "step_batched_s": step_batched, "step_sequential_s": step_sequential,
            "speedup": None if step_sequential is None else step_sequential / step_batched,
            "rewards_sampling_s": rewards_sampling, "rewards_discriminator_s": rewards_discriminator,
            "tokens_sampled_per_s": sampled / rewards_sampling,
            "logits_per_s": sampled * vocab_size / rewards_sampling,
            "policy_gflops_per_s": policy_flops / rewards_sampling / 1e9,
            "discriminator_gflops_per_s": d_flops / rewards_discriminator / 1e9,
            "step_gflops_per_s": (policy_flops + d_flops) / step_batched / 1e9,
            "matmul_peak_gflops": {"float32": measure_matmul_peak("float32", peak_size),
                                   "bfloat16": measure_matmul_peak("bfloat16", peak_size)},
            "sample_s": sample_s, "num_samples": num_samples, "mle_epoch_s": mle_s, "mle_sequences": mle_sequences,
            "mle_epoch_plain_s": mle_plain_s, "mle_epoch_bf16_s": mle_bf16_s, "mle_epoch_anchor_s": anchor_s, "mle_chunk_rows": fused_rows, "cpu": cpu_name(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__,
        }
    finally:
        torch.set_num_threads(before)


def format_rollout_bench(result: dict) -> str:
    """A short human-readable report of :func:`bench_rollout`'s result."""
    r = result
    seq = "skipped" if r["step_sequential_s"] is None else f"{r['step_sequential_s']:.2f} s"
    speed = "" if r["speedup"] is None else f"  ({r['speedup']:.1f}x faster)"
    peak = r["matmul_peak_gflops"]
    lines = [
        f"SeqGAN generator step: B={r['batch_size']} T={r['seq_len']} V={r['vocab_size']} N={r['num_rollouts']} "
        f"E={r['embed_dim']} H={r['hidden_dim']}, {r['threads']} threads, discriminator {r['discriminator_dtype']}",
        f"  batched:     {r['step_batched_s']:.2f} s{speed}",
        f"  sequential:  {seq}",
        f"  rewards, policy part:        {r['rewards_sampling_s']:.2f} s  ({r['tokens_sampled_per_s'] / 1e3:.0f}k tokens/s, "
        f"{r['logits_per_s'] / 1e9:.2f} G logits/s, {r['policy_gflops_per_s']:.0f} GFLOP/s)",
        f"  rewards, discriminator part: {r['rewards_discriminator_s']:.2f} s  ({r['discriminator_gflops_per_s']:.0f} GFLOP/s)",
        f"  whole step: {r['step_gflops_per_s']:.0f} GFLOP/s; matmul peak {peak['float32']:.0f} (fp32) / "
        f"{peak['bfloat16']:.0f} (bf16) GFLOP/s",
        f"sampling {r['num_samples']} sequences: {r['sample_s']:.2f} s",
        f"one MLE epoch ({r['mle_sequences']:,} sequences, batch 64): {r['mle_epoch_s']:.2f} s with the fused output "
        f"layer + loss ({r['mle_chunk_rows']} rows per chunk), {r['mle_epoch_plain_s']:.2f} s with the plain "
        f"cross-entropy ({r['mle_epoch_plain_s'] / r['mle_epoch_s']:.2f}x); {r['mle_epoch_bf16_s']:.2f} s fused with "
        f"bfloat16 products (generator.compute_dtype: bfloat16)",
        f"CPU: {r['cpu']} ({r['cpu_capability']}), torch {r['torch']}",
    ]
    if r.get("mle_epoch_anchor_s") is not None:
        a = r["mle_epoch_anchor_s"]
        lines.insert(-1, f"  TextGAN-PyTorch's MLE epoch, same data, this process: {a:.2f} s "
                         f"(textgan {a / r['mle_epoch_s']:.2f}x as fast fused, "
                         f"{a / r['mle_epoch_bf16_s']:.2f}x fused bf16, {a / r['mle_epoch_plain_s']:.2f}x plain)")
    return "\n".join(lines)


def _timed_mle_epoch(generator: LSTMGenerator, data: torch.Tensor, optimizer, chunk_rows: int, dtype: str,
                     batch_size: int, seed: int) -> float:
    """Seconds of one MLE epoch (clip 5) with the loss fused in ``chunk_rows`` (0: plain) and ``dtype`` products."""
    generator.nll_chunk_rows, generator.compute_dtype = chunk_rows, dtype
    start = time.perf_counter()
    mle_epoch(generator, data, optimizer, batch_size, 5.0, torch.Generator().manual_seed(seed))
    return time.perf_counter() - start


MLE_VARIANTS = (("fused", "float32"), ("fused", "bfloat16"), ("plain", "float32"))


def bench_mle_epoch(*, vocab_size: int = 5000, seq_len: int = 20, embed_dim: int = 32, hidden_dim: int = 32,
                    sequences: int = 10_000, batch_size: int = 64, chunk_rows: int | None = None, threads: int | None = None,
                    repeats: int = 3, anchor: str | Path | None = None, seed: int = 0) -> dict:
    """Time one SeqGAN MLE epoch per loss variant, ``repeats`` rounds interleaved (each round times every
    variant once, so a burst of foreign load hits all of them), and keep every time.

    Variants: the fused output layer + loss with float32 and with bfloat16 products
    (``generator.compute_dtype``), the plain cross-entropy, and TextGAN-PyTorch's generator when
    ``anchor`` is a checkout of it (same data, same process).

    Returns:
        ``{"times": {variant: [seconds per round]}, "best": {variant: min}, "spread": {variant: max / min}}``
        plus the settings, the CPU and the bfloat16 product speed-up measured by ``textgan.device``.
    """
    from textgan.device import bfloat16_speedup

    if anchor is not None:
        check_anchor(anchor)
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        torch.manual_seed(seed)
        data = torch.randint(0, vocab_size, (sequences, seq_len), generator=torch.Generator().manual_seed(seed))
        generator = LSTMGenerator(vocab_size, embed_dim, hidden_dim, seq_len)
        if chunk_rows is not None:
            generator.nll_chunk_rows = chunk_rows
        rows = generator.nll_chunk_rows
        optimizer = adam(generator.parameters(), lr=0.01)

        def epoch(kind: str, dtype: str) -> float:
            return _timed_mle_epoch(generator, data, optimizer, rows if kind == "fused" else 0, dtype, batch_size, seed)

        epoch("fused", "float32")  # warm-up: allocator, oneDNN kernel selection
        names = [f"{kind} {dtype}" for kind, dtype in MLE_VARIANTS] + (["TextGAN-PyTorch"] if anchor is not None else [])
        times: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(repeats):
            for kind, dtype in MLE_VARIANTS:
                times[f"{kind} {dtype}"].append(epoch(kind, dtype))
            if anchor is not None:
                times["TextGAN-PyTorch"].append(time_anchor_mle_epoch(anchor, data, vocab_size, embed_dim, hidden_dim, seed))
        best = {name: min(t) for name, t in times.items()}
        return {"times": times, "best": best, "spread": {name: max(t) / min(t) for name, t in times.items()},
                "sequences": sequences, "batch_size": batch_size, "seq_len": seq_len, "vocab_size": vocab_size,
                "embed_dim": embed_dim, "hidden_dim": hidden_dim, "chunk_rows": rows, "repeats": repeats,
                "threads": torch.get_num_threads(), "bfloat16_speedup": bfloat16_speedup("cpu"), "cpu": cpu_name(),
                "cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__}
    finally:
        torch.set_num_threads(before)


def format_mle_bench(result: dict) -> str:
    """:func:`bench_mle_epoch`'s result as a short table (best of the rounds, and each round)."""
    r = result
    lines = [f"one MLE epoch: {r['sequences']:,} sequences, batch {r['batch_size']}, T={r['seq_len']} V={r['vocab_size']} "
             f"E={r['embed_dim']} H={r['hidden_dim']}, fused chunks of {r['chunk_rows']} rows, {r['threads']} threads, "
             f"best of {r['repeats']} interleaved rounds"]
    anchor = r["best"].get("TextGAN-PyTorch")
    for name, best in r["best"].items():
        rounds = " / ".join(f"{t:.2f}" for t in r["times"][name])
        ratio = "" if anchor is None or name == "TextGAN-PyTorch" else f"  ({anchor / best:.2f}x TextGAN-PyTorch)"
        lines.append(f"  {name:<16} {best:6.2f} s  (rounds: {rounds}){ratio}")
    lines.append(f"bfloat16 product speed-up on this CPU (256^3, 1 thread): {r['bfloat16_speedup']:.2f}x")
    lines.append(f"CPU: {r['cpu']} ({r['cpu_capability']}), torch {r['torch']}")
    return "\n".join(lines)

