"""Timing of the Adversarial Document Model: training steps per second and embedding throughput."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence

import torch

from textgan.models.adm import embed_bow
from textgan.models.adm import AdversarialDocumentModel, DenoisingAutoencoder
from textgan.train.energy import train_energy_model

logger = logging.getLogger(__name__)

_DTYPES = {"float32": None, "bfloat16": torch.bfloat16}


def _sample_texts(n: int, seed: int) -> tuple[list[str], str]:
    """``n`` texts: 20 Newsgroups test messages (cycled) when the corpus is present, else synthetic."""
    try:
        from textgan.data.corpus import load_corpus

        texts = load_corpus("newsgroups20", "test")["text"]
        source = "newsgroups20 test messages (cycled)"
    except Exception:  # noqa: BLE001 - any missing corpus falls back to synthetic text
        import random

        rng = random.Random(seed)
        words = [f"w{i}" for i in range(5000)]
        texts = [" ".join(rng.choices(words, k=280)) + "." for _ in range(1000)]
        source = "synthetic 280-word texts"
    return [texts[i % len(texts)] for i in range(n)], source


def _time_training(model_factory, steps: int, batch_size: int, vocab_size: int, dtype: torch.dtype | None,
                   seed: int, device: torch.device) -> float:
    torch.manual_seed(seed)
    module = model_factory().to(device)
    discriminator = getattr(module, "discriminator", module)
    generator = getattr(module, "generator", None)
    docs = (torch.rand(5000, vocab_size, generator=torch.Generator().manual_seed(seed)) < 0.05).to(torch.uint8).to(device)
    kwargs = dict(batch_size=batch_size, lr=1e-4, betas=(0.5, 0.999), margin=vocab_size // 20, eval_every=10**9,
                  validate=lambda: 0.0, seed=seed, state_module=module, autocast_dtype=dtype)
    train_energy_model(discriminator, generator, docs, steps=min(20, steps), **kwargs)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    train_energy_model(discriminator, generator, docs, steps=steps - 1, **kwargs)  # runs `steps` updates
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - start)


def bench_adm(*, steps: int = 500, batch_size: int = 64, vocab_size: int = 2000, num_docs: int = 100_000,
              nltk_docs: int = 2000, compute_dtypes: Sequence[str] = ("float32", "bfloat16"),
              device: str = "cpu", seed: int = 0) -> dict:
    """Measure ADM training speed and embedding throughput on this machine.

    Args:
        steps: timed training steps per configuration (after a 20-step warm-up).
        batch_size: B (64, the paper's).
        vocab_size: V (2000, the paper's).
        num_docs: documents embedded (the target is 100,000 in under 60 s on 2 CPU cores).
        nltk_docs: documents tokenized with the slow reference tokenizer (its rate is extrapolated).
        compute_dtypes: training precisions to time ("float32", "bfloat16").
        device: "cpu" or "cuda".
        seed: random seed.

    Returns:
        ``train`` (steps/s per model and dtype), ``embed_bow`` (bag of words -> vectors),
        ``embed_text`` (texts -> vectors per tokenizer: docs/s and seconds for ``num_docs``),
        and the machine (threads, load average).
    """
    from textgan.data.bow import BowEncoder
    from textgan.data.corpus import corpus_file

    dev = torch.device(device)
    result: dict = {"device": str(dev), "threads": torch.get_num_threads(), "load_average": list(os.getloadavg()),
                    "batch_size": batch_size, "vocab_size": vocab_size, "steps": steps, "train": {}}
    for name in compute_dtypes:
        dtype = _DTYPES[name]
        result["train"][f"adm/{name}"] = _time_training(
            lambda: AdversarialDocumentModel(vocab_size), steps, batch_size, vocab_size, dtype, seed, dev)
        result["train"][f"dae/{name}"] = _time_training(
            lambda: DenoisingAutoencoder(vocab_size), steps, batch_size, vocab_size, dtype, seed, dev)

    torch.manual_seed(seed)
    model = DenoisingAutoencoder(vocab_size).to(dev).eval()
    docs = (torch.rand(num_docs, vocab_size, generator=torch.Generator().manual_seed(seed)) < 0.05).to(torch.uint8)
    embed_bow(model, docs[:4096])  # warm-up
    start = time.perf_counter()
    embed_bow(model, docs)
    seconds = time.perf_counter() - start
    result["embed_bow"] = {"docs": num_docs, "seconds": seconds, "docs_per_s": num_docs / seconds}
    del docs

    try:
        words = corpus_file("newsgroups20", "20newsgroups.vocab").read_text(encoding="utf-8").splitlines()
    except Exception:  # noqa: BLE001 - the corpus is optional for a benchmark
        words = [f"w{i}" for i in range(vocab_size)]
    texts, source = _sample_texts(num_docs, seed)
    result["texts"] = source
    result["embed_text"] = {}
    for tokenizer, n in (("words", num_docs), ("nltk", min(nltk_docs, num_docs))):
        encoder = BowEncoder(words[:vocab_size], tokenizer)
        encoder.counts(texts[:10])  # warm-up: imports and regex compilation
        start = time.perf_counter()
        for i in range(0, n, 4096):
            embed_bow(model, encoder.counts(texts[i:i + 4096]))
        seconds = time.perf_counter() - start
        rate = n / seconds
        result["embed_text"][tokenizer] = {"docs": n, "seconds": seconds, "docs_per_s": rate,
                                           f"seconds_for_{num_docs}": num_docs / rate}
    return result


def format_adm_bench(result: dict) -> str:
    """A plain-text report of :func:`bench_adm`'s result."""
    n = result["embed_bow"]["docs"]
    lines = [f"ADM benchmark on {result['device']} ({result['threads']} torch threads, load average "
             f"{' '.join(f'{x:.2f}' for x in result['load_average'])}); B={result['batch_size']}, V={result['vocab_size']}",
             "", "training (one step = discriminator update + generator update; DAE: one update)"]
    for key, rate in result["train"].items():
        lines.append(f"  {key:<16} {rate:8.1f} steps/s   150,000 steps in {150_000 / rate / 60:6.1f} min")
    e = result["embed_bow"]
    lines += ["", "embedding", f"  bag of words -> vectors   {e['docs_per_s']:12,.0f} docs/s   {n:,} docs in {e['seconds']:.2f} s"]
    for tok, r in result["embed_text"].items():
        note = "" if r["docs"] == n else f" (extrapolated from {r['docs']:,} docs)"
        lines.append(f"  text -> vectors ({tok:<5})   {r['docs_per_s']:12,.0f} docs/s   {n:,} docs in "
                     f"{r[f'seconds_for_{n}']:.1f} s{note}")
    lines.append(f"  texts: {result['texts']}")
    return "\n".join(lines)


# Runs textgan's CLI in a fresh process and prints that process's own peak resident memory (KiB) last.
_PEAK_OF_MAIN = ("import resource, sys\nfrom textgan.cli import main\nrc = main(sys.argv[1:])\n"
                 "print('peak_rss_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
                 "sys.exit(rc)")


def bench_embed_stream(sizes: Sequence[int] = (100_000, 1_000_000), *, shard_size: int = 50_000,
                       vocab_size: int = 2000, threads: int = 2, workdir: str | None = None, seed: int = 0) -> list[dict]:
    """``textgan embed`` end to end on JSONL files of ``sizes`` documents: docs/s and peak memory.

    Each size runs in its own process (``python -m textgan embed ... --out X.npy``) so its peak
    resident memory (``ru_maxrss`` of the child) is its own: with streamed input and shards the
    peak should not grow with the number of documents. The documents are 20 Newsgroups test
    messages, cycled (synthetic texts without the corpus); the model is an untrained DAE over the
    ADM's 2,000-word vocabulary (its speed is a trained ADM's: the same layers).

    Returns:
        One dict per size: ``docs``, ``seconds``, ``docs_per_s``, ``peak_rss_mb``, ``input_mb``.
    """
    import json
    import shutil
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from textgan.data.bow import BowEncoder
    from textgan.data.corpus import corpus_file
    from textgan.train.checkpoint import save_checkpoint

    try:
        words = corpus_file("newsgroups20", "20newsgroups.vocab").read_text(encoding="utf-8").splitlines()
    except Exception:  # noqa: BLE001 - the corpus is optional for a benchmark
        words = [f"w{i}" for i in range(vocab_size)]
    texts, source = _sample_texts(min(max(sizes), 20_000), seed)
    root = Path(tempfile.mkdtemp(prefix="textgan-bench-embed-", dir=workdir))
    rows = []
    try:
        torch.manual_seed(seed)
        model = DenoisingAutoencoder(min(vocab_size, len(words)))
        encoder = BowEncoder(words[:vocab_size], "words")
        ckpt = save_checkpoint(root / "model", model, "dae", encoder)
        for n in sizes:
            docs = root / f"docs{n}.jsonl"
            with open(docs, "w", encoding="utf-8") as f:
                for i in range(n):
                    f.write(json.dumps({"id": i, "text": texts[i % len(texts)]}) + "\n")
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", _PEAK_OF_MAIN, "embed", "--model", str(ckpt), "--input",
                                   str(docs), "--out", str(root / f"v{n}.npy"), "--shard-size", str(shard_size),
                                   "--threads", str(threads), "--device", "cpu", "--quiet"],
                                  capture_output=True, text=True)
            seconds = time.perf_counter() - start
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr[-2000:])
            peak_kb = int(proc.stderr.strip().splitlines()[-1].split()[-1])
            rows.append({"docs": n, "seconds": seconds, "docs_per_s": n / seconds,
                         "peak_rss_mb": peak_kb / 1024, "input_mb": docs.stat().st_size / 2**20,
                         "texts": source, "shard_size": shard_size, "threads": threads})
            docs.unlink()
            (root / f"v{n}.npy").unlink()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return rows


def format_embed_stream(rows: list[dict]) -> str:
    """The streaming bench as a table."""
    lines = [f"textgan embed, streamed JSONL input, shards of {rows[0]['shard_size']:,} ({rows[0]['threads']} threads; "
             f"{rows[0]['texts']})", f"  {'documents':>10} {'input MB':>9} {'seconds':>9} {'docs/s':>9} {'peak RSS MB':>12}"]
    for r in rows:
        lines.append(f"  {r['docs']:>10,} {r['input_mb']:>9.0f} {r['seconds']:>9.1f} {r['docs_per_s']:>9,.0f} "
                     f"{r['peak_rss_mb']:>12.0f}")
    return "\n".join(lines)
