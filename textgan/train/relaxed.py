"""Adversarial training through soft generator outputs (RelGAN, Rajeswar et al. 2017).

Each adversarial batch is ``g_steps`` generator steps then ``d_rounds`` discriminator steps
(weilinie/RelGAN real/real_gan/real_train.py, the ``nadv_steps`` loop: gsteps 1, dsteps 5). A
step draws a real batch (one-hot) and a generated batch of soft outputs
(:func:`textgan.rl.relaxed.relaxed_rollout`, as the run's relaxation says for this batch), and
takes one clipped Adam step on the loss (:mod:`textgan.rl.relaxed`); the generator's gradient
reaches it through the soft outputs, with no reward or rollout. :func:`relaxed_phase` builds
the phase for ``build_language_model`` whenever the adversarial section's loss is registered
with ``trainer="relaxed"``; a new relaxation or loss registered that way needs nothing here.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..engine.loop import BestTracker
from ..engine.optim import adam, check_finite
from ..errors import TextganError
from ..registry import component_fn
from ..rl.relaxed import relaxed_rollout
from ..seeds import stream
from .adversarial import AdversarialPhase

STATS = ("g_loss", "d_loss", "beta", "length")


class RelaxedTrainer:
    """The pieces of relaxed adversarial training and one batch of it (:meth:`adversarial_batch`).

    Args:
        generator: a model with ``step``, ``initial_tokens``, ``max_len``, ``pad_id``, ``eos_id``.
        discriminator: a critic with ``scores(x) -> (B, R)`` for (B, T, V) soft one-hots.
        real: (N, T) int64 training sequences.
        relaxation: ``(step, steps, max_len=T) -> Relaxation`` (the bound ``adversarial.reward``).
        loss_fn: ``(critic, real, fake, role=, generator=) -> scalar`` (the bound ``adversarial.loss``).
        g_optimizer, d_optimizer: their Adams (RelGAN: lr 1e-4 both).
        batch_size, g_steps, d_steps, grad_clip: per batch (RelGAN: 64, 1, 5, global norm 5 on both).
        steps: adversarial batches in all (the temperature schedule's horizon).
        rng: generator noise, samples and gradient-penalty mixing; shuffle: the real batches.
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, real: Tensor, *, relaxation: Callable,
                 loss_fn: Callable, g_optimizer: torch.optim.Optimizer, d_optimizer: torch.optim.Optimizer,
                 batch_size: int, g_steps: int, d_steps: int, grad_clip: float | None, steps: int,
                 rng: torch.Generator, shuffle: torch.Generator) -> None:
        self.generator, self.discriminator, self.real = generator, discriminator, real
        self.relaxation, self.loss_fn = relaxation, loss_fn
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        self.batch_size, self.g_steps, self.d_steps, self.grad_clip = batch_size, g_steps, d_steps, grad_clip
        self.steps, self.rng, self.shuffle = steps, rng, shuffle
        self.batches_done, self.dist = 0, None

    def real_batch(self, length: int) -> Tensor:
        """(B, length, V) one-hots of a random batch of real sequences (their first ``length`` tokens)."""
        idx = torch.randperm(self.real.size(0), generator=self.shuffle)[:self.batch_size]
        tokens = self.real[idx, :length].to(next(self.generator.parameters()).device)
        return F.one_hot(tokens, self.generator.vocab_size).float()

    def _update(self, optimizer: torch.optim.Optimizer, model: nn.Module, loss: Tensor, who: str, key: str) -> float:
        check_finite(loss, f"adversarial batch {self.batches_done} {who} step",
                     f"lower {key} (e.g. --set {key}=1e-5) or set adversarial.grad_clip")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip)
        optimizer.step()
        return loss.item()

    def adversarial_batch(self) -> dict:
        relax = self.relaxation(self.batches_done, self.steps, max_len=self.generator.max_len)
        length = relax.length or self.generator.max_len
        g_loss = d_loss = float("nan")
        self.discriminator.requires_grad_(False)  # the generator step needs no gradient of the critic's weights
        for _ in range(self.g_steps):
            fake, _ = relaxed_rollout(self.generator, self.batch_size, relax, self.rng)
            loss = self.loss_fn(self.discriminator, self.real_batch(length), fake, role="g", generator=self.rng)
            g_loss = self._update(self.g_optimizer, self.generator, loss, "generator", "adversarial.lr")
        self.discriminator.requires_grad_(True)
        for _ in range(self.d_steps):
            with torch.no_grad():
                fake, _ = relaxed_rollout(self.generator, self.batch_size, relax, self.rng)
            loss = self.loss_fn(self.discriminator, self.real_batch(length), fake, role="d", generator=self.rng)
            d_loss = self._update(self.d_optimizer, self.discriminator, loss, "discriminator", "discriminator.lr")
        self.batches_done += 1
        return {"g_loss": g_loss, "d_loss": d_loss, "beta": float(relax.beta), "length": float(length)}


class RelaxedAdversarialPhase(AdversarialPhase):
    """Relaxed adversarial training on the engine: one :meth:`RelaxedTrainer.adversarial_batch` per
    step, evaluated and logged as :class:`AdversarialPhase` does (``phase: "adversarial"``)."""

    def begin(self) -> None:  # no rollout policy to copy
        pass


def relaxed_phase(lm, d_optimizer: torch.optim.Optimizer, evaluate: Callable, step_offset: int,
                  dist) -> RelaxedAdversarialPhase:
    """The relaxed adversarial phase of a language-model run, its parts registered in ``lm.state``.

    Args:
        lm: the :class:`~textgan.train.lm.LanguageModelRun` (recipe, data, models, state, save, report).
        d_optimizer: the discriminator's Adam (registered by the caller).
        evaluate: ``() -> (metrics, texts)``.
        step_offset: the last MLE step.
        dist: refused when several processes run (this phase has no DistributedDataParallel path).
    """
    recipe, acfg, state, generator = lm.recipe, lm.recipe.adversarial, lm.state, lm.generator
    if dist is not None and dist.active:
        raise TextganError(f"adversarial.loss {acfg.loss} trains in one process: run the recipe without torchrun")
    device = next(generator.parameters()).device
    trainer = RelaxedTrainer(
        generator, lm.discriminator, lm.data.train, relaxation=component_fn("reward", acfg),
        loss_fn=component_fn("loss", acfg), d_optimizer=d_optimizer,
        g_optimizer=state.register("adversarial.optimizer", adam(generator.parameters(), lr=acfg.lr)),
        batch_size=acfg.batch_size, g_steps=acfg.g_steps, d_steps=acfg.d_rounds, grad_clip=acfg.grad_clip,
        steps=acfg.batches, rng=state.register("adversarial.rng", stream(recipe.seed, "adversarial.sampling", device)),
        shuffle=state.register("adversarial.shuffle", stream(recipe.seed, "adversarial.shuffle")))

    def end(last: dict) -> None:
        lm.save("last", generator, recipe.generator.type,
                {"phase": "adversarial", "batch": acfg.batches, "metrics": last})
        lm.save("discriminator", lm.discriminator, recipe.discriminator.type, {"role": "discriminator"})

    phase = RelaxedAdversarialPhase(trainer, acfg.batches, recipe.eval.every_adversarial, step_offset, evaluate,
                                    lm.report, on_end=end)
    if acfg.best_metric is not None:
        metric, skip = acfg.best_metric, ("phase", "epoch", "batch", "step", "time", *STATS)

        def save_best(step: int, value: float, record: dict) -> None:
            metrics = {k: v for k, v in record.items() if k not in skip}
            lm.save("best", generator, recipe.generator.type, {"phase": "adversarial", "batch": record["batch"],
                                                               "metrics": metrics})

        phase.best.append(BestTracker(metric, "min" if metric.startswith("nll") else "max", save_best))
    return phase
