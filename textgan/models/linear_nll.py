"""The output layer and the mean cross-entropy in one pass over row chunks (the MLE loss).

An MLE step of a small LSTM over a large vocabulary spends most of its time outside the LSTM:
``F.cross_entropy(linear(hidden), targets)`` writes the (N, V) logits to memory, reads them back
for the log-softmax, writes its result, and its backward reads both again and writes an (N, V)
gradient (for SeqGAN's shapes, N = 64 x 20 and V = 5,000: 6.4 million floats per pass). Here the
rows are taken a chunk at a time, small enough that a chunk's logits stay in the core's cache, and
the gradients with respect to the hidden states, the weight and the bias are computed in the
forward pass, where the chunk's softmax is at hand. The backward pass only scales them by the
incoming gradient. Nothing of size (N, V) is ever allocated.

The value and the gradients are those of ``F.cross_entropy(F.linear(hidden, weight, bias), targets,
ignore_index=ignore_index)`` (mean over the counted rows) up to float rounding; tests compare them.
The gradient work is skipped when no input needs a gradient (evaluation). The function is
differentiable once (no double backward), which is all that training needs.
"""

from __future__ import annotations

import torch
from torch import Tensor

# A target probability below this (about exp(-80)) has lost digits to float32 underflow; the loss of
# such a row is taken from the logits (log-sum-exp) instead of the softmax.
_SMALLEST_RELIABLE = 1e-35
DEFAULT_CHUNK_ROWS = 64  # 64 x 5,000 float32 logits = 1.25 MB: about one core's L2; fastest of 32-256 on SeqGAN's shapes (docs/seqgan.md)


class _LinearNLL(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden: Tensor, weight: Tensor, bias: Tensor | None, targets: Tensor, ignore_index: int,
                chunk_rows: int, product_dtype: torch.dtype | None, grad_enabled: bool) -> Tensor:
        # needs_input_grad says what the inputs require even under torch.no_grad(): the caller's
        # grad mode decides whether gradients are wanted at all (evaluation wants none).
        need_h, need_w, need_b = (grad_enabled and n for n in ctx.needs_input_grad[:3])
        grads = need_h or need_w or need_b
        # Lower-precision products only when training: a loss without gradients (evaluation,
        # NLL-test) is always computed at the inputs' precision.
        low = grads and product_dtype is not None and product_dtype != hidden.dtype
        all_counted = ignore_index < 0  # token ids are >= 0: a negative ignore_index skips nothing (no host read)
        counted = None if all_counted else targets != ignore_index
        count = hidden.new_full((), float(targets.numel())) if all_counted else counted.sum().to(hidden.dtype)
        safe = targets if all_counted else targets.masked_fill(~counted, 0)
        grad_h = torch.empty_like(hidden) if need_h else None
        grad_w = torch.zeros_like(weight) if need_w else None
        grad_b = torch.zeros_like(bias) if (need_b and bias is not None) else None
        total = hidden.new_zeros(())
        rows = hidden.to(product_dtype) if low else hidden  # converted once, not per chunk
        weight_p = weight.to(product_dtype) if low else weight
        weight_t = weight_p.t()
        minus_one = hidden.new_full((min(chunk_rows, hidden.size(0)), 1), -1.0)
        for start in range(0, hidden.size(0), chunk_rows):
            end = min(start + chunk_rows, hidden.size(0))
            h, t = rows[start:end], safe[start:end].unsqueeze(1)
            if low:  # the product in low precision, everything after it in the inputs' precision
                logits = (h @ weight_t).to(hidden.dtype)
                if bias is not None:
                    logits.add_(bias)
            else:
                logits = torch.addmm(bias, h, weight_t) if bias is not None else h @ weight_t
            probs = torch.softmax(logits, dim=1)  # one fused pass (max, exp, sum, divide)
            picked = probs.gather(1, t).squeeze(1)
            row_loss = picked.log().neg_()
            small = picked < _SMALLEST_RELIABLE
            if bool(small.any()):  # the target's probability underflowed: its loss from the logits instead
                where = small.nonzero().squeeze(1)
                exact = torch.logsumexp(logits[where], dim=1) - logits[where].gather(1, t[where]).squeeze(1)
                row_loss = row_loss.index_copy(0, where, exact)
            if not all_counted:
                row_loss = row_loss * counted[start:end]
            total = total + row_loss.sum()
            if not grads:
                continue
            probs.scatter_add_(1, t, minus_one[:end - start])  # d(row loss) / d(logits) = softmax - one-hot
            if not all_counted:
                probs.mul_(counted[start:end].unsqueeze(1).to(probs.dtype))
            if grad_b is not None:
                grad_b.add_(probs.sum(dim=0))
            if low:
                probs_p = probs.to(product_dtype)
                if grad_h is not None:
                    grad_h[start:end] = probs_p @ weight_p
                if grad_w is not None:
                    grad_w.add_(probs_p.t() @ h)
            else:
                if grad_h is not None:
                    torch.mm(probs, weight, out=grad_h[start:end])
                if grad_w is not None:
                    grad_w.addmm_(probs.t(), h)
        scale = 1.0 / count  # a 0-d tensor: no host read; 0 counted rows give nan, as F.cross_entropy does
        ctx.save_for_backward(*(g.mul_(scale) if g is not None else None for g in (grad_h, grad_w, grad_b)))
        return total * scale

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: Tensor):
        grad_h, grad_w, grad_b = ctx.saved_tensors
        return (None if grad_h is None else grad_h * grad_out, None if grad_w is None else grad_w * grad_out,
                None if grad_b is None else grad_b * grad_out, None, None, None, None, None)


def linear_nll(hidden: Tensor, weight: Tensor, bias: Tensor | None, targets: Tensor, ignore_index: int = -100,
               chunk_rows: int = DEFAULT_CHUNK_ROWS, product_dtype: torch.dtype | None = None) -> Tensor:
    """Mean cross-entropy of ``F.linear(hidden, weight, bias)`` against ``targets``, chunk by chunk.

    Args:
        hidden: (..., H) float inputs of the output layer (any leading shape; flattened to rows).
        weight: (V, H) output-layer weight; bias: (V,) or None.
        targets: (...) int64 token ids, the leading shape of ``hidden``; ``ignore_index`` rows do not count.
        ignore_index: the target that is skipped (padding), as in ``F.cross_entropy``.
        chunk_rows: rows per chunk (the (chunk_rows, V) logits should fit in cache).
        product_dtype: when gradients are computed, the three matrix products (logits, the
            gradients of hidden and weight) take their inputs in this dtype (``torch.bfloat16`` on
            CPUs with bfloat16 units: 2-4x faster products); the softmax, the loss and the
            accumulated gradients stay in the inputs' dtype. None: the inputs' dtype. A loss
            computed without gradients (evaluation) always uses the inputs' dtype.

    Returns:
        The scalar mean over counted rows, differentiable with respect to hidden, weight and bias.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    hidden = hidden.reshape(-1, hidden.size(-1))
    targets = targets.reshape(-1)
    if targets.size(0) != hidden.size(0):
        raise ValueError(f"{targets.size(0)} targets for {hidden.size(0)} rows of hidden states")
    return _LinearNLL.apply(hidden.contiguous(), weight, bias, targets, ignore_index, chunk_rows, product_dtype,
                             torch.is_grad_enabled())
