"""MaliGAN (Che et al., 2017): normalised importance weights D / (1 - D) as sequence rewards.

The generator's gradient is ``sum_i (w_i - b) grad log G(x_i)`` with ``w_i = r(x_i) / sum_j r(x_j)``,
``r = D / (1 - D)`` and the baseline ``b = mean_j w_j`` (Algorithm 1). In the mixed-MLE form
(Algorithm 2) each row starts with a real prefix of ``N`` tokens from the data, the generator
continues it ``samples_per_prefix`` times, the weights are normalised over the continuations of
one prefix, and the prefix tokens get plain maximum-likelihood weight; ``N`` shrinks as
training goes on. Both are per-token rewards for the ``reinforce`` loss (reduction ``sum``):
``-sum_{b,t} log G(y_t | y_<t) * reward[b, t]`` is exactly the paper's objective.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..models.sampling import sample_categorical


def log_odds(discriminator: nn.Module, tokens: Tensor) -> Tensor:
    """log D / (1 - D) of ``tokens`` (B, T): (B,) float32, from ``real_logit`` when the model has it."""
    if hasattr(discriminator, "real_logit"):
        return discriminator.real_logit(tokens).float()
    p = discriminator.prob_real(tokens).float().clamp(1e-7, 1 - 1e-7)
    return torch.log(p) - torch.log1p(-p)


def importance_weights(logits: Tensor, group_size: int, baseline: bool = True) -> Tensor:
    """MaliGAN's normalised weights minus their baseline, per group of ``group_size`` rows.

    ``r / sum_group r`` with ``r = D / (1 - D) = exp(log-odds)`` is a softmax of the log-odds over
    the group (stable where D is near 1); the baseline is the group mean, ``1 / group_size``.

    Args:
        logits: (B,) log-odds log D / (1 - D); rows ``[g * n, (g + 1) * n)`` share group g.
        group_size: n, dividing B.
        baseline: subtract ``1 / n`` (the paper's variance reduction).

    Returns:
        (B,) float32; each group sums to 0 with the baseline, to 1 without.
    """
    B = logits.size(0)
    if group_size < 1 or B % group_size:
        raise ValueError(f"group_size {group_size} must divide the batch of {B} rows")
    w = torch.softmax(logits.float().view(B // group_size, group_size), dim=1).reshape(B)
    return w - 1.0 / group_size if baseline else w


@torch.no_grad()
def maligan_rewards(tokens: Tensor, rollout_policy: nn.Module, discriminator: nn.Module, *,
                    generator: torch.Generator | None = None, prefix: int = 0, group_size: int | None = None,
                    baseline: bool = True) -> Tensor:
    """Per-token MaliGAN rewards of (B, T) sequences (Che et al., 2017, Algorithms 1 and 2).

    Args:
        tokens: (B, T) int64; the first ``prefix`` tokens of each row are real data.
        rollout_policy, generator: unused (the reward scores whole sequences); part of the
            reward signature.
        discriminator: a model with ``real_logit`` or ``prob_real``; run in eval mode here.
        prefix: N, the real-prefix length (0: plain MaliGAN, every token generated).
        group_size: rows sharing a prefix, over which weights are normalised (None: the batch).
        baseline: subtract the baseline ``1 / group_size``.

    Returns:
        (B, T) float32: ``1 / B`` on the prefix (the MLE term, ``1 / m`` per real sequence when
        each of the m prefixes appears B / m times) and ``w - b`` of the row on generated positions.
    """
    B, T = tokens.shape
    was_training = discriminator.training
    discriminator.eval()
    try:
        w = importance_weights(log_odds(discriminator, tokens), group_size or B, baseline)
    finally:
        discriminator.train(was_training)
    rewards = w.unsqueeze(1).expand(B, T).clone()
    rewards[:, :min(prefix, T)] = 1.0 / B
    return rewards


def prefix_length(step: int, start: int, decay: int, every: int) -> int:
    """N at adversarial batch ``step``: ``start`` less ``decay`` per ``every`` batches, at least 0."""
    return max(start - decay * (step // every), 0)


@torch.no_grad()
def continue_prefixes(policy: nn.Module, prefixes: Tensor, length: int, *, temperature: float = 1.0,
                      generator: torch.Generator | None = None) -> Tensor:
    """Keep the first ``length`` tokens of each row and sample the rest from ``policy``.

    Args:
        policy: a rollout policy (``initial_tokens``, ``step``, ``step_sample``, ``ban_specials``, ``finish``).
        prefixes: (B, T) int64 rows whose first ``length`` tokens are kept.
        length: N, 0 <= N <= T.
        temperature: sampling temperature of the continuation.
        generator: randomness.

    Returns:
        (B, T) int64, finished (padding after the end-of-sequence token).
    """
    B, T = prefixes.shape
    out = prefixes.clone()
    tok, state = policy.initial_tokens(B, prefixes.device), None
    for t in range(T):
        if t < length:
            _, state = policy.step(tok, state)
            tok = out[:, t]
        elif temperature == 1.0:
            tok, state = policy.step_sample(tok, state, generator)
            out[:, t] = tok
        else:
            logits, state = policy.step(tok, state)
            tok = sample_categorical(policy.ban_specials(logits) / temperature, generator)
            out[:, t] = tok
    return policy.finish(out)


@torch.no_grad()
def maligan_draw(policy: nn.Module, real: Tensor, n: int, *, generator: torch.Generator, temperature: float = 1.0,
                 step: int = 0, mle_prefix: int = 0, mle_prefix_decay: int = 1, mle_prefix_every: int = 1,
                 samples_per_prefix: int = 8) -> tuple[Tensor, dict]:
    """The batch of one MaliGAN generator step and what its reward needs to know.

    With N = ``prefix_length(step, ...)`` = 0: ``n`` samples from scratch, one group. Otherwise
    ``n / samples_per_prefix`` real rows drawn at random, each continued ``samples_per_prefix``
    times after its first N tokens (rows of one prefix are adjacent).

    Returns:
        ((n, T) int64 tokens, ``{"prefix": N, "group_size": ...}`` for :func:`maligan_rewards`).
    """
    T = real.size(1)
    N = min(prefix_length(step, mle_prefix, mle_prefix_decay, mle_prefix_every), T)
    if N == 0:
        return policy.sample(n, generator=generator, temperature=temperature), {"prefix": 0, "group_size": n}
    m = n // samples_per_prefix
    if m < 1:
        raise ValueError(f"a batch of {n} rows holds no group of samples_per_prefix={samples_per_prefix}")
    rows = torch.randint(real.size(0), (m,), generator=generator, device=generator.device).to(real.device)
    device = next(policy.parameters()).device
    prefixes = real[rows].to(device).repeat_interleave(samples_per_prefix, dim=0)
    tokens = continue_prefixes(policy, prefixes, N, temperature=temperature, generator=generator)
    return tokens, {"prefix": N, "group_size": samples_per_prefix}


@dataclass(frozen=True)
class MaliganRewardConfig:
    """Recipe keys of the ``maligan`` reward (``adversarial: {reward: maligan, ...}``; Che et al. 2017)."""

    maligan_baseline: bool = True  # subtract the mean weight 1/n (the paper's variance reduction)
    mle_prefix: int = 0  # N at adversarial batch 0: real tokens before the generator takes over (0: Algorithm 1)
    mle_prefix_decay: int = 1  # N shrinks by this many tokens ...
    mle_prefix_every: int = 1  # ... every this many adversarial batches, down to 0
    samples_per_prefix: int = 8  # continuations per real prefix (weights are normalised over them)

    def __post_init__(self) -> None:
        problems = [
            (self.mle_prefix >= 0 and self.mle_prefix_decay >= 0 and self.mle_prefix_every >= 1,
             "adversarial.mle_prefix and mle_prefix_decay must be >= 0 and mle_prefix_every >= 1",
             "e.g. --set adversarial.mle_prefix=20 --set adversarial.mle_prefix_every=5"),
            (self.samples_per_prefix >= 2 or self.mle_prefix == 0,
             f"adversarial.samples_per_prefix must be >= 2 with a real prefix, got {self.samples_per_prefix}",
             "set adversarial.samples_per_prefix=8"),
        ]
        batch = getattr(self, "batch_size", None)  # the adversarial section's, when composed with it
        if batch is not None and self.mle_prefix > 0:
            problems.append((batch % self.samples_per_prefix == 0,
                             f"adversarial.batch_size {batch} is not a multiple of samples_per_prefix "
                             f"{self.samples_per_prefix}", "set adversarial.batch_size to a multiple of it"))
        for ok, problem, fix in problems:
            if not ok:
                raise ValueError(f"{problem}: {fix}")  # the recipe loader makes it a one-line TextganError

    def kwargs(self) -> dict:
        """Keyword arguments of :func:`maligan_rewards`."""
        return {"baseline": self.maligan_baseline}

    def draw_kwargs(self) -> dict:
        """Keyword arguments of :func:`maligan_draw`."""
        return {"mle_prefix": self.mle_prefix, "mle_prefix_decay": self.mle_prefix_decay,
                "mle_prefix_every": self.mle_prefix_every, "samples_per_prefix": self.samples_per_prefix}
