"""Monte Carlo rollouts over any step-wise policy: the delayed rollout policy and the rewards of prefixes."""

from __future__ import annotations

import copy
from typing import Any, Callable, Protocol

import torch
from torch import Tensor, nn

from ..models.sampling import sample_categorical

State = Any


class RolloutPolicy(Protocol):
    """What a generator offers Monte Carlo rollouts (``LSTMGenerator`` does)."""

    def step(self, tokens: Tensor, state: State | None) -> tuple[Tensor, State]:
        """Read ``tokens`` (B,), return next-token logits (B, V) and the new state."""

    def step_sample(self, tokens: Tensor, state: State | None,
                    generator: torch.Generator | None = None) -> tuple[Tensor, State]:
        """Read ``tokens`` (B,), draw the next tokens (B,) from ``ban_specials(logits)``, return
        them and the new state (a fused, exact form of ``step`` + sampling)."""

    def initial_tokens(self, n: int, device: torch.device | None = None) -> Tensor:
        """(n,) start tokens."""

    def reorder_state(self, state: State, index: Tensor) -> State:
        """The state of rows ``index`` (R,), in that order."""

    def concat_states(self, states: list[State]) -> State:
        """The rows of several states, stacked in order."""

    def ban_specials(self, logits: Tensor) -> Tensor:
        """Sampling restrictions applied to (B, V) logits (identity when there are none)."""

    def finish(self, tokens: Tensor) -> Tensor:
        """(B, T) sequences with everything after the end-of-sequence token replaced by padding."""

    # Conditional policies (docs/conditional.md) also offer ``initial_state(labels (B,)) -> State``: the
    # state before the first step, which carries the labels through reorder_state / concat_states.
    # Optional: ``begin_rollouts()``, called once before a batch of rollouts (a transformer sampling
    # in bfloat16 refreshes its bfloat16 copy of the weights there; see textgan/models/hf.py).


ProbFn = Callable[..., Tensor]  # (R, T) int64 sequences [, (R,) labels] -> (R,) probability of "real"


# --------------------------------------------------------------------------- the delayed policy


def make_rollout_policy(generator: nn.Module) -> nn.Module:
    """A frozen copy of ``generator`` in eval mode, to be moved towards it by :func:`update_rollout_policy`."""
    rollout = copy.deepcopy(generator)
    rollout.eval()
    rollout.requires_grad_(False)
    return rollout


@torch.no_grad()
def update_rollout_policy(rollout: nn.Module, generator: nn.Module, update_rate: float,
                          copy_prefixes: tuple[str, ...] = ("embedding.",)) -> None:
    """Move the rollout policy towards the generator: ``theta_r <- rate * theta_r + (1 - rate) * theta_g``.

    This is SeqGAN's ``ROLLOUT.update_params`` (LantaoYu/SeqGAN rollout.py, ``update_rate = 0.8``):
    the LSTM and output weights are averaged with weight ``update_rate`` on the old rollout
    values, while the embedding is copied from the generator directly (their ``g_embeddings =
    tf.identity(lstm.g_embeddings)``). torch's two LSTM bias vectors are averaged separately,
    which averages their sum, SeqGAN's single bias, identically.

    Note: in the original TF graph the sampling ops were built once from ``tf.identity`` reads of
    the generator's variables, so ``update_params`` never reached them and the rollouts always
    used the current generator (LantaoYu/SeqGAN issues #23, #29). ``update_rate = 0`` reproduces
    that behaviour; 0.8 is the delayed copy the code intended.

    Args:
        rollout: the rollout policy (same architecture and parameter names as ``generator``).
        generator: the policy being trained.
        update_rate: weight of the old rollout parameters, in [0, 1].
        copy_prefixes: parameters whose names start with one of these are copied outright.
    """
    if not 0.0 <= update_rate <= 1.0:
        raise ValueError(f"update_rate must be in [0, 1], got {update_rate}")
    source = dict(generator.named_parameters())
    for name, p in rollout.named_parameters():
        g = source[name].detach()
        if name.startswith(copy_prefixes):
            p.copy_(g)
        else:
            p.mul_(update_rate).add_(g, alpha=1.0 - update_rate)


# --------------------------------------------------------------------------- rewards


def _score(completions: Tensor, prob_fn: ProbFn, chunk_size: int, labels: Tensor | None = None) -> Tensor:
    """D(real) of (R, T) sequences in row chunks: (R,) float32 (given each row's label when ``labels`` (R,))."""
    if labels is not None:
        return torch.cat([prob_fn(completions[i:i + chunk_size], labels[i:i + chunk_size]).float()
                          for i in range(0, completions.size(0), chunk_size)])
    return torch.cat([prob_fn(completions[i:i + chunk_size]).float() for i in range(0, completions.size(0), chunk_size)])


def _start_state(rollout_policy: RolloutPolicy, labels: Tensor | None) -> State | None:
    """The state before the first step: None, or a conditional policy's ``initial_state(labels)``."""
    return None if labels is None else rollout_policy.initial_state(labels)


def _stepped_prefixes(tokens: Tensor, rollout_policy: RolloutPolicy,
                      labels: Tensor | None = None) -> tuple[list[State], list[Tensor]]:
    """The teacher-forced pass: after reading start, y_1..y_t the policy holds state s_t and gives
    the logits of y_{t+1}; returns both for the prefix lengths t = 1..T-1 (logits with specials banned)."""
    tok, state = rollout_policy.initial_tokens(tokens.size(0), tokens.device), _start_state(rollout_policy, labels)
    states, logits_list = [], []
    for t in range(tokens.size(1)):
        logits, state = rollout_policy.step(tok, state)
        if t >= 1:
            states.append(state)
            logits_list.append(rollout_policy.ban_specials(logits))
        tok = tokens[:, t]
    return states, logits_list


@torch.no_grad()
def monte_carlo_rewards(tokens: Tensor, rollout_policy: RolloutPolicy, discriminator_prob_fn: ProbFn,
                        num_rollouts: int, *, generator: torch.Generator | None = None,
                        chunk_size: int = 4096, labels: Tensor | None = None) -> Tensor:
    """SeqGAN's action values by Monte Carlo search (Yu et al., 2017, eq. 4), all prefixes at once.

    For t < T, ``Q[b, t - 1]`` (1-based t) is the mean over ``num_rollouts`` completions of
    ``tokens[b, :t]``, sampled by ``rollout_policy``, of the discriminator's probability that the
    completed sequence is real; ``Q[b, T - 1]`` is the discriminator's probability of the whole
    sequence. Completions pass through ``rollout_policy.finish`` (after an end-of-sequence token
    everything becomes padding) before the discriminator sees them.

    Every prefix of every row is completed in one batch: one teacher-forced pass of the rollout
    policy gives the state after each prefix and the distribution of its next token (shared by
    its ``num_rollouts`` completions, so it is computed once); then a loop over the remaining
    positions steps all active completions together. Completion rows are ordered by prefix
    length, so at position p the active rows (prefixes of length <= p) are a leading slice of the
    rows and no finished row is ever stepped: B * N * (T - 1)(T - 2) / 2 policy steps in all, the
    same count as the sequential algorithm. Row slices of ``chunk_size`` bound the memory of
    the (rows x V) logits and of the discriminator's input.

    Args:
        tokens: (B, T) int64 sequences sampled by the generator (already finished).
        rollout_policy: the policy that completes prefixes (see :class:`RolloutPolicy`).
        discriminator_prob_fn: (R, T) int64 -> (R,) float probability of "real" (no gradients).
        num_rollouts: N, completions per prefix (SeqGAN: 16).
        generator: randomness of the completions.
        chunk_size: rows stepped, sampled or scored at a time.
        labels: (B,) int64 conditioning of a conditional run, or None: the policy starts from
            ``rollout_policy.initial_state(labels)`` (its state carries them through reordering)
            and every completion of row b is scored ``discriminator_prob_fn(tokens, labels)`` with
            ``labels[b]``.

    Returns:
        (B, T) float32 rewards on ``tokens``' device.
    """
    B, T = tokens.shape
    N = num_rollouts
    if N < 1:
        raise ValueError(f"num_rollouts must be >= 1, got {N}")
    if getattr(rollout_policy, "rollout_order", "position") == "prefix":
        return prefix_order_rewards(tokens, rollout_policy, discriminator_prob_fn, N, generator=generator,
                                    chunk_size=chunk_size, labels=labels)
    device = tokens.device
    last = _score(rollout_policy.finish(tokens), discriminator_prob_fn, chunk_size, labels)  # (B,)
    prepare = getattr(rollout_policy, "begin_rollouts", None)
    if prepare is not None:  # e.g. a transformer refreshes its low-precision copy of the weights once
        prepare()
    if T == 1:
        return last.unsqueeze(1)

    prefix_states, prefix_logits = _stepped_prefixes(tokens, rollout_policy, labels)

    # Completion rows: prefix length t = 1..T-1 (outer), rollout n, batch row b (inner).
    group = N * B
    completions = tokens.repeat((T - 1) * N, 1)  # ((T-1)*N*B, T), holding the prefixes already
    repeat_rows = torch.arange(B, device=device).repeat(N)  # (N*B,) row b of each rollout
    state, last_tokens = None, None
    for p in range(1, T):  # position being sampled (0-based); prefixes of length <= p are active
        new_tokens = []
        new_states = []
        if state is not None:  # continue the completions of prefixes shorter than p
            active = last_tokens.size(0)
            for r in range(0, active, chunk_size):
                if active <= chunk_size:  # one chunk: the whole state, no copy (a transformer's cache is large)
                    rows_tokens, rows_state = last_tokens, state
                else:
                    rows = torch.arange(r, min(r + chunk_size, active), device=device)
                    rows_tokens, rows_state = last_tokens[rows], rollout_policy.reorder_state(state, rows)
                tok, st = rollout_policy.step_sample(rows_tokens, rows_state, generator)
                new_tokens.append(tok)
                new_states.append(st)
        # The prefix of length p joins: N draws per row from its shared next-token distribution.
        draws = sample_categorical(prefix_logits[p - 1], generator, num_samples=N)  # (B, N)
        new_tokens.append(draws.t().reshape(group))
        new_states.append(rollout_policy.reorder_state(prefix_states[p - 1], repeat_rows))
        last_tokens = torch.cat(new_tokens)
        state = rollout_policy.concat_states(new_states)
        completions[:p * group, p] = last_tokens

    row_labels = None if labels is None else labels.repeat((T - 1) * N)  # completion row r continues row r % B
    scores = _score(rollout_policy.finish(completions), discriminator_prob_fn, chunk_size, row_labels)
    partial = scores.view(T - 1, N, B).mean(dim=1).t()  # (B, T-1)
    return torch.cat([partial, last.unsqueeze(1)], dim=1)


@torch.no_grad()
def prefix_order_rewards(tokens: Tensor, rollout_policy: RolloutPolicy, discriminator_prob_fn: ProbFn,
                         num_rollouts: int, *, generator: torch.Generator | None = None,
                         chunk_size: int = 4096, labels: Tensor | None = None) -> Tensor:
    """The estimate of :func:`monte_carlo_rewards`, completing one prefix length at a time.

    For a policy whose state is large and grows with the sequence (a transformer's key/value
    cache), stacking every active completion's state at every position copies all of them at
    every step. Here the N * B completions of the prefixes of length t form one group (in row
    chunks of ``chunk_size``): their state is made once from the prefix's
    (``rollout_policy.expand_state(state, rows, capacity=T)``, which may allocate room to grow
    in place; else ``reorder_state``) and stepped to the end. The prefix states and next-token
    logits come from ``rollout_policy.prefix_pass(tokens)`` when it has one (one teacher-forced
    pass), else from stepping. Policies choose this order with ``rollout_order = "prefix"``.

    Args and Returns: as :func:`monte_carlo_rewards` (the same distribution; the random numbers
    are drawn in another order, so the values differ under the same seed).
    """
    B, T = tokens.shape
    N = num_rollouts
    device = tokens.device
    last = _score(rollout_policy.finish(tokens), discriminator_prob_fn, chunk_size, labels)  # (B,)
    prepare = getattr(rollout_policy, "begin_rollouts", None)
    if prepare is not None:
        prepare()
    if T == 1:
        return last.unsqueeze(1)
    if hasattr(rollout_policy, "prefix_pass"):
        states, logits = rollout_policy.prefix_pass(tokens)  # logits[:, t] give y_{t+1}

        def next_logits(t: int) -> Tensor:
            return rollout_policy.ban_specials(logits[:, t])
    else:
        states, stepped = _stepped_prefixes(tokens, rollout_policy, labels)

        def next_logits(t: int) -> Tensor:
            return stepped[t - 1]
    expand = getattr(rollout_policy, "expand_state", None)
    rows = torch.arange(B, device=device).repeat(N)  # completion n * B + b continues row b
    rewards = torch.empty(B, T, device=device, dtype=torch.float32)
    for t in range(1, T):  # prefixes of length t
        first = sample_categorical(next_logits(t), generator, num_samples=N).t().reshape(N * B)  # position t
        scores = []
        for c in range(0, N * B, chunk_size):
            index = rows[c:c + chunk_size]
            seq = tokens.index_select(0, index)
            tok = first[c:c + chunk_size]
            seq[:, t] = tok
            state = (expand(states[t - 1], index, T) if expand is not None
                     else rollout_policy.reorder_state(states[t - 1], index))
            for p in range(t + 1, T):
                tok, state = rollout_policy.step_sample(tok, state, generator)
                seq[:, p] = tok
            scores.append(_score(rollout_policy.finish(seq), discriminator_prob_fn, chunk_size,
                                 None if labels is None else labels.index_select(0, index)))
        rewards[:, t - 1] = torch.cat(scores).view(N, B).mean(dim=0)
    rewards[:, T - 1] = last
    return rewards


@torch.no_grad()
def sequential_monte_carlo_rewards(tokens: Tensor, rollout_policy: RolloutPolicy, discriminator_prob_fn: ProbFn,
                                   num_rollouts: int, *, generator: torch.Generator | None = None,
                                   labels: Tensor | None = None) -> Tensor:
    """The same estimate as :func:`monte_carlo_rewards`, computed as SeqGAN's code does.

    A loop over rollouts i and prefix lengths t (LantaoYu/SeqGAN rollout.py ``get_reward``):
    for each, read the prefix teacher-forced, sample the rest of the batch's sequences step by
    step, score them. The reference for tests and benchmarks; slow by design.

    Args and Returns: as :func:`monte_carlo_rewards`.
    """
    B, T = tokens.shape
    device = tokens.device
    total = torch.zeros(B, T, device=device)

    def score(seq: Tensor) -> Tensor:
        return _score(rollout_policy.finish(seq), discriminator_prob_fn, max(B, 1), labels)

    for _ in range(num_rollouts):
        for t in range(1, T):
            seq = tokens.clone()
            tok, state = rollout_policy.initial_tokens(B, device), _start_state(rollout_policy, labels)
            for p in range(T):
                logits, state = rollout_policy.step(tok, state)
                if p < t:
                    tok = tokens[:, p]
                else:
                    tok = sample_categorical(rollout_policy.ban_specials(logits), generator)
                    seq[:, p] = tok
            total[:, t - 1] += score(seq)
        total[:, T - 1] += score(tokens)
    return total / num_rollouts
