"""Maximum-likelihood (teacher-forcing) training of a generator."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .loop import check_finite


def mle_epoch(generator: nn.Module, data: Tensor, optimizer: torch.optim.Optimizer, batch_size: int,
              grad_clip: float | None, generator_rng: torch.Generator, drop_last: bool = True,
              epoch: int = 0, max_batches: int | None = None) -> float:
    """One epoch of teacher forcing over shuffled ``data``.

    Args:
        generator: a model with ``nll_loss(tokens) -> scalar``.
        data: (N, T) int64 training sequences (on any device; batches move to the model's).
        optimizer: the generator's optimizer.
        batch_size: sequences per update.
        grad_clip: global gradient-norm clip (SeqGAN: 5.0), or None.
        generator_rng: shuffling randomness (CPU generator).
        drop_last: skip the last incomplete batch (SeqGAN uses 156 full batches of 10,000).
        epoch: for error messages.
        max_batches: stop after this many batches (a partial epoch), or None.

    Returns:
        The mean training loss (nats per counted token) over the epoch's batches.
    """
    device = next(generator.parameters()).device
    generator.train()
    order = torch.randperm(data.size(0), generator=generator_rng)
    n_batches = data.size(0) // batch_size if drop_last else -(-data.size(0) // batch_size)
    if max_batches is not None:
        n_batches = min(n_batches, max_batches)
    total = 0.0
    for b in range(n_batches):
        batch = data[order[b * batch_size:(b + 1) * batch_size]].to(device, non_blocking=True)
        loss = generator.nll_loss(batch)
        check_finite(loss, f"MLE epoch {epoch} batch {b}", "lower mle.lr or set mle.grad_clip (e.g. --set mle.lr=0.001)")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            nn.utils.clip_grad_norm_(generator.parameters(), grad_clip)
        optimizer.step()
        total += loss.item()
    return total / max(n_batches, 1)
