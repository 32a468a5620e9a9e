"""`textgan evaluate`: each bad input or fault ends in one `error:` line, exit 2, nothing left behind."""

import os
from pathlib import Path

import pytest

from tests.errors.cases import special_out

CASES = {
    "orders_not_numbers": (["--orders", "0,x"], "--orders takes comma-separated whole numbers"),
    "orders_zero": (["--orders", "0"], "n-gram sizes of 1 or more"),
    "threads_zero": (["--threads", "0"], "--threads must be a positive number"),
    "orders_negative": (["--orders", "2,-1"], "n-gram sizes of 1 or more"),
    "orders_empty": (["--orders", ""], "--orders"),
    "missing_samples": (["--samples", "{tmp}/nope.txt"], "not found"),
    "empty_samples": (["--samples", "{empty}"], "empty"),
    "binary_samples": (["--samples", "{binary}"], "UTF-8"),
    "plain_text_under_another_extension": (["--samples", "{pos}"], "name it (or a link to it) texts.txt"),
    "unknown_reference_corpus": (["--references", "coco_capshuns"], "unknown corpus"),
    "missing_train_file": (["--train", "{tmp}/nope/train.txt"], "not found"),
    "no_samples": ([None, "--metrics", "length"], "evaluate needs --samples"),
    "sweep_bad_temperatures": (["--run", "{tmp}", "--temperatures", "hot"], "--temperatures takes"),
    "sweep_zero_samples": (["--run", "{tmp}", "--num-samples", "0"], "--num-samples must be positive"),
    "sweep_to_stdout": (["--run", "{tmp}", "--out", "-"], "folder"),
}


def build(extra: list, inputs: dict, tmp_path: Path) -> list:
    """``evaluate --samples TEXTS`` plus ``extra`` (``None`` first: without --samples)."""
    head = ["evaluate"] if extra[:1] == [None] else ["evaluate", "--samples", str(inputs["texts"])]
    subst = {"{tmp}": str(tmp_path), "{empty}": str(inputs["empty"]), "{binary}": str(inputs["binary"]),
             "{pos}": str(inputs["pos"])}
    tail = []
    for a in extra:
        if a is None:
            continue
        for k, v in subst.items():
            a = a.replace(k, v)
        tail.append(a)
    return head + tail


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_settings(case, inputs, tmp_path, work, fails):
    extra, words = CASES[case]
    line = fails(build(extra, inputs, tmp_path), tmp_path)
    assert words in line, line


@pytest.mark.parametrize("kind", ["symlink", "fifo", "device", "folder"])
def test_special_outputs_are_never_replaced(kind, inputs, tmp_path, work, fails):
    out = special_out(tmp_path, kind)
    before = os.lstat(out)
    fails(["evaluate", "--samples", inputs["texts"], "--out", out], tmp_path)
    after = os.lstat(out)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)


def test_sweep_into_a_foreign_folder(inputs, tmp_path, work, fails):
    (work / "mine").mkdir()
    (work / "mine" / "notes.txt").write_text("mine\n")
    line = fails(["evaluate", "--run", work / "mine", "--out", work / "mine"], tmp_path)
    assert "did not write" in line


def test_read_only_output_folder(inputs, tmp_path, work, fails, read_only):
    ro = read_only(work / "ro")
    line = fails(["evaluate", "--samples", inputs["texts"], "--out", ro / "m.json"], tmp_path)
    assert "permission denied" in line


def test_full_disk(inputs, tmp_path, work, fails, disk_full):
    line = fails(["evaluate", "--samples", inputs["texts"], "--out", work / "m.json"], tmp_path)
    assert "no space left" in line


def test_json_to_standard_output(inputs, work, capsys):
    import json

    from textgan.cli import main

    assert main(["evaluate", "--samples", str(inputs["texts"]), "--metrics", "distinct,length", "--out", "-"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert "distinct2" in result or any(k.startswith("distinct") for k in result)
    assert not list(work.iterdir())
