"""LeakGAN's training signals as pure functions: rollout rewards every c steps, rescaled
activation, the Manager's goal loss and the Worker's intrinsic reward (Guo et al., 2018)."""

from __future__ import annotations

from dataclasses import dataclass

from typing import Literal

import torch
from torch import Tensor, nn

from ..models.leakgan import block_bounds, block_cosines, cosine, manager_loss  # defined next to the model; re-exported here
from ..models.sampling import sample_categorical


def worker_intrinsic_rewards(features: Tensor, goals: Tensor, block_goals: Tensor, step_size: int,
                             form: Literal["code", "paper"] = "code") -> Tensor:
    """The Worker's intrinsic reward of every token, one cosine per position.

    ``form="code"`` (the terms of CR-Gjx/LeakGAN ``Worker_Reward``): token t of block k = t // c
    is rewarded by ``cos(f_{t+1} - f_{kc}, G_k)``, how far the prefix has moved, since the block
    started, in the direction of the goal steering the block. The code itself then averages these
    terms over the batch and the positions (``tf.losses.cosine_distance`` at its default
    reduction) and gives every token that one number: :func:`batch_mean_rewards` of this.

    ``form="paper"`` (Guo et al., eq. 9): ``(1/c) sum_{i=1..c} cos(f_{t+1} - f_{t+1-i},
    g_{t+1-i})`` with the unit goals g; terms with t + 1 - i < 0 are left out (the mean is over
    the terms present).

    Args:
        features: (B, T + 1, F) f_0..f_T.
        goals: (B, >= T, F) unit goals g_0..g_{T-1} (``form="paper"`` only).
        block_goals: (B, nb, F) G_k (``form="code"`` only).
        step_size: c.
        form: which definition.

    Returns:
        (B, T) float32, no gradient.
    """
    with torch.no_grad():
        T = features.size(1) - 1
        c = step_size
        t = torch.arange(T, device=features.device)
        if form == "code":
            block = t // c
            change = features[:, 1:] - features.index_select(1, block * c)  # (B, T, F)
            return cosine(change, block_goals.index_select(1, block))
        if form != "paper":
            raise ValueError(f"form must be 'code' or 'paper', got {form!r}")
        total = features.new_zeros(features.size(0), T)
        count = torch.zeros(T, device=features.device)
        for i in range(1, c + 1):
            past = t + 1 - i
            ok = past >= 0
            idx = past.clamp(min=0)
            term = cosine(features[:, 1:] - features.index_select(1, idx), goals.index_select(1, idx))
            total += term * ok
            count += ok
        return total / count


def batch_mean_rewards(rewards: Tensor) -> Tensor:
    """Every entry replaced by the mean of all: CR-Gjx/LeakGAN's batch-mean intrinsic reward.

    ``1 - tf.losses.cosine_distance(a, b, dim)`` with the default reduction
    (``SUM_BY_NONZERO_WEIGHTS``, weights 1) is the mean cosine over every other axis: one scalar
    for the batch, so no token gets credit of its own.

    Args:
        rewards: (B, T) per-position cosines.

    Returns:
        (B, T), constant.
    """
    return rewards.mean().expand_as(rewards)


def batch_mean_manager_loss(block_goals: Tensor, features: Tensor, rewards: Tensor | None, step_size: int) -> Tensor:
    """CR-Gjx/LeakGAN's ``goal_loss`` as the TF code computes it: ``-mean_{b,k}(Q_k) * mean_{b,k}(cos_{b,k})``.

    The code's ``-sum(Q * (1 - cosine_distance(...))) / (B T / c)`` with ``cosine_distance`` at
    its default reduction, a batch-mean scalar: the rewards only scale the mean cosine. With
    rank-rescaled rewards mean(Q) is nearly the same in every batch, so the Manager's adversarial
    update is, up to that factor, its pretraining goal loss. Same arguments as
    :func:`manager_loss`.
    """
    B, nb, _ = block_goals.shape
    cos = block_cosines(block_goals, features, step_size)  # (B, nb)
    q = cos.new_ones(()) if rewards is None else rewards.detach().sum() / (B * nb)
    return -q * cos.mean()


CosineReduction = Literal["per_position", "batch_mean"]


def worker_loss(log_probs: Tensor, rewards: Tensor) -> Tensor:
    """REINFORCE with the intrinsic reward: ``-sum_{b,t} r_t log G(y_t | ...) / (B T)`` (CR-Gjx ``worker_loss``).

    Args:
        log_probs: (B, T) log-probabilities of the tokens (0 at padding), with gradient.
        rewards: (B, T) intrinsic rewards, constants.

    Returns:
        scalar float.
    """
    return -(log_probs * rewards.detach()).sum() / log_probs.numel()


def rescale_rewards(rewards: Tensor, delta: float = 16.0) -> Tensor:
    """Bootstrapped rescaled activation (Guo et al., Sec. 3): ``sigmoid(delta (0.5 - rank / B))``.

    Within each column (a goal block), rewards are ranked across the batch from high to low
    (rank 1 = highest); tied rewards share the best rank of the tie. CR-Gjx/LeakGAN ``rescale``
    uses the same formula, written ``sigmoid(16 idx / B - 8)`` with ``idx`` counting from the
    low end, but takes ``idx`` from the iteration order of a dict of the rewards, not from their
    sorted order (under Python 3 the batch order), so its "rank" ignores the values; we rank by
    value, as the paper describes.

    Args:
        rewards: (B, N) float.
        delta: the sharpness (16 in the code).

    Returns:
        (B, N) float in (0, 1).
    """
    B = rewards.size(0)
    rank = (rewards.unsqueeze(0) > rewards.unsqueeze(1)).sum(dim=1) + 1  # (B, N): 1 + number of larger rewards
    return torch.sigmoid(delta * (0.5 - rank.to(rewards.dtype) / B))


@torch.no_grad()
def block_rewards(tokens: Tensor, rollout_policy: nn.Module, discriminator: nn.Module, *, num_rollouts: int = 4,
                  step_size: int = 4, generator: torch.Generator | None = None, chunk_size: int = 4096) -> Tensor:
    """Monte Carlo action values at the end of every goal block (CR-Gjx/LeakGAN ``get_reward``).

    For block k ending at prefix length L = (k + 1) c < T: the mean over ``num_rollouts``
    completions of ``tokens[:, :L]`` by ``rollout_policy`` of D's probability of "real"; for the
    last block, D's probability of the sequence itself. The prefix is read once per row, its
    state repeated for the completions (one batch of ``num_rollouts * B`` rows per block).

    Args:
        tokens: (B, T) int64 generated sequences.
        rollout_policy: a policy with ``initial_tokens``, ``step``, ``reorder_state``,
            ``ban_specials`` and ``finish``, and optionally ``step_sample`` (read and draw in one
            call); the reference uses the current generator. A ``LeakGANGenerator`` reads the
            discriminator at its ``max_len``, which must be T.
        discriminator: a model with ``prob_real(tokens) -> (B,)``; run in eval mode here.
        num_rollouts: completions per prefix (4 in the code).
        step_size: c.
        generator: randomness of the completions.
        chunk_size: rows scored by the discriminator at a time.

    Returns:
        (B, ceil(T / c)) float32 in [0, 1].
    """
    B, T = tokens.shape
    device = tokens.device
    starts, ends = block_bounds(T, step_size)
    was_training = discriminator.training
    discriminator.eval()
    try:
        def score(seqs: Tensor) -> Tensor:
            seqs = rollout_policy.finish(seqs)
            return torch.cat([discriminator.prob_real(seqs[i:i + chunk_size]).float()
                              for i in range(0, seqs.size(0), chunk_size)])

        out = torch.empty(B, len(ends), device=device)
        out[:, -1] = score(tokens)
        given = [int(e) for e in ends[:-1]]
        if given:
            tok, state, snapshots = rollout_policy.initial_tokens(B, device), None, {}
            for t in range(max(given) + 1):  # after reading start, y_0..y_{t-1}: the logits of y_t
                logits, state = rollout_policy.step(tok, state)
                if t in given:
                    snapshots[t] = (logits, state)
                if t < T:
                    tok = tokens[:, t]
            repeat = torch.arange(B, device=device).repeat(num_rollouts)  # rollout-major, row inner
            fused = hasattr(rollout_policy, "step_sample")  # read and draw in one call (no (R, V) logits)
            for k, L in enumerate(given):
                logits, state = snapshots[L]
                logits, state = logits.index_select(0, repeat), rollout_policy.reorder_state(state, repeat)
                seqs = tokens.index_select(0, repeat).clone()
                nxt = sample_categorical(rollout_policy.ban_specials(logits), generator)
                seqs[:, L] = nxt
                for p in range(L + 1, T):
                    if fused:
                        nxt, state = rollout_policy.step_sample(nxt, state, generator)
                    else:
                        logits, state = rollout_policy.step(nxt, state)
                        nxt = sample_categorical(rollout_policy.ban_specials(logits), generator)
                    seqs[:, p] = nxt
                out[:, k] = score(seqs).view(num_rollouts, B).mean(dim=0)
        return out
    finally:
        discriminator.train(was_training)


def leakgan_rewards(tokens: Tensor, rollout_policy: nn.Module, discriminator: nn.Module, *, num_rollouts: int = 4,
                    step_size: int | None = None, delta: float = 16.0, generator: torch.Generator | None = None,
                    chunk_size: int = 4096) -> Tensor:
    """LeakGAN's extrinsic reward per token: rescaled block values, constant within each block.

    :func:`block_rewards`, then :func:`rescale_rewards` within the batch, divided by
    ``num_rollouts`` as the code does (``rescale(rewards) / rollout_num``, a leftover of
    summing over rollouts; it scales the Manager's loss by 1/4).

    Args and Returns: as :func:`block_rewards` (plus ``delta``), but (B, T): position t holds
    the value of block t // c. ``step_size`` None reads the policy's ``step_size``.
    """
    step_size = step_size or rollout_policy.step_size
    q = block_rewards(tokens, rollout_policy, discriminator, num_rollouts=num_rollouts, step_size=step_size,
                      generator=generator, chunk_size=chunk_size)
    scaled = rescale_rewards(q, delta) / num_rollouts  # (B, nb)
    return scaled.repeat_interleave(step_size, dim=1)[:, :tokens.size(1)]


def leakgan_loss(generator: nn.Module, tokens: Tensor, rewards: Tensor, reduction: Literal["mean", "sum"] = "mean",
                 intrinsic: Literal["code", "paper"] = "code", temperature: float = 1.0,
                 cosine_reduction: CosineReduction = "per_position") -> Tensor:
    """One adversarial step's loss: Manager goal loss + Worker REINFORCE on the intrinsic reward.

    The two terms reach disjoint parameters (``LeakGANGenerator`` detaches the goals on the
    Worker's path), so one backward gives CR-Gjx/LeakGAN's ``manager_updates`` and
    ``worker_updates`` gradients.

    Everything with gradients comes from one call of the generator's ``forward``
    (``generator(tokens, output="terms", temperature=...)``), so ``generator`` may be a
    DistributedDataParallel wrapper of a ``LeakGANGenerator``.

    Args:
        generator: a ``LeakGANGenerator``, or a wrapper whose call runs its ``forward``.
        tokens: (B, T) int64 sampled sequences.
        rewards: (B, T) from :func:`leakgan_rewards` (constant within each block).
        reduction: "mean" (the code: divided by B * T / c and B * T) or "sum" (not divided).
        intrinsic: ``"code"`` or ``"paper"``, see :func:`worker_intrinsic_rewards`.
        temperature: the temperature ``tokens`` were sampled at: the Worker's REINFORCE term uses
            the log-probabilities of that tempered policy (as :func:`textgan.rl.losses.sampled_log_probs`).
            CR-Gjx/LeakGAN takes them at temperature 1, which is off-policy for tempered samples.
        cosine_reduction: ``"per_position"`` (the paper's equations, and TextGAN-PyTorch): one
            cosine per row and block in the Manager's loss, one per token in the Worker's reward.
            ``"batch_mean"`` (every TensorFlow LeakGAN: ``tf.losses.cosine_distance`` at its default
            reduction): the Manager's loss is :func:`batch_mean_manager_loss` and every token's
            intrinsic reward is the batch-mean cosine (:func:`batch_mean_rewards`).

    Returns:
        scalar float.
    """
    terms = generator(tokens, output="terms", temperature=temperature)  # forward: works through a DDP wrapper
    c, log_probs = terms.step_size, terms.log_probs
    if cosine_reduction not in ("per_position", "batch_mean"):
        raise ValueError(f"cosine_reduction must be 'per_position' or 'batch_mean', got {cosine_reduction!r}")
    r = worker_intrinsic_rewards(terms.features, terms.goals, terms.block_goals, c, intrinsic)
    if cosine_reduction == "batch_mean":
        manager = batch_mean_manager_loss(terms.block_goals, terms.features, rewards[:, ::c], c)
        r = batch_mean_rewards(r)
    else:
        manager = manager_loss(terms.block_goals, terms.features, rewards[:, ::c], c)
    worker = worker_loss(log_probs, r)
    if reduction == "sum":
        return manager * terms.block_goals[:, :, 0].numel() + worker * log_probs.numel()
    return manager + worker


@dataclass(frozen=True)
class LeakGANRewardConfig:
    """Recipe keys of the ``leakgan`` reward (``adversarial: {reward: leakgan, ...}``)."""

    num_rollouts: int = 16  # completions per block prefix (LeakGAN's code: 4)
    rollout_chunk_size: int = 4096  # rows scored by the discriminator at a time

    def __post_init__(self) -> None:
        if self.num_rollouts < 1 or self.rollout_chunk_size < 1:
            raise ValueError("adversarial.num_rollouts and rollout_chunk_size must be positive")

    def kwargs(self) -> dict:
        """Keyword arguments of :func:`leakgan_rewards`."""
        return {"num_rollouts": self.num_rollouts, "chunk_size": self.rollout_chunk_size}


@dataclass(frozen=True)
class LeakGANLossConfig:
    """Recipe keys of the ``leakgan`` loss (``adversarial: {loss: leakgan, ...}``)."""

    loss_reduction: Literal["sum", "mean"] = "sum"  # LeakGAN's code: mean
    # per_position: the paper's equations (one cosine per block / token); batch_mean: the TF code's
    # tf.losses.cosine_distance, one batch-mean cosine (docs/leakgan.md, "Two forms of the cosine")
    cosine_reduction: CosineReduction = "per_position"

    def __post_init__(self) -> None:
        if self.cosine_reduction not in ("per_position", "batch_mean"):
            raise ValueError("adversarial.cosine_reduction must be 'per_position' or 'batch_mean', "
                             f"got {self.cosine_reduction!r}")

    def kwargs(self) -> dict:
        """Keyword arguments of :func:`leakgan_loss`."""
        return {"reduction": self.loss_reduction, "cosine_reduction": self.cosine_reduction}
