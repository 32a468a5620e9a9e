"""RankGAN's ranker (Lin et al., 2017): sentences ranked against real ones by cosine similarity.

The ranker embeds sentences with SeqGAN's CNN (its pooled, highway-transformed features) and
scores a sentence s against a reference set U of real sentences and a comparison set C:

    alpha(s | u) = cos(y_s, y_u)
    P(s | u, C)  = exp(gamma alpha(s | u)) / sum_{s' in C + {s}} exp(gamma alpha(s' | u))
    R(s | U, C)  = mean_{u in U} P(s | u, C)

(the paper's Sec. 3). A generated sentence is compared with real ones (C+), a real sentence
with generated ones (C-); the ranker maximises ``log R`` of real sentences and minimises it for
generated ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from .cnn_discriminator import SEQGAN_FILTER_SIZES, SEQGAN_NUM_FILTERS, CNNDiscriminator


def rank_log_scores(s: Tensor, u: Tensor, c: Tensor, gamma: float, c_mask: Tensor | None = None) -> Tensor:
    """log R(s | U, C) of unit feature vectors.

    Args:
        s: (B, F) the sentences scored, L2-normalised.
        u: (K, F) the reference set, L2-normalised.
        c: (M, F) the comparison set, L2-normalised.
        gamma: the softmax's inverse temperature.
        c_mask: optional (B, M) bool: which comparison rows count for each sentence (None: all).
            A sentence with no comparison rows gets P = 1.

    Returns:
        (B,) float32, at most 0.
    """
    a_s = gamma * (s @ u.t())  # (B, K)
    a_c = gamma * (c @ u.t())  # (M, K)
    if c_mask is None:
        rest = torch.logsumexp(a_c, dim=0).expand_as(a_s)  # (B, K)
    else:
        masked = a_c.unsqueeze(0).masked_fill(~c_mask.unsqueeze(-1), float("-inf"))  # (B, M, K)
        rest = torch.logsumexp(masked, dim=1)
    log_p = a_s - torch.logaddexp(a_s, rest)  # log P(s | u, C), (B, K)
    return torch.logsumexp(log_p, dim=1) - math.log(u.size(0))


def ranker_loss(log_r: Tensor, labels: Tensor) -> Tensor:
    """The ranker's objective (minimised): ``-mean_real log R(s|U,C-) + mean_generated log R(s|U,C+)``.

    Args:
        log_r: (B,) log rank scores, each against its own comparison set.
        labels: (B,) 1 real, 0 generated. A side with no rows contributes 0.
    """
    real = labels.to(log_r.dtype)  # weights, so no count is read on the host
    fake = 1 - real
    return -(log_r * real).sum() / real.sum().clamp(min=1) + (log_r * fake).sum() / fake.sum().clamp(min=1)


class RankerDiscriminator(CNNDiscriminator):
    """RankGAN's ranker on SeqGAN's CNN features (Lin et al., 2017, Sec. 3).

    The reference set U (``reference_size`` real sentences) and the comparison set C+
    (``comparison_size`` real sentences) are buffers: saved with the weights, redrawn from the real
    data before every discriminator training batch (:meth:`training_loss`), and read by
    :meth:`forward` / :meth:`prob_real` (``R(s | U, C+)``), which the rank reward calls. Before the
    first draw they hold padding and ``drawn`` is False.

    The CNN's class-score layer is not used (frozen; kept so the initialisation draws match the
    ``cnn`` discriminator's); there is no L2 penalty (Texygen's ranker has none).

    Args:
        vocab_size, embed_dim, filter_sizes, num_filters, dropout, pad_id, highway_gate_bias,
            compute_dtype: as :class:`CNNDiscriminator` (dropout applies to the features).
        gamma: inverse temperature of the ranking softmax.
        reference_size: K, sentences in U.
        comparison_size: M, real sentences in C+ when scoring generated sentences.
    """

    def __init__(self, vocab_size: int, embed_dim: int = 64, filter_sizes: Sequence[int] = SEQGAN_FILTER_SIZES,
                 num_filters: Sequence[int] = SEQGAN_NUM_FILTERS, dropout: float = 0.25, pad_id: int | None = None,
                 highway_gate_bias: float = 0.0, compute_dtype: str | torch.dtype = "float32", gamma: float = 1.0,
                 reference_size: int = 16, comparison_size: int = 32) -> None:
        super().__init__(vocab_size, embed_dim, filter_sizes, num_filters, dropout, l2_reg=0.0, pad_id=pad_id,
                         highway_gate_bias=highway_gate_bias, compute_dtype=compute_dtype)
        if gamma <= 0 or reference_size < 1 or comparison_size < 1:
            raise ValueError("gamma, reference_size and comparison_size must be positive")
        self.output.requires_grad_(False)
        self.gamma, self.reference_size, self.comparison_size = float(gamma), reference_size, comparison_size
        fill = pad_id if pad_id is not None else 0
        self.register_buffer("reference", torch.full((reference_size, 1), fill, dtype=torch.long))
        self.register_buffer("comparison", torch.full((comparison_size, 1), fill, dtype=torch.long))
        self.register_buffer("drawn", torch.zeros((), dtype=torch.bool))

    def config(self) -> dict:
        cfg = super().config()
        for key in ("l2_reg", "num_classes"):
            cfg.pop(key)
        return {**cfg, "gamma": self.gamma, "reference_size": self.reference_size,
                "comparison_size": self.comparison_size}

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in ("reference", "comparison"):  # their length is the data's, unknown when built
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name], device=getattr(self, name).device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # ------------------------------------------------------------------ sets
    @torch.no_grad()
    def draw_sets(self, real: Tensor, generator: torch.Generator | None = None) -> None:
        """Redraw U and C+ (with replacement) from ``real`` (N, T) sentences."""
        idx = torch.randint(real.size(0), (self.reference_size + self.comparison_size,), generator=generator)
        rows = real[idx.to(real.device)].to(self.reference.device)
        self.reference = rows[:self.reference_size].clone()
        self.comparison = rows[self.reference_size:].clone()
        self.drawn.fill_(True)

    def unit_features(self, tokens: Tensor) -> Tensor:
        """L2-normalised (dropped-out, in training mode) features y_s: (B, T) -> (B, F)."""
        return F.normalize(self._dropout(self.features(tokens)), dim=-1)

    # ------------------------------------------------------------------ scores
    def rank_log_score(self, tokens: Tensor, labels: Tensor | None = None) -> Tensor:
        """log R(s | U, C) of each row: (B,) float32.

        Without ``labels`` every row is compared with C+ (the ``comparison`` buffer). With (B,)
        labels (1 real, 0 generated) a real row is compared with the batch's generated rows (C-)
        and a generated row with its real rows (C+), as in the ranker's training.
        """
        B = tokens.size(0)
        parts = [tokens, self.reference] + ([self.comparison] if labels is None else [])
        length = max(p.size(1) for p in parts)
        feats = self.unit_features(torch.cat([F.pad(p, (0, length - p.size(1)), value=self.pad_id or 0)
                                              for p in parts]))
        s, u = feats[:B], feats[B:B + self.reference_size]
        if labels is None:
            return rank_log_scores(s, u, feats[B + self.reference_size:], self.gamma)
        real = labels.bool()
        return rank_log_scores(s, u, s, self.gamma, c_mask=real.unsqueeze(1) != real.unsqueeze(0))

    def forward(self, tokens: Tensor, lengths: None = None, labels: Tensor | None = None) -> Tensor:
        """(B, 2) logits ``[log(1 - R), log R]``, so softmax class 1 ("real") is R (see :meth:`rank_log_score`)."""
        if lengths is not None:
            raise ValueError("the ranker scores whole sentences: pass no lengths")
        log_r = self.rank_log_score(tokens, labels)
        return torch.stack([torch.log1p(-log_r.exp().clamp(max=1 - 1e-6)), log_r], dim=1)

    def real_logit(self, tokens: Tensor, lengths: None = None) -> Tensor:
        """log R / (1 - R) against U and C+: (B,)."""
        logits = self.forward(tokens, lengths)
        return logits[:, 1] - logits[:, 0]

    def l2_loss(self) -> Tensor:
        """Zero: the ranker has no L2 penalty."""
        return self.embedding.weight.new_zeros(())

    def loss(self, tokens: Tensor, labels: Tensor, lengths: None = None, model=None) -> Tensor:
        """:func:`ranker_loss` of the batch, each row against the comparison set of its label.

        ``labels``: (B,) 1 real, 0 generated; ``model``: the module to call (a DDP wrapper), default self.
        """
        return ranker_loss((model if model is not None else self)(tokens, lengths, labels=labels)[:, 1], labels)

    def training_loss(self, tokens: Tensor, labels: Tensor, *, model=None, real: Tensor | None = None,
                      generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """One training batch (see ``discriminator_epochs``): redraw U and C+ from ``real``, return
        (:meth:`loss`, how many rows are ranked on the right side).

        A row is on the right side when a real sentence's R is above, a generated one's below,
        the uniform share ``1 / |C'|`` of its comparison set C' = C + {s}.
        """
        if real is not None:
            self.draw_sets(real, generator)
        log_r = (model if model is not None else self)(tokens, labels=labels)[:, 1]
        is_real = labels.bool()
        n_real = is_real.sum()
        others = torch.where(is_real, len(labels) - n_real, n_real)  # |C| of each row
        above = log_r.detach() > -torch.log1p(others.float())
        return ranker_loss(log_r, labels), (above == is_real).sum()


@dataclass(frozen=True)
class RankerConfig:
    """Recipe keys of the ``ranker`` discriminator (``discriminator: {type: ranker, ...}``; RankGAN's)."""

    embed_dim: int = 64
    filter_sizes: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20)
    num_filters: tuple[int, ...] = (100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160)
    dropout: float = 0.25
    highway_gate_bias: float = 0.0
    compute_dtype: Literal["float32", "bfloat16", "auto"] = "float32"
    gamma: float = 1.0  # inverse temperature of the ranking softmax (the authors' code: 1, opt.py line 22)
    reference_size: int = 16  # |U|, real sentences every score is taken against (Texygen: 16)
    comparison_size: int = 32  # |C+|: real sentences a generated one is ranked among in the reward

    def __post_init__(self) -> None:
        if len(self.filter_sizes) != len(self.num_filters) or not self.filter_sizes:
            raise ValueError(f"discriminator.filter_sizes {list(self.filter_sizes)} and num_filters "
                             f"{list(self.num_filters)} must be non-empty lists of equal length")
        if self.gamma <= 0 or self.reference_size < 1 or self.comparison_size < 1:
            raise ValueError("discriminator.gamma, reference_size and comparison_size must be positive: "
                             "e.g. --set discriminator.gamma=1.0")
        if getattr(self, "pretrain_rounds", 1) < 1:  # the discriminator section's, when composed with it
            raise ValueError("the ranker draws its reference set when it trains, so the rank reward needs "
                             "discriminator.pretrain_rounds >= 1: set discriminator.pretrain_rounds=1 or more")
