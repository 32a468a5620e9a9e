"""Label-conditional generation (SentiGAN / CatGAN style): an LSTM generator fed a label embedding at
every step, and a CNN discriminator with one "real" class per label plus one "generated" class.

The label of a row is part of the generator's recurrent state, so Monte Carlo rollouts, which
reorder and stack states, carry it without knowing it is there. Without labels the generator is
its label mixture: ``forward`` gives the exact marginal p(x) = sum_k p(k) p(x | k) over the
training label frequencies (``label_prior``), ``sample`` draws each row's label from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .base import GeneratorOutput, TokenGenerator
from .cnn_discriminator import CNNDiscriminator, CNNDiscriminatorConfig
from .lstm_generator import SAMPLE_ROWS
from .sampling import banned_bias, filter_logits, sample_categorical, sample_linear_softmax

State = tuple[Tensor, Tensor, Tensor]  # (h, c) each (1, B, H), labels (B,) int64


class ConditionalLSTMGenerator(TokenGenerator):
    """SeqGAN's LSTM whose input at every step is ``[token embedding ; label embedding]``.

    Args:
        vocab_size: V.
        embed_dim: token embedding size.
        hidden_dim: LSTM hidden size.
        label_dim: label embedding size.
        num_labels: K, the number of classes (from the data).
        max_len, start_token, pad_id, eos_id, init_std: as :class:`~textgan.models.lstm_generator.LSTMGenerator`.
        label_names: K names (saved with the checkpoint, so ``textgan generate --label NAME`` resolves them).
        label_prior: K training label frequencies (default: uniform); ``sample`` without labels
            draws from them and ``forward`` without labels mixes over them.
    """

    # The rollout policy copies the embeddings outright, as SeqGAN's does the token embedding.
    rollout_copy_prefixes = ("embedding.", "label_embedding.")

    def __init__(self, vocab_size: int, embed_dim: int = 32, hidden_dim: int = 32, label_dim: int = 8,
                 num_labels: int = 1, max_len: int = 20, start_token: int = 0, pad_id: int | None = None,
                 eos_id: int | None = None, init_std: float = 0.1, label_names: Sequence[str] | None = None,
                 label_prior: Sequence[float] | None = None) -> None:
        super().__init__()
        if num_labels < 1:
            raise ValueError(f"num_labels must be >= 1, got {num_labels}")
        names = [str(i) for i in range(num_labels)] if label_names is None else [str(n) for n in label_names]
        prior = [1.0] * num_labels if label_prior is None else [float(p) for p in label_prior]
        if len(names) != num_labels or len(prior) != num_labels or min(prior) < 0 or sum(prior) <= 0:
            raise ValueError(f"label_names and label_prior need {num_labels} entries (prior >= 0, not all 0)")
        self.vocab_size, self.embed_dim, self.hidden_dim, self.label_dim = vocab_size, embed_dim, hidden_dim, label_dim
        self.num_labels, self.label_names = num_labels, names
        self.max_len, self.start_token, self.pad_id, self.eos_id = max_len, start_token, pad_id, eos_id
        self.init_std = init_std
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.label_embedding = nn.Embedding(num_labels, label_dim)
        self.lstm = nn.LSTM(embed_dim + label_dim, hidden_dim, batch_first=True)
        self.output = nn.Linear(hidden_dim, vocab_size)
        # Not in the state dict: it comes from the constructor arguments (config()).
        self.register_buffer("label_prior", torch.tensor(prior) / sum(prior), persistent=False)
        self.reset_parameters()

    def config(self) -> dict:
        """Constructor arguments, saved next to the weights (label names and prior included)."""
        cfg = {k: getattr(self, k) for k in ("vocab_size", "embed_dim", "hidden_dim", "label_dim", "num_labels",
                                              "max_len", "start_token", "pad_id", "eos_id", "init_std")}
        return {**cfg, "label_names": list(self.label_names), "label_prior": self.label_prior.tolist()}

    def reset_parameters(self) -> None:
        """SeqGAN's initialisation: every weight from N(0, init_std); the LSTM's second bias zeroed."""
        for name, p in self.named_parameters():
            if name == "lstm.bias_hh_l0":
                nn.init.zeros_(p)
            else:
                nn.init.normal_(p, 0.0, self.init_std)

    # ------------------------------------------------------------------ labels
    def check_labels(self, labels: Tensor | Sequence[int], n: int) -> Tensor:
        """``labels`` as an (n,) int64 tensor on the model's device; refuses a wrong size or class."""
        labels = torch.as_tensor(labels, dtype=torch.long, device=self.output.weight.device).reshape(-1)
        if labels.numel() != n:
            raise ValueError(f"expected {n} labels, got {labels.numel()}")
        if n and (int(labels.min()) < 0 or int(labels.max()) >= self.num_labels):
            raise ValueError(f"labels must lie in [0, {self.num_labels}), got {labels.unique().tolist()}")
        return labels

    def draw_labels(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """(n,) labels drawn from ``label_prior`` (the training label frequencies)."""
        return torch.multinomial(self.label_prior, n, replacement=True, generator=generator)

    # ------------------------------------------------------------------ teacher forcing
    def forward(self, tokens: Tensor, output: GeneratorOutput = "logits", temperature: float = 1.0,
                labels: Tensor | None = None) -> Tensor:
        """The teacher-forced pass (see ``LSTMGenerator.forward``), conditioned on ``labels`` (B,).

        Without labels it returns the label mixture: "logits" are the log-probabilities
        log p(y_t | y_<t) = log sum_k p(k | y_<t) p(y_t | y_<t, k), with p(k | y_<t) the posterior
        of the label given the prefix under ``label_prior``; their sum over a sequence is log p(x)
        exactly. That is what label-unaware callers (NLL-test in evaluation) measure: K passes.
        """
        self.check_output(output, temperature)
        if labels is None:
            return self.outputs(self._mixture(tokens), tokens, output, temperature)
        return self.outputs(self._logits(tokens, self.check_labels(labels, tokens.size(0))), tokens, output,
                            temperature)

    def _logits(self, tokens: Tensor, labels: Tensor) -> Tensor:
        """(B, T, V) teacher-forced next-token logits given each row's label."""
        emb = self.embedding(self.shift_right(tokens))  # (B, T, E)
        lab = self.label_embedding(labels).unsqueeze(1).expand(-1, tokens.size(1), -1)  # (B, T, L)
        hidden, _ = self.lstm(torch.cat([emb, lab], dim=-1))
        return self.output(hidden)

    def _mixture(self, tokens: Tensor) -> Tensor:
        """(B, T, V) log p(y_t = v | y_<t) of the label mixture (one label at a time: memory of 3 (B, T, V))."""
        mask = self.mask(tokens)
        mixed = norm = None
        for k in range(self.num_labels):
            logp = torch.log_softmax(self._logits(tokens, tokens.new_full((tokens.size(0),), k)), dim=-1)
            seen = logp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1) * mask  # (B, T) log p(y_t | y_<t, k)
            # log p(k) + log p(y_<t | k): the prefix before position t (exclusive cumulative sum)
            prefix = torch.log(self.label_prior[k]) + (seen.cumsum(dim=1) - seen)
            term = logp + prefix.unsqueeze(-1)
            mixed = term if mixed is None else torch.logaddexp(mixed, term)
            norm = prefix if norm is None else torch.logaddexp(norm, prefix)
        return mixed - norm.unsqueeze(-1)

    # ------------------------------------------------------------------ stepping and sampling
    def initial_state(self, labels: Tensor) -> State:
        """The state before the first step for rows of ``labels`` (B,): zero (h, c) and the labels."""
        labels = self.check_labels(labels, labels.numel())
        zeros = self.output.weight.new_zeros(1, labels.numel(), self.hidden_dim)
        return zeros, zeros.clone(), labels

    def _run(self, tokens: Tensor, state: State | None) -> tuple[Tensor, State]:
        if state is None:  # a label-unaware caller: the most frequent training label
            state = self.initial_state(torch.full_like(tokens, int(self.label_prior.argmax())))
        h, c, labels = state
        x = torch.cat([self.embedding(tokens), self.label_embedding(labels)], dim=-1).unsqueeze(1)
        out, (h, c) = self.lstm(x, (h, c))
        return out.squeeze(1), (h, c, labels)

    def step(self, tokens: Tensor, state: State | None) -> tuple[Tensor, State]:
        """One step: read ``tokens`` (B,), return next-token logits (B, V) and the new state.

        Start from :meth:`initial_state` (labels); ``None`` means the most frequent label.
        """
        hidden, state = self._run(tokens, state)
        return self.output(hidden), state

    def step_sample(self, tokens: Tensor, state: State | None,
                    generator: torch.Generator | None = None) -> tuple[Tensor, State]:
        """One step of plain sampling (specials banned), fused as ``LSTMGenerator.step_sample``."""
        hidden, state = self._run(tokens, state)
        bias = banned_bias(self.output.bias, self.banned_ids())
        return sample_linear_softmax(hidden, self.output.weight, bias, generator, rows=SAMPLE_ROWS), state

    @torch.no_grad()
    def sample(self, n: int, max_len: int | None = None, *, labels: Tensor | None = None, temperature: float = 1.0,
               top_k: int = 0, top_p: float = 1.0, generator: torch.Generator | None = None,
               batch_size: int = 10_000) -> Tensor:
        """Draw ``n`` sequences, row i conditioned on ``labels[i]`` (None: drawn from ``label_prior``
        with ``generator`` first). Other arguments and the result as ``LSTMGenerator.sample``."""
        T = max_len or self.max_len
        device = self.output.weight.device
        labels = self.draw_labels(n, generator) if labels is None else labels
        labels = self.check_labels(labels, n)
        plain = temperature == 1.0 and top_k == 0 and top_p >= 1.0
        chunks = []
        for s in range(0, n, batch_size):
            B = min(batch_size, n - s)
            tok, state = self.initial_tokens(B, device), self.initial_state(labels[s:s + B])
            seq = torch.empty((B, T), dtype=torch.long, device=device)
            for t in range(T):
                if plain:
                    tok, state = self.step_sample(tok, state, generator)
                else:
                    logits, state = self.step(tok, state)
                    logits = filter_logits(self.ban_specials(logits), temperature, top_k, top_p)
                    tok = sample_categorical(logits, generator)
                seq[:, t] = tok
            chunks.append(seq)
        return self.finish(torch.cat(chunks, dim=0))

    def reorder_state(self, state: State, index: Tensor) -> State:
        """The state of rows ``index`` (R,), labels included."""
        h, c, labels = state
        return h.index_select(1, index), c.index_select(1, index), labels.index_select(0, index)

    @staticmethod
    def concat_states(states: list[State]) -> State:
        """Stack the rows of several states, labels included."""
        hs, cs, labels = zip(*states)
        return torch.cat(hs, dim=1), torch.cat(cs, dim=1), torch.cat(labels)


@dataclass(frozen=True)
class ConditionalLSTMConfig:
    """Recipe keys of the ``conditional_lstm`` generator (``generator: {type: conditional_lstm, ...}``);
    vocabulary, length and the labels (count, names, frequencies) come from the data."""

    embed_dim: int = 32
    hidden_dim: int = 32
    label_dim: int = 8  # size of the label embedding concatenated to every step's input
    init_std: float = 0.1

    def __post_init__(self) -> None:
        if self.embed_dim < 1 or self.hidden_dim < 1 or self.label_dim < 1 or self.init_std <= 0:
            raise ValueError("generator.embed_dim, hidden_dim and label_dim must be positive and init_std > 0")


class ConditionalCNNDiscriminator(CNNDiscriminator):
    """SentiGAN's multi-class discriminator: SeqGAN's CNN with K + 1 classes.

    Classes 0..K-1 are "real text of label k", class K is "generated" (Wang & Wan, 2018, Sec. 3.2).
    The reward of a sequence generated for label k is the probability of class k.

    Args:
        num_labels: K (from the data); the other arguments as :class:`CNNDiscriminator`.
    """

    def __init__(self, vocab_size: int, num_labels: int = 1, **kwargs) -> None:
        kwargs.pop("num_classes", None)  # fixed by num_labels
        super().__init__(vocab_size, num_classes=num_labels + 1, **kwargs)
        self.num_labels = num_labels

    def config(self) -> dict:
        cfg = super().config()
        cfg.pop("num_classes")
        return {**cfg, "num_labels": self.num_labels}

    def class_targets(self, real_labels: Tensor, fake_labels: Tensor) -> Tensor:
        """Training targets of real rows (their label) then generated rows (class K): (P + M,) int64."""
        return torch.cat([real_labels.long(), torch.full_like(fake_labels, self.num_labels, dtype=torch.long)])

    def prob_real(self, tokens: Tensor, lengths: Tensor | int | None = None, labels: Tensor | None = None) -> Tensor:
        """P(class labels[b]): real text of its own label (B,); without labels, 1 - P(generated)."""
        probs = torch.softmax(self.forward(tokens, lengths), dim=-1)
        if labels is None:
            return 1.0 - probs[:, self.num_labels]
        return probs.gather(1, labels.long().view(-1, 1)).squeeze(1)

    def real_logit(self, tokens: Tensor, lengths: Tensor | int | None = None) -> Tensor:
        """log P(real, any label) / P(generated): (B,)."""
        logits = self.forward(tokens, lengths)
        return torch.logsumexp(logits[:, :self.num_labels], dim=1) - logits[:, self.num_labels]


@dataclass(frozen=True)
class ConditionalCNNConfig(CNNDiscriminatorConfig):
    """Recipe keys of the ``conditional_cnn`` discriminator (``discriminator: {type: conditional_cnn, ...}``): those
    of ``cnn``; the class count (labels + 1) comes from the data."""
