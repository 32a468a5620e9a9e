"""The synthetic-oracle LSTM of SeqGAN (Yu et al., 2017): ground truth for NLL-oracle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import TextganError
from .sampling import sample_categorical

# Names in SeqGAN's pickle order (LantaoYu/SeqGAN target_lstm.py); see corpora/synthetic_oracle.md.
PARAM_NAMES = (
    "embedding", "W_i", "U_i", "b_i", "W_f", "U_f", "b_f",
    "W_o", "U_o", "b_o", "W_c", "U_c", "b_c", "W_out", "b_out",
)


class OracleLSTM(nn.Module):
    """SeqGAN's target LSTM, written out in its own row-vector math.

    For t = 1..T with x_t = E[y_{t-1}], y_0 = start token, h_0 = c_0 = 0:
    i = sigmoid(x W_i + h U_i + b_i), f = sigmoid(x W_f + h U_f + b_f),
    o = sigmoid(x W_o + h U_o + b_o), g = tanh(x W_c + h U_c + b_c),
    c = f * c + i * g, h = o * tanh(c), p(y_t | y_<t) = softmax(h W_out + b_out).
    No forget-bias offset, no peepholes; every sequence has exactly ``seq_len`` tokens.

    Args:
        vocab_size: V (SeqGAN: 5000).
        embed_dim: embedding size (32).
        hidden_dim: hidden size (32).
        seq_len: T (20).
        start_token: y_0 (SeqGAN: 0, an ordinary word that can also be generated).
    """

    def __init__(self, vocab_size: int = 5000, embed_dim: int = 32, hidden_dim: int = 32,
                 seq_len: int = 20, start_token: int = 0) -> None:
        super().__init__()
        self.vocab_size, self.embed_dim, self.hidden_dim = vocab_size, embed_dim, hidden_dim
        self.seq_len, self.start_token = seq_len, start_token
        shapes = {"embedding": (vocab_size, embed_dim), "W_out": (hidden_dim, vocab_size), "b_out": (vocab_size,)}
        for gate in "ifoc":
            shapes[f"W_{gate}"] = (embed_dim, hidden_dim)
            shapes[f"U_{gate}"] = (hidden_dim, hidden_dim)
            shapes[f"b_{gate}"] = (hidden_dim,)
        for name in PARAM_NAMES:
            self.register_parameter(name, nn.Parameter(torch.zeros(shapes[name]), requires_grad=False))

    # ------------------------------------------------------------------ construction
    @classmethod
    def random(cls, seed: int, vocab_size: int = 5000, embed_dim: int = 32, hidden_dim: int = 32,
               seq_len: int = 20, start_token: int = 0) -> "OracleLSTM":
        """A randomly initialised oracle: every parameter from N(0, 1), as SeqGAN's and
        LeakGAN's ``target_lstm.py`` initialise theirs (``init_matrix`` with stddev 1.0)."""
        oracle = cls(vocab_size, embed_dim, hidden_dim, seq_len, start_token)
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name in PARAM_NAMES:
                p = getattr(oracle, name)
                p.copy_(torch.randn(p.shape, generator=gen))
        return oracle

    @classmethod
    def from_npz(cls, path: str | Path, seq_len: int = 20, start_token: int = 0) -> "OracleLSTM":
        """Load SeqGAN's published parameters (``seqgan_oracle_params.npz``, no pickle)."""
        path = Path(path)
        if not path.is_file():
            raise TextganError(f"oracle parameters {str(path)!r} not found: set TEXTGAN_CORPORA to the folder holding synthetic_oracle/ (see `textgan corpus info synthetic_oracle`)")
        try:
            arrays = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise TextganError(f"cannot read oracle parameters {str(path)!r} ({e}): re-download seqgan_oracle_params.npz") from None
        missing = [n for n in PARAM_NAMES if n not in arrays.files]
        if missing:
            raise TextganError(f"oracle file {str(path)!r} lacks arrays {missing}: use SeqGAN's converted seqgan_oracle_params.npz")
        vocab_size, embed_dim = arrays["embedding"].shape
        hidden_dim = arrays["U_i"].shape[0]
        oracle = cls(vocab_size, embed_dim, hidden_dim, seq_len, start_token)
        with torch.no_grad():
            for name in PARAM_NAMES:
                getattr(oracle, name).copy_(torch.from_numpy(np.asarray(arrays[name], dtype=np.float32)))
        return oracle

    # ------------------------------------------------------------------ math
    def _fused(self) -> tuple[Tensor, Tensor, Tensor]:
        # Concatenate the four gates so one matmul computes them all: columns [i | f | o | c].
        W = torch.cat([self.W_i, self.W_f, self.W_o, self.W_c], dim=1)  # (E, 4H)
        U = torch.cat([self.U_i, self.U_f, self.U_o, self.U_c], dim=1)  # (H, 4H)
        b = torch.cat([self.b_i, self.b_f, self.b_o, self.b_c])  # (4H,)
        return W, U, b

    def _cell(self, xw: Tensor, h: Tensor, c: Tensor, U: Tensor) -> tuple[Tensor, Tensor]:
        gates = xw + h @ U  # (B, 4H); xw already holds x W + b
        i, f, o, g = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c

    def _hidden(self, tokens: Tensor) -> Tensor:
        """Teacher-forced hidden states: (B, T) tokens -> (B, T, H); state t has read y_<t."""
        B, T = tokens.shape
        W, U, b = self._fused()
        start = torch.full((B, 1), self.start_token, dtype=tokens.dtype, device=tokens.device)
        xw = self.embedding[torch.cat([start, tokens[:, :-1]], dim=1)] @ W + b  # (B, T, 4H)
        h = torch.zeros((B, self.hidden_dim), device=tokens.device)
        c = torch.zeros_like(h)
        hs = []
        for t in range(T):
            h, c = self._cell(xw[:, t], h, c, U)
            hs.append(h)
        return torch.stack(hs, dim=1)

    @torch.no_grad()
    def log_prob(self, tokens: Tensor) -> Tensor:
        """Teacher-forced log p(y_t | y_<t).

        Args:
            tokens: (B, T) int64, T <= seq_len.

        Returns:
            (B, T) float32 log-probabilities (nats).
        """
        logp = torch.log_softmax(self._hidden(tokens) @ self.W_out + self.b_out, dim=-1)  # (B, T, V)
        return logp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)

    @torch.no_grad()
    def nll(self, tokens: Tensor, batch_size: int = 256) -> float:
        """NLL-oracle: mean per-token negative log-likelihood in nats (SeqGAN's ``target_loss``).

        Scored in blocks of ``batch_size`` sequences with a fused cross-entropy, so the
        (B, T, V) log-probabilities are never materialised.

        Args:
            tokens: (N, T) int64 sequences, e.g. a generator's samples.
            batch_size: sequences scored at a time.
        """
        if tokens.numel() == 0:
            raise ValueError("nll of an empty set of sequences")
        total = 0.0
        for i in range(0, tokens.size(0), batch_size):
            block = tokens[i:i + batch_size]
            hidden = self._hidden(block).reshape(block.numel(), -1)  # (B*T, H)
            logits = torch.addmm(self.b_out, hidden, self.W_out)  # (B*T, V)
            total += torch.nn.functional.cross_entropy(logits, block.reshape(-1), reduction="sum").item()
        return total / tokens.numel()

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, batch_size: int = 10_000) -> Tensor:
        """Draw ``n`` sequences of ``seq_len`` tokens.

        Returns:
            (n, seq_len) int64.
        """
        W, U, b = self._fused()
        out = []
        for start in range(0, n, batch_size):
            B = min(batch_size, n - start)
            tok = torch.full((B,), self.start_token, dtype=torch.long, device=W.device)
            h = torch.zeros((B, self.hidden_dim), device=W.device)
            c = torch.zeros_like(h)
            seq = []
            for _ in range(self.seq_len):
                h, c = self._cell(self.embedding[tok] @ W + b, h, c, U)
                tok = sample_categorical(h @ self.W_out + self.b_out, generator)
                seq.append(tok)
            out.append(torch.stack(seq, dim=1))
        return torch.cat(out, dim=0)
