"""Policy-gradient GAN training: discriminator pretraining, then alternating g- and d-steps.

The reward and the generator loss are passed in (SeqGAN: Monte Carlo rollout rewards and
REINFORCE), so other policy-gradient variants reuse these pieces instead of copying them. The
phases at the end of this module run them on the engine (:mod:`textgan.engine.loop`).
"""

from __future__ import annotations

import logging
from typing import Callable

import torch
from torch import Tensor, nn

from ..rl.rollout import make_rollout_policy, update_rollout_policy
from ..engine.loop import Phase
from ..engine.graphs import GraphedStep, cached_step, graphs_enabled
from ..engine.optim import check_finite
from ..seeds import stream

log = logging.getLogger(__name__)

RewardFn = Callable[..., Tensor]  # (tokens, rollout_policy, discriminator, *, generator) -> (B, T)
LossFn = Callable[[nn.Module, Tensor, Tensor], Tensor]  # (generator, tokens, rewards) -> scalar


def discriminator_epochs(discriminator: nn.Module, optimizer: torch.optim.Optimizer, real: Tensor, fake: Tensor,
                         epochs: int, batch_size: int, shuffle: torch.Generator, where: str = "discriminator",
                         dist=None, model: nn.Module | None = None, host_reads: bool | None = None,
                         real_labels: Tensor | None = None, fake_labels: Tensor | None = None,
                         graphs: bool | None = None) -> dict:
    """Train the discriminator on real (label 1) against generated (label 0) sequences.

    As SeqGAN's ``Dis_dataloader``: positives and negatives are pooled and shuffled once, cut
    into full batches (the remainder is dropped), and ``epochs`` passes run over the same order.

    Args:
        discriminator: a model with ``loss(tokens, labels) -> scalar`` and ``forward -> (B, 2)``; one
            with ``training_loss(x, y, model=, real=, generator=) -> (loss, rows right)`` is trained
            on that instead of cross-entropy + ``l2_loss`` (RankGAN's ranker).
        optimizer: its optimizer (SeqGAN: Adam, lr 1e-4).
        real: (P, T) int64 positives.
        fake: (M, T) int64 negatives.
        epochs: passes over the pooled data.
        batch_size: sequences per update (SeqGAN: 64).
        shuffle: CPU randomness of the order.
        where: names the phase in a non-finite-loss error.
        dist: under torchrun, each rank trains on an equal share of the positives (and its own
            negatives) with ``batch_size / world`` rows per step, through ``model`` (the
            DistributedDataParallel wrapper of ``discriminator``), so the ranks step alike.
        model: the module whose forward computes the logits (default: ``discriminator``).
        host_reads: read the loss on the host after every step (finite-loss check at the batch
            that failed); None: on the CPU only. Without them an epoch never waits for an
            accelerator: loss and accuracy are summed on the device and read once per epoch.
        real_labels, fake_labels: in a conditional run, the (P,) classes of the positives and the (M,)
            labels the negatives were generated for; the targets are then
            ``discriminator.class_targets(real_labels, fake_labels)`` (SentiGAN: class k, and K for generated).
        graphs: run each step as a captured CUDA graph (:mod:`textgan.engine.graphs`): one launch
            per step. None: on CUDA, unless ``TEXTGAN_CUDA_GRAPHS=0``, torchrun is active or the
            discriminator has its own objective. True on a CPU rehearses the capture (warm-up and
            restore, then the same step on static buffers: the plain loop's numbers).

    Returns:
        ``{"d_loss": mean loss, "d_accuracy": accuracy on the batches as trained}`` of the last epoch.
    """
    device = next(discriminator.parameters()).device
    model = model if model is not None else discriminator
    if dist is not None and dist.active:
        real = dist.rows(real[: (real.size(0) // dist.world) * dist.world])
        if real_labels is not None:
            real_labels = dist.rows(real_labels[: (real_labels.size(0) // dist.world) * dist.world])
        batch_size = max(dist.share(batch_size), 1)
    tokens = torch.cat([real.to(device), fake.to(device)])
    if real_labels is None:
        labels = torch.cat([torch.ones(real.size(0), dtype=torch.long, device=device),
                            torch.zeros(fake.size(0), dtype=torch.long, device=device)])
    else:
        labels = discriminator.class_targets(real_labels.to(device), fake_labels.to(device))
    order = torch.randperm(tokens.size(0), generator=shuffle).to(device)
    n_batches = tokens.size(0) // batch_size
    discriminator.train()
    own_loss = getattr(discriminator, "training_loss", None)
    fix = "lower discriminator.lr (e.g. --set discriminator.lr=1e-5)"
    if graphs is None:
        graphs = graphs_enabled(device)
    graphed = None
    if graphs and own_loss is None and n_batches and not (dist is not None and dist.active):
        graphed = _graphed_step(discriminator, model, optimizer, tokens[:batch_size], labels[:batch_size])
    # On an accelerator the epoch never waits for the device: loss and accuracy are summed on it
    # (float64, the same sums as Python floats) and read once, after the epoch.
    per_step_check = (device.type == "cpu" if host_reads is None else host_reads) and graphed is None
    total, correct = (graphed.total, graphed.correct) if graphed is not None else (
        torch.zeros((), dtype=torch.float64, device=device), torch.zeros((), dtype=torch.int64, device=device))
    for epoch in range(epochs):
        total.zero_()
        correct.zero_()
        for b in range(n_batches):
            idx = order[b * batch_size:(b + 1) * batch_size]
            x, y = tokens[idx], labels[idx]
            if graphed is not None:
                graphed(x, y)  # forward, backward, optimizer step and the running sums, one launch
                continue
            if own_loss is None:
                logits = model(x)
                loss = nn.functional.cross_entropy(logits, y) + discriminator.l2_loss()
                hits = (logits.argmax(dim=1) == y).sum()
            else:  # a discriminator with its own objective (RankGAN's ranker)
                loss, hits = own_loss(x, y, model=model, real=real, generator=shuffle)
            if per_step_check:
                check_finite(loss, f"{where} epoch {epoch} batch {b}", fix)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach()
            correct += hits
        if not per_step_check:
            check_finite(total, f"{where} epoch {epoch}", fix)
    stats = {"d_loss": total.item() / max(n_batches, 1), "d_accuracy": int(correct) / max(n_batches * batch_size, 1)}
    if dist is not None and dist.active:
        stats = {k: dist.mean(v) for k, v in stats.items()}
    return stats


def _graphed_step(discriminator: nn.Module, model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor,
                  y: Tensor) -> GraphedStep:
    """The discriminator's training step (logits from ``model``) as a graph, for batches like ``x``."""

    def build(total: Tensor, correct: Tensor):
        def step(tokens: Tensor, labels: Tensor) -> tuple[Tensor, ...]:
            logits = model(tokens)
            loss = nn.functional.cross_entropy(logits, labels) + discriminator.l2_loss()
            loss.backward()
            optimizer.step()
            total.add_(loss.detach())
            correct.add_((logits.argmax(dim=1) == labels).sum())
            return (loss,)
        return step

    return cached_step(discriminator, "discriminator", model, optimizer, (x, y), build, capture=x.device.type == "cuda")


class AdversarialTrainer:
    """SeqGAN's training schedule for any generator, discriminator, reward and loss.

    An adversarial batch (LantaoYu/SeqGAN sequence_gan.py, ``total_batch`` loop) is ``g_steps``
    generator steps (sample a batch, compute rewards against the rollout policy and the
    discriminator, one optimizer step on ``loss_fn``), the interleaved MLE phase when one is due
    (``mle_every``), one update of the rollout policy towards the generator, then ``d_rounds``
    rounds of fresh negatives with ``d_epochs`` epochs each.

    Args:
        generator: the policy, with ``sample(n, generator=rng)`` and whatever ``loss_fn`` needs.
        discriminator: a model with ``forward (B, T) -> (B, 2)``, ``l2_loss()`` and whatever
            ``reward_fn`` needs.
        real: (N, T) int64 training sequences (the positives).
        reward_fn: ``reward_fn(tokens, rollout_policy, discriminator, generator=rng) -> (B, T)``.
        loss_fn: ``loss_fn(generator, tokens, rewards, temperature=...) -> scalar`` to minimise
            (``temperature``: the one the tokens were sampled at).
        g_optimizer: the generator's optimizer (SeqGAN: a fresh Adam, lr 0.01).
        d_optimizer: the discriminator's (SeqGAN: Adam, lr 1e-4).
        batch_size: sequences per generator step (64).
        g_steps: generator steps per adversarial batch (1).
        d_rounds: rounds of fresh negatives per adversarial batch (5).
        d_epochs: epochs per round (3).
        d_batch_size: discriminator batch size (64).
        num_negatives: generated sequences per round (None: ``len(real)`` rounded down to whole
            batches of ``batch_size``, SeqGAN's 9,984).
        rollout_update_rate: see :func:`textgan.rl.rollout.update_rollout_policy` (0.8).
        grad_clip: global gradient-norm clip of the generator step (5.0), or None.
        seed: seeds the sampling and the shuffling.
        sample_batch_size: sequences sampled in parallel when drawing negatives.
        temperature: softmax temperature of the batches the generator is trained on (LeakGAN: 1.5).
        mle_every: with ``mle_fn``, call ``mle_fn()`` (an MLE phase on real data) after the
            generator step of every ``mle_every``-th batch, batch 0 included (LeakGAN's text code: 15).
        mle_fn: ``() -> mean loss`` of one interleaved MLE phase.
        kl: a :class:`textgan.rl.kl.KLPenalty` on the rewards (its reference is the generator as the
            adversarial phase begins), or None.
        draw_fn: ``(generator, real, n, generator=rng, temperature=, step=) -> (tokens, extra)``: how
            a generator step gets its batch (default: ``n`` samples from scratch); ``extra`` goes
            to ``reward_fn`` as keyword arguments (MaliGAN: the real-prefix length).
        labels: (N,) class of each row of ``real`` in a conditional run, or None. Then every
            generated batch draws its rows' labels from them (the training label mix, through
            ``self.label_rng``) and passes ``labels=`` to the generator's ``sample``, the reward,
            the loss and the discriminator's training (see :func:`draw_condition`).
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, real: Tensor, *, reward_fn: RewardFn,
                 loss_fn: LossFn, g_optimizer: torch.optim.Optimizer, d_optimizer: torch.optim.Optimizer,
                 batch_size: int = 64, g_steps: int = 1, d_rounds: int = 5, d_epochs: int = 3,
                 d_batch_size: int = 64, num_negatives: int | None = None, rollout_update_rate: float = 0.8,
                 grad_clip: float | None = 5.0, seed: int = 0, sample_batch_size: int = 10_000,
                 temperature: float = 1.0, mle_every: int = 0, mle_fn: Callable[[], float] | None = None,
                 dist=None, policy: nn.Module | None = None, d_model: nn.Module | None = None,
                 draw_fn: Callable[..., tuple[Tensor, dict]] | None = None, kl=None,
                 labels: Tensor | None = None) -> None:
        self.generator, self.discriminator, self.real = generator, discriminator, real
        self.labels = labels
        # Only a conditional run has (and registers) this stream: unconditional runs draw exactly as before.
        self.label_rng = (stream(seed, "adversarial.labels", rank=dist.rank if dist is not None else 0)
                          if labels is not None else None)
        self.draw_fn = draw_fn
        self.dist = dist
        self.policy = policy if policy is not None else generator  # what the loss calls (a DDP wrapper under torchrun)
        self.d_model = d_model if d_model is not None else discriminator
        self.reward_fn, self.loss_fn = reward_fn, loss_fn
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        self.batch_size, self.g_steps, self.d_rounds, self.d_epochs = batch_size, g_steps, d_rounds, d_epochs
        self.d_batch_size = d_batch_size
        self.num_negatives = num_negatives or (real.size(0) // batch_size) * batch_size or real.size(0)
        self.rollout_update_rate, self.grad_clip = rollout_update_rate, grad_clip
        self.sample_batch_size = sample_batch_size
        self.temperature, self.mle_every, self.mle_fn = temperature, mle_every, mle_fn
        device = next(generator.parameters()).device
        self.rng = stream(seed, "adversarial.sampling", device, rank=dist.rank if dist is not None else 0)
        self.shuffle = stream(seed, "adversarial.shuffle")
        self.rollout = make_rollout_policy(generator)
        self.kl = kl  # a KLPenalty to the frozen MLE model (textgan.rl.kl), or None
        self.batches_done = 0

    # ------------------------------------------------------------------ pieces
    def negatives(self) -> tuple[Tensor, dict]:
        """Fresh generator samples: (num_negatives, T) int64, and their conditioning ({} or {"labels"})."""
        was_training = self.generator.training
        self.generator.eval()
        n = self.dist.share(self.num_negatives) if self.dist is not None else self.num_negatives
        cond = draw_condition(self.labels, n, self.label_rng, self.rng.device)
        fake = self.generator.sample(n, generator=self.rng, batch_size=self.sample_batch_size, **cond)
        self.generator.train(was_training)
        return fake, cond

    def train_discriminator(self, rounds: int, epochs: int, progress: bool = False, desc: str = "D") -> dict:
        """``rounds`` x (fresh negatives, ``epochs`` epochs). Returns the last round's loss and accuracy."""
        from tqdm.auto import tqdm

        stats: dict = {}
        for _ in tqdm(range(rounds), desc=desc, unit="round", disable=not progress, leave=False, dynamic_ncols=True):
            fake, cond = self.negatives()
            stats = discriminator_epochs(self.discriminator, self.d_optimizer, self.real, fake, epochs,
                                         self.d_batch_size, self.shuffle, where=desc, dist=self.dist,
                                         model=self.d_model, real_labels=self.labels, fake_labels=cond.get("labels"))
        return stats

    def generator_step(self) -> dict:
        """Sample a batch, reward it, take one optimizer step. Returns loss and mean reward."""
        was_training = self.generator.training
        self.generator.eval()
        n = self.dist.share(self.batch_size) if self.dist is not None else self.batch_size
        cond = draw_condition(self.labels, n, self.label_rng, self.rng.device)  # {} unless conditional
        if self.draw_fn is None:
            tokens, drawn = self.generator.sample(n, generator=self.rng, temperature=self.temperature, **cond), {}
        else:  # e.g. MaliGAN's real prefixes; ``drawn`` tells the reward what it needs to know
            tokens, drawn = self.draw_fn(self.generator, self.real, n, generator=self.rng,
                                         temperature=self.temperature, step=self.batches_done)
        self.generator.train(was_training)
        rewards = self.reward_fn(tokens, self.rollout, self.discriminator, generator=self.rng, **drawn, **cond)
        kl_stats: dict = {}
        if self.kl is not None:  # the KL-to-reference penalty (its stats are already averaged over ranks)
            rewards, kl_stats = self.kl(self.generator, tokens, rewards, temperature=self.temperature)
        loss = self.loss_fn(self.policy, tokens, rewards, temperature=self.temperature, **cond)
        if self.dist is not None and self.dist.active and getattr(self.loss_fn, "keywords", {}).get("reduction") == "sum":
            loss = loss * self.dist.world  # DDP averages the ranks' gradients: a sum over the global batch
        check_finite(loss, f"adversarial batch {self.batches_done} generator step",
                     "lower adversarial.lr or set adversarial.grad_clip (e.g. --set adversarial.lr=0.001)")
        self.g_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.grad_clip:
            nn.utils.clip_grad_norm_(self.generator.parameters(), self.grad_clip)
        self.g_optimizer.step()
        stats = {"g_loss": loss.item(), "reward_mean": rewards.mean().item(), "reward_last": rewards[:, -1].mean().item()}
        if self.dist is not None and self.dist.active:
            stats = {k: self.dist.mean(v) for k, v in stats.items()}
        return {**stats, **kl_stats}

    def adversarial_batch(self) -> dict:
        """g-steps, interleaved MLE (when due), rollout update, d-rounds: one SeqGAN ``total_batch``.

        The rollout policy is updated after the interleaved MLE phase, not before it: otherwise
        the next batch's rollouts would complete prefixes with weights the MLE phase has already
        changed (stale by one MLE phase at ``rollout_update_rate = 0``). Returns its statistics.
        """
        stats: dict = {}
        for _ in range(self.g_steps):
            stats = self.generator_step()
        if self.mle_every and self.mle_fn is not None and self.batches_done % self.mle_every == 0:
            stats["mle_loss"] = self.mle_fn()
        # After the interleaved MLE phase, so that the next batch's rollouts see the weights it
        # left (at rate 0 the rollout copy equals the generator the next step samples from).
        update_rollout_policy(self.rollout, self.generator, self.rollout_update_rate,
                              getattr(self.generator, "rollout_copy_prefixes", ("embedding.",)))
        stats.update(self.train_discriminator(self.d_rounds, self.d_epochs))
        self.batches_done += 1
        return stats


def draw_condition(labels: Tensor | None, n: int, rng: torch.Generator | None, device: torch.device) -> dict:
    """The conditioning of ``n`` generated rows: ``{}`` in an unconditional run (nothing is drawn), else
    ``{"labels": (n,)}`` drawn uniformly from the training rows' ``labels`` (the training label mix)
    with the CPU stream ``rng``, on ``device``."""
    if labels is None:
        return {}
    return {"labels": labels[torch.randint(labels.size(0), (n,), generator=rng)].to(device)}


# --------------------------------------------------------------------------- phases


def discriminator_rounds(discriminator: nn.Module, optimizer: torch.optim.Optimizer, generator: nn.Module, real: Tensor,
                         rounds: int, epochs: int, batch_size: int, num_negatives: int, rng: torch.Generator,
                         shuffle: torch.Generator, sample_batch_size: int = 10_000, where: str = "discriminator",
                         dist=None, model: nn.Module | None = None, labels: Tensor | None = None,
                         label_rng: torch.Generator | None = None) -> dict:
    """``rounds`` x (``num_negatives`` fresh generator samples, ``epochs`` epochs of :func:`discriminator_epochs`).

    Used between MLE epochs when pretraining interleaves the two (LeakGAN's code, 10 cycles of 5
    rounds then 8 MLE epochs). Returns the last round's statistics ({} for no round). ``labels``,
    ``label_rng``: a conditional run's training labels and the stream its negatives' labels are drawn from.
    """
    stats: dict = {}
    for _ in range(rounds):
        was_training = generator.training
        generator.eval()
        n = dist.share(num_negatives) if dist is not None else num_negatives
        cond = draw_condition(labels, n, label_rng, rng.device)
        fake = generator.sample(n, generator=rng, batch_size=sample_batch_size, **cond)
        generator.train(was_training)
        stats = discriminator_epochs(discriminator, optimizer, real, fake, epochs, batch_size, shuffle, where=where,
                                     dist=dist, model=model, real_labels=labels, fake_labels=cond.get("labels"))
    return stats


class DiscriminatorPretrainPhase(Phase):
    """Discriminator pretraining: one round (fresh negatives, ``epochs`` epochs) per step.

    Logs one ``phase: "discriminator"`` record at the end, at ``step`` (the last MLE epoch), with
    the recipe's round count and the last round's loss and accuracy.
    """

    name = "discriminator"
    unit = "round"

    def __init__(self, trainer: AdversarialTrainer, rounds: int, epochs: int, step: int, rounds_shown: int) -> None:
        super().__init__()
        self.trainer, self.steps, self.epochs = trainer, rounds, epochs
        self.at_step, self.rounds_shown = step, rounds_shown
        self.stats: dict = {}

    def step(self, i: int) -> dict:
        self.stats = self.trainer.train_discriminator(1, self.epochs, desc="D pretrain")
        return self.stats

    def end(self) -> dict:
        self.ctx.log({"phase": "discriminator", "step": self.at_step, "rounds": self.rounds_shown, **self.stats})
        self.ctx.say(f"[discriminator] pretrained {self.rounds_shown} rounds x {self.epochs} epochs  "
                     + "  ".join(f"{k}={v:.4f}" for k, v in self.stats.items()))
        return {}

    def state_dict(self) -> dict:
        return {"stats": self.stats}

    def load_state_dict(self, state: dict) -> None:
        self.stats = state["stats"]


class AdversarialPhase(Phase):
    """Adversarial training: one :meth:`AdversarialTrainer.adversarial_batch` per step.

    Evaluates after batch 0, every ``eval_every`` batches and after the last, logging
    ``phase: "adversarial"`` records with ``step = step_offset + batch + 1``. The rollout policy
    starts as a copy of the generator when the phase begins.

    Args:
        trainer: the pieces (generator, discriminator, rollout policy, optimizers, randomness).
        batches: adversarial batches.
        eval_every: batches between evaluations.
        step_offset: the last MLE step, so the step counter continues.
        evaluate: ``() -> (metrics, texts)``.
        report: ``(record, texts) -> None`` (samples file and a printed line).
        on_end: called with the last record when the phase ends (saves checkpoints).
    """

    name = "adversarial"
    unit = "batch"

    def __init__(self, trainer: AdversarialTrainer, batches: int, eval_every: int, step_offset: int,
                 evaluate: Callable[[], tuple[dict, list[str]]], report: Callable[[dict, list[str]], None],
                 on_end: Callable[[dict], None] | None = None) -> None:
        super().__init__()
        self.trainer, self.steps, self.eval_every, self.step_offset = trainer, batches, max(eval_every, 1), step_offset
        self.evaluate_fn, self.report, self.on_end = evaluate, report, on_end
        self.last: dict = {}

    def begin(self) -> None:
        self.trainer.rollout.load_state_dict(self.trainer.generator.state_dict())
        if self.trainer.kl is not None:
            self.trainer.kl.reset(self.trainer.generator)

    def step(self, i: int) -> dict:
        return self.trainer.adversarial_batch()

    def should_evaluate(self, i: int) -> bool:
        return i % self.eval_every == 0 or i == self.steps - 1

    def evaluate(self, i: int, stats: dict) -> dict:
        dist = self.trainer.dist
        metrics, texts = self.evaluate_fn()  # every rank: each samples its share, rank 0 scores them
        if dist is not None and not dist.is_main:  # rank 0 logs for the run
            self.last = {"phase": "adversarial", "batch": i, "step": self.step_offset + i + 1, **stats}
            return self.last
        self.last = self.ctx.log({"phase": "adversarial", "batch": i, "step": self.step_offset + i + 1, **stats,
                                  **metrics})
        self.report(self.last, texts)
        return self.last

    def end(self) -> dict:
        if self.on_end is not None:
            self.on_end(self.last)
        return {}

    def state_dict(self) -> dict:
        return {"last": self.last, "batches_done": self.trainer.batches_done}

    def load_state_dict(self, state: dict) -> None:
        self.last, self.trainer.batches_done = state["last"], state["batches_done"]
