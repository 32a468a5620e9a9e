"""Drawing tokens from logits: temperature, top-k, top-p and a fast categorical sampler."""

from __future__ import annotations

import torch
from torch import Tensor


def filter_logits(logits: Tensor, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0) -> Tensor:
    """Apply temperature, then top-k, then nucleus (top-p) filtering.

    Args:
        logits: (B, V) float.
        temperature: divides the logits; must be > 0.
        top_k: keep the k largest logits per row (0: keep all).
        top_p: keep the smallest set of tokens whose probability reaches ``top_p`` (1.0: keep all).

    Returns:
        (B, V) logits with removed entries set to -inf (a new tensor unless nothing applies).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if temperature != 1.0:
        logits = logits / temperature
    vocab = logits.size(-1)
    if 0 < top_k < vocab:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        # Remove a token when the mass before it already reaches top_p (the top token always stays).
        remove_sorted = (probs.cumsum(-1) - probs) >= top_p
        remove = torch.zeros_like(remove_sorted).scatter(-1, order, remove_sorted)
        logits = logits.masked_fill(remove, float("-inf"))
    return logits


def sample_categorical(logits: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Draw one token per row from softmax(logits) by inverse-CDF sampling.

    One uniform number per row and one pass of exp and cumulative sum over the vocabulary:
    several times cheaper on CPU than ``torch.multinomial`` (which draws through a sorted or
    alias path per row) and than Gumbel-max (one random number per vocabulary entry).

    Args:
        logits: (B, V) float; -inf entries have probability 0.
        generator: source of randomness (same seed, same tokens).

    Returns:
        (B,) int64 token ids.
    """
    logits = logits.float()
    m = logits.max(dim=-1, keepdim=True).values
    cdf = torch.exp(logits - m).cumsum_(dim=-1)  # (B, V) unnormalised CDF
    u = torch.rand((logits.size(0), 1), generator=generator, device=logits.device, dtype=cdf.dtype)
    u = u * cdf[:, -1:]
    idx = torch.searchsorted(cdf, u, right=True).squeeze(1)
    # u < total always, so idx <= V - 1, but guard the float edge where u rounds up to the total.
    return idx.clamp_(max=logits.size(-1) - 1)
