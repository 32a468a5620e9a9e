"""A run's periodic evaluation: sample the generator and compute the recipe's metrics."""

from __future__ import annotations

import logging
from typing import Callable

import torch

from ..config import EvalConfig
from ..data.prepare import PreparedData
from ..metrics.fingerprint import fingerprint
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
    for m in ("bleu", "fbleu", "ms_jaccard"):
        if m in metrics and not data.test_texts:
            log.warning("%s needs a test split of texts; it is skipped", m)
            metrics.discard(m)
    if "novelty" in metrics and not data.train_texts:
        log.warning("novelty needs training texts; it is skipped")
        metrics.discard("novelty")
    text_metrics = tuple(m for m in TEXT_METRICS if m in metrics and m not in ("bleu", "self_bleu"))
    proto = run_protocol(cfg, data, metrics)
    fp = fingerprint(proto)
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
        if text_metrics:
            scored = evaluate_texts(texts, data.test_texts, data.train_texts, metrics=text_metrics,
                                    tokenize=cfg.tokenizer, blank_lines="keep")
            out.update({k: v for k, v in scored.items()
                        if k not in ("num_samples", "num_references", "fingerprint", "protocol")})
        out["fingerprint"] = fp
        generator.train(was_training)
        return out, texts

    evaluate.protocol = proto  # type: ignore[attr-defined]
    evaluate.fingerprint = fp  # type: ignore[attr-defined]
    return evaluate


def run_protocol(cfg: EvalConfig, data: PreparedData, metrics: set[str]) -> dict:
    """The protocol of a run's evaluations (see :mod:`textgan.metrics.fingerprint`).

    It is the same at every evaluation of a run: the sample count and temperature, the BLEU
    references (the test texts) and training texts as scored, the tokenizer, orders 2-5,
    method1 smoothing, Self-BLEU over all samples, blank samples kept as empty sentences, the
    metrics; and, for NLL-test, the hash of the test token ids (which also fixes the
    vocabulary), for NLL-oracle the hash of the oracle's weights. Its fingerprint goes into every
    ``metrics.jsonl`` record; the dict itself into ``run.json`` (``eval_protocol``).
    """
    import hashlib

    from ..metrics.fingerprint import protocol, texts_hash

    text = bool(metrics - {"nll_oracle", "nll_test"})
    proto = protocol(samples=cfg.num_samples, references=data.test_texts if text else None,
                     train=data.train_texts if "novelty" in metrics else None, tokenize=cfg.tokenizer,
                     orders=(2, 3, 4, 5), blank_lines="keep", metrics=sorted(metrics), source="run evaluation",
                     temperature=cfg.temperature)
    if "nll_test" in metrics and data.test is not None:
        proto["nll_test_sha256"] = texts_hash(data.test.tolist())
        proto["nll_test_rows"] = int(data.test.size(0))
    if "nll_oracle" in metrics and data.oracle is not None:
        h = hashlib.sha256()
        for name, t in sorted(data.oracle.state_dict().items()):
            h.update(name.encode())
            h.update(t.detach().to("cpu", torch.float64).contiguous().numpy().tobytes())
        proto["oracle_sha256"] = h.hexdigest()[:16]
    return proto


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


SWEEP_METRICS = TEXT_METRICS + ("nll_test", "nll_oracle")
"""Metrics of the temperature sweep: every text metric, plus the generator's tempered NLL-test
and (synthetic oracle) NLL-oracle; ``"all"`` selects every one whose inputs the run has."""


def quality_diversity(run_dirs: list, temperatures: tuple[float, ...], num_samples: int = 2000,
                      orders: tuple[int, ...] = (2, 3, 4, 5), seed: int = 0, batch_size: int = 1000,
                      progress: bool = False, metrics: tuple[str, ...] | None = None, lm: dict | None = None,
                      features: dict | None = None, mle_baseline: bool = True) -> list[dict]:
    """Temperature sweep of "Language GANs Falling Short" (Caccia et al. 2018).

    For every run and temperature: sample the run's generator, then measure quality and
    diversity. By default, on the synthetic oracle: NLL-oracle of the samples (quality) and
    NLL-test, the tempered generator's NLL of the test split (diversity); on text: BLEU against
    the test split (quality), Self-BLEU (diversity) and NLL-test. ``metrics`` asks for more: any
    name of ``TEXT_METRICS`` (scored by :func:`evaluate_texts` on the decoded samples, with the
    run's test texts as references and its training texts as train, the recipe's eval tokenizer
    and ``blank_lines="keep"``), ``nll_test``, ``nll_oracle``, or ``"all"``.

    When a run folder holds ``checkpoints/mle`` (the generator at the end of MLE pretraining) and
    its final generator is another checkpoint, the MLE generator is swept too, at the same
    temperatures and with the same seeds, as the curve ``"<name> (MLE)"``: the baseline a GAN
    has to beat at equal diversity (see :func:`summarize_quality_diversity`).

    Args:
        run_dirs: run folders (each with recipe.yaml and checkpoints/).
        temperatures: softmax temperatures.
        num_samples: samples per point.
        orders: n-gram orders of the text metrics.
        seed: seed of the samples; the same at every temperature and for every curve.
        batch_size: sampling and NLL batch size.
        progress: unused (kept for callers).
        metrics: names from ``SWEEP_METRICS`` or ``("all",)``; None: the cheap defaults above.
        lm: options of the LM scores (as :func:`evaluate_texts` takes them).
        features: options of the feature metrics (as :func:`evaluate_texts` takes them).
        mle_baseline: sweep the runs' MLE checkpoints as baseline curves.

    Returns:
        One flat dict per (curve, temperature): ``run``, ``curve`` (the recipe's name, made unique
        across runs), ``role`` (``"final"``: the run's generator; ``"mle"``: its MLE baseline),
        ``baseline_of`` (MLE rows: the curve they are the baseline of; None on final rows), ``temperature``, the
        metrics, and for text metrics ``fingerprint`` and ``protocol`` (the same for every row of
        a curve).

    Raises:
        TextganError: an unknown metric, or one whose inputs the run lacks.
    """
    from pathlib import Path

    from ..config import load_recipe
    from ..data.prepare import prepare_data
    from ..errors import TextganError
    from .checkpoint import load_generator

    wanted = None if metrics is None else tuple(m.strip().replace("-", "_") for m in metrics if m.strip())
    if wanted is not None:
        unknown = set(wanted) - set(SWEEP_METRICS) - {"all"}
        if unknown or not wanted:
            raise TextganError(f"unknown sweep metrics {sorted(unknown)}: choose from {list(SWEEP_METRICS)} or all")
    rows: list[dict] = []
    names: set[str] = set()
    for run_dir in run_dirs:
        run_dir = Path(run_dir)
        recipe = load_recipe(run_dir / "recipe.yaml")
        data = prepare_data(recipe.data, recipe.seed)
        decode = make_decoder(data)
        oracle = data.oracle is not None
        if wanted is None:
            chosen = ("nll_oracle", "nll_test") if oracle else ("bleu", "self_bleu", "nll_test")
        elif "all" in wanted:
            chosen = ("nll_oracle", "nll_test", "all") if oracle else ("nll_test", "all")
        else:
            chosen = wanted
        if "nll_oracle" in chosen and not oracle:
            raise TextganError(f"nll_oracle needs the synthetic oracle; run {str(run_dir)!r} trains on text: "
                               "drop nll_oracle from the sweep metrics")
        if "nll_test" in chosen and data.test is None:
            raise TextganError(f"nll_test needs a test split; run {str(run_dir)!r} has none: drop nll_test from the sweep metrics")
        text_metrics = tuple(m for m in chosen if m not in ("nll_oracle", "nll_test"))
        needs_refs = {"bleu", "fbleu", "ms_jaccard", "reverse_lm_score", "frechet", "mauve"}
        if missing := sorted(set(text_metrics) & needs_refs if not data.test_texts else ()):
            raise TextganError(f"{missing} need the run's test texts; run {str(run_dir)!r} has none "
                               "(the synthetic oracle has no texts): drop them from the sweep metrics")
        if missing := sorted(set(text_metrics) & {"novelty", "lm_score"} if not data.train_texts else ()):
            raise TextganError(f"{missing} need the run's training texts; run {str(run_dir)!r} has none "
                               "(the synthetic oracle has no texts): drop them from the sweep metrics")
        name = recipe.name if recipe.name not in names else f"{recipe.name} [{run_dir.name}]"
        names.add(name)
        final = load_generator(run_dir)
        curves = [(name, "final", final.model)]
        mle_dir = run_dir / "checkpoints" / "mle"
        if mle_baseline and (mle_dir / "model.safetensors").is_file():
            mle = load_generator(mle_dir)
            if mle.sha256 != final.sha256:
                curves.append((f"{name} (MLE)", "mle", mle.model))
        for curve, role, model in curves:
            for temp in temperatures:
                rng = torch.Generator().manual_seed(seed)
                samples = model.sample(num_samples, temperature=temp, generator=rng, batch_size=batch_size)
                row: dict = {"run": str(run_dir), "curve": curve, "role": role,
                             "baseline_of": name if role == "mle" else None, "temperature": temp}
                if "nll_oracle" in chosen:
                    row["nll_oracle"] = data.oracle.nll(samples)
                if "nll_test" in chosen:
                    row["nll_test"] = generator_nll(model, data.test, batch_size, temperature=temp)
                if text_metrics:
                    scored = evaluate_texts(decode(samples), data.test_texts or None, data.train_texts or None,
                                            metrics=text_metrics, orders=orders, tokenize=recipe.eval.tokenizer,
                                            blank_lines="keep", lm=lm, features=features)
                    row.update(scored)
                rows.append(row)
                log.info("%s T=%.2f %s", curve, temp, {k: v for k, v in row.items() if k != "protocol"})
    return rows


def plot_quality_diversity(rows: list[dict], out, order: int = 4, quality: str | None = None,
                           diversity: str | None = None):
    """Draw each curve's temperatures: quality against diversity.

    Args:
        rows: the rows of :func:`quality_diversity`.
        out: the PNG path.
        order: BLEU order of the default text axes.
        quality, diversity: row keys of the axes (default: :func:`default_quality_diversity_keys`).

    A run's MLE baseline is dashed in the run's colour. When the rows hold ``lm_score`` and
    ``reverse_lm_score``, a second panel draws the LM score (quality) against the reverse LM
    score (diversity). Returns the PNG path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io import atomic_tmp_path

    default_q, default_d = default_quality_diversity_keys(rows, order)
    ykey, xkey = quality or default_q, diversity or default_d
    panels = [(xkey, ykey)]
    if all("lm_score" in r and "reverse_lm_score" in r for r in rows):
        panels.append(("reverse_lm_score", "lm_score"))
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    for ax, (x, y) in zip(axes[0], panels):
        colours: dict = {}
        for curve in dict.fromkeys(r.get("curve", r.get("name", r["run"])) for r in rows):
            pts = [r for r in rows if r.get("curve", r.get("name", r["run"])) == curve]
            mle = pts[0].get("role") == "mle"
            owner = pts[0].get("baseline_of") or curve  # a baseline takes its run's colour
            line, = ax.plot([r[x] for r in pts], [r[y] for r in pts], marker="o", label=curve,
                            linestyle="--" if mle else "-", color=colours.get(owner))
            colours.setdefault(owner, line.get_color())
            for r in pts:
                ax.annotate(f"T={r['temperature']:g}", (r[x], r[y]), fontsize=7, xytext=(3, 3),
                            textcoords="offset points")
        ax.set_xlabel(f"{_axis_label(x)} ({_direction_note(x, 'diversity')})")
        ax.set_ylabel(f"{_axis_label(y)} ({_direction_note(y, 'quality')})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_title("Quality-diversity by temperature (Caccia et al. 2018)")
    fig.tight_layout()
    tmp = atomic_tmp_path(out)
    fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    tmp.replace(out)
    return out


# Which way each swept metric is better, by key prefix (longest first): +1 higher is better,
# -1 lower is better. As a quality axis "better" is higher quality; as a diversity axis it is
# more diverse / better coverage (so Self-BLEU, where higher means LESS diverse, is -1).
_HIGHER_BETTER = ("bleu_f", "bleu_b", "bleu_ha", "bleu", "ms_jaccard", "distinct", "token_entropy", "novel_",
                  "mauve")
_LOWER_BETTER = ("self_bleu", "nll_oracle", "nll_test", "reverse_lm_score", "lm_score", "frechet")
QD_SOURCE = ('Caccia et al. 2018, "Language GANs Falling Short", temperature sweeps: a GAN is better only '
             "where it beats temperature-tuned MLE at equal diversity")


def metric_direction(key: str) -> int:
    """+1 when a higher value of the sweep column ``key`` is better, -1 when lower is better.

    Raises:
        TextganError: a column with no known direction (e.g. ``len_mean``).
    """
    from ..errors import TextganError

    for prefix in sorted(_HIGHER_BETTER + _LOWER_BETTER, key=len, reverse=True):
        if key.startswith(prefix) and (prefix.endswith("_") or key[len(prefix):].isdigit() or key == prefix):
            return 1 if prefix in _HIGHER_BETTER else -1
    raise TextganError(f"{key!r} has no known better direction: pick a quality/diversity column such as "
                       "bleu4, self_bleu4, nll_oracle, nll_test, lm_score, reverse_lm_score, distinct2 or token_entropy")


def _direction_note(key: str, axis: str) -> str:
    """``"lower: higher quality"`` and the like, for an axis label (the bare axis name when ``key``
    has no known direction)."""
    from ..errors import TextganError

    better = "higher quality" if axis == "quality" else "more diverse / better coverage"
    try:
        return f"{'higher' if metric_direction(key) > 0 else 'lower'}: {better}"
    except TextganError:
        return axis


def _axis_label(key: str) -> str:
    import re

    labels = {"self_bleu": "Self-BLEU", "bleu": "BLEU", "nll_oracle": "NLL-oracle", "nll_test": "NLL-test",
              "lm_score": "LM score", "reverse_lm_score": "reverse LM score"}
    m = re.fullmatch(r"(self_bleu|bleu)(\d+)", key)
    return f"{labels[m.group(1)]}-{m.group(2)}" if m else labels.get(key, key)


def default_quality_diversity_keys(rows: list[dict], order: int = 4) -> tuple[str, str]:
    """The default ``(quality, diversity)`` columns: ``nll_oracle``/``nll_test`` on the synthetic
    oracle (rows holding ``nll_oracle``), else ``bleu{order}``/``self_bleu{order}``."""
    if any("nll_oracle" in r for r in rows):
        return "nll_oracle", "nll_test"
    return f"bleu{order}", f"self_bleu{order}"


def _interpolate(points: list[tuple[float, float]], x: float) -> float | None:
    """Linear interpolation of y at ``x`` along ``points`` (x, y) sorted by x; None outside
    ``[min x, max x]`` (no extrapolation). Points of equal x are averaged first."""
    merged: dict[float, list[float]] = {}
    for px, py in points:
        merged.setdefault(px, []).append(py)
    xs = sorted(merged)
    ys = [sum(merged[px]) / len(merged[px]) for px in xs]
    if not xs or x < xs[0] or x > xs[-1]:
        return None
    for i in range(len(xs) - 1):
        if xs[i] <= x <= xs[i + 1]:
            return ys[i] + (ys[i + 1] - ys[i]) * (x - xs[i]) / (xs[i + 1] - xs[i])
    return ys[0]  # a single baseline point, at exactly x


def summarize_quality_diversity(rows: list[dict], quality: str, diversity: str) -> dict:
    """Compare each curve with its MLE baseline at equal diversity (Caccia et al. 2018).

    A pure function of the sweep's rows. For every point of a curve that has a baseline (rows
    with ``baseline_of`` naming it), the baseline's quality at the point's diversity value is
    interpolated linearly along the baseline sorted by diversity; a point outside the baseline's
    diversity range is counted as outside, not extrapolated. The gain is the point's quality
    minus the baseline's, signed so that positive always means better quality (for a
    lower-is-better quality such as ``nll_oracle`` it is baseline minus point).

    Args:
        rows: rows of :func:`quality_diversity` (``curve``, ``temperature``, optional ``role``
            and ``baseline_of``, and the ``quality``/``diversity`` columns).
        quality: the quality column (e.g. ``bleu4``, ``nll_oracle``, ``lm_score``).
        diversity: the diversity column (e.g. ``self_bleu4``, ``nll_test``, ``reverse_lm_score``).

    Returns:
        ``{"quality", "diversity", "quality_direction", "diversity_direction", "source",
        "curves": [...]}``; each curve: ``curve``, ``role``, ``baseline_of``, ``temperatures``,
        ``quality_at_t1``/``diversity_at_t1`` (None without T=1.0), ``fingerprint`` and, when it
        has a baseline, ``baseline`` (its name) and ``comparison``: ``mean_gain`` (None when no
        point is compared), ``compared``, ``outside``, ``above``, ``below``, ``verdict`` and
        ``points`` (per temperature: ``quality``, ``diversity``, ``mle_quality``, ``gain``, or
        ``outside: true``).

    Raises:
        TextganError: a column with no known direction, or absent from the rows.
    """
    from ..errors import TextganError

    q_sign, d_sign = metric_direction(quality), metric_direction(diversity)
    for key, flag in ((quality, "--quality"), (diversity, "--diversity")):
        if rows and not all(isinstance(r.get(key), (int, float)) for r in rows):
            numeric = sorted({k for r in rows for k, v in r.items() if isinstance(v, float)})
            raise TextganError(f"{flag} {key!r} is not a column of every sweep row: choose from {numeric} "
                               "(or sweep more metrics with --sweep-metrics)")

    def curve_of(r: dict) -> str:
        return r.get("curve", r.get("name", r.get("run")))

    curves: dict[str, list[dict]] = {}
    for r in rows:
        curves.setdefault(curve_of(r), []).append(r)
    baselines = {pts[0]["baseline_of"]: name for name, pts in curves.items() if pts[0].get("baseline_of")}
    out_curves = []
    for name, pts in curves.items():
        at_one = next((r for r in pts if r["temperature"] == 1.0), None)
        entry: dict = {"curve": name, "role": pts[0].get("role", "final"), "baseline_of": pts[0].get("baseline_of"),
                       "temperatures": [r["temperature"] for r in pts],
                       "quality_at_t1": at_one[quality] if at_one else None,
                       "diversity_at_t1": at_one[diversity] if at_one else None,
                       "fingerprint": pts[0].get("fingerprint")}
        if name in baselines:
            base = [(r[diversity], r[quality]) for r in curves[baselines[name]]]
            points, gains = [], []
            for r in pts:
                mle_q = _interpolate(base, r[diversity])
                if mle_q is None:
                    points.append({"temperature": r["temperature"], "diversity": r[diversity], "outside": True})
                    continue
                gain = q_sign * (r[quality] - mle_q)
                gains.append(gain)
                points.append({"temperature": r["temperature"], "quality": r[quality], "diversity": r[diversity],
                               "mle_quality": mle_q, "gain": gain})
            above, below = sum(g > 0 for g in gains), sum(g < 0 for g in gains)
            if not gains:
                verdict = "no point within the MLE curve's diversity range"
            elif above == len(gains):
                verdict = "above MLE at every compared point"
            elif below == len(gains):
                verdict = "below MLE at every compared point"
            else:
                verdict = "crosses MLE"
            entry["baseline"] = baselines[name]
            entry["comparison"] = {"mean_gain": sum(gains) / len(gains) if gains else None, "compared": len(gains),
                                   "outside": len(pts) - len(gains), "above": above, "below": below,
                                   "verdict": verdict, "points": points}
        out_curves.append(entry)
    return {"quality": quality, "diversity": diversity,
            "quality_direction": "higher is better" if q_sign > 0 else "lower is better",
            "diversity_direction": ("higher is more diverse" if d_sign > 0 else "lower is better coverage"
                                    if diversity in ("nll_test", "reverse_lm_score", "frechet") else "lower is more diverse"),
            "source": QD_SOURCE, "curves": out_curves}


def format_quality_diversity_summary(summary: dict) -> str:
    """The summary of :func:`summarize_quality_diversity` as one markdown table (with a line
    naming the axes and their directions above it)."""

    def num(v) -> str:
        return "" if v is None else f"{v:.4f}"

    q, d = summary["quality"], summary["diversity"]
    lines = [f"Quality {q} ({summary['quality_direction']}) against diversity {d} "
             f"({summary['diversity_direction']}); gain: quality over the MLE curve at equal diversity "
             "(positive: better).", "",
             f"| curve | temperatures | {q} at T=1 | {d} at T=1 | gain over MLE at equal diversity | verdict |",
             "|---|---|---|---|---|---|"]
    for c in summary["curves"]:
        cmp = c.get("comparison")
        if cmp is None:
            gain, verdict = "", ("MLE baseline" if c["role"] == "mle" else "no MLE baseline")
        else:
            gain = (f"{num(cmp['mean_gain'])} ({cmp['compared']} compared, {cmp['above']} above, "
                    f"{cmp['below']} below, {cmp['outside']} outside)")
            verdict = cmp["verdict"]
        temps = ",".join(f"{t:g}" for t in c["temperatures"])
        lines.append(f"| {c['curve']} | {temps} | {num(c['quality_at_t1'])} | {num(c['diversity_at_t1'])} | "
                     f"{gain} | {verdict} |")
    return "\n".join(lines) + "\n"
