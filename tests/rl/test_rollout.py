"""Monte Carlo rollout rewards: batched against the sequential reference, exact expectations."""

import itertools
import math

import pytest
import torch

from tests.rl.policies import TupleStatePolicy
from textgan.models.lstm_generator import LSTMGenerator
from textgan.rl.rollout import (make_rollout_policy, monte_carlo_rewards, sequential_monte_carlo_rewards,
                                update_rollout_policy)


def tiny_policy(vocab=4, T=4, **kw) -> LSTMGenerator:
    torch.manual_seed(0)
    g = LSTMGenerator(vocab, embed_dim=4, hidden_dim=6, max_len=T, start_token=0, init_std=0.8, **kw)
    return make_rollout_policy(g)


def table_discriminator(vocab: int, T: int, seed: int = 3):
    """D(y) = sigmoid(sum_t w[y_t, t]): a fixed function of the whole sequence."""
    w = torch.randn(vocab, T, generator=torch.Generator().manual_seed(seed))

    def prob(tokens):
        return torch.sigmoid(w[tokens, torch.arange(tokens.size(1))].sum(dim=1))

    return prob


def exact_rewards(tokens, policy, prob):
    """Enumerate every completion of every prefix: the exact expectation of D."""
    B, T = tokens.shape
    V = policy.vocab_size
    out = torch.zeros(B, T, dtype=torch.float64)
    with torch.no_grad():
        for b in range(B):
            for t in range(1, T + 1):
                tails = list(itertools.product(range(V), repeat=T - t))
                seqs = torch.tensor([tokens[b, :t].tolist() + list(tail) for tail in tails])
                logp = policy.log_prob(seqs)[:, t:].sum(dim=1).double()
                out[b, t - 1] = (logp.exp() * prob(seqs).double()).sum()
    return out


class Deterministic(TupleStatePolicy, torch.nn.Module):
    """A policy that always continues with (previous token + 1) mod V (-inf elsewhere)."""

    def __init__(self, vocab: int):
        super().__init__()
        self.vocab_size = vocab
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def initial_tokens(self, n, device=None):
        return torch.zeros(n, dtype=torch.long, device=device)

    def step(self, tokens, state):
        logits = torch.full((tokens.size(0), self.vocab_size), float("-inf"))
        logits[torch.arange(tokens.size(0)), (tokens + 1) % self.vocab_size] = 0.0
        return logits, (tokens.unsqueeze(0).unsqueeze(-1).float(),)

    def step_sample(self, tokens, state, generator=None):
        return (tokens + 1) % self.vocab_size, (tokens.unsqueeze(0).unsqueeze(-1).float(),)


def test_deterministic_policy_gives_identical_exact_rewards():
    policy = Deterministic(5)
    tokens = torch.tensor([[3, 3, 1, 4, 2], [0, 0, 0, 0, 0]])
    prob = lambda s: (s == 3).sum(dim=1).float() / 8  # exact binary fractions
    fast = monte_carlo_rewards(tokens, policy, prob, 3, generator=torch.Generator().manual_seed(0), chunk_size=4)
    slow = sequential_monte_carlo_rewards(tokens, policy, prob, 3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(fast, slow)
    # Row 0: prefix [3] -> 3 4 0 1 2 (one 3); [3,3] -> 3 3 4 0 1 (two); [3,3,1] -> 3 3 1 2 3 (three);
    # [3,3,1,4] -> 3 3 1 4 0 (two); the full row has two.
    assert fast[0].tolist() == [1 / 8, 2 / 8, 3 / 8, 2 / 8, 2 / 8]
    assert fast[1].tolist() == [1 / 8, 1 / 8, 0.0, 0.0, 0.0]  # 01234, 00123, 00012, 00001, 00000


def test_shapes_range_and_last_column_is_the_discriminator_score():
    policy = tiny_policy(vocab=7, T=6)
    tokens = torch.randint(0, 7, (3, 6), generator=torch.Generator().manual_seed(1))
    prob = table_discriminator(7, 6)
    r = monte_carlo_rewards(tokens, policy, prob, 5, generator=torch.Generator().manual_seed(0))
    assert r.shape == (3, 6) and r.dtype == torch.float32
    assert ((r >= 0) & (r <= 1)).all()
    assert torch.allclose(r[:, -1], prob(tokens), atol=0, rtol=0)


def test_batched_and_sequential_estimate_the_exact_expectation():
    policy = tiny_policy()
    tokens = torch.tensor([[1, 2, 3, 0], [3, 3, 1, 2]])
    prob = table_discriminator(4, 4)
    exact = exact_rewards(tokens, policy, prob)
    n_fast, n_slow = 3000, 150
    fast = monte_carlo_rewards(tokens, policy, prob, n_fast, generator=torch.Generator().manual_seed(0)).double()
    slow = sequential_monte_carlo_rewards(tokens, policy, prob, n_slow, generator=torch.Generator().manual_seed(1)).double()
    # Standard errors from the variance of D over completions (computed exactly: E[D^2] - E[D]^2).
    sq = exact_rewards(tokens, policy, lambda s: prob(s) ** 2)
    sd = (sq - exact ** 2).clamp(min=0).sqrt()
    for est, n in ((fast, n_fast), (slow, n_slow)):
        z = (est - exact)[:, :-1].abs() / (sd[:, :-1] / math.sqrt(n))
        assert z.max() < 4.5, z
        assert torch.allclose(est[:, -1], exact[:, -1], atol=1e-6)
    both = (fast - slow)[:, :-1].abs() / (sd[:, :-1] * math.sqrt(1 / n_fast + 1 / n_slow))
    assert both.max() < 4.5


def test_rewards_approach_the_expectation_as_rollouts_grow():
    policy = tiny_policy(vocab=3, T=3)
    tokens = torch.tensor([[2, 1, 0]])
    prob = table_discriminator(3, 3)
    exact = exact_rewards(tokens, policy, prob)
    err = [(monte_carlo_rewards(tokens, policy, prob, n, generator=torch.Generator().manual_seed(5)).double() - exact)
           .abs().max().item() for n in (10, 20000)]
    assert err[1] < 0.01 and err[1] < err[0]


def test_text_completions_are_finished_before_the_discriminator_sees_them():
    torch.manual_seed(0)
    g = LSTMGenerator(8, 4, 6, max_len=5, start_token=1, pad_id=0, eos_id=2)
    policy = make_rollout_policy(g)
    tokens = torch.tensor([[5, 2, 0, 0, 0], [4, 6, 7, 3, 2]])
    seen = []

    def prob(s):
        seen.append(s.clone())
        return (s == 0).sum(dim=1).float() / 8

    r = monte_carlo_rewards(tokens, policy, prob, 6, generator=torch.Generator().manual_seed(0))
    for s in seen:
        assert torch.equal(s, g.finish(s))  # nothing but padding after an eos
        assert not (s == 1).any()  # the start token is never sampled
    # Once the prefix holds the eos, every completion equals the sequence itself.
    assert torch.equal(r[0, 1:], torch.full((4,), 3 / 8))


def test_rollout_policy_update_formula():
    torch.manual_seed(0)
    g = LSTMGenerator(6, 4, 5, max_len=4)
    rollout = make_rollout_policy(g)
    old = {k: v.clone() for k, v in rollout.named_parameters()}
    with torch.no_grad():
        for p in g.parameters():
            p.add_(1.0)
    update_rollout_policy(rollout, g, 0.8)
    new = dict(g.named_parameters())
    for name, p in rollout.named_parameters():
        expected = new[name] if name == "embedding.weight" else 0.8 * old[name] + 0.2 * new[name]
        assert torch.allclose(p, expected, atol=1e-6), name
    assert not any(p.requires_grad for p in rollout.parameters())
    update_rollout_policy(rollout, g, 0.0)
    assert all(torch.equal(p, new[n]) for n, p in rollout.named_parameters())
    with pytest.raises(ValueError):
        update_rollout_policy(rollout, g, 1.5)
