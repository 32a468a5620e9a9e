"""RelGAN's generator: a relational memory core (Santoro et al., 2018) as the recurrent cell.

Nie et al., ICLR 2019, Sec. 2.1; weilinie/RelGAN models/rmc_vanilla.py (generator) and
utils/models/relational_memory.py (the core). The generator is a language model like
:class:`~textgan.models.lstm_generator.LSTMGenerator` (same ``forward`` outputs, ``step``,
``sample``), so MLE pretraining, evaluation and generation treat it alike; the relaxed
adversarial phase drives ``step`` with Gumbel-softmax outputs (:mod:`textgan.rl.relaxed`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import GeneratorOutput, TokenGenerator
from .sampling import filter_logits, sample_categorical


def _trunc_normal(weight: Tensor, fan_in: int) -> None:
    """TF's ``truncated_normal(stddev=1/sqrt(fan_in))`` (the reference's linear initializer)."""
    std = fan_in ** -0.5
    nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std)


class RelationalMemory(nn.Module):
    """A relational memory core: ``mem_slots`` memory rows attend over themselves and the input.

    Each step appends the projected input as one more row, runs multi-head attention over the
    rows (query/key/value of size ``head_size`` per head, layer-normed), a residual layer norm,
    a 2-layer MLP, another residual layer norm, drops the input row, and gates the result into
    the old memory with LSTM-like input and forget gates computed per unit.

    Args:
        input_size: size of the step input (the token embedding).
        mem_slots, head_size, num_heads: memory rows, per-head size, heads; a row holds
            ``head_size * num_heads`` units.
        forget_bias, input_bias: added to the gates' pre-activations (reference: 1 and 0).
    """

    def __init__(self, input_size: int, mem_slots: int = 1, head_size: int = 256, num_heads: int = 2,
                 forget_bias: float = 1.0, input_bias: float = 0.0) -> None:
        super().__init__()
        self.mem_slots, self.head_size, self.num_heads = mem_slots, head_size, num_heads
        self.mem_size = head_size * num_heads
        self.forget_bias, self.input_bias = forget_bias, input_bias
        m = self.mem_size
        self.input_proj = nn.Linear(input_size, m)
        self.qkv = nn.Linear(m, 3 * m, bias=False)
        self.qkv_norm = nn.LayerNorm(3 * m)
        self.attend_norm = nn.LayerNorm(m)
        self.mlp = nn.Sequential(nn.Linear(m, m), nn.ReLU(), nn.Linear(m, m))
        self.mlp_norm = nn.LayerNorm(m)
        self.gate_input = nn.Linear(m, 2 * m, bias=False)
        self.gate_memory = nn.Linear(m, 2 * m, bias=False)
        for layer in (self.input_proj, self.qkv, self.mlp[0], self.mlp[2], self.gate_input, self.gate_memory):
            _trunc_normal(layer.weight, layer.in_features)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)

    @property
    def output_size(self) -> int:
        return self.mem_slots * self.mem_size

    def initial_state(self, batch: int, device: torch.device | None = None) -> Tensor:
        """(B, N, M): each row an identity row, zero-padded (or cut) to M units."""
        eye = torch.eye(self.mem_slots, device=device)
        if self.mem_size > self.mem_slots:
            eye = F.pad(eye, (0, self.mem_size - self.mem_slots))
        return eye[:, :self.mem_size].expand(batch, -1, -1).contiguous()

    def attend(self, memory: Tensor) -> Tensor:
        """One attention block over the rows: (B, R, M) -> (B, R, M)."""
        b, r, m = memory.shape
        qkv = self.qkv_norm(self.qkv(memory)).view(b, r, self.num_heads, 3 * self.head_size).transpose(1, 2)
        q, k, v = qkv.split(self.head_size, dim=-1)  # each (B, H, R, head_size)
        weights = torch.softmax((q * (3 * self.head_size) ** -0.5) @ k.transpose(-1, -2), dim=-1)
        attended = (weights @ v).transpose(1, 2).reshape(b, r, m)
        memory = self.attend_norm(memory + attended)
        return self.mlp_norm(memory + self.mlp(memory))

    def forward(self, inputs: Tensor, memory: Tensor) -> tuple[Tensor, Tensor]:
        """Read ``inputs`` (B, input_size) into ``memory`` (B, N, M): returns (output (B, N*M), new memory)."""
        x = self.input_proj(inputs).unsqueeze(1)  # (B, 1, M)
        candidate = self.attend(torch.cat([memory, x], dim=1))[:, :-1]  # (B, N, M)
        gate_in, gate_forget = (self.gate_memory(torch.tanh(memory)) + self.gate_input(x)).chunk(2, dim=-1)
        new = torch.sigmoid(gate_in + self.input_bias) * torch.tanh(candidate) \
            + torch.sigmoid(gate_forget + self.forget_bias) * memory
        return new.reshape(new.size(0), -1), new


class RelGANGenerator(TokenGenerator):
    """RelGAN's generator: token embedding -> relational memory -> vocabulary logits.

    Same interface as :class:`~textgan.models.lstm_generator.LSTMGenerator` (sequences of
    ``max_len`` tokens without the start token; after an end-of-sequence token, padding).

    Args:
        vocab_size: V.
        embed_dim: token embedding size (RelGAN: 32).
        mem_slots, head_size, num_heads: the relational memory (RelGAN: 1, 256, 2).
        max_len, start_token, pad_id, eos_id: as the LSTM generator.
    """

    def __init__(self, vocab_size: int, embed_dim: int = 32, mem_slots: int = 1, head_size: int = 256,
                 num_heads: int = 2, max_len: int = 20, start_token: int = 0, pad_id: int | None = None,
                 eos_id: int | None = None) -> None:
        super().__init__()
        self.vocab_size, self.embed_dim = vocab_size, embed_dim
        self.mem_slots, self.head_size, self.num_heads = mem_slots, head_size, num_heads
        self.max_len, self.start_token, self.pad_id, self.eos_id = max_len, start_token, pad_id, eos_id
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.memory = RelationalMemory(embed_dim, mem_slots, head_size, num_heads)
        self.output = nn.Linear(self.memory.output_size, vocab_size)
        _trunc_normal(self.embedding.weight, vocab_size)
        _trunc_normal(self.output.weight, self.memory.output_size)
        nn.init.zeros_(self.output.bias)

    def config(self) -> dict:
        """Constructor arguments, saved next to the weights."""
        return {k: getattr(self, k) for k in ("vocab_size", "embed_dim", "mem_slots", "head_size", "num_heads",
                                              "max_len", "start_token", "pad_id", "eos_id")}

    def step(self, tokens: Tensor, state: Tensor | None) -> tuple[Tensor, Tensor]:
        """Read ``tokens`` (B,): next-token logits (B, V) and the new memory (None: the initial one)."""
        if state is None:
            state = self.memory.initial_state(tokens.size(0), tokens.device)
        out, state = self.memory(self.embedding(tokens), state)
        return self.output(out), state

    def forward(self, tokens: Tensor, output: GeneratorOutput = "logits", temperature: float = 1.0) -> Tensor:
        """Teacher-forced pass, as ``LSTMGenerator.forward``: "logits" (B, T, V), "log_prob" (B, T), "nll"."""
        self.check_output(output, temperature)
        emb, steps = self.embedding(self.shift_right(tokens)), []
        state = self.memory.initial_state(tokens.size(0), tokens.device)
        for t in range(tokens.size(1)):
            out, state = self.memory(emb[:, t], state)
            steps.append(out)
        return self.outputs(self.output(torch.stack(steps, dim=1)), tokens, output, temperature)  # one projection

    @torch.no_grad()
    def sample(self, n: int, max_len: int | None = None, *, temperature: float = 1.0, top_k: int = 0,
               top_p: float = 1.0, generator: torch.Generator | None = None, batch_size: int = 10_000) -> Tensor:
        """Draw ``n`` sequences (n, T) int64, as ``LSTMGenerator.sample``."""
        length, device, chunks = max_len or self.max_len, self.output.weight.device, []
        for s in range(0, n, batch_size):
            tok, state = self.initial_tokens(min(batch_size, n - s), device), None
            seq = []
            for _ in range(length):
                logits, state = self.step(tok, state)
                tok = sample_categorical(filter_logits(self.ban_specials(logits), temperature, top_k, top_p), generator)
                seq.append(tok)
            chunks.append(torch.stack(seq, dim=1))
        return self.finish(torch.cat(chunks))


@dataclass(frozen=True)
class RelGANConfig:
    """Recipe keys of the ``relgan`` generator (``generator: {type: relgan, ...}``; Nie et al. 2019).

    Defaults are the paper's (weilinie/RelGAN run.py: gen_emb_dim 32, mem_slots 1, head_size 256,
    num_heads 2); the paper's synthetic-data runs also use head_size 256.
    """

    embed_dim: int = 32
    mem_slots: int = 1
    head_size: int = 256
    num_heads: int = 2

    def __post_init__(self) -> None:
        if min(self.embed_dim, self.mem_slots, self.head_size, self.num_heads) < 1:
            raise ValueError("generator.embed_dim, mem_slots, head_size and num_heads must be positive")
