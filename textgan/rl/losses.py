"""Generator losses for policy-gradient training: REINFORCE with per-token rewards."""

from __future__ import annotations

from typing import Literal, Protocol

from torch import Tensor, nn


class GeneratorLoss(Protocol):
    """``loss_fn(generator, tokens (B, T), rewards (B, T)) -> scalar`` to minimise."""

    def __call__(self, generator: nn.Module, tokens: Tensor, rewards: Tensor) -> Tensor: ...


def policy_gradient_loss(log_probs: Tensor, rewards: Tensor, reduction: Literal["sum", "mean"] = "sum") -> Tensor:
    """REINFORCE: ``-sum_{b,t} log G(y_t | y_<t) * Q_t`` (Yu et al., 2017, eq. 6 and 8).

    SeqGAN's ``g_loss`` (LantaoYu/SeqGAN generator.py) is this sum over all batch * time
    positions, with no division by the batch size or the length; Adam is almost invariant to
    the scale, but the global-norm clip at 5.0 is not, so "sum" reproduces their updates.

    Args:
        log_probs: (B, T) float log-probabilities of the sampled tokens (0 at padding), with grad.
        rewards: (B, T) float rewards, treated as constants.
        reduction: "sum" (SeqGAN) or "mean" (divided by B * T).

    Returns:
        scalar float.
    """
    if log_probs.shape != rewards.shape:
        raise ValueError(f"log_probs {tuple(log_probs.shape)} and rewards {tuple(rewards.shape)} must have the same shape")
    loss = -(log_probs * rewards.detach()).sum()
    return loss / log_probs.numel() if reduction == "mean" else loss


def reinforce_loss(generator: nn.Module, tokens: Tensor, rewards: Tensor, reduction: Literal["sum", "mean"] = "sum") -> Tensor:
    """:func:`policy_gradient_loss` of a generator with ``log_prob(tokens) -> (B, T)`` (0 at padding).

    Args:
        generator: the policy being trained.
        tokens: (B, T) int64 sampled sequences.
        rewards: (B, T) float rewards.
        reduction: see :func:`policy_gradient_loss`.

    Returns:
        scalar float with gradients into ``generator``.
    """
    return policy_gradient_loss(generator.log_prob(tokens), rewards, reduction)
