"""The generator losses reach the model only through its call (``forward``), as under DistributedDataParallel.

A DDP wrapper has ``forward`` and nothing else of the model (no ``log_prob``, ``terms``,
``nll_loss``, ``mask``, ``step_size``), and only what runs through ``forward`` is synchronised.
"""

import pytest
import torch

from textgan.models.cnn_discriminator import CNNDiscriminator
from textgan.models.leakgan import LeakGANGenerator
from textgan.models.lstm_generator import LSTMGenerator
from textgan.rl.leakgan import leakgan_loss
from textgan.rl.losses import reinforce_loss

MODEL_METHODS = ("log_prob", "terms", "nll_loss", "mask", "step_size", "pad_id", "module", "parameters")


def forward_only(model):
    """An object whose only use is ``__call__`` -> ``model.forward`` (through ``nn.Module.__call__``)."""

    class ForwardOnly:
        __slots__ = ()

        def __call__(self, *args, **kwargs):
            return model(*args, **kwargs)

    wrapped = ForwardOnly()
    assert not any(hasattr(wrapped, name) for name in MODEL_METHODS)
    return wrapped


def lstm():
    torch.manual_seed(0)
    return LSTMGenerator(9, 6, 5, max_len=6, start_token=1, pad_id=0, eos_id=2)


def leakgan():
    torch.manual_seed(0)
    d = CNNDiscriminator(12, embed_dim=8, filter_sizes=(1, 2, 3), num_filters=(3, 4, 2), dropout=0.0)
    return LeakGANGenerator(12, embed_dim=8, hidden_dim=6, max_len=8, pad_id=0, eos_id=2, goal_out_size=d.feature_dim,
                            goal_size=4, step_size=3, discriminator=d)


def loss_and_grads(model, caller, loss_fn, tokens, rewards, **kw):
    model.zero_grad(set_to_none=True)
    loss = loss_fn(caller, tokens, rewards, **kw)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def assert_same(a, b):
    (la, ga), (lb, gb) = a, b
    assert torch.equal(la, lb)
    assert ga.keys() == gb.keys() and ga  # the same parameters received gradients, and some did
    for name in ga:
        assert torch.equal(ga[name], gb[name]), name


@pytest.mark.parametrize("temperature", [1.0, 1.5])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_reinforce_loss_through_forward_only(temperature, reduction):
    g = lstm()
    x = g.sample(5, generator=torch.Generator().manual_seed(1))
    r = torch.rand(x.shape, generator=torch.Generator().manual_seed(2))
    kw = dict(reduction=reduction, temperature=temperature)
    assert_same(loss_and_grads(g, g, reinforce_loss, x, r, **kw),
                loss_and_grads(g, forward_only(g), reinforce_loss, x, r, **kw))


@pytest.mark.parametrize("temperature", [1.0, 1.5])
@pytest.mark.parametrize("intrinsic", ["code", "paper"])
def test_leakgan_loss_through_forward_only(temperature, intrinsic):
    g = leakgan()
    x = g.sample(4, temperature=temperature, generator=torch.Generator().manual_seed(1))
    r = torch.rand(x.shape, generator=torch.Generator().manual_seed(2))
    kw = dict(temperature=temperature, intrinsic=intrinsic)
    direct = loss_and_grads(g, g, leakgan_loss, x, r, **kw)
    assert_same(direct, loss_and_grads(g, forward_only(g), leakgan_loss, x, r, **kw))
    # the Manager (goal loss) and the Worker (REINFORCE) are both reached
    assert {"goal_init", "manager_output.weight", "worker_output.weight", "embedding.weight"} <= direct[1].keys()


@pytest.mark.parametrize("make", [lstm, leakgan])
def test_forward_modes_match_the_named_methods(make):
    g = make()
    x = g.sample(4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(g(x), g(x, output="logits"))
    assert torch.equal(g(x, output="log_prob"), g.log_prob(x))
    assert torch.equal(g(x, output="nll"), g.nll_loss(x))
    tempered = torch.log_softmax(g(x) / 2.0, dim=-1).gather(-1, x.unsqueeze(-1)).squeeze(-1) * g.mask(x)
    assert torch.equal(g(x, output="log_prob", temperature=2.0), tempered)
    assert_same(loss_and_grads(g, g, lambda m, t, _: m.nll_loss(t), x, None),
                loss_and_grads(g, forward_only(g), lambda m, t, _: m(t, output="nll"), x, None))
    with pytest.raises(ValueError, match="output"):
        g(x, output="nope")
    with pytest.raises(ValueError, match="temperature"):
        g(x, output="log_prob", temperature=0.0)


def test_leakgan_terms_through_forward():
    g = leakgan()
    x = g.sample(4, generator=torch.Generator().manual_seed(1))
    terms, called = g.terms(x), g(x, output="terms")
    assert terms.step_size == g.step_size
    for name in ("logits", "log_probs", "features", "goals", "block_goals"):
        assert torch.equal(getattr(terms, name), getattr(called, name)), name
    hot = g(x, output="terms", temperature=1.5)
    assert torch.equal(hot.logits, terms.logits)  # logits stay at temperature 1
    assert torch.equal(hot.log_probs, g(x, output="log_prob", temperature=1.5))


def test_losses_through_a_real_ddp_wrapper(tmp_path):
    dist = pytest.importorskip("torch.distributed")
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        g = lstm()
        x = g.sample(5, generator=torch.Generator().manual_seed(1))
        r = torch.rand(x.shape, generator=torch.Generator().manual_seed(2))
        direct = loss_and_grads(g, g, reinforce_loss, x, r, temperature=1.5)
        assert_same(direct, loss_and_grads(g, DistributedDataParallel(g), reinforce_loss, x, r, temperature=1.5))
        lg = leakgan()
        y = lg.sample(4, generator=torch.Generator().manual_seed(1))
        s = torch.rand(y.shape, generator=torch.Generator().manual_seed(2))
        direct = loss_and_grads(lg, lg, leakgan_loss, y, s)
        assert_same(direct, loss_and_grads(lg, DistributedDataParallel(lg), leakgan_loss, y, s))
    finally:
        dist.destroy_process_group()
