"""Named random streams: every ``torch.Generator`` a run draws from, derived from the run's seed here.

Each part of a run draws from its own generator, handed to the code that uses it (and saved with
the run's training state), never from torch's global generator, which only initialises the
models (inside ``torch.random.fork_rng``, so a caller's global state is left alone). The table
below is the one place that says which stream is which. A stream's generator is seeded with
``seed + offset``: the offsets are those the runs were built with, kept so that published
numbers reproduce bit for bit.
"""

from __future__ import annotations

import torch

STREAMS: dict[str, int] = {
    "data.train": 0,  # oracle training samples
    "data.test": 1,  # oracle test samples
    "data.split": 29,  # the held-out test texts of a single user file
    "mle.shuffle": 3,  # MLE epoch orders
    "eval.samples": 7,  # the samples of every evaluation (the same at each one, so curves compare like with like)
    "adversarial.sampling": 11,  # generator batches, negatives and rollouts of the adversarial phase
    "adversarial.shuffle": 13,  # discriminator batch orders of the adversarial phase
    "adversarial.mle_shuffle": 17,  # interleaved MLE epochs (LeakGAN)
    "pretrain.sampling": 19,  # negatives of interleaved discriminator pretraining (LeakGAN)
    "pretrain.shuffle": 23,  # their discriminator batch orders
    "adversarial.labels": 31,  # labels of a conditional run's generated batches and negatives (docs/conditional.md)
    "pretrain.labels": 37,  # labels of its interleaved-pretraining negatives
    "energy.order": 0,  # ADM document order
    "energy.noise": 1,  # ADM noise z and masks
    "detector.shuffle": 1,  # detector epoch orders
}


RANK_STRIDE = 1_000_003
"""Under torchrun, rank r's copy of a per-rank stream is seeded ``r * RANK_STRIDE`` further on."""


def stream(seed: int, name: str, device: torch.device | str | None = None, rank: int = 0) -> torch.Generator:
    """A fresh generator for the named stream of a run with ``seed`` (on ``device``, default CPU).

    ``rank``: for streams each torchrun process draws on its own (sampling); streams that must
    agree across processes (batch orders) use rank 0 everywhere.
    """
    if name not in STREAMS:
        raise KeyError(f"unknown random stream {name!r}: add it to textgan.seeds.STREAMS")
    gen = torch.Generator(device=device) if device is not None else torch.Generator()
    return gen.manual_seed(seed + STREAMS[name] + rank * RANK_STRIDE)
