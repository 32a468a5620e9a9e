"""The CNN text classifier used as discriminator by SeqGAN and as feature extractor by LeakGAN."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

# SeqGAN's discriminator configuration (Yu et al., 2017, Appendix; LantaoYu/SeqGAN
# sequence_gan.py): 12 filter widths with 1720 feature maps in total.
SEQGAN_FILTER_SIZES: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20)
SEQGAN_NUM_FILTERS: tuple[int, ...] = (100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160)

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _as_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """"bfloat16" or torch.bfloat16 -> torch.bfloat16; other names and dtypes are refused."""
    resolved = dtype if isinstance(dtype, torch.dtype) else _DTYPES.get(dtype)
    if resolved not in _DTYPES.values():
        raise ValueError(f"compute_dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
    return resolved


class _ConvMaxPool(torch.autograd.Function):
    """All widths' convolution + max over time + bias + ReLU, as matrix products.

    Forward builds one slot-major window matrix for the widest filter, row (s, b) holding
    ``emb[b, s], emb[b, s + 1], ..., emb[b, s + kmax - 1]`` (T * B rows, kmax * E columns). The
    windows of width k are its first k * E columns and first n_k * B rows, a strided view, so
    each width costs one matrix product and no copy. Bias and ReLU are applied after the max,
    which is exact because both are monotone: max_s relu(z_s + b) = relu(max_s z_s + b).

    Backward routes each pooled gradient to the window(s) holding the maximum (split evenly
    between ties, as autograd's ``amax`` does), then runs the two matrix products per width and
    folds the window gradients back onto the positions. Written by hand because autograd's
    ``unfold`` backward and bool masks dominated the step time on CPU.
    """

    @staticmethod
    def forward(ctx, emb: Tensor, length: int, widths: tuple[int, ...], dtype: torch.dtype,
                *params: Tensor) -> Tensor:
        weights, biases = params[:len(widths)], params[len(widths):]
        batch, padded_len, dim = emb.shape
        kmax = max(widths)
        rows = emb.to(dtype).transpose(0, 1)  # (T', B, E)
        missing = length + kmax - 1 - padded_len  # rows never read by a valid window
        if missing > 0:
            rows = torch.cat([rows, rows.new_zeros(missing, batch, dim)])
        windows = rows.unfold(0, kmax, 1).transpose(2, 3).reshape(length * batch, kmax * dim)
        outputs, convs, mats, maxima = [], [], [], []
        for k, w, b in zip(widths, weights, biases):
            n = max(length, k) - k + 1
            mat = w.reshape(w.size(0), k * dim).to(dtype)  # (F_k, k * E)
            conv = (windows[:n * batch, :k * dim] @ mat.t()).view(n, batch, -1)  # (n, B, F_k)
            top = conv.amax(dim=0)  # (B, F_k)
            outputs.append(torch.relu(top.float() + b))
            convs.append(conv), mats.append(mat), maxima.append(top)
        out = torch.cat(outputs, dim=1)  # (B, F)
        ctx.save_for_backward(windows, out, *convs, *mats, *maxima)
        ctx.meta = (length, widths, emb.shape, emb.dtype)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        length, widths, (batch, padded_len, dim), emb_dtype = ctx.meta
        windows, out, *saved = ctx.saved_tensors
        count = len(widths)
        convs, mats, maxima = saved[:count], saved[count:2 * count], saved[2 * count:]
        grad = grad * (out > 0)  # ReLU
        need_emb = ctx.needs_input_grad[0]
        grad_rows = grad.new_zeros(padded_len, batch, dim)  # (T', B, E)
        grad_weights, grad_biases, col = [], [], 0
        for k, conv, mat, top in zip(widths, convs, mats, maxima):
            n, fk = conv.size(0), mat.size(0)
            g = grad[:, col:col + fk]
            col += fk
            grad_biases.append(g.sum(0))
            # 1 where a window holds the maximum, else 0 (sign instead of ==: much faster on CPU).
            is_max = torch.sign(conv - top).add_(1)  # (n, B, F_k)
            route = is_max.mul_((g / is_max.sum(0)).to(conv.dtype)).view(n * batch, fk)
            window_k = windows[:n * batch, :k * dim]
            grad_weights.append((route.t() @ window_k).float().view(fk, k, dim))
            if need_emb:
                grad_windows = (route @ mat).view(n, batch, k, dim)
                for j in range(k):  # fold: slot j of window s is position s + j
                    grad_rows[j:j + n] += grad_windows[:, :, j]
        grad_emb = grad_rows.transpose(0, 1).to(emb_dtype) if need_emb else None  # (B, T', E)
        return (grad_emb, None, None, None, *grad_weights, *grad_biases)


class CNNDiscriminator(nn.Module):
    """SeqGAN's CNN discriminator (Yu et al., 2017, Sec. 4 and Appendix; after Kim, 2014).

    ``embedding -> for each width k: convolution over k consecutive token embeddings spanning the
    whole embedding width, + bias, ReLU, max over time -> concatenation (F = sum(num_filters))
    -> one highway layer -> dropout -> linear to num_classes``. Class 1 means "real" (SeqGAN's
    two-class softmax).

    Convolutions run as "gather the windows, then one matrix product per width", which on CPU
    is several times faster than ``nn.Conv2d`` with a (k, E) kernel; results equal the Conv2d
    computation up to float rounding.

    Padding: positions are filled with the *pad embedding* (row ``pad_id`` of the embedding
    table, trainable, like LeakGAN's extra embedding row for its -1 padding; or the zero vector
    when ``pad_id`` is None). A width k wider than the sequence length T sees the sequence
    right-padded to length k, i.e. exactly one window; widths k <= T see only the T real
    positions, as in SeqGAN.

    Initialisation follows LantaoYu/SeqGAN discriminator.py: embedding U(-1, 1); convolution and
    output weights truncated normal (std 0.1, cut at 2 std), their biases 0.1; the highway
    matrices and biases Glorot-uniform (TF's ``get_variable`` default).

    Args:
        vocab_size: V.
        embed_dim: E, token embedding size (SeqGAN: 64).
        filter_sizes: convolution widths k, in tokens.
        num_filters: feature maps per width; same length as ``filter_sizes``.
        dropout: drop probability before the output layer (SeqGAN keeps 0.75, so 0.25).
        l2_reg: weight of the L2 penalty on the output layer (SeqGAN: 0.2).
        num_classes: output classes; class 1 is "real".
        pad_id: token whose embedding pads sequences and prefixes, or None for zero vectors.
        highway_gate_bias: constant added to the highway gate bias at initialisation. SeqGAN's
            ``highway()`` helper defaults to -2, but SeqGAN and LeakGAN call it with ``bias=0``,
            so 0 reproduces their code; -2 biases the layer towards carrying its input.
        compute_dtype: dtype of the convolution and highway matrix products ("float32" or
            "bfloat16"); parameters, pooling outputs and the loss stay float32.
    """

    def __init__(self, vocab_size: int, embed_dim: int = 64,
                 filter_sizes: Sequence[int] = SEQGAN_FILTER_SIZES,
                 num_filters: Sequence[int] = SEQGAN_NUM_FILTERS,
                 dropout: float = 0.25, l2_reg: float = 0.2, num_classes: int = 2,
                 pad_id: int | None = None, highway_gate_bias: float = 0.0,
                 compute_dtype: str | torch.dtype = "float32") -> None:
        super().__init__()
        filter_sizes, num_filters = tuple(int(k) for k in filter_sizes), tuple(int(n) for n in num_filters)
        if len(filter_sizes) != len(num_filters) or not filter_sizes:
            raise ValueError(f"filter_sizes {filter_sizes} and num_filters {num_filters} must be "
                             "non-empty and of equal length")
        if min(filter_sizes) < 1 or min(num_filters) < 1:
            raise ValueError("filter sizes and filter counts must be positive")
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2 (class 1 is 'real'), got {num_classes}")
        if pad_id is not None and not 0 <= pad_id < vocab_size:
            raise ValueError(f"pad_id {pad_id} is outside the vocabulary [0, {vocab_size})")
        self.vocab_size, self.embed_dim = vocab_size, embed_dim
        self.filter_sizes, self.num_filters = filter_sizes, num_filters
        self.l2_reg, self.num_classes = l2_reg, num_classes
        self.pad_id, self.highway_gate_bias = pad_id, highway_gate_bias
        self.compute_dtype = _as_dtype(compute_dtype)
        self.feature_dim = sum(num_filters)

        self.embedding = nn.Embedding(vocab_size, embed_dim)
        # Width-k filters, shaped (F_k, k, E) like nn.Conv2d's (F_k, 1, k, E) without the channel.
        self.conv_weights = nn.ParameterList(
            nn.Parameter(torch.empty(n, k, embed_dim)) for k, n in zip(filter_sizes, num_filters))
        self.conv_biases = nn.ParameterList(nn.Parameter(torch.empty(n)) for n in num_filters)
        # One (2F, F) product gives both highway branches: rows [:F] the transform H, rows [F:]
        # the gate T (Srivastava et al., 2015).
        self.highway = nn.Linear(self.feature_dim, 2 * self.feature_dim)
        self.dropout = nn.Dropout(dropout)  # holds p; applied by _dropout with a faster mask
        self.output = nn.Linear(self.feature_dim, num_classes)
        self.reset_parameters()

    def config(self) -> dict:
        """Constructor arguments, saved next to the weights."""
        cfg = {k: getattr(self, k) for k in ("vocab_size", "embed_dim", "filter_sizes", "num_filters",
                                              "l2_reg", "num_classes", "pad_id", "highway_gate_bias")}
        dtype_name = {v: k for k, v in _DTYPES.items()}[self.compute_dtype]
        return {**cfg, "dropout": self.dropout.p, "compute_dtype": dtype_name}

    def reset_parameters(self) -> None:
        """SeqGAN's initialisation (see the class docstring)."""
        nn.init.uniform_(self.embedding.weight, -1.0, 1.0)
        for w, b in zip(self.conv_weights, self.conv_biases):
            nn.init.trunc_normal_(w, std=0.1, a=-0.2, b=0.2)
            nn.init.constant_(b, 0.1)
        f = self.feature_dim
        with torch.no_grad():
            # TF glorot_uniform: a (F, F) matrix gets U(+-sqrt(6 / 2F)), an (F,) bias U(+-sqrt(3 / F)).
            for rows in (slice(0, f), slice(f, 2 * f)):
                self.highway.weight[rows].uniform_(-math.sqrt(3.0 / f), math.sqrt(3.0 / f))
                self.highway.bias[rows].uniform_(-math.sqrt(3.0 / f), math.sqrt(3.0 / f))
            self.highway.bias[f:] += self.highway_gate_bias
        nn.init.trunc_normal_(self.output.weight, std=0.1, a=-0.2, b=0.2)
        nn.init.constant_(self.output.bias, 0.1)

    # ------------------------------------------------------------------ embeddings and padding
    def pad_embedding(self) -> Tensor:
        """The vector that fills padded positions: (E,), row ``pad_id`` or zeros."""
        if self.pad_id is None:
            return self.embedding.weight.new_zeros(self.embed_dim)
        return self.embedding.weight[self.pad_id]

    def _embed(self, tokens: Tensor, lengths: Tensor | int | None) -> Tensor:
        """Embed, mask positions >= lengths, right-pad to max(T, widest filter): (B, T', E)."""
        if tokens.dim() != 2 or tokens.size(1) == 0 or tokens.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"tokens must be an integer tensor (B, T) with T >= 1, got "
                             f"{tuple(tokens.shape)} {tokens.dtype}")
        batch, length = tokens.shape
        emb = self.embedding(tokens)  # (B, T, E)
        if lengths is not None:
            lengths = torch.as_tensor(lengths, device=tokens.device).reshape(-1, 1)  # (B, 1) or (1, 1)
            keep = torch.arange(length, device=tokens.device) < lengths  # (B, T)
            emb = torch.where(keep.unsqueeze(-1), emb, self.pad_embedding())
        extra = max(self.filter_sizes) - length
        if extra > 0:
            emb = torch.cat([emb, self.pad_embedding().expand(batch, extra, self.embed_dim)], dim=1)
        return emb

    @staticmethod
    def num_windows(length: int, width: int) -> int:
        """Windows of a width-``width`` filter over a length-``length`` sequence (>= 1)."""
        return max(length, width) - width + 1

    # ------------------------------------------------------------------ features
    def _pooled(self, emb: Tensor, length: int) -> Tensor:
        """Convolution, max over time and ReLU for every width: (B, T', E) -> (B, F) float32."""
        return _ConvMaxPool.apply(emb, length, self.filter_sizes, self.compute_dtype,
                                  *self.conv_weights, *self.conv_biases)

    def _highway(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        """y = t * relu(W_h x + b_h) + (1 - t) * x with t = sigmoid(W_t x + b_t). (..., F) -> (..., F).

        ``weight``: the highway weight already in the product dtype (a caller that reuses it
        across many calls without gradients, such as LeakGAN's sampling, saves the cast).
        """
        w = self.highway.weight.to(self.compute_dtype) if weight is None else weight
        h = F.linear(x.to(self.compute_dtype), w).float()
        if torch.is_grad_enabled():
            transform, gate = (h + self.highway.bias).chunk(2, dim=-1)
            return torch.addcmul(x, torch.sigmoid(gate), torch.relu(transform) - x)  # x + t (relu - x)
        transform, gate = h.add_(self.highway.bias).chunk(2, dim=-1)  # no autograd: in place, fewer passes
        return torch.addcmul(x, gate.sigmoid_(), transform.relu_().sub_(x))

    def features(self, tokens: Tensor, lengths: Tensor | int | None = None) -> Tensor:
        """The pooled, highway-transformed feature vector (before dropout); LeakGAN leaks this.

        Args:
            tokens: (B, T) int64 token ids.
            lengths: optional (B,) int64 (or an int for all rows): positions t >= lengths[b]
                are replaced by the pad embedding, as if the sequence were padded there.

        Returns:
            (B, F) float32, F = sum(num_filters).
        """
        return self._highway(self._pooled(self._embed(tokens, lengths), tokens.size(1)))

    def forward(self, tokens: Tensor, lengths: Tensor | int | None = None) -> Tensor:
        """Class scores.

        Args:
            tokens: (B, T) int64 token ids.
            lengths: optional (B,) valid lengths (see ``features``).

        Returns:
            (B, num_classes) float32 logits; class 1 is "real".
        """
        return self.output(self._dropout(self.features(tokens, lengths)))

    def _dropout(self, x: Tensor) -> Tensor:
        """Inverted dropout with keep probability 1 - p, as ``nn.Dropout`` (identity in eval mode).

        The mask comes from ``rand_like(x) >= p`` rather than ``bernoulli_``: the same
        distribution, about 3x faster on CPU (0.25 against 0.7 ms for SeqGAN's (64, 1720)
        features, a few percent of a training step).
        """
        p = self.dropout.p
        if not self.training or p == 0.0:
            return x
        if p >= 1.0:
            return torch.zeros_like(x)
        return x * (torch.rand_like(x) >= p).to(x.dtype) * (1.0 / (1.0 - p))

    def prob_real(self, tokens: Tensor, lengths: Tensor | int | None = None) -> Tensor:
        """D(Y): the softmax probability of class 1 ("real"), SeqGAN's reward. Returns (B,) in [0, 1]."""
        return torch.softmax(self.forward(tokens, lengths), dim=-1)[:, 1]

    def real_logit(self, tokens: Tensor, lengths: Tensor | int | None = None) -> Tensor:
        """The log-odds that tokens are real, log D / (1 - D). Returns (B,) float32.

        With two classes this is ``logits[:, 1] - logits[:, 0]``, so ``sigmoid(real_logit)``
        equals ``prob_real``; this is the (B,) logit of the ``Discriminator`` protocol.
        """
        logits = self.forward(tokens, lengths)
        others = torch.cat([logits[:, :1], logits[:, 2:]], dim=1)
        return logits[:, 1] - torch.logsumexp(others, dim=1)

    def prefix_features(self, tokens: Tensor, include_empty: bool = False) -> Tensor:
        """Features of every prefix, as LeakGAN's Manager reads them (Guo et al., 2018, Sec. 3).

        Row t is exactly ``features(tokens, lengths=t + 1)``: the sequence with positions after t
        replaced by the pad embedding, still of length T. CR-Gjx/LeakGAN builds the same input
        (the prefix followed by -1 up to the sequence length, looked up in an embedding table
        with an extra row for -1). Filter widths wider than T see the padded prefix padded on to
        their width, as in ``features``.

        The convolution work is shared across prefixes. A window starting at s sees m real
        tokens of the prefix of length L, m = clamp(L - s, 0, k). Its pre-activation is the sum
        of the per-slot products of its first m slots (a cumulative sum over slots, computed
        once) plus the products of the pad embedding with the remaining k - m slots (a constant
        per m). Windows lying inside the prefix are the full windows of the whole sequence and
        enter through a running maximum over positions; windows wholly in the padding share one
        constant; the at most k - 1 windows crossing the boundary are gathered per prefix. Only
        the highway layer runs once per prefix.

        Args:
            tokens: (B, T) int64 token ids.
            include_empty: also return the feature of the empty prefix (all padding) first.

        Returns:
            (B, T, F) float32, or (B, T + 1, F) with ``include_empty``.
        """
        batch, length = tokens.shape
        emb = self._embed(tokens, None).to(self.compute_dtype)  # (B, T', E)
        pad = self.pad_embedding().to(self.compute_dtype)  # (E,)
        prefix_len = torch.arange(length + 1, device=tokens.device)  # L = 0..T
        pooled = []
        for k, w, b in zip(self.filter_sizes, self.conv_weights, self.conv_biases):
            n = self.num_windows(length, k)
            w = w.to(self.compute_dtype)
            windows = emb[:, :n + k - 1].unfold(1, k, 1)  # (B, n, E, k)
            windows = windows.permute(3, 0, 1, 2).reshape(k, batch * n, self.embed_dim)
            # Per-slot products, summed over the first m slots: partial[m - 1] is (B*n, F_k).
            partial = torch.bmm(windows, w.permute(1, 2, 0)).float().cumsum(dim=0)
            partial = partial.view(k, batch, n, -1)
            # pad_tail[m] = sum_{j >= m} W_j . pad for m = 0..k; pad_tail[k] = 0.
            pad_slot = torch.einsum("fke,e->kf", w, pad).float()  # (k, F_k)
            pad_tail = torch.cat([pad_slot.flip(0).cumsum(0).flip(0), pad_slot.new_zeros(1, pad_slot.size(1))])
            out = torch.relu(pad_tail[0] + b).expand(batch, length + 1, -1)
            # Windows wholly in the padding exist for the prefixes with L <= n - 1.
            out = out * (prefix_len <= n - 1).unsqueeze(-1).to(out.dtype)  # (B, T + 1, F_k)
            if k > 1:
                # Boundary windows: for prefix L and m = 1..k-1 real tokens, the window at s = L - m.
                cross = torch.relu(partial[:-1] + pad_tail[1:k, None, None] + b)  # (k-1, B, n, F_k)
                cross = torch.cat([cross, cross.new_zeros(k - 1, batch, 1, cross.size(-1))], dim=2)
                m = torch.arange(1, k, device=tokens.device).unsqueeze(1)  # (k-1, 1)
                start = prefix_len.unsqueeze(0) - m  # (k-1, T+1)
                start = torch.where((start >= 0) & (start < n), start, n)  # n: the zero row
                picked = cross[m.expand_as(start) - 1, :, start]  # (k-1, T+1, B, F_k)
                out = torch.maximum(out, picked.amax(dim=0).transpose(0, 1))
            if length >= k:
                # Full windows s <= L - k: a running max over s of the whole-sequence windows.
                full = torch.relu(partial[-1, :, :length - k + 1] + b).cummax(dim=1).values
                out = torch.maximum(out, F.pad(full, (0, 0, k, 0)))  # row L reads s <= L - k
            pooled.append(out)
        feats = self._highway(torch.cat(pooled, dim=-1))  # (B, T + 1, F)
        return feats if include_empty else feats[:, 1:]

    # ------------------------------------------------------------------ training objective
    def l2_loss(self) -> Tensor:
        """SeqGAN's penalty ``l2_reg * (tf.nn.l2_loss(W_out) + tf.nn.l2_loss(b_out))``: a scalar."""
        w, b = self.output.weight, self.output.bias
        return self.l2_reg * (w.pow(2).sum() + b.pow(2).sum()) / 2

    def loss(self, tokens: Tensor, labels: Tensor, lengths: Tensor | int | None = None) -> Tensor:
        """Mean cross-entropy plus ``l2_loss`` (SeqGAN's discriminator objective).

        SeqGAN trains this with Adam, learning rate 1e-4.

        Args:
            tokens: (B, T) int64 token ids.
            labels: (B,) int64 classes, 1 for real and 0 for generated.
            lengths: optional (B,) valid lengths (see ``features``).

        Returns:
            scalar float32.
        """
        return F.cross_entropy(self.forward(tokens, lengths), labels) + self.l2_loss()


@dataclass(frozen=True)
class CNNDiscriminatorConfig:
    """Recipe keys of the ``cnn`` discriminator (``discriminator: {type: cnn, ...}``; SeqGAN's)."""

    embed_dim: int = 64
    filter_sizes: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20)
    num_filters: tuple[int, ...] = (100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160)
    dropout: float = 0.25  # SeqGAN keeps 0.75
    l2_reg: float = 0.2
    highway_gate_bias: float = 0.0  # SeqGAN calls its highway() with bias=0
    compute_dtype: Literal["float32", "bfloat16", "auto"] = "float32"  # bfloat16: faster CPU matmuls, D(real) within ~1e-2

    def __post_init__(self) -> None:
        if len(self.filter_sizes) != len(self.num_filters) or not self.filter_sizes:
            raise ValueError(f"discriminator.filter_sizes {list(self.filter_sizes)} and num_filters "
                             f"{list(self.num_filters)} must be non-empty lists of equal length")
