"""Generator losses for policy-gradient training: REINFORCE with per-token rewards."""

from __future__ import annotations

from dataclasses import dataclass

from typing import Literal, Protocol

from torch import Tensor, nn

from ..models.sampling import token_log_probs


class GeneratorLoss(Protocol):
    """``loss_fn(generator, tokens (B, T), rewards (B, T), temperature=T) -> scalar`` to minimise.

    Losses reach the generator only through its call (``generator(tokens, output=...)``, i.e.
    ``forward``), so a DistributedDataParallel wrapper can stand in for it.

    ``temperature`` is the one the tokens were sampled at: the policy being trained is
    softmax(logits / T), so the log-probabilities are taken under it (on-policy REINFORCE).
    """

    def __call__(self, generator: nn.Module, tokens: Tensor, rewards: Tensor, temperature: float = 1.0) -> Tensor: ...


def sampled_log_probs(generator: nn.Module, tokens: Tensor, temperature: float = 1.0,
                      logits: Tensor | None = None, labels: Tensor | None = None) -> Tensor:
    """log softmax(logits / temperature) of the sampled tokens: (B, T), 0 at padding.

    REINFORCE must use the log-probabilities of the policy that drew the tokens. Taking them at
    temperature 1 for tokens drawn at a higher temperature makes the update off-policy: even a
    constant reward then moves the model towards the flatter sampling distribution, batch after
    batch (on EMNLP News, LeakGAN's BLEU-2 fell from 0.79 to 0.35 in 5 adversarial batches at
    temperature 1.5 that way).

    Args:
        generator: a generator whose ``generator(tokens, output="log_prob", temperature=T)``
            gives them (its ``forward``; a DistributedDataParallel wrapper works).
        tokens: (B, T) int64 sampled sequences.
        temperature: the sampling temperature (> 0).
        logits: the teacher-forced logits when already computed; then ``generator.mask(tokens)``
            gives the (B, T) positions that count (so ``generator`` must be the bare model).
        labels: (B,) the labels the rows were generated for (a conditional run), or None.

    Returns:
        (B, T) float with gradients into the generator.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if logits is None:
        if labels is not None:
            return generator(tokens, output="log_prob", temperature=temperature, labels=labels)
        return generator(tokens, output="log_prob", temperature=temperature)
    if temperature != 1.0:
        logits = logits / temperature
    return token_log_probs(logits, tokens) * generator.mask(tokens)


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


def reinforce_loss(generator: nn.Module, tokens: Tensor, rewards: Tensor, reduction: Literal["sum", "mean"] = "sum",
                   temperature: float = 1.0, labels: Tensor | None = None) -> Tensor:
    """:func:`policy_gradient_loss` of a generator's log-probabilities of ``tokens``.

    They come from the generator's ``forward``,
    ``generator(tokens, output="log_prob", temperature=temperature) -> (B, T)`` (0 at padding),
    so ``generator`` may be a DistributedDataParallel wrapper.

    Args:
        generator: the policy being trained (or a wrapper whose call runs its ``forward``).
        tokens: (B, T) int64 sampled sequences.
        rewards: (B, T) float rewards.
        reduction: see :func:`policy_gradient_loss`.
        temperature: the temperature ``tokens`` were sampled at (see :func:`sampled_log_probs`).
        labels: (B,) labels the rows were generated for (a conditional generator), or None.

    Returns:
        scalar float with gradients into ``generator``.
    """
    log_probs = sampled_log_probs(generator, tokens, temperature, labels=labels)
    return policy_gradient_loss(log_probs, rewards, reduction)


@dataclass(frozen=True)
class ReinforceLossConfig:
    """Recipe keys of the ``reinforce`` loss (``adversarial: {loss: reinforce, ...}``)."""

    loss_reduction: Literal["sum", "mean"] = "sum"  # SeqGAN sums over batch and time (LeakGAN's code: mean)

    def kwargs(self) -> dict:
        """Keyword arguments of :func:`reinforce_loss`."""
        return {"reduction": self.loss_reduction}
