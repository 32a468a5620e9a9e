"""LeakGAN's training signals by hand: rescaled activation, Manager and Worker losses, block rewards."""

import math

import pytest
import torch

from textgan.models.cnn_discriminator import CNNDiscriminator
from textgan.models.leakgan import LeakGANGenerator
from textgan.rl.leakgan import (block_rewards, leakgan_loss, leakgan_rewards, manager_loss, rescale_rewards,
                                worker_intrinsic_rewards, worker_loss)
from textgan.rl.rollout import make_rollout_policy


def sig(x):
    return 1.0 / (1.0 + math.exp(-x))


def cos(a, b):
    a, b = torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32)
    return float(a @ b / (a.norm() * b.norm()))


def test_rescaled_activation_by_hand():
    rewards = torch.tensor([[0.2, 1.0], [0.9, 3.0], [0.5, 2.0], [0.5, 0.0]])  # B = 4, two blocks
    out = rescale_rewards(rewards, delta=16.0)
    # column 0: ranks (high to low) 4, 1, 2, 2 (the tie shares the better rank)
    expect0 = [sig(16 * (0.5 - 4 / 4)), sig(16 * (0.5 - 1 / 4)), sig(0.0), sig(0.0)]
    expect1 = [sig(16 * (0.5 - 3 / 4)), sig(16 * (0.5 - 1 / 4)), sig(16 * (0.5 - 2 / 4)), sig(16 * (0.5 - 4 / 4))]
    assert out[:, 0].tolist() == pytest.approx(expect0, abs=1e-6)
    assert out[:, 1].tolist() == pytest.approx(expect1, abs=1e-6)
    # only the order counts: a monotone transform of the rewards changes nothing
    assert torch.equal(rescale_rewards(rewards.exp()), rescale_rewards(rewards))


FEATS = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 2.0], [3.0, 2.0]]])  # f_0..f_4, (1, 5, 2)
BLOCKS = torch.tensor([[[1.0, 1.0], [0.0, 1.0]]])  # G_0, G_1 for T = 4, c = 2
GOALS = torch.tensor([[[0.0, 1.0], [1.0, 0.0], [0.6, 0.8], [0.8, 0.6]]])  # g_0..g_3


def test_manager_loss_by_hand():
    q = torch.tensor([[0.5, 2.0]])
    # block 0: f_2 - f_0 = (1, 1) vs G_0 = (1, 1); block 1: f_4 - f_2 = (2, 1) vs G_1 = (0, 1)
    expect = -(0.5 * cos([1, 1], [1, 1]) + 2.0 * cos([2, 1], [0, 1])) / 2
    assert manager_loss(BLOCKS, FEATS, q, 2).item() == pytest.approx(expect, rel=1e-6)
    assert manager_loss(BLOCKS, FEATS, None, 2).item() == pytest.approx(-(1 + cos([2, 1], [0, 1])) / 2, rel=1e-6)


def test_manager_loss_with_a_short_last_block():
    feats = FEATS[:, :4]  # T = 3, c = 2: blocks [0, 2) and [2, 3)
    expect = -(cos([1, 1], [1, 1]) + cos([-1, 1], [0, 1])) / 2
    assert manager_loss(BLOCKS, feats, None, 2).item() == pytest.approx(expect, rel=1e-6)


def test_worker_intrinsic_reward_code_form_by_hand():
    r = worker_intrinsic_rewards(FEATS, GOALS, BLOCKS, 2, "code")
    # token t of block k: cos(f_{t+1} - f_{2k}, G_k)
    expect = [cos([1, 0], [1, 1]), cos([1, 1], [1, 1]), cos([-1, 1], [0, 1]), cos([2, 1], [0, 1])]
    assert r[0].tolist() == pytest.approx(expect, rel=1e-6)


def test_worker_intrinsic_reward_paper_form_by_hand():
    r = worker_intrinsic_rewards(FEATS, GOALS, BLOCKS, 2, "paper")
    f = FEATS[0].tolist()
    g = GOALS[0].tolist()

    def d(i, j):
        return [f[i][0] - f[j][0], f[i][1] - f[j][1]]

    # (1/c) sum_{i=1..c} cos(f_{t+1} - f_{t+1-i}, g_{t+1-i}); t = 0 has only i = 1
    expect = [cos(d(1, 0), g[0]),
              (cos(d(2, 1), g[1]) + cos(d(2, 0), g[0])) / 2,
              (cos(d(3, 2), g[2]) + cos(d(3, 1), g[1])) / 2,
              (cos(d(4, 3), g[3]) + cos(d(4, 2), g[2])) / 2]
    assert r[0].tolist() == pytest.approx(expect, rel=1e-6)


def test_worker_loss_by_hand():
    logp = torch.tensor([[-1.0, -2.0], [-0.5, -4.0]], requires_grad=True)
    r = torch.tensor([[0.5, -1.0], [1.0, 0.0]])
    loss = worker_loss(logp, r)
    assert loss.item() == pytest.approx(-(-0.5 + 2.0 - 0.5 + 0.0) / 4)
    loss.backward()
    assert torch.equal(logp.grad, -r / 4)


class ConstantPolicy:
    """Always emits token 5; enough of the Policy protocol for block_rewards."""

    step_size = 2

    def initial_tokens(self, n, device=None):
        return torch.zeros(n, dtype=torch.long, device=device)

    def step(self, tokens, state):
        logits = torch.full((tokens.size(0), 8), -1e9)
        logits[:, 5] = 0.0
        return logits, (tokens.new_zeros(tokens.size(0)) if state is None else state)

    def reorder_state(self, state, index):
        return state.index_select(0, index)

    def ban_specials(self, logits):
        return logits

    def finish(self, tokens):
        return tokens


class FractionOfFives(torch.nn.Module):
    def prob_real(self, tokens):
        return (tokens == 5).float().mean(dim=1)


def test_block_rewards_complete_prefixes_every_c_steps():
    x = torch.tensor([[1, 2, 5, 3, 4, 6], [5, 5, 1, 1, 1, 1]])  # T = 6, c = 2: rollouts from prefixes 2 and 4
    q = block_rewards(x, ConstantPolicy(), FractionOfFives(), num_rollouts=3, step_size=2)
    # prefix of 2 + four 5s; prefix of 4 + two 5s; the sequence itself
    expect = torch.tensor([[4 / 6, 3 / 6, 1 / 6], [6 / 6, 4 / 6, 2 / 6]])
    assert torch.allclose(q, expect)
    r = leakgan_rewards(x, ConstantPolicy(), FractionOfFives(), num_rollouts=4)
    assert r.shape == (2, 6) and torch.equal(r[:, 0], r[:, 1])  # constant within a block
    assert torch.allclose(r[:, ::2], rescale_rewards(expect) / 4)


def tiny_pair():
    torch.manual_seed(0)
    d = CNNDiscriminator(12, embed_dim=8, filter_sizes=(1, 2, 3), num_filters=(3, 4, 2), dropout=0.0)
    g = LeakGANGenerator(12, embed_dim=8, hidden_dim=6, max_len=8, goal_out_size=d.feature_dim, goal_size=4,
                         step_size=3, discriminator=d)
    return g, d


def test_rewards_from_the_generator_as_rollout_policy():
    g, d = tiny_pair()
    x = g.sample(4, generator=torch.Generator().manual_seed(0))
    q = block_rewards(x, make_rollout_policy(g), d, num_rollouts=2, step_size=3,
                      generator=torch.Generator().manual_seed(1))
    assert q.shape == (4, 3) and ((q >= 0) & (q <= 1)).all()
    assert torch.allclose(q[:, -1], d.prob_real(x))  # the last block: D's score of the sequence


def test_leakgan_loss_trains_manager_and_worker():
    g, d = tiny_pair()
    x = g.sample(4, generator=torch.Generator().manual_seed(0))
    rewards = leakgan_rewards(x, make_rollout_policy(g), d, num_rollouts=2, generator=torch.Generator().manual_seed(1))
    loss = leakgan_loss(g, x, rewards)
    loss.backward()
    missing = [n for n, p in g.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert missing == []
    assert all(p.grad is None for p in d.parameters())
    summed = leakgan_loss(g, x, rewards, reduction="sum")
    assert torch.isfinite(summed)


def test_leakgan_loss_takes_worker_log_probs_at_the_sampling_temperature():
    from textgan.rl.leakgan import worker_loss
    from textgan.rl.losses import sampled_log_probs

    g, d = tiny_pair()
    x = g.sample(4, temperature=1.5, generator=torch.Generator().manual_seed(0))
    rewards = leakgan_rewards(x, make_rollout_policy(g), d, num_rollouts=2, generator=torch.Generator().manual_seed(1))
    terms = g.terms(x)
    r = worker_intrinsic_rewards(terms.features, terms.goals, terms.block_goals, g.step_size, "code")
    diff = leakgan_loss(g, x, rewards, temperature=1.5) - leakgan_loss(g, x, rewards)
    expected = worker_loss(sampled_log_probs(g, x, 1.5), r) - worker_loss(terms.log_probs, r)
    assert abs(diff.item() - expected.item()) < 1e-6 and abs(expected.item()) > 1e-4
