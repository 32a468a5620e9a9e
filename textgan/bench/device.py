"""The fixed-shape training steps timed on a device, eager against captured (``textgan bench ... --device``).

Times what the training code runs, not a bench copy of it: ``discriminator_epochs`` on a
SeqGAN-sized CNN discriminator (20,000 sequences of length 20, batch 64: one discriminator epoch
of the paper), ``mle_epoch`` on SeqGAN's LSTM (10,000 sequences, batch 64) and ``sample`` of 10,000
sequences, each after one untimed warm-up call, with the device synchronised before the clock is
read. On CUDA the discriminator and MLE rows run twice, eager (``graphs=False``) and as CUDA
graphs (``graphs=True``); on a CPU the graphed rows rehearse the capture (the same work, so the
same time: the CPU has no launch cost to save).
"""

from __future__ import annotations

import time

import torch

from ..engine.optim import adam
from ..models.cnn_discriminator import CNNDiscriminator
from ..models.lstm_generator import LSTMGenerator


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device: torch.device, repeats: int) -> list[float]:
    fn()  # warm-up (and, for a graph, the capture)
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return times


def bench_device_steps(device: str | torch.device = "cuda", repeats: int = 3, vocab_size: int = 5000,
                       seq_len: int = 20, batch_size: int = 64, seed: int = 0,
                       dtypes: tuple[str, ...] = ("float32", "bfloat16"), num: int = 10_000) -> dict:
    """Seconds per discriminator epoch, MLE epoch and 10,000 samples on ``device`` (see the module);
    ``num`` scales all three (real and generated sequences, MLE sequences, samples)."""
    from ..train.adversarial import discriminator_epochs
    from ..train.mle import mle_epoch

    device = torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    real = torch.randint(0, vocab_size, (num, seq_len), generator=gen)
    fake = torch.randint(0, vocab_size, (num, seq_len), generator=gen)
    rows = []
    modes = (False, True)
    for dtype in dtypes:
        for graphs in modes:
            torch.manual_seed(seed)
            model = CNNDiscriminator(vocab_size, 64, compute_dtype=dtype).to(device)
            optimizer = adam(model.parameters(), lr=1e-4)
            order = torch.Generator().manual_seed(seed)
            times = _timed(lambda: discriminator_epochs(model, optimizer, real, fake, 1, batch_size, order,
                                                        graphs=graphs), device, repeats)
            rows.append({"what": f"discriminator epoch ({2 * num:,} x {seq_len}, batch {batch_size})", "dtype": dtype,
                         "graphs": graphs, "seconds": times})
    for graphs in modes:
        torch.manual_seed(seed)
        lstm = LSTMGenerator(vocab_size, 32, 32, max_len=seq_len).to(device)
        optimizer = adam(lstm.parameters(), lr=1e-2)
        order = torch.Generator().manual_seed(seed)
        times = _timed(lambda: mle_epoch(lstm, real, optimizer, batch_size, 5.0, order, graphs=graphs), device, repeats)
        rows.append({"what": f"MLE epoch ({num:,} x {seq_len}, batch {batch_size})", "dtype": "float32", "graphs": graphs,
                     "seconds": times})
    torch.manual_seed(seed)
    lstm = LSTMGenerator(vocab_size, 32, 32, max_len=seq_len).to(device)
    sampler = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        times = _timed(lambda: lstm.sample(num, generator=sampler), device, repeats)
    rows.append({"what": f"sampling {num:,} x {seq_len}", "dtype": "float32", "graphs": False, "seconds": times})
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return {"device": str(device), "device_name": name, "torch": torch.__version__,
            "threads": torch.get_num_threads(), "rows": rows}


def format_device_steps(result: dict) -> str:
    lines = [f"training steps on {result['device']} ({result['device_name']}, torch {result['torch']}, "
             f"{result['threads']} CPU threads); min / median of the timed calls:",
             f"  {'what':<46} {'dtype':<9} {'graphs':<7} {'min s':>8} {'median s':>9}"]
    for r in result["rows"]:
        times = sorted(r["seconds"])
        lines.append(f"  {r['what']:<46} {r['dtype']:<9} {str(r['graphs']):<7} {times[0]:>8.3f} "
                     f"{times[len(times) // 2]:>9.3f}")
    return "\n".join(lines)
