"""`textgan generate`: each bad input or fault ends in one `error:` line, exit 2, nothing left behind."""

import os
from pathlib import Path

import pytest

from tests.errors.cases import damaged_copy, special_out


CASES = {
    "num_zero": (["--num", "0"], "--num must be positive"),
    "threads_zero": (["--threads", "0"], "--threads must be a positive number"),
    "shard_size_zero": (["--shard-size", "0"], "--shard-size"),
    "batch_size_zero": (["--batch-size", "0"], "--batch-size"),
    "csv_extension": (["--out", "{tmp}/g.csv"], "end it with .jsonl or .parquet"),
    "txt_extension": (["--out", "{tmp}/g.txt"], "not a format"),
    "parquet_to_stdout": (["--out", "-", "--format", "parquet"], "standard output"),
    "top_p_zero": (["--top-p", "0"], "top-p must be in"),
    "temperature_zero": (["--temperature", "0"], "temperature must be > 0"),
    "min_len_above_max_len": (["--min-len", "9", "--max-len", "3"], "raise --max-len"),
    "max_len_huge": (["--max-len", "1000000000"], "lower --max-len"),
    "missing_checkpoint": (["{tmp}/no/such/run"], "no checkpoint"),
    "train_copies_without_train": (["--drop-train-copies"], "pass --train"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_settings(case, inputs, tmp_path, work, fails):
    extra, words = CASES[case]
    extra = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    ckpt = extra.pop(0) if extra and extra[0].startswith(str(tmp_path / "no")) else str(inputs["lm"])
    argv = ["generate", ckpt, "--num", "3", "--out", str(work / "g.jsonl"), "--quiet", *extra]
    line = fails(argv, tmp_path)
    assert words in line, line


@pytest.mark.parametrize("kind", ["symlink", "fifo", "device", "folder"])
def test_special_outputs_are_never_replaced(kind, inputs, tmp_path, work, fails):
    out = special_out(tmp_path, kind)
    before = os.lstat(out)
    line = fails(["generate", inputs["lm"], "--num", "3", "--out", out, "--quiet"], tmp_path)
    assert "textgan does not replace" in line or "is a folder" in line
    after = os.lstat(out)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    assert not Path(f"{out}.manifest.json").exists() and not Path(f"{out}.parts").exists()


@pytest.mark.parametrize("how, words", [("truncated", "damaged or truncated"), ("garbage", "damaged or truncated"),
                                        ("sizes", "disagrees with"), ("unknown_field", "damaged"),
                                        ("no_args", "damaged"), ("not_json", "config.json")])
def test_damaged_checkpoints_are_named(how, words, inputs, tmp_path, work, fails):
    ckpt = damaged_copy(inputs["lm"], tmp_path / f"ckpt-{how}", how)
    line = fails(["generate", ckpt, "--num", "3", "--out", work / "g.jsonl", "--quiet"], tmp_path)
    assert words in line and str(ckpt) in line and "re-save" in line, line


def test_read_only_output_folder(inputs, tmp_path, work, fails, read_only):
    ro = read_only(work / "ro")
    line = fails(["generate", inputs["lm"], "--num", "3", "--out", ro / "g.jsonl", "--quiet"], tmp_path)
    assert "permission denied" in line and "--out" in line


def test_full_disk(inputs, tmp_path, work, fails, disk_full):
    line = fails(["generate", inputs["lm"], "--num", "3", "--out", work / "g.jsonl", "--quiet"], tmp_path)
    assert "no space left" in line and "free some space" in line


def test_max_len_above_the_model_warns_and_works(inputs, work, capsys, caplog):
    from textgan.cli import main

    assert main(["generate", str(inputs["lm"]), "--num", "2", "--out", str(work / "g.jsonl"), "--max-len", "30",
                 "--quiet"]) == 0
    assert "above the model's training length 8" in caplog.text
