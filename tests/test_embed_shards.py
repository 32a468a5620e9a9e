"""``textgan embed`` at scale: streamed input, shards, resume after an interrupt, torchrun ranks, formats."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.train.engine_cases import ADM, write_doc_corpus
from textgan import api
from textgan.cli import main
from textgan.data.corpus import iter_corpus, load_corpus
from textgan.errors import TextganError

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"


@pytest.fixture(scope="module")
def adm(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("adm")
    corpus = write_doc_corpus(tmp / "docs")
    run = api.train(RECIPES / "adm" / "newsgroups20.yaml", out_dir=tmp / "run",
                    overrides=[f"data.corpus={corpus}", *ADM], progress=False).path
    docs = tmp / "many.jsonl"
    texts = (corpus / "train.jsonl").read_text().splitlines()
    with open(docs, "w") as f:  # 123 documents, ids as given, a blank one and one without vocabulary words
        for i in range(123):
            record = json.loads(texts[i % len(texts)])
            f.write(json.dumps({"id": f"d{i}", "text": "zzz qqq" if i == 7 else record["text"]}) + "\n")
            if i == 50:
                f.write(json.dumps({"id": "blank", "text": "  "}) + "\n")
    return run, docs


def embed(run, docs, out, **kw):
    return api.embed_to_file(run, docs, out, device="cpu", **kw)


def test_shards_give_the_vectors_of_one_pass_in_every_format(adm, tmp_path):
    run, docs = adm
    whole = embed(run, docs, tmp_path / "whole.npy", shard_size=10_000)
    sharded = embed(run, docs, tmp_path / "sharded.npy", shard_size=10, batch_size=4)
    a, b = np.load(tmp_path / "whole.npy"), np.load(tmp_path / "sharded.npy")
    assert a.shape == (123, 6) and np.array_equal(a, b)
    ids = (tmp_path / "sharded.ids.txt").read_text().splitlines()
    assert ids[0] == "d0" and len(ids) == 123 and "blank" not in ids
    meta = json.loads((tmp_path / "sharded.meta.json").read_text())
    assert meta["num_documents"] == 123 and meta["num_empty"] == 1 and meta["shards"] == 13
    assert (whole.num_documents, sharded.num_empty) == (123, 1)
    assert not (tmp_path / "sharded.npy.parts").exists()
    embed(run, docs, tmp_path / "v.parquet", shard_size=10)
    embed(run, docs, tmp_path / "v.jsonl", shard_size=10)
    embed(run, docs, tmp_path / "vhf", shard_size=10, format="hf")
    import pyarrow.parquet as pq
    from datasets import load_from_disk

    table = pq.read_table(tmp_path / "v.parquet")
    assert table.column_names == ["id", "embedding", "empty"]
    assert np.array_equal(np.array(table.column("embedding").to_pylist(), dtype=np.float32), a)
    rows = [json.loads(line) for line in (tmp_path / "v.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ids and rows[7]["empty"] is True
    ds = load_from_disk(str(tmp_path / "vhf"))
    assert ds.column_names == ["id", "embedding", "empty"] and len(ds) == 123
    assert np.array_equal(np.array(ds["embedding"], dtype=np.float32), a)


def test_an_interrupted_embedding_resumes_to_the_same_file(adm, tmp_path, monkeypatch):
    from textgan import embedding

    run, docs = adm
    whole = embed(run, docs, tmp_path / "whole.npy", shard_size=10)
    real, calls = embedding.embed_texts, []

    def stops_after_four(*a, **k):
        if len(calls) == 4:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(embedding, "embed_texts", stops_after_four)
    out = tmp_path / "cut.npy"
    with pytest.raises(KeyboardInterrupt):
        embed(run, docs, out, shard_size=10)
    parts = tmp_path / "cut.npy.parts"
    assert not out.exists() and len(list(parts.glob("shard-*.json"))) == 4
    monkeypatch.setattr(embedding, "embed_texts", real)
    with pytest.raises(TextganError, match="other settings"):
        embed(run, docs, out, shard_size=20)
    done = embed(run, docs, out, shard_size=10)
    assert done.num_documents == 123 and not parts.exists()
    assert np.array_equal(np.load(out), np.load(whole.files[0]))
    assert (tmp_path / "cut.ids.txt").read_text() == (tmp_path / "whole.ids.txt").read_text()


def test_two_torchrun_ranks_write_the_file_of_one_process(adm, tmp_path):
    run, docs = adm
    one = embed(run, docs, tmp_path / "one.parquet", shard_size=10)
    out = tmp_path / "two.parquet"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "textgan",
           "embed", "--model", str(run), "--input", str(docs), "--out", str(out), "--shard-size", "10", "--quiet",
           "--device", "cpu"]
    proc = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("wrote") == 1
    import pyarrow.parquet as pq

    assert pq.read_table(out).equals(pq.read_table(one.files[0]))


def test_input_is_streamed_not_loaded(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "a b"}\n{"text": "c d", "id": 9}\nnot json\n')
    items = iter_corpus(path)
    assert next(items) == (0, "a b") and next(items) == (9, "c d")  # read before the bad line is reached
    with pytest.raises(TextganError, match="line 3 is not valid JSON"):
        next(items)
    txt = tmp_path / "docs.txt"
    txt.write_text("one\n\n two \r\nthree")
    # ids without an id field are 0-based line numbers: a blank line gets no item but keeps its number
    assert list(iter_corpus(txt)) == [(0, "one"), (2, " two "), (3, "three")]
    lines = tmp_path / "gaps.jsonl"
    lines.write_text('{"text": "a"}\n\n{"text": " "}\n{"text": "b"}\n')
    assert list(iter_corpus(lines)) == [(0, "a"), (3, "b")]
    assert [t for _, t in iter_corpus(txt)] == load_corpus(txt)["text"]


def test_embed_cli_writes_a_datasets_folder(adm, tmp_path, capsys):
    run, docs = adm
    out = tmp_path / "folder"
    assert main(["embed", "--model", str(run), "--input", str(docs), "--out", str(out), "--format", "hf",
                 "--shard-size", "50", "--quiet", "--device", "cpu"]) == 0
    assert (out / "dataset_info.json").is_file() and json.loads((out / "textgan_meta.json").read_text())["shards"] == 3
    assert "wrote 123 vectors" in capsys.readouterr().out


def test_bench_reports_rate_and_peak_memory_per_size():
    from textgan.bench.adm import bench_embed_stream, format_embed_stream

    rows = bench_embed_stream((300,), shard_size=100, threads=1)
    assert rows[0]["docs"] == 300 and rows[0]["docs_per_s"] > 0 and 50 < rows[0]["peak_rss_mb"] < 10_000
    assert "peak RSS MB" in format_embed_stream(rows)
