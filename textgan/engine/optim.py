"""Optimizers and loss checks shared by every algorithm."""

from __future__ import annotations

import torch

from ..errors import NonFiniteLossError


def adam(params, lr: float, betas: tuple[float, float] = (0.9, 0.999)) -> torch.optim.Adam:
    """Adam over the trainable ``params``, with the fused kernel where torch has one.

    Fused Adam is the same update as the default (``foreach``) implementation up to float
    rounding, and on CPU about 3x faster: 3 against 8 ms per step for SeqGAN's discriminator
    (7.1 M parameters), a third of a bfloat16 training step.
    """
    params = [p for p in params if p.requires_grad]
    fused = bool(params) and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=fused or None)


def check_finite(loss: torch.Tensor, where: str, fix: str) -> None:
    """Stop with a one-line error when a loss is NaN or infinite."""
    if not torch.isfinite(loss).all():
        raise NonFiniteLossError(f"{where}: the loss became {loss.item()}: {fix}")
