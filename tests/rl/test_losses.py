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


def test_tempered_samples_need_tempered_log_probs():
    """Tokens drawn at temperature 2 with a constant reward: on-policy REINFORCE (log-probs at
    temperature 2) has zero expected gradient; log-probs at temperature 1 drift the model
    towards the flatter sampling distribution (what collapsed LeakGAN at temperature 1.5)."""
    from textgan.rl.losses import sampled_log_probs

    torch.manual_seed(0)
    g = LSTMGenerator(5, 4, 6, max_len=1)
    with torch.no_grad():
        g.output.bias.copy_(torch.tensor([3.0, 1.0, 0.0, -1.0, -2.0]))
    tokens = g.sample(40_000, temperature=2.0, generator=torch.Generator().manual_seed(1))
    ones = torch.ones(tokens.shape)
    logits = g(tokens)
    assert torch.allclose(sampled_log_probs(g, tokens, 2.0),
                          torch.log_softmax(logits / 2.0, -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1))
    assert torch.allclose(sampled_log_probs(g, tokens, 1.0), g.log_prob(tokens))
    grads = {}
    for temperature in (2.0, 1.0):
        g.zero_grad()
        reinforce_loss(g, tokens, ones, "mean", temperature=temperature).backward()
        grads[temperature] = g.output.bias.grad.clone()
    assert grads[2.0].abs().max() < 0.01  # sampling noise only (about 0.002 here)
    # off-policy: a descent step raises the rare tokens' logits and lowers the common one's
    assert grads[1.0][0] > 0.1 and grads[1.0][-1] < -0.02
