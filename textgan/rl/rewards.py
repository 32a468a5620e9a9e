"""Reward functions for policy-gradient training: tokens (B, T) -> per-token rewards (B, T)."""

from __future__ import annotations

from dataclasses import dataclass

from typing import Callable, Protocol

import torch
from torch import Tensor, nn

from .rollout import RolloutPolicy, monte_carlo_rewards


class RewardFn(Protocol):
    """``reward_fn(tokens, rollout_policy, discriminator, generator=rng) -> (B, T)`` rewards."""

    def __call__(self, tokens: Tensor, rollout_policy: RolloutPolicy, discriminator: nn.Module, *,
                 generator: torch.Generator | None = None) -> Tensor: ...


def discriminator_prob_real(discriminator: nn.Module) -> Callable[..., Tensor]:
    """``(tokens (R, T), labels (R,) or None) -> (R,)`` probability of "real" from ``discriminator.prob_real``
    (with labels: of "real text of that label", ``prob_real(tokens, labels=labels)``).

    The caller puts the discriminator in eval mode: SeqGAN scores rollouts with dropout off
    (``dropout_keep_prob: 1.0``).
    """

    def prob(tokens: Tensor, labels: Tensor | None = None) -> Tensor:
        return discriminator.prob_real(tokens) if labels is None else discriminator.prob_real(tokens, labels=labels)

    return prob


@torch.no_grad()
def rollout_rewards(tokens: Tensor, rollout_policy: RolloutPolicy, discriminator: nn.Module, *,
                    num_rollouts: int = 16, generator: torch.Generator | None = None,
                    chunk_size: int = 4096, labels: Tensor | None = None) -> Tensor:
    """SeqGAN's reward: Monte Carlo estimates of D(real) for every prefix (Yu et al., 2017, eq. 4).

    With ``labels`` (a conditional run, the ``conditional_rollout`` reward) the completions of row b
    are drawn given ``labels[b]`` and scored P(real text of label ``labels[b]``) (SentiGAN).

    Args:
        tokens: (B, T) int64 generated sequences.
        rollout_policy: the (delayed) policy completing prefixes.
        discriminator: a model with ``prob_real(tokens (R, T)) -> (R,)``; run in eval mode here.
        num_rollouts: completions per prefix (SeqGAN: 16).
        generator: randomness of the completions.
        chunk_size: rows per step / discriminator call.
        labels: (B,) int64 label each row was generated for, or None.

    Returns:
        (B, T) float32 rewards in [0, 1]; column T-1 is D's score of the sequence itself.
    """
    was_training = discriminator.training
    discriminator.eval()
    try:
        return monte_carlo_rewards(tokens, rollout_policy, discriminator_prob_real(discriminator), num_rollouts,
                                   generator=generator, chunk_size=chunk_size, labels=labels)
    finally:
        discriminator.train(was_training)


@dataclass(frozen=True)
class RolloutRewardConfig:
    """Recipe keys of the ``rollout`` reward (``adversarial: {reward: rollout, ...}``; SeqGAN's)."""

    num_rollouts: int = 16  # completions per prefix
    rollout_chunk_size: int = 4096  # completion rows stepped / scored at a time

    def __post_init__(self) -> None:
        if self.num_rollouts < 1 or self.rollout_chunk_size < 1:
            raise ValueError("adversarial.num_rollouts and rollout_chunk_size must be positive")

    def kwargs(self) -> dict:
        """Keyword arguments of :func:`rollout_rewards`."""
        return {"num_rollouts": self.num_rollouts, "chunk_size": self.rollout_chunk_size}


@dataclass(frozen=True)
class ConditionalRolloutRewardConfig(RolloutRewardConfig):
    """Recipe keys of the ``conditional_rollout`` reward (``adversarial: {reward: conditional_rollout, ...}``):
    those of ``rollout``; rollouts are conditioned on each row's label and scored by a ``label_classes``
    discriminator's probability of "real text of that label" (SentiGAN)."""
