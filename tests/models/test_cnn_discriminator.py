"""Tests for textgan/models/cnn_discriminator.py (and its Conv2d reference in textgan/bench)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from textgan.bench.discriminator import (Conv2dCNNDiscriminator, bench_discriminator,
                                         discriminator_flops, format_discriminator_bench)
from textgan.models.cnn_discriminator import CNNDiscriminator

VOCAB, EMBED = 12, 8
WIDTHS, FILTERS = (1, 2, 3, 6), (3, 4, 5, 2)  # widest (6) exceeds the shorter test lengths




def make(pad_id: int | None = 0, seed: int = 0, **kwargs) -> CNNDiscriminator:
    torch.manual_seed(seed)
    args = dict(vocab_size=VOCAB, embed_dim=EMBED, filter_sizes=WIDTHS, num_filters=FILTERS, pad_id=pad_id)
    return CNNDiscriminator(**{**args, **kwargs})


def tokens(batch: int = 3, length: int = 6, seed: int = 1) -> torch.Tensor:
    return torch.randint(1, VOCAB, (batch, length), generator=torch.Generator().manual_seed(seed))


def reference_of(model: CNNDiscriminator) -> Conv2dCNNDiscriminator:
    ref = Conv2dCNNDiscriminator(**model.config())
    ref.load_state_dict(model.state_dict())
    return ref.train(model.training)


def test_shapes_and_ranges():
    model = make().eval()
    x = tokens(3, 7)
    assert model.feature_dim == sum(FILTERS) == 14
    assert model(x).shape == (3, 2)
    assert model.features(x).shape == (3, 14)
    assert model.prefix_features(x).shape == (3, 7, 14)
    assert model.prefix_features(x, include_empty=True).shape == (3, 8, 14)
    p = model.prob_real(x)
    assert p.shape == (3,) and bool(((p >= 0) & (p <= 1)).all())
    torch.testing.assert_close(torch.sigmoid(model.real_logit(x)), p)
    torch.testing.assert_close(p, torch.softmax(model(x), -1)[:, 1])


def test_paper_defaults_give_1720_features():
    model = CNNDiscriminator(vocab_size=20)
    assert model.feature_dim == 1720
    assert model.embed_dim == 64 and model.dropout.p == 0.25 and model.l2_reg == 0.2
    assert model.features(torch.randint(0, 20, (2, 20))).shape == (2, 1720)


@pytest.mark.parametrize("pad_id", [None, 0])
@pytest.mark.parametrize("length", [1, 3, 5, 8])
def test_fast_equals_conv2d_reference(pad_id, length):
    model = make(pad_id).eval()
    ref = reference_of(model)
    x = tokens(3, length)
    torch.testing.assert_close(model.features(x), ref.features(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model(x), ref(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("length", [5, 20, 23])
def test_paper_filters_equal_conv2d_reference(length):
    torch.manual_seed(0)
    model = CNNDiscriminator(vocab_size=30, pad_id=0).eval()  # widths up to 20, 1720 features
    ref = reference_of(model)
    x = torch.randint(0, 30, (2, length), generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(model.features(x), ref.features(x), atol=1e-5, rtol=1e-5)


def test_fast_gradients_equal_conv2d_reference():
    model = make(pad_id=0).eval()
    ref = reference_of(model)
    x, y = tokens(3, 5), torch.tensor([0, 1, 1])
    model.loss(x, y).backward()
    ref.loss(x, y).backward()
    ref_grads = dict(ref.named_parameters())
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, ref_grads[name].grad, atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.parametrize("pad_id", [None, 0])
@pytest.mark.parametrize("length", [2, 5, 8])
def test_prefix_features_equal_features_of_padded_prefixes(pad_id, length):
    model = make(pad_id).eval()
    x = tokens(3, length)
    prefix = model.prefix_features(x, include_empty=True)  # (B, T + 1, F)
    for n_real in range(length + 1):
        torch.testing.assert_close(prefix[:, n_real], model.features(x, lengths=n_real), atol=1e-5, rtol=1e-5)
        if pad_id is not None:
            padded = x.clone()
            padded[:, n_real:] = pad_id
            torch.testing.assert_close(prefix[:, n_real], model.features(padded), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model.prefix_features(x), prefix[:, 1:])
    torch.testing.assert_close(prefix[:, -1], model.features(x), atol=1e-5, rtol=1e-5)


def test_prefix_features_backpropagate():
    model = make(pad_id=0)
    model.prefix_features(tokens(2, 5)).sum().backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if not n.startswith("output"))


def test_lengths_mask_equals_explicit_padding():
    model = make(pad_id=0).eval()
    x, lengths = tokens(3, 7), torch.tensor([7, 4, 1])
    padded = x.clone()
    for row, n in enumerate(lengths.tolist()):
        padded[row, n:] = 0
    torch.testing.assert_close(model.features(x, lengths), model.features(padded))


def test_width_wider_than_sequence_sees_one_padded_window():
    width, length = 6, 2
    model = make(pad_id=0, filter_sizes=(width,), num_filters=(3,)).eval()
    x = tokens(3, length)
    emb = model.embedding(x)  # (B, 2, E)
    pad = model.embedding.weight[0].expand(3, width - length, EMBED)
    window = torch.cat([emb, pad], dim=1)  # (B, 6, E): the single window
    by_hand = torch.relu(torch.einsum("bke,fke->bf", window, model.conv_weights[0]) + model.conv_biases[0])
    torch.testing.assert_close(model._pooled(model._embed(x, None), length), by_hand, atol=1e-6, rtol=1e-5)
    # Every token matters, and features stay finite even for T = 1.
    y = x.clone()
    y[:, -1] = (y[:, -1] % (VOCAB - 1)) + 1
    assert not torch.allclose(model.features(x), model.features(y))
    assert torch.isfinite(model.features(tokens(3, 1))).all()


def test_zero_pad_when_pad_id_is_none():
    model = make(pad_id=None, filter_sizes=(4,), num_filters=(2,)).eval()
    x = tokens(2, 2)
    window = model.embedding(x).reshape(2, -1)  # zeros for the two padded slots contribute nothing
    w = model.conv_weights[0][:, :2].reshape(2, -1)
    by_hand = torch.relu(window @ w.t() + model.conv_biases[0])
    torch.testing.assert_close(model._pooled(model._embed(x, None), 2), by_hand, atol=1e-6, rtol=1e-5)


def test_l2_loss_by_hand():
    model = make(l2_reg=0.2)
    with torch.no_grad():
        model.output.weight.fill_(1.0)  # (2, 14)
        model.output.bias.copy_(torch.tensor([1.0, 2.0]))
    # tf.nn.l2_loss(t) = sum(t ** 2) / 2
    assert model.l2_loss().item() == pytest.approx(0.2 * (28 / 2 + 5 / 2))
    model.eval()
    x, y = tokens(3, 5), torch.tensor([1, 0, 1])
    expected = F.cross_entropy(model(x), y) + 0.2 * 16.5
    torch.testing.assert_close(model.loss(x, y), expected)


def test_gradients_reach_all_parameters():
    model = make(pad_id=0)
    x, y = tokens(3, 5), torch.tensor([1, 0, 1])  # T = 5 < 6: the pad row is used
    model.loss(x, y).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert model.embedding.weight.grad[0].abs().sum() > 0  # the pad embedding is trained


def test_adam_separates_a_toy_task():
    model = make(pad_id=0, seed=3)
    gen = torch.Generator().manual_seed(4)
    real = torch.randint(1, 6, (12, 6), generator=gen)  # real sentences use tokens 1..5
    fake = torch.randint(6, VOCAB, (12, 6), generator=gen)  # generated ones use 6..11
    x, y = torch.cat([real, fake]), torch.cat([torch.ones(12), torch.zeros(12)]).long()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        opt.zero_grad()
        loss = model.loss(x, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    model.eval()
    assert (model(x).argmax(-1) == y).all()
    assert (model.prob_real(real) > 0.5).all() and (model.prob_real(fake) < 0.5).all()


def test_seqgan_initialisation():
    model = CNNDiscriminator(vocab_size=50, embed_dim=16, filter_sizes=(2, 3), num_filters=(40, 40),
                             highway_gate_bias=-2.0)
    assert model.embedding.weight.abs().max() <= 1.0
    for w, b in zip(model.conv_weights, model.conv_biases):
        assert w.abs().max() <= 0.2 and 0.07 < w.std() < 0.1  # truncated at 2 std
        assert (b == 0.1).all()
    assert (model.output.bias == 0.1).all() and model.output.weight.abs().max() <= 0.2
    gate_bias = model.highway.bias[model.feature_dim:]
    assert -2.2 < gate_bias.min() and gate_bias.max() < -1.8
    assert make().highway.bias[14:].abs().max() < 0.5  # SeqGAN's call passes bias=0


def test_bfloat16_compute_is_close_to_float32():
    model = make(pad_id=0).eval()
    x = tokens(3, 7)
    fp32 = model.features(x)
    model.compute_dtype = torch.bfloat16
    assert model.features(x).dtype == torch.float32
    torch.testing.assert_close(model.features(x), fp32, atol=0.1, rtol=0.05)
    torch.testing.assert_close(model.prefix_features(x)[:, -1], fp32, atol=0.1, rtol=0.05)
    model.loss(x, torch.tensor([0, 1, 1])).backward()
    assert all(p.grad.dtype == torch.float32 for p in model.parameters())


def test_bfloat16_gradients_point_like_float32():
    x, y = tokens(3, 7), torch.tensor([0, 1, 1])
    grads = {}
    for dtype in ("float32", "bfloat16"):
        model = make(pad_id=0, compute_dtype=dtype).eval()
        model.loss(x, y).backward()
        grads[dtype] = {n: p.grad.flatten() for n, p in model.named_parameters()}
    for name, g32 in grads["float32"].items():
        assert F.cosine_similarity(g32, grads["bfloat16"][name], dim=0) > 0.98, name


def test_config_round_trip_and_state_dict():
    model = make(pad_id=0, compute_dtype="bfloat16")
    clone = CNNDiscriminator(**model.config())
    clone.load_state_dict(model.state_dict())
    assert clone.config() == model.config() and clone.compute_dtype == torch.bfloat16
    x = tokens(2, 5)
    torch.testing.assert_close(clone.eval()(x), model.eval()(x))


def test_invalid_arguments():
    with pytest.raises(ValueError):
        CNNDiscriminator(10, filter_sizes=(1, 2), num_filters=(3,))
    with pytest.raises(ValueError):
        CNNDiscriminator(10, num_classes=1)
    with pytest.raises(ValueError):
        CNNDiscriminator(10, compute_dtype="int8")
    with pytest.raises(ValueError):
        make().features(torch.zeros(3, 0, dtype=torch.long))


def test_flop_count_and_bench_smoke():
    flops = discriminator_flops(1, 20, 64, (1, 20), (100, 160))
    assert flops["conv"] == 2 * 64 * (20 * 1 * 100 + 1 * 20 * 160)
    assert flops["highway"] == 2 * 260 * 520
    result = bench_discriminator(batch_size=8, seq_len=6, vocab_size=30, num_sequences=16, threads=1,
                                 dtypes=("float32",), embed_dim=8, peak_matmul_size=128)
    assert [(r["impl"], r["dtype"]) for r in result["runs"]] == [("unfold+matmul", "float32"),
                                                                 ("conv2d", "float32")]
    assert result["runs"][0]["epoch_s"] > 0 and result["speedup"]["float32"] > 0
    assert "unfold+matmul" in format_discriminator_bench(result)
