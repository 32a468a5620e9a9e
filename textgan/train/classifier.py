"""Supervised training of a sequence classifier (the fake-news detector) as an engine phase."""

from __future__ import annotations

import time
from typing import Callable

import torch
from torch import Tensor, nn

from ..engine.loop import BestTracker, BestWeights, Phase
from ..engine.optim import check_finite


class ClassifierPhase(Phase):
    """``epochs`` epochs of minibatch training of ``model.loss(tokens, target)``; one epoch per step.

    After every epoch ``validate()`` (when given) scores the model; the weights of the epoch with
    the best score are kept (the last epoch's without validation) and loaded when the phase ends.

    Args:
        model: a classifier with ``loss(tokens, target) -> scalar``.
        optimizer: its optimizer.
        ids: (N, T) int64 inputs; target: (N,) int64 classes (on any device).
        epochs: passes over the data; batch_size: examples per update.
        shuffle: CPU generator of the epoch orders.
        validate: ``() -> score`` (higher is better), or None.
        name: the phase's name.
    """

    unit = "epoch"

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, ids: Tensor, target: Tensor, *,
                 epochs: int, batch_size: int, shuffle: torch.Generator,
                 validate: Callable[[], float] | None = None, name: str = "classifier") -> None:
        super().__init__()
        self.model, self.optimizer, self.ids, self.target = model, optimizer, ids, target
        self.steps, self.batch_size, self.shuffle, self.validate, self.name = epochs, batch_size, shuffle, validate, name
        self.device = next(model.parameters()).device
        self.history: list[dict] = []
        self.best_weights = BestWeights(model)
        # the best epoch by validation accuracy (the last epoch without validation)
        self.best.append(BestTracker("score", "max", lambda step, value, record: self.best_weights.keep()))

    def step(self, i: int) -> dict:
        epoch = i + 1
        self.model.train()
        start = time.perf_counter()
        order = torch.randperm(self.ids.size(0), generator=self.shuffle)
        total, count = 0.0, 0
        for b in range(0, order.numel(), self.batch_size):
            idx = order[b:b + self.batch_size]
            loss = self.model.loss(self.ids[idx].to(self.device), self.target[idx].to(self.device))
            check_finite(loss, f"{self.name} epoch {epoch}", "lower the learning rate")
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            total += loss.item() * idx.numel()
            count += idx.numel()
        record = {"epoch": epoch, "train_loss": total / max(count, 1), "seconds": round(time.perf_counter() - start, 2)}
        if self.validate is not None:
            record["validation_accuracy"] = self.validate()
        self.history.append(record)
        return record

    def should_evaluate(self, i: int) -> bool:
        return True

    def evaluate(self, i: int, stats: dict) -> dict:
        self.ctx.log({"phase": self.name, "step": i + 1, **{k: v for k, v in stats.items() if k != "seconds"}})
        return {"step": i + 1, "score": stats.get("validation_accuracy", float(i + 1))}

    def end(self) -> dict:
        if self.steps:
            self.model.load_state_dict(self.best_weights.weights)
        self.model.eval()
        return {}
