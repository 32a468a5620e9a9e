"""A per-token KL penalty to a frozen reference policy (the MLE model), added to the rewards.

As TRL's PPO trainer (Ziegler et al., 2019, "Fine-Tuning Language Models from Human
Preferences"): each sampled token carries the penalty ``-beta * (log pi(y_t) - log pi_ref(y_t))``,
the sampled estimate of the KL divergence from the reference at that step. A policy-gradient
return from step t collects the penalties of steps t..T, so the reward of token t becomes

    Q_t - beta * sum_{s >= t} (log pi(y_s | y_<s) - log pi_ref(y_s | y_<s))

where Q_t is the discriminator's Monte Carlo estimate for the prefix y_1..y_t. With ``target``
set, beta adapts as TRL's ``AdaptiveKLController``: after each step
``beta *= 1 + clip(KL / target - 1, -0.2, 0.2) * batch / horizon``, with KL the batch's mean
per-sequence KL.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn


class KLPenalty:
    """The KL-to-reference penalty of the adversarial generator step.

    Args:
        generator: the policy being trained; the reference starts as a frozen copy of it
            (:meth:`reset` copies it again when the adversarial phase begins).
        coef: beta, the penalty per nat (TRL's ``init_kl_coef``, default 0.2 there).
        target: the per-sequence KL the adaptive controller steers towards (None: fixed beta).
        horizon: the adaptive controller's horizon in sequences (TRL: 10,000).
        dist: under torchrun, the KL that adapts beta is averaged over the ranks.
    """

    def __init__(self, generator: nn.Module, coef: float, target: float | None = None, horizon: int = 10_000,
                 dist=None) -> None:
        if coef < 0 or (target is not None and target <= 0) or horizon < 1:
            raise ValueError("kl coef must be >= 0, target > 0 and horizon >= 1")
        self.reference = copy.deepcopy(generator).eval().requires_grad_(False)
        self.coef, self.target, self.horizon, self.dist = float(coef), target, horizon, dist

    def reset(self, generator: nn.Module) -> None:
        """Make the reference the generator as it is now (the end of MLE pretraining)."""
        self.reference.load_state_dict(generator.state_dict())

    @torch.no_grad()
    def __call__(self, generator: nn.Module, tokens: Tensor, rewards: Tensor,
                 temperature: float = 1.0) -> tuple[Tensor, dict]:
        """The penalised rewards (B, T) and ``{"kl": mean per-sequence KL, "kl_coef": beta used}``."""
        was_training = generator.training
        generator.eval()
        try:
            log_p = generator(tokens, output="log_prob", temperature=temperature)  # (B, T), 0 at padding
        finally:
            generator.train(was_training)
        log_ref = self.reference(tokens, output="log_prob", temperature=temperature)
        kl = log_p - log_ref  # (B, T): the sampled per-token estimate
        to_come = kl.flip(1).cumsum(1).flip(1)  # sum over s >= t
        beta = self.coef
        penalised = rewards - beta * to_come
        mean_kl = float(kl.sum(dim=1).mean())
        if self.dist is not None and self.dist.active:
            mean_kl = self.dist.mean(mean_kl)
        if self.target is not None:
            error = min(max(mean_kl / self.target - 1.0, -0.2), 0.2)
            self.coef *= 1.0 + error * tokens.size(0) * (self.dist.world if self.dist is not None else 1) / self.horizon
        return penalised, {"kl": mean_kl, "kl_coef": beta}

    def state_dict(self) -> dict:
        return {"coef": self.coef}

    def load_state_dict(self, state: dict) -> None:
        self.coef = float(state["coef"])
