"""RankGAN's reward (Lin et al., 2017, Sec. 3): the expected rank score of Monte Carlo completions.

For a prefix, the value is the mean over ``num_rollouts`` completions (sampled by the rollout
policy) of R(s | U, C+), the ranker's score of the completed sentence against the reference set U
and real comparison sentences C+ (:class:`textgan.models.ranker.RankerDiscriminator`); the whole
sentence gets its own score. ``rank_log: true`` averages log R instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..models.ranker import rank_log_scores
from .rollout import RolloutPolicy, monte_carlo_rewards


@torch.no_grad()
def rank_rewards(tokens: Tensor, rollout_policy: RolloutPolicy, discriminator: nn.Module, *, num_rollouts: int = 16,
                 generator: torch.Generator | None = None, chunk_size: int = 4096, log: bool = False) -> Tensor:
    """Monte Carlo estimates of the rank score R(s | U, C+) of every prefix's completions.

    Args:
        tokens: (B, T) int64 generated sequences.
        rollout_policy: the (delayed) policy completing prefixes.
        discriminator: a ranker (``unit_features``, ``reference``, ``comparison``, ``gamma``)
            whose sets were drawn (by its training); run in eval mode, U and C+ encoded once.
        num_rollouts: completions per prefix.
        generator: randomness of the completions.
        chunk_size: rows per step / ranker call.
        log: average log R instead of R.

    Returns:
        (B, T) float32; column T-1 is the score of the sequence itself.
    """
    was_training = discriminator.training
    discriminator.eval()
    try:
        u = discriminator.unit_features(discriminator.reference)
        c = discriminator.unit_features(discriminator.comparison)

        def score(completions: Tensor) -> Tensor:
            log_r = rank_log_scores(discriminator.unit_features(completions), u, c, discriminator.gamma)
            return log_r if log else log_r.exp()

        return monte_carlo_rewards(tokens, rollout_policy, score, num_rollouts, generator=generator,
                                   chunk_size=chunk_size)
    finally:
        discriminator.train(was_training)


@dataclass(frozen=True)
class RankRewardConfig:
    """Recipe keys of the ``rank`` reward (``adversarial: {reward: rank, ...}``; RankGAN's, with a ``ranker``)."""

    num_rollouts: int = 16  # completions per prefix
    rollout_chunk_size: int = 4096  # completion rows stepped / scored at a time
    rank_log: bool = False  # average log R instead of R (both reference codes use R)

    def __post_init__(self) -> None:
        if self.num_rollouts < 1 or self.rollout_chunk_size < 1:
            raise ValueError("adversarial.num_rollouts and rollout_chunk_size must be positive")

    def kwargs(self) -> dict:
        """Keyword arguments of :func:`rank_rewards`."""
        return {"num_rollouts": self.num_rollouts, "chunk_size": self.rollout_chunk_size, "log": self.rank_log}
