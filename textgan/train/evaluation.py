"""A run's periodic evaluation: sample the generator and compute the recipe's metrics."""

from __future__ import annotations

import logging
from typing import Callable

import torch

from ..config import EvalConfig
from ..data.prepare import PreparedData
from ..seeds import stream

log = logging.getLogger(__name__)


@torch.no_grad()
def generator_nll(generator: torch.nn.Module, tokens: torch.Tensor, batch_size: int = 1000,
                  temperature: float = 1.0) -> float:
    """NLL-test: the generator's mean per-token negative log-likelihood (nats) of ``tokens``.

    Args:
        generator: a model with ``forward(tokens) -> (B, T, V)`` teacher-forced logits and
            ``mask(tokens) -> (B, T)``.
        tokens: (N, T) int64 held-out sequences.
        temperature: score under softmax(logits / temperature), the distribution that sampling
            at that temperature draws from (Caccia et al. 2018).
    """
    was_training = generator.training
    generator.eval()
    device = next(generator.parameters()).device
    total, count = 0.0, 0.0
    for i in range(0, tokens.size(0), batch_size):
        batch = tokens[i:i + batch_size].to(device)
        logp = torch.log_softmax(generator(batch).float() / temperature, dim=-1)
        logp = logp.gather(-1, batch.unsqueeze(-1)).squeeze(-1) * generator.mask(batch)
        total -= logp.double().sum().item()
        count += generator.mask(batch).sum().item()
    generator.train(was_training)
    return total / max(count, 1.0)


def make_decoder(data: PreparedData) -> Callable[[torch.Tensor], list[str]]:
    """ids (N, T) -> texts, using the run's vocabulary and tokenizer."""

    def decode(ids: torch.Tensor) -> list[str]:
        rows = ids.tolist()
        if data.tokenizer is None:
            return [" ".join(data.vocab.decode(r)) for r in rows]
        return [data.tokenizer.detokenize(data.vocab.decode(r)) for r in rows]

    return decode


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
    if "bleu" in metrics and not data.test_texts:
        log.warning("bleu needs a test split of texts; it is skipped")
        metrics.discard("bleu")
    bleu_refs = None

    def evaluate(generator: torch.nn.Module) -> tuple[dict, list[str]]:
        nonlocal bleu_refs
        was_training = generator.training
        generator.eval()
        out: dict = {}
        samples = generator.sample(cfg.num_samples, temperature=cfg.temperature,
                                   generator=stream(seed, "eval.samples", next(generator.parameters()).device),
                                   batch_size=cfg.batch_size)
        if "nll_oracle" in metrics:
            out["nll_oracle"] = data.oracle.nll(samples.to(data.oracle.W_out.device))
        if "nll_test" in metrics:
            out["nll_test"] = generator_nll(generator, data.test, cfg.batch_size)
        texts = decode(samples)
        if metrics & {"bleu", "self_bleu"}:
            from ..metrics.bleu import BleuReference, self_bleu_scores, sequential_mean, tokenize_texts

            # BLEU is computed on words of the detokenized texts, whatever the model's tokenizer
            # (subword pieces would make scores incomparable across tokenizers).
            sample_tokens = tokenize_texts(texts, cfg.tokenizer)
            if "bleu" in metrics:
                if bleu_refs is None:
                    bleu_refs = BleuReference(tokenize_texts(data.test_texts, cfg.tokenizer), max_n=5)
                for n, scores in bleu_refs.scores_by_order(sample_tokens, (2, 3, 4, 5)).items():
                    out[f"bleu{n}"] = sequential_mean(scores)
            if "self_bleu" in metrics:
                for n, scores in self_bleu_scores(sample_tokens, (2, 3, 4, 5)).items():
                    out[f"self_bleu{n}"] = sequential_mean(scores)
        generator.train(was_training)
        return out, texts

    return evaluate


def evaluate_texts(samples: list[str], references: list[str] | None = None, train: list[str] | None = None,
                   metrics: tuple[str, ...] = ("bleu", "self_bleu", "distinct", "novelty", "length"),
                   orders: tuple[int, ...] = (2, 3, 4, 5), tokenize: str = "whitespace") -> dict:
    """Score generated texts with the text-GAN metrics.

    Args:
        samples: generated texts.
        references: reference texts for BLEU (the test set), or None.
        train: training texts for novelty, or None.
        metrics: any of bleu, self_bleu, distinct, novelty, length.
        orders: n-gram orders for BLEU, Self-BLEU and distinct-n.
        tokenize: "whitespace" or "nltk" (Texygen's word tokenizer without sentence splitting).

    Returns:
        A flat dict: ``bleu2``.., ``self_bleu2``.., ``distinct2``.., ``copied``, ``novel_2gram``..,
        ``len_mean``.. .
    """
    from ..errors import TextganError
    from ..metrics.bleu import BleuReference, self_bleu_scores, sequential_mean, tokenize_texts
    from ..metrics.text import distinct_n, length_stats, novelty

    known = {"bleu", "self_bleu", "distinct", "novelty", "length"}
    unknown = set(metrics) - known
    if unknown:
        raise TextganError(f"unknown metrics {sorted(unknown)}: choose from {sorted(known)}")
    if not samples:
        raise TextganError("no samples to evaluate: the samples file holds no non-blank line")
    toks = tokenize_texts(samples, tokenize)
    out: dict = {"num_samples": len(samples)}
    if "bleu" in metrics:
        if not references:
            raise TextganError("BLEU needs references: pass --references FILE_OR_CORPUS (e.g. coco_captions:test)")
        ref = BleuReference(tokenize_texts(references, tokenize), max_n=max(orders))
        for n, scores in ref.scores_by_order(toks, orders).items():
            out[f"bleu{n}"] = sequential_mean(scores)
        out["num_references"] = len(references)
    if "self_bleu" in metrics:
        if len(samples) < 2:
            raise TextganError("Self-BLEU needs at least 2 samples")
        for n, scores in self_bleu_scores(toks, orders).items():
            out[f"self_bleu{n}"] = sequential_mean(scores)
    if "distinct" in metrics:
        for n in (1, *orders):
            out[f"distinct{n}"] = distinct_n(toks, n)
    if "novelty" in metrics:
        if train is None:
            raise TextganError("novelty needs training texts: pass --train FILE_OR_CORPUS")
        out.update(novelty(toks, tokenize_texts(train, tokenize), n=orders, tokenize=None))
    if "length" in metrics:
        out.update({f"len_{k}": v for k, v in length_stats(toks).items()})
    return out


def quality_diversity(run_dirs: list, temperatures: tuple[float, ...], num_samples: int = 2000,
                      orders: tuple[int, ...] = (2, 3, 4, 5), seed: int = 0, batch_size: int = 1000,
                      progress: bool = False) -> list[dict]:
    """Temperature sweep of "Language GANs Falling Short" (Caccia et al. 2018).

    For every run and temperature: sample the run's generator, then measure quality and
    diversity. On the synthetic oracle: NLL-oracle of the samples (quality) and NLL-test, the
    tempered generator's NLL of fresh oracle samples (diversity). On text: BLEU against the test
    split (quality) and Self-BLEU (diversity).

    Args:
        run_dirs: run folders (each with recipe.yaml and checkpoints/).
        temperatures: softmax temperatures.
        num_samples: samples per point.

    Returns:
        One dict per (run, temperature) with ``run``, ``temperature`` and the metrics.
    """
    from pathlib import Path

    from ..config import load_recipe
    from ..data.prepare import prepare_data
    from .checkpoint import load_generator

    rows = []
    for run_dir in run_dirs:
        run_dir = Path(run_dir)
        recipe = load_recipe(run_dir / "recipe.yaml")
        loaded = load_generator(run_dir)
        model = loaded.model
        data = prepare_data(recipe.data, recipe.seed)
        decode = make_decoder(data)
        for temp in temperatures:
            rng = torch.Generator().manual_seed(seed)
            samples = model.sample(num_samples, temperature=temp, generator=rng, batch_size=batch_size)
            row: dict = {"run": str(run_dir), "name": recipe.name, "temperature": temp}
            if data.oracle is not None:
                row["nll_oracle"] = data.oracle.nll(samples)
                row["nll_test"] = generator_nll(model, data.test, batch_size, temperature=temp)
            else:
                row.update(evaluate_texts(decode(samples), data.test_texts, metrics=("bleu", "self_bleu"),
                                          orders=orders, tokenize=recipe.eval.tokenizer))
            rows.append(row)
            log.info("%s T=%.2f %s", recipe.name, temp, row)
    return rows


def plot_quality_diversity(rows: list[dict], out, order: int = 4):
    """Draw each run's temperature curve: BLEU-n against Self-BLEU-n (text) or NLL-oracle
    against NLL-test (synthetic oracle). Returns the PNG path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io import atomic_tmp_path

    fig, ax = plt.subplots(figsize=(6, 4.5))
    oracle = any("nll_oracle" in r for r in rows)
    xkey, ykey = ("nll_test", "nll_oracle") if oracle else (f"self_bleu{order}", f"bleu{order}")
    for run in dict.fromkeys(r["run"] for r in rows):
        pts = [r for r in rows if r["run"] == run]
        ax.plot([r[xkey] for r in pts], [r[ykey] for r in pts], marker="o", label=pts[0]["name"])
        for r in pts:
            ax.annotate(f"T={r['temperature']:g}", (r[xkey], r[ykey]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    if oracle:
        ax.set_xlabel("NLL-test (lower: more diverse / better coverage)")
        ax.set_ylabel("NLL-oracle (lower: higher quality)")
    else:
        ax.set_xlabel(f"Self-BLEU-{order} (lower: more diverse)")
        ax.set_ylabel(f"BLEU-{order} (higher: higher quality)")
    ax.set_title("Quality-diversity by temperature (Caccia et al. 2018)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = atomic_tmp_path(out)
    fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    tmp.replace(out)
    return out
