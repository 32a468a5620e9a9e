"""The Python API behind every CLI command: train, generate, list recipes, corpora."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from .config import Recipe, load_recipe, recipe_to_dict
from .errors import TextganError
from .resources import recipe_summary, recipes_dir
from .runs import RunResult, default_run_dir  # re-exported: part of the API

log = logging.getLogger(__name__)

RECIPES_DIR = recipes_dir()  # recipes/ of the source tree, or textgan/recipes/ of a wheel (textgan.resources)


def train(recipe: Recipe | str | Path, out_dir: str | Path | None = None, overrides: list[str] | None = None,
          progress: bool = True) -> RunResult:
    """Run a recipe end to end: prepare data, train, evaluate, save checkpoints and curves.

    The run saves its full training state as it goes; :func:`resume` continues it after a
    crash or a signal. Nothing process-wide is left changed: the seed and thread count are set
    for the run only.

    Args:
        recipe: a Recipe or a path to a YAML recipe.
        out_dir: the run folder (default: ``runs/<name>/<timestamp>``); it must not hold a run.
        overrides: ``key=value`` strings (only with a path).
        progress: show progress bars.

    Returns:
        The run folder, the final metrics and the wall time.
    """
    from . import runs

    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, overrides)
    return runs.start(recipe, out_dir, progress)


def resume(run_dir: str | Path, overrides: list[str] | None = None, progress: bool = True) -> RunResult:
    """Continue the run in ``run_dir`` from its last saved training state (see ``textgan run --resume``)."""
    from . import runs

    return runs.resume(run_dir, overrides, progress)


def fork(parent: str | Path, at: str, out_dir: str | Path | None = None, overrides: list[str] | None = None,
         progress: bool = True) -> RunResult:
    """A new run from the state run ``parent``'s phase ``at`` began with (see ``textgan run --fork``)."""
    from . import runs

    return runs.fork(parent, at, out_dir, overrides, progress)


def compare(a: str | Path, b: str | Path) -> dict:
    """Two settings over the same seeds (``--seeds`` folders or runs): means and the paired
    difference ``b - a`` of every final and best metric (see ``textgan compare``)."""
    from .multiseed import compare as compare_runs

    return compare_runs(a, b)


def generate(checkpoint: str | Path, num: int, out: str | Path, *, temperature: float = 1.0, top_k: int = 0,
             top_p: float = 1.0, min_len: int = 1, max_len: int | None = None, seed: int = 0,
             format: str | None = None, shard_size: int = 10_000, batch_size: int = 1000,
             drop_duplicates: bool = False, drop_train_copies: bool = False, train: str | Path | None = None,
             device: str = "auto", progress: bool = False, fixed_shards: bool = False, label: str | None = None,
             labels: str | None = None, ban_unk: bool = False):
    """Sample ``num`` texts from a run or checkpoint into JSONL, Parquet or a ``datasets`` folder.

    Written in resumable shards: the same call after an interrupt (Ctrl-C, kill -9) finishes the
    run with exactly the texts of an uninterrupted one. Each record: ``{"id", "text", "label":
    "generated", "model", "recipe", "checkpoint_sha256", "sampling"}``; a label-conditional model adds
    ``class_label`` and ``class_name``, chosen by ``label`` or the ``labels`` mix (docs/conditional.md). See
    :func:`textgan.generation.generate_texts` for every argument.

    Returns:
        A :class:`textgan.generation.GenerationResult` (output path, counts, dropped texts, speed).
    """
    from .generation import SamplingSettings, generate_texts

    sampling = SamplingSettings(temperature=temperature, top_k=top_k, top_p=top_p, min_len=min_len,
                                max_len=max_len, seed=seed, ban_unk=ban_unk)
    return generate_texts(checkpoint, num, out, sampling=sampling, format=format, shard_size=shard_size,
                          batch_size=batch_size, drop_duplicates=drop_duplicates,
                          drop_train_copies=drop_train_copies, train=train, device=device, progress=progress,
                          fixed_shards=fixed_shards, label=label, labels=labels)


@dataclass
class EmbedReport:
    """What :func:`embed_to_file` wrote: files, document and empty-document counts."""

    files: list[Path]
    num_documents: int
    num_empty: int
    dim: int


def embed(model: str | Path, docs, *, batch_size: int = 4096, device: str = "auto", progress: bool = False,
          column: str = "embedding"):
    """Embed documents with a trained ADM (the discriminator's 50-unit hidden layer).

    Args:
        model: ADM run folder or checkpoint folder.
        docs: a list of texts, or a ``datasets.Dataset`` with a ``text`` column.
        batch_size: documents per batch.
        device: "auto", "cpu" or "cuda".
        progress: show a progress bar.
        column: name of the column added to a Dataset.

    Returns:
        For texts, an (N, H) float32 tensor (deterministic: the model runs in eval mode, with no
        masking noise); for a Dataset, a copy with ``column`` (list of H floats) added. A text
        without any vocabulary word gets the model's vector of the empty bag of words,
        ``leaky_relu(b_enc)``.
    """
    from .embedding import embed_texts, load_document_model
    from .device import resolve_device

    loaded = load_document_model(model, resolve_device(device))
    if hasattr(docs, "column_names"):
        if "text" not in docs.column_names:
            raise TextganError(f"the dataset has no 'text' column (columns: {docs.column_names}): rename the text column to 'text'")
        vectors = embed_texts(loaded, docs["text"], batch_size=batch_size, progress=progress).vectors
        return docs.add_column(column, vectors.tolist())
    if isinstance(docs, str):
        raise TextganError("embed() takes a list of texts, not one string: wrap it in a list")
    return embed_texts(loaded, list(docs), batch_size=batch_size, progress=progress).vectors


def embed_to_file(model: str | Path, input: str | Path, out: str | Path, *, split: str = "test",
                  text_column: str | None = None, batch_size: int = 4096, device: str = "auto",
                  progress: bool = False, format: str | None = None, shard_size: int = 50_000) -> EmbedReport:
    """Embed a corpus split or a user file and write one vector per document (see ``textgan embed``).

    The format follows ``out``'s extension: ``.npy`` (+ ``.ids.txt``), ``.parquet`` or ``.jsonl``, or
    ``format="hf"`` for a ``datasets`` folder; every format also writes its meta file
    (``<stem>.meta.json``, or ``textgan_meta.json`` inside the folder) with the document and
    empty-document counts. Ids are the source's ``id`` field, else, for ``.txt`` / ``.jsonl`` input,
    the 0-based line number (blank lines get no vector but keep their number), and for other
    sources the position among the non-blank texts. ``.txt`` and ``.jsonl`` inputs are read line by line and embedded in shards of
    ``shard_size`` documents (constant memory, resumable, split over torchrun ranks:
    :func:`textgan.embedding.embed_stream`); standard output gets JSONL batch by batch.
    """
    from .data.corpus import iter_corpus
    from .device import resolve_device
    from .embedding import check_embedding_out, embed_stream, embed_texts, load_document_model
    from .io import is_stdout

    if format not in (None, "npy", "parquet", "jsonl", "hf"):
        raise TextganError(f"unknown --format {format!r}: use npy, parquet, jsonl or hf")
    fmt = format or ("jsonl" if is_stdout(out) else Path(out).suffix.lower().lstrip("."))
    check_embedding_out(out, fmt)  # before the work
    if batch_size < 1:
        raise TextganError(f"--batch-size must be positive, got {batch_size}: e.g. --batch-size 4096")
    if shard_size < 1:
        raise TextganError(f"--shard-size must be positive, got {shard_size}: e.g. --shard-size 50000")
    loaded = load_document_model(model, resolve_device(device))
    items = iter_corpus(input, split, text_column=text_column)
    meta = {"model": str(loaded.path), "kind": loaded.kind, "checkpoint_sha256": loaded.sha256, "dim": loaded.dim,
            "input": str(input), "split": split, "text_column": text_column,
            "empty_vector": "documents without any vocabulary word get the model's vector of the empty bag of "
                            "words, leaky_relu(b_enc), and empty=true"}
    if is_stdout(out):  # JSONL batch by batch, nothing on disk
        import itertools
        import json
        import sys

        count = empty = 0
        while batch := list(itertools.islice(items, batch_size)):
            emb = embed_texts(loaded, [t for _, t in batch], batch_size=batch_size)
            for (i, _), vec, e in zip(batch, emb.vectors.float().tolist(), emb.empty.tolist()):
                sys.stdout.write(json.dumps({"id": i, "embedding": vec, "empty": e}) + "\n")
            count, empty = count + len(batch), empty + emb.num_empty
        sys.stdout.flush()
        if not count:
            raise TextganError(f"{str(input)!r} has no non-blank text to embed (the input is empty): pass a file or "
                               "corpus split with texts")
        return EmbedReport([Path(out)], count, empty, loaded.dim)
    files, count, empty = embed_stream(loaded, items, out, fmt, meta, shard_size=shard_size, batch_size=batch_size,
                                       progress=progress)
    return EmbedReport(files, count, empty, loaded.dim)


def list_recipes(root: Path | None = None) -> list[tuple[str, str]]:
    """Every shipped recipe (``recipes/**/*.yaml``) as (path relative to recipes/, summary).

    The summary is the first sentence of the recipe's header comment, its wrapped lines joined
    (see :func:`textgan.resources.recipe_summary`), never cut mid-phrase.
    """
    root = RECIPES_DIR if root is None else Path(root)
    return [(path.relative_to(root).as_posix(), recipe_summary(path.read_text(encoding="utf-8")))
            for path in sorted(root.rglob("*.yaml"))]


def find_recipe(name: str | Path) -> Path:
    """A recipe path as given, or a shipped recipe by its name (``mle/synthetic_oracle``).

    A shipped recipe is also found as ``recipes/<name>`` from any working directory (the
    installed recipes live inside the package).
    """
    path = Path(name)
    if path.is_file():
        return path
    shorts = [str(name)]
    if path.parts[:1] == ("recipes",) and len(path.parts) > 1:
        shorts.append(Path(*path.parts[1:]).as_posix())
    for short in shorts:
        for cand in (RECIPES_DIR / short, RECIPES_DIR / f"{short}.yaml"):
            if cand.is_file():
                return cand
    import difflib

    names = [p for p, _ in list_recipes()]
    close = difflib.get_close_matches(str(name), names, n=1)
    hint = f" (did you mean recipes/{close[0]}?)" if close else ""
    raise TextganError(f"recipe {str(name)!r} not found{hint}: pass a YAML path or a name from `textgan recipes`")


from .data.texts import load_texts  # noqa: E402  (re-exported: textgan.api.load_texts)


def evaluate(samples: str | Path, references: str | Path | None = None, train: str | Path | None = None,
             metrics: tuple[str, ...] = ("bleu", "self_bleu", "distinct", "novelty", "length"),
             orders: tuple[int, ...] = (2, 3, 4, 5), tokenize: str = "whitespace",
             out: str | Path | None = None, *, smoothing: str = "method1", self_bleu_first: int | None = None,
             bleu_first_references: int | None = None, blank_lines: str = "drop", lm: dict | None = None,
             features: dict | None = None) -> dict:
    """Score a file of generated texts (``.txt`` lines or ``textgan generate`` JSONL).

    ``smoothing``, ``self_bleu_first``, ``bleu_first_references``, ``blank_lines`` (``"drop"``,
    the default, or ``"keep"``: Texygen's empty sentences, ``.txt`` samples only), ``lm`` and
    ``features`` are passed to ``textgan.train.evaluation.evaluate_texts`` (docs/evaluation.md).
    ``metrics=("all",)`` computes every metric whose inputs are given.

    Args:
        samples: the generated texts.
        references: BLEU references: a file or corpus (``coco_captions`` means its test split).
        train: training texts for novelty: a file or corpus (its train split).
        metrics: any of bleu, self_bleu, distinct, novelty, length (metrics whose input is
            missing are skipped).
        orders: n-gram orders.
        tokenize: "whitespace" or "nltk".
        out: write the result as JSON here (atomically).

    Returns:
        The metrics as a flat dict.
    """
    from .io import check_output, is_stdout, write_json
    from .train.evaluation import evaluate_texts

    if out is not None and not is_stdout(out):
        check_output(out)  # before the work: a symbolic link, device, pipe or folder is refused
    if not orders or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in orders):
        raise TextganError(f"n-gram orders must be whole numbers of 1 or more, got {orders}: e.g. --orders 2,3,4,5")
    metrics = tuple(m.replace("-", "_") for m in metrics)
    if references is None:
        metrics = tuple(m for m in metrics if m not in ("bleu", "fbleu", "ms_jaccard", "reverse_lm_score", "frechet",
                                                         "mauve"))
    if train is None:
        metrics = tuple(m for m in metrics if m not in ("novelty", "lm_score"))
    if features and features.get("model"):  # one of textgan's trained models gives the features
        from .embedding import model_features

        if features.get("encoder"):
            raise TextganError("pass either --encoder DIR or --features RUN for the feature metrics, not both")
        fn, name = model_features(features["model"], device=features.get("device", "cpu"))
        features = {"feature_fn": fn, "feature_name": name}
    if blank_lines == "keep" and str(samples).endswith(".txt") and Path(samples).is_file():
        # Texygen reads every line (file.readlines()), blank ones becoming empty sentences.
        sample_texts = Path(samples).read_text(encoding="utf-8").splitlines()
    else:
        sample_texts = load_texts(samples)
    result = evaluate_texts(
        sample_texts,
        load_texts(references, "test") if references is not None else None,
        load_texts(train, "train") if train is not None else None,
        metrics=metrics, orders=orders, tokenize=tokenize, smoothing=smoothing, self_bleu_first=self_bleu_first,
        bleu_first_references=bleu_first_references, blank_lines=blank_lines, lm=lm, features=features,
    )
    result = {"samples": str(samples), "references": None if references is None else str(references),
              "train": None if train is None else str(train), "tokenize": tokenize, **result}
    if out is not None:
        write_json(out, result)
    return result


def evaluate_runs(runs: list[str | Path], temperatures: tuple[float, ...], out_dir: str | Path,
                  num_samples: int = 2000, order: int = 4, seed: int = 0, metrics: tuple[str, ...] | None = None,
                  orders: tuple[int, ...] = (2, 3, 4, 5), lm: dict | None = None, features: dict | None = None,
                  mle_baseline: bool = True, quality: str | None = None,
                  diversity: str | None = None) -> tuple[list[dict], Path, dict]:
    """Quality-diversity sweep over temperatures for one or more runs (Caccia et al. 2018).

    Each run's generator, and its MLE checkpoint as a baseline curve (``mle_baseline``), is
    sampled at every temperature and scored (see ``textgan.train.evaluation.quality_diversity``);
    every curve with a baseline is then compared with it at equal diversity
    (``summarize_quality_diversity``).

    Args:
        runs: run folders.
        temperatures: sampling temperatures (positive).
        out_dir: output folder.
        num_samples: samples per point.
        order: BLEU order of the default text axes (must be one of ``orders``).
        seed: seed of the samples (the same at every temperature and for every curve).
        metrics: sweep metric names (``SWEEP_METRICS`` or "all"); None: bleu, self_bleu and
            nll_test on text, nll_oracle and nll_test on the synthetic oracle.
        orders: n-gram orders of the text metrics.
        lm, features: options of the LM scores and feature metrics (as ``evaluate_texts``).
        mle_baseline: sweep ``checkpoints/mle`` of each run as its baseline curve.
        quality, diversity: the summary's and plot's columns (default: ``bleu{order}`` /
            ``self_bleu{order}`` on text, ``nll_oracle`` / ``nll_test`` on the oracle).

    Writes ``quality_diversity.json`` (the rows, each text row with its metrics' ``protocol``),
    ``quality_diversity.tsv`` (the rows, flat: no protocol), ``quality_diversity.png``,
    ``quality_diversity_summary.json`` and ``quality_diversity_summary.md`` in ``out_dir``.

    Returns:
        ``(rows, png_path, summary)``.
    """
    from .io import atomic_open, write_json
    from .train.evaluation import (default_quality_diversity_keys, format_quality_diversity_summary, metric_direction,
                                   plot_quality_diversity, quality_diversity, summarize_quality_diversity)

    from .io import check_output, is_stdout

    if not temperatures or any(t <= 0 for t in temperatures):
        raise TextganError(f"--temperatures must be positive numbers, got {temperatures}")
    if order not in orders:
        raise TextganError(f"--plot-order {order} is not among --orders {','.join(map(str, orders))}: "
                           f"add it to --orders or pick one of them")
    for key in (quality, diversity):
        if key is not None:
            metric_direction(key)  # an unknown column fails before the sweep, not after it
    if is_stdout(out_dir):
        raise TextganError("with --run, --out is a folder (quality_diversity.json/.tsv/.png): pass a folder name")
    check_output(out_dir, folder=True, own=("quality_diversity.json", "run.json"))
    out_dir = Path(out_dir)
    rows = quality_diversity(runs, tuple(temperatures), num_samples=num_samples, seed=seed, orders=tuple(orders),
                             metrics=metrics, lm=lm, features=features, mle_baseline=mle_baseline)
    default_q, default_d = default_quality_diversity_keys(rows, order)
    quality, diversity = quality or default_q, diversity or default_d
    summary = summarize_quality_diversity(rows, quality, diversity)
    write_json(out_dir / "quality_diversity.json", rows)
    keys = list(dict.fromkeys(k for r in rows for k, v in r.items() if not isinstance(v, dict)))
    with atomic_open(out_dir / "quality_diversity.tsv") as f:
        f.write("\t".join(keys) + "\n")
        for r in rows:
            f.write("\t".join("" if r.get(k) is None else str(r[k]) for k in keys) + "\n")
    write_json(out_dir / "quality_diversity_summary.json", summary)
    with atomic_open(out_dir / "quality_diversity_summary.md") as f:
        f.write(format_quality_diversity_summary(summary))
    png = plot_quality_diversity(rows, out_dir / "quality_diversity.png", order=order, quality=quality,
                                 diversity=diversity)
    return rows, png, summary
