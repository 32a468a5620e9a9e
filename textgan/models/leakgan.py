"""LeakGAN's hierarchical generator (Manager + Worker reading the discriminator's leaked features)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import TokenGenerator
from .sampling import filter_logits, sample_categorical, sample_linear, token_log_probs


class SharedModule:
    """A reference to a module that is shared, never copied.

    ``copy.deepcopy`` of a generator (the delayed rollout policy) keeps pointing at the same
    discriminator, so rollouts read the live feature extractor as in CR-Gjx/LeakGAN, whose
    rollout graph calls the discriminator's current ``FeatureExtractor_unit``. Holding the
    discriminator outside ``nn.Module`` attributes also keeps its parameters out of the
    generator's ``parameters()`` and ``state_dict()``.
    """

    def __init__(self, module: nn.Module | None) -> None:
        self.module = module

    def __deepcopy__(self, memo: dict) -> "SharedModule":
        return self


# --------------------------------------------------------------------------- incremental prefix features


@dataclass
class FeatureState:
    """Running state of :class:`IncrementalFeatures` after ``length`` tokens of B rows.

    ``open[i]`` (B, a, F_k) holds the partial sums of the width-k windows that exist (start
    s <= n - 1), have started and still lack tokens, ordered by how many real tokens they hold
    (the window with the fewest first); None when there are none.
    ``best[i]`` (B, F_k) is the running maximum over complete windows (-inf before the first).
    """

    length: int
    open: list[Tensor | None]
    best: list[Tensor]

    def index_select(self, index: Tensor) -> "FeatureState":
        return FeatureState(self.length, [None if o is None else o.index_select(0, index) for o in self.open],
                            [b.index_select(0, index) for b in self.best])


class IncrementalFeatures:
    """The discriminator's feature vector of a growing prefix, one token at a time.

    ``push`` after L tokens returns ``discriminator.prefix_features(tokens)[:, L - 1]`` (the
    length-T sequence with positions >= L holding the pad embedding) up to float rounding. A
    width-k window at start s only depends on tokens s..s+k-1, and only the starts s <= n - 1
    exist (n = max(T, k) - k + 1). The token at position p therefore enters the windows s = p - j
    for the slots j = max(0, p - n + 1)..min(p, k - 1): per width one (B, E) x (E, C) product over
    those slots' columns (for SeqGAN's widths at T = 20: 52 % of the k F_k columns of all slots on
    average over the 16 steps that need features, 64 % at most). A window that receives its k-th token enters a running
    maximum; windows crossing the prefix end add the pad embedding's products of their empty
    slots; windows wholly in the padding are one constant. This costs one token's products per step instead of
    re-running the CNN on every padded prefix (what CR-Gjx/LeakGAN does, ``cur_sen``).

    It copies the weights in the product dtype (the highway weight included): build a new one
    whenever the discriminator's parameters change (``LeakGANGenerator.initial_state`` builds
    one per sampling call).

    Args:
        discriminator: a ``CNNDiscriminator``.
        length: T, the full sequence length the discriminator sees.
    """

    def __init__(self, discriminator: nn.Module, length: int) -> None:
        d = discriminator
        self._shared, self.length = SharedModule(d), length  # shared: a deep copy must not copy the discriminator
        self.dtype = d.compute_dtype
        self.widths = tuple(d.filter_sizes)
        self.windows = tuple(d.num_windows(length, k) for k in self.widths)
        self.sizes = tuple(d.num_filters)
        with torch.no_grad():
            pad = d.pad_embedding().to(self.dtype)
            self.slot_matrices, tails = [], []
            for w in d.conv_weights:
                w = w.to(self.dtype)  # (F_k, k, E)
                self.slot_matrices.append(w.permute(2, 1, 0).reshape(w.size(2), -1))  # (E, k F_k), column j F_k + f
                pad_slot = torch.einsum("fke,e->kf", w, pad).float()  # (k, F_k)
                tails.append(torch.cat([pad_slot.flip(0).cumsum(0).flip(0), pad_slot.new_zeros(1, pad_slot.size(1))]))
            self.pad_tails = tails  # pad_tail[m] = sum_{j >= m} W_j . pad, (k + 1, F_k)
            self.biases = [b.detach() for b in d.conv_biases]
            self.highway_weight = d.highway.weight.detach().to(self.dtype)
            # Per position p and width: the slots j_lo..j_hi the token at p enters.
            self.slot_ranges = [[(max(0, p - n + 1), min(p, k - 1)) for k, n in zip(self.widths, self.windows)]
                                for p in range(length)]

    @property
    def discriminator(self) -> nn.Module:
        return self._shared.module

    def start(self, batch: int, device: torch.device | None = None) -> FeatureState:
        """The state of B empty prefixes."""
        return FeatureState(0, [None] * len(self.widths),
                            [torch.full((batch, n), float("-inf"), device=device) for n in self.sizes])

    def _highway(self, x: Tensor) -> Tensor:
        """The discriminator's highway layer with the weight cast once (see ``CNNDiscriminator._highway``)."""
        return self.discriminator._highway(x, weight=self.highway_weight)

    @torch.no_grad()
    def empty(self, device: torch.device | None = None) -> Tensor:
        """Features of the empty prefix (all padding): (1, F)."""
        pooled = [torch.relu(tail[0] + b).unsqueeze(0) for tail, b in zip(self.pad_tails, self.biases)]
        return self._highway(torch.cat(pooled, dim=-1).to(device))

    @torch.no_grad()
    def push(self, state: FeatureState, tokens: Tensor) -> tuple[Tensor, FeatureState]:
        """Append ``tokens`` (B,) at position ``state.length``.

        Returns:
            The features of the longer prefixes, (B, F) float32, and the new state.
        """
        d = self.discriminator
        p = state.length  # the new token's position
        L = p + 1  # prefix length after this token
        if L > self.length:
            raise ValueError(f"prefix longer than the sequence length {self.length}")
        emb = d.embedding(tokens).to(self.dtype)  # (B, E)
        B = tokens.size(0)
        pooled = torch.empty(B, sum(self.sizes), device=tokens.device)
        opens, bests, out = [], [], 0
        for i, (k, n, fk) in enumerate(zip(self.widths, self.windows, self.sizes)):
            lo, hi = self.slot_ranges[p][i]
            cnt = hi - lo + 1
            new = (emb @ self.slot_matrices[i][:, lo * fk:(hi + 1) * fk]).view(B, cnt, fk)  # slot j at j - lo
            full = torch.empty(B, cnt, fk, device=tokens.device)
            if state.open[i] is not None:  # windows holding j >= max(lo, 1) tokens before this one
                skip = 1 if lo == 0 else 0
                full[:, :skip].copy_(new[:, :skip])
                torch.add(new[:, skip:], state.open[i], out=full[:, skip:])
            else:
                full.copy_(new)
            best = state.best[i]
            if hi == k - 1:  # the window that just received its k-th token is complete
                best = torch.maximum(best, full[:, -1])
                open_ = full[:, :-1] if cnt > 1 else None
            else:
                open_ = full
            top = best
            if open_ is not None:  # boundary windows: m = lo + 1.. real tokens, padded
                m_lo, m_hi = lo + 1, lo + open_.size(1)
                top = torch.maximum(top, (open_ + self.pad_tails[i][m_lo:m_hi + 1]).amax(dim=1))
            if L <= n - 1:  # windows wholly in the padding
                top = torch.maximum(top, self.pad_tails[i][0].expand_as(top))
            torch.add(top, self.biases[i], out=pooled[:, out:out + fk])
            out += fk
            opens.append(open_)
            bests.append(best)
        feats = self._highway(pooled.relu_())
        return feats, FeatureState(L, opens, bests)


# --------------------------------------------------------------------------- the Manager's goal loss


def cosine(a: Tensor, b: Tensor) -> Tensor:
    """Cosine similarity over the last dimension, 0 where either vector is zero: (..., F) -> (...).

    As the reference's ``1 - cosine_distance(l2_normalize(a), l2_normalize(b))``.
    """
    return (F.normalize(a, dim=-1) * F.normalize(b, dim=-1)).sum(dim=-1)


def block_bounds(length: int, step_size: int) -> tuple[Tensor, Tensor]:
    """Start and end prefix lengths of the goal blocks of a length-T sequence.

    Block k covers positions kc..min(kc + c, T) - 1, so it starts at prefix length kc and ends
    at min(kc + c, T) (the last block is shorter when c does not divide T).

    Returns:
        (starts, ends), each (ceil(T / c),) int64.
    """
    starts = torch.arange(0, length, step_size)
    return starts, torch.clamp(starts + step_size, max=length)


def block_cosines(block_goals: Tensor, features: Tensor, step_size: int) -> Tensor:
    """``cos(f_{end_k} - f_{start_k}, G_k)`` of every row and goal block: (B, nb), with gradient into G.

    Args:
        block_goals: (B, nb, F) G_k.
        features: (B, T + 1, F) f_0..f_T, constants.
        step_size: c.
    """
    starts, ends = block_bounds(features.size(1) - 1, step_size)
    starts, ends = starts.to(features.device), ends.to(features.device)
    change = features.index_select(1, ends) - features.index_select(1, starts)  # (B, nb, F)
    return cosine(change.detach(), block_goals)


def manager_loss(block_goals: Tensor, features: Tensor, rewards: Tensor | None, step_size: int) -> Tensor:
    """The Manager's loss, per position: ``-mean_{b,k} Q_k cos(f_{end_k} - f_{start_k}, G_k)`` (Guo et al., eq. 8).

    The goal steering block k is compared with the change of the discriminator's features over
    that block, f_{kc+c} - f_{kc}, weighted by the block's (rescaled) reward; divided by
    B * T / c, as CR-Gjx/LeakGAN ``goal_loss``. That code takes the cosine with
    ``tf.losses.cosine_distance`` at its default reduction, one batch-mean scalar, so its loss is
    ``-mean(Q) * mean(cos)`` (:func:`textgan.rl.leakgan.batch_mean_manager_loss`); this function
    keeps one cosine per row and block, the paper's form. In MLE pretraining the reward is 1
    (``pretrain_goal_loss``), and the two forms coincide. Defined here, next to the model whose MLE loss uses it; the
    adversarial losses import it from :mod:`textgan.rl.leakgan`, which re-exports it.

    Args:
        block_goals: (B, nb, F) G_k, with gradient into the Manager.
        features: (B, T + 1, F) f_0..f_T, constants.
        rewards: (B, nb) Q_k, constants, or None for 1.
        step_size: c.

    Returns:
        scalar float.
    """
    B, nb, _ = block_goals.shape
    cos = block_cosines(block_goals, features, step_size)  # (B, nb)
    if rewards is not None:
        cos = cos * rewards.detach()
    return -cos.sum() / (B * nb)


# --------------------------------------------------------------------------- the generator


@dataclass
class LeakGANState:
    """Step-wise state of :class:`LeakGANGenerator` for B rows.

    Attributes:
        t: tokens read so far besides the start token (the position about to be predicted).
        length: T, the sequence length (fixes the discriminator's padding and the goal blocks).
        worker, manager: LSTM states (h, c), each (1, B, H).
        features: the incremental feature state of the tokens read.
        inc: the discriminator's feature extractor, built for this state's rows (reads the
            discriminator's parameters as they were then).
        worker_weight: the Worker's output matrix in the product dtype, built once for a
            sampling call (None under autograd: built at every step).
        goal_sum: (B, F) sum of the Manager's goals since the last block start.
        w: (B, K) the Worker's goal embedding for the current block.
    """

    t: int
    length: int
    worker: tuple[Tensor, Tensor]
    manager: tuple[Tensor, Tensor]
    features: FeatureState
    goal_sum: Tensor
    w: Tensor
    inc: IncrementalFeatures
    worker_weight: Tensor | None = None

    def index_select(self, index: Tensor) -> "LeakGANState":
        pick = lambda pair: tuple(s.index_select(1, index) for s in pair)  # noqa: E731
        return replace(self, worker=pick(self.worker), manager=pick(self.manager),
                       features=self.features.index_select(index), goal_sum=self.goal_sum.index_select(0, index),
                       w=self.w.index_select(0, index))


@dataclass
class LeakGANTerms:
    """Everything a teacher-forced pass computes (see :meth:`LeakGANGenerator.terms`).

    Attributes:
        logits: (B, T, V) next-token logits (temperature 1).
        log_probs: (B, T) log G(y_t | y_<t), 0 at padding: log softmax(logits / temperature) at
            the tokens, for the temperature the pass was asked for (1 by default).
        features: (B, T + 1, F) discriminator features f_0..f_T of the prefixes (no gradient).
        goals: (B, T, F) the Manager's unit goals g_0..g_{T-1} (g_s after reading f_s).
        block_goals: (B, ceil(T / c), F) the summed goal G_k steering block k (G_0 = goal_init).
        step_size: c, the goal horizon of the generator (so that losses need nothing but the
            output of ``forward``, which is all a DistributedDataParallel wrapper offers).
    """

    logits: Tensor
    log_probs: Tensor
    features: Tensor
    goals: Tensor
    block_goals: Tensor
    step_size: int


# What ``LeakGANGenerator.forward`` returns (see there).
LeakGANOutput = Literal["logits", "log_prob", "terms", "nll"]


class LeakGANGenerator(TokenGenerator):
    """LeakGAN's generator: a Manager LSTM and a Worker LSTM (Guo et al., 2018, Sec. 3).

    At every step the Manager reads f_t, the discriminator's feature vector of the prefix
    generated so far, and emits a unit goal g_t (``goal_out_size`` = the discriminator's feature
    size, L2-normalised). Goals are summed over blocks of ``step_size`` = c steps, as
    CR-Gjx/LeakGAN ``LeakGANModel.py`` does: block k (positions kc..kc+c-1) is steered by
    ``G_0 = goal_init`` (a learned vector) and ``G_k = g_{c(k-1)+1} + ... + g_{ck}`` for k >= 1,
    the goals formed after reading the prefixes of lengths c(k-1)+1..ck. The Worker LSTM reads
    the previous token and emits O_t, a (V, K) matrix (``goal_size`` K = 16); the goal embedding
    ``w_t = normalize(W_psi G_{t // c})`` (K,) gives the logits ``O_t w_t``.

    Gradients follow the reference's parameter split: the Worker's path reads ``G`` detached
    (the Worker's losses train the Worker's parameters and W_psi only); the Manager is trained
    by its cosine loss (:func:`manager_loss`).

    The discriminator is an explicit argument (``discriminator``, a ``CNNDiscriminator`` whose
    ``feature_dim`` equals ``goal_out_size``), shared and never copied or saved with the
    generator's weights (see :class:`SharedModule`; checkpoints save it as a companion).

    Args:
        vocab_size: V.
        embed_dim: Worker token embedding size (paper: 32 for synthetic data).
        hidden_dim: Worker and Manager LSTM size (32).
        max_len: T, the length of generated sequences.
        start_token: the token fed at step 0.
        pad_id: token ignored by the loss, or None.
        eos_id: end-of-sequence token; after it, sampling emits ``pad_id``.
        goal_out_size: F, the Manager's goal size = the discriminator's feature size (1720).
        goal_size: K, the Worker's goal embedding size (16).
        step_size: c, the goal horizon (4).
        init_std: weights drawn from N(0, init_std) as the reference (0.1).
        discriminator: the feature source; may be attached later with :meth:`set_discriminator`.
        compute_dtype: dtype of the Worker's output product ("float32" or "bfloat16", float32
            accumulation and softmax); bfloat16 is about twice as fast on CPUs with bf16 dot products.
    """

    # The leaked features read the prefix padded to the full row, so the logits of a row cut short
    # differ from the first positions of the whole row's: callers keep the full length.
    prefix_logits = False

    def __init__(self, vocab_size: int, embed_dim: int = 32, hidden_dim: int = 32, max_len: int = 20,
                 start_token: int = 0, pad_id: int | None = None, eos_id: int | None = None,
                 goal_out_size: int = 1720, goal_size: int = 16, step_size: int = 4, init_std: float = 0.1,
                 discriminator: nn.Module | None = None, compute_dtype: str = "float32") -> None:
        super().__init__()
        if step_size < 1 or goal_size < 1 or goal_out_size < 1:
            raise ValueError("step_size, goal_size and goal_out_size must be positive")
        self.vocab_size, self.embed_dim, self.hidden_dim = vocab_size, embed_dim, hidden_dim
        self.max_len, self.start_token, self.pad_id, self.eos_id = max_len, start_token, pad_id, eos_id
        self.goal_out_size, self.goal_size, self.step_size, self.init_std = goal_out_size, goal_size, step_size, init_std
        if compute_dtype not in ("float32", "bfloat16"):
            raise ValueError(f"compute_dtype must be 'float32' or 'bfloat16', got {compute_dtype!r}")
        self.compute_dtype = compute_dtype
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.worker = nn.LSTM(embed_dim, hidden_dim, batch_first=True)
        self.worker_output = nn.Linear(hidden_dim, vocab_size * goal_size)  # row v * K + k: O_t[v, k]
        self.goal_projection = nn.Linear(goal_out_size, goal_size, bias=False)  # W_psi (the reference's g_change)
        self.manager = nn.LSTM(goal_out_size, hidden_dim, batch_first=True)
        self.manager_output = nn.Linear(hidden_dim, goal_out_size)
        self.goal_init = nn.Parameter(torch.empty(goal_out_size))
        self._shared = SharedModule(None)
        self.reset_parameters()
        if discriminator is not None:
            self.set_discriminator(discriminator)

    def config(self) -> dict:
        """Constructor arguments (without the discriminator), saved next to the weights."""
        return {k: getattr(self, k) for k in ("vocab_size", "embed_dim", "hidden_dim", "max_len", "start_token",
                                              "pad_id", "eos_id", "goal_out_size", "goal_size", "step_size",
                                              "init_std", "compute_dtype")}

    def reset_parameters(self) -> None:
        """The reference's initialisation: every weight and bias N(0, init_std); goal_init truncated normal.

        torch's LSTM has two bias vectors whose sum acts as the reference's single bias; the
        second is zeroed so the sum has the reference's spread.
        """
        for name, p in self.named_parameters():
            if name.endswith("bias_hh_l0"):
                nn.init.zeros_(p)
            elif name == "goal_init":
                nn.init.trunc_normal_(p, std=self.init_std, a=-2 * self.init_std, b=2 * self.init_std)
            else:
                nn.init.normal_(p, 0.0, self.init_std)

    # ------------------------------------------------------------------ the discriminator
    @property
    def discriminator(self) -> nn.Module:
        d = self._shared.module
        if d is None:
            raise RuntimeError("LeakGANGenerator needs its discriminator's features: pass discriminator= "
                               "or call set_discriminator(d)")
        return d

    def set_discriminator(self, discriminator: nn.Module) -> None:
        """Read features from ``discriminator`` (``feature_dim`` must equal ``goal_out_size``)."""
        if getattr(discriminator, "feature_dim", self.goal_out_size) != self.goal_out_size:
            raise ValueError(f"the discriminator's feature size {discriminator.feature_dim} differs from "
                             f"goal_out_size {self.goal_out_size}")
        self._shared.module = discriminator

    def companions(self) -> dict[str, nn.Module]:
        """Modules the generator needs besides its own weights, by constructor argument name."""
        return {"discriminator": self.discriminator}

    def incremental_features(self, length: int) -> IncrementalFeatures:
        """An :class:`IncrementalFeatures` of the discriminator's current parameters.

        Built anew at every call: a cache keyed on the parameters' version counters would go
        stale, because fused optimizers (``torch.optim.Adam(fused=True)``) update parameters
        without bumping them. Building one costs a cast of the convolution and highway weights.
        """
        return IncrementalFeatures(self.discriminator, length)

    @torch.no_grad()
    def prefix_features(self, tokens: Tensor) -> Tensor:
        """f_0..f_T of ``tokens`` (B, T): (B, T + 1, F) float32, no gradient."""
        return self.discriminator.prefix_features(tokens, include_empty=True).detach()

    # ------------------------------------------------------------------ goals and logits
    def num_blocks(self, length: int) -> int:
        """ceil(T / c): the goal blocks of a length-T sequence."""
        return -(-length // self.step_size)

    def unit_goals(self, manager_hidden: Tensor) -> Tensor:
        """g = normalize(W_o h + b_o): (..., H) -> (..., F)."""
        return F.normalize(self.manager_output(manager_hidden), dim=-1)

    def goal_embedding(self, block_goal: Tensor) -> Tensor:
        """w = normalize(W_psi G) with G detached: (..., F) -> (..., K)."""
        return F.normalize(self.goal_projection(block_goal.detach()), dim=-1)

    def worker_logits(self, hidden: Tensor, w: Tensor, weight: Tensor | None = None) -> Tensor:
        """O_t w_t without forming O_t: (..., H) and (..., K) -> (..., V).

        ``O_t[v, k] = W[v k] . h + b[v k]``, so ``O_t w = W' (w outer h) + b' w`` with W' the
        (V, K H) view of the output matrix: one matrix product over K H + K columns.
        """
        inputs = self.worker_inputs(hidden, w)
        weight = self.worker_matrix() if weight is None else weight
        if self.compute_dtype == "bfloat16":
            return F.linear(inputs.to(torch.bfloat16), weight).float()
        return F.linear(inputs, weight)

    @staticmethod
    def worker_inputs(hidden: Tensor, w: Tensor) -> Tensor:
        """[w outer h, w]: (..., K H + K), index k H + j then K (the columns of :meth:`worker_matrix`)."""
        outer = (w.unsqueeze(-1) * hidden.unsqueeze(-2)).flatten(-2)
        return torch.cat([outer, w], dim=-1)

    def worker_matrix(self) -> Tensor:
        """W' = [W viewed (V, K H) | b viewed (V, K)] in the product dtype: (V, K H + K).

        Sampling builds it once per call (``LeakGANState.worker_weight``) instead of at every step.
        """
        V, K, H = self.vocab_size, self.goal_size, self.hidden_dim
        weight = torch.cat([self.worker_output.weight.view(V, K * H), self.worker_output.bias.view(V, K)], dim=1)
        return weight.to(torch.bfloat16) if self.compute_dtype == "bfloat16" else weight

    def _terms(self, tokens: Tensor, features: Tensor | None = None, temperature: float = 1.0) -> LeakGANTerms:
        """The teacher-forced pass behind :meth:`forward` (see :meth:`terms`)."""
        B, T = tokens.shape
        c, nb = self.step_size, self.num_blocks(T)
        last = c * (nb - 1)  # the last goal any block uses
        feats = self.prefix_features(tokens) if features is None else features  # (B, T + 1, F)
        hidden, _ = self.manager(feats[:, :T])  # reads f_0..f_{T-1}: (B, T, H)
        goals = self.unit_goals(hidden)  # (B, T, F); blocks use g_0..g_last, the paper's intrinsic reward all
        sums = goals[:, 1:last + 1].reshape(B, nb - 1, c, self.goal_out_size).sum(dim=2)  # G_k = g_{c(k-1)+1}..g_{ck}
        block_goals = torch.cat([self.goal_init.expand(B, 1, -1), sums], dim=1)  # (B, nb, F)
        w = self.goal_embedding(block_goals).repeat_interleave(c, dim=1)[:, :T]  # (B, T, K)
        worker_hidden, _ = self.worker(self.embedding(self.shift_right(tokens)))  # (B, T, H)
        logits = self.worker_logits(worker_hidden, w)  # (B, T, V)
        tempered = logits if temperature == 1.0 else logits / temperature
        logp = token_log_probs(tempered, tokens) * self.mask(tokens)
        return LeakGANTerms(logits, logp, feats, goals, block_goals, c)

    def forward(self, tokens: Tensor, output: LeakGANOutput = "logits", temperature: float = 1.0,
                features: Tensor | None = None):
        """The teacher-forced pass; every computation with gradients goes through here.

        DistributedDataParallel only synchronises what runs through ``forward``, so losses call
        ``generator(tokens, output=...)`` rather than :meth:`terms`, :meth:`log_prob` or
        :meth:`nll_loss` (a DDP wrapper has no such methods).

        Args:
            tokens: (B, T) int64.
            output: what to return:
                ``"logits"``: (B, T, V) next-token logits; position t predicts tokens[:, t].
                ``"log_prob"``: (B, T) log softmax(logits / temperature) at ``tokens``, 0 at padding.
                ``"terms"``: a :class:`LeakGANTerms` (log-probabilities at ``temperature``).
                ``"nll"``: the MLE loss of :meth:`nll_loss` (a scalar).
            temperature: the policy's temperature (> 0), for ``"log_prob"`` and ``"terms"``.
            features: optional precomputed ``prefix_features(tokens)`` (B, T + 1, F).
        """
        if output not in get_args(LeakGANOutput):
            raise ValueError(f"output must be one of {get_args(LeakGANOutput)}, got {output!r}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        terms = self._terms(tokens, features, temperature if output in ("log_prob", "terms") else 1.0)
        if output == "logits":
            return terms.logits
        if output == "log_prob":
            return terms.log_probs
        if output == "terms":
            return terms
        ignore = -100 if self.pad_id is None else self.pad_id  # output == "nll"
        nll = F.cross_entropy(terms.logits.reshape(-1, self.vocab_size), tokens.reshape(-1), ignore_index=ignore)
        goal = manager_loss(terms.block_goals, terms.features, None, self.step_size)
        return nll + (goal - goal.detach())

    def terms(self, tokens: Tensor, features: Tensor | None = None, temperature: float = 1.0) -> LeakGANTerms:
        """Teacher-forced pass: logits, log-probabilities, features and goals.

        Args:
            tokens: (B, T) int64.
            features: optional precomputed ``prefix_features(tokens)`` (B, T + 1, F).
            temperature: the temperature of ``log_probs`` (> 0).

        Returns:
            A :class:`LeakGANTerms`.
        """
        return self(tokens, output="terms", temperature=temperature, features=features)

    def nll_loss(self, tokens: Tensor) -> Tensor:
        """The MLE step of CR-Gjx/LeakGAN ``pretrain_step``: Worker NLL and the Manager's goal loss.

        The value is the mean per-token NLL; the gradient also holds the Manager's loss
        (:func:`manager_loss` with reward 1), added as ``m - m.detach()`` so that a logged
        "train_loss" stays comparable with other generators. The two losses touch disjoint
        parameters (the Worker path reads the goals detached).
        """
        return self(tokens, output="nll")

    # ------------------------------------------------------------------ stepping and sampling
    def initial_state(self, n: int, length: int | None = None, device: torch.device | None = None) -> LeakGANState:
        """State before the first token: the Manager has read f_0 (the empty prefix)."""
        T = length or self.max_len
        inc = self.incremental_features(T)
        f0 = inc.empty(device)  # (1, F), the same for every row
        zeros = torch.zeros(1, 1, self.hidden_dim, device=device)
        _, (h, c) = self.manager(f0.unsqueeze(1), (zeros, zeros))
        manager = (h.expand(1, n, -1).contiguous(), c.expand(1, n, -1).contiguous())
        worker = (torch.zeros(1, n, self.hidden_dim, device=device), torch.zeros(1, n, self.hidden_dim, device=device))
        weight = None if torch.is_grad_enabled() else self.worker_matrix()
        return LeakGANState(0, T, worker, manager, inc.start(n, device), torch.zeros(n, self.goal_out_size, device=device),
                            torch.zeros(n, self.goal_size, device=device), inc, weight)

    def step(self, tokens: Tensor, state: LeakGANState | None, length: int | None = None) -> tuple[Tensor, LeakGANState]:
        """Read ``tokens`` (B,) (the start tokens when ``state`` is None), return the next logits (B, V).

        Reading token y_{t-1} extends the prefix: the discriminator's features f_t, the
        Manager's goal g_t and the running goal sum; at a block start (t % c == 0) the summed goal
        becomes the new G and w. Features past the last goal any block uses are skipped.
        """
        hidden, w, state = self._read(tokens, state, length)
        return self.worker_logits(hidden, w, state.worker_weight), state

    def step_sample(self, tokens: Tensor, state: LeakGANState | None, generator: torch.Generator | None = None,
                    temperature: float = 1.0, length: int | None = None) -> tuple[Tensor, LeakGANState]:
        """Read ``tokens`` (B,) as :meth:`step` does, then draw the next tokens (B,) at ``temperature``
        with padding and the start token banned: the distribution of
        ``sample_categorical(filter_logits(ban_specials(logits), temperature))``, fused by
        :func:`textgan.models.sampling.sample_linear` (the (B, V) logits never exist whole).
        """
        hidden, w, state = self._read(tokens, state, length)
        weight = self.worker_matrix() if state.worker_weight is None else state.worker_weight
        return sample_linear(self.worker_inputs(hidden, w), weight, generator, temperature=temperature,
                             banned=self.banned_ids()), state

    def _read(self, tokens: Tensor, state: LeakGANState | None, length: int | None) -> tuple[Tensor, Tensor, LeakGANState]:
        """The state change of :meth:`step`: the Worker's output h_t (B, H), w_t (B, K) and the new state."""
        device = tokens.device
        if state is None:
            state = self.initial_state(tokens.size(0), length, device)
        else:
            c, nb = self.step_size, self.num_blocks(state.length)
            features, manager, goal_sum = state.features, state.manager, state.goal_sum
            if state.t <= c * (nb - 1):
                f, features = state.inc.push(state.features, tokens)  # f_t: (B, F)
                out, manager = self.manager(f.unsqueeze(1), state.manager)
                goal_sum = goal_sum + self.unit_goals(out.squeeze(1))
            state = replace(state, features=features, manager=manager, goal_sum=goal_sum)
        w = state.w
        if state.t % self.step_size == 0:
            goal = self.goal_init.expand_as(state.goal_sum) if state.t == 0 else state.goal_sum
            w = self.goal_embedding(goal)
            state = replace(state, goal_sum=torch.zeros_like(state.goal_sum))
        out, worker = self.worker(self.embedding(tokens).unsqueeze(1), state.worker)
        return out.squeeze(1), w, replace(state, t=state.t + 1, worker=worker, w=w)

    def reorder_state(self, state: LeakGANState, index: Tensor) -> LeakGANState:
        """The state of rows ``index`` (R,) int64, in that order."""
        return state.index_select(index)

    @torch.no_grad()
    def sample(self, n: int, max_len: int | None = None, *, temperature: float = 1.0, top_k: int = 0,
               top_p: float = 1.0, generator: torch.Generator | None = None, batch_size: int = 10_000,
               prefix: Tensor | None = None, return_log_probs: bool = False):
        """Draw ``n`` sequences autoregressively, reading the discriminator's features incrementally.

        Args:
            n: number of sequences.
            max_len: length T (default: the model's ``max_len``).
            temperature, top_k, top_p: see :func:`textgan.models.sampling.filter_logits`.
            generator: randomness (the same seed gives the same sequences).
            batch_size: sequences drawn in parallel.
            prefix: optional (n, L) int64 tokens forced at positions 0..L-1 (continuations).
            return_log_probs: also return log G(y_t | y_<t) at temperature 1 of the drawn tokens.

        Returns:
            (n, T) int64 (after an end-of-sequence token every position holds ``pad_id``), and
            with ``return_log_probs`` a (n, T) float32 tensor as well.
        """
        T = max_len or self.max_len
        device = self.goal_init.device
        chunks, logps = [], []
        for s in range(0, n, batch_size):
            B = min(batch_size, n - s)
            tok, state = self.initial_tokens(B, device), None
            seq = torch.empty((B, T), dtype=torch.long, device=device)
            lp = torch.zeros((B, T), device=device)
            forced = None if prefix is None else prefix[s:s + B].to(device)
            fused = not return_log_probs and top_k == 0 and top_p >= 1.0
            for t in range(T):
                if forced is not None and t < forced.size(1):
                    if return_log_probs:
                        logits, state = self.step(tok, state, T)
                    else:
                        _, _, state = self._read(tok, state, T)  # the logits are not needed
                    tok = forced[:, t]
                elif fused:
                    tok, state = self.step_sample(tok, state, generator, temperature, T)
                else:
                    logits, state = self.step(tok, state, T)
                    tok = sample_categorical(filter_logits(self.ban_specials(logits), temperature, top_k, top_p),
                                             generator)
                if return_log_probs:
                    lp[:, t] = token_log_probs(logits, tok)
                seq[:, t] = tok
            chunks.append(seq)
            logps.append(lp)
        tokens = self.finish(torch.cat(chunks, dim=0))
        if return_log_probs:
            return tokens, torch.cat(logps, dim=0) * self.mask(tokens)
        return tokens

    # ------------------------------------------------------------------ parameter groups
    def manager_parameters(self) -> list[nn.Parameter]:
        """The Manager's parameters (LSTM, goal output, goal_init), trained by the goal loss."""
        return [*self.manager.parameters(), *self.manager_output.parameters(), self.goal_init]

    def worker_parameters(self) -> list[nn.Parameter]:
        """The Worker's parameters (embedding, LSTM, output, W_psi), trained by NLL / REINFORCE."""
        return [*self.embedding.parameters(), *self.worker.parameters(), *self.worker_output.parameters(),
                *self.goal_projection.parameters()]


def leakgan_flops_per_token(vocab_size: int, embed_dim: int, hidden_dim: int, goal_size: int,
                            filter_sizes: tuple[int, ...], num_filters: tuple[int, ...], dis_embed_dim: int) -> dict:
    """Matrix-product FLOPs of one sampling step of one row (multiply + add = 2).

    Returns:
        ``{"worker_output", "highway", "slots", "manager", "total"}``.
    """
    feats = sum(num_filters)
    out = {
        "worker_output": 2 * vocab_size * goal_size * (hidden_dim + 1),
        "highway": 2 * feats * 2 * feats,
        "slots": 2 * dis_embed_dim * sum(k * n for k, n in zip(filter_sizes, num_filters)),
        "manager": 2 * (feats * 4 * hidden_dim + hidden_dim * feats),
    }
    out["total"] = sum(out.values())
    return out


__all__ = ["IncrementalFeatures", "FeatureState", "LeakGANGenerator", "LeakGANOutput", "LeakGANState", "LeakGANTerms",
           "SharedModule", "block_bounds", "cosine", "leakgan_flops_per_token", "manager_loss"]


@dataclass(frozen=True)
class LeakGANConfig:
    """Recipe keys of the ``leakgan`` generator (``generator: {type: leakgan, ...}``)."""

    embed_dim: int = 32
    hidden_dim: int = 32
    init_std: float = 0.1
    goal_size: int = 16  # K, the Worker's goal embedding size
    goal_out_size: int | None = None  # the Manager's goal size; None: the discriminator's feature size
    step_size: int = 4  # c, goals are summed and rewards taken every c steps
    compute_dtype: Literal["float32", "bfloat16", "auto"] = "float32"  # dtype of the Worker's output product

    def __post_init__(self) -> None:
        if self.step_size < 1 or self.goal_size < 1 or self.embed_dim < 1 or self.hidden_dim < 1:
            raise ValueError("generator.step_size, goal_size, embed_dim and hidden_dim must be positive")
