"""Transformer generators and discriminators from Hugging Face ``transformers``.

``hf_causal_lm`` wraps any ``AutoModelForCausalLM`` (GPT-2 by default) as a textgan generator:
built from a config sized in the recipe, or loaded from a local folder; MLE through ``forward``,
sampling and Monte Carlo rollouts through the key/value cache. ``hf_classifier`` wraps an
``AutoModelForSequenceClassification`` (BERT by default) as a discriminator beside the CNN.

Both work on textgan's vocabulary ids. A pretrained model keeps what it knows of that
vocabulary: each textgan token found in the model's own tokenizer keeps its embedding row
(see :func:`vocabulary_rows`); with ``data.tokenizer: hf`` and the model's folder as the
tokenizer's path every corpus token is one of the model's.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from ..errors import TextganError
from .base import GeneratorOutput, TokenGenerator
from .sampling import filter_logits, sample_categorical

log = logging.getLogger(__name__)

KV = tuple[tuple[Tensor, Tensor], ...]  # per layer (keys, values), each (B, heads, L, head_dim)

# Rows sampled together: bounds the key/value cache (rows x length x layers x 2 x width floats).
SAMPLE_ROWS = 1024

_POSITION_KEYS = ("n_positions", "max_position_embeddings")


@contextlib.contextmanager
def _quiet_transformers():
    """Silence transformers' advisory logging (config notes, deprecation hints) while building models."""
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # "Writing model shards" bars inside a run's own progress lines
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def _config(model_type: str, options: dict, **fixed) -> Any:
    """``AutoConfig.for_model(model_type, **options, **fixed)`` with a one-line error for a bad key or type."""
    from transformers import AutoConfig

    options = {k: v for k, v in options.items() if k not in ("model_type", "transformers_version", "architectures")}
    try:
        with _quiet_transformers():
            return AutoConfig.for_model(model_type, **{**options, **fixed})
    except (ValueError, KeyError, TypeError) as e:
        raise TextganError(f"transformers cannot build a {model_type!r} config ({str(e).splitlines()[0][:160]}): "
                           "fix model_type or the config keys of the section") from None


def _positions(cfg: Any) -> int | None:
    return next((getattr(cfg, k) for k in _POSITION_KEYS if getattr(cfg, k, None) is not None), None)


def _load_pretrained(auto_class: Any, path: str, **kwargs) -> nn.Module:
    folder = Path(path).expanduser()
    if not (folder / "config.json").is_file():
        raise TextganError(f"pretrained model folder {str(folder)!r} has no config.json: pass a local folder written by "
                           "save_pretrained (textgan cannot download from the hub here)")
    try:
        with _quiet_transformers():
            return auto_class.from_pretrained(str(folder), local_files_only=True, **kwargs)
    except (OSError, ValueError) as e:
        raise TextganError(f"cannot load the model in {str(folder)!r} ({str(e).splitlines()[0][:160]}): "
                           "pass a folder written by save_pretrained with safetensors weights") from None


def vocabulary_rows(folder: str | Path, itos: list[str]) -> tuple[list[int | None], int]:
    """For each textgan token, its id in the tokenizer saved in ``folder`` (None when it has none).

    Returns the ids and how many tokens were found. Without a tokenizer in the folder nothing is
    found and every row starts fresh.
    """
    try:
        from transformers import AutoTokenizer

        with _quiet_transformers():
            tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, TypeError):
        return [None] * len(itos), 0
    unk = tok.unk_token_id
    ids: list[int | None] = []
    for token in itos:
        i = tok.convert_tokens_to_ids(token)
        if (i is None or i == unk) and not token.startswith(("\u0120", "\u2581")):
            # byte-level BPE (GPT-2) and sentencepiece mark a leading space; a word token is that piece
            j = tok.convert_tokens_to_ids("\u0120" + token)
            i = j if j is not None and j != unk else tok.convert_tokens_to_ids("\u2581" + token)
        ids.append(None if i is None or i == unk else int(i))
    return ids, sum(i is not None for i in ids)


def _remap_embeddings(model: nn.Module, ids: list[int | None]) -> None:
    """Give ``model`` one embedding (and output) row per textgan token: the pretrained row of
    each token the model knows, the mean pretrained row for the others."""
    before_in = model.get_input_embeddings().weight.detach().clone()
    out = model.get_output_embeddings()
    tied = out is not None and out.weight is model.get_input_embeddings().weight
    before_out = out.weight.detach().clone() if out is not None and not tied else None
    before_bias = out.bias.detach().clone() if out is not None and getattr(out, "bias", None) is not None else None
    with _quiet_transformers():
        model.resize_token_embeddings(len(ids), mean_resizing=False)
    index = torch.tensor([-1 if i is None else i for i in ids])
    known = index >= 0
    out = model.get_output_embeddings()
    pairs = [(model.get_input_embeddings().weight, before_in)]
    if before_out is not None:
        pairs.append((out.weight, before_out))
    if before_bias is not None:
        pairs.append((out.bias, before_bias))
    with torch.no_grad():
        for new, old in pairs:
            new[known] = old[index[known]]
            new[~known] = old.mean(dim=0)


@dataclass
class KVBuffer:
    """A key/value cache written in place: per layer (R, heads, capacity, head_dim) buffers, of
    which the first ``length`` positions hold keys and values. Rollout completions grow it one
    position per step with no copy of what is already there (a growing cache copies it all)."""

    keys: list[Tensor]
    values: list[Tensor]
    length: int

    def cache(self) -> Any:
        """A ``transformers`` cache whose layers write into these buffers."""
        from transformers.cache_utils import Cache

        layer = _buffer_layer_class()
        return Cache(layers=[layer(self, i) for i in range(len(self.keys))])


@functools.lru_cache(maxsize=None)
def _buffer_layer_class() -> type:
    """A cache layer of ``transformers`` that writes into a :class:`KVBuffer` (made once, on first use)."""
    from transformers.cache_utils import DynamicLayer

    class BufferLayer(DynamicLayer):
        def __init__(self, buffer: KVBuffer, i: int) -> None:
            super().__init__()
            self.buffer, self.i, self.is_initialized, self.device = buffer, i, True, buffer.keys[i].device
            self.keys, self.values = buffer.keys[i][:, :, :buffer.length], buffer.values[i][:, :, :buffer.length]

        def update(self, key_states: Tensor, value_states: Tensor, *args, **kwargs) -> tuple[Tensor, Tensor]:
            buf, i = self.buffer, self.i
            start, stop = buf.length, buf.length + key_states.shape[-2]
            buf.keys[i][:, :, start:stop] = key_states
            buf.values[i][:, :, start:stop] = value_states
            self.keys, self.values = buf.keys[i][:, :, :stop], buf.values[i][:, :, :stop]
            return self.keys, self.values

        def get_seq_length(self) -> int:
            return self.keys.shape[-2]

    return BufferLayer


class HFCausalLMGenerator(TokenGenerator):
    """A causal language model from ``transformers`` as a textgan generator.

    Reads textgan's (B, T) token ids fed ``start_token`` first, like the LSTM: ``forward`` is
    the teacher-forced pass (logits, log-probabilities or the MLE loss), ``sample`` draws
    sequences with the key/value cache, and the rollout interface (``step``, ``step_sample``,
    ``reorder_state``, ``concat_states``) carries the cache as the state, so a Monte Carlo
    rollout continues from the keys and values of its prefix instead of reading it again.

    Args:
        vocab_size, max_len, start_token, pad_id, eos_id: from the data.
        model_type: a ``transformers`` model type with a causal-LM head ("gpt2", "llama", ...).
        config: its config keys (``n_layer``, ``n_embd``, ``n_head``...); the vocabulary size
            and special ids come from the data; the positions default to ``max_len``.
        pretrained: a local folder written by ``save_pretrained``; its weights are loaded and
            its embedding rows mapped onto textgan's vocabulary (``vocab`` needed).
        vocab: the run's vocabulary (its token strings), for ``pretrained`` only.
        sample_dtype: "bfloat16" samples with a bfloat16 copy of the weights (several times
            faster CPU matrix products; training and log-probabilities stay float32).
        compute_dtype: "bfloat16" runs the teacher-forced pass (MLE, policy-gradient losses)
            under bfloat16 autocast; weights, optimizer state and the loss stay float32.
        kv_cache: False makes ``step`` read the whole history at every step (the reference that
            tests compare the cached rollouts against).
    """

    def __init__(self, vocab_size: int, max_len: int = 20, start_token: int = 0, pad_id: int | None = None,
                 eos_id: int | None = None, model_type: str = "gpt2", config: dict | None = None,
                 pretrained: str | None = None, vocab: Any = None, sample_dtype: str = "float32",
                 compute_dtype: str = "float32", kv_cache: bool = True) -> None:
        super().__init__()
        from transformers import AutoModelForCausalLM

        self.vocab_size, self.max_len, self.start_token = vocab_size, max_len, start_token
        self.pad_id, self.eos_id, self.model_type = pad_id, eos_id, model_type
        self.sample_dtype, self.compute_dtype, self.kv_cache = sample_dtype, compute_dtype, kv_cache
        # No pad id in the model's config: textgan masks padding itself, and transformers would
        # otherwise advise an attention mask at every step that reads one.
        special = {"bos_token_id": start_token, "eos_token_id": eos_id, "pad_token_id": None}
        if pretrained is not None:
            if vocab is None:
                raise TextganError("generator.pretrained needs the run's vocabulary to map embedding rows: build the "
                                   "generator through a recipe")
            model = _load_pretrained(AutoModelForCausalLM, pretrained)
            ids, found = vocabulary_rows(pretrained, list(vocab.itos))
            log.info("pretrained %s: %d of %d vocabulary tokens keep their embedding rows", pretrained, found, len(ids))
            self.pretrained_rows_found = found
            _remap_embeddings(model, ids)
            for k, v in special.items():
                setattr(model.config, k, v)
        else:
            options = dict(config or {})
            cfg = _config(model_type, options, vocab_size=vocab_size, **special)
            if not any(k in options for k in _POSITION_KEYS):
                for k in _POSITION_KEYS:
                    if hasattr(cfg, k) and getattr(cfg, k, None) is not None:
                        setattr(cfg, k, max_len)
            with _quiet_transformers():
                model = AutoModelForCausalLM.from_config(cfg)
        positions = _positions(model.config)
        if positions is not None and positions < max_len:
            raise TextganError(f"the generator reads {max_len} positions but its config allows {positions}: raise "
                               f"generator.config.{next(k for k in _POSITION_KEYS if hasattr(model.config, k))} to "
                               f"at least {max_len} or lower data.max_len")
        model.config.use_cache = True
        self.model = model
        self._sampler: nn.Module | None = None
        self._rollout_model: nn.Module | None = None  # set by begin_rollouts (bfloat16 rollouts)
        emb = model.get_input_embeddings().weight
        self.rollout_copy_prefixes = tuple(f"model.{n}" for n, p in model.named_parameters() if p is emb)

    def config(self) -> dict:
        """Constructor arguments, saved next to the weights (the resolved ``transformers`` config)."""
        cfg = {k: v for k, v in self.model.config.to_diff_dict().items()
               if k not in ("model_type", "transformers_version", "architectures", "vocab_size", "bos_token_id",
                            "eos_token_id", "pad_token_id", "dtype", "torch_dtype")}
        return {"vocab_size": self.vocab_size, "max_len": self.max_len, "start_token": self.start_token,
                "pad_id": self.pad_id, "eos_id": self.eos_id, "model_type": self.model.config.model_type,
                "config": cfg, "sample_dtype": self.sample_dtype, "compute_dtype": self.compute_dtype}

    def export_pretrained(self, folder: Path, vocab: Any) -> None:
        """Write a folder ``transformers`` loads alone: the model (safetensors) and a word-level
        tokenizer over textgan's vocabulary (``AutoTokenizer`` / ``AutoModelForCausalLM``)."""
        from tokenizers import Tokenizer, models, pre_tokenizers
        from transformers import PreTrainedTokenizerFast

        with _quiet_transformers():
            self.model.save_pretrained(str(folder), safe_serialization=True)
        itos = list(vocab.itos)
        word = Tokenizer(models.WordLevel({t: i for i, t in enumerate(itos)}, unk_token=itos[vocab.unk_id]))
        word.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        fast = PreTrainedTokenizerFast(tokenizer_object=word, unk_token=itos[vocab.unk_id],
                                       pad_token=itos[self.pad_id] if self.pad_id is not None else None,
                                       bos_token=itos[self.start_token],
                                       eos_token=itos[self.eos_id] if self.eos_id is not None else None)
        fast.save_pretrained(str(folder))

    # ------------------------------------------------------------------ teacher forcing
    def forward(self, tokens: Tensor, output: GeneratorOutput = "logits", temperature: float = 1.0) -> Tensor:
        """The teacher-forced pass (see :meth:`TokenGenerator.outputs` for ``output``).

        No attention mask is needed: padding only follows the end-of-sequence token, and a
        causal model never lets a counted position read a later one.
        """
        self.check_output(output, temperature)
        with _quiet_transformers(), self._autocast(tokens.device):  # quiet: no advice to pass an attention mask
            logits = self.model(input_ids=self.shift_right(tokens), use_cache=False).logits.float()
        return self.outputs(logits, tokens, output, temperature)

    def _autocast(self, device: torch.device):
        if self.compute_dtype == "float32":
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=torch.bfloat16)

    # ------------------------------------------------------------------ stepping with the cache
    def step(self, tokens: Tensor, state: KV | Tensor | None) -> tuple[Tensor, KV | Tensor]:
        """Read ``tokens`` (B,), return next-token logits (B, V) float32 and the new state.

        The state is the per-layer key/value cache (a tuple of tensors, so the rollouts can
        select and stack its rows); with ``kv_cache`` False it is the token history (B, L).
        """
        return self._step(self._rollout_model if self._rollout_model is not None else self.model, tokens, state)

    def begin_rollouts(self) -> None:
        """Before a batch of Monte Carlo rollouts: with ``sample_dtype`` bfloat16, ``step`` runs the
        bfloat16 copy of the current weights (refreshed here, once) until the next call."""
        if self.sample_dtype == "bfloat16":
            object.__setattr__(self, "_rollout_model", self._sampling_model())

    def _step(self, model: nn.Module, tokens: Tensor, state: KV | Tensor | None) -> tuple[Tensor, KV | Tensor]:
        if not self.kv_cache:
            history = tokens[:, None] if state is None else torch.cat([state, tokens[:, None]], dim=1)
            return model(input_ids=history, use_cache=False).logits[:, -1].float(), history
        from transformers import DynamicCache

        if isinstance(state, KVBuffer):  # written in place: the same object, one position longer
            out = model(input_ids=tokens[:, None], cache=state.cache(), use_cache=True)
            state.length += 1
            return out.logits[:, -1].float(), state
        cache = DynamicCache() if state is None else DynamicCache(ddp_cache_data=state)
        out = model(input_ids=tokens[:, None], cache=cache, use_cache=True)
        new = tuple((layer.keys, layer.values) for layer in out.cache.layers)
        return out.logits[:, -1].float(), new

    # Monte Carlo rollouts complete one prefix length at a time (``rollout_order``; see
    # textgan.rl.rollout.prefix_order_rewards): each group of completions has its own cache,
    # written in place, instead of all active completions' caches being stacked at every step.
    rollout_order = "prefix"

    @torch.no_grad()
    def prefix_pass(self, tokens: Tensor) -> tuple[list[KV | Tensor], Tensor]:
        """The state after every prefix of ``tokens`` (B, T) and the next-token logits (B, T, V).

        One teacher-forced pass with the cache: state ``t - 1`` (prefix length t) is the first
        t + 1 cached positions (start token and y_1..y_t), as views; logits[:, t] predict y_{t+1}.
        """
        model = self._rollout_model if self._rollout_model is not None else self.model
        inputs = self.shift_right(tokens)
        if not self.kv_cache:
            logits = model(input_ids=inputs, use_cache=False).logits.float()
            return [inputs[:, :t + 1] for t in range(1, tokens.size(1))], logits
        from transformers import DynamicCache

        out = model(input_ids=inputs, cache=DynamicCache(), use_cache=True)
        kv = [(layer.keys, layer.values) for layer in out.cache.layers]
        states = [tuple((k[:, :, :t + 1], v[:, :, :t + 1]) for k, v in kv) for t in range(1, tokens.size(1))]
        return states, out.logits.float()

    def expand_state(self, state: KV | Tensor, index: Tensor, capacity: int) -> KVBuffer | Tensor:
        """The rows ``index`` of ``state`` in a cache with room for ``capacity`` positions, which the
        following steps fill in place (the token history when ``kv_cache`` is off)."""
        if isinstance(state, Tensor):
            return state.index_select(0, index)
        keys, values = [], []
        for k, v in state:
            shape = (index.numel(), k.size(1), capacity, k.size(3))
            kb, vb = k.new_empty(shape), v.new_empty(shape)
            kb[:, :, :k.size(2)] = k.index_select(0, index)
            vb[:, :, :v.size(2)] = v.index_select(0, index)
            keys.append(kb)
            values.append(vb)
        return KVBuffer(keys, values, state[0][0].size(2))

    def step_sample(self, tokens: Tensor, state: KV | Tensor | None,
                    generator: torch.Generator | None = None) -> tuple[Tensor, KV | Tensor]:
        """Read ``tokens`` (B,), draw the next tokens (B,) from ``ban_specials(logits)``; return them and the state."""
        logits, state = self.step(tokens, state)
        return sample_categorical(self.ban_specials(logits), generator), state

    def reorder_state(self, state: KV | Tensor, index: Tensor) -> KV | Tensor:
        """The state of rows ``index`` (R,), in that order."""
        if isinstance(state, Tensor):
            return state.index_select(0, index)
        return tuple((k.index_select(0, index), v.index_select(0, index)) for k, v in state)

    @staticmethod
    def concat_states(states: list[KV | Tensor]) -> KV | Tensor:
        """The rows of several states (of equal length), stacked in order."""
        if isinstance(states[0], Tensor):
            return torch.cat(states, dim=0)  # type: ignore[arg-type]
        return tuple((torch.cat([s[i][0] for s in states]), torch.cat([s[i][1] for s in states]))  # type: ignore[index]
                     for i in range(len(states[0])))

    # ------------------------------------------------------------------ sampling
    def _sampling_model(self) -> nn.Module:
        """The model sampling runs: itself, or a bfloat16 copy refreshed from the current weights."""
        if self.sample_dtype != "bfloat16":
            return self.model
        if self._sampler is None:
            sampler = copy.deepcopy(self.model).to(torch.bfloat16).eval()
            sampler.requires_grad_(False)
            try:  # one query per step: plain matrix products beat the CPU flash kernel (5.1 against 6.3 s
                sampler.set_attn_implementation("eager")  # for 256 texts of length 51, 4 x 256, 1 thread)
            except (AttributeError, ValueError):
                pass
            object.__setattr__(self, "_sampler", sampler)  # not a submodule: not saved, not trained
        else:
            with torch.no_grad():
                for dst, src in zip(self._sampler.parameters(), self.model.parameters()):
                    dst.copy_(src)
        device = next(self.model.parameters()).device
        return self._sampler.to(device)

    @torch.no_grad()
    def sample(self, n: int, max_len: int | None = None, *, temperature: float = 1.0, top_k: int = 0,
               top_p: float = 1.0, generator: torch.Generator | None = None, batch_size: int = 10_000) -> Tensor:
        """Draw ``n`` sequences with the key/value cache.

        Args:
            n: number of sequences.
            max_len: length T (default: the model's ``max_len``).
            temperature, top_k, top_p: see :func:`filter_logits`.
            generator: randomness (the same seed gives the same sequences).
            batch_size: sequences drawn in parallel (at most ``SAMPLE_ROWS``, which bounds the cache).

        Returns:
            (n, T) int64; after an end-of-sequence token every position holds ``pad_id``. A batch
            stops early once every row has ended.
        """
        T = max_len or self.max_len
        model = self._sampling_model()
        was_training = model.training
        model.eval()
        device = next(self.model.parameters()).device
        rows = max(1, min(batch_size, SAMPLE_ROWS))
        chunks = []
        try:
            for s in range(0, n, rows):
                B = min(rows, n - s)
                tok, state = self.initial_tokens(B, device), None
                seq = torch.full((B, T), self.pad_id if self.pad_id is not None else 0, dtype=torch.long, device=device)
                ended = torch.zeros(B, dtype=torch.bool, device=device)
                for t in range(T):
                    logits, state = self._step(model, tok, state)
                    tok = sample_categorical(filter_logits(self.ban_specials(logits), temperature, top_k, top_p), generator)
                    seq[:, t] = tok
                    if self.eos_id is not None:
                        ended |= tok == self.eos_id
                        if t + 1 < T and bool(ended.all()):
                            break
                chunks.append(seq)
        finally:
            model.train(was_training)
        return self.finish(torch.cat(chunks, dim=0))


def _check_section(section: str, cfg: Any, cls: type, default_type: str, family: str) -> None:
    """Refuse, in one line, a ``pretrained`` path that is no folder, or another ``model_type`` left
    with the default config of ``default_type`` (a default Llama config is billions of parameters)."""
    if cfg.pretrained is not None and not Path(cfg.pretrained).expanduser().is_dir():
        raise TextganError(f"{section}.pretrained {cfg.pretrained!r} is not a folder: pass a local folder written "
                           "by save_pretrained")
    if cfg.model_type != default_type and cfg.pretrained is None and cfg.config == cls().config:
        raise TextganError(f"{section}.config holds {family}'s keys but {section}.model_type is {cfg.model_type!r}: "
                           "give that model's own config keys (its defaults may be billions of parameters)")


@dataclass(frozen=True)
class HFCausalLMConfig:
    """Recipe keys of the ``hf_causal_lm`` generator (``generator: {type: hf_causal_lm, ...}``).

    ``config`` holds the ``transformers`` config keys of ``model_type`` (for GPT-2: ``n_layer``,
    ``n_embd``, ``n_head``...); vocabulary size and special ids come from the data.
    ``pretrained`` loads a local ``save_pretrained`` folder instead of building from ``config``.
    """

    model_type: str = "gpt2"
    # GPT-2's tanh-approximate GELU through torch's fused kernel (the same function as "gelu_new", fewer passes)
    config: dict = field(default_factory=lambda: {"n_layer": 4, "n_embd": 256, "n_head": 4,
                                                  "activation_function": "gelu_pytorch_tanh"})
    pretrained: str | None = None
    sample_dtype: Literal["float32", "bfloat16", "auto"] = "float32"  # bfloat16: sampling from a bfloat16 copy (faster)
    compute_dtype: Literal["float32", "bfloat16", "auto"] = "float32"  # bfloat16: the teacher-forced pass under autocast

    def __post_init__(self) -> None:
        _check_section("generator", self, HFCausalLMConfig, "gpt2", "GPT-2")


# --------------------------------------------------------------------------- discriminator


class HFSequenceClassifier(nn.Module):
    """A sequence classifier from ``transformers`` as a textgan discriminator (class 1: real).

    The input is a classification token (an extra vocabulary row, id ``vocab_size``) followed by
    the sequence; padding is masked out of attention. ``features`` is the last hidden state at
    the pooled position: the classification token for an encoder (BERT, RoBERTa), the last
    counted token for a decoder (GPT-2), which is what each model's own head pools.

    Args:
        vocab_size: V (the model gets V + 1 rows).
        pad_id: padding token, masked out.
        model_type: a ``transformers`` model type with a sequence-classification head.
        config: its config keys (``hidden_size``, ``num_hidden_layers``...).
        pretrained: a local ``save_pretrained`` folder (its embedding rows are mapped onto
            textgan's vocabulary, ``vocab`` needed).
        vocab: the run's vocabulary, for ``pretrained`` only.
    """

    def __init__(self, vocab_size: int, pad_id: int | None = None, model_type: str = "bert",
                 config: dict | None = None, pretrained: str | None = None, vocab: Any = None) -> None:
        super().__init__()
        from transformers import AutoModelForSequenceClassification

        self.vocab_size, self.pad_id, self.model_type = vocab_size, pad_id, model_type
        self.cls_id = vocab_size
        if pretrained is not None:
            if vocab is None:
                raise TextganError("discriminator.pretrained needs the run's vocabulary: build it through a recipe")
            model = _load_pretrained(AutoModelForSequenceClassification, pretrained, num_labels=2)
            ids, _ = vocabulary_rows(pretrained, list(vocab.itos))
            _remap_embeddings(model, ids + [None])
        else:
            cfg = _config(model_type, dict(config or {}), vocab_size=vocab_size + 1, num_labels=2,
                          pad_token_id=pad_id if pad_id is not None else vocab_size)
            with _quiet_transformers():
                model = AutoModelForSequenceClassification.from_config(cfg)
        model.config.pad_token_id = pad_id if pad_id is not None else vocab_size
        self.model = model
        self.causal = model.config.model_type not in ENCODER_TYPES
        self.feature_dim = int(getattr(model.config, "hidden_size", None) or getattr(model.config, "n_embd"))
        self.positions = _positions(model.config)

    def config(self) -> dict:
        cfg = {k: v for k, v in self.model.config.to_diff_dict().items()
               if k not in ("model_type", "transformers_version", "architectures", "vocab_size", "pad_token_id",
                            "num_labels", "id2label", "label2id", "dtype", "torch_dtype")}
        return {"vocab_size": self.vocab_size, "pad_id": self.pad_id, "model_type": self.model.config.model_type,
                "config": cfg}

    def _inputs(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        if self.positions is not None and tokens.size(1) + 1 > self.positions:
            raise TextganError(f"the discriminator reads {tokens.size(1) + 1} positions (sequence + classification "
                               f"token) but its config allows {self.positions}: raise its position count in "
                               "discriminator.config or lower data.max_len")
        cls = tokens.new_full((tokens.size(0), 1), self.cls_id)
        ids = torch.cat([cls, tokens], dim=1)
        mask = torch.ones_like(ids) if self.pad_id is None else (ids != self.pad_id).long()
        return ids, mask

    def forward(self, tokens: Tensor) -> Tensor:
        """(B, T) int64 -> (B, 2) float32 logits; class 1 is "real"."""
        ids, mask = self._inputs(tokens)
        return self.model(input_ids=ids, attention_mask=mask).logits.float()

    def features(self, tokens: Tensor) -> Tensor:
        """(B, T) -> (B, H) float32: the last hidden state at the position the classifier pools."""
        ids, mask = self._inputs(tokens)
        hidden = self.model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
        if self.causal:
            last = mask.sum(dim=1) - 1
            return hidden[torch.arange(ids.size(0), device=ids.device), last].float()
        return hidden[:, 0].float()

    def prefix_features(self, tokens: Tensor, include_empty: bool = False) -> Tensor:
        """Features of every prefix (row t: the first t + 1 tokens, the rest masked): (B, T, H).

        A decoder reads each prefix at its own position in one pass; an encoder needs one
        masked pass per prefix length.
        """
        B, T = tokens.shape
        pad = self.pad_id if self.pad_id is not None else self.cls_id
        rows = [] if not include_empty else [self.features(tokens.new_full((B, T), pad))[:, None]]
        if self.causal:
            ids, mask = self._inputs(tokens)
            hidden = self.model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state.float()
            # prefix t pools its last counted token (the classification token when none counts)
            at = torch.where(mask[:, 1:].bool(), torch.arange(1, T + 1, device=tokens.device), 0).cummax(dim=1).values
            rows.append(hidden.gather(1, at[..., None].expand(-1, -1, hidden.size(-1))))
        else:
            keep = torch.arange(T, device=tokens.device)
            rows.extend(self.features(torch.where(keep <= t, tokens, pad))[:, None] for t in range(T))
        return torch.cat(rows, dim=1)

    def prob_real(self, tokens: Tensor) -> Tensor:
        """D(Y): the probability of class 1 ("real"), (B,) in [0, 1]."""
        return torch.softmax(self.forward(tokens), dim=-1)[:, 1]

    def l2_loss(self) -> Tensor:
        """No output-layer penalty (weight decay belongs to the optimizer here): 0."""
        return torch.zeros((), device=next(self.parameters()).device)

    def loss(self, tokens: Tensor, labels: Tensor) -> Tensor:
        """Mean cross-entropy against ``labels`` (1 real, 0 generated)."""
        return nn.functional.cross_entropy(self.forward(tokens), labels)


# Encoders pool their first (classification) token; every other model type is read as a decoder
# that pools its last counted token (GPT-2, Llama... sequence classifiers).
ENCODER_TYPES = frozenset({"bert", "roberta", "xlm-roberta", "camembert", "distilbert", "electra", "albert",
                           "deberta", "deberta-v2", "mpnet", "modernbert", "ernie"})


@dataclass(frozen=True)
class HFClassifierConfig:
    """Recipe keys of the ``hf_classifier`` discriminator (``discriminator: {type: hf_classifier, ...}``)."""

    model_type: str = "bert"
    config: dict = field(default_factory=lambda: {"hidden_size": 128, "num_hidden_layers": 2,
                                                  "num_attention_heads": 2, "intermediate_size": 256,
                                                  "max_position_embeddings": 128})
    pretrained: str | None = None

    def __post_init__(self) -> None:
        _check_section("discriminator", self, HFClassifierConfig, "bert", "BERT")
