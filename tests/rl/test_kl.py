"""The KL penalty to the frozen MLE model: hand values of the penalised rewards and of TRL's adaptive coefficient."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from textgan.rl.kl import KLPenalty


class FixedPolicy(nn.Module):
    """A policy whose log-probabilities of any tokens are a fixed (B, T) table."""

    def __init__(self, log_probs: list[list[float]]) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.tensor(log_probs))

    def forward(self, tokens, output="log_prob", temperature=1.0):
        assert output == "log_prob"
        return self.table / temperature


def penalty(coef=0.5, target=None, horizon=100):
    policy = FixedPolicy([[-1.0, -2.0, -0.5], [-0.1, -0.2, 0.0]])
    kl = KLPenalty(policy, coef, target, horizon)
    kl.reference = FixedPolicy([[-1.5, -1.0, -0.5], [-0.3, -0.2, 0.0]])  # log pi_ref
    return policy, kl


def test_each_reward_pays_for_the_kl_still_to_come():
    policy, kl = penalty(coef=0.5)
    tokens = torch.zeros(2, 3, dtype=torch.long)
    rewards = torch.tensor([[0.2, 0.4, 0.6], [0.9, 0.9, 0.9]])
    got, stats = kl(policy, tokens, rewards)
    # per-token log-ratios: row 0 (0.5, -1.0, 0.0), row 1 (0.2, 0.0, 0.0); to come: (-0.5, -1.0, 0.0), (0.2, 0, 0)
    expected = torch.tensor([[0.2 + 0.25, 0.4 + 0.5, 0.6], [0.9 - 0.1, 0.9, 0.9]])
    assert torch.allclose(got, expected)
    assert stats == pytest.approx({"kl": ((-0.5) + 0.2) / 2, "kl_coef": 0.5})
    assert kl.coef == 0.5  # no target: beta stays


def test_adaptive_coefficient_follows_trls_controller():
    policy, kl = penalty(coef=0.2, target=1.0, horizon=100)
    tokens = torch.zeros(2, 3, dtype=torch.long)
    _, stats = kl(policy, tokens, torch.zeros(2, 3))
    # mean KL -0.15 is below target: error clipped to -0.2, beta *= 1 - 0.2 * 2 / 100
    assert stats["kl_coef"] == 0.2 and kl.coef == pytest.approx(0.2 * (1 - 0.2 * 2 / 100))
    kl.reference = FixedPolicy([[-1.0, -2.0, -0.5], [-0.1, -0.2, -2.2]])  # KL per sequence: 0 and 2.2
    before = kl.coef
    kl(policy, tokens, torch.zeros(2, 3))
    assert kl.coef == pytest.approx(before * (1 + (1.1 / 1.0 - 1) * 2 / 100))  # error 0.1, inside the clip
    state = kl.state_dict()
    fresh = penalty()[1]
    fresh.load_state_dict(state)
    assert fresh.coef == kl.coef


def test_reset_makes_the_reference_the_current_policy():
    policy, kl = penalty()
    kl.reset(policy)
    got, stats = kl(policy, torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 3))
    assert torch.equal(got, torch.ones(2, 3)) and stats["kl"] == 0.0


def test_bad_coefficients_are_refused():
    with pytest.raises(ValueError):
        KLPenalty(FixedPolicy([[0.0]]), -1.0)
