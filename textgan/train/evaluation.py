"""A run's periodic evaluation: sample the generator and compute the recipe's metrics."""

from __future__ import annotations

import logging
from typing import Callable

import torch

from ..config import EvalConfig
from ..data.prepare import PreparedData
from ..seeds import stream

log = logging.getLogger(__name__)


NLL_LOGITS_BUDGET = 32 << 20  # logits (floats) per chunk of generator_nll: 128 MB


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
    total, count = generator_nll_sums(generator, tokens, batch_size, temperature)
    return total / max(count, 1.0)


def generator_nll_sums(generator: torch.nn.Module, tokens: torch.Tensor, batch_size: int = 1000,
                       temperature: float = 1.0) -> tuple[float, float]:
    """The summed negative log-likelihood of ``tokens`` and the number of counted positions
    (see :func:`generator_nll`; ranks add their shares' sums)."""
    was_training = generator.training
    generator.eval()
    device = next(generator.parameters()).device
    total, count = 0.0, 0.0
    # The (rows, T, V) logits of a batch dominate memory (1000 x 40 x 14k floats: 2.2 GB, and as
    # much again for the log-softmax): rows are capped so each such tensor stays near 128 MB.
    # Small vocabularies keep whole batches (and their exact sums).
    vocab_size = getattr(generator, "vocab_size", None) or 0
    if vocab_size and tokens.dim() == 2 and tokens.size(1):
        batch_size = max(1, min(batch_size, NLL_LOGITS_BUDGET // (tokens.size(1) * vocab_size)))
    for i in range(0, tokens.size(0), batch_size):
        batch = tokens[i:i + batch_size].to(device)
        logits = generator(batch).float()
        logp = torch.log_softmax(logits if temperature == 1.0 else logits / temperature, dim=-1)
        del logits
        logp = logp.gather(-1, batch.unsqueeze(-1)).squeeze(-1) * generator.mask(batch)
        total -= logp.double().sum().item()
        count += generator.mask(batch).sum().item()
    generator.train(was_training)
    return total, count


def make_decoder(data: PreparedData) -> Callable[[torch.Tensor], list[str]]:
    """ids (N, T) -> texts, using the run's vocabulary and tokenizer."""

    def decode(ids: torch.Tensor) -> list[str]:
        rows = ids.tolist()
        if data.tokenizer is None:
            return [" ".join(data.vocab.decode(r)) for r in rows]
        return [data.tokenizer.detokenize(data.vocab.decode(r)) for r in rows]

    return decode


def make_evaluator(cfg: EvalConfig, data: PreparedData, seed: int, decode: Callable[[torch.Tensor], list[str]],
                   dist=None) -> Callable[[torch.nn.Module], tuple[dict, list[str]]]:
    """Build ``evaluate(generator) -> (metrics, sample_texts)`` for a run.

    Samples are drawn with a fixed seed at every evaluation, so curves compare like with like.
    Under torchrun (``dist`` with several processes) every rank calls it: each draws its share
    of the samples (its own stream) and scores its rows of the test split; rank 0 gathers the
    samples and the sums and computes the metrics, the other ranks get ``({}, [])``.
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
        split = dist is not None and dist.active
        rank = dist.rank if split else 0
        samples = generator.sample(dist.share(cfg.num_samples) if split else cfg.num_samples,
                                   temperature=cfg.temperature, batch_size=cfg.batch_size,
                                   generator=stream(seed, "eval.samples", next(generator.parameters()).device, rank=rank))
        nll_sums = None
        if split:  # each rank scores its rows of the test split; the sums meet on every rank
            if "nll_test" in metrics:
                nll_sums = dist.sum(list(generator_nll_sums(generator, dist.rows(data.test), cfg.batch_size)))
            samples = dist.gather_rows(samples)
            if not dist.is_main:
                generator.train(was_training)
                return {}, []
        if "nll_oracle" in metrics:
            out["nll_oracle"] = data.oracle.nll(samples.to(data.oracle.W_out.device))
        if "nll_test" in metrics:
            out["nll_test"] = (nll_sums[0] / max(nll_sums[1], 1.0) if nll_sums is not None
                               else generator_nll(generator, data.test, cfg.batch_size))
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


TEXT_METRICS = ("bleu", "self_bleu", "fbleu", "ms_jaccard", "distinct", "entropy", "novelty", "length",
                "lm_score", "reverse_lm_score", "frechet", "mauve")
"""Every metric ``evaluate_texts`` knows, in output order; ``"all"`` selects those whose inputs are given."""
DEFAULT_TEXT_METRICS = ("bleu", "self_bleu", "distinct", "novelty", "length")


def evaluate_texts(samples: list[str], references: list[str] | None = None, train: list[str] | None = None,
                   metrics: tuple[str, ...] = DEFAULT_TEXT_METRICS,
                   orders: tuple[int, ...] = (2, 3, 4, 5), tokenize: str = "whitespace",
                   smoothing: str = "method1", self_bleu_first: int | None = None,
                   bleu_first_references: int | None = None, blank_lines: str = "keep",
                   lm: dict | None = None, features: dict | None = None) -> dict:
    """Score generated texts with the text-GAN metrics (docs/evaluation.md explains each).

    Args:
        samples: generated texts (with ``blank_lines="keep"`` blank ones are empty sentences).
        references: real held-out texts (the test set) for BLEU, forward/backward BLEU,
            MS-Jaccard, the reverse LM score and the feature metrics, or None.
        train: training texts for novelty and the LM score, or None.
        metrics: names from ``TEXT_METRICS``, or ``("all",)``: every metric whose inputs are given.
        orders: n-gram orders for BLEU, Self-BLEU, forward/backward BLEU, MS-Jaccard and distinct-n.
        tokenize: "whitespace" or "nltk" (Texygen's word tokenizer without sentence splitting).
        smoothing: BLEU smoothing, "method1" (text-GAN protocol) or "method0".
        self_bleu_first: Self-BLEU on the first N samples only (Texygen's fast mode: 500).
        bleu_first_references: BLEU against the first N references only (Texygen's fast mode: 500).
        blank_lines: "keep" (default: every text given is scored, a blank one as an empty
            sentence, as Texygen) or "drop" (blank texts are removed first, as ``textgan evaluate``
            does by default); recorded in the protocol.
        lm: options of the LM scores (``textgan.train.lm_score.lm_scores``), or None for defaults.
        features: options of the feature metrics (``textgan.metrics.features.feature_metrics``).

    Returns:
        A flat dict: ``num_samples``, ``bleu2``.., ``self_bleu2``.., ``bleu_f2``.., ``bleu_b2``..,
        ``bleu_ha2``.., ``ms_jaccard2``.., ``distinct2``.., ``token_entropy``, ``copied``,
        ``novel_2gram``.., ``len_mean``.., ``lm_score``, ``reverse_lm_score``, ``frechet``,
        ``mauve``; then ``fingerprint`` and ``protocol`` (see textgan.metrics.fingerprint).
    """
    from ..errors import TextganError
    from ..metrics.bleu import BleuReference, self_bleu_scores, sequential_mean, tokenize_texts
    from ..metrics.fingerprint import fingerprint, protocol
    from ..metrics.text import distinct_n, length_stats, novelty

    metrics = tuple(m.replace("-", "_") for m in metrics)
    if "all" in metrics:
        needs_refs = {"bleu", "fbleu", "ms_jaccard", "reverse_lm_score", "frechet", "mauve"}
        needs_train = {"novelty", "lm_score"}
        optional = set()
        try:
            import mauve  # noqa: F401
        except ImportError:
            optional.add("mauve")
        metrics = tuple(m for m in TEXT_METRICS if not (m in needs_refs and not references)
                        and not (m in needs_train and train is None) and m not in optional
                        and not (m in {"frechet", "mauve"} and not (features or {}).get("encoder")
                                 and not (features or {}).get("feature_fn")))
    unknown = set(metrics) - set(TEXT_METRICS)
    if unknown:
        raise TextganError(f"unknown metrics {sorted(unknown)}: choose from {list(TEXT_METRICS)} or all")
    if blank_lines not in ("drop", "keep"):
        raise TextganError(f"blank_lines must be 'drop' or 'keep', got {blank_lines!r}")
    if blank_lines == "drop":
        samples = [s for s in samples if s.strip()]
    if not samples:
        raise TextganError("no samples to evaluate: the samples file holds no non-blank line")
    toks = tokenize_texts(samples, tokenize)
    out: dict = {"num_samples": len(samples)}
    bleu_refs = references
    if "bleu" in metrics:
        if not references:
            raise TextganError("BLEU needs references: pass --references FILE_OR_CORPUS (e.g. coco_captions:test)")
        bleu_refs = references[:bleu_first_references] if bleu_first_references else references
        ref = BleuReference(tokenize_texts(bleu_refs, tokenize), max_n=max(orders))
        for n, scores in ref.scores_by_order(toks, orders, smoothing).items():
            out[f"bleu{n}"] = sequential_mean(scores)
        out["num_references"] = len(bleu_refs)
    if "self_bleu" in metrics:
        self_toks = toks[:self_bleu_first] if self_bleu_first else toks
        if len(self_toks) < 2:
            raise TextganError("Self-BLEU needs at least 2 samples")
        for n, scores in self_bleu_scores(self_toks, orders, smoothing).items():
            out[f"self_bleu{n}"] = sequential_mean(scores)
    if metrics_needing := set(metrics) & {"fbleu", "ms_jaccard"}:
        if not references:
            raise TextganError(f"{sorted(metrics_needing)} need references: pass --references FILE_OR_CORPUS")
        from ..metrics.distribution import forward_backward_bleu_scores, harmonic_mean, ms_jaccard_by_order
        from ..metrics.distribution import geometric_mean

        ref_toks = tokenize_texts(references, tokenize)
        if "fbleu" in metrics:
            fwd, bwd = forward_backward_bleu_scores(toks, ref_toks, orders, smoothing)
            for n in orders:
                f, b = sequential_mean(fwd[n]), sequential_mean(bwd[n])
                out[f"bleu_f{n}"], out[f"bleu_b{n}"], out[f"bleu_ha{n}"] = f, b, harmonic_mean(f, b)
        if "ms_jaccard" in metrics:
            per_order = ms_jaccard_by_order(toks, ref_toks, max(orders))
            for n in orders:
                out[f"ms_jaccard{n}"] = geometric_mean(per_order[:n])
    if "distinct" in metrics:
        for n in (1, *orders):
            out[f"distinct{n}"] = distinct_n(toks, n)
    if "entropy" in metrics:
        from ..metrics.distribution import token_entropy

        out["token_entropy"] = token_entropy(toks)
    if "novelty" in metrics:
        if train is None:
            raise TextganError("novelty needs training texts: pass --train FILE_OR_CORPUS")
        out.update(novelty(toks, tokenize_texts(train, tokenize), n=orders, tokenize=None))
    if "length" in metrics:
        out.update({f"len_{k}": v for k, v in length_stats(toks).items()})
    extra: dict = {}
    if lm_wanted := [m for m in ("lm_score", "reverse_lm_score") if m in metrics]:
        from .lm_score import lm_scores

        if "lm_score" in lm_wanted and train is None:
            raise TextganError("lm_score needs training texts: pass --train FILE_OR_CORPUS")
        if "reverse_lm_score" in lm_wanted and not references:
            raise TextganError("reverse_lm_score needs real held-out texts: pass --references FILE_OR_CORPUS")
        scores, lm_protocol = lm_scores(samples, train, references, which=tuple(lm_wanted),
                                        **{"tokenize": tokenize, **(lm or {})})
        out.update(scores)
        extra["lm"] = lm_protocol
    if feat_wanted := [m for m in ("frechet", "mauve") if m in metrics]:
        from ..metrics.features import feature_metrics

        if not references:
            raise TextganError(f"{feat_wanted} need real texts: pass --references FILE_OR_CORPUS")
        scores, feat_protocol = feature_metrics(samples, references, which=tuple(feat_wanted), **(features or {}))
        out.update(scores)
        extra["features"] = feat_protocol
    proto = protocol(samples=len(samples), references=references, train=train, tokenize=tokenize, orders=orders,
                     smoothing=smoothing,
                     self_bleu=f"first{self_bleu_first}" if self_bleu_first else "all",
                     bleu_references=f"first{bleu_first_references}" if bleu_first_references else "all",
                     blank_lines=blank_lines, metrics=list(metrics), **extra)
    out["fingerprint"] = fingerprint(proto)
    out["protocol"] = proto
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
                scored = evaluate_texts(decode(samples), data.test_texts, metrics=("bleu", "self_bleu"),
                                        orders=orders, tokenize=recipe.eval.tokenizer, blank_lines="keep")
                row.update({k: v for k, v in scored.items() if k != "protocol"})
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
