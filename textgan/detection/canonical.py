"""One text form for both classes: the same normalisation, tokenization, vocabulary and detokenization.

Without it a detector can separate real from generated texts without reading them (real texts
stored raw end with a space or a newline, generated ones are detokenized; real texts hold words the
generator can never emit). :class:`Canonicalizer` puts every text, real or generated, through:

1. the generator's tokenizer (its checkpoint's, with its lower-casing), or whitespace splitting
   when no generator is given;
2. the generator's vocabulary: a token outside it is mapped to ``<unk>`` (``oov="unk"``, what the
   generator itself saw in training), or the text is dropped (``oov="drop"``), or kept as it is
   (``oov="keep"``, the only choice without a generator), or deleted together with every ``<unk>``
   of both sides (``oov="delete"``: no text holds ``<unk>``; for articles, which nearly all hold some
   ``<unk>`` while the generator writes it at its own rate). ``oov="auto"`` (the default with a
   generator) maps to ``<unk>`` first and then, once both sides are read (:meth:`Canonicalizer.resolve`),
   keeps that only when the share of texts holding ``<unk>`` is the same on both sides; otherwise
   (e.g. a generator whose vocabulary held every training word never writes ``<unk>``, while
   held-out real texts do) it drops every text holding ``<unk>`` on both sides, since ``<unk>``
   would give the label away;
3. a cut to ``max_tokens`` tokens;
4. the generator's detokenization (the one ``textgan generate`` uses).

It counts texts, tokens, out-of-vocabulary tokens and ``<unk>`` tokens per side for the card.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import TextganError

OOV_CHOICES: tuple[str, ...] = ("auto", "unk", "drop", "keep", "delete")
UNK = "<unk>"
_SLOT = "xtextganunkx"  # a plain word that stands for <unk> while a tokenizer reads the text


@dataclass
class SideStats:
    """Counts of one side (real or generated) as it went through the canonicalizer."""

    texts: int = 0
    kept: int = 0
    tokens: int = 0
    oov_tokens: int = 0
    texts_with_oov: int = 0
    unk_tokens: int = 0
    dropped_oov: int = 0
    dropped_empty: int = 0
    truncated: int = 0
    deleted_unk: int = 0  # oov="delete": out-of-vocabulary and <unk> tokens taken out

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["oov_token_rate"] = self.oov_tokens / self.tokens if self.tokens else 0.0
        d["oov_text_rate"] = self.texts_with_oov / self.texts if self.texts else 0.0
        d["unk_token_rate"] = self.unk_tokens / self.tokens if self.tokens else 0.0
        return d


@dataclass
class Canonicalizer:
    """See the module docstring. Build one with :func:`make_canonicalizer`."""

    tokenizer: Any = None
    vocab: Any = None  # a textgan Vocab (the generator's), or None
    oov: str = "keep"
    max_tokens: int | None = None
    description: str = "whitespace tokens joined by single spaces"
    vocab_source: str | None = None
    stats: dict[str, SideStats] = field(default_factory=lambda: {"real": SideStats(), "generated": SideStats()})
    auto: dict[str, Any] | None = None  # oov="auto": the rates compared and the choice (see resolve)

    def tokens(self, text: str) -> list[str]:
        """The tokens of ``text``; a literal ``<unk>`` stays one token.

        A tokenizer such as nltk's splits ``<unk>`` into ``<``, ``unk``, ``>``, so a generated
        ``<unk>`` would come out as ``<unk> <unk> <unk>`` (a run no real text has: a shortcut) and
        the form would not be stable when applied twice. Each ``<unk>`` is written as a plain
        placeholder word before tokenizing (spaced only where it would run into a word, so the
        words around it are read as before) and turned back into ``<unk>`` after.
        """
        if self.tokenizer is None:
            return text.split()
        if UNK not in text:
            return self.tokenizer.tokenize(text)
        text = re.sub(re.escape(UNK), lambda m: ((" " if m.start() and text[m.start() - 1].isalnum() else "") + _SLOT
                                                 + (" " if text[m.end():m.end() + 1].isalnum() else "")), text)
        return [UNK if t == _SLOT else t for t in self.tokenizer.tokenize(text)]

    def detokenize(self, tokens: list[str]) -> str:
        return self.tokenizer.detokenize(tokens) if self.tokenizer is not None else " ".join(tokens)

    def __call__(self, text: str, side: str) -> str | None:
        """The canonical form of ``text`` (``side``: "real" or "generated"), or None when it is dropped."""
        st = self.stats[side]
        st.texts += 1
        toks = self.tokens(text)
        if self.max_tokens is not None and len(toks) > self.max_tokens:
            toks = toks[:self.max_tokens]
            st.truncated += 1
        if not toks:
            st.dropped_empty += 1
            return None
        st.tokens += len(toks)
        if self.vocab is not None:
            oov = [i for i, t in enumerate(toks) if t not in self.vocab]
            st.oov_tokens += len(oov)
            if oov:
                st.texts_with_oov += 1
                if self.oov == "drop":
                    st.dropped_oov += 1
                    return None
                if self.oov in ("unk", "auto"):
                    toks = [UNK if t not in self.vocab else t for t in toks]
            if self.oov == "delete":
                kept_toks = [t for t in toks if t in self.vocab and t != UNK]
                st.deleted_unk += len(toks) - len(kept_toks)
                toks = kept_toks
                if not toks:
                    st.dropped_empty += 1
                    return None
        st.unk_tokens += sum(t == UNK for t in toks)
        out = self.detokenize(toks)
        if not out.strip():
            st.dropped_empty += 1
            return None
        st.kept += 1
        return out

    def resolve(self, real: list[str], generated: list[str]) -> tuple[list[str], list[str]]:
        """Settle ``oov="auto"`` once both sides' canonical texts are known; other modes return them unchanged.

        The share of texts holding ``<unk>`` is compared between the sides: within three standard
        errors of a two-proportion test (and at least 0.01) ``<unk>`` stays; otherwise every text
        holding ``<unk>`` is dropped from both sides (counted as ``dropped_oov``), and ``oov``
        becomes ``"drop"``. ``self.auto`` records the rates, the tolerance and the choice.
        """
        if self.oov != "auto":
            return real, generated
        has = lambda t: UNK in t  # noqa: E731 (the detokenized form keeps the token's characters)
        n_r, n_g = max(len(real), 1), max(len(generated), 1)
        p_r, p_g = sum(map(has, real)) / n_r, sum(map(has, generated)) / n_g
        pooled = (p_r * n_r + p_g * n_g) / (n_r + n_g)
        tol = max(0.01, 3 * (pooled * (1 - pooled) * (1 / n_r + 1 / n_g)) ** 0.5)
        keep = abs(p_r - p_g) <= tol
        self.auto = {"real_texts_with_unk": round(p_r, 4), "generated_texts_with_unk": round(p_g, 4),
                     "tolerance": round(tol, 4), "choice": "unk" if keep else "drop",
                     "why": ("the sides hold <unk> equally often" if keep else
                             "the sides hold <unk> at different rates (it would give the label away): every text "
                             "holding <unk> is dropped from both sides")}
        self.oov = "unk" if keep else "drop"
        if keep:
            return real, generated
        out = []
        for side, texts in (("real", real), ("generated", generated)):
            kept = [t for t in texts if not has(t)]
            st = self.stats[side]
            st.dropped_oov += len(texts) - len(kept)
            st.kept -= len(texts) - len(kept)
            out.append(kept)
        return out[0], out[1]

    def describe(self) -> dict[str, Any]:
        return {"tokenization": self.description, "vocabulary": self.vocab_source, "oov": self.oov, "oov_auto": self.auto,
                "vocab_size": None if self.vocab is None else len(self.vocab), "max_tokens": self.max_tokens,
                "real": self.stats["real"].as_dict(), "generated": self.stats["generated"].as_dict()}


def make_canonicalizer(generator: str | Path | None = None, oov: str | None = None,
                       max_tokens: int | None = None) -> Canonicalizer:
    """A canonicalizer from a generator (run folder or checkpoint folder), or whitespace-only without one.

    Args:
        generator: the run or checkpoint whose tokenizer and vocabulary define what it can emit.
        oov: "auto" (default with a generator: "unk" unless that leaves the sides with different
            ``<unk>`` rates, then "drop"; see :meth:`Canonicalizer.resolve`), "unk", "drop", "delete"
            (out-of-vocabulary tokens and every ``<unk>`` taken out of both sides) or "keep" (the only
            choice without one).
        max_tokens: cut texts to this many tokens (the generator's tokens when given).
    """
    if generator is None:
        if oov not in (None, "keep"):
            raise TextganError(f"--oov {oov} needs the generator's vocabulary: pass --generator RUN_OR_CHECKPOINT")
        return Canonicalizer(max_tokens=max_tokens,
                             description="whitespace tokens joined by single spaces (no generator given)")
    oov = oov or "auto"
    if oov not in OOV_CHOICES:
        raise TextganError(f"unknown --oov {oov!r}: use one of {list(OOV_CHOICES)}")
    from ..data.tokenizers import load_tokenizer
    from ..data.vocab import Vocab
    from ..train.checkpoint import read_config, resolve_checkpoint

    ckpt = resolve_checkpoint(generator)
    config = read_config(ckpt)
    vocab = Vocab.load(ckpt / "vocab.json")
    tokenizer = load_tokenizer(config["tokenizer"], ckpt / "tokenizer") if "tokenizer" in config else None
    tok_desc = config.get("tokenizer", {"kind": "whitespace"})
    desc = (f"the generator's tokenizer ({', '.join(f'{k}={v}' for k, v in tok_desc.items() if not isinstance(v, (dict, list)))}), "
            "then its detokenization (as `textgan generate` writes texts)")
    return Canonicalizer(tokenizer=tokenizer, vocab=vocab, oov=oov, max_tokens=max_tokens, description=desc,
                         vocab_source=f"the generator's vocabulary ({len(vocab)} tokens, {ckpt})")
