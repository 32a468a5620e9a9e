"""The fused output layer + cross-entropy (issue 13, item 4) against torch's own
``F.cross_entropy(F.linear(...))``: value and every gradient, with and without padding, any chunking."""

import pytest
import torch
import torch.nn.functional as F

from textgan.models.linear_nll import linear_nll
from textgan.models.lstm_generator import LSTMGenerator, LSTMGeneratorConfig


def inputs(n=37, h=6, v=23, bias=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, h, generator=g, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(v, h, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(v, generator=g, dtype=torch.float64, requires_grad=True) if bias else None
    targets = torch.randint(0, v, (n,), generator=g)
    return hidden, weight, b, targets


def reference(hidden, weight, bias, targets, ignore_index=-100):
    return F.cross_entropy(F.linear(hidden, weight, bias), targets, ignore_index=ignore_index)


def grads(loss, tensors):
    return torch.autograd.grad(loss, [t for t in tensors if t is not None])


@pytest.mark.parametrize("chunk_rows", [1, 5, 36, 37, 64])
@pytest.mark.parametrize("bias", [True, False])
def test_value_and_gradients_equal_torch_cross_entropy(chunk_rows, bias):
    hidden, weight, b, targets = inputs(bias=bias)
    want = reference(hidden, weight, b, targets)
    got = linear_nll(hidden, weight, b, targets, chunk_rows=chunk_rows)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    # an upstream factor (3.0) must reach every gradient, as a loss weight does
    for g_got, g_want in zip(grads(3.0 * got, (hidden, weight, b)), grads(3.0 * want, (hidden, weight, b))):
        torch.testing.assert_close(g_got, g_want, rtol=1e-10, atol=1e-12)


def test_padding_rows_do_not_count():
    hidden, weight, b, targets = inputs()
    targets[::3] = 4  # the padding id
    want = reference(hidden, weight, b, targets, ignore_index=4)
    got = linear_nll(hidden, weight, b, targets, ignore_index=4, chunk_rows=8)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    for g_got, g_want in zip(grads(got, (hidden, weight, b)), grads(want, (hidden, weight, b))):
        torch.testing.assert_close(g_got, g_want, rtol=1e-10, atol=1e-12)
    assert torch.all(torch.autograd.grad(linear_nll(hidden, weight, b, targets, 4, 8), hidden)[0][::3] == 0)


def test_every_row_padding_gives_nan_as_torch_does():
    hidden, weight, b, targets = inputs(n=4)
    targets[:] = 2
    assert torch.isnan(reference(hidden, weight, b, targets, 2)) and torch.isnan(linear_nll(hidden, weight, b, targets, 2))


def test_leading_shape_and_no_grad_evaluation():
    hidden, weight, b, targets = inputs(n=24)
    want = reference(hidden, weight, b, targets)
    with torch.no_grad():
        got = linear_nll(hidden.view(4, 6, -1), weight, b, targets.view(4, 6), chunk_rows=5)
    assert not got.requires_grad
    torch.testing.assert_close(got, want.detach(), rtol=1e-12, atol=1e-12)


def test_only_the_inputs_that_need_gradients_get_them():
    hidden, weight, b, targets = inputs()
    frozen = weight.detach()
    loss = linear_nll(hidden, frozen, b, targets, chunk_rows=7)
    g_hidden, g_bias = torch.autograd.grad(loss, (hidden, b))
    w_hidden, w_bias = torch.autograd.grad(reference(hidden, frozen, b, targets), (hidden, b))
    torch.testing.assert_close(g_hidden, w_hidden)
    torch.testing.assert_close(g_bias, w_bias)


def test_refusals():
    hidden, weight, b, targets = inputs()
    with pytest.raises(ValueError, match="chunk_rows"):
        linear_nll(hidden, weight, b, targets, chunk_rows=0)
    with pytest.raises(ValueError, match="targets"):
        linear_nll(hidden, weight, b, targets[:-1])
    with pytest.raises(ValueError, match="nll_chunk_rows"):
        LSTMGeneratorConfig(nll_chunk_rows=-1)


@pytest.mark.parametrize("pad_id", [None, 1])
def test_lstm_mle_loss_and_gradients_are_the_plain_ones(pad_id):
    """The generator's MLE loss (``output="nll"``) takes the fused path by default; ``nll_chunk_rows: 0``
    is the plain one. Same value and gradients up to float32 rounding, padding included."""
    torch.manual_seed(0)
    g = LSTMGenerator(300, 8, 8, max_len=9, pad_id=pad_id)
    tokens = torch.randint(2, 300, (11, 9))
    if pad_id is not None:
        tokens[:, 6:] = pad_id
    assert g.nll_chunk_rows > 0
    fused = g(tokens, output="nll")
    fused_grads = torch.autograd.grad(fused, list(g.parameters()))
    g.nll_chunk_rows = 0
    plain = g(tokens, output="nll")
    plain_grads = torch.autograd.grad(plain, list(g.parameters()))
    torch.testing.assert_close(fused, plain, rtol=1e-6, atol=1e-6)
    for a, b in zip(fused_grads, plain_grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    assert "nll_chunk_rows" not in g.config()  # a compute choice: checkpoints do not change
