"""Sharded, resumable generation: records, determinism, kill -9 + resume, filters, formats, errors."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import torch

from textgan import generation
from textgan.cli import main
from textgan.data.tokenizers import build_tokenizer
from textgan.data.vocab import Vocab
from textgan.errors import TextganError
from textgan.generation import SamplingSettings, generate_texts, manifest_path, parts_dir, read_generated, shard_seed
from textgan.models.lstm_generator import LSTMGenerator
from textgan.train.checkpoint import save_checkpoint

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def ckpt(tmp_path) -> Path:
    """A random tiny text generator (7 words, length 5): it repeats itself often, as filters need."""
    torch.manual_seed(0)
    vocab = Vocab.build([["a", "b", "c", "d", "e", "f", "g"]])
    model = LSTMGenerator(len(vocab), 8, 8, max_len=5, start_token=vocab.bos_id, pad_id=vocab.pad_id,
                          eos_id=vocab.eos_id, init_std=1.0)
    return save_checkpoint(tmp_path / "ckpt", model, "lstm", vocab, build_tokenizer("whitespace"), {"recipe": "tiny"})


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_records_carry_settings_and_the_same_seed_gives_the_same_texts(ckpt, tmp_path):
    s = SamplingSettings(temperature=0.8, top_k=5, seed=3)
    a = generate_texts(ckpt, 23, tmp_path / "a.jsonl", sampling=s, shard_size=10, batch_size=4)
    rows = lines(a.path)
    assert (a.num, a.drawn, a.shards, a.resumed) == (23, 23, 3, 0)
    assert [r["id"] for r in rows] == list(range(23))
    assert rows[0]["label"] == "generated" and rows[0]["model"] == "lstm" and rows[0]["recipe"] == "tiny"
    assert rows[0]["sampling"] == {"temperature": 0.8, "top_k": 5, "top_p": 1.0, "min_len": 0, "max_len": 5, "seed": 3}
    assert len(rows[0]["checkpoint_sha256"]) == 64
    b = generate_texts(ckpt, 23, tmp_path / "b.jsonl", sampling=s, shard_size=10, batch_size=4)
    assert b.path.read_text() == a.path.read_text()
    c = generate_texts(ckpt, 23, tmp_path / "c.jsonl", sampling=SamplingSettings(temperature=0.8, top_k=5, seed=4),
                       shard_size=10, batch_size=4)
    assert [r["text"] for r in lines(c.path)] != [r["text"] for r in rows]
    # The finished run leaves the output and its manifest, not the shards.
    assert manifest_path(a.path).is_file() and not parts_dir(a.path).exists()
    assert json.loads(manifest_path(a.path).read_text())["shards"][1]["seed"] == shard_seed(3, 1)


def test_shard_seeds_are_distinct_and_stable():
    seeds = {shard_seed(s, i) for s in range(3) for i in range(100)}
    assert len(seeds) == 300 and all(0 <= x < 2**63 for x in seeds)
    assert shard_seed(0, 1) == shard_seed(0, 1) != shard_seed(1, 0)


def test_a_second_call_with_the_same_settings_does_nothing(ckpt, tmp_path):
    first = generate_texts(ckpt, 12, tmp_path / "g.jsonl", shard_size=5)
    again = generate_texts(ckpt, 12, tmp_path / "g.jsonl", shard_size=5)
    assert again.already_complete and again.num == 12 and first.path.read_text() == again.path.read_text()
    with pytest.raises(TextganError, match=r"other settings .*num 12 vs 13.*another --out"):
        generate_texts(ckpt, 13, tmp_path / "g.jsonl", shard_size=5)


SLOW_WRITER = """
import sys, time, contextlib
from textgan import generation
real = generation.atomic_open

@contextlib.contextmanager
def slow_open(path, *a, **k):
    with real(path, *a, **k) as f:
        class Slow:
            def write(self, data):
                half = len(data) // 2
                f.write(data[:half]); f.flush()
                time.sleep(0.25)  # a kill -9 here leaves a half-written temporary file
                f.write(data[half:])
        yield Slow()

generation.atomic_open = slow_open
generation.generate_texts(sys.argv[1], 60, sys.argv[2], shard_size=5, batch_size=5,
                          sampling=generation.SamplingSettings(temperature=0.9, seed=7))
"""


def test_kill_9_then_resume_gives_exactly_the_uninterrupted_texts(ckpt, tmp_path):
    out = tmp_path / "killed.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(ckpt), str(out)], env=env)
    manifest = parts_dir(out) / "manifest.json"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if len(json.loads(manifest.read_text())["shards"]) >= 3:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    time.sleep(0.12)  # land inside the next shard's write
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    done = len(json.loads(manifest.read_text())["shards"])
    assert 3 <= done < 12

    s = SamplingSettings(temperature=0.9, seed=7)
    resumed = generate_texts(ckpt, 60, out, sampling=s, shard_size=5, batch_size=5)
    assert resumed.resumed == 5 * done and resumed.num == 60
    whole = generate_texts(ckpt, 60, tmp_path / "whole.jsonl", sampling=s, shard_size=5, batch_size=5)
    rows = lines(out)
    assert len(rows) == 60 and sorted(r["id"] for r in rows) == list(range(60))
    assert out.read_text() == whole.path.read_text()
    assert not parts_dir(out).exists()


def test_ctrl_c_keeps_finished_shards_and_resume_refuses_other_settings(ckpt, tmp_path, monkeypatch, capsys):
    calls = {"n": 0}
    real = generation.atomic_open

    def interrupt_third(path, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(path, *a, **k)

    monkeypatch.setattr(generation, "atomic_open", interrupt_third)
    out = tmp_path / "c.jsonl"
    assert main(["generate", str(ckpt), "--num", "20", "--out", str(out), "--shard-size", "4", "--quiet"]) == 130
    assert "run the same command to resume" in capsys.readouterr().err
    monkeypatch.setattr(generation, "atomic_open", real)
    assert len(json.loads((parts_dir(out) / "manifest.json").read_text())["shards"]) == 2

    assert main(["generate", str(ckpt), "--num", "20", "--out", str(out), "--shard-size", "4", "--temperature", "0.5",
                 "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "other settings" in err and "temperature" in err
    assert main(["generate", str(ckpt), "--num", "20", "--out", str(out), "--shard-size", "4", "--quiet"]) == 0
    assert "resumed after 8" in capsys.readouterr().out
    whole = generate_texts(ckpt, 20, tmp_path / "w.jsonl", shard_size=4)
    assert out.read_text() == whole.path.read_text()


def test_filters_are_counted_exactly_and_generation_continues_to_n(ckpt, tmp_path):
    # Shard 0 of a filtered run draws the same 30 texts as an unfiltered run of 30.
    plain = [r["text"] for r in lines(generate_texts(ckpt, 30, tmp_path / "plain.jsonl", shard_size=30).path)]
    common = [t for t, _ in Counter(plain).most_common(2)]
    train = tmp_path / "train.txt"
    train.write_text("\n".join(common) + "\n")
    res = generate_texts(ckpt, 30, tmp_path / "f.jsonl", shard_size=30, drop_duplicates=True, drop_train_copies=True,
                         train=train, sampling=SamplingSettings(min_len=2))
    texts = [r["text"] for r in lines(res.path)]
    assert len(texts) == 30 and len(set(texts)) == 30 and not set(texts) & set(common)
    assert all(len(t.split()) >= 2 for t in texts)
    assert res.drawn == 30 + sum(res.dropped.values()) and res.shards > 1
    first = json.loads(manifest_path(res.path).read_text())["shards"][0]["dropped"]
    too_short = sum(len(t.split()) < 2 for t in plain)
    copies = sum(t in common for t in plain if len(t.split()) >= 2)
    rest = [t for t in plain if len(t.split()) >= 2 and t not in common]
    assert first == {"too_short": too_short, "train_copy": copies, "duplicate": len(rest) - len(set(rest))}
    assert copies > 0 and first["duplicate"] > 0


def test_hopeless_filters_stop_with_a_one_line_error(ckpt, tmp_path):
    with pytest.raises(TextganError, match=r"passed the filters .* lower --num or --min-len"):
        generate_texts(ckpt, 50, tmp_path / "x.jsonl", sampling=SamplingSettings(min_len=5, max_len=5, temperature=0.05),
                       drop_duplicates=True, max_draw_factor=1, shard_size=5000)


@pytest.mark.parametrize("fmt, name", [("parquet", "g.parquet"), ("hf", "g_hf")])
def test_parquet_and_hf_hold_the_jsonl_records(ckpt, tmp_path, fmt, name):
    ref = lines(generate_texts(ckpt, 11, tmp_path / "g.jsonl", shard_size=4).path)
    res = generate_texts(ckpt, 11, tmp_path / name, format=fmt, shard_size=4)
    assert res.format == fmt and read_generated(res.path) == ref


def test_bad_inputs_give_one_line_errors(ckpt, tmp_path, capsys):
    with pytest.raises(TextganError, match="no checkpoint at"):
        generate_texts(tmp_path / "nope", 5, tmp_path / "a.jsonl")
    with pytest.raises(TextganError, match="pass --train"):
        generate_texts(ckpt, 5, tmp_path / "a.jsonl", drop_train_copies=True)
    with pytest.raises(TextganError, match="top-p must be in"):
        SamplingSettings(top_p=0)
    with pytest.raises(TextganError, match="generated file .* not found"):
        read_generated(tmp_path / "missing.jsonl")
    assert main(["generate", str(ckpt), "--num", "0", "--out", str(tmp_path / "z.jsonl")]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_drop_train_copies_reads_the_runs_recipe(tmp_path):
    # A run folder: its recipe's data are the training texts (here the synthetic oracle's ids).
    run = tmp_path / "run"
    assert main(["run", str(ROOT / "recipes" / "quickstart.yaml"), "--out", str(run), "--quiet", "--set", "mle.epochs=0",
                 "--set", "data.num_train=64", "--set", "data.num_test=8", "--set", "eval.num_samples=8"]) == 0
    res = generate_texts(run, 20, tmp_path / "o.jsonl", drop_train_copies=True, shard_size=20)
    assert res.num == 20 and res.dropped["train_copy"] == 0  # 20 random tokens of 5000 never repeat a training row
