"""The LSTM language-model generator (SeqGAN's generator; the MLE baseline of every text GAN)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from .base import GeneratorOutput, TokenGenerator
from .linear_nll import DEFAULT_CHUNK_ROWS
from .sampling import banned_bias, filter_logits, sample_categorical, sample_linear_softmax

State = tuple[Tensor, Tensor]  # (h, c), each (1, B, H)

_PRODUCT_DTYPES = {"float32": None, "bfloat16": torch.bfloat16}  # None: the parameters' own dtype

# Rows whose logits are projected and sampled together (a cache-sized slice; see ``sample``).
SAMPLE_ROWS = 1024


class LSTMGenerator(TokenGenerator):
    """An LSTM that reads the previous token and predicts the next (Yu et al., 2017, Sec. 4).

    Sequences are fixed-length ``max_len`` token tensors (B, T) without the start token; the
    model is fed ``start_token`` first. For text, positions after the end-of-sequence token hold
    ``pad_id`` and are left out of the loss.

    Args:
        vocab_size: V.
        embed_dim: token embedding size (SeqGAN: 32).
        hidden_dim: LSTM hidden size (SeqGAN: 32).
        max_len: T, the length of generated sequences.
        start_token: the token fed at step 0 (Vocab.bos_id for text, 0 for the synthetic oracle).
        pad_id: token ignored by the loss, or None when every position counts.
        eos_id: end-of-sequence token; after it, sampling emits ``pad_id``.
        init_std: weights are drawn from N(0, init_std) as SeqGAN does (0.1).
        nll_chunk_rows: the MLE loss (``output="nll"``) runs the output layer and the cross-entropy
            fused, this many rows at a time (:func:`textgan.models.linear_nll.linear_nll`); 0 computes
            the full (B, T, V) logits and ``F.cross_entropy`` instead. On CPU only: on a GPU the
            logits fit and the chunk loop would only add kernel launches.
        compute_dtype: dtype of the fused MLE loss's three matrix products when training
            ("float32" or "bfloat16"; the softmax, the loss, the gradients' sums and every
            evaluation stay in float32). bfloat16 is 2-4x faster on CPUs with bfloat16 units and
            moves the loss by about 4e-5 at SeqGAN's shapes (tests/models/test_linear_nll.py; docs/seqgan.md).
    """

    def __init__(self, vocab_size: int, embed_dim: int = 32, hidden_dim: int = 32, max_len: int = 20,
                 start_token: int = 0, pad_id: int | None = None, eos_id: int | None = None,
                 init_std: float = 0.1, nll_chunk_rows: int = DEFAULT_CHUNK_ROWS,
                 compute_dtype: str = "float32") -> None:
        super().__init__()
        if compute_dtype not in _PRODUCT_DTYPES:
            raise ValueError(f"compute_dtype must be one of {sorted(_PRODUCT_DTYPES)}, got {compute_dtype!r}")
        self.nll_chunk_rows = nll_chunk_rows  # a compute choice, not saved in config()
        self.compute_dtype = compute_dtype  # likewise
        self.vocab_size, self.embed_dim, self.hidden_dim = vocab_size, embed_dim, hidden_dim
        self.max_len, self.start_token, self.pad_id, self.eos_id = max_len, start_token, pad_id, eos_id
        self.init_std = init_std
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden_dim, batch_first=True)
        self.output = nn.Linear(hidden_dim, vocab_size)
        self.reset_parameters()

    def config(self) -> dict:
        """Constructor arguments, saved next to the weights."""
        return {k: getattr(self, k) for k in ("vocab_size", "embed_dim", "hidden_dim", "max_len",
                                              "start_token", "pad_id", "eos_id", "init_std")}

    def reset_parameters(self) -> None:
        """SeqGAN's initialisation: every weight and bias from N(0, init_std).

        torch's LSTM has two bias vectors whose sum acts as SeqGAN's single bias; the second is
        zeroed so the sum has SeqGAN's spread.
        """
        for name, p in self.named_parameters():
            if name == "lstm.bias_hh_l0":
                nn.init.zeros_(p)
            else:
                nn.init.normal_(p, 0.0, self.init_std)

    # ------------------------------------------------------------------ teacher forcing
    def forward(self, tokens: Tensor, output: GeneratorOutput = "logits", temperature: float = 1.0) -> Tensor:
        """The teacher-forced pass; every computation with gradients goes through here.

        DistributedDataParallel only synchronises what runs through ``forward``, so losses call
        ``generator(tokens, output=...)`` rather than :meth:`log_prob` or :meth:`nll_loss`
        (a DDP wrapper has no such methods).

        Args:
            tokens: (B, T) int64 targets.
            output: what to return:
                ``"logits"``: (B, T, V) next-token logits; position t predicts tokens[:, t].
                ``"log_prob"``: (B, T) log softmax(logits / temperature) at ``tokens``, 0 at padding.
                ``"nll"``: the mean per-token negative log-likelihood over counted positions
                (the MLE loss, a scalar).
            temperature: the policy's temperature (> 0), for ``"log_prob"`` only.
        """
        self.check_output(output, temperature)
        hidden, _ = self.lstm(self.embedding(self.shift_right(tokens)))  # (B, T, H)
        if output == "nll" and self.nll_chunk_rows and hidden.device.type == "cpu":  # a GPU keeps the logits: fewer launches
            return self.fused_nll(hidden, self.output, tokens, self.nll_chunk_rows, _PRODUCT_DTYPES[self.compute_dtype])
        return self.outputs(self.output(hidden), tokens, output, temperature)

    # ------------------------------------------------------------------ stepping and sampling
    def step(self, tokens: Tensor, state: State | None) -> tuple[Tensor, State]:
        """One step: read ``tokens`` (B,), return next-token logits (B, V) and the new state."""
        out, state = self.lstm(self.embedding(tokens).unsqueeze(1), state)
        return self.output(out.squeeze(1)), state

    @torch.no_grad()
    def sample(self, n: int, max_len: int | None = None, *, temperature: float = 1.0, top_k: int = 0,
               top_p: float = 1.0, generator: torch.Generator | None = None, batch_size: int = 10_000) -> Tensor:
        """Draw ``n`` sequences autoregressively.

        Args:
            n: number of sequences.
            max_len: length T (default: the model's ``max_len``).
            temperature, top_k, top_p: see :func:`filter_logits`.
            generator: randomness (the same seed gives the same sequences).
            batch_size: sequences drawn in parallel.

        Returns:
            (n, T) int64; after an end-of-sequence token every position holds ``pad_id``.
        """
        T = max_len or self.max_len
        device = self.output.weight.device
        chunks = []
        for s in range(0, n, batch_size):
            B = min(batch_size, n - s)
            tok, state = self.initial_tokens(B, device), None
            seq = torch.empty((B, T), dtype=torch.long, device=device)
            plain = temperature == 1.0 and top_k == 0 and top_p >= 1.0
            for t in range(T):
                if plain:
                    tok, state = self.step_sample(tok, state, generator)
                else:
                    logits, state = self.step(tok, state)
                    tok = sample_categorical(filter_logits(self.ban_specials(logits), temperature, top_k, top_p), generator)
                seq[:, t] = tok
            chunks.append(seq)
        return self.finish(torch.cat(chunks, dim=0))

    def step_sample(self, tokens: Tensor, state: State | None,
                    generator: torch.Generator | None = None) -> tuple[Tensor, State]:
        """One step of plain sampling: read ``tokens`` (B,), draw the next tokens (B,) from
        softmax(logits) with padding and the start token banned, return them and the new state.

        Exactly the distribution of ``sample_categorical(ban_specials(step(...)[0]))``, fused: the
        LSTM output lies in (-1, 1), so :func:`sample_linear_softmax` needs no row maximum.
        """
        hidden, state = self.lstm(self.embedding(tokens).unsqueeze(1), state)
        bias = banned_bias(self.output.bias, self.banned_ids())
        tok = sample_linear_softmax(hidden.squeeze(1), self.output.weight, bias, generator, rows=SAMPLE_ROWS)
        return tok, state

    def reorder_state(self, state: State, index: Tensor) -> State:
        """The recurrent state of the rows ``index`` (R,) int64, in that order: (h, c) each (1, R, H)."""
        return tuple(s.index_select(1, index) for s in state)  # type: ignore[return-value]

    @staticmethod
    def concat_states(states: list[State]) -> State:
        """Stack the rows of several states: (h, c) each (1, sum R_i, H)."""
        return tuple(torch.cat(parts, dim=1) for parts in zip(*states))  # type: ignore[return-value]


@dataclass(frozen=True)
class LSTMGeneratorConfig:
    """Recipe keys of the ``lstm`` generator (``generator: {type: lstm, ...}``); vocabulary and length come from the data."""

    embed_dim: int = 32
    hidden_dim: int = 32
    init_std: float = 0.1  # SeqGAN initialises every weight from N(0, 0.1)
    nll_chunk_rows: int = DEFAULT_CHUNK_ROWS  # fused output layer + MLE loss, rows per chunk; 0: plain cross-entropy
    compute_dtype: Literal["float32", "bfloat16", "auto"] = "float32"  # the fused MLE loss's products (auto: bf16 where faster)

    def __post_init__(self) -> None:
        if self.embed_dim < 1 or self.hidden_dim < 1 or self.init_std <= 0:
            raise ValueError("generator.embed_dim and hidden_dim must be positive and init_std > 0")
        if self.nll_chunk_rows < 0:
            raise ValueError(f"generator.nll_chunk_rows must be >= 0 (0: no fusion), got {self.nll_chunk_rows}")
