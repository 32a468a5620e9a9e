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


def sample_categorical(logits: Tensor, generator: torch.Generator | None = None, *, block: int = 64,
                       num_samples: int | None = None) -> Tensor:
    """Draw tokens from softmax(logits) by two-level inverse-CDF sampling.

    One uniform number u per draw, scaled by the row's total mass. The vocabulary is cut into
    blocks of ``block`` entries: block sums (a vectorised reduction) and their cumulative sum
    pick the block holding u, and a cumulative sum over that one block picks the token. This
    draws exactly from the same distribution as a cumulative sum over the whole row (the two
    differ only in float summation order) and is 2-3 times cheaper on CPU, where the row-wise
    ``cumsum`` over V entries is a sequential scan; it is also several times cheaper than
    ``torch.multinomial`` and than Gumbel-max (one random number per vocabulary entry).

    Args:
        logits: (B, V) float; -inf entries have probability 0 (each row needs one finite entry).
        generator: source of randomness (same seed, same tokens).
        block: entries per block; rows with V <= 2 * block use a single cumulative sum.
        num_samples: draw this many independent tokens per row, sharing the exponentials
            (Monte Carlo rollouts draw many continuations from one distribution).

    Returns:
        (B,) int64 token ids, or (B, num_samples) when ``num_samples`` is given.
    """
    logits = logits.float()
    probs = torch.exp(logits - logits.amax(dim=-1, keepdim=True))  # (B, V) unnormalised, max entry 1
    draws = 1 if num_samples is None else num_samples
    u = torch.rand((logits.size(0), draws), generator=generator, device=logits.device, dtype=probs.dtype)
    idx = inverse_cdf(probs, u, block)
    return idx.squeeze(1) if num_samples is None else idx


def sample_linear_softmax(hidden: Tensor, weight: Tensor, bias: Tensor, generator: torch.Generator | None = None,
                          *, hidden_bound: float = 1.0, rows: int = 1024, block: int = 64) -> Tensor:
    """Draw one token per row from softmax(hidden @ weight.T + bias), fused and exact.

    When every feature is bounded, ``|hidden| <= hidden_bound`` (an LSTM output lies in (-1, 1)),
    every logit is at most ``shift = max_v(bias_v + hidden_bound * ||weight_v||_1)``. Folding
    ``-shift`` into the bias makes ``exp`` safe without the row maximum, so the projection writes
    the shifted logits and ``exp_`` turns them into probabilities in place: two passes over the
    (rows x V) block instead of five, done ``rows`` rows at a time so the block stays in cache.
    A row whose mass underflows (its largest logit more than 30 below ``shift``; tokens lost to
    underflow then have probability below e^-40) is redrawn by :func:`sample_categorical`.

    Args:
        hidden: (B, H) float features, all within ``[-hidden_bound, hidden_bound]``.
        weight: (V, H) output matrix.
        bias: (V,) output bias; -inf entries are never drawn.
        generator: source of randomness.
        hidden_bound: the bound on ``|hidden|``.
        rows: rows processed together.
        block: see :func:`sample_categorical`.

    Returns:
        (B,) int64 token ids.
    """
    finite = torch.where(torch.isfinite(bias), bias, torch.full_like(bias, float("-inf")))
    shift = (finite + hidden_bound * weight.abs().sum(dim=1)).max()
    shifted = bias - shift
    out = torch.empty(hidden.size(0), dtype=torch.long, device=hidden.device)
    for r in range(0, hidden.size(0), rows):
        h = hidden[r:r + rows]
        probs = torch.addmm(shifted, h, weight.t()).exp_()  # (rows, V), every entry <= 1
        u = torch.rand((h.size(0), 1), generator=generator, device=h.device, dtype=probs.dtype)
        idx, total = inverse_cdf(probs, u, block, return_total=True)
        out[r:r + rows] = idx.squeeze(1)
        low = total.squeeze(1) < 1e-13  # about e^-30
        if bool(low.any()):
            where = low.nonzero().squeeze(1)
            out[r + where] = sample_categorical(torch.addmm(bias, h[where], weight.t()), generator, block=block)
    return out


def sample_linear(inputs: Tensor, weight: Tensor, generator: torch.Generator | None = None, *,
                  temperature: float = 1.0, banned: tuple[int, ...] = (), rows: int = 256, block: int = 64) -> Tensor:
    """Draw one token per row from softmax(inputs @ weight.T / temperature), ``banned`` columns excluded.

    The same distribution as ``sample_categorical(filter_logits(logits, temperature))`` with the
    banned logits set to -inf (up to float rounding), computed ``rows`` rows at a time: each
    (rows x V) block of logits is formed, shifted by its row maximum, exponentiated in place and
    searched while it is still in cache, instead of five passes over the whole (B x V) array.
    The product runs in ``weight``'s dtype (bfloat16 weights: bfloat16 products, float32 softmax).

    Args:
        inputs: (B, D) features.
        weight: (V, D) output matrix (no bias).
        generator: source of randomness.
        temperature: divides the logits; must be > 0.
        banned: token ids that are never drawn (at least one must remain).
        rows: rows per block.
        block: see :func:`sample_categorical`.

    Returns:
        (B,) int64 token ids.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    inputs = inputs.to(weight.dtype)
    out = torch.empty(inputs.size(0), dtype=torch.long, device=inputs.device)
    ban = list(banned)
    for r in range(0, inputs.size(0), rows):
        logits = torch.nn.functional.linear(inputs[r:r + rows], weight).float()  # (rows, V)
        if ban:
            logits[:, ban] = float("-inf")
        if temperature != 1.0:
            logits.mul_(1.0 / temperature)
        probs = logits.sub_(logits.amax(dim=-1, keepdim=True)).exp_()
        u = torch.rand((probs.size(0), 1), generator=generator, device=probs.device, dtype=probs.dtype)
        out[r:r + rows] = inverse_cdf(probs, u, block).squeeze(1)
    return out


def inverse_cdf(probs: Tensor, u: Tensor, block: int = 64, return_total: bool = False):
    """Indices where the scaled uniforms ``u`` fall in each row's cumulative mass (two-level).

    Args:
        probs: (B, V) non-negative unnormalised probabilities (modified in place).
        u: (B, S) uniforms in [0, 1).
        block: entries per block (see :func:`sample_categorical`).
        return_total: also return each row's total mass (B, 1).

    Returns:
        (B, S) int64 indices (and the (B, 1) totals).
    """
    rows, vocab = probs.shape
    draws = u.size(1)
    if vocab <= 2 * block:
        cdf = probs.cumsum_(dim=-1)
        idx = _search_last(cdf, u * cdf[:, -1:])
        return (idx, cdf[:, -1:]) if return_total else idx
    full = vocab // block
    sums = probs[:, :full * block].view(rows, full, block).sum(dim=-1)  # (B, full)
    if full * block < vocab:  # a shorter last block
        sums = torch.cat([sums, probs[:, full * block:].sum(dim=-1, keepdim=True)], dim=1)
    block_cdf = sums.cumsum_(dim=-1)  # (B, nblocks)
    total = block_cdf[:, -1:]
    target = u * total
    chosen = _search_last(block_cdf, target)  # (B, S) block index per draw
    before = torch.where(chosen > 0, block_cdf.gather(1, (chosen - 1).clamp(min=0)), torch.zeros_like(target))
    cols = chosen.unsqueeze(-1) * block + torch.arange(block, device=probs.device)  # (B, S, block)
    inside = probs.gather(1, cols.view(rows, -1).clamp(max=vocab - 1)).view(rows * draws, block)
    inside.masked_fill_(cols.view(rows * draws, block) >= vocab, 0.0)
    within = _search_last(inside.cumsum_(dim=-1), (target - before).view(rows * draws, 1)).view(rows, draws)
    idx = chosen * block + within
    return (idx, total) if return_total else idx


def _search_last(cdf: Tensor, value: Tensor) -> Tensor:
    """First index with cdf > value; when rounding puts value at or past the total, the first
    index reaching the total (an entry of positive mass, never a trailing zero). (B, S) int64."""
    idx = torch.searchsorted(cdf, value.contiguous(), right=True)
    last = torch.searchsorted(cdf, cdf[:, -1:].contiguous(), right=False)
    return torch.minimum(idx, last)


def token_log_probs(logits: Tensor, tokens: Tensor) -> Tensor:
    """log softmax(logits) at ``tokens``: (..., V) and (...) int64 -> (...) float."""
    return torch.log_softmax(logits, dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


def banned_tokens(pad_id: int | None, start_token: int) -> tuple[int, ...]:
    """The ids text sampling never draws: padding and the start token; none without padding
    (the synthetic oracle). See :func:`ban_special_logits`."""
    return () if pad_id is None else (pad_id, start_token)


def ban_special_logits(logits: Tensor, pad_id: int | None, start_token: int) -> Tensor:
    """Give padding and the start token zero probability when sampling text.

    Neither is ever a training target (padding is masked out of the loss, the start token only
    starts), so a trained model gives them almost nothing; banning them makes sure a sampled text
    never holds one. Without padding (the synthetic oracle) nothing is banned.

    Args:
        logits: (B, V).
        pad_id: the padding id, or None.
        start_token: the id fed at step 0.

    Returns:
        (B, V) logits (a copy when anything is banned).
    """
    return ban_logits(logits, banned_tokens(pad_id, start_token))


def ban_logits(logits: Tensor, banned: tuple[int, ...]) -> Tensor:
    """(B, V) ``logits`` with the ids ``banned`` at -inf (a copy when any is banned)."""
    if not banned:
        return logits
    logits = logits.clone()
    logits[:, list(banned)] = float("-inf")
    return logits


def banned_bias(bias: Tensor, banned: tuple[int, ...]) -> Tensor:
    """An output layer's bias (V,) with the ids ``banned`` at -inf (a copy when any is banned): the
    fused samplers' form of :func:`ban_logits`."""
    if not banned:
        return bias
    bias = bias.clone()
    bias[list(banned)] = float("-inf")
    return bias


def pad_after_eos(tokens: Tensor, eos_id: int | None, pad_id: int | None) -> Tensor:
    """(B, T) tokens with every position after the first end-of-sequence token set to padding."""
    if eos_id is None or pad_id is None:
        return tokens
    is_eos = tokens == eos_id
    after = (is_eos.cumsum(dim=1) - is_eos.long()) > 0  # strictly after the first eos
    return tokens.masked_fill(after, pad_id)
