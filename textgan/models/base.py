"""What every autoregressive token generator shares: teacher-forcing inputs, the outputs of
``forward``, padding masks and the special-token rules of sampling."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .linear_nll import linear_nll
from .sampling import ban_logits, banned_tokens, pad_after_eos, token_log_probs

# What a generator's ``forward`` returns (see :meth:`TokenGenerator.outputs`).
GeneratorOutput = Literal["logits", "log_prob", "nll"]


class TokenGenerator(nn.Module):
    """Base of generators over fixed-length (B, T) token tensors fed ``start_token`` first.

    Subclasses set ``vocab_size``, ``max_len``, ``start_token``, ``pad_id`` and ``eos_id`` and
    compute logits in ``forward``, then return :meth:`outputs` of them.
    """

    vocab_size: int
    max_len: int
    start_token: int
    pad_id: int | None
    eos_id: int | None
    # The logits of tokens[:, :L] equal the first L positions of the whole row's (a causal model);
    # scorers then cut the padding off a batch (see textgan.detection.baselines.zero_shot_scores).
    prefix_logits: bool = True

    def shift_right(self, tokens: Tensor) -> Tensor:
        """(B, T) targets -> (B, T) inputs: the start token, then tokens[:, :-1]."""
        start = tokens.new_full((tokens.size(0), 1), self.start_token)
        return torch.cat([start, tokens[:, :-1]], dim=1)

    @staticmethod
    def check_output(output: str, temperature: float) -> None:
        if output not in get_args(GeneratorOutput):
            raise ValueError(f"output must be one of {get_args(GeneratorOutput)}, got {output!r}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")

    def outputs(self, logits: Tensor, tokens: Tensor, output: GeneratorOutput, temperature: float) -> Tensor:
        """What ``forward(tokens, output, temperature)`` returns, from its teacher-forced logits.

        ``"logits"``: (B, T, V) as given; ``"log_prob"``: (B, T) log softmax(logits / temperature)
        at ``tokens``, 0 at padding; ``"nll"``: the mean per-token negative log-likelihood over
        counted positions (the MLE loss, a scalar).
        """
        if output == "logits":
            return logits
        if output == "log_prob":
            if temperature != 1.0:
                logits = logits / temperature
            return token_log_probs(logits, tokens) * self.mask(tokens)
        return F.cross_entropy(logits.reshape(-1, self.vocab_size), tokens.reshape(-1),  # output == "nll"
                               ignore_index=self.ignore_index)

    def fused_nll(self, hidden: Tensor, layer: nn.Linear, tokens: Tensor, chunk_rows: int,
                  product_dtype: torch.dtype | None = None) -> Tensor:
        """``outputs(layer(hidden), tokens, "nll", 1.0)`` without the (B, T, V) logits (see :mod:`.linear_nll`)."""
        return linear_nll(hidden, layer.weight, layer.bias, tokens, self.ignore_index, chunk_rows, product_dtype)

    @property
    def ignore_index(self) -> int:
        """The target the MLE loss skips: padding, or -100 (nothing) without a padding token."""
        return -100 if self.pad_id is None else self.pad_id

    def log_prob(self, tokens: Tensor) -> Tensor:
        """log G(y_t | y_<t) for every position. Returns (B, T) float; 0 at ignored (pad) positions."""
        return self(tokens, output="log_prob")

    def mask(self, tokens: Tensor) -> Tensor:
        """(B, T) float: 1 where the token counts for the loss, 0 at padding."""
        if self.pad_id is None:
            return torch.ones_like(tokens, dtype=torch.float32)
        return (tokens != self.pad_id).float()

    def nll_loss(self, tokens: Tensor) -> Tensor:
        """Mean per-token negative log-likelihood over counted positions (the MLE loss)."""
        return self(tokens, output="nll")

    def initial_tokens(self, n: int, device: torch.device | None = None) -> Tensor:
        """(n,) start tokens."""
        return torch.full((n,), self.start_token, dtype=torch.long, device=device)

    def banned_ids(self) -> tuple[int, ...]:
        """The ids sampling never draws: padding and the start token (see
        :func:`textgan.models.sampling.ban_special_logits`), and the ids :meth:`banning` adds."""
        return banned_tokens(self.pad_id, self.start_token) + getattr(self, "_extra_banned", ())

    @contextmanager
    def banning(self, ids: tuple[int, ...]) -> Iterator[None]:
        """Inside the block, sampling (``sample``, ``step_sample``, :meth:`ban_specials`) also never
        draws ``ids`` (``textgan generate --ban-unk`` bans ``<unk>`` so); training and scoring are
        unchanged. Not saved with the model."""
        before = getattr(self, "_extra_banned", ())
        self._extra_banned = tuple(dict.fromkeys(before + tuple(int(i) for i in ids)))
        try:
            yield
        finally:
            self._extra_banned = before

    def ban_specials(self, logits: Tensor) -> Tensor:
        """(B, V) logits with :meth:`banned_ids` at -inf: padding, the start token, and any id
        :meth:`banning` adds."""
        return ban_logits(logits, self.banned_ids())

    def finish(self, tokens: Tensor) -> Tensor:
        """Replace everything after the first end-of-sequence token by padding (text only)."""
        return pad_after_eos(tokens, self.eos_id, self.pad_id)
