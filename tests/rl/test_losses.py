"""REINFORCE: exact loss values and the direction of an update."""

import pytest
import torch

from textgan.models.lstm_generator import LSTMGenerator
from textgan.rl.losses import policy_gradient_loss, reinforce_loss


def test_policy_gradient_loss_is_seqgans_unnormalised_sum():
    logp = torch.tensor([[-1.0, -2.0], [-0.5, -4.0]])
    rewards = torch.tensor([[1.0, 0.5], [2.0, 0.0]])
    assert policy_gradient_loss(logp, rewards).item() == pytest.approx(1.0 + 1.0 + 1.0 + 0.0)
    assert policy_gradient_loss(logp, rewards, "mean").item() == pytest.approx(3.0 / 4)
    with pytest.raises(ValueError):
        policy_gradient_loss(logp, rewards[:, :1])


def test_rewards_are_constants():
    logp = torch.tensor([[-1.0]], requires_grad=True)
    rewards = torch.tensor([[2.0]], requires_grad=True)
    policy_gradient_loss(logp, rewards).backward()
    assert logp.grad.item() == -2.0 and rewards.grad is None


def test_a_reinforce_step_raises_positively_rewarded_tokens():
    torch.manual_seed(0)
    g = LSTMGenerator(8, 4, 6, max_len=4)
    tokens = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 1]])
    rewards = torch.tensor([[1.0, 1.0, 1.0, 1.0], [-1.0, -1.0, -1.0, -1.0]])
    before = g.log_prob(tokens).sum(dim=1).detach()
    opt = torch.optim.SGD(g.parameters(), lr=0.05)
    reinforce_loss(g, tokens, rewards).backward()
    opt.step()
    after = g.log_prob(tokens).sum(dim=1).detach()
    assert after[0] > before[0] and after[1] < before[1]
