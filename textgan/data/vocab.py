"""Token <-> id mapping: the `Vocab` class, owner of the pad/bos/eos/unk ids."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from textgan.errors import TextganError
from textgan.io import write_json

SPECIALS: tuple[str, str, str, str] = ("<pad>", "<bos>", "<eos>", "<unk>")
"""The special tokens, in id order, of every vocabulary built with ``specials=True``."""

_FORMAT = "textgan.vocab/1"


class Vocab:
    """A fixed list of token strings; a token's id is its index in that list.

    With ``specials=True`` (real text) ids 0..3 are ``<pad>``, ``<bos>``, ``<eos>`` and
    ``<unk>`` and the attributes ``pad_id``, ``bos_id``, ``eos_id``, ``unk_id`` hold them.
    With ``specials=False`` (the synthetic oracle, whose tokens are the integers 0..V-1 and
    have no reserved symbol) those attributes are ``None``.

    Args:
        itos: the token strings in id order. Must not contain duplicates; with ``specials``
            it must start with `SPECIALS`.
        specials: whether ids 0..3 are the special tokens.

    Raises:
        TextganError: duplicate tokens, or ``specials`` without the special tokens first.
    """

    def __init__(self, itos: Sequence[str], specials: bool = True) -> None:
        self.itos: list[str] = [str(token) for token in itos]
        self.specials = bool(specials)
        self.stoi: dict[str, int] = {token: i for i, token in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            dupes = sorted(token for token, n in Counter(self.itos).items() if n > 1)
            raise TextganError(
                f"vocabulary has duplicate tokens {dupes[:5]}: each token may appear only once in itos"
            )
        if self.specials:
            if tuple(self.itos[: len(SPECIALS)]) != SPECIALS:
                raise TextganError(
                    f"vocabulary with specials must start with {list(SPECIALS)}, got "
                    f"{self.itos[: len(SPECIALS)]}: build it with Vocab.build or pass specials=False"
                )
            self.pad_id: int | None = 0
            self.bos_id: int | None = 1
            self.eos_id: int | None = 2
            self.unk_id: int | None = 3
        else:
            self.pad_id = self.bos_id = self.eos_id = self.unk_id = None

    # ----------------------------------------------------------------------------------------
    # Construction
    # ----------------------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        token_lists: Iterable[Sequence[str]],
        min_freq: int = 1,
        max_size: int | None = None,
        specials: bool = True,
    ) -> Vocab:
        """Count tokens and keep the frequent ones, in a deterministic order.

        Order: frequency descending, then token string ascending, so the same corpus always
        gives the same ids whatever the order of its texts.

        Args:
            token_lists: tokenized texts.
            min_freq: drop tokens seen fewer times than this.
            max_size: at most this many entries in total, the special tokens included.
            specials: put `SPECIALS` at ids 0..3. Tokens equal to a special token's string
                are not added twice (they map to that special id).

        Returns:
            The vocabulary.

        Raises:
            TextganError: ``min_freq`` < 1, or ``max_size`` too small to hold the specials.
        """
        if min_freq < 1:
            raise TextganError(f"min_freq must be >= 1, got {min_freq}: pass min_freq=1 to keep every token")
        n_reserved = len(SPECIALS) if specials else 0
        if max_size is not None and max_size < n_reserved + 1:
            raise TextganError(
                f"max_size={max_size} leaves no room for tokens (the {n_reserved} special tokens count "
                f"towards it): use max_size >= {n_reserved + 1}"
            )
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        reserved = set(SPECIALS) if specials else set()
        kept = [(tok, n) for tok, n in counts.items() if n >= min_freq and tok not in reserved]
        kept.sort(key=lambda item: (-item[1], item[0]))
        itos = list(SPECIALS) if specials else []
        itos.extend(tok for tok, _ in kept)
        if max_size is not None:
            itos = itos[:max_size]
        return cls(itos, specials=specials)

    @classmethod
    def integers(cls, n: int) -> Vocab:
        """Vocabulary of the integer tokens ``"0"`` .. ``str(n - 1)``, with no special tokens.

        Token ``"k"`` has id ``k``, as in the SeqGAN synthetic oracle.

        Args:
            n: number of tokens.

        Returns:
            The vocabulary (``specials=False``).
        """
        if n < 1:
            raise TextganError(f"an integer vocabulary needs n >= 1 tokens, got {n}")
        return cls([str(i) for i in range(n)], specials=False)

    # ----------------------------------------------------------------------------------------
    # Mapping
    # ----------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Map tokens to ids; unknown tokens become ``unk_id``.

        Args:
            tokens: token strings.

        Returns:
            One id per token.

        Raises:
            TextganError: a token is unknown and the vocabulary has no ``<unk>``.
        """
        stoi = self.stoi
        if self.unk_id is not None:
            unk = self.unk_id
            return [stoi.get(tok, unk) for tok in tokens]
        try:
            return [stoi[tok] for tok in tokens]
        except KeyError as exc:
            raise TextganError(
                f"token {exc.args[0]!r} is not in the vocabulary ({len(self)} tokens, no <unk>): "
                "use a vocabulary built with specials=True or fix the input tokens"
            ) from None

    def decode(self, ids: Iterable[Any], strip_special: bool = True) -> list[str]:
        """Map ids back to tokens.

        Args:
            ids: token ids (ints, or a 1-D tensor / array).
            strip_special: stop at the first ``<eos>`` and drop ``<pad>`` and ``<bos>``.
                Has no effect on a vocabulary without specials.

        Returns:
            The tokens.

        Raises:
            TextganError: an id outside ``[0, len(self))``.
        """
        out: list[str] = []
        n = len(self.itos)
        skip = {self.pad_id, self.bos_id} if (strip_special and self.specials) else set()
        for raw in ids:
            i = int(raw)
            if not 0 <= i < n:
                raise TextganError(
                    f"token id {i} is outside the vocabulary (size {n}): decode with the vocabulary "
                    "saved alongside the model that produced these ids"
                )
            if strip_special and self.specials:
                if i == self.eos_id:
                    break
                if i in skip:
                    continue
            out.append(self.itos[i])
        return out

    # ----------------------------------------------------------------------------------------
    # Persistence
    # ----------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict; `from_dict` inverts it."""
        return {"format": _FORMAT, "specials": self.specials, "itos": list(self.itos)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Vocab:
        """Rebuild a vocabulary from `to_dict` output.

        Raises:
            TextganError: ``data`` is not a vocabulary dict.
        """
        if not isinstance(data, dict) or not isinstance(data.get("itos"), list):
            raise TextganError(
                "not a textgan vocabulary (expected a JSON object with an 'itos' list): "
                "pass a file written by Vocab.save"
            )
        return cls(data["itos"], specials=bool(data.get("specials", True)))

    def save(self, path: str | os.PathLike) -> None:
        """Write the vocabulary as JSON, atomically.

        Args:
            path: destination file (parent folders are created).
        """
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocab:
        """Read a vocabulary written by `save`.

        Raises:
            TextganError: missing or malformed file.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise TextganError(f"vocabulary file {path} not found: pass the vocab.json saved with the run") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TextganError(
                f"vocabulary file {path} is not valid JSON ({exc.msg} at line {exc.lineno}): "
                "restore it from the run folder or rebuild it"
            ) from None
        return cls.from_dict(data)

    # ----------------------------------------------------------------------------------------
    # Comparison
    # ----------------------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocab):
            return NotImplemented
        return self.specials == other.specials and self.itos == other.itos

    def __hash__(self) -> int:
        return hash((self.specials, tuple(self.itos)))

    def __repr__(self) -> str:
        head = ", ".join(repr(t) for t in self.itos[:6])
        more = ", ..." if len(self.itos) > 6 else ""
        return f"Vocab(size={len(self)}, specials={self.specials}, itos=[{head}{more}])"
