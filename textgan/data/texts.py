"""Plain text lists from a user file or a named corpus (below the API, so any module may use it)."""

from __future__ import annotations

from pathlib import Path


def load_texts(spec: str | Path, default_split: str = "train", text_column: str | None = None) -> list[str]:
    """Texts of a user file or named corpus; ``NAME:SPLIT`` picks a corpus split."""
    from .corpus import list_corpora, load_corpus

    spec = str(spec)
    split = default_split
    names = {c.name for c in list_corpora()}
    if ":" in spec and spec.rsplit(":", 1)[0] in names:
        spec, split = spec.rsplit(":", 1)
    return list(load_corpus(spec, split, text_column=text_column)["text"])
