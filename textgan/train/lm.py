"""A language-model run as engine phases: MLE pretraining, then (optionally) discriminator
pretraining and adversarial training (SeqGAN, LeakGAN).

:func:`build_language_model` prepares the data, builds every model, optimizer and random
generator, registers them in a :class:`~textgan.engine.state.TrainState` and returns the phases;
the engine runs them. Building everything before the first step is what makes a run resumable:
the same build, then the saved state loaded over it, is the run at the moment it was saved.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import torch
from torch import nn

from ..config import Recipe
from ..data.prepare import PreparedData, prepare_data
from ..engine.loop import BestTracker, Phase
from ..engine.optim import adam
from ..engine.rundir import RunDir
from ..engine.state import TrainState
from ..registry import (build_discriminator_from_config, build_generator_from_config, check_conditional_fit,
                        component_fn, conditional, generator_needs, reward_draw, trainer_of)
from ..seeds import stream
from .adversarial import AdversarialPhase, AdversarialTrainer, DiscriminatorPretrainPhase, discriminator_rounds
from .checkpoint import save_checkpoint
from .evaluation import make_decoder, make_evaluator
from .mle import MLEPhase, mle_epoch

log = logging.getLogger(__name__)


@dataclass
class LanguageModelRun:
    """Everything a language-model run trains, and the phases that train it.

    ``run`` is set by the caller once the run folder exists (after the build succeeded, so a
    bad input leaves no folder behind).
    """

    recipe: Recipe
    data: PreparedData
    generator: nn.Module
    discriminator: nn.Module | None
    phases: list[Phase]
    state: TrainState
    run: RunDir | None = None
    progress: bool = True
    eval_protocol: dict | None = None  # {"fingerprint", "protocol"} of the evaluations, for run.json

    def report(self, record: dict, texts: list[str]) -> None:
        """Write an evaluation's samples and print its line."""
        name = (f"mle_epoch{record['epoch']:03d}" if record["phase"] == "mle"
                else f"adversarial_batch{record['batch']:04d}")
        if self.run is not None:
            self.run.write_samples(name, texts[: self.recipe.eval.save_samples])
        skip = ("phase", "epoch", "batch", "step", "time", "train_loss")
        shown = "  ".join(f"{k}={v:.4f}" for k, v in record.items() if k not in skip and isinstance(v, float))
        if record["phase"] == "mle":
            loss = record["train_loss"]
            text = f"[mle] epoch {record['epoch']:4d}  train_loss {'-' if loss is None else f'{loss:.4f}'}  {shown}"
        else:
            text = f"[adversarial] batch {record['batch']:4d}  {shown}"
        self.phases[0].ctx.say(text)

    def save(self, name: str, model: nn.Module, kind: str, extra: dict) -> None:
        if self.run is not None:
            with self.run.guard():
                save_checkpoint(self.run.checkpoints / name, model, kind, self.data.vocab, self.data.tokenizer,
                                {"recipe": self.recipe.name, **extra}, check=self.run.check_owned)

    def summary(self, records: list[dict]) -> dict:
        """``final_metrics`` (the last evaluation), truncation count and training split, for ``run.json``."""
        last = next((r for r in reversed(records) if r.get("phase") in ("mle", "adversarial")), {})
        final = {k: v for k, v in last.items() if k not in ("phase", "epoch", "batch", "step", "time")}
        out = {"final_metrics": final, **self.data.summary()}
        if self.eval_protocol is not None:
            out["eval_protocol"] = self.eval_protocol
        return out


def build_language_model(recipe: Recipe, device: torch.device, progress: bool = True, dist=None) -> LanguageModelRun:
    """Prepare the data and build the phases of a language-model recipe (MLE, then SeqGAN/LeakGAN).

    Randomness: model initialisation draws from torch's default generator (seeded by the
    caller); sampling, shuffling and rollouts each draw from their own ``torch.Generator``,
    registered in the run's state.

    Under torchrun (``dist`` with several processes) the generator and the discriminator each
    get their own DistributedDataParallel wrapper, through which the losses run; sampling and
    rollouts use the unwrapped modules, with per-rank random streams.

    A conditional generator (docs/conditional.md) gets the data's labels: its MLE batches, the
    generated batches (labels drawn from the training mix), rewards, loss and discriminator
    training all carry ``labels=``; unconditional runs are unchanged.
    """
    from ..engine.distributed import Dist

    dist = dist or Dist()
    g, dcfg, acfg = recipe.generator, recipe.discriminator, recipe.adversarial
    check_conditional_fit(g.type, dcfg, acfg)
    data = prepare_data(recipe.data, recipe.seed, labels=conditional(g.type))
    labels, label_info = data.train_labels, data.label_info()  # None, None unless conditional
    state = TrainState()
    seed = recipe.seed
    cycles = dcfg.pretrain_cycles if dcfg is not None and acfg is not None else 1
    needs_d = dcfg is not None and ("discriminator" in generator_needs(g.type) or acfg is not None or cycles > 1)
    # Built before the generator when the generator reads its features (LeakGAN) or pretraining
    # interleaves the two; otherwise after it (the order fixes what each initialisation draws).
    d_first = needs_d and ("discriminator" in generator_needs(g.type) or cycles > 1)

    def make_discriminator() -> nn.Module:
        return build_discriminator_from_config(dcfg, vocab_size=len(data.vocab), pad_id=data.vocab.pad_id,
                                               vocab=data.vocab, labels=label_info).to(device)

    discriminator = make_discriminator() if d_first else None
    generator = build_generator_from_config(g, vocab_size=len(data.vocab), max_len=recipe.data.max_len,
                                            start_token=data.start_token, pad_id=data.vocab.pad_id,
                                            eos_id=data.vocab.eos_id, discriminator=discriminator,
                                            vocab=data.vocab, labels=label_info).to(device)
    if needs_d and discriminator is None:
        discriminator = make_discriminator()
    state.register("generator", generator)
    if discriminator is not None:
        state.register("discriminator", discriminator)
    if data.oracle is not None:
        data.oracle.to(device)
    g_train = dist.wrap(generator)  # the module the losses call (itself in one process)
    d_train = dist.wrap(discriminator) if discriminator is not None else None
    evaluate_generator = make_evaluator(recipe.eval, data, seed, make_decoder(data), dist=dist)
    evaluate = functools.partial(evaluate_generator, generator)

    mle_optimizer = state.register("mle.optimizer", adam(generator.parameters(), lr=recipe.mle.lr))
    shuffle = state.register("mle.shuffle", stream(seed, "mle.shuffle"))
    d_optimizer = state.register("discriminator.optimizer", adam(discriminator.parameters(), lr=dcfg.lr)) \
        if discriminator is not None else None

    lm = LanguageModelRun(recipe, data, generator, discriminator, [], state, progress=progress,
                          eval_protocol={"fingerprint": evaluate_generator.fingerprint,
                                         "protocol": evaluate_generator.protocol})
    epochs = recipe.mle.epochs
    d_before: dict[int, int] = {}  # epoch -> discriminator rounds trained just before it (interleaved pretraining)
    d_rounds_fn = None
    if cycles > 1:
        for i in range(cycles):
            rounds = dcfg.pretrain_rounds * (i + 1) // cycles - dcfg.pretrain_rounds * i // cycles
            start = epochs * i // cycles + 1
            d_before[start] = d_before.get(start, 0) + rounds
        d_rng = state.register("pretrain.d_rng", stream(seed, "pretrain.sampling", device, rank=dist.rank))
        d_shuffle = state.register("pretrain.d_shuffle", stream(seed, "pretrain.shuffle"))
        num_negatives = dcfg.num_negatives or (data.train.size(0) // dcfg.batch_size) * dcfg.batch_size
        d_labels = state.register("pretrain.d_labels", stream(seed, "pretrain.labels", rank=dist.rank)) if labels is not None else None

        def d_rounds_fn(rounds: int) -> dict:
            return discriminator_rounds(discriminator, d_optimizer, generator, data.train, rounds, dcfg.pretrain_epochs,
                                        dcfg.batch_size, num_negatives, d_rng, d_shuffle,
                                        recipe.eval.batch_size * 10, where="D pretrain", dist=dist, model=d_train,
                                        labels=labels, label_rng=d_labels)

    phases: list[Phase] = [MLEPhase(
        g_train, data.train, mle_optimizer, shuffle, recipe.mle, recipe.eval.every, evaluate, lm.report,
        d_rounds_before=d_before, d_rounds=d_rounds_fn, dist=dist if dist.active else None, labels=labels,
        on_end=lambda last: lm.save("mle" if acfg is not None else "last", generator, g.type,
                                    {"epoch": epochs, "metrics": last}))]

    relaxed = acfg is not None and trainer_of("loss", acfg.loss) == "relaxed"  # through soft outputs (RelGAN...)
    if relaxed:
        from .relaxed import relaxed_phase

        phases.append(relaxed_phase(lm, d_optimizer, evaluate, epochs, dist))
    if acfg is not None and not relaxed:
        reward_fn, loss_fn = component_fn("reward", acfg), component_fn("loss", acfg)
        mle_fn = None
        if acfg.mle_every:
            inter_optimizer = state.register("adversarial.mle_optimizer", adam(generator.parameters(), lr=recipe.mle.lr))
            inter_shuffle = state.register("adversarial.mle_shuffle", stream(seed, "adversarial.mle_shuffle"))

            def mle_fn() -> float:
                return mle_epoch(g_train, data.train, inter_optimizer, recipe.mle.batch_size, recipe.mle.grad_clip,
                                 inter_shuffle, recipe.mle.drop_last, max_batches=acfg.mle_batches,
                                 dist=dist if dist.active else None, labels=labels)

        trainer = AdversarialTrainer(
            generator, discriminator, data.train, reward_fn=reward_fn, loss_fn=loss_fn,
            g_optimizer=adam(generator.parameters(), lr=acfg.lr), d_optimizer=d_optimizer,
            batch_size=acfg.batch_size, g_steps=acfg.g_steps, d_rounds=acfg.d_rounds, d_epochs=acfg.d_epochs,
            d_batch_size=dcfg.batch_size, num_negatives=dcfg.num_negatives,
            rollout_update_rate=acfg.rollout_update_rate, grad_clip=acfg.grad_clip, seed=seed,
            sample_batch_size=recipe.eval.batch_size * 10, temperature=acfg.temperature, mle_every=acfg.mle_every,
            mle_fn=mle_fn, dist=dist if dist.active else None, policy=g_train, d_model=d_train,
            draw_fn=reward_draw(acfg), kl=kl_penalty(acfg, generator, dist), labels=labels)
        state.register("adversarial.optimizer", trainer.g_optimizer)
        state.register("adversarial.rng", trainer.rng)
        state.register("adversarial.shuffle", trainer.shuffle)
        state.register("rollout", trainer.rollout)
        if trainer.label_rng is not None:
            state.register("adversarial.labels", trainer.label_rng)
        if trainer.kl is not None:
            state.register("kl.reference", trainer.kl.reference)
            state.register("kl", trainer.kl)
        pretrained = cycles > 1 and epochs > 0
        phases.append(DiscriminatorPretrainPhase(trainer, 0 if pretrained else dcfg.pretrain_rounds,
                                                 dcfg.pretrain_epochs, step=epochs, rounds_shown=dcfg.pretrain_rounds))

        def end_adversarial(last: dict) -> None:
            lm.save("last", generator, g.type, {"phase": "adversarial", "batch": acfg.batches, "metrics": last})
            lm.save("discriminator", discriminator, dcfg.type, {"role": "discriminator"})

        adversarial = AdversarialPhase(trainer, acfg.batches, recipe.eval.every_adversarial, epochs, evaluate,
                                       lm.report, on_end=end_adversarial)
        if acfg.best_metric is not None:
            metric = acfg.best_metric
            skip = ("phase", "epoch", "batch", "step", "time")

            def save_best(step: int, value: float, record: dict) -> None:
                metrics = {k: v for k, v in record.items() if k not in skip and k in _eval_keys(record)}
                lm.save("best", generator, g.type, {"phase": "adversarial", "batch": record["batch"],
                                                    "metrics": metrics})

            adversarial.best.append(BestTracker(metric, "min" if metric.startswith("nll") else "max", save_best))
        phases.append(adversarial)
    lm.phases = phases
    return lm


def kl_penalty(acfg, generator: nn.Module, dist):
    """The adversarial section's KL penalty to the frozen MLE model, or None when it has none."""
    if acfg.kl_coef == 0 and acfg.kl_target is None:
        return None
    from ..rl.kl import KLPenalty

    return KLPenalty(generator, acfg.kl_coef, acfg.kl_target, acfg.kl_horizon, dist=dist if dist.active else None)


_BATCH_STATS = ("g_loss", "reward_mean", "reward_last", "mle_loss", "d_loss", "d_accuracy", "kl", "kl_coef")


def _eval_keys(record: dict) -> list[str]:
    """The evaluation metrics of an adversarial record (not the batch's training statistics)."""
    return [k for k in record if k not in _BATCH_STATS]
