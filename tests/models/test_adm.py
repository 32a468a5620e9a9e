"""ADM modules: masking noise, energy, EBGAN losses, generator, embeddings."""

from __future__ import annotations

import pytest
import torch

from textgan.models.adm import (AdversarialDocumentModel, DenoisingAutoencoder, MLPGenerator, discriminator_loss,
                                generator_loss, reconstruction_energy, sample_mask)


def test_mask_zeroes_about_40_percent():
    mask = sample_mask(20_000, 0.4, generator=torch.Generator().manual_seed(0))
    assert mask.shape == (20_000,)
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    assert (mask == 0).float().mean().item() == pytest.approx(0.4, abs=0.015)


def test_one_mask_per_batch_zeroes_the_same_words_in_every_document():
    torch.manual_seed(0)
    dae = DenoisingAutoencoder(vocab_size=1000, hidden_dim=4, noise=0.4)
    seen = []
    dae.encoder.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].detach()))
    docs = torch.ones(5, 1000)
    dae.energy(docs, dae.mask(torch.Generator().manual_seed(1)))
    noisy = seen[-1]
    assert torch.equal(noisy, noisy[:1].expand(5, -1))  # identical rows: one mask for the whole batch
    assert (noisy[0] == 0).float().mean().item() == pytest.approx(0.4, abs=0.06)
    assert DenoisingAutoencoder(10, 2, noise=0.0).mask() is None  # plain autoencoder (ADM (AE))


def test_energy_is_summed_squared_error_by_hand():
    dae = DenoisingAutoencoder(vocab_size=3, hidden_dim=2, noise=0.0)
    with torch.no_grad():
        dae.encoder.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]))
        dae.encoder.bias.zero_()
        dae.decoder.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        dae.decoder.bias.copy_(torch.tensor([0.0, 0.0, 0.5]))
    x = torch.tensor([[1.0, 1.0, 0.0]])
    # h = leaky_relu([1, -1]) = [1, -0.2]; reconstruction = [1, -0.2, 1.3]
    # energy = (1-1)^2 + (1+0.2)^2 + (0-1.3)^2 = 1.44 + 1.69
    assert dae.embed(x)[0].tolist() == pytest.approx([1.0, -0.2])
    assert dae.energy(x).tolist() == pytest.approx([3.13])
    # masking the first word changes the input but the target stays the clean document
    # h = leaky_relu([0, -1]) = [0, -0.2]; reconstruction = [0, -0.2, 0.3]: 1 + 1.44 + 0.09
    assert dae.energy(x, torch.tensor([0.0, 1.0, 1.0])).tolist() == pytest.approx([2.53])
    assert reconstruction_energy(torch.zeros(2, 2), torch.tensor([[1.0, 2.0], [3.0, 0.0]])).tolist() == [5.0, 9.0]


def test_ebgan_losses_by_hand():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([4.0, 6.0])
    assert discriminator_loss(real, fake, margin=10.0).item() == pytest.approx(2.0 + (10.0 - 5.0))
    assert discriminator_loss(real, fake, margin=4.0).item() == pytest.approx(2.0)  # hinge inactive
    assert generator_loss(fake).item() == pytest.approx(5.0)


def test_generator_shapes_and_frozen_batch_norm_scale():
    torch.manual_seed(0)
    g = MLPGenerator(vocab_size=12, noise_dim=4, hidden_dim=8)
    out = g.sample(6, generator=torch.Generator().manual_seed(0))
    assert out.shape == (6, 12)
    assert ((out > 0) & (out < 1)).all()
    assert all(not n.weight.requires_grad for n in g.norms)
    out.sum().backward()
    assert all(p.grad is not None for p in g.parameters() if p.requires_grad)


def test_embed_shape_and_determinism_in_eval_mode():
    torch.manual_seed(0)
    model = AdversarialDocumentModel(vocab_size=16, hidden_dim=50, noise=0.4, noise_dim=4, generator_dim=8).eval()
    docs = (torch.rand(7, 16, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    a, b = model.embed(docs), model.embed(docs)
    assert a.shape == (7, 50)
    assert torch.equal(a, b)
    empty = model.embed(torch.zeros(1, 16))
    assert torch.allclose(empty[0], torch.nn.functional.leaky_relu(model.discriminator.encoder.bias, 0.2))


def test_state_dict_round_trip():
    torch.manual_seed(0)
    a = AdversarialDocumentModel(vocab_size=10, hidden_dim=3, noise_dim=2, generator_dim=4)
    b = AdversarialDocumentModel(**a.config())
    b.load_state_dict(a.state_dict())
    x = torch.ones(2, 10)
    assert torch.equal(a.embed(x), b.embed(x))
