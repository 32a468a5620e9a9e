"""Sharded, resumable generation: records, determinism, kill -9 + resume, filters, formats, errors."""

import json
import os
import signal
import subprocess
import sys
import time
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
    with torch.no_grad():
        model.output.bias[vocab.eos_id] += 2.0  # many texts end early, some at once (empty)
    return save_checkpoint(tmp_path / "ckpt", model, "lstm", vocab, build_tokenizer("whitespace"), {"recipe": "tiny"})


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_records_carry_settings_and_the_same_seed_gives_the_same_texts(ckpt, tmp_path):
    s = SamplingSettings(temperature=0.8, top_k=5, seed=3)
    a = generate_texts(ckpt, 23, tmp_path / "a.jsonl", sampling=s, shard_size=10, batch_size=4)
    rows = lines(a.path)
    assert (a.num, a.drawn, a.resumed) == (23, 23 + a.dropped["too_short"], 0) and a.shards >= 3
    assert all(r["text"] for r in rows)  # min_len 1 (the default) drops empty texts
    assert [r["id"] for r in rows] == list(range(23))
    assert rows[0]["label"] == "generated" and rows[0]["model"] == "lstm" and rows[0]["recipe"] == "tiny"
    assert rows[0]["sampling"] == {"temperature": 0.8, "top_k": 5, "top_p": 1.0, "min_len": 1, "max_len": 5, "seed": 3}
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
    assert done >= 3 and len(list(parts_dir(out).glob("shard-*.jsonl"))) >= done

    finished = sum(e["kept"] for e in json.loads(manifest.read_text())["shards"])
    s = SamplingSettings(temperature=0.9, seed=7)
    resumed = generate_texts(ckpt, 60, out, sampling=s, shard_size=5, batch_size=5)
    assert resumed.resumed == finished > 0 and resumed.num == 60
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
    shards = json.loads((parts_dir(out) / "manifest.json").read_text())["shards"]
    assert len(shards) == 2

    assert main(["generate", str(ckpt), "--num", "20", "--out", str(out), "--shard-size", "4", "--temperature", "0.5",
                 "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "other settings" in err and "temperature" in err
    assert main(["generate", str(ckpt), "--num", "20", "--out", str(out), "--shard-size", "4", "--quiet"]) == 0
    assert f"resumed after {shards[0]['kept'] + shards[1]['kept']}" in capsys.readouterr().out
    whole = generate_texts(ckpt, 20, tmp_path / "w.jsonl", shard_size=4)
    assert out.read_text() == whole.path.read_text()


def test_filters_are_counted_exactly_and_generation_continues_to_n(ckpt, tmp_path):
    # Shard 0 of a filtered run draws the same 30 texts as an unfiltered run of 30.
    raw = SamplingSettings(min_len=0)
    plain = [r["text"] for r in lines(generate_texts(ckpt, 30, tmp_path / "plain.jsonl", shard_size=30, sampling=raw).path)]
    common = [next(t for t in plain if len(t.split()) == 5)]  # becomes a "training text"
    train = tmp_path / "train.txt"
    train.write_text("\n".join(common) + "\n")
    res = generate_texts(ckpt, 30, tmp_path / "f.jsonl", shard_size=30, drop_duplicates=True, drop_train_copies=True,
                         train=train, sampling=SamplingSettings(min_len=1))
    # A copy equals a training text cut to max_len (5) or, as the model learnt it, to max_len - 1 tokens.
    copied = set(common) | {" ".join(t.split()[:4]) for t in common}
    texts = [r["text"] for r in lines(res.path)]
    assert len(texts) == 30 and len(set(texts)) == 30 and not set(texts) & copied
    assert all(len(t.split()) >= 1 for t in texts)
    assert res.drawn == 30 + sum(res.dropped.values()) and res.shards > 1
    first = json.loads(manifest_path(res.path).read_text())["shards"][0]["dropped"]
    too_short = sum(len(t.split()) < 1 for t in plain)
    copies = sum(t in copied for t in plain if len(t.split()) >= 1)
    rest = [t for t in plain if len(t.split()) >= 1 and t not in copied]
    assert first == {"too_short": too_short, "train_copy": copies, "duplicate": len(rest) - len(set(rest))}
    assert too_short > 0 and copies > 0 and first["duplicate"] > 0


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


def test_ban_unk_writes_no_unk_records_it_and_refuses_a_model_without_one(ckpt, tmp_path, capsys):
    free = generate_texts(ckpt, 300, tmp_path / "free.jsonl", sampling=SamplingSettings(seed=1))
    assert any("<unk>" in r["text"].split() for r in lines(free.path)), "the model must write <unk> unbanned"
    ban = generate_texts(ckpt, 300, tmp_path / "ban.jsonl", sampling=SamplingSettings(seed=1, ban_unk=True))
    rows = lines(ban.path)
    assert len(rows) == 300 and not any("<unk>" in r["text"].split() for r in rows)
    assert rows[0]["sampling"]["ban_unk"] is True and "ban_unk" not in lines(free.path)[0]["sampling"]
    # The same through the command line; resuming an output with the other setting is refused.
    assert main(["generate", str(ckpt), "-n", "50", "--ban-unk", "--quiet", "--out", str(tmp_path / "c.jsonl")]) == 0
    assert not any("<unk>" in r["text"].split() for r in lines(tmp_path / "c.jsonl"))
    assert main(["generate", str(ckpt), "-n", "300", "--seed", "1", "--quiet", "--out", str(ban.path)]) == 2
    assert "other settings" in capsys.readouterr().err
    # A vocabulary without specials (the synthetic oracle's) has no <unk> to ban.
    plain = Vocab([str(i) for i in range(6)], specials=False)
    model = LSTMGenerator(6, 4, 4, max_len=4, start_token=0, pad_id=None, eos_id=None)
    oracle_like = save_checkpoint(tmp_path / "oracle", model, "lstm", plain, None, {"recipe": "tiny"})
    with pytest.raises(TextganError, match="no <unk>.*drop --ban-unk"):
        generate_texts(oracle_like, 5, tmp_path / "o.jsonl", sampling=SamplingSettings(ban_unk=True))
    assert not (tmp_path / "o.jsonl").exists() and not parts_dir(tmp_path / "o.jsonl").exists()


def test_drop_train_copies_reads_the_runs_recipe(ckpt, tmp_path):
    # In a run folder the recipe's data section gives the training texts.
    plain = [r["text"] for r in lines(generate_texts(ckpt, 20, tmp_path / "p.jsonl", shard_size=20).path)]
    corpus = tmp_path / "train.txt"
    corpus.write_text("\n".join(plain[:3]) + "\n")
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    ckpt.rename(run / "checkpoints" / "last")
    (run / "recipe.yaml").write_text(f"data:\n  corpus: {corpus}\n  test_split: null\n  max_len: 5\n")
    res = generate_texts(run, 20, tmp_path / "o.jsonl", drop_train_copies=True, shard_size=20)
    texts = [r["text"] for r in lines(res.path)]
    assert res.dropped["train_copy"] >= 3 and not set(texts) & set(plain[:3])


def test_bench_generation_reports_rates_and_the_target():
    from textgan.bench.generation import bench_generation, format_generation_bench

    result = bench_generation(kinds=["lstm"], vocab_size=20, max_len=5, batch_sizes=(4, 8), num=8, repeats=1,
                              threads=1, sampling_variants=({"temperature": 0.9},), end_to_end=10,
                              transformer_lengths=(6,), transformer_num=4)
    assert [(r["batch_size"], r["sampling"]) for r in result["runs"]] == [(4, "plain"), (8, "plain"),
                                                                           (result["best"]["lstm"]["batch_size"], "temperature=0.9")]
    assert all(r["texts_per_s"] > 0 and r["tokens_per_s"] == r["texts_per_s"] * 5 for r in result["runs"])
    assert result["end_to_end"]["num"] == 10 and result["target_texts_per_s"] == 500.0
    assert [(r["max_len"], r["sample_dtype"]) for r in result["transformer"]] == [(6, "float32"), (6, "bfloat16")]
    text = format_generation_bench(result)
    assert "texts/s" in text and "target" in text and "hf_causal_lm" in text
