"""Shared pieces of the error tests: tiny checkpoints and inputs, and the one-line-error check.

Every case runs a command in-process (``textgan.cli.main``) from inside a fresh temporary
folder and asserts: exit status 2, exactly one stderr line and it starts with ``error:``, and
nothing new left in the folder (``leftovers``).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import torch


def snapshot(root: Path) -> set[str]:
    """Every path under ``root`` (relative), folders included."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def work(tmp_path, monkeypatch) -> Path:
    """A fresh working folder (the current directory) for one case."""
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def fails(capsys):
    """``fails(argv, root, allow=())``: run the CLI, assert the one-line error; return the line."""
    from textgan.cli import main

    def check(argv: list[str], root: Path, allow: tuple[str, ...] = ()) -> str:
        before = snapshot(root)
        capsys.readouterr()
        rc = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        lines = err.splitlines()
        assert rc == 2, (rc, err)
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        assert "Traceback" not in err
        new = {p for p in snapshot(root) - before if not any(p.startswith(a) for a in allow)}
        assert not new, f"left behind: {sorted(new)}"
        return lines[0]

    return check


# --------------------------------------------------------------------------- simulated faults


def _inside(path, folder: Path) -> bool:
    try:
        return Path(os.path.abspath(os.fspath(path))).is_relative_to(folder)
    except TypeError:  # a file descriptor
        return False


@pytest.fixture
def read_only(monkeypatch):
    """``read_only(folder)``: creating anything inside ``folder`` fails with EACCES, as for a user
    without write permission (the tests run as root, which chmod does not stop)."""

    def apply(folder: Path) -> Path:
        folder = Path(os.path.abspath(folder))
        real_open, real_mkdir = os.open, os.mkdir

        def guarded_open(path, flags, *args, **kw):
            if flags & os.O_CREAT and _inside(path, folder):
                raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
            return real_open(path, flags, *args, **kw)

        def guarded_mkdir(path, *args, **kw):
            if _inside(path, folder) and not os.path.isdir(path):
                raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
            return real_mkdir(path, *args, **kw)

        monkeypatch.setattr(os, "open", guarded_open)
        monkeypatch.setattr(os, "mkdir", guarded_mkdir)
        return folder

    return apply


@pytest.fixture
def disk_full(monkeypatch):
    """Writes reach the disk (fsync) and fail with ENOSPC, as on a full disk."""

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)


# --------------------------------------------------------------------------- tiny inputs

WORDS = "the cat dog sat on a mat and ran far away big small red".split()


@pytest.fixture(scope="session")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """Tiny texts, a language-model checkpoint, a document-model checkpoint and a generated file."""
    import random

    from textgan.data.bow import BowEncoder
    from textgan.data.tokenizers import build_tokenizer
    from textgan.data.vocab import Vocab
    from textgan.generation import generate_texts
    from textgan.models.adm import DenoisingAutoencoder
    from textgan.models.lstm_generator import LSTMGenerator
    from textgan.train.checkpoint import save_checkpoint

    root = tmp_path_factory.mktemp("inputs")
    rng = random.Random(0)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8))) for _ in range(40)]
    (root / "texts.txt").write_text("\n".join(texts) + "\n")
    (root / "texts.csv").write_text("body,label\n" + "".join(f"{t},0\n" for t in texts))
    (root / "one.txt").write_text("just one text here\n")
    (root / "texts.pos").write_text("\n".join(texts) + "\n")  # plain text under an extension that says nothing
    (root / "empty.txt").write_text("")
    (root / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (root / "latin1.txt").write_bytes("caf\xe9 cr\xe8me br\xfbl\xe9e\n".encode("latin-1") * 5)

    torch.manual_seed(0)
    vocab = Vocab.build([t.split() for t in texts])
    lm = LSTMGenerator(len(vocab), 4, 4, max_len=8, start_token=vocab.bos_id, pad_id=vocab.pad_id, eos_id=vocab.eos_id)
    lm_ckpt = save_checkpoint(root / "lm", lm, "lstm", vocab, build_tokenizer("whitespace"), {"recipe": "tiny"})
    encoder = BowEncoder(sorted(set(WORDS)), "words")
    dae = DenoisingAutoencoder(vocab_size=len(encoder), hidden_dim=3, noise=0.0)
    doc_ckpt = save_checkpoint(root / "doc", dae, "dae", encoder)
    gen = generate_texts(lm_ckpt, 30, root / "gen.jsonl").path
    (root / "notjson.jsonl").write_text("this is not json\n")
    return {"root": root, "texts": root / "texts.txt", "csv": root / "texts.csv", "one": root / "one.txt",
            "empty": root / "empty.txt", "binary": root / "binary.txt", "latin1": root / "latin1.txt", "pos": root / "texts.pos",
            "lm": lm_ckpt, "doc": doc_ckpt, "gen": gen, "notjson": root / "notjson.jsonl"}
