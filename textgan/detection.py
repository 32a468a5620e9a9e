"""Real-versus-generated detection datasets, a baseline detector's report, and the fake-news pipeline.

A detection dataset folder (``textgan corpus detection``) holds::

    dataset_dict.json, train/, validation/, test/    a datasets.DatasetDict (load_from_disk)
    train.jsonl, validation.jsonl, test.jsonl        the same records as JSONL
    detection.json                                   sources, counts and settings (machine-readable)
    README.md                                        the dataset card
    report.json, report.md                           written by detectability_report

Records: ``{"id", "text", "label": 0 real / 1 generated, "label_name", "source"}``.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from .errors import TextganError
from .io import atomic_open, replace_dir, write_json

log = logging.getLogger(__name__)

LABEL_NAMES: tuple[str, ...] = ("real", "generated")
SPLITS: tuple[str, ...] = ("train", "validation", "test")
DETECTION_FORMAT = "textgan.detection/1"


def _normalize(text: str) -> str:
    """Texts are compared after collapsing whitespace ("a  b\\n" equals "a b")."""
    return " ".join(text.split())


def _truncate(text: str, max_tokens: int | None) -> str:
    if max_tokens is None:
        return text
    tokens = text.split()
    return " ".join(tokens[:max_tokens]) if len(tokens) > max_tokens else text


# --------------------------------------------------------------------------- sources


def load_real_texts(real: str | Path, labels: Sequence[str] | None = None,
                    text_column: str | None = None) -> tuple[list[str], dict]:
    """Texts of the real part: a named corpus (``NAME`` = every split present locally,
    ``NAME:SPLIT`` = one split) or a user file / folder.

    Args:
        real: the source.
        labels: keep only rows whose ``label`` (as a string) is one of these (e.g. ``["1"]`` for
            the credible articles of ``fake_news/fa_kes``).
        text_column: the text column of a user file.

    Returns:
        The texts and a description for the card: spec, corpus, splits, title, license, source.
    """
    from .data.corpus import _REGISTRY, load_corpus, split_status

    spec = str(real)
    name, splits = spec, None
    if ":" in spec and spec.rsplit(":", 1)[0] in _REGISTRY:
        name, split = spec.rsplit(":", 1)
        splits = [split]
    info: dict[str, Any] = {"spec": spec, "corpus": None, "splits": None, "title": None,
                            "license": "unknown (a user file: state its license here)", "source": spec,
                            "labels": None if labels is None else list(labels)}
    if name in _REGISTRY:
        card = _REGISTRY[name]
        if splits is None:
            status = split_status(card)
            splits = [s for s, files in status.items() if files and all(p is not None for p in files.values())]
            if not splits:
                raise TextganError(f"no split of corpus {name!r} is present locally: set TEXTGAN_CORPORA or see `textgan corpus info {name}`")
        info.update(corpus=name, splits=splits, title=card.title, license=card.license, source=card.source)
        datasets = [load_corpus(name, s, text_column=text_column) for s in splits]
    else:
        datasets = [load_corpus(spec, "train", text_column=text_column)]
    texts: list[str] = []
    for ds in datasets:
        if labels is None:
            texts.extend(ds["text"])
            continue
        if "label" not in ds.column_names:
            raise TextganError(f"real source {spec!r} has no label column, so --real-label cannot select rows: drop --real-label")
        wanted = {str(x) for x in labels}
        texts.extend(t for t, lab in zip(ds["text"], ds["label"]) if str(lab) in wanted)
    if not texts:
        raise TextganError(f"real source {spec!r} has no text with label in {list(labels or [])}: check --real-label")
    return texts, info


def describe_generated(path: Path, records: list[dict]) -> dict:
    """What the card says about one generated file: its generator, checkpoint and sampling settings."""

    def distinct(key: str) -> list:
        seen = []
        for r in records:
            v = r.get(key)
            if v is not None and v not in seen:
                seen.append(v)
        return seen

    return {"path": str(path), "num_records": len(records), "model": distinct("model"), "recipe": distinct("recipe"),
            "checkpoint_sha256": distinct("checkpoint_sha256"), "sampling": distinct("sampling")}


# --------------------------------------------------------------------------- dataset


@dataclass
class DetectionDataset:
    """What :func:`build_detection_dataset` wrote.

    Attributes:
        path: the dataset folder.
        counts: split -> {"real": n, "generated": n} (equal within each split).
        removed: texts left out and why (duplicates, generated texts identical to a real one,
            texts beyond the balanced size).
        assignment: split -> generated sources used in it.
    """

    path: Path
    counts: dict[str, dict[str, int]]
    removed: dict[str, int]
    assignment: dict[str, list[str]]


def _fraction_sizes(n: int, validation_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    n_test = round(n * test_fraction)
    n_val = round(n * validation_fraction)
    return n - n_val - n_test, n_val, n_test


def build_detection_dataset(real: str | Path, generated: Sequence[str | Path], out: str | Path, *,
                            real_labels: Sequence[str] | None = None, real_max_tokens: int | None = None,
                            text_column: str | None = None, mix_runs: bool = False,
                            validation_fraction: float = 0.1, test_fraction: float = 0.1,
                            max_per_class: int | None = None, seed: int = 0) -> DetectionDataset:
    """Build a balanced real-versus-generated dataset with train / validation / test splits.

    Construction: real texts are cut to ``real_max_tokens`` whitespace tokens (so they match
    the generator's length budget) and de-duplicated; generated texts are de-duplicated across
    all runs and any generated text identical to a real text (after whitespace normalisation)
    is removed. Generated texts are split by source run unless ``mix_runs``: with one run its
    texts are split by the fractions; with two, the first gives train + validation and the
    second test; with three or more, the last is test, the one before validation, the rest
    train. Each split then gets as many real texts as generated ones (both are subsampled
    proportionally when the real texts are fewer).

    Args:
        real: real texts: ``NAME``, ``NAME:SPLIT`` or a file (see :func:`load_real_texts`).
        generated: one file per generation run (``textgan generate`` output).
        out: dataset folder (replaced if it exists).
        real_labels: keep only real rows with these labels.
        real_max_tokens: cut real texts to this many whitespace tokens (None: keep whole).
        text_column: text column of a real user file.
        mix_runs: pool every run's texts before splitting.
        validation_fraction: share of texts in validation.
        test_fraction: share of texts in test.
        max_per_class: cap on texts per class, over all splits.
        seed: shuffling seed.

    Returns:
        A :class:`DetectionDataset`.

    Raises:
        TextganError: a missing generated file, no generated text left, or a split without text.
    """
    from .generation import read_generated

    if not generated:
        raise TextganError("no generated texts given: pass --generated PATH (the output of `textgan generate`)")
    if not (0 <= validation_fraction < 1 and 0 < test_fraction < 1 and validation_fraction + test_fraction < 1):
        raise TextganError(f"validation and test fractions ({validation_fraction}, {test_fraction}) must be in [0, 1) "
                           "and sum below 1: e.g. 0.1 and 0.1")
    gen_paths = [Path(p) for p in generated]
    gen_records = [read_generated(p) for p in gen_paths]  # checks every file before any work
    rng = random.Random(seed)
    removed = dict.fromkeys(("duplicate_real", "duplicate_generated", "generated_identical_to_real",
                             "real_unused", "generated_unused"), 0)

    real_texts, real_info = load_real_texts(real, real_labels, text_column)
    real_info["max_tokens"] = real_max_tokens
    real_norm: dict[str, str] = {}
    for t in real_texts:
        t = _truncate(t, real_max_tokens)
        key = _normalize(t)
        if key in real_norm:
            removed["duplicate_real"] += 1
        else:
            real_norm[key] = t
    real_pool = list(real_norm.values())
    rng.shuffle(real_pool)

    seen: set[str] = set()
    runs: list[list[str]] = []
    for records in gen_records:
        kept = []
        for r in records:
            key = _normalize(r["text"])
            if key in real_norm:
                removed["generated_identical_to_real"] += 1
            elif key in seen:
                removed["duplicate_generated"] += 1
            else:
                seen.add(key)
                kept.append(r["text"])
        rng.shuffle(kept)
        runs.append(kept)
    names = [str(p) for p in gen_paths]

    # Generated texts per split, with the run each came from.
    by_split: dict[str, list[tuple[str, str]]] = {s: [] for s in SPLITS}
    assignment: dict[str, list[str]] = {s: [] for s in SPLITS}
    if mix_runs or len(runs) == 1:
        pool = [(t, names[i]) for i, run in enumerate(runs) for t in run]
        rng.shuffle(pool)
        n_train, n_val, _ = _fraction_sizes(len(pool), validation_fraction, test_fraction)
        parts = {"train": pool[:n_train], "validation": pool[n_train:n_train + n_val], "test": pool[n_train + n_val:]}
        for s in SPLITS:
            by_split[s] = parts[s]
            assignment[s] = sorted({src for _, src in parts[s]})
    else:
        if len(runs) == 2:
            first = [(t, names[0]) for t in runs[0]]
            share = validation_fraction / (1 - test_fraction)
            n_val = round(len(first) * share)
            by_split["train"], by_split["validation"] = first[n_val:], first[:n_val]
            by_split["test"] = [(t, names[1]) for t in runs[1]]
            assignment = {"train": [names[0]], "validation": [names[0]] if n_val else [], "test": [names[1]]}
        else:
            groups = {"train": list(range(len(runs) - 2)), "validation": [len(runs) - 2], "test": [len(runs) - 1]}
            for s, idx in groups.items():
                by_split[s] = [(t, names[i]) for i in idx for t in runs[i]]
                assignment[s] = [names[i] for i in idx]

    total_gen = sum(len(v) for v in by_split.values())
    if total_gen == 0:
        raise TextganError("no generated text is left after removing duplicates and copies of real texts: generate more, or more diverse, texts")
    budget = min(len(real_pool), total_gen, max_per_class or total_gen)
    sizes = {s: len(by_split[s]) * budget // total_gen for s in SPLITS}
    for s in SPLITS:
        if sizes[s] == 0 and (s != "validation" or validation_fraction > 0):
            raise TextganError(f"the {s} split would hold no text ({len(real_pool)} real, {total_gen} generated texts "
                               f"usable; per split {dict((k, len(v)) for k, v in by_split.items())}): pass more texts "
                               "or change the fractions")
    removed["generated_unused"] = total_gen - sum(sizes.values())
    removed["real_unused"] = len(real_pool) - sum(sizes.values())

    real_spec = real_info["corpus"] or str(real)
    splits: dict[str, list[dict]] = {}
    offset = 0
    for s in SPLITS:
        n = sizes[s]
        rows = [{"text": t, "label": 1, "label_name": "generated", "source": src} for t, src in by_split[s][:n]]
        rows += [{"text": t, "label": 0, "label_name": "real", "source": real_spec} for t in real_pool[offset:offset + n]]
        offset += n
        rng.shuffle(rows)
        splits[s] = [{"id": f"{s}-{i}", **r} for i, r in enumerate(rows)]
    counts = {s: {"real": sizes[s], "generated": sizes[s]} for s in SPLITS}

    meta = {"format": DETECTION_FORMAT, "real": {**real_info, "num_texts": len(real_texts)},
            "generated": [describe_generated(p, recs) for p, recs in zip(gen_paths, gen_records)],
            "counts": counts, "removed": removed, "assignment": assignment,
            "settings": {"mix_runs": mix_runs, "validation_fraction": validation_fraction,
                         "test_fraction": test_fraction, "max_per_class": max_per_class, "seed": seed,
                         "real_labels": real_info["labels"], "real_max_tokens": real_max_tokens},
            "labels": list(LABEL_NAMES)}
    out = Path(out)
    _write_dataset_folder(out, splits, meta)
    return DetectionDataset(out, counts, removed, assignment)


def _write_dataset_folder(out: Path, splits: dict[str, list[dict]], meta: dict) -> None:
    """DatasetDict + JSONL + detection.json + README.md, built in a temporary folder, then renamed."""
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    from .generation import quiet_datasets

    features = Features({"id": Value("string"), "text": Value("string"), "label": ClassLabel(names=list(LABEL_NAMES)),
                         "label_name": Value("string"), "source": Value("string")})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        dd = DatasetDict({s: Dataset.from_list(rows, features=features) for s, rows in splits.items()})
        with quiet_datasets():
            dd.save_to_disk(str(tmp))
        for s, rows in splits.items():
            with atomic_open(tmp / f"{s}.jsonl") as f:
                for r in rows:
                    f.write(json.dumps(r, ensure_ascii=False) + "\n")
        write_json(tmp / "detection.json", meta)
        with atomic_open(tmp / "README.md") as f:
            f.write(dataset_card(meta))
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "n>1M"


def dataset_card(meta: dict) -> str:
    """The dataset card (README.md) of a detection dataset, from its ``detection.json``."""
    real, counts, removed = meta["real"], meta["counts"], meta["removed"]
    total = sum(c["real"] + c["generated"] for c in counts.values())
    lines = ["---", "task_categories:", "- text-classification", "language:", "- en",
             f"size_categories:\n- {_size_category(total)}", "tags:", "- machine-generated-text-detection",
             "- fake-news", "- textgan", "---", "",
             "# Real-versus-generated text detection dataset", "",
             "Built by `textgan corpus detection`. Label 0 = real (human-written) text, label 1 = text "
             "generated by the model below. Each split is balanced.", "",
             "## Counts", "", "| split | real | generated | total |", "|---|---:|---:|---:|"]
    for s, c in counts.items():
        lines.append(f"| {s} | {c['real']} | {c['generated']} | {c['real'] + c['generated']} |")
    lines += ["", "## Real part", "",
              f"- Source: `{real['spec']}`" + (f" ({real['title']})" if real.get("title") else ""),
              f"- Corpus splits used: {', '.join(real['splits']) if real.get('splits') else 'the whole file'}",
              f"- Canonical source: {real['source']}",
              f"- **License**: {real['license']}",
              f"- Label filter: {real['labels'] if real.get('labels') else 'none (every row)'}",
              f"- Cut to the first {real['max_tokens']} whitespace tokens" if real.get("max_tokens") else "- Texts kept whole",
              f"- Texts read: {real['num_texts']}", "", "## Generated part", ""]
    for g in meta["generated"]:
        sampling = "; ".join(", ".join(f"{k}={v}" for k, v in s.items()) for s in g["sampling"]) or "unknown"
        lines += [f"- `{g['path']}`: {g['num_records']} records; model {', '.join(g['model']) or 'unknown'}; "
                  f"recipe {', '.join(str(r) for r in g['recipe']) or 'unknown'}; checkpoint sha256 "
                  f"{', '.join(c[:16] for c in g['checkpoint_sha256']) or 'unknown'}; sampling {sampling}"]
    assignment = meta["assignment"]
    s = meta["settings"]
    lines += ["", "## Construction", "",
              f"- Split by source run: {'no (--mix-runs: runs pooled)' if s['mix_runs'] else 'yes'}; "
              + "; ".join(f"{k}: {', '.join(v) or '-'}" for k, v in assignment.items()),
              f"- Fractions: validation {s['validation_fraction']}, test {s['test_fraction']}; seed {s['seed']}"
              + (f"; at most {s['max_per_class']} texts per class" if s.get("max_per_class") else ""),
              "- Texts are compared after collapsing whitespace. Removed: "
              + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in removed.items()),
              "- No generated text is identical to a real text of any split.", "",
              "## Files", "",
              "`load_from_disk(folder)` gives the DatasetDict; `train.jsonl`, `validation.jsonl` and `test.jsonl` "
              "hold the same records; `detection.json` holds these facts; `report.md` / `report.json` hold the "
              "baseline detector's results when `--report` was given.", "",
              "## Licenses", "",
              f"The real texts keep their source's terms: {real['license']} The generated texts are model output "
              "trained on that data; check the terms of the generator's training corpus before redistributing.", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- report


def _load_split(path: Path, split: str) -> list[dict]:
    file = path / f"{split}.jsonl"
    if not file.is_file():
        raise TextganError(f"{str(path)!r} has no {split}.jsonl: pass a folder written by `textgan corpus detection`")
    with open(file, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


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
    from tqdm.auto import tqdm

    from .models.cnn_discriminator import CNNDiscriminator
    from .train.loop import adam

    device = torch.device(device)
    torch.manual_seed(seed)
    model = CNNDiscriminator(vocab_size, embed_dim, filter_sizes, num_filters, dropout=dropout, l2_reg=l2_reg,
                             pad_id=pad_id, compute_dtype=compute_dtype).to(device)
    optimizer = adam(model.parameters(), lr=lr)
    shuffle = torch.Generator().manual_seed(seed + 1)
    history, best, best_acc = [], None, -1.0
    for epoch in range(1, epochs + 1):
        model.train()
        start = time.perf_counter()
        order = torch.randperm(train_ids.size(0), generator=shuffle)
        total, count = 0.0, 0
        for i in tqdm(range(0, order.numel(), batch_size), desc=f"detector epoch {epoch}", disable=not progress,
                      leave=False, dynamic_ncols=True):
            idx = order[i:i + batch_size]
            tokens, target = train_ids[idx].to(device), (1 - train_labels[idx]).to(device)  # class 1 = real
            loss = model.loss(tokens, target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * idx.numel()
            count += idx.numel()
        record = {"epoch": epoch, "train_loss": total / max(count, 1), "seconds": round(time.perf_counter() - start, 2)}
        if val_ids.size(0):
            record["validation_accuracy"] = _classification(_predict(model, val_ids, 512, device), val_labels)["accuracy"]
        acc = record.get("validation_accuracy", float(epoch))
        if acc > best_acc:
            best_acc, best = acc, {k: v.detach().clone() for k, v in model.state_dict().items()}
        history.append(record)
        log.info("detector epoch %d: %s", epoch, record)
    if best is not None:
        model.load_state_dict(best)
    return model.eval(), history


def detectability_report(dataset: str | Path, *, embed_dim: int = 64,
                         filter_sizes: Sequence[int] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20),
                         num_filters: Sequence[int] = (100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160),
                         dropout: float = 0.25, l2_reg: float = 0.2, lr: float = 1e-4, batch_size: int = 64,
                         epochs: int = 3, max_len: int | None = None, tokenize: str = "whitespace",
                         compute_dtype: str = "float32", novelty_texts: Sequence[str] | None = None,
                         novelty_source: str | None = None, max_eval_samples: int = 2000, seed: int = 0,
                         device: str = "auto", progress: bool = False) -> dict:
    """Train a baseline detector on a detection dataset and describe how detectable the generated texts are.

    Detector: SeqGAN's CNN discriminator trained from scratch (see :func:`train_detector`) on
    ``tokenize`` tokens with a vocabulary built from the train split; accuracy, precision,
    recall and F1 (generated = positive class) on the test split. Text statistics of the
    generated test texts (at most ``max_eval_samples``, a seeded subsample): BLEU-2..5 against
    the real test texts, Self-BLEU-2..5, distinct-n, novelty against ``novelty_texts`` (default:
    the real train texts) and lengths; real test lengths are given for comparison.

    Writes ``report.json`` and ``report.md`` into the dataset folder.

    Args:
        dataset: a folder written by :func:`build_detection_dataset`.
        embed_dim, filter_sizes, num_filters, dropout, l2_reg, lr, batch_size, epochs,
            compute_dtype: the detector and its training.
        max_len: tokens per text given to the detector (None: the longest train text, at most 512).
        tokenize: "whitespace" or "nltk".
        novelty_texts: the generator's training texts for novelty (None: the real train texts).
        novelty_source: what ``novelty_texts`` are, for the report.
        max_eval_samples: generated / real test texts used for BLEU and Self-BLEU.
        seed: detector and subsampling seed.
        device: "auto", "cpu" or "cuda".
        progress: show progress bars.

    Returns:
        The report as a dict (also in ``report.json``).
    """
    from .data.encode import encode_texts
    from .data.tokenizers import build_tokenizer
    from .data.vocab import Vocab
    from .metrics.bleu import tokenize_texts
    from .train.evaluation import evaluate_texts
    from .train.loop import resolve_device

    path = Path(dataset)
    if not path.is_dir():
        raise TextganError(f"detection dataset {str(path)!r} not found: build it with `textgan corpus detection`")
    start = time.perf_counter()
    rows = {s: _load_split(path, s) for s in SPLITS}
    tokenizer = build_tokenizer(tokenize)
    train_tokens = tokenize_texts([r["text"] for r in rows["train"]], tokenize)
    vocab = Vocab.build(train_tokens, specials=True)
    if max_len is None:
        max_len = min(max(len(t) for t in train_tokens) + 1, 512)
    encoded, truncated = {}, {}
    for s in SPLITS:
        ids, n_trunc = encode_texts([r["text"] for r in rows[s]], tokenizer, vocab, max_len)
        encoded[s] = (ids, torch.tensor([r["label"] for r in rows[s]], dtype=torch.long))
        truncated[s] = n_trunc
    dev = resolve_device(device)
    model, history = train_detector(*encoded["train"], *encoded["validation"], len(vocab), vocab.pad_id,
                                    embed_dim=embed_dim, filter_sizes=filter_sizes, num_filters=num_filters,
                                    dropout=dropout, l2_reg=l2_reg, lr=lr, batch_size=batch_size, epochs=epochs,
                                    compute_dtype=compute_dtype, seed=seed, device=dev, progress=progress)
    test_ids, test_labels = encoded["test"]
    detector = _classification(_predict(model, test_ids, 512, dev), test_labels)
    train_seconds = sum(h["seconds"] for h in history)

    rng = random.Random(seed)
    gen_test = [r["text"] for r in rows["test"] if r["label"] == 1]
    real_test = [r["text"] for r in rows["test"] if r["label"] == 0]
    gen_eval = rng.sample(gen_test, min(len(gen_test), max_eval_samples))
    real_eval = rng.sample(real_test, min(len(real_test), max_eval_samples))
    if novelty_texts is None:
        novelty_texts = [r["text"] for r in rows["train"] if r["label"] == 0]
        novelty_source = "real texts of the train split"
    metrics = ("bleu", "self_bleu", "distinct", "novelty", "length") if len(gen_eval) >= 2 else ("bleu", "novelty", "length")
    text_stats = evaluate_texts(gen_eval, real_eval, list(novelty_texts), metrics=metrics, orders=(2, 3, 4, 5),
                                tokenize=tokenize)
    real_len = evaluate_texts(real_eval, metrics=("length",), tokenize=tokenize)
    meta = json.loads((path / "detection.json").read_text(encoding="utf-8")) if (path / "detection.json").is_file() else {}
    report = {
        "dataset": str(path),
        "counts": {s: {"real": sum(r["label"] == 0 for r in rows[s]), "generated": sum(r["label"] == 1 for r in rows[s])}
                   for s in SPLITS},
        "detector": {"architecture": "CNNDiscriminator (SeqGAN), trained from scratch", "tokenize": tokenize,
                     "vocab_size": len(vocab), "max_len": max_len, "truncated": truncated, "embed_dim": embed_dim,
                     "filter_sizes": list(filter_sizes), "num_filters": list(num_filters), "dropout": dropout,
                     "l2_reg": l2_reg, "lr": lr, "batch_size": batch_size, "epochs": epochs,
                     "compute_dtype": compute_dtype, "seed": seed, "device": dev.type, "history": history,
                     "train_seconds": round(train_seconds, 1)},
        "test": detector,
        "generated_text": {**text_stats, "novelty_reference": novelty_source or "given texts",
                           "num_novelty_reference": len(novelty_texts)},
        "real_text": {k: v for k, v in real_len.items()},
        "generator": meta.get("generated", []),
        "real_source": meta.get("real", {}),
        "seconds": round(time.perf_counter() - start, 1),
    }
    write_json(path / "report.json", report)
    with atomic_open(path / "report.md") as f:
        f.write(format_report(report))
    return report


def format_report(report: dict) -> str:
    """The report as one Markdown table (plus a short header)."""
    t, g, r = report["test"], report["generated_text"], report["real_text"]
    counts = report["counts"]
    rows = [("detector accuracy (test)", t["accuracy"]), ("detector F1, generated = positive (test)", t["f1"]),
            ("detector precision (test)", t["precision"]), ("detector recall (test)", t["recall"])]
    rows += [(f"BLEU-{n} of generated vs real test texts", g.get(f"bleu{n}")) for n in (2, 3, 4, 5)]
    rows += [(f"Self-BLEU-{n} of generated texts", g.get(f"self_bleu{n}")) for n in (2, 3, 4, 5)]
    rows += [("novelty: share of generated texts copied from the reference", g.get("copied"))]
    rows += [(f"novelty: share of novel {n}-grams", g.get(f"novel_{n}gram")) for n in (2, 3, 4)]
    rows += [("length of generated texts, mean (std) tokens", f"{g['len_mean']:.1f} ({g['len_std']:.1f})"),
             ("length of generated texts, min / median / max", f"{g['len_min']:.0f} / {g['len_median']:.0f} / {g['len_max']:.0f}"),
             ("length of real test texts, mean (std) tokens", f"{r['len_mean']:.1f} ({r['len_std']:.1f})")]
    det = report["detector"]
    lines = ["# Detectability report", "",
             f"Dataset `{report['dataset']}`: " + ", ".join(f"{s} {c['real']} real + {c['generated']} generated"
                                                           for s, c in counts.items()) + ".",
             f"Detector: {det['architecture']}, {det['tokenize']} tokens, vocabulary {det['vocab_size']} from the "
             f"train split, {det['epochs']} epochs (best validation epoch kept), {det['train_seconds']} s on {det['device']}.",
             f"Text statistics on {g['num_samples']} generated test texts; novelty against {g['novelty_reference']}.", "",
             "| measure | value |", "|---|---:|"]
    for name, value in rows:
        shown = "n/a" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value))
        lines.append(f"| {name} | {shown} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- pipeline


def run_pipeline(recipe: Any, run_path: str | Path, device: str = "auto", progress: bool = False) -> dict:
    """The stages after training when a recipe has a ``pipeline`` section: generate texts from the
    run's checkpoint, build the detection dataset, write the detectability report.

    Outputs go into the run folder: ``generated/generated.jsonl`` and ``detection/``.

    Args:
        recipe: the :class:`textgan.config.Recipe` (with ``pipeline`` set).
        run_path: the run folder holding ``checkpoints/``.
        device: where to sample and train the detector.
        progress: show progress bars.

    Returns:
        A summary for ``run.json``: generated count and speed, dataset counts, detector test
        accuracy and F1, wall time per stage.
    """
    from .data.prepare import first_available_split
    from .generation import SamplingSettings, generate_texts

    cfg, data = recipe.pipeline, recipe.data
    run_path = Path(run_path)
    timings = {}
    t0 = time.perf_counter()
    sampling = SamplingSettings(temperature=cfg.temperature, top_k=cfg.top_k, top_p=cfg.top_p, min_len=cfg.min_len,
                                seed=recipe.seed if cfg.seed is None else cfg.seed)
    gen = generate_texts(run_path, cfg.num_generate, run_path / "generated" / "generated.jsonl", sampling=sampling,
                         shard_size=cfg.shard_size, batch_size=cfg.batch_size, drop_duplicates=cfg.drop_duplicates,
                         drop_train_copies=cfg.drop_train_copies, device=device, progress=progress)
    timings["generate_s"] = round(time.perf_counter() - t0, 1)

    t0 = time.perf_counter()
    real = cfg.real or (f"{data.corpus}:{data.test_split}" if data.test_split else data.corpus)
    labels = cfg.real_labels if cfg.real_labels is not None else data.keep_labels
    max_tokens = cfg.real_max_tokens if cfg.real_max_tokens is not None else data.max_len - 1
    ds = build_detection_dataset(real, [gen.path], run_path / "detection", real_labels=labels,
                                 real_max_tokens=max_tokens, text_column=data.text_column,
                                 validation_fraction=cfg.validation_fraction, test_fraction=cfg.test_fraction,
                                 max_per_class=cfg.max_per_class, seed=recipe.seed)
    timings["dataset_s"] = round(time.perf_counter() - t0, 1)

    t0 = time.perf_counter()
    train_split, train_ds = first_available_split(data)
    train_texts = list(train_ds["text"])
    if data.keep_labels is not None and "label" in train_ds.column_names:
        wanted = {str(x) for x in data.keep_labels}
        train_texts = [t for t, lab in zip(train_texts, train_ds["label"]) if str(lab) in wanted]
    d = cfg.detector
    report = detectability_report(ds.path, embed_dim=d.embed_dim, filter_sizes=d.filter_sizes,
                                  num_filters=d.num_filters, dropout=d.dropout, l2_reg=d.l2_reg, lr=d.lr,
                                  batch_size=d.batch_size, epochs=d.epochs, max_len=d.max_len, tokenize=d.tokenize,
                                  compute_dtype=d.compute_dtype, novelty_texts=train_texts,
                                  novelty_source=f"the generator's training texts ({data.corpus}:{train_split})",
                                  max_eval_samples=d.max_eval_samples, seed=recipe.seed, device=device,
                                  progress=progress)
    timings["report_s"] = round(time.perf_counter() - t0, 1)
    return {"generated": {"path": str(gen.path), "num": gen.num, "drawn": gen.drawn, "dropped": gen.dropped,
                          "texts_per_second": round(gen.texts_per_second, 1)},
            "detection": {"path": str(ds.path), "counts": ds.counts},
            "detector_test": report["test"], "timings": timings}
