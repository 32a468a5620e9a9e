"""Outputs never replace a symbolic link, device, pipe or foreign folder; standard output is written directly."""

import json
import os
from pathlib import Path

import pytest

from textgan.errors import TextganError
from textgan.io import atomic_open, check_output, is_stdout, replace_dir, write_json


@pytest.fixture
def specials(tmp_path) -> dict[str, Path]:
    target = tmp_path / "target.txt"
    target.write_text("keep\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "mine.txt").write_text("mine\n")
    return {"link": link, "fifo": fifo, "device": Path("/dev/null"), "folder": folder, "target": target}


@pytest.mark.parametrize("which, words", [("link", "symbolic link"), ("fifo", "named pipe"),
                                          ("device", "character device"), ("folder", "is a folder")])
def test_atomic_writes_refuse_special_files(specials, which, words):
    path = specials[which]
    before = os.lstat(path)
    with pytest.raises(TextganError, match=words):
        write_json(path, {"a": 1})
    after = os.lstat(path)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    assert specials["target"].read_text() == "keep\n"
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_foreign_folders_are_not_replaced(specials, tmp_path):
    with pytest.raises(TextganError, match="did not write"):
        check_output(specials["folder"], folder=True, own=("detection.json",))
    check_output(specials["folder"], folder=True, own=("mine.txt",))  # textgan's own: replaced
    empty = tmp_path / "empty"
    empty.mkdir()
    check_output(empty, folder=True)
    with pytest.raises(TextganError, match="symbolic link"):
        replace_dir(tmp_path / "x", specials["link"])
    assert specials["link"].is_symlink()


@pytest.mark.parametrize("name", ["-", "/dev/stdout"])
def test_standard_output_is_written_directly(name, capsys):
    assert is_stdout(name)
    with atomic_open(name) as f:
        f.write("hello\n")
    write_json(name, {"a": 1})
    assert capsys.readouterr().out == 'hello\n{\n  "a": 1\n}\n'


@pytest.fixture
def ckpt(tmp_path) -> Path:
    import torch

    from textgan.data.tokenizers import build_tokenizer
    from textgan.data.vocab import Vocab
    from textgan.models.lstm_generator import LSTMGenerator
    from textgan.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    vocab = Vocab.build([["a", "b", "c"]])
    model = LSTMGenerator(len(vocab), 4, 4, max_len=4, start_token=vocab.bos_id, pad_id=vocab.pad_id, eos_id=vocab.eos_id)
    return save_checkpoint(tmp_path / "ckpt", model, "lstm", vocab, build_tokenizer("whitespace"), {"recipe": "tiny"})


def test_generate_writes_jsonl_to_standard_output(ckpt, tmp_path, capsys, monkeypatch):
    from textgan.cli import main

    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["generate", str(ckpt), "--num", "5", "--out", "-", "--quiet"]) == 0
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == list(range(5)) and "wrote 5 texts" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no shards, no manifest


@pytest.mark.parametrize("which", ["link", "fifo", "device", "folder"])
def test_generate_and_evaluate_refuse_special_outputs(ckpt, specials, which, capsys):
    from textgan.cli import main

    path = specials[which]
    before = os.lstat(path)
    assert main(["generate", str(ckpt), "--num", "3", "--out", str(path), "--quiet"]) == 2
    samples = path.parent / "s.txt"
    samples.write_text("a b c\nb c a\n")
    assert main(["evaluate", "--samples", str(samples), "--out", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err)
    after = os.lstat(path)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    assert not Path(str(path) + ".manifest.json").exists() and not Path(str(path) + ".parts").exists()
