"""LM score and reverse LM score (Caccia et al., 2018, "Language GANs Falling Short").

- **LM score** (quality): a language model trained on the real training texts scores the
  generated samples; the score is the mean over samples of each sample's mean per-token negative
  log-likelihood (nats; lower is better). Caccia et al.'s ``score_models.py`` averages exactly so
  (``tot_oracle_nll / seq_len`` per sentence, then ``np.mean``).
- **Reverse LM score** (diversity / coverage): a language model trained on the generated samples
  scores the real held-out texts (the references); the score is their per-token NLL pooled over
  all tokens (lower is better). A collapsed generator gives a language model that has never seen
  most real sentences, so its NLL on them is high.

Protocol (docs/evaluation.md): textgan's LSTM language model
(:class:`textgan.models.lstm_generator.LSTMGenerator`, trained by
:func:`textgan.train.mle.mle_epoch` with Adam) on the words of the n-gram tokenizer, one
vocabulary built from the real training texts (as Caccia et al., whose reverse LM reuses the
training vocabulary; unknown words become ``<unk>``), ``<eos>`` counted as a token. Training
stops early on a held-out split: for the LM score, ``heldout_fraction`` of the training texts;
for the reverse LM score, the same real held-out texts when training texts are given (Caccia et
al. select the reverse LM by its NLL on real validation data), else ``heldout_fraction`` of the
samples. The weights of the best held-out epoch are kept; training ends after ``patience``
epochs without improvement or ``max_epochs``.

A local ``transformers`` causal-LM folder can replace the LSTM (``model=PATH``): it is
fine-tuned the same way from its own weights and scores in its own tokens (nats per model
token), so its numbers are not comparable with the LSTM's (the fingerprint differs).
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..data.vocab import Vocab

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LMConfig:
    """How the LM scores' language models are trained (all recorded in the protocol)."""

    embed_dim: int = 64
    hidden_dim: int = 128
    batch_size: int = 128
    lr: float = 3e-3
    grad_clip: float | None = 5.0
    max_epochs: int = 5
    patience: int = 1
    heldout_fraction: float = 0.1
    max_len: int = 64
    max_vocab: int | None = 30_000
    max_texts: int | None = None


def _split(texts: Sequence[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Deterministic shuffle, then (train, held-out); the held-out part has at least one text."""
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(texts), generator=g).tolist()
    n_held = max(1, int(round(len(texts) * fraction))) if len(texts) > 1 else 0
    held = [texts[i] for i in order[:n_held]]
    train = [texts[i] for i in order[n_held:]]
    return train, held


class _WordLM:
    """The LSTM language model over a word vocabulary."""

    def __init__(self, vocab: Vocab, tokenize, cfg: LMConfig, device: torch.device, seed: int) -> None:
        from ..models.lstm_generator import LSTMGenerator

        self.vocab, self.tokenize, self.cfg, self.device = vocab, tokenize, cfg, device
        torch.manual_seed(seed)
        self.model = LSTMGenerator(len(vocab), cfg.embed_dim, cfg.hidden_dim, max_len=cfg.max_len,
                                   start_token=vocab.bos_id, pad_id=vocab.pad_id, eos_id=vocab.eos_id).to(device)

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        from ..data.encode import _encode_token_lists
        from ..metrics.bleu import tokenize_texts

        toks = tokenize_texts(texts, self.tokenize)
        longest = max((len(t) for t in toks), default=0) + 1
        ids, _ = _encode_token_lists(toks, self.vocab, max(2, min(self.cfg.max_len, longest)))
        return ids

    def _lengths(self, data: torch.Tensor) -> torch.Tensor:
        return (data != self.vocab.pad_id).sum(1)

    def train_epoch(self, data: torch.Tensor, optimizer, rng: torch.Generator, epoch: int) -> float:
        """One epoch of ``mle_epoch`` over length buckets (sentences of similar length, trimmed to
        the bucket's longest), visited in random order: padding costs nothing."""
        from .mle import mle_epoch

        lengths = self._lengths(data)
        order = torch.argsort(lengths, stable=True)
        size = self.cfg.batch_size * 8
        buckets = [order[i:i + size] for i in range(0, order.numel(), size)]
        total, weight = 0.0, 0
        for b in torch.randperm(len(buckets), generator=rng).tolist():
            rows = buckets[b]
            chunk = data[rows, : max(2, int(lengths[rows].max()))]
            loss = mle_epoch(self.model, chunk, optimizer, min(self.cfg.batch_size, chunk.size(0)), self.cfg.grad_clip,
                             rng, drop_last=False, epoch=epoch)
            total += loss * rows.numel()
            weight += rows.numel()
        return total / max(weight, 1)

    def optimizer(self):
        from ..engine.optim import adam

        return adam(self.model.parameters(), self.cfg.lr)

    @torch.no_grad()
    def sentence_nll(self, data: torch.Tensor, batch_size: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
        """Per sentence: (summed NLL, token count), float64."""
        self.model.eval()
        lengths = self._lengths(data)
        order = torch.argsort(lengths, stable=True)
        sums = torch.zeros(data.size(0), dtype=torch.float64)
        counts = torch.zeros(data.size(0), dtype=torch.float64)
        for i in range(0, data.size(0), batch_size):
            rows = order[i:i + batch_size]
            batch = data[rows, : max(1, int(lengths[rows].max()))].to(self.device)
            logp = self.model(batch, output="log_prob")
            sums[rows] = -logp.double().sum(1).cpu()
            counts[rows] = self.model.mask(batch).double().sum(1).cpu()
        self.model.train()
        return sums, counts


class _CausalLM:
    """A local transformers causal LM, fine-tuned and scored in its own tokens."""

    def __init__(self, path: str | Path, cfg: LMConfig, device: torch.device, seed: int) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.manual_seed(seed)
        self.cfg, self.device = cfg, device
        from ..metrics.features import quiet_transformers

        with quiet_transformers():
            self.tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self.model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True).to(device)
        if self.tok.pad_token_id is None:
            self.tok.pad_token = self.tok.eos_token if self.tok.eos_token is not None else self.tok.unk_token
        self.bos = self.tok.bos_token_id if self.tok.bos_token_id is not None else self.tok.eos_token_id
        self.eos = self.tok.eos_token_id

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        rows = []
        for t in texts:
            ids = self.tok(t, add_special_tokens=False)["input_ids"][: self.cfg.max_len - 2]
            rows.append(([self.bos] if self.bos is not None else []) + ids + ([self.eos] if self.eos is not None else []))
        return rows

    def _batch(self, rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(r) for r in rows)
        ids = torch.zeros(len(rows), width, dtype=torch.long)
        mask = torch.zeros(len(rows), width, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, :len(r)] = torch.tensor(r)
            mask[i, :len(r)] = 1
        return ids.to(self.device), mask.to(self.device)

    def _nll(self, rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        ids, mask = self._batch(rows)
        logits = self.model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        target, tmask = ids[:, 1:], mask[:, 1:].float()
        logp = torch.log_softmax(logits, -1).gather(-1, target.unsqueeze(-1)).squeeze(-1)
        return -(logp * tmask).sum(1), tmask.sum(1)

    def train_epoch(self, data: list[list[int]], optimizer, rng: torch.Generator, epoch: int) -> float:
        from ..engine.optim import check_finite

        self.model.train()
        order = torch.randperm(len(data), generator=rng).tolist()
        total, count = 0.0, 0.0
        for b in range(0, len(order), self.cfg.batch_size):
            nll, n = self._nll([data[i] for i in order[b:b + self.cfg.batch_size]])
            loss = nll.sum() / n.sum().clamp(min=1)
            check_finite(loss, f"LM epoch {epoch}", "lower the LM learning rate")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
            optimizer.step()
            total += nll.sum().item()
            count += n.sum().item()
        return total / max(count, 1.0)

    def optimizer(self):
        from ..engine.optim import adam

        return adam(self.model.parameters(), self.cfg.lr)

    @torch.no_grad()
    def sentence_nll(self, data: list[list[int]], batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
        self.model.eval()
        sums, counts = [], []
        for i in range(0, len(data), batch_size):
            nll, n = self._nll(data[i:i + batch_size])
            sums.append(nll.double().cpu())
            counts.append(n.double().cpu())
        self.model.train()
        return torch.cat(sums), torch.cat(counts)


def _pooled(lm, data) -> float:
    s, n = lm.sentence_nll(data)
    return float(s.sum() / n.sum().clamp(min=1))


def fit_lm(lm, train, heldout, cfg: LMConfig, seed: int) -> dict:
    """Train ``lm`` with early stopping on ``heldout``; keep the best held-out epoch's weights.

    Returns:
        ``{"epochs": trained epochs, "best_epoch": ..., "heldout_nll": best held-out NLL, "seconds": ...}``.
    """
    start = time.perf_counter()
    opt = lm.optimizer()
    rng = torch.Generator().manual_seed(seed)
    best, best_state, best_epoch, bad, epoch = math.inf, None, 0, 0, 0
    for epoch in range(1, cfg.max_epochs + 1):
        lm.train_epoch(train, opt, rng, epoch)
        held = _pooled(lm, heldout)
        log.info("LM epoch %d: held-out NLL %.4f", epoch, held)
        if held < best:
            best, best_epoch, bad = held, epoch, 0
            best_state = copy.deepcopy(lm.model.state_dict())
        else:
            bad += 1
            if bad >= cfg.patience:
                break
    if best_state is not None:
        lm.model.load_state_dict(best_state)
    return {"epochs": epoch, "best_epoch": best_epoch, "heldout_nll": best,
            "seconds": round(time.perf_counter() - start, 3)}


def lm_scores(samples: Sequence[str], train: Sequence[str] | None, references: Sequence[str] | None,
              which: tuple[str, ...] = ("lm_score", "reverse_lm_score"), model: str = "lstm",
              tokenize="whitespace", device: str = "cpu", seed: int = 0, **overrides) -> tuple[dict, dict]:
    """LM score of ``samples`` and reverse LM score on ``references``.

    Args:
        samples: generated texts.
        train: real training texts (needed for ``lm_score``; also gives the vocabulary and the
            reverse LM's early-stopping texts).
        references: real held-out texts (needed for ``reverse_lm_score``).
        which: the scores to compute.
        model: ``"lstm"`` or a local transformers causal-LM folder.
        tokenize: word tokenizer of the LSTM LM (the n-gram metrics' setting).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        seed: seeds the splits, initialisation and shuffling.
        **overrides: fields of :class:`LMConfig` (``max_epochs``, ``max_texts``, ...).

    Returns:
        ``(scores, protocol)``: ``{"lm_score": ..., "reverse_lm_score": ...}`` and the settings
        and training summaries (epochs, best held-out NLL) for the fingerprint.
    """
    from ..device import resolve_device
    from ..errors import TextganError

    cfg = LMConfig(**overrides)
    dev = resolve_device(device)
    if "lm_score" in which and not train:
        raise TextganError("lm_score needs training texts")
    if "reverse_lm_score" in which and not references:
        raise TextganError("reverse_lm_score needs real held-out texts (references)")
    samples = [s for s in samples]
    cap = cfg.max_texts
    train_texts = list(train[:cap] if cap else train) if train else None
    sample_texts = list(samples[:cap] if cap else samples)
    proto: dict = {"model": model if model == "lstm" else f"transformers:{Path(model).name}",
                   "config": asdict(cfg), "seed": seed,
                   "tokenizer": tokenize if model == "lstm" else "model", "units": "nats per token (<eos> counted)"}

    def new_lm(vocab: Vocab | None, offset: int):
        if model == "lstm":
            return _WordLM(vocab, tokenize, cfg, dev, seed + offset)
        if not Path(model).is_dir():
            raise TextganError(f"--lm {model!r}: not 'lstm' and not a local transformers model folder")
        return _CausalLM(model, cfg, dev, seed + offset)

    vocab = None
    real_held = None
    if model == "lstm":
        from ..metrics.bleu import tokenize_texts

        source = train_texts if train_texts else sample_texts
        vocab = Vocab.build(tokenize_texts(source, tokenize), max_size=cfg.max_vocab)
        proto["vocab_size"] = len(vocab)
        proto["vocab_from"] = "train" if train_texts else "samples"
    scores: dict = {}
    if train_texts:
        real_train, real_held = _split(train_texts, cfg.heldout_fraction, seed)
    if "lm_score" in which:
        lm = new_lm(vocab, 0)
        summary = fit_lm(lm, lm.encode(real_train), lm.encode(real_held), cfg, seed)
        s, n = lm.sentence_nll(lm.encode(samples))
        per_sentence = (s / n.clamp(min=1)).tolist()
        from ..metrics.bleu import sequential_mean

        scores["lm_score"] = sequential_mean(per_sentence)
        proto["lm_score"] = {"training": summary, "train_texts": len(real_train), "heldout_texts": len(real_held),
                             "scored": len(samples), "average": "mean over samples of per-token NLL"}
    if "reverse_lm_score" in which:
        if real_held is not None:
            rev_train, rev_held, stop_on = sample_texts, real_held, "real held-out training texts"
        else:
            rev_train, rev_held = _split(sample_texts, cfg.heldout_fraction, seed)
            stop_on = "held-out samples"
        if not rev_train:
            raise TextganError("reverse_lm_score needs at least 2 samples")
        lm = new_lm(vocab, 1)
        summary = fit_lm(lm, lm.encode(rev_train), lm.encode(rev_held), cfg, seed + 1)
        scores["reverse_lm_score"] = _pooled(lm, lm.encode(list(references)))
        proto["reverse_lm_score"] = {"training": summary, "train_texts": len(rev_train), "heldout_texts": len(rev_held),
                                     "early_stopping_on": stop_on, "scored": len(references),
                                     "average": "per-token NLL pooled over all reference tokens"}
    return scores, proto
