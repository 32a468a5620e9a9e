"""The LSTM generator: shapes, masking, MLE, sampling settings, checkpoints."""

import math

import pytest
import torch

from textgan.data.vocab import Vocab
from textgan.models.lstm_generator import LSTMGenerator
from textgan.models.sampling import filter_logits, sample_categorical
from textgan.train.checkpoint import load_generator, save_checkpoint


def tiny(**kw) -> LSTMGenerator:
    torch.manual_seed(0)
    args = dict(vocab_size=12, embed_dim=6, hidden_dim=8, max_len=6, start_token=1, pad_id=0, eos_id=2)
    args.update(kw)
    return LSTMGenerator(**args)


def test_shapes_and_log_prob_are_consistent():
    g = tiny()
    tokens = torch.tensor([[5, 6, 2, 0, 0, 0], [7, 7, 7, 7, 7, 2]])
    logits = g(tokens)
    assert logits.shape == (2, 6, 12)
    logp = g.log_prob(tokens)
    assert logp.shape == (2, 6) and (logp <= 0).all()
    assert torch.equal(logp[0, 3:], torch.zeros(3))  # padding counts for nothing
    manual = -(logp.sum() / g.mask(tokens).sum())
    assert g.nll_loss(tokens).item() == pytest.approx(manual.item(), rel=1e-6)


def test_step_matches_teacher_forcing():
    g = tiny(pad_id=None, eos_id=None)
    tokens = torch.tensor([[3, 4, 5, 6, 7, 8]])
    full = g(tokens)
    tok, state = g.initial_tokens(1), None
    for t in range(6):
        logits, state = g.step(tok, state)
        assert torch.allclose(logits, full[:, t], atol=1e-6)
        tok = tokens[:, t]


def test_mle_learns_a_fixed_sequence_and_gradients_reach_all_parameters():
    g = tiny(pad_id=None, eos_id=None)
    data = torch.tensor([[3, 4, 5, 6, 7, 8]] * 4)
    opt = torch.optim.Adam(g.parameters(), lr=0.05)
    loss = g.nll_loss(data)
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in g.parameters())
    for _ in range(60):
        opt.zero_grad()
        g.nll_loss(data).backward()
        opt.step()
    assert g.nll_loss(data).item() < 0.05
    assert torch.equal(g.sample(3, temperature=0.5, generator=torch.Generator().manual_seed(0)), data[:3])


def test_samples_after_eos_are_padding_and_seeded():
    g = tiny()
    s1 = g.sample(50, generator=torch.Generator().manual_seed(1))
    s2 = g.sample(50, generator=torch.Generator().manual_seed(1))
    assert torch.equal(s1, s2)
    assert not (s1[:, 0] == 0).any() and not (s1 == 1).any()  # never padding first, never the start token
    for row in s1.tolist():
        if 2 in row:
            assert all(t == 0 for t in row[row.index(2) + 1:])


def test_top_k_and_top_p_filter_the_right_tokens():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isinf(filter_logits(logits, top_k=2)[0, 2:]).all()
    assert torch.isfinite(filter_logits(logits, top_k=2)[0, :2]).all()
    kept = torch.isfinite(filter_logits(logits, top_p=0.7)[0]).tolist()
    assert kept == [True, True, False, False]  # 0.5 < 0.7 <= 0.8
    assert torch.isfinite(filter_logits(logits, top_p=0.4)[0]).tolist() == [True, False, False, False]
    scaled = filter_logits(logits, temperature=2.0)
    assert torch.allclose(scaled, logits / 2)


def test_categorical_sampler_follows_the_distribution():
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.0])
    logits = torch.log(probs).expand(40_000, 5).contiguous()
    draws = sample_categorical(logits, torch.Generator().manual_seed(0))
    counts = torch.bincount(draws, minlength=5).double()
    assert counts[4] == 0
    expected = probs.double()[:4] * 40_000
    chi2 = ((counts[:4] - expected) ** 2 / expected).sum().item()
    assert chi2 < 16.27  # chi-square, 3 degrees of freedom, p = 0.001


def test_checkpoint_round_trip_without_pickle(tmp_path):
    g = tiny()
    vocab = Vocab(["<pad>", "<bos>", "<eos>", "<unk>"] + [f"w{i}" for i in range(8)])
    save_checkpoint(tmp_path / "ckpt", g, "lstm", vocab, None, {"epoch": 3})
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["config.json", "model.safetensors", "vocab.json"]
    loaded = load_generator(tmp_path / "ckpt")
    assert loaded.vocab == vocab and loaded.config["extra"]["epoch"] == 3
    tokens = torch.tensor([[4, 5, 2, 0, 0, 0]])
    assert torch.equal(loaded.model.log_prob(tokens), g.eval().log_prob(tokens))
    assert len(loaded.sha256) == 64


def test_untrained_generator_is_near_uniform():
    g = LSTMGenerator(vocab_size=500, init_std=0.1)
    tokens = torch.randint(0, 500, (8, 20), generator=torch.Generator().manual_seed(0))
    assert g.nll_loss(tokens).item() == pytest.approx(math.log(500), abs=0.2)
