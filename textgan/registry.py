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
        self._meta: dict[str, dict] = {}

    def register(self, name: str, builder: Callable[..., T], **meta) -> None:
        """Add ``builder`` under ``name``; a second registration of a name is an error.

        ``meta`` holds facts about the entry that builders need (e.g. ``needs``: the other
        components its constructor takes, ``options``: the recipe keys it reads).
        """
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = builder
        self._meta[name] = meta

    def meta(self, name: str) -> dict:
        """The facts registered with ``name`` (empty when none)."""
        self.get(name)
        return self._meta[name]

    def name_of(self, obj: object) -> str | None:
        """The name whose builder is ``obj``'s class, or None."""
        return next((n for n, b in self._items.items() if isinstance(b, type) and type(obj) is b), None)

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

    from .models.leakgan import LeakGANGenerator

    reg: Registry = Registry("generator")
    reg.register("lstm", LSTMGenerator, options=("embed_dim", "hidden_dim", "init_std"))
    reg.register("leakgan", LeakGANGenerator, needs=("discriminator",),
                 options=("embed_dim", "hidden_dim", "init_std", "goal_size", "goal_out_size", "step_size",
                          "compute_dtype"))
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


def generator_needs(kind: str) -> tuple[str, ...]:
    """Other components the generator's constructor takes, e.g. ``("discriminator",)`` for leakgan."""
    return tuple(generators().meta(kind).get("needs", ()))


def build_generator_from_config(cfg, *, vocab_size: int, max_len: int, start_token: int, pad_id: int | None,
                                eos_id: int | None, discriminator=None):
    """Construct the generator of a recipe's ``generator`` section.

    The data fixes the vocabulary, length and special ids; the section gives the keys the
    registered type reads (its ``options``). A type that ``needs`` a discriminator gets it
    (LeakGAN reads its features); ``goal_out_size: null`` becomes its feature size.
    """
    meta = generators().meta(cfg.type)
    kwargs = {key: getattr(cfg, key) for key in meta.get("options", ())}
    if "discriminator" in meta.get("needs", ()):
        if discriminator is None:
            raise TextganError(f"generator {cfg.type!r} needs a discriminator: add a discriminator section")
        kwargs["discriminator"] = discriminator
        if kwargs.get("goal_out_size") is None:
            kwargs["goal_out_size"] = discriminator.feature_dim
    return build_generator(cfg.type, vocab_size=vocab_size, max_len=max_len, start_token=start_token,
                           pad_id=pad_id, eos_id=eos_id, **kwargs)


def _discriminators() -> Registry:
    from .models.cnn_discriminator import CNNDiscriminator

    reg: Registry = Registry("discriminator")
    reg.register("cnn", CNNDiscriminator)
    return reg


def _rewards() -> Registry:
    from .rl.leakgan import leakgan_rewards
    from .rl.rewards import rollout_rewards

    reg: Registry = Registry("reward")
    reg.register("rollout", rollout_rewards)
    reg.register("leakgan", leakgan_rewards)
    return reg


def _losses() -> Registry:
    from .rl.leakgan import leakgan_loss
    from .rl.losses import reinforce_loss

    reg: Registry = Registry("loss")
    reg.register("reinforce", reinforce_loss)
    reg.register("leakgan", leakgan_loss)
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


def build_discriminator_from_config(cfg, *, vocab_size: int, pad_id: int | None):
    """Construct the discriminator of a recipe's ``discriminator`` section for the run's vocabulary."""
    return build_discriminator(
        cfg.type, vocab_size=vocab_size, embed_dim=cfg.embed_dim, filter_sizes=cfg.filter_sizes,
        num_filters=cfg.num_filters, dropout=cfg.dropout, l2_reg=cfg.l2_reg, pad_id=pad_id,
        highway_gate_bias=cfg.highway_gate_bias, compute_dtype=cfg.compute_dtype)
