"""Tiny runs of every recipe family, and their metrics as recorded before the move onto the engine.

The training engine (``textgan/engine``) replaced four loops (language model + policy gradient,
ADM, detector). Before the move, each family below was run with the old code at one thread and
its metrics were written to ``tests/train/golden/<case>.json``; ``test_engine_numbers.py`` checks
that today's code gives the same values. ``leakgan.json`` was re-recorded once since, on purpose:
the rollout copy is now refreshed after LeakGAN's interleaved MLE phase (issue 14, item 2).
Re-record only on purpose (a change that is meant to alter the numbers, said in the commit):

    python -m tests.train.engine_cases --record

Floating-point results depend on the CPU, not only on its vector unit: AVX-512 and AVX2 kernels
round differently, and so do two AVX-512 CPUs on which MKL takes different code paths (an AVX-512
machine with bf16/fp16 units gave NLL-test 8.52825 where the project's first AVX-512 machine gave
8.52835 before the first step, float32 throughout); a GAN's trajectory amplifies the last digit.
So the files are per CPU signature (:func:`cpu_signature`: the capability torch dispatches on and
the instruction-set extensions MKL and oneDNN choose kernels by), in ``golden/<signature>/``:
``AVX2`` was recorded on an AMD EPYC AVX2 machine (2026-12-01), the AVX-512 + bf16/fp16/VNNI one on
2026-12-02 with the same code (which matched the AVX2 files there). ``AVX512-avx512_bf16-avx512_vnni``
(an AMD EPYC with AVX-512 and bf16, no fp16) was recorded on 2026-12-02 and came out byte-identical
to the project's first machine's files (commit af788da, leakgan re-recorded since; the top-level
files before commit c3f69c9): the same kind of CPU, and the engine's numbers unchanged on it.
On a CPU with no files the test checks what does not depend on the CPU's rounding (the MLE phase's
teacher-forced values, within 2e-3 of another CPU's files: see test_engine_numbers.py) and says how
to record exact files; ``--record`` writes the files of the machine it runs on, and only on a
commit known to be good.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"

SEQGAN = ["mle.epochs=2", "data.num_train=256", "data.num_test=128", "eval.num_samples=128", "eval.every=1",
          "eval.every_adversarial=1", "discriminator.pretrain_rounds=2", "discriminator.pretrain_epochs=1",
          "discriminator.filter_sizes=[2,3]", "discriminator.num_filters=[4,4]", "adversarial.batches=3",
          "adversarial.d_rounds=1", "adversarial.d_epochs=1", "adversarial.num_rollouts=2",
          "adversarial.best_metric=nll_oracle", "threads=1", "device=cpu", "eval.save_samples=5",
          "adversarial.rollout_update_rate=0.8",  # pinned: recorded before the recipe took 0 (issue 14, item 3)
          "generator.nll_chunk_rows=0"]  # pinned: recorded before the fused MLE loss (same values up to rounding)
LEAKGAN = ["mle.epochs=2", "data.num_train=256", "data.num_test=128", "eval.num_samples=128", "eval.every=1",
           "eval.every_adversarial=1", "generator.embed_dim=8", "generator.hidden_dim=8",
           "generator.compute_dtype=float32", "discriminator.embed_dim=8", "discriminator.filter_sizes=[1,2,3]",
           "discriminator.num_filters=[4,4,4]", "discriminator.compute_dtype=float32",
           "discriminator.pretrain_rounds=2", "discriminator.pretrain_cycles=2", "discriminator.num_negatives=128",
           "adversarial.batches=3", "adversarial.num_rollouts=2", "adversarial.mle_every=2",
           "adversarial.mle_batches=2", "threads=1", "device=cpu", "eval.save_samples=5",
           "adversarial.cosine_reduction=per_position"]  # pinned: the form the numbers were recorded with
ADM = ["adm.vocab_file=null", "adm.vocab_size=30", "adm.tokenizer=words", "adm.steps=60", "adm.eval_every=20",
       "adm.hidden_dim=6", "adm.noise_dim=4", "adm.generator_dim=8", "adm.batch_size=8", "adm.embedding_map=pca",
       "adm.compute_dtype=bfloat16", "threads=1", "device=cpu"]  # pinned: `auto` would depend on the machine
PIPELINE = ["mle.epochs=2", "data.max_vocab=200", "data.max_len=12", "generator.embed_dim=8", "generator.hidden_dim=8",
            "eval.num_samples=40", "eval.every=1", "eval.metrics=[nll_test,bleu]", "pipeline.num_generate=120",
            "pipeline.shard_size=60", "pipeline.detector.embed_dim=8", "pipeline.detector.filter_sizes=[1,2]",
            "pipeline.detector.num_filters=[8,8]", "pipeline.detector.epochs=2", "pipeline.detector.batch_size=16",
            "pipeline.detector.max_eval_samples=40", "pipeline.detector.compute_dtype=bfloat16", "threads=1",
            "device=cpu", "eval.save_samples=5", "generator.nll_chunk_rows=0",
            # the dataset and detector of the recorded numbers (the recipe now matches lengths and trains 3 CNNs)
            "pipeline.match_length=false", "pipeline.detector.cnn_seeds=1"]  # pinned, as in SEQGAN

TOPICS = {0: "apple banana cherry grape melon fruit juice", 1: "car engine wheel road drive speed motor",
          2: "god church faith pray bible belief soul"}


def write_doc_corpus(folder: Path) -> Path:
    """A labelled three-topic corpus (train/test JSONL) for the ADM."""
    rng = random.Random(0)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", 60), ("test", 15)):
        with open(folder / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for i in range(n):
                words = rng.choices(TOPICS[i % 3].split(), k=6) + rng.choices(["people", "thing", "data"], k=3)
                f.write(json.dumps({"id": f"{split}{i}", "text": " ".join(words), "label": i % 3}) + "\n")
    return folder


def write_news_corpus(folder: Path) -> Path:
    """Short news-like sentences (train/test text files) for a language model and the fake-news pipeline."""
    rng = random.Random(1)
    who = ["the council", "the minister", "a spokesman", "the company", "police", "the court"]
    did = ["said", "announced", "denied", "confirmed", "reported"]
    what = ["a new plan", "the deal", "higher taxes", "the results", "a delay", "more jobs"]
    when = ["on monday", "last week", "this year", "in march", "today"]
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", 300), ("test", 80)):
        lines = [f"{rng.choice(who)} {rng.choice(did)} {rng.choice(what)} {rng.choice(when)} ." for _ in range(n)]
        (folder / f"{split}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def case_recipe(name: str, tmp: Path) -> tuple[Path, list[str]]:
    """The recipe file and overrides of a case."""
    if name == "seqgan":
        return ROOT / "recipes" / "seqgan" / "synthetic_oracle.yaml", SEQGAN
    if name == "leakgan":
        return ROOT / "recipes" / "leakgan" / "synthetic_oracle_cpu.yaml", LEAKGAN
    if name == "adm":
        return ROOT / "recipes" / "adm" / "newsgroups20.yaml", [f"data.corpus={write_doc_corpus(tmp / 'docs')}", *ADM]
    if name == "pipeline":
        corpus = write_news_corpus(tmp / "news")
        return (ROOT / "recipes" / "fake_news" / "emnlp_news_lstm_cpu.yaml",
                [f"data.corpus={corpus}", "data.train_split=train", f"pipeline.real={corpus / 'test.txt'}", *PIPELINE])
    raise KeyError(name)


CASES = ("seqgan", "leakgan", "adm", "pipeline")


EXTENSIONS = ("avx512_bf16", "avx512_fp16", "avx512_vnni", "avx_vnni", "amx_tile", "amx_bf16")
"""Instruction-set extensions (``/proc/cpuinfo`` flags) by which MKL and oneDNN pick their kernels."""


def cpu_signature() -> str:
    """This machine's numerics signature: the CPU capability torch dispatches on, plus the
    :data:`EXTENSIONS` its CPU has, joined by ``-`` (``AVX2``, ``AVX512-avx512_bf16-...``)."""
    import torch

    flags: set[str] = set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    return "-".join([torch.backends.cpu.get_cpu_capability(), *(f for f in EXTENSIONS if f in flags)])


def golden_file(case: str, signature: str | None = None) -> Path:
    """The golden file of ``case`` for a CPU signature (default: this machine's)."""
    return GOLDEN / (signature or cpu_signature()) / f"{case}.json"


def strip_time(records: list[dict]) -> list[dict]:
    """Metric records without their wall-clock ``time`` (the one value a rerun cannot repeat) and
    the protocol ``fingerprint`` (added after the golden files were recorded; tested on its own in
    tests/train/test_run_fingerprints.py)."""
    return [{k: v for k, v in r.items() if k not in ("time", "fingerprint")} for r in records]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def outcome(run: Path) -> dict:
    """Every number a case's run folder holds that the move must not change."""
    out = {"metrics": strip_time(read_jsonl(run / "metrics.jsonl"))}
    for sub in sorted((run / "baselines").glob("*")) if (run / "baselines").is_dir() else []:
        out[f"baselines/{sub.name}"] = strip_time(read_jsonl(sub / "metrics.jsonl"))
    if (run / "retrieval.json").is_file():
        out["retrieval"] = json.loads((run / "retrieval.json").read_text())["table"]
    report = run / "detection" / "report.json"
    if report.is_file():
        rep = json.loads(report.read_text())
        out["detector"] = {"test": rep["test"], "counts": rep["counts"]}
    return out


def run_case(name: str, tmp: Path) -> dict:
    """Train the case in this process (one thread) and return its outcome."""
    import torch

    from textgan import api

    recipe, overrides = case_recipe(name, tmp)
    before = torch.get_num_threads()
    try:
        result = api.train(recipe, out_dir=tmp / "run", overrides=overrides, progress=False)
    finally:
        torch.set_num_threads(before)
    return outcome(result.path)


if __name__ == "__main__":
    import tempfile

    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python -m tests.train.engine_cases --record")
    for case in CASES:
        with tempfile.TemporaryDirectory() as d:
            result = run_case(case, Path(d))
        target = golden_file(case)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
        print(case, len(result["metrics"]), "records")
