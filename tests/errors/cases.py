"""Helpers of the error tests: damaged checkpoints and outputs that must never be replaced."""

from __future__ import annotations

import json
import os
from pathlib import Path


def special_out(tmp_path: Path, kind: str) -> Path:
    """An --out that must not be replaced: a link, a pipe, a device, a folder."""
    if kind == "device":
        return Path("/dev/full")
    path = tmp_path / f"special-{kind}.jsonl"
    if kind == "symlink":
        (tmp_path / "target.jsonl").write_text("keep\n")
        path.symlink_to(tmp_path / "target.jsonl")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    return path


def damaged_copy(src: Path, dest: Path, how: str) -> Path:
    """A copy of checkpoint ``src`` damaged ``how``: truncated weights, sizes or fields the weights disagree with."""
    import shutil

    shutil.copytree(src, dest)
    if how == "truncated":
        data = (dest / "model.safetensors").read_bytes()
        (dest / "model.safetensors").write_bytes(data[: len(data) // 2])
    elif how == "garbage":
        (dest / "model.safetensors").write_bytes(b"\x00" * 64)
    else:
        config = json.loads((dest / "config.json").read_text())
        if how == "sizes":
            key = "hidden_dim"
            config["args"][key] = config["args"][key] * 2
        elif how == "unknown_field":
            config["args"]["colour"] = "blue"
        elif how == "no_args":
            del config["args"]
        elif how == "not_json":
            (dest / "config.json").write_text("{not json")
            return dest
        (dest / "config.json").write_text(json.dumps(config))
    return dest


def command_argv(command: list[str], defaults: dict[str, str], extra: list[str], substitutions: dict) -> list[str]:
    """``command`` with its default options, each replaced where ``extra`` gives the same flag.

    ``extra`` is a case's arguments with ``{name}`` placeholders, filled from ``substitutions``
    (e.g. ``{tmp}``, ``{work}``, or the name of an input file made by the test's fixture).
    """
    tail = []
    for a in extra:
        for k, v in substitutions.items():
            a = a.replace("{" + k + "}", str(v))
        tail.append(a)
    opts = dict(defaults)
    for flag in list(opts):
        if flag in tail:
            i = tail.index(flag)
            opts[flag] = tail.pop(i + 1)
            tail.pop(i)
    return [*command, *(x for kv in opts.items() for x in kv), "--quiet", *tail]
