"""``torchrun ... -m textgan generate``: ranks split the shards; the output is the same for any number
of processes, and a killed torchrun output resumes (with any number of processes)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_generation import ckpt, lines  # noqa: F401  (the tiny generator fixture)
from textgan.generation import SamplingSettings, generate_texts, manifest_path, parts_dir

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["-n", "57", "--shard-size", "10", "--batch-size", "5", "--seed", "3", "--temperature", "0.9", "--dedupe",
         "--quiet", "--device", "cpu"]


def torchrun_generate(ckpt_dir: Path, out: Path, *extra: str, nproc: int = 2) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", "-m",
           "textgan", "generate", str(ckpt_dir), "--out", str(out), *FLAGS, *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)


def single(ckpt_dir: Path, out: Path, fmt: str | None = None):
    return generate_texts(ckpt_dir, 57, out, sampling=SamplingSettings(temperature=0.9, seed=3), shard_size=10,
                          batch_size=5, drop_duplicates=True, device="cpu", fixed_shards=True, format=fmt)


def test_two_ranks_write_the_texts_of_one_process(ckpt, tmp_path):  # noqa: F811
    out = tmp_path / "two.jsonl"
    proc = torchrun_generate(ckpt, out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("wrote") <= 1  # rank 0 alone reports
    one = single(ckpt, tmp_path / "one.jsonl")
    assert out.read_text() == one.path.read_text()
    rows = lines(out)
    assert [r["id"] for r in rows] == list(range(57)) and len({r["text"] for r in rows}) == 57  # deduplicated
    manifest = json.loads(manifest_path(out).read_text())
    assert manifest["settings"]["layout"] == "fixed" and manifest["num"] == 57
    assert manifest["dropped"]["duplicate"] > 0  # the tiny model repeats itself: the filter worked across shards
    assert [s["index"] for s in manifest["shards"]] == list(range(len(manifest["shards"])))
    assert not parts_dir(out).exists()


def test_a_torchrun_output_cut_short_resumes_with_one_process(ckpt, tmp_path):  # noqa: F811
    whole = single(ckpt, tmp_path / "whole.jsonl")
    out = tmp_path / "cut.jsonl"
    assert torchrun_generate(ckpt, out).returncode == 0
    # Leave what a kill after three shards leaves: the shard folder with shards 0-2, no output.
    first = single(ckpt, tmp_path / "again.jsonl")  # re-create shards deterministically in a folder we cut
    parts = parts_dir(out)
    out.unlink()
    manifest_path(out).unlink()
    subprocess.run([sys.executable, "-c", CUT.format(ckpt=str(ckpt), out=str(out))], cwd=ROOT, check=True,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert parts.is_dir() and not out.exists()
    kept = sorted(p.name for p in parts.glob("shard-*.json"))
    assert kept == ["shard-00000.json", "shard-00001.json", "shard-00002.json"]
    resumed = generate_texts(ckpt, 57, out, sampling=SamplingSettings(temperature=0.9, seed=3), shard_size=10,
                             batch_size=5, drop_duplicates=True, device="cpu")  # layout found in the folder
    assert resumed.num == 57
    assert out.read_text() == whole.path.read_text() == first.path.read_text()
    # A finished fixed output is recognised by a later call without the flag: nothing is redone.
    again = generate_texts(ckpt, 57, out, sampling=SamplingSettings(temperature=0.9, seed=3), shard_size=10,
                           batch_size=5, drop_duplicates=True, device="cpu")
    assert again.already_complete


# Draw shards 0-2 of the fixed layout into OUT's shard folder, as a killed run leaves them.
CUT = """
from pathlib import Path
import json
from textgan import generation
from textgan.generation import SamplingSettings
real = generation._draw_shard
calls = []
def limited(*a, **k):
    if len(calls) == 3:
        raise KeyboardInterrupt
    calls.append(1)
    return real(*a, **k)
generation._draw_shard = limited
try:
    generation.generate_texts({ckpt!r}, 57, Path({out!r}), sampling=SamplingSettings(temperature=0.9, seed=3),
                              shard_size=10, batch_size=5, drop_duplicates=True, device="cpu", fixed_shards=True)
except KeyboardInterrupt:
    pass
"""


def test_standard_output_is_refused_under_torchrun(ckpt, tmp_path):  # noqa: F811
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "textgan", "generate", str(ckpt), "--out", "-", *FLAGS], cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=240)
    assert proc.returncode != 0 and "not standard output" in proc.stderr


@pytest.mark.parametrize("fmt", ["parquet"])
def test_fixed_layout_writes_other_formats(ckpt, tmp_path, fmt):  # noqa: F811
    from textgan.generation import read_generated

    jsonl = single(ckpt, tmp_path / "a.jsonl")
    other = single(ckpt, tmp_path / f"a.{fmt}")
    assert [r["text"] for r in read_generated(other.path)] == [r["text"] for r in lines(jsonl.path)]
