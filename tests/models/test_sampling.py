"""The samplers draw from softmax(logits): chi-square goodness of fit on small vocabularies."""

import pytest
import torch

from textgan.models.lstm_generator import LSTMGenerator
from textgan.models.sampling import sample_categorical, sample_linear_softmax

# 99.9 % quantiles of chi-square with k degrees of freedom (k = 5, 9, 199).
CHI2_999 = {5: 20.52, 9: 27.88, 199: 270.0}


def chi_square(draws: torch.Tensor, probs: torch.Tensor) -> float:
    counts = torch.bincount(draws, minlength=probs.numel()).double()
    expected = probs.double() * draws.numel()
    return float(((counts - expected) ** 2 / expected).sum())


@pytest.mark.parametrize("vocab,block", [(6, 64), (10, 3), (200, 16)])
def test_sample_categorical_matches_softmax(vocab, block):
    logits = torch.randn(vocab, generator=torch.Generator().manual_seed(vocab)) * 1.5
    n = 40_000
    draws = sample_categorical(logits.expand(n, vocab), torch.Generator().manual_seed(0), block=block)
    assert chi_square(draws, torch.softmax(logits, 0)) < CHI2_999[vocab - 1]


def test_zero_probability_entries_are_never_drawn_and_num_samples_shares_rows():
    logits = torch.tensor([[0.0, float("-inf"), 1.0, float("-inf"), 0.5] * 40])  # V = 200, blocks of 16
    draws = sample_categorical(logits.expand(50, 200), torch.Generator().manual_seed(0), block=16, num_samples=30)
    assert draws.shape == (50, 30)
    assert not torch.isinf(logits[0, draws.flatten()]).any()
    one = sample_categorical(torch.tensor([[float("-inf"), 3.0, float("-inf")]]), num_samples=5)
    assert one.tolist() == [[1] * 5]


def test_fused_linear_sampler_matches_softmax_and_bans_minus_inf():
    g = torch.Generator().manual_seed(1)
    weight, bias = torch.randn(10, 4, generator=g), torch.randn(10, generator=g)
    bias[3] = float("-inf")
    hidden = torch.tanh(torch.randn(1, 4, generator=g))
    n = 40_000
    draws = sample_linear_softmax(hidden.expand(n, 4), weight, bias, torch.Generator().manual_seed(0), rows=999)
    probs = torch.softmax(hidden @ weight.t() + bias, -1)[0]
    assert not (draws == 3).any()
    keep = probs > 0
    counts = torch.bincount(draws, minlength=10)[keep].double()
    expected = probs[keep].double() * n
    assert float(((counts - expected) ** 2 / expected).sum()) < CHI2_999[9]


def test_underflowing_rows_fall_back_to_the_exact_sampler():
    # A huge weight norm makes the bound loose: every shifted logit underflows, the fallback draws.
    weight = torch.tensor([[500.0, -500.0], [0.0, 0.0], [0.0, 1.0]])
    hidden = torch.zeros(2000, 2)
    draws = sample_linear_softmax(hidden, weight, torch.zeros(3), torch.Generator().manual_seed(0))
    assert torch.bincount(draws, minlength=3).min() > 550  # uniform over 3 tokens


def test_generator_fast_path_has_the_step_distribution():
    torch.manual_seed(0)
    g = LSTMGenerator(6, 4, 5, max_len=1, start_token=1, pad_id=0, eos_id=2, init_std=0.8)
    n = 30_000
    draws = g.sample(n, generator=torch.Generator().manual_seed(0))[:, 0]
    logits, _ = g.step(g.initial_tokens(1), None)
    probs = torch.softmax(g.ban_specials(logits), -1)[0].detach()
    assert not ((draws == 0) | (draws == 1)).any()
    keep = probs > 0
    counts = torch.bincount(draws, minlength=6)[keep].double()
    expected = probs[keep].double() * n
    assert float(((counts - expected) ** 2 / expected).sum()) < 18.47  # chi2(3) 99.9 %
