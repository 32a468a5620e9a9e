"""LeakGAN's losses against hand-computed values, in both cosine forms (issue 14, items 1 and 4).

``per_position``: the paper's equations, one cosine per row and block (Manager) and per token
(Worker). ``batch_mean``: every TensorFlow LeakGAN, whose ``tf.losses.cosine_distance`` at its
default reduction returns one batch-mean scalar.
"""

import math

import pytest
import torch

from textgan.models.cnn_discriminator import CNNDiscriminator
from textgan.models.leakgan import LeakGANGenerator
from textgan.rl.leakgan import (LeakGANLossConfig, batch_mean_manager_loss, batch_mean_rewards, leakgan_loss,
                                manager_loss, worker_intrinsic_rewards)


def cos(a, b):
    a, b = [float(x) for x in a], [float(x) for x in b]
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(x * x for x in b))
    return 0.0 if na == 0 or nb == 0 else sum(x * y for x, y in zip(a, b)) / (na * nb)


# B = 2, T = 4, c = 2: f_0..f_4 and G_0, G_1 of two rows
FEATS = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 2.0], [3.0, 2.0]],
                      [[0.0, 0.0], [0.0, 1.0], [2.0, 1.0], [2.0, 3.0], [1.0, 1.0]]])
BLOCKS = torch.tensor([[[1.0, 1.0], [0.0, 1.0]],
                       [[1.0, 0.0], [-1.0, 1.0]]])
Q = torch.tensor([[0.5, 2.0], [1.0, 0.25]])
# cos(f_{2k+2} - f_{2k}, G_k), by hand
COS = [[cos([1, 1], [1, 1]), cos([2, 1], [0, 1])],
       [cos([2, 1], [1, 0]), cos([-1, 0], [-1, 1])]]


def test_per_position_manager_loss_by_hand():
    expect = -sum(Q[b, k].item() * COS[b][k] for b in range(2) for k in range(2)) / 4
    assert manager_loss(BLOCKS, FEATS, Q, 2).item() == pytest.approx(expect, rel=1e-6)


def test_batch_mean_manager_loss_by_hand():
    mean_cos = sum(COS[b][k] for b in range(2) for k in range(2)) / 4
    expect = -(Q.sum().item() * mean_cos) / 4  # -sum(Q * (1 - cosine_distance)) / (B T / c)
    assert batch_mean_manager_loss(BLOCKS, FEATS, Q, 2).item() == pytest.approx(expect, rel=1e-6)
    # without rewards (MLE pretraining) the two forms are the same number
    assert batch_mean_manager_loss(BLOCKS, FEATS, None, 2).item() == pytest.approx(
        manager_loss(BLOCKS, FEATS, None, 2).item(), rel=1e-6)


def test_manager_gradient_raises_the_rewarded_cosine():
    """Descending the Manager's loss turns G_k towards the feature change, more for larger Q."""
    for fn in (manager_loss, batch_mean_manager_loss):
        goals = BLOCKS.clone().requires_grad_(True)
        fn(goals, FEATS, Q, 2).backward()
        stepped = goals.detach() - 0.01 * goals.grad
        before = manager_loss(BLOCKS, FEATS, None, 2)
        after = manager_loss(stepped, FEATS, None, 2)
        assert after < before, fn.__name__  # mean cosine went up (the loss is minus it)


def test_worker_rewards_both_forms_by_hand():
    r = worker_intrinsic_rewards(FEATS, None, BLOCKS, 2, "code")
    # token t of block k: cos(f_{t+1} - f_{2k}, G_k)
    expect = [[cos([1, 0], [1, 1]), cos([1, 1], [1, 1]), cos([-1, 1], [0, 1]), cos([2, 1], [0, 1])],
              [cos([0, 1], [1, 0]), cos([2, 1], [1, 0]), cos([0, 2], [-1, 1]), cos([-1, 0], [-1, 1])]]
    assert r.tolist() == [pytest.approx(row, rel=1e-6) for row in expect]
    mean = sum(sum(row) for row in expect) / 8
    assert batch_mean_rewards(r).tolist() == [pytest.approx([mean] * 4, rel=1e-6)] * 2


def tiny(seed=0):
    torch.manual_seed(seed)
    d = CNNDiscriminator(9, embed_dim=5, filter_sizes=(1, 2), num_filters=(3, 3), dropout=0.0)
    g = LeakGANGenerator(9, embed_dim=5, hidden_dim=6, max_len=6, goal_out_size=d.feature_dim, goal_size=3,
                         step_size=2, init_std=0.5, discriminator=d)
    x = g.sample(3, generator=torch.Generator().manual_seed(1))
    rewards = torch.tensor([[0.9, 0.1, 0.4], [0.2, 0.7, 0.3], [0.5, 0.5, 0.8]]).repeat_interleave(2, dim=1)
    return g, x, rewards


def hand_loss(terms, tokens, rewards, form, reduction):
    """The loss from the teacher-forced terms, written out element by element."""
    B, T = tokens.shape
    c, nb = 2, 3
    f, G, lp = terms.features.tolist(), terms.block_goals.tolist(), terms.log_probs.tolist()
    sub = lambda a, b: [x - y for x, y in zip(a, b)]  # noqa: E731
    mcos = [[cos(sub(f[b][k * c + c], f[b][k * c]), G[b][k]) for k in range(nb)] for b in range(B)]
    wcos = [[cos(sub(f[b][t + 1], f[b][(t // c) * c]), G[b][t // c]) for t in range(T)] for b in range(B)]
    q = [[rewards[b, k * c].item() for k in range(nb)] for b in range(B)]
    if form == "per_position":
        manager = -sum(q[b][k] * mcos[b][k] for b in range(B) for k in range(nb)) / (B * nb)
        worker = -sum(wcos[b][t] * lp[b][t] for b in range(B) for t in range(T)) / (B * T)
    else:
        mean_m = sum(map(sum, mcos)) / (B * nb)
        mean_w = sum(map(sum, wcos)) / (B * T)
        manager = -sum(map(sum, q)) * mean_m / (B * nb)
        worker = -mean_w * sum(map(sum, lp)) / (B * T)
    if reduction == "sum":
        return manager * B * nb + worker * B * T
    return manager + worker


@pytest.mark.parametrize("form", ["per_position", "batch_mean"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_leakgan_loss_equals_the_hand_computed_value(form, reduction):
    g, x, rewards = tiny()
    with torch.no_grad():
        terms = g.terms(x)
        got = leakgan_loss(g, x, rewards, reduction=reduction, cosine_reduction=form).item()
    assert got == pytest.approx(hand_loss(terms, x, rewards, form, reduction), rel=1e-5)


@pytest.mark.parametrize("form", ["per_position", "batch_mean"])
def test_leakgan_loss_gradients_are_the_two_terms(form):
    """The Manager's gradient is that of its own loss (sign included), the Worker's that of REINFORCE."""
    g, x, rewards = tiny()
    leakgan_loss(g, x, rewards, cosine_reduction=form).backward()
    got = {n: p.grad.clone() for n, p in g.named_parameters()}
    g.zero_grad()
    terms = g.terms(x)
    man = (batch_mean_manager_loss if form == "batch_mean" else manager_loss)(terms.block_goals, terms.features,
                                                                              rewards[:, ::2], 2)
    r = worker_intrinsic_rewards(terms.features, terms.goals, terms.block_goals, 2, "code")
    if form == "batch_mean":
        r = batch_mean_rewards(r)
    (man - (terms.log_probs * r).sum() / x.numel()).backward()
    for n, p in g.named_parameters():
        assert torch.allclose(got[n], p.grad, atol=1e-6, rtol=1e-5), n
    manager_names = {n for n, p in g.named_parameters() if any(p is q for q in g.manager_parameters())}
    assert manager_names and all(got[n].abs().sum() > 0 for n in manager_names)


def test_the_forms_differ_and_the_setting_reaches_the_loss():
    g, x, rewards = tiny()
    with torch.no_grad():
        a = leakgan_loss(g, x, rewards, cosine_reduction="per_position").item()
        b = leakgan_loss(g, x, rewards, cosine_reduction="batch_mean").item()
    assert abs(a - b) > 1e-4
    with pytest.raises(ValueError):
        leakgan_loss(g, x, rewards, cosine_reduction="mean")
    assert LeakGANLossConfig().kwargs() == {"reduction": "sum", "cosine_reduction": "per_position"}
    assert LeakGANLossConfig(cosine_reduction="batch_mean").kwargs()["cosine_reduction"] == "batch_mean"
    with pytest.raises(ValueError):
        LeakGANLossConfig(cosine_reduction="mean")


def test_recipe_key_selects_the_form():
    from pathlib import Path

    from textgan.config import load_recipe
    from textgan.registry import component_fn

    recipe = Path(__file__).resolve().parents[2] / "recipes" / "leakgan" / "synthetic_oracle_cpu.yaml"
    default = component_fn("loss", load_recipe(recipe).adversarial)
    assert default.keywords["cosine_reduction"] == "per_position"
    chosen = component_fn("loss", load_recipe(recipe, ["adversarial.cosine_reduction=batch_mean"]).adversarial)
    assert chosen.func is leakgan_loss and chosen.keywords["cosine_reduction"] == "batch_mean"
