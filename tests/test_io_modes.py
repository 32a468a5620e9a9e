"""Atomically written files and folders get the modes the umask asks for, not tempfile's 0600/0700."""

import os
import stat
import tempfile
from pathlib import Path

import pytest
import torch

from textgan.data.vocab import Vocab
from textgan.io import (apply_umask, apply_umask_tree, atomic_open, atomic_tmp_path, current_umask, make_tmp_dir,
                        replace_dir, write_json)
from textgan.models.lstm_generator import LSTMGenerator
from textgan.train.checkpoint import save_checkpoint

UMASKS = [0o022, 0o077, 0o002]


@pytest.fixture(params=UMASKS, ids=lambda m: f"umask{m:03o}")
def umask(request):
    before = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def file_mode(mask: int) -> int:
    return 0o666 & ~mask


def dir_mode(mask: int) -> int:
    return 0o777 & ~mask


def test_current_umask_reads_without_changing(umask):
    assert current_umask() == umask
    assert current_umask() == umask


def test_atomic_open_text_and_binary(tmp_path, umask):
    with atomic_open(tmp_path / "a.txt") as f:
        f.write("hello\n")
    with atomic_open(tmp_path / "sub" / "b.bin", "wb") as f:
        f.write(b"\0\1")
    assert mode(tmp_path / "a.txt") == file_mode(umask)
    assert mode(tmp_path / "sub" / "b.bin") == file_mode(umask)
    assert mode(tmp_path / "sub") == dir_mode(umask)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.txt", "b.bin", "sub"]  # no temporary left


def test_atomic_open_failure_leaves_nothing(tmp_path, umask):
    with pytest.raises(RuntimeError):
        with atomic_open(tmp_path / "a.txt") as f:
            f.write("half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_write_json_replacing_a_file(tmp_path, umask):
    target = tmp_path / "run.json"
    target.write_text("{}")
    os.chmod(target, 0o600)
    write_json(target, {"a": 1})
    assert mode(target) == file_mode(umask)
    assert target.read_text() == '{\n  "a": 1\n}\n'


def test_atomic_tmp_path_for_libraries_that_write_by_name(tmp_path, umask):
    out = tmp_path / "samples.parquet"
    tmp = atomic_tmp_path(out)
    assert mode(tmp) == file_mode(umask)
    with open(tmp, "wb") as f:  # what pyarrow, safetensors or savefig do: truncate and write
        f.write(b"data")
    os.replace(tmp, out)
    assert mode(out) == file_mode(umask)


@pytest.mark.parametrize("existing", [False, True])
def test_replace_dir_of_a_mkdtemp_folder(tmp_path, umask, existing):
    dest = tmp_path / "ckpt"
    if existing:
        dest.mkdir()
        (dest / "old.txt").write_text("old")
    tmp = Path(tempfile.mkdtemp(prefix=".ckpt.", dir=tmp_path))
    write_json(tmp / "config.json", {"k": 1})
    replace_dir(tmp, dest)
    assert mode(dest) == dir_mode(umask)
    assert mode(dest / "config.json") == file_mode(umask)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    assert [p.name for p in dest.iterdir()] == ["config.json"]


def test_replace_dir_fixes_private_files_inside(tmp_path, umask):
    # Some writers (safetensors >= 0.7) make 0600 files of their own; the published folder follows the umask.
    tmp = make_tmp_dir(tmp_path / "state")
    (tmp / "sub").mkdir(mode=0o700)
    for name, private in (("tensors.bin", 0o600), ("sub/run.sh", 0o700)):
        (tmp / name).write_bytes(b"x")
        os.chmod(tmp / name, private)
    os.symlink("tensors.bin", tmp / "link")
    replace_dir(tmp, tmp_path / "state")
    dest = tmp_path / "state"
    assert mode(dest / "sub") == dir_mode(umask)
    assert mode(dest / "tensors.bin") == file_mode(umask)
    assert mode(dest / "sub" / "run.sh") == dir_mode(umask)  # executables stay executable
    assert os.path.islink(dest / "link")


def test_apply_umask_tree_on_a_file(tmp_path, umask):
    f = tmp_path / "f"
    f.write_text("x")
    os.chmod(f, 0o600)
    apply_umask_tree(f)
    assert mode(f) == file_mode(umask)


def test_make_tmp_dir_and_apply_umask(tmp_path, umask):
    tmp = make_tmp_dir(tmp_path / "out" / "tokenizer")
    assert tmp.parent == tmp_path / "out" and tmp.name.startswith(".tokenizer.")
    assert mode(tmp) == dir_mode(umask)
    fd, name = tempfile.mkstemp(dir=tmp_path)
    os.close(fd)
    assert apply_umask(name) == name
    assert mode(Path(name)) == file_mode(umask)


def test_checkpoint_folder_and_files(tmp_path, umask):
    torch.manual_seed(0)
    model = LSTMGenerator(vocab_size=12, embed_dim=6, hidden_dim=8, max_len=6, start_token=1, pad_id=0, eos_id=2)
    vocab = Vocab(["<pad>", "<bos>", "<eos>", "<unk>"] + [f"w{i}" for i in range(8)])
    for _ in range(2):  # a first save, then one that replaces it
        path = save_checkpoint(tmp_path / "checkpoints" / "last", model, "lstm", vocab, None, {"epoch": 1})
        assert mode(path) == dir_mode(umask)
        files = sorted(p for p in path.rglob("*") if p.is_file())
        assert {p.name for p in files} >= {"model.safetensors", "config.json", "vocab.json"}
        for p in files:
            assert mode(p) == file_mode(umask), p
        for p in path.rglob("*"):
            if p.is_dir():
                assert mode(p) == dir_mode(umask), p
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["last"]


def test_tokenized_cache_entries(tmp_path, umask):
    from textgan.data.encode import encode_cached
    from textgan.data.tokenizers import build_tokenizer

    texts = ["a b c", "b c"]
    tokenizer = build_tokenizer("whitespace")
    vocab = Vocab.build([t.split() for t in texts])
    encode_cached(texts, tokenizer, vocab, 4, cache_dir=tmp_path / "cache")
    entries = list((tmp_path / "cache").iterdir())
    assert {p.suffix for p in entries} == {".safetensors", ".json"}
    for p in entries:
        assert mode(p) == file_mode(umask), p
