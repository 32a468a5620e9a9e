"""The baseline detector: SeqGAN's CNN discriminator trained from scratch as a real-versus-generated classifier."""

from __future__ import annotations

import logging
from typing import Sequence

import torch

log = logging.getLogger(__name__)


def _classification(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Accuracy, and precision / recall / F1 of the "generated" class (label 1)."""
    tp = int(((pred == 1) & (target == 1)).sum())
    fp = int(((pred == 1) & (target == 0)).sum())
    fn = int(((pred == 0) & (target == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"accuracy": float((pred == target).float().mean()), "precision": precision, "recall": recall, "f1": f1}


@torch.no_grad()
def _predict(model: torch.nn.Module, ids: torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    """Predicted labels (N,) int64: 1 generated, 0 real (the CNN's class 1 means real)."""
    model.eval()
    preds = [1 - model(ids[i:i + batch_size].to(device)).argmax(dim=-1).cpu() for i in range(0, ids.size(0), batch_size)]
    return torch.cat(preds)


@torch.no_grad()
def _scores(model: torch.nn.Module, ids: torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    """P(generated) per text (N,) float (the CNN's class 0 is generated, class 1 real)."""
    model.eval()
    out = [torch.softmax(model(ids[i:i + batch_size].to(device)).float(), dim=-1)[:, 0].cpu()
           for i in range(0, ids.size(0), batch_size)]
    return torch.cat(out) if out else torch.zeros(0)


def train_detector(train_ids: torch.Tensor, train_labels: torch.Tensor, val_ids: torch.Tensor,
                   val_labels: torch.Tensor, vocab_size: int, pad_id: int, *, embed_dim: int = 64,
                   filter_sizes: Sequence[int] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20),
                   num_filters: Sequence[int] = (100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160),
                   dropout: float = 0.25, l2_reg: float = 0.2, lr: float = 1e-4, batch_size: int = 64,
                   epochs: int = 3, compute_dtype: str = "float32", seed: int = 0,
                   device: torch.device | str = "cpu", progress: bool = False) -> tuple[torch.nn.Module, list[dict]]:
    """Train SeqGAN's CNN discriminator from scratch as a real-versus-generated classifier.

    The weights of the epoch with the best validation accuracy are kept (the last epoch when
    there is no validation text).

    Args:
        train_ids: (N, T) int64 token ids; train_labels: (N,) int64, 1 generated / 0 real.
        val_ids, val_labels: the validation split, same layout (may be empty).
        vocab_size: V; pad_id: the padding id.
        embed_dim, filter_sizes, num_filters, dropout, l2_reg, compute_dtype: see
            :class:`textgan.models.cnn_discriminator.CNNDiscriminator`.
        lr: Adam learning rate; batch_size; epochs.
        seed: initialisation and shuffling seed.
        device: where to train.
        progress: show a progress bar.

    Returns:
        The trained model (eval mode) and one record per epoch (loss, validation accuracy, seconds).
    """
    from ..engine.loop import Engine
    from ..engine.optim import adam
    from ..models.cnn_discriminator import CNNDiscriminator
    from ..seeds import stream
    from ..train.classifier import ClassifierPhase

    device = torch.device(device)
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # the seed is the detector's own: the caller's RNG is untouched
        torch.manual_seed(seed)
        model = CNNDiscriminator(vocab_size, embed_dim, filter_sizes, num_filters, dropout=dropout, l2_reg=l2_reg,
                                 pad_id=pad_id, compute_dtype=compute_dtype).to(device)
        validate = None
        if val_ids.size(0):
            def validate() -> float:
                return _classification(_predict(model, val_ids, 512, device), val_labels)["accuracy"]

        phase = ClassifierPhase(model, adam(model.parameters(), lr=lr), train_ids, 1 - train_labels,  # class 1 = real
                                epochs=epochs, batch_size=batch_size, shuffle=stream(seed, "detector.shuffle"),
                                validate=validate, name="detector")
        Engine([phase], progress=progress, handle_signals=False).run_phases()
    for record in phase.history:
        log.info("detector epoch %d: %s", record["epoch"], record)
    return model, phase.history
