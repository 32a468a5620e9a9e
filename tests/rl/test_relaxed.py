"""Continuous relaxations (textgan/rl/relaxed.py): Gumbel-softmax, beta schedules, curricula and
the RSGAN / GAN / WGAN-GP losses on values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from textgan.models.lstm_generator import LSTMGenerator
from textgan.models.relgan import RelGANGenerator
from textgan.models.soft_cnn import SoftCNNDiscriminator
from textgan.rl.relaxed import (Relaxation, gumbel_noise, gumbel_relaxation, gumbel_softmax, inverse_temperature,
                                relaxed_rollout, rsgan_loss, softmax_relaxation, standard_gan_loss, wgan_gp_loss)

LN2, LN3 = math.log(2.0), math.log(3.0)


def test_gumbel_softmax_by_hand():
    logits = torch.tensor([[0.0, LN2]])
    soft, hard = gumbel_softmax(logits, 1.0, torch.zeros(1, 2))
    assert torch.allclose(soft, torch.tensor([[1 / 3, 2 / 3]])) and hard.tolist() == [1]
    soft, _ = gumbel_softmax(logits, 2.0, torch.zeros(1, 2))  # beta multiplies: softmax([0, 2 ln 2])
    assert torch.allclose(soft, torch.tensor([[1 / 5, 4 / 5]]))
    soft, hard = gumbel_softmax(logits, 1.0, torch.tensor([[LN3, 0.0]]))  # noise moves the argmax
    assert torch.allclose(soft, torch.tensor([[3 / 5, 2 / 5]])) and hard.tolist() == [0]
    soft, _ = gumbel_softmax(logits, 1000.0, torch.tensor([[LN3, 0.0]]))  # large beta: nearly one-hot
    assert torch.allclose(soft, torch.tensor([[1.0, 0.0]]), atol=1e-6)


def test_gumbel_max_draws_from_the_softmax():
    logits = torch.tensor([0.0, LN2, LN3]).expand(40_000, 3)
    g = gumbel_noise(logits.shape, torch.Generator().manual_seed(0))
    _, hard = gumbel_softmax(logits, 1.0, g)
    freq = torch.bincount(hard, minlength=3).float() / hard.numel()
    assert torch.allclose(freq, torch.tensor([1 / 6, 2 / 6, 3 / 6]), atol=0.01)


@pytest.mark.parametrize("schedule,step,expected", [
    ("constant", 7, 1000.0), ("linear", 0, 1.0), ("linear", 50, 500.5), ("linear", 100, 1000.0),
    ("exponential", 0, 1.0), ("exponential", 50, math.sqrt(1000.0)), ("exponential", 100, 1000.0),
    ("quadratic", 50, 250.75), ("sqrt", 25, 500.5), ("sigmoid", 50, 500.5), ("log", 0, 1.0),
    ("log", 99, 1000.0)])
def test_beta_schedules_by_hand(schedule, step, expected):
    assert inverse_temperature(schedule, 1000.0, step, 100) == pytest.approx(expected)


def test_gumbel_relaxation_anneals_over_the_phase_or_the_given_horizon():
    kw = {"beta_max": 100.0, "temperature_schedule": "exponential", "max_len": 20}
    assert gumbel_relaxation(0, 10, temperature_horizon=None, **kw) == Relaxation(True, 1.0)
    assert gumbel_relaxation(5, 10, temperature_horizon=None, **kw).beta == pytest.approx(10.0)
    assert gumbel_relaxation(5, 10, temperature_horizon=20, **kw).beta == pytest.approx(100 ** 0.25)


def test_length_curriculum_grows_by_one_every_n_steps():
    lengths = [softmax_relaxation(i, 20, curriculum_start=1, curriculum_every=2, max_len=4).length for i in range(10)]
    assert lengths == [1, 1, 2, 2, 3, 3, 4, 4, 4, 4]
    assert softmax_relaxation(3, 20, curriculum_start=1, curriculum_every=0, max_len=4) == Relaxation(False)


class Critic(nn.Module):
    """Scores rows by hand: C(x) = sum(w * x), or its square (a nonlinear critic)."""

    def __init__(self, w, square: bool = False) -> None:
        super().__init__()
        self.w, self.square = nn.Parameter(torch.tensor(w)), square

    def scores(self, x):
        s = (x * self.w).sum(dim=(1, 2)).unsqueeze(1)
        return s * s if self.square else s


# real scores [2, 1], fake scores [0, 1] under w = [[2, 1]]
REAL = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])
FAKE = torch.tensor([[[0.0, 0.0]], [[0.5, 0.0]]])


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_rsgan_loss_by_hand():
    critic = Critic([[2.0, 1.0]])
    d = rsgan_loss(critic, REAL, FAKE, role="d")
    g = rsgan_loss(critic, REAL, FAKE, role="g")
    assert d.item() == pytest.approx((softplus(-2) + softplus(0)) / 2)  # -log sigmoid(C(real) - C(fake))
    assert g.item() == pytest.approx((softplus(2) + softplus(0)) / 2)  # -log sigmoid(C(fake) - C(real))


def test_standard_gan_loss_by_hand():
    critic = Critic([[2.0, 1.0]])
    d = standard_gan_loss(critic, REAL, FAKE, role="d")
    g = standard_gan_loss(critic, REAL, FAKE, role="g")
    assert d.item() == pytest.approx((softplus(-2) + softplus(-1)) / 2 + (softplus(0) + softplus(1)) / 2)
    assert g.item() == pytest.approx((softplus(0) + softplus(-1)) / 2)  # non-saturating -log D(fake)


def test_wgan_gp_loss_by_hand():
    critic = Critic([[2.0, 1.0]])  # linear: the gradient is w everywhere, |w| = sqrt(5)
    d = wgan_gp_loss(critic, REAL, FAKE, role="d", generator=torch.Generator().manual_seed(0), gp_weight=10.0)
    assert d.item() == pytest.approx(0.5 - 1.5 + 10 * (math.sqrt(5) - 1) ** 2, rel=1e-6)
    assert wgan_gp_loss(critic, REAL, FAKE, role="g").item() == pytest.approx(-0.5)
    d.backward()  # d/dw: mean(fake) - mean(real) + 10 * 2 (|w| - 1) w / |w|  (the penalty is differentiated too)
    w = torch.tensor([[2.0, 1.0]])
    expected = (FAKE.mean(0) - REAL.mean(0)) + 20 * (math.sqrt(5) - 1) * w / math.sqrt(5)
    assert torch.allclose(critic.w.grad, expected, atol=1e-5)


def test_wgan_gp_penalty_is_taken_at_the_seeded_interpolates():
    critic = Critic([[1.0, 0.0]], square=True)  # C = (x_0)^2: |grad| = 2 |x_0|
    alpha = torch.rand(2, 1, 1, generator=torch.Generator().manual_seed(3))
    x0 = (alpha * REAL + (1 - alpha) * FAKE)[:, 0, 0]
    penalty = ((2 * x0.abs() - 1) ** 2).mean()
    expected = (FAKE[:, 0, 0] ** 2).mean() - (REAL[:, 0, 0] ** 2).mean() + 10 * penalty
    got = wgan_gp_loss(critic, REAL, FAKE, role="d", generator=torch.Generator().manual_seed(3))
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize("make", [
    lambda: RelGANGenerator(11, embed_dim=6, head_size=4, num_heads=2, max_len=5),
    lambda: LSTMGenerator(11, embed_dim=6, hidden_dim=6, max_len=5)])
@pytest.mark.parametrize("relax", [Relaxation(True, 3.0), Relaxation(False, length=3)])
def test_gradients_reach_the_generator_through_the_soft_outputs(make, relax):
    torch.manual_seed(0)
    g, d = make(), SoftCNNDiscriminator(11, num_rep=2, rep_dim=3, filter_sizes=(2, 3), num_filters=(4, 4), dropout=0.0)
    soft, tokens = relaxed_rollout(g, 4, relax, torch.Generator().manual_seed(1))
    assert soft.shape == (4, relax.length or 5, 11) and soft.requires_grad
    rsgan_loss(d, torch.nn.functional.one_hot(tokens, 11).float(), soft, role="g").backward()
    assert g.output.weight.grad is not None and g.output.weight.grad.abs().sum() > 0
    recurrent = g.memory if isinstance(g, RelGANGenerator) else g.lstm
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in recurrent.parameters())


def test_rollout_pads_after_the_end_of_sequence_like_real_text():
    torch.manual_seed(0)
    g = LSTMGenerator(8, embed_dim=4, hidden_dim=4, max_len=5, start_token=1, pad_id=0, eos_id=2)
    with torch.no_grad():
        g.output.bias[2] = 50.0  # the first token is always the end of sequence
    soft, tokens = relaxed_rollout(g, 3, Relaxation(True, 1.0), torch.Generator().manual_seed(0))
    assert tokens[:, 0].tolist() == [2, 2, 2] and bool((tokens[:, 1:] == 0).all())
    assert torch.equal(soft[:, 1:], torch.nn.functional.one_hot(torch.zeros(3, 4, dtype=torch.long), 8).float())
    assert bool((soft[:, 0, [0, 1]] == 0).all())  # padding and the start token get no mass
