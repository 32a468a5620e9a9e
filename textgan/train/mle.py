"""Maximum-likelihood (teacher-forcing) training of a generator, and the MLE phase of a run."""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from ..engine.graphs import cached_step, graphs_enabled
from ..engine.loop import Phase
from ..engine.optim import check_finite


FIX = "lower mle.lr or set mle.grad_clip (e.g. --set mle.lr=0.001)"


def mle_epoch(generator: nn.Module, data: Tensor, optimizer: torch.optim.Optimizer, batch_size: int,
              grad_clip: float | None, generator_rng: torch.Generator, drop_last: bool = True,
              epoch: int = 0, max_batches: int | None = None, dist=None, labels: Tensor | None = None,
              graphs: bool | None = None) -> float:
    """One epoch of teacher forcing over shuffled ``data``.

    Args:
        generator: a model whose ``forward(tokens, output="nll")`` is the scalar loss (through forward, so
            a DistributedDataParallel wrapper works).
        data: (N, T) int64 training sequences (on any device; batches move to the model's).
        optimizer: the generator's optimizer.
        batch_size: sequences per update.
        grad_clip: global gradient-norm clip (SeqGAN: 5.0), or None.
        generator_rng: shuffling randomness (CPU generator).
        drop_last: skip the last incomplete batch (SeqGAN uses 156 full batches of 10,000).
        epoch: for error messages.
        max_batches: stop after this many batches (a partial epoch), or None.
        dist: under torchrun (:class:`textgan.engine.distributed.Dist`), each rank trains on its
            rows of every batch, through the DistributedDataParallel ``generator``.
        labels: (N,) int64 class of each row for a conditional generator (each batch's go to
            ``generator(batch, output="nll", labels=...)``), or None.
        graphs: run the full batches' steps as a captured CUDA graph (:mod:`textgan.engine.graphs`),
            with the epoch's data on the device and the loss summed there, read once per epoch.
            None: on CUDA without torchrun, unless ``TEXTGAN_CUDA_GRAPHS=0``. True on a CPU
            rehearses the capture (the plain loop's numbers).

    Returns:
        The mean training loss (nats per counted token) over the epoch's batches.
    """
    device = next(generator.parameters()).device
    generator.train()
    order = torch.randperm(data.size(0), generator=generator_rng)
    n_batches = data.size(0) // batch_size if drop_last else -(-data.size(0) // batch_size)
    if max_batches is not None:
        n_batches = min(n_batches, max_batches)
    if graphs is None:
        graphs = graphs_enabled(device)
    if graphs and dist is None and n_batches:
        return _graphed_epoch(generator, data, labels, order, n_batches, batch_size, optimizer, grad_clip, epoch)
    total = 0.0
    for b in range(n_batches):
        rows = order[b * batch_size:(b + 1) * batch_size]
        batch = data[rows]
        cond = {} if labels is None else {"labels": labels[rows]}  # a conditional run's labels of the rows
        if dist is not None:
            batch = dist.rows(batch)
            cond = {k: dist.rows(v) for k, v in cond.items()}
        batch = batch.to(device, non_blocking=True)
        loss = generator(batch, output="nll", **{k: v.to(device) for k, v in cond.items()})
        check_finite(loss, f"MLE epoch {epoch} batch {b}", FIX)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            nn.utils.clip_grad_norm_(generator.parameters(), grad_clip)
        optimizer.step()
        total += loss.item()
    mean = total / max(n_batches, 1)
    return dist.mean(mean) if dist is not None else mean


def _graphed_epoch(generator: nn.Module, data: Tensor, labels: Tensor | None, order: Tensor, n_batches: int,
                   batch_size: int, optimizer: torch.optim.Optimizer, grad_clip: float | None, epoch: int) -> float:
    """:func:`mle_epoch`'s loop with the epoch's data moved to the device, each batch's step a CUDA
    graph (a last, shorter batch has a graph of its own shape) and one host read per epoch."""
    device = next(generator.parameters()).device
    data, order = data.to(device), order.to(device)
    labels = labels.to(device) if labels is not None else None

    def build(total: Tensor, correct: Tensor):
        def step(batch: Tensor, *cond: Tensor) -> tuple[Tensor, ...]:
            loss = generator(batch, output="nll", **({"labels": cond[0]} if cond else {}))
            loss.backward()
            if grad_clip:
                nn.utils.clip_grad_norm_(generator.parameters(), grad_clip)
            optimizer.step()
            total.add_(loss.detach())
            return (loss,)
        return step

    def inputs(rows: Tensor) -> tuple[Tensor, ...]:
        return (data[rows],) if labels is None else (data[rows], labels[rows])

    used: dict = {}  # id -> GraphedStep: the steps of this epoch (one per batch shape), their sums zeroed once
    for start in range(0, n_batches * batch_size, batch_size):
        rows = order[start:start + batch_size]
        batch = inputs(rows)
        step = cached_step(generator, f"mle{len(rows)}", generator, optimizer, batch, build,
                           capture=device.type == "cuda")
        if id(step) not in used:
            step.total.zero_()
            used[id(step)] = step
        step(*batch)
    total = torch.stack([s.total for s in used.values()]).sum()
    check_finite(total, f"MLE epoch {epoch}", FIX)
    return total.item() / n_batches


class MLEPhase(Phase):
    """MLE pretraining: ``epochs`` epochs of :func:`mle_epoch`, evaluated every ``eval_every`` epochs.

    Epoch 0 (the untrained generator) is evaluated when the phase begins; the first and last
    epochs always are. With ``d_rounds_before`` (LeakGAN's interleaved pretraining), the
    discriminator trains that many rounds just before the given epochs, through ``d_rounds``.

    Args:
        generator: the model (``nll_loss``).
        train: (N, T) training sequences.
        optimizer: the generator's MLE optimizer.
        shuffle: CPU generator of the epoch orders.
        cfg: the recipe's ``mle`` section.
        eval_every: epochs between evaluations.
        evaluate: ``() -> (metrics, texts)``.
        report: ``(record, texts) -> None``, writes samples and prints a line (the run builder's).
        d_rounds_before: epoch -> discriminator rounds trained just before it.
        d_rounds: ``rounds -> stats`` trains the discriminator.
        on_end: called when the phase ends (saves the MLE checkpoint).
        labels: (N,) class of each training row for a conditional generator, or None.
    """

    name = "mle"
    unit = "epoch"

    def __init__(self, generator: nn.Module, train: Tensor, optimizer: torch.optim.Optimizer,
                 shuffle: torch.Generator, cfg, eval_every: int, evaluate: Callable[[], tuple[dict, list[str]]],
                 report: Callable[[dict, list[str]], None], d_rounds_before: dict[int, int] | None = None,
                 d_rounds: Callable[[int], dict] | None = None, on_end: Callable[[dict], None] | None = None,
                 dist=None, labels: Tensor | None = None) -> None:
        super().__init__()
        self.dist, self.labels = dist, labels
        self.generator, self.train, self.optimizer, self.shuffle = generator, train, optimizer, shuffle
        self.cfg, self.eval_every, self.evaluate_fn, self.report = cfg, max(eval_every, 1), evaluate, report
        self.d_rounds_before, self.d_rounds, self.on_end = d_rounds_before or {}, d_rounds, on_end
        self.steps = cfg.epochs
        self.last: dict = {}

    def _evaluate(self, epoch: int, loss: float | None) -> dict:
        metrics, texts = self.evaluate_fn()  # every rank: each samples its share, rank 0 scores them
        if self.dist is not None and not self.dist.is_main:  # rank 0 logs for the run
            self.last = {"phase": "mle", "epoch": epoch, "step": epoch, "train_loss": loss}
            return self.last
        record = self.ctx.log({"phase": "mle", "epoch": epoch, "step": epoch, "train_loss": loss, **metrics})
        self.report(record, texts)
        self.last = record
        return record

    def begin(self) -> None:
        self._evaluate(0, None)

    def step(self, i: int) -> dict:
        epoch = i + 1
        rounds = self.d_rounds_before.get(epoch, 0)
        if rounds:
            stats = self.d_rounds(rounds)
            self.ctx.log({"phase": "discriminator", "step": epoch - 1, "rounds": rounds, **stats})
        loss = mle_epoch(self.generator, self.train, self.optimizer, self.cfg.batch_size, self.cfg.grad_clip,
                         self.shuffle, self.cfg.drop_last, epoch, dist=self.dist, labels=self.labels)
        return {"loss": loss}

    def should_evaluate(self, i: int) -> bool:
        return (i + 1) % self.eval_every == 0 or i + 1 == self.steps

    def evaluate(self, i: int, stats: dict) -> dict:
        return self._evaluate(i + 1, stats["loss"])

    def end(self) -> dict:
        if self.on_end is not None:
            self.on_end(self.last)
        return {}

    def state_dict(self) -> dict:
        return {"last": self.last}

    def load_state_dict(self, state: dict) -> None:
        self.last = state["last"]
