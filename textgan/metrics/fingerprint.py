"""Protocol fingerprints: a short hash of everything that produced a metric value.

Two BLEU numbers are comparable only when they were computed on the same references, with the
same tokenizer, sample count, orders, smoothing and Self-BLEU mode. :func:`protocol` collects
those facts in a dict (stored next to the numbers in JSON) and :func:`fingerprint` hashes it
into 12 hex digits (printed next to the numbers). Equal fingerprints mean equal protocols;
different fingerprints mean the numbers must not share a table column without a note.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Hashable, Sequence
from typing import Any

FINGERPRINT_VERSION = 1
"""Bumped when the meaning of a protocol field changes, so old and new fingerprints differ."""


def texts_hash(texts: Sequence[str | Sequence[Hashable]] | None) -> str | None:
    """sha256 (first 16 hex digits) of texts in order, one per line; None for None.

    Token sequences are joined with single spaces first. The hash covers the texts exactly as
    scored (after loading and blank-line handling), not the file they came from.
    """
    if texts is None:
        return None
    h = hashlib.sha256()
    for t in texts:
        line = t if isinstance(t, str) else " ".join(map(str, t))
        h.update(line.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()[:16]


def _tokenizer_name(tokenize: Any) -> str:
    if tokenize is None or isinstance(tokenize, str):
        return str(tokenize)
    return f"callable:{getattr(tokenize, '__module__', '?')}.{getattr(tokenize, '__qualname__', repr(tokenize))}"


def protocol(
    *,
    samples: int,
    references: Sequence | None = None,
    train: Sequence | None = None,
    tokenize: Any = "whitespace",
    orders: Sequence[int] = (2, 3, 4, 5),
    smoothing: str = "method1",
    epsilon: float = 0.1,
    self_bleu: str = "all",
    bleu_references: str = "all",
    blank_lines: str = "drop",
    **extra: Any,
) -> dict:
    """The facts that fix a set of metric values, as a JSON-ready dict.

    Args:
        samples: number of samples scored.
        references: the reference texts as scored (hashed), or None.
        train: the training texts as used (novelty, LM score), or None.
        tokenize: the n-gram tokenizer setting.
        orders: n-gram orders.
        smoothing: BLEU smoothing.
        epsilon: method1's added count.
        self_bleu: ``"all"`` or ``"first500"`` (Texygen's fast Self-BLEU).
        bleu_references: ``"all"`` or ``"first500"`` (Texygen's fast BLEU).
        blank_lines: ``"drop"`` or ``"keep"`` (Texygen keeps blank samples as empty sentences).
        **extra: further settings (e.g. the LM score's model and epochs), JSON-serialisable.

    Returns:
        The protocol dict, including ``fingerprint_version``.
    """
    out = {
        "fingerprint_version": FINGERPRINT_VERSION,
        "num_samples": int(samples),
        "references_sha256": texts_hash(references),
        "num_references": None if references is None else len(references),
        "train_sha256": texts_hash(train),
        "tokenizer": _tokenizer_name(tokenize),
        "orders": [int(k) for k in orders],
        "smoothing": smoothing if smoothing != "method1" else f"method1(epsilon={epsilon!r})",
        "self_bleu": self_bleu,
        "bleu_references": bleu_references,
        "blank_lines": blank_lines,
    }
    out.update(extra)
    return out


OUTCOME_KEYS = frozenset({"training"})
"""Keys, at any depth of a protocol, holding what a procedure measured rather than how it was set
up (e.g. the LM scores' epochs trained, best held-out NLL and seconds): kept in the protocol for
the record, left out of the fingerprint, so two evaluations made the same way share it."""


def _settings(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _settings(v) for k, v in value.items() if k not in OUTCOME_KEYS}
    if isinstance(value, (list, tuple)):
        return [_settings(v) for v in value]
    return value


def fingerprint(proto: dict) -> str:
    """12 hex digits of sha256 over the canonical JSON of ``proto`` (sorted keys), without its
    outcome entries (:data:`OUTCOME_KEYS`)."""
    blob = json.dumps(_settings(proto), sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:12]
