"""Several processes, one run: ``torchrun --nproc_per_node=N -m textgan run RECIPE``.

torchrun starts N processes with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and a rendezvous
address in their environment; :func:`setup` joins them into one process group (NCCL on GPUs,
gloo on CPUs). Data parallelism, as textgan uses it:

* every rank builds the same models (DistributedDataParallel broadcasts rank 0's weights when it
  wraps them, and averages gradients in every backward pass, so the ranks' weights stay equal);
* each global batch is split across the ranks (MLE rows, generator samples and their rollouts,
  the discriminator's positives and negatives); sampling runs on the unwrapped modules, with a
  random stream of each rank's own;
* rank 0 alone writes the run folder (log, samples, checkpoints); every rank saves its own
  training state beside it (``state/`` for rank 0, ``state.rank<R>/`` for the others), so
  ``torchrun ... -m textgan run --resume RUN_DIR`` resumes each rank exactly.

With one process nothing here changes anything: ``Dist()`` is rank 0 of 1.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class Dist:
    """This process's place in the run: rank, number of processes, rank on its machine."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def share(self, n: int) -> int:
        """This rank's equal share of ``n`` items (the remainder is dropped so every rank steps alike)."""
        return n // self.world if self.active else n

    def rows(self, x: Tensor) -> Tensor:
        """This rank's rows of a global batch (strided: rank, rank + world, ...)."""
        return x[self.rank::self.world] if self.active else x

    def barrier(self) -> None:
        if self.active:
            torch.distributed.barrier()

    def mean(self, value: float) -> float:
        """The mean of a number over the ranks (for logging a rank-local statistic)."""
        if not self.active:
            return value
        t = torch.tensor([float(value)], dtype=torch.float64)
        torch.distributed.all_reduce(t)
        return float(t.item()) / self.world

    def max(self, value: int) -> int:
        """The largest of an integer over the ranks (e.g. "has any rank been asked to stop?")."""
        if not self.active:
            return value
        t = torch.tensor([int(value)], dtype=torch.int64)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return int(t.item())

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sums of a few numbers over the ranks (float64; e.g. a loss total and a token count)."""
        if not self.active:
            return list(values)
        t = torch.tensor([float(v) for v in values], dtype=torch.float64)
        torch.distributed.all_reduce(t)
        return t.tolist()

    def gather_rows(self, x: Tensor) -> Tensor:
        """Every rank's ``x`` (same shape on each), stacked along dim 0 in rank order, on every rank."""
        if not self.active:
            return x
        parts = [torch.empty_like(x) for _ in range(self.world)]
        torch.distributed.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    def broadcast(self, text: str) -> str:
        """Rank 0's ``text`` on every rank (e.g. the run folder's path), sent as UTF-8 bytes (nothing pickled)."""
        if not self.active:
            return text
        data = torch.tensor(list(text.encode("utf-8")), dtype=torch.uint8)
        size = torch.tensor([data.numel()], dtype=torch.int64)
        torch.distributed.broadcast(size, src=0)
        buf = data if self.is_main else torch.empty(int(size.item()), dtype=torch.uint8)
        torch.distributed.broadcast(buf, src=0)
        return bytes(buf.tolist()).decode("utf-8")

    def wrap(self, module: nn.Module) -> nn.Module:
        """``module`` in DistributedDataParallel when there are several processes (else itself)."""
        if not self.active:
            return module
        from torch.nn.parallel import DistributedDataParallel

        device = next(module.parameters()).device
        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids)


_DIST: Dist | None = None


def _leave_group() -> None:
    import torch.distributed as td

    if td.is_initialized():
        td.destroy_process_group()


def setup(device_type: str = "cpu") -> Dist:
    """Join torchrun's process group when ``WORLD_SIZE`` > 1 (once per process); returns this process's place."""
    global _DIST
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if _DIST is None:
        import torch.distributed as td

        if not td.is_initialized():
            backend = "nccl" if device_type == "cuda" and torch.cuda.is_available() else "gloo"
            td.init_process_group(backend=backend)
            # leave the group before the interpreter exits: a gloo group still alive at exit can abort the
            # process ("terminate called without an active exception", SIGABRT) after its work is done
            atexit.register(_leave_group)
        _DIST = Dist(td.get_rank(), td.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
        if device_type == "cuda" and torch.cuda.is_available():
            torch.cuda.set_device(_DIST.local_rank)
    return _DIST


def current() -> Dist:
    """The process's place, once :func:`setup` ran (rank 0 of 1 otherwise)."""
    return _DIST or Dist()
