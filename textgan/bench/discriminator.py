"""Timing of a CNN-discriminator training epoch: the fast model against an nn.Conv2d reference."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from textgan.models.cnn_discriminator import CNNDiscriminator, _as_dtype
from textgan.runtime import keep_freed_memory, malloc_tuned
from textgan.engine.optim import adam

logger = logging.getLogger(__name__)


class Conv2dCNNDiscriminator(CNNDiscriminator):
    """The same model and parameters, with the convolutions run by ``F.conv2d``.

    This is the straightforward implementation (TextGAN-PyTorch's and SeqGAN's layout: one
    (k, E) kernel per width over a (B, 1, T, E) image, bias, ReLU, max over time). It serves as
    the correctness reference for ``CNNDiscriminator`` and as the speed baseline. A state dict
    of either class loads into the other.
    """

    def _pooled(self, emb: Tensor, length: int) -> Tensor:
        """(B, T', E) padded embeddings -> (B, F) pooled features, float32."""
        image = emb.to(self.compute_dtype).unsqueeze(1)  # (B, 1, T', E)
        pooled = []
        for k, w, b in zip(self.filter_sizes, self.conv_weights, self.conv_biases):
            # A width wider than the sequence sees it padded to exactly its width.
            rows = image[:, :, :max(length, k)]
            conv = F.conv2d(rows, w.unsqueeze(1).to(self.compute_dtype), b.to(self.compute_dtype))
            pooled.append(torch.relu(conv.float()).amax(dim=(2, 3)))  # (B, F_k, n, 1) -> (B, F_k)
        return torch.cat(pooled, dim=1)


def discriminator_flops(batch_size: int, seq_len: int, embed_dim: int, filter_sizes: Sequence[int],
                        num_filters: Sequence[int], num_classes: int = 2) -> dict[str, int]:
    """Matrix-product FLOPs of one forward pass (multiply and add count as 2).

    Args:
        batch_size: B.
        seq_len: T.
        embed_dim: E.
        filter_sizes: widths k.
        num_filters: F_k per width.
        num_classes: output classes.

    Returns:
        ``{"conv": ..., "highway": ..., "output": ..., "total": ...}`` FLOPs of the forward pass;
        a training step (forward + backward) costs about 3 times as much.
    """
    conv = sum(2 * batch_size * CNNDiscriminator.num_windows(seq_len, k) * k * embed_dim * n
               for k, n in zip(filter_sizes, num_filters))
    features = sum(num_filters)
    highway = 2 * batch_size * features * 2 * features
    output = 2 * batch_size * features * num_classes
    return {"conv": conv, "highway": highway, "output": output, "total": conv + highway + output}


def measure_matmul_peak(dtype: str | torch.dtype = "float32", size: int = 2048, repeats: int = 5) -> float:
    """The machine's matrix-product throughput: the best of ``repeats`` (size x size) products.

    Returns:
        GFLOP/s.
    """
    dtype = _as_dtype(dtype)
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(dtype)
    b = torch.randn(size, size, generator=generator).to(dtype)
    a @ b  # warm-up: thread pool and kernel selection
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def _time_training(model: CNNDiscriminator, tokens: Tensor, labels: Tensor, batch_size: int,
                   epochs: int, warmup_batches: int = 3) -> tuple[float, float, float]:
    """Wall and process-CPU seconds per epoch of forward + backward + Adam (lr 1e-4, SeqGAN's),
    and the last loss."""
    optimizer = adam(model.parameters(), lr=1e-4)
    model.train()

    def step(lo: int) -> Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = model.loss(tokens[lo:lo + batch_size], labels[lo:lo + batch_size])
        loss.backward()
        optimizer.step()
        return loss

    for i in range(warmup_batches):
        step(i * batch_size % tokens.size(0))
    start, start_cpu = time.perf_counter(), time.process_time()
    for _ in range(epochs):
        for lo in range(0, tokens.size(0), batch_size):
            loss = step(lo)
    seconds = (time.perf_counter() - start) / epochs
    cpu_seconds = (time.process_time() - start_cpu) / epochs
    return seconds, cpu_seconds, float(loss.detach())


def bench_discriminator(batch_size: int = 64, seq_len: int = 20, vocab_size: int = 5000,
                        num_sequences: int = 20000, epochs: int = 1, threads: int | None = None,
                        dtypes: Sequence[str] = ("float32", "bfloat16"), seed: int = 0,
                        embed_dim: int = 64, include_reference: bool = True,
                        tune_malloc: bool = False, peak_matmul_size: int = 2048) -> dict:
    """Time discriminator training epochs, fast implementation against the Conv2d reference.

    Each run trains a freshly initialised SeqGAN-sized ``CNNDiscriminator`` (paper filters,
    1720 features) with Adam on ``num_sequences`` random sequences with random labels, in
    batches of ``batch_size``, after 3 untimed warm-up batches. FLOPs count the matrix products
    (convolutions, highway, output layer) of the forward pass times 3 for forward + backward.
    The peak is the best large-matmul throughput measured in the same call.

    Args:
        batch_size: sequences per step (SeqGAN: 64).
        seq_len: T (SeqGAN: 20).
        vocab_size: V (SeqGAN's oracle: 5000).
        num_sequences: sequences per epoch (20,000 = SeqGAN's D epoch: 10k real + 10k fake).
        epochs: timed epochs per run.
        threads: torch intra-op threads for the run (restored afterwards); None keeps the current.
        dtypes: compute dtypes to time ("float32", "bfloat16").
        seed: seed of the data and the model initialisation.
        embed_dim: E (SeqGAN: 64).
        include_reference: also time the Conv2d reference (slow).
        tune_malloc: call ``keep_freed_memory()`` first (changes the process for good).
        peak_matmul_size: side of the square matrices that measure the matmul peak.

    Returns:
        A dict with the settings, ``flops_per_epoch`` and ``conv_flops_per_epoch``,
        ``peak_gflops`` per dtype, ``runs`` (one dict per implementation and dtype:
        ``impl``, ``dtype``, ``epoch_s`` (wall), ``cpu_s`` (process CPU time, all threads),
        ``sequences_per_s``, ``gflops_per_s``,
        ``fraction_of_peak``, ``final_loss``) and ``speedup`` (reference / fast time per dtype).
    """
    tuned = keep_freed_memory() if tune_malloc else malloc_tuned()
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        generator = torch.Generator().manual_seed(seed)
        tokens = torch.randint(0, vocab_size, (num_sequences, seq_len), generator=generator)
        labels = torch.randint(0, 2, (num_sequences,), generator=generator)
        model_args = dict(vocab_size=vocab_size, embed_dim=embed_dim)
        probe = CNNDiscriminator(**model_args)
        flops = discriminator_flops(1, seq_len, embed_dim, probe.filter_sizes, probe.num_filters,
                                    probe.num_classes)
        train_flops = 3 * flops["total"] * num_sequences
        result: dict = {
            "batch_size": batch_size, "seq_len": seq_len, "vocab_size": vocab_size,
            "embed_dim": embed_dim, "num_sequences": num_sequences, "epochs": epochs,
            "threads": torch.get_num_threads(), "torch_version": torch.__version__,
            "malloc_tuned": tuned,
            "feature_dim": probe.feature_dim,
            "flops_per_epoch": train_flops, "conv_flops_per_epoch": 3 * flops["conv"] * num_sequences,
            "peak_gflops": {d: measure_matmul_peak(d, peak_matmul_size) for d in dtypes},
            "runs": [],
        }
        impls = [("unfold+matmul", CNNDiscriminator)]
        if include_reference:
            impls.append(("conv2d", Conv2dCNNDiscriminator))
        for dtype in dtypes:
            for name, cls in impls:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(seed)
                    model = cls(**model_args, compute_dtype=dtype)
                    seconds, cpu_seconds, loss = _time_training(model, tokens, labels, batch_size, epochs)
                gflops = train_flops / seconds / 1e9
                run = {"impl": name, "dtype": dtype, "epoch_s": seconds, "cpu_s": cpu_seconds,
                       "sequences_per_s": num_sequences / seconds, "gflops_per_s": gflops,
                       "fraction_of_peak": gflops / result["peak_gflops"][dtype], "final_loss": loss}
                logger.info("discriminator epoch %s %s: %.2f s", name, dtype, seconds)
                result["runs"].append(run)
        result["speedup"] = {}
        for dtype in dtypes:
            times = {r["impl"]: r["epoch_s"] for r in result["runs"] if r["dtype"] == dtype}
            if "conv2d" in times:
                result["speedup"][dtype] = times["conv2d"] / times["unfold+matmul"]
        return result
    finally:
        torch.set_num_threads(previous_threads)


def operator_calls_per_step(batch_size: int = 64, seq_len: int = 20, vocab_size: int = 5000, steps: int = 8,
                            embed_dim: int = 64, seed: int = 0) -> dict:
    """Operator calls and host reads per discriminator training step, counted with ``torch.profiler``.

    The proxy, where no GPU is at hand, for what a step costs in kernel launches and device
    synchronisations: each top-level aten operator is at least one launch on a GPU, and each
    ``aten::_local_scalar_dense`` (a ``.item()``, ``int(tensor)`` or a tensor in an ``if``) makes the
    host wait for the device. Counted for ``discriminator_epochs`` with ``host_reads`` on (the CPU
    path: finite-loss check and statistics read after every step), off (statistics summed on the
    device, read once per epoch), and with the step as a CUDA graph (``graphs=True``; on a CPU the
    step is rehearsed, and what the graph would hold, the profiler range
    :data:`textgan.engine.graphs.STEP_RECORD`, counts as the one launch of its replay). Host reads
    inside the graph are the CPU fused Adam's reads of its step counters: a capturable Adam keeps
    them on the GPU.
    """
    from torch.profiler import ProfilerActivity, profile

    from ..engine.graphs import STEP_RECORD
    from ..train.adversarial import discriminator_epochs

    gen = torch.Generator().manual_seed(seed)
    real = torch.randint(0, vocab_size, (steps * batch_size // 2, seq_len), generator=gen)
    fake = torch.randint(0, vocab_size, (steps * batch_size // 2, seq_len), generator=gen)
    out = {"steps": steps, "batch_size": batch_size}
    for name, reads, graphs in (("host_reads_every_step", True, False), ("device_sums", False, False),
                                ("cuda_graph", False, True)):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = CNNDiscriminator(vocab_size, embed_dim)
            optimizer = adam(model.parameters(), lr=1e-4)
            discriminator_epochs(model, optimizer, real, fake, 1, batch_size, torch.Generator().manual_seed(0),
                                 host_reads=reads, graphs=graphs)  # warm-up (and the rehearsed capture)
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                discriminator_epochs(model, optimizer, real, fake, 1, batch_size, torch.Generator().manual_seed(0),
                                     host_reads=reads, graphs=graphs)
        events = prof.events()
        graph_ranges = [e for e in events if e.name == STEP_RECORD]

        def in_graph(e) -> bool:
            parent = e.cpu_parent
            while parent is not None:
                if parent.name == STEP_RECORD:
                    return True
                parent = parent.cpu_parent
            return False

        ops = [e for e in events if e.name.startswith("aten::")]
        top = [e for e in ops if e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::")]
        outside = [e for e in top if not in_graph(e)]
        reads_ = [e for e in ops if e.name == "aten::_local_scalar_dense"]
        row = {"top_level_ops_per_step": len(top) / steps, "all_ops_per_step": len(ops) / steps,
               "host_reads_per_step": len(reads_) / steps}
        if graph_ranges:
            row["launches_per_step"] = (len(outside) + len(graph_ranges)) / steps
            row["host_reads_outside_graph_per_step"] = sum(not in_graph(e) for e in reads_) / steps
        out[name] = row
    return out


def format_operator_calls(result: dict) -> str:
    lines = [f"operator calls per discriminator step (torch.profiler, {result['steps']} steps of batch "
             f"{result['batch_size']}; a top-level aten op is at least one kernel launch on a GPU):"]
    for name in ("host_reads_every_step", "device_sums", "cuda_graph"):
        r = result[name]
        line = (f"  {name:<22} top-level ops {r['top_level_ops_per_step']:6.1f}   all ops "
                f"{r['all_ops_per_step']:7.1f}   host reads {r['host_reads_per_step']:5.2f}")
        if "launches_per_step" in r:
            line += (f"\n  {'':<22} as a CUDA graph: {r['launches_per_step']:.1f} launches per step (the batch "
                     f"gathers and copies, and the replay), host reads outside the graph "
                     f"{r['host_reads_outside_graph_per_step']:.2f}")
        lines.append(line)
    return "\n".join(lines)


def format_discriminator_bench(result: dict) -> str:
    """Render ``bench_discriminator``'s result as a plain-text table."""
    lines = [
        f"CNN discriminator training epoch: {result['num_sequences']} sequences, batch "
        f"{result['batch_size']}, length {result['seq_len']}, vocab {result['vocab_size']}, "
        f"embed {result['embed_dim']}, {result['feature_dim']} features, "
        f"{result['threads']} threads, torch {result['torch_version']}"
        + (", malloc thresholds raised" if result.get("malloc_tuned") else ""),
        f"matmul FLOPs per epoch (fwd+bwd = 3 x fwd): {result['flops_per_epoch'] / 1e9:.0f} GFLOP "
        f"(convolutions {result['conv_flops_per_epoch'] / 1e9:.0f})",
        "matmul peak: " + ", ".join(f"{d} {g:.0f} GFLOP/s" for d, g in result["peak_gflops"].items()),
        "",
        f"{'implementation':<15} {'dtype':<9} {'epoch s':>8} {'CPU s':>7} {'seq/s':>8} {'GFLOP/s':>8} "
        f"{'% peak':>7} {'loss':>7}",
    ]
    for r in result["runs"]:
        lines.append(f"{r['impl']:<15} {r['dtype']:<9} {r['epoch_s']:>8.2f} {r['cpu_s']:>7.2f} "
                     f"{r['sequences_per_s']:>8.0f} "
                     f"{r['gflops_per_s']:>8.1f} {100 * r['fraction_of_peak']:>6.0f}% {r['final_loss']:>7.4f}")
    if result.get("speedup"):
        lines.append("")
        lines.append("speedup over conv2d: " + ", ".join(f"{d} {s:.1f}x" for d, s in result["speedup"].items()))
    return "\n".join(lines)
