"""Explicit name -> builder tables (generators, discriminators), refusing duplicates."""

from __future__ import annotations

import dataclasses
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

    from .models.leakgan import LeakGANConfig
    from .models.lstm_generator import LSTMGeneratorConfig

    reg: Registry = Registry("generator")
    # provides: what the generator offers rewards and losses (see check_fit)
    reg.register("lstm", LSTMGenerator, config=LSTMGeneratorConfig,
                 provides=("rollout_policy", "log_prob", "soft_output"))
    reg.register("leakgan", LeakGANGenerator, config=LeakGANConfig, needs=("discriminator",),
                 provides=("leakgan_policy", "log_prob"))
    from .models.hf import HFCausalLMConfig, HFCausalLMGenerator  # transformers (imported on first use)

    reg.register("hf_causal_lm", HFCausalLMGenerator, config=HFCausalLMConfig, needs=("vocab",),
                 provides=("rollout_policy", "log_prob"))
    from .models.relgan import RelGANConfig, RelGANGenerator  # soft_output: step() drives textgan.rl.relaxed

    reg.register("relgan", RelGANGenerator, config=RelGANConfig, provides=("soft_output",))
    from .models.conditional import ConditionalLSTMConfig, ConditionalLSTMGenerator

    # needs "labels": the data's label count, names and frequencies (a conditional run, docs/conditional.md)
    reg.register("conditional_lstm", ConditionalLSTMGenerator, config=ConditionalLSTMConfig, needs=("labels",),
                 provides=("conditional_policy", "log_prob"))
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


def conditional(kind: str) -> bool:
    """Whether the generator ``kind`` is label-conditional (it ``needs`` the data's labels)."""
    return "labels" in generator_needs(kind)


def build_generator_from_config(cfg, *, vocab_size: int, max_len: int, start_token: int, pad_id: int | None,
                                eos_id: int | None, discriminator=None, vocab=None, labels: dict | None = None):
    """Construct the generator of a recipe's ``generator`` section.

    The data fixes the vocabulary, length and special ids; the section gives the keys the
    registered type reads (its ``options``). A type that ``needs`` a discriminator gets it
    (LeakGAN reads its features); ``goal_out_size: null`` becomes its feature size. A type that
    ``needs`` labels gets ``labels`` (``num_labels``, ``label_names``, ``label_prior``) when given.
    """
    meta = generators().meta(cfg.type)
    kwargs = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(meta["config"])}
    if "labels" in meta.get("needs", ()) and labels is not None:
        kwargs.update(labels)
    if "vocab" in meta.get("needs", ()):
        kwargs["vocab"] = vocab  # maps a pretrained model's embedding rows onto the run's tokens
    if "discriminator" in meta.get("needs", ()):
        if discriminator is None:
            raise TextganError(f"generator {cfg.type!r} needs a discriminator: add a discriminator section")
        kwargs["discriminator"] = discriminator
        if kwargs.get("goal_out_size") is None:
            kwargs["goal_out_size"] = discriminator.feature_dim
    return build_generator(cfg.type, vocab_size=vocab_size, max_len=max_len, start_token=start_token,
                           pad_id=pad_id, eos_id=eos_id, **kwargs)


def _discriminators() -> Registry:
    from .models.cnn_discriminator import CNNDiscriminator, CNNDiscriminatorConfig

    reg: Registry = Registry("discriminator")
    reg.register("cnn", CNNDiscriminator, config=CNNDiscriminatorConfig)
    from .models.hf import HFClassifierConfig, HFSequenceClassifier

    reg.register("hf_classifier", HFSequenceClassifier, config=HFClassifierConfig, needs=("vocab",))
    from .models.soft_cnn import SoftCNNDiscriminator, SoftCNNDiscriminatorConfig

    reg.register("relgan_cnn", SoftCNNDiscriminator, config=SoftCNNDiscriminatorConfig, provides=("soft_input",))
    from .models.ranker import RankerConfig, RankerDiscriminator

    reg.register("ranker", RankerDiscriminator, config=RankerConfig, provides=("rank_score",))  # RankGAN
    from .models.conditional import ConditionalCNNConfig, ConditionalCNNDiscriminator

    # label_classes: one "real" class per label + "generated" (SentiGAN); needs the data's label count
    reg.register("conditional_cnn", ConditionalCNNDiscriminator, config=ConditionalCNNConfig, needs=("labels",),
                 provides=("label_classes",))
    return reg


def _rewards() -> Registry:
    from .rl.leakgan import LeakGANRewardConfig, leakgan_rewards
    from .rl.rewards import RolloutRewardConfig, rollout_rewards

    reg: Registry = Registry("reward")
    # requires: what the generator must provide (its "provides")
    reg.register("rollout", rollout_rewards, config=RolloutRewardConfig, requires="rollout_policy")
    reg.register("leakgan", leakgan_rewards, config=LeakGANRewardConfig, requires="leakgan_policy")
    from .rl.maligan import MaliganRewardConfig, maligan_draw, maligan_rewards
    from .rl.rankgan import RankRewardConfig, rank_rewards

    # draw: how a generator step gets its batch (default: samples from scratch); requires_discriminator:
    # what the discriminator must provide (its "provides")
    reg.register("maligan", maligan_rewards, config=MaliganRewardConfig, requires="rollout_policy", draw=maligan_draw)
    reg.register("rank", rank_rewards, config=RankRewardConfig, requires="rollout_policy",
                 requires_discriminator="rank_score")
    from .rl.rewards import ConditionalRolloutRewardConfig

    # SeqGAN's rollouts conditioned on each row's label, scored P(real of that label) (SentiGAN)
    reg.register("conditional_rollout", rollout_rewards, config=ConditionalRolloutRewardConfig,
                 requires="conditional_policy", requires_discriminator="label_classes")
    from .rl import relaxed  # relaxations: trained through soft outputs (textgan/train/relaxed.py)

    reg.register("gumbel", relaxed.gumbel_relaxation, config=relaxed.GumbelRelaxationConfig,
                 requires="soft_output", requires_discriminator="soft_input", trainer="relaxed")
    reg.register("softmax", relaxed.softmax_relaxation, config=relaxed.SoftmaxRelaxationConfig,
                 requires="soft_output", requires_discriminator="soft_input", trainer="relaxed")
    return reg


def _losses() -> Registry:
    from .rl.leakgan import LeakGANLossConfig, leakgan_loss
    from .rl.losses import ReinforceLossConfig, reinforce_loss

    reg: Registry = Registry("loss")
    reg.register("reinforce", reinforce_loss, config=ReinforceLossConfig, requires="log_prob")
    reg.register("leakgan", leakgan_loss, config=LeakGANLossConfig, requires="leakgan_policy")
    from .rl import relaxed

    for name, fn, cfg in (("rsgan", relaxed.rsgan_loss, relaxed.RelaxedLossConfig),
                          ("gan", relaxed.standard_gan_loss, relaxed.RelaxedLossConfig),
                          ("wgan_gp", relaxed.wgan_gp_loss, relaxed.WGANGPLossConfig)):
        reg.register(name, fn, config=cfg, requires="soft_output", trainer="relaxed")
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
    """The reward table: name -> ``reward(tokens, rollout_policy, discriminator, **options) -> (B, T)``.

    Entries with ``trainer="relaxed"`` are relaxations instead: ``(step, steps, max_len=, **options) ->
    Relaxation`` (:mod:`textgan.rl.relaxed`), run by :mod:`textgan.train.relaxed`.
    """
    return _table("reward", _rewards)


def losses() -> Registry:
    """The generator-loss table: name -> ``loss(generator, tokens, rewards, **options) -> scalar``.

    Entries with ``trainer="relaxed"`` take ``(critic, real, fake, role="d" | "g", generator=rng)``
    (:mod:`textgan.rl.relaxed`).
    """
    return _table("loss", _losses)


def build_discriminator(kind: str, **kwargs):
    """Construct a registered discriminator from flat keyword arguments."""
    return discriminators().get(kind)(**kwargs)


def build_discriminator_from_config(cfg, *, vocab_size: int, pad_id: int | None, vocab=None, labels: dict | None = None):
    """Construct the discriminator of a recipe's ``discriminator`` section for the run's vocabulary
    (and, for one that ``needs`` labels, the data's label count ``labels["num_labels"]``)."""
    meta = discriminators().meta(cfg.type)
    kwargs = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(meta["config"])}
    if "vocab" in meta.get("needs", ()):
        kwargs["vocab"] = vocab
    if "labels" in meta.get("needs", ()) and labels is not None:
        kwargs["num_labels"] = labels["num_labels"]
    return build_discriminator(cfg.type, vocab_size=vocab_size, pad_id=pad_id, **kwargs)


def table(kind: str) -> Registry:
    """The registry of ``kind``: "generator", "discriminator", "reward" or "loss"."""
    return {"generator": generators, "discriminator": discriminators, "reward": rewards, "loss": losses}[kind]()


def component_config(kind: str, name: str) -> type:
    """The config dataclass the component ``name`` of ``kind`` brings (its recipe keys and defaults)."""
    return table(kind).meta(name)["config"]


def component_options(cfg, kind: str):
    """The config dataclass instance of the ``kind`` component ("generator", "reward"...) in a recipe section."""
    key = {"generator": "type", "discriminator": "type", "reward": "reward", "loss": "loss"}[kind]
    part = component_config(kind, getattr(cfg, key))
    return part(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(part)})


def component_fn(kind: str, cfg):
    """A reward or loss of a recipe's ``adversarial`` section with its options bound (``functools.partial``)."""
    import functools

    name = getattr(cfg, kind)
    return functools.partial(table(kind).get(name), **component_options(cfg, kind).kwargs())


def check_fit(generator: str, reward: str, loss: str) -> None:
    """Refuse, with one line, a reward or loss that needs what the generator does not offer."""
    provides = set(generators().meta(generator).get("provides", ()))
    for kind, name in (("reward", reward), ("loss", loss)):
        need = table(kind).meta(name).get("requires")
        if need is not None and need not in provides:
            fitting = [n for n in table(kind).names() if table(kind).meta(n).get("requires") in provides]
            raise TextganError(f"adversarial.{kind} {name!r} does not fit generator {generator!r} (it needs a "
                               f"{need.replace('_', ' ')}): use adversarial.{kind}={' or '.join(fitting)}")


def trainer_of(kind: str, name: str) -> str:
    """How an adversarial reward or loss trains: "policy_gradient", or "relaxed" (through soft outputs)."""
    return table(kind).meta(name).get("trainer", "policy_gradient")


def check_trainer_fit(generator: str, adversarial) -> None:
    """Refuse, with one line, a reward and a loss of different trainers, or a relaxed run with
    policy-gradient-only keys (a relaxation's discriminator: ``check_discriminator_fit``)."""
    reward, loss = adversarial.reward, adversarial.loss
    kind, provides = trainer_of("loss", loss), generators().meta(generator).get("provides", ())
    reward_kind = trainer_of("reward", reward)
    if reward_kind != kind:
        def fitting(part: str, want: str) -> list[str]:
            return [n for n in table(part).names()
                    if trainer_of(part, n) == want and table(part).meta(n).get("requires") in provides]

        losses_ = fitting("loss", reward_kind)
        fix = f"adversarial.loss={' or '.join(losses_)}" if losses_ else \
            f"adversarial.reward={' or '.join(fitting('reward', kind))}"
        raise TextganError(f"adversarial.reward {reward!r} ({reward_kind.replace('_', ' ')}) and adversarial.loss "
                           f"{loss!r} ({kind.replace('_', ' ')}) train differently: use {fix}")
    if kind != "relaxed":
        return
    for key, unset in (("mle_every", 0), ("kl_coef", 0.0), ("kl_target", None)):
        if getattr(adversarial, key, unset) != unset:
            raise TextganError(f"adversarial.{key} applies to policy-gradient training only: remove it "
                               f"with adversarial.loss={loss}")


def reward_draw(cfg):
    """The batch-drawing function of an ``adversarial`` section's reward with its options bound, or None
    (the trainer then samples every generator batch from scratch)."""
    import functools

    draw = rewards().meta(cfg.reward).get("draw")
    return None if draw is None else functools.partial(draw, **component_options(cfg, "reward").draw_kwargs())


def check_discriminator_fit(reward: str, discriminator: str) -> None:
    """Refuse, with one line, a reward that needs what the discriminator does not offer (``rank`` a ranker)."""
    need = rewards().meta(reward).get("requires_discriminator")
    if need is not None and need not in discriminators().meta(discriminator).get("provides", ()):
        fitting = [n for n in discriminators().names() if need in discriminators().meta(n).get("provides", ())]
        raise TextganError(f"adversarial.reward {reward!r} needs a discriminator with a {need.replace('_', ' ')}, "
                           f"which {discriminator!r} lacks: use discriminator.type={' or '.join(fitting)}")


def check_conditional_fit(generator: str, discriminator, adversarial) -> None:
    """Refuse, with one line, a label-classes discriminator beside an unconditional generator (its classes
    would mean nothing), or a KL penalty in a conditional run (the penalty does not take labels).

    Called when a run is built (a recipe may name either alone, e.g. to test a component)."""
    if discriminator is not None and "labels" in discriminators().meta(discriminator.type).get("needs", ()) \
            and not conditional(generator):
        fitting = [n for n in generators().names() if conditional(n)]
        raise TextganError(f"discriminator.type {discriminator.type!r} judges texts per label and needs a conditional "
                           f"generator: use generator.type={' or '.join(fitting)}, or discriminator.type=cnn")
    if adversarial is not None and conditional(generator) and (adversarial.kl_coef or adversarial.kl_target):
        raise TextganError(f"adversarial.kl_coef / kl_target do not apply to the conditional generator {generator!r}: "
                           "remove them (set adversarial.kl_coef=0)")
