"""A CNN discriminator that reads soft one-hot sequences: RelGAN's multi-representation critic.

Nie et al., ICLR 2019, Sec. 2.3; weilinie/RelGAN models/rmc_vanilla.py ``discriminator``. The
input is a (B, T, V) distribution per position (a generator's Gumbel-softmax or softmax output,
or the one-hot of real tokens), embedded as a matrix product with the embedding table, so
gradients reach the generator through it. The embedding has ``num_rep`` representations of
``rep_dim`` units each; every filter slides over one representation at a time (kernel
``(k, rep_dim)``, stride ``rep_dim``), so each sequence gets ``num_rep`` scores. With
``num_rep: 1`` this is a plain CNN critic on soft one-hots (Rajeswar et al. 2017's setting).
Every operation is twice differentiable, as WGAN-GP's gradient penalty needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SoftCNNDiscriminator(nn.Module):
    """Multi-representation CNN over soft one-hots: ``scores`` (B, num_rep), ``forward`` (B, 2).

    Args:
        vocab_size: V.
        num_rep: embedding representations (RelGAN: 64).
        rep_dim: units per representation (RelGAN: dis_emb_dim 64 / num_rep 64 = 1).
        filter_sizes, num_filters: convolution widths and feature maps (RelGAN: 2-5, 300 each).
        dropout: before the 100-unit layer (RelGAN keeps 0.75).
        hidden: units of the layer before the score (RelGAN: 100).
        pad_id: unused (the padding is a token like any other here); kept for the common constructor.
    """

    def __init__(self, vocab_size: int, num_rep: int = 64, rep_dim: int = 1, filter_sizes=(2, 3, 4, 5),
                 num_filters=(300, 300, 300, 300), dropout: float = 0.25, hidden: int = 100,
                 pad_id: int | None = None) -> None:
        super().__init__()
        self.vocab_size, self.num_rep, self.rep_dim = vocab_size, num_rep, rep_dim
        self.filter_sizes, self.num_filters = tuple(filter_sizes), tuple(num_filters)
        self.hidden, self.pad_id = hidden, pad_id
        self.feature_dim = sum(self.num_filters)
        self.embedding = nn.Parameter(torch.empty(vocab_size, num_rep * rep_dim))
        self.convs = nn.ModuleList(nn.Conv2d(1, n, (k, rep_dim), stride=(1, rep_dim))
                                   for k, n in zip(self.filter_sizes, self.num_filters))
        self.highway_transform = nn.Linear(self.feature_dim, self.feature_dim, bias=False)
        self.highway_gate = nn.Linear(self.feature_dim, self.feature_dim, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.feature_dim, hidden)
        self.score = nn.Linear(hidden, 1)
        std = vocab_size ** -0.5
        nn.init.trunc_normal_(self.embedding, std=std, a=-2 * std, b=2 * std)
        for conv, k in zip(self.convs, self.filter_sizes):  # utils/ops.py conv2d: std sqrt(2 / (k_h * k_w))
            std = (2.0 / (k * rep_dim)) ** 0.5
            nn.init.trunc_normal_(conv.weight, std=std, a=-2 * std, b=2 * std)
            nn.init.zeros_(conv.bias)
        for layer in (self.highway_transform, self.highway_gate, self.fc, self.score):
            std = layer.in_features ** -0.5
            nn.init.trunc_normal_(layer.weight, std=std, a=-2 * std, b=2 * std)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)

    def config(self) -> dict:
        return {"vocab_size": self.vocab_size, "num_rep": self.num_rep, "rep_dim": self.rep_dim,
                "filter_sizes": self.filter_sizes, "num_filters": self.num_filters, "dropout": self.dropout.p,
                "hidden": self.hidden, "pad_id": self.pad_id}

    def scores(self, x: Tensor) -> Tensor:
        """Critic scores, one per representation: (B, T) int64 tokens or (B, T, V) soft one-hots -> (B, num_rep)."""
        if not x.is_floating_point():
            x = F.one_hot(x, self.vocab_size).to(self.embedding.dtype)
        if x.dim() != 3 or x.size(-1) != self.vocab_size:
            raise ValueError(f"expected (B, T) tokens or (B, T, {self.vocab_size}) soft one-hots, got {tuple(x.shape)}")
        emb = (x @ self.embedding).unsqueeze(1)  # (B, 1, T, R * d)
        short = max(self.filter_sizes) - emb.size(2)
        if short > 0:  # shorter than the widest filter (a length curriculum): zero rows after the end
            emb = F.pad(emb, (0, 0, 0, short))
        pooled = [torch.relu(conv(emb)).amax(dim=2) for conv in self.convs]  # each (B, F_k, R)
        feats = torch.cat(pooled, dim=1).transpose(1, 2)  # (B, R, F)
        gate = torch.sigmoid(self.highway_gate(feats))
        feats = gate * torch.relu(self.highway_transform(feats)) + (1 - gate) * feats
        return self.score(self.fc(self.dropout(feats))).squeeze(-1)

    def forward(self, x: Tensor) -> Tensor:
        """(B, 2) class logits for the policy-gradient phases: class 1 ("real") holds the mean score."""
        s = self.scores(x).mean(dim=1, keepdim=True)
        return torch.cat([torch.zeros_like(s), s], dim=1)

    def prob_real(self, x: Tensor) -> Tensor:
        """D(x) = sigmoid(mean score): (B,) in [0, 1]."""
        return torch.sigmoid(self.scores(x).mean(dim=1))

    def l2_loss(self) -> Tensor:
        """No weight penalty (RelGAN has none); a zero scalar for the common discriminator loop."""
        return self.embedding.new_zeros(())

    def loss(self, x: Tensor, labels: Tensor) -> Tensor:
        """Mean cross-entropy of ``forward`` against (B,) labels (1 real, 0 generated)."""
        return F.cross_entropy(self.forward(x), labels)


@dataclass(frozen=True)
class SoftCNNDiscriminatorConfig:
    """Recipe keys of the ``relgan_cnn`` discriminator (``discriminator: {type: relgan_cnn, ...}``).

    Defaults are RelGAN's (weilinie/RelGAN run.py and rmc_vanilla.py: 64 representations of one
    unit, filters 2-5 with 300 maps each, dropout keep 0.75, a 100-unit layer).
    """

    num_rep: int = 64
    rep_dim: int = 1
    filter_sizes: tuple[int, ...] = (2, 3, 4, 5)
    num_filters: tuple[int, ...] = (300, 300, 300, 300)
    dropout: float = 0.25
    hidden: int = 100

    def __post_init__(self) -> None:
        if len(self.filter_sizes) != len(self.num_filters) or not self.filter_sizes:
            raise ValueError(f"discriminator.filter_sizes {list(self.filter_sizes)} and num_filters "
                             f"{list(self.num_filters)} must be non-empty lists of equal length")
        if min(self.num_rep, self.rep_dim, self.hidden, *self.filter_sizes, *self.num_filters) < 1:
            raise ValueError("discriminator.num_rep, rep_dim, hidden, filter_sizes and num_filters must be positive")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"discriminator.dropout must be in [0, 1), got {self.dropout}")
