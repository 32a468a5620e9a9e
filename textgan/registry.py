"""Explicit name -> builder tables (generators, discriminators), refusing duplicates."""

from __future__ import annotations

import difflib
from typing import Callable, Generic, TypeVar

from .errors import TextganError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named table of builders.

    Args:
        kind: what the table holds, for error messages ("generator").
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, Callable[..., T]] = {}

    def register(self, name: str, builder: Callable[..., T]) -> None:
        """Add ``builder`` under ``name``; a second registration of a name is an error."""
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = builder

    def get(self, name: str) -> Callable[..., T]:
        """The builder for ``name``; an unknown name fails with the nearest known one."""
        if name not in self._items:
            close = difflib.get_close_matches(name, list(self._items), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TextganError(f"unknown {self.kind} {name!r}{hint}: known {self.kind}s are {', '.join(sorted(self._items))}")
        return self._items[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items


def _generators() -> Registry:
    from .models.lstm_generator import LSTMGenerator

    reg: Registry = Registry("generator")
    reg.register("lstm", LSTMGenerator)
    return reg


_GENERATORS: Registry | None = None


def generators() -> Registry:
    """The generator table (built on first use, so importing textgan stays cheap)."""
    global _GENERATORS
    if _GENERATORS is None:
        _GENERATORS = _generators()
    return _GENERATORS


def build_generator(kind: str, **kwargs):
    """Construct a registered generator from flat keyword arguments."""
    return generators().get(kind)(**kwargs)


def _discriminators() -> Registry:
    from .models.cnn_discriminator import CNNDiscriminator

    reg: Registry = Registry("discriminator")
    reg.register("cnn", CNNDiscriminator)
    return reg


def _rewards() -> Registry:
    from .rl.rewards import rollout_rewards

    reg: Registry = Registry("reward")
    reg.register("rollout", rollout_rewards)
    return reg


def _losses() -> Registry:
    from .rl.losses import reinforce_loss

    reg: Registry = Registry("loss")
    reg.register("reinforce", reinforce_loss)
    return reg


_TABLES: dict[str, Registry] = {}


def _table(kind: str, build: Callable[[], Registry]) -> Registry:
    if kind not in _TABLES:
        _TABLES[kind] = build()
    return _TABLES[kind]


def discriminators() -> Registry:
    """The discriminator table: name -> constructor taking flat keyword arguments."""
    return _table("discriminator", _discriminators)


def rewards() -> Registry:
    """The reward table: name -> ``reward(tokens, rollout_policy, discriminator, **options) -> (B, T)``."""
    return _table("reward", _rewards)


def losses() -> Registry:
    """The generator-loss table: name -> ``loss(generator, tokens, rewards, **options) -> scalar``."""
    return _table("loss", _losses)


def build_discriminator(kind: str, **kwargs):
    """Construct a registered discriminator from flat keyword arguments."""
    return discriminators().get(kind)(**kwargs)
