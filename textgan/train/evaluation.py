"""A run's periodic evaluation: sample the generator and compute the recipe's metrics."""

from __future__ import annotations

import logging
from typing import Callable

import torch

from ..config import EvalConfig
from ..data.prepare import PreparedData

log = logging.getLogger(__name__)


@torch.no_grad()
def generator_nll(generator: torch.nn.Module, tokens: torch.Tensor, batch_size: int = 1000) -> float:
    """NLL-test: the generator's mean per-token negative log-likelihood (nats) of ``tokens``.

    Args:
        generator: a model with ``log_prob(tokens) -> (B, T)`` and ``mask(tokens) -> (B, T)``.
        tokens: (N, T) int64 held-out sequences.
    """
    was_training = generator.training
    generator.eval()
    device = next(generator.parameters()).device
    total, count = 0.0, 0.0
    for i in range(0, tokens.size(0), batch_size):
        batch = tokens[i:i + batch_size].to(device)
        total -= generator.log_prob(batch).double().sum().item()
        count += generator.mask(batch).sum().item()
    generator.train(was_training)
    return total / max(count, 1.0)


def make_evaluator(cfg: EvalConfig, data: PreparedData, seed: int,
                   decode: Callable[[torch.Tensor], list[str]]) -> Callable[[torch.nn.Module], tuple[dict, list[str]]]:
    """Build ``evaluate(generator) -> (metrics, sample_texts)`` for a run.

    Samples are drawn with a fixed seed at every evaluation, so curves compare like with like.
    """
    metrics = set(cfg.metrics)
    if "nll_oracle" in metrics and data.oracle is None:
        log.warning("nll_oracle needs the synthetic oracle; it is skipped for this corpus")
        metrics.discard("nll_oracle")
    if "nll_test" in metrics and data.test is None:
        log.warning("nll_test needs a test split; it is skipped")
        metrics.discard("nll_test")
    bleu_refs = None

    def evaluate(generator: torch.nn.Module) -> tuple[dict, list[str]]:
        nonlocal bleu_refs
        was_training = generator.training
        generator.eval()
        out: dict = {}
        samples = generator.sample(cfg.num_samples, temperature=cfg.temperature,
                                   generator=torch.Generator(device=next(generator.parameters()).device).manual_seed(seed + 7),
                                   batch_size=cfg.batch_size)
        if "nll_oracle" in metrics:
            out["nll_oracle"] = data.oracle.nll(samples.to(data.oracle.W_out.device))
        if "nll_test" in metrics:
            out["nll_test"] = generator_nll(generator, data.test, cfg.batch_size)
        texts = decode(samples)
        if metrics & {"bleu", "self_bleu"}:
            from ..metrics.bleu import BleuReference, self_bleu

            sample_tokens = [t.split() if data.tokenizer is None else data.tokenizer.tokenize(t) for t in texts]
            if "bleu" in metrics:
                if bleu_refs is None:
                    bleu_refs = BleuReference(data.test_tokens, max_n=5)
                for n in (2, 3, 4, 5):
                    scores = bleu_refs.scores(sample_tokens, n)
                    out[f"bleu{n}"] = sum(scores) / len(scores)
            if "self_bleu" in metrics:
                for n, v in self_bleu(sample_tokens, n=(2, 3, 4, 5), tokenize=None).items():
                    out[f"self_bleu{n}"] = v
        generator.train(was_training)
        return out, texts

    return evaluate
