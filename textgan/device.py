"""Which device a run or command uses."""

from __future__ import annotations

import functools
import platform
import time

import torch

from .errors import TextganError


def resolve_device(name: str) -> torch.device:
    """"auto" -> CUDA when available, else CPU; "cuda" without a GPU is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TextganError("device 'cuda' was asked for but no CUDA GPU is visible: use cpu or auto "
                           "(--set device=cpu in a recipe, --device cpu on the command line)")
    return torch.device(name)


DTYPE_KEYS = ("compute_dtype", "sample_dtype")
"""Recipe keys that name a product precision: ``float32``, ``bfloat16`` or ``auto``."""


@functools.lru_cache(maxsize=None)
def bfloat16_speedup(device_type: str) -> float:
    """How many times faster a bfloat16 matrix product is than a float32 one on this machine.

    CUDA: 2.0 when the GPU supports bfloat16 (tensor cores), else 0.5. CPU: measured once per
    process on a 256 x 256 x 256 product (the best of 5 after a warm-up, about 20 ms): CPUs with
    bfloat16 matrix units (AVX-512 BF16, AMX) run it 2-4 times faster; without them (AVX2, most
    laptops) PyTorch converts in software and bfloat16 is 2-5 times *slower*.
    """
    if device_type == "cuda":
        return 2.0 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else 0.5
    if device_type != "cpu":
        return 1.0
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: the ratio, not the machine's parallelism (nor its load)
    try:
        return _cpu_bfloat16_speedup()
    finally:
        torch.set_num_threads(threads)


def _cpu_bfloat16_speedup() -> float:
    a32 = torch.randn(256, 256, generator=torch.Generator().manual_seed(0))
    b32 = torch.randn(256, 256, generator=torch.Generator().manual_seed(1))
    a16, b16 = a32.bfloat16(), b32.bfloat16()

    def best(a, b) -> float:
        a @ b  # warm-up (kernel selection, packing)
        times = []
        for _ in range(5):
            t = time.perf_counter()
            for _ in range(4):
                a @ b
            times.append(time.perf_counter() - t)
        return min(times)

    return best(a32, b32) / max(best(a16, b16), 1e-9)


def resolve_dtype_name(name: str, device: torch.device | str) -> str:
    """``auto`` -> ``bfloat16`` where bfloat16 products are faster than float32 on ``device``, else
    ``float32``; ``float32`` and ``bfloat16`` are returned as they are."""
    if name != "auto":
        return name
    return "bfloat16" if bfloat16_speedup(torch.device(device).type) > 1.2 else "float32"


def fit_dtypes(raw: dict, device: torch.device | str) -> tuple[dict, list[str]]:
    """Resolve every ``auto`` precision of a recipe mapping for ``device``.

    Returns the mapping with each ``compute_dtype`` / ``sample_dtype`` of ``auto`` replaced by
    :func:`resolve_dtype_name`'s choice, and one warning per explicit ``bfloat16`` that runs slower
    than float32 on this device (kept: the recipe asked for it, e.g. to repeat a measured run).
    """
    warnings: list[str] = []

    def walk(node, path: str):
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                where = f"{path}.{k}" if path else str(k)
                if k in DTYPE_KEYS and isinstance(v, str):
                    out[k] = resolve_dtype_name(v, device)
                    if v == "bfloat16" and bfloat16_speedup(torch.device(device).type) < 0.8:
                        warnings.append(
                            f"{where}: bfloat16 is slow on this {torch.device(device).type} (no bfloat16 matrix units: "
                            f"a 256 x 256 product took {1 / bfloat16_speedup(torch.device(device).type):.1f}x "
                            f"float32's time): --set {where}=auto (or float32) is faster here")
                else:
                    out[k] = walk(v, where)
            return out
        return node

    return walk(raw, ""), warnings


def cpu_name() -> str:
    """The processor's model name (from /proc/cpuinfo on Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
