"""Rewards against exact expectations, enumerated on a tiny vocabulary (issue 14, item 4).

Two policies whose completions depend on each row's state: ``MemoryPolicy``, written here with a
closed-form probability (its next token leans towards ``(first token + position) % V`` and the
token just read), and a real ``LeakGANGenerator`` whose exact completion probabilities come from
its teacher-forced forward pass, an independent path from the step-wise sampling that the
rollouts use. The scoring discriminator is a fixed table, so D's value at every position counts.

Each Monte Carlo column is compared with the exact expectation through a z-score computed from
D's exact variance over the completions. The mutation check (``python -m tests.rl.mutations``)
shows that each injected reward bug fails here.
"""

import itertools
import math

import torch

from tests.rl.policies import TupleStatePolicy
from textgan.models.cnn_discriminator import CNNDiscriminator
from textgan.models.leakgan import LeakGANGenerator
from textgan.rl.leakgan import block_rewards, leakgan_rewards, rescale_rewards
from textgan.rl.rollout import make_rollout_policy, monte_carlo_rewards, sequential_monte_carlo_rewards
from textgan.models.sampling import sample_categorical

Z_MAX = 4.5


class MemoryPolicy(TupleStatePolicy, torch.nn.Module):
    """A stateful policy over V tokens (start token 0 is allowed, nothing is banned).

    State: (first, pos), each (1, B, 1) float: the first token read after the start token (-1
    before) and the number of tokens read. The logits of y_p are 2 at ``(first + p) % V`` (for
    p >= 1) plus 1 at the token just read; y_0 has ``FIRST_LOGITS``.
    """

    FIRST_LOGITS = torch.tensor([0.0, 0.5, 1.0, -0.5, 0.2])

    def __init__(self, vocab: int = 4):
        super().__init__()
        self.vocab_size = vocab
        self.step_size = 2

    def initial_tokens(self, n, device=None):
        return torch.zeros(n, dtype=torch.long, device=device)

    def step(self, tokens, state):
        B = tokens.size(0)
        if state is None:
            first, pos = torch.full((B,), -1.0), torch.zeros(B)
        else:
            first, pos = state[0].view(B), state[1].view(B)
            first = torch.where(pos == 1, tokens.float(), first)  # y_0 was just read
        pos = pos + 1
        logits = self.logits(first.long(), (pos - 1).long(), tokens)
        return logits, (first.view(1, B, 1), pos.view(1, B, 1))

    def logits(self, first, p, last):
        """(B, V) logits of y_p given the first token, the position and the token just read."""
        B, V = first.size(0), self.vocab_size
        out = torch.zeros(B, V)
        rows = torch.arange(B)
        at0 = p == 0
        out[at0] = self.FIRST_LOGITS[:V]
        later = ~at0
        out[rows[later], (first[later] + p[later]) % V] += 2.0
        out[rows[later], last[later]] += 1.0
        return out

    def step_sample(self, tokens, state, generator=None):
        logits, state = self.step(tokens, state)
        return sample_categorical(logits, generator), state


    def log_prob(self, seqs):
        """(N, T) exact log-probabilities of every token, in closed form (not through ``step``)."""
        N, T = seqs.shape
        out = torch.zeros(N, T, dtype=torch.float64)
        for p in range(T):
            first = seqs[:, 0] if p > 0 else torch.full((N,), -1)
            last = seqs[:, p - 1] if p > 0 else torch.zeros(N, dtype=torch.long)
            logp = torch.log_softmax(self.logits(first, torch.full((N,), p), last).double(), dim=1)
            out[:, p] = logp.gather(1, seqs[:, p:p + 1]).squeeze(1)
        return out


class TableDiscriminator(torch.nn.Module):
    """D(y) = sigmoid(sum_t w[y_t, t]) with large weights: every position moves D."""

    def __init__(self, vocab, T, seed=3, scale=1.5):
        super().__init__()
        self.w = torch.randn(vocab, T, generator=torch.Generator().manual_seed(seed)) * scale

    def prob_real(self, tokens):
        return torch.sigmoid(self.w[tokens, torch.arange(tokens.size(1))].sum(dim=1))


def exact_prefix_values(tokens, lengths, token_log_probs, prob, alphabet):
    """E[D] and Var[D] over completions of ``tokens[b, :L]`` for every L in ``lengths``: (B, len(lengths)) each.

    ``token_log_probs(seqs) -> (N, T)`` gives the exact log-probability of every token of
    ``seqs``; completions draw from ``alphabet``.
    """
    B, T = tokens.shape
    mean = torch.zeros(B, len(lengths), dtype=torch.float64)
    var = torch.zeros_like(mean)
    for b in range(B):
        for j, L in enumerate(lengths):
            tails = list(itertools.product(alphabet, repeat=T - L))
            seqs = torch.tensor([tokens[b, :L].tolist() + list(t) for t in tails])
            w = token_log_probs(seqs)[:, L:].sum(dim=1).exp()
            d = prob(seqs).double()
            assert abs(w.sum().item() - 1) < 1e-6  # the alphabet carries all the mass
            mean[b, j] = (w * d).sum()
            var[b, j] = (w * d * d).sum() - mean[b, j] ** 2
    return mean, var.clamp(min=0)


def assert_close_to_exact(estimate, exact, var, n):
    z = (estimate.double() - exact).abs() / (var.sqrt() / math.sqrt(n)).clamp(min=1e-12)
    assert z.max() < Z_MAX, f"z-scores against the exact expectation:\n{z}"


# --------------------------------------------------------------------------- LeakGAN block rewards

TOKENS = torch.tensor([[1, 3, 0, 2, 3, 1], [2, 2, 3, 1, 0, 0], [3, 0, 1, 1, 2, 3]])  # B = 3, T = 6, c = 2


def test_block_rewards_of_a_stateful_policy_equal_the_exact_expectation():
    policy, d = MemoryPolicy(4), TableDiscriminator(4, 6)
    n = 3000
    q = block_rewards(TOKENS, policy, d, num_rollouts=n, step_size=2, generator=torch.Generator().manual_seed(0))
    assert q.shape == (3, 3)
    exact, var = exact_prefix_values(TOKENS, [2, 4], policy.log_prob, d.prob_real, range(4))
    assert_close_to_exact(q[:, :2], exact, var, n)
    assert torch.allclose(q[:, 2], d.prob_real(TOKENS))  # the last block: D of the sequence itself
    # rewards per token: block k's rescaled value at positions 2k, 2k + 1
    r = leakgan_rewards(TOKENS, policy, d, num_rollouts=n, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(r, (rescale_rewards(q) / n).repeat_interleave(2, dim=1))


def test_block_rewards_with_a_step_size_that_does_not_divide_the_length():
    policy, d = MemoryPolicy(4), TableDiscriminator(4, 5, seed=5)
    tokens = TOKENS[:, :5]  # T = 5, c = 2: rollouts from prefixes 2 and 4, the last block is [4, 5)
    n = 3000
    q = block_rewards(tokens, policy, d, num_rollouts=n, step_size=2, generator=torch.Generator().manual_seed(1))
    exact, var = exact_prefix_values(tokens, [2, 4], policy.log_prob, d.prob_real, range(4))
    assert q.shape == (3, 3)
    assert_close_to_exact(q[:, :2], exact, var, n)
    assert torch.allclose(q[:, 2], d.prob_real(tokens))


def tiny_leakgan(vocab=5, T=6, c=2, init_std=1.0):
    torch.manual_seed(0)
    feat = CNNDiscriminator(vocab, embed_dim=4, filter_sizes=(1, 2), num_filters=(3, 3), dropout=0.0)
    with torch.no_grad():
        for p in feat.parameters():
            p.mul_(3.0)  # features that differ between prefixes
    g = LeakGANGenerator(vocab, embed_dim=4, hidden_dim=5, max_len=T, goal_out_size=feat.feature_dim, goal_size=3,
                         step_size=c, init_std=init_std, discriminator=feat)
    with torch.no_grad():
        for name, p in g.named_parameters():
            if name.startswith(("manager", "goal_projection")):
                p.mul_(3.0)  # goals that move the Worker's distribution visibly
    return make_rollout_policy(g)


def leakgan_token_log_probs(policy):
    """Exact (N, T) log-probabilities of sampling, from the teacher-forced pass (specials banned; none
    are without padding, so the start token 0 may be drawn too)."""

    def fn(seqs):
        with torch.no_grad():
            logits = policy(seqs)  # (N, T, V)
            logits = torch.stack([policy.ban_specials(logits[:, t]) for t in range(seqs.size(1))], dim=1)
            return torch.log_softmax(logits.double(), -1).gather(-1, seqs.unsqueeze(-1)).squeeze(-1)

    return fn


def test_leakgan_block_rewards_equal_the_exact_expectation():
    policy = tiny_leakgan()
    d = TableDiscriminator(5, 6, seed=7)
    tokens = torch.tensor([[1, 3, 4, 2, 3, 1], [2, 2, 3, 1, 4, 4], [4, 1, 1, 1, 2, 3]])
    n = 3000
    q = block_rewards(tokens, policy, d, num_rollouts=n, step_size=2, generator=torch.Generator().manual_seed(2))
    exact, var = exact_prefix_values(tokens, [2, 4], leakgan_token_log_probs(policy), d.prob_real, range(5))
    assert_close_to_exact(q[:, :2], exact, var, n)
    assert torch.allclose(q[:, 2], d.prob_real(tokens))


def test_leakgan_rollouts_depend_on_each_rows_state():
    """The same last token, different earlier prefixes: completions must follow each row's own
    Manager and Worker state (the exact values of the two rows differ by many standard errors)."""
    policy = tiny_leakgan()
    d = TableDiscriminator(5, 6, seed=7)
    tokens = torch.tensor([[1, 3, 4, 2, 3, 1], [4, 3, 4, 2, 3, 1], [2, 4, 1, 2, 3, 1], [3, 1, 2, 2, 3, 1]])
    n = 3000
    q = block_rewards(tokens, policy, d, num_rollouts=n, step_size=2, generator=torch.Generator().manual_seed(3))
    exact, var = exact_prefix_values(tokens, [2, 4], leakgan_token_log_probs(policy), d.prob_real, range(5))
    assert_close_to_exact(q[:, :2], exact, var, n)
    # rows share y_2..y_5, so the column of prefix 4 differs only through the rows' states
    spread = exact[:, 1].max() - exact[:, 1].min()
    assert spread > 10 * (var[:, 1].max().sqrt() / math.sqrt(n))


# --------------------------------------------------------------------------- SeqGAN rollout rewards


def test_seqgan_rewards_of_a_stateful_policy_equal_the_exact_expectation():
    policy, d = MemoryPolicy(4), TableDiscriminator(4, 5, seed=11)
    tokens = torch.tensor([[1, 3, 0, 2, 3], [2, 2, 3, 1, 0], [3, 0, 1, 1, 2], [0, 1, 2, 3, 0]])
    exact, var = exact_prefix_values(tokens, [1, 2, 3, 4], policy.log_prob, d.prob_real, range(4))
    n_fast, n_slow = 3000, 200
    fast = monte_carlo_rewards(tokens, policy, d.prob_real, n_fast, generator=torch.Generator().manual_seed(0),
                               chunk_size=7)
    slow = sequential_monte_carlo_rewards(tokens, policy, d.prob_real, n_slow, generator=torch.Generator().manual_seed(1))
    for est, n in ((fast, n_fast), (slow, n_slow)):
        assert est.shape == (4, 5)
        assert_close_to_exact(est[:, :4], exact, var, n)
        assert torch.allclose(est[:, 4], d.prob_real(tokens))


def test_leakgan_state_reordering_keeps_each_rows_manager_and_worker():
    """Read a prefix, reorder the rows (with repeats), read on: every later logit equals that of
    the reordered rows read from the start, and the teacher-forced pass (deterministic; a state
    that mixes rows, e.g. another row's Manager state, changes the logits of the next block)."""
    policy = tiny_leakgan()
    tokens = torch.tensor([[1, 3, 4, 2, 3, 1], [4, 3, 4, 2, 3, 1], [2, 4, 1, 2, 3, 1], [3, 1, 2, 2, 3, 1]])
    index = torch.tensor([2, 0, 3, 1, 1, 2])
    with torch.no_grad():
        want = policy(tokens.index_select(0, index))  # (6, T, V) teacher-forced
        for L in (1, 2, 3, 4):
            tok, state = policy.initial_tokens(4), None
            for t in range(L):  # read start, y_0..y_{L-2}; the logits of y_{L-1}
                _, state = policy.step(tok, state)
                tok = tokens[:, t]
            state, tok = policy.reorder_state(state, index), tok.index_select(0, index)
            for t in range(L, 6):
                logits, state = policy.step(tok, state)
                assert torch.allclose(logits, want[:, t], atol=1e-5), (L, t)
                tok = tokens.index_select(0, index)[:, t]
