"""`textgan embed`: each bad input or fault ends in one `error:` line, exit 2, nothing left behind."""

import os

import pytest

from tests.errors.cases import command_argv, damaged_copy, special_out

CASES = {
    "csv_extension": (["--out", "{work}/v.csv"], "unsupported embedding file"),
    "batch_size_zero": (["--batch-size", "0"], "--batch-size must be positive"),
    "threads_zero": (["--threads", "0"], "--threads must be a positive number"),
    "missing_input": (["--input", "{tmp}/nope.txt"], "not found"),
    "empty_input": (["--input", "{empty}"], "empty"),
    "undecodable_input": (["--input", "{latin1}"], "UTF-8"),
    "csv_without_text_column": (["--input", "{csv}"], "--text-column"),
    "unknown_text_column": (["--input", "{csv}", "--text-column", "bodyy"], "--text-column"),
    "unknown_corpus": (["--input", "newsgroups21"], "unknown corpus"),
    "language_model_checkpoint": (["--model", "{lm}"], "not a document model"),
    "missing_model": (["--model", "{tmp}/no/run"], "no checkpoint"),
}


def argv_for(extra, inputs, tmp_path, work):
    defaults = {"--model": str(inputs["doc"]), "--input": str(inputs["texts"]), "--out": str(work / "v.npy")}
    return command_argv(["embed"], defaults, extra, {"tmp": tmp_path, "work": work, **inputs})


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_settings(case, inputs, tmp_path, work, fails):
    extra, words = CASES[case]
    line = fails(argv_for(extra, inputs, tmp_path, work), tmp_path)
    assert words in line, line
    assert "text_column=<" not in line


@pytest.mark.parametrize("kind", ["symlink", "fifo", "device", "folder"])
def test_special_outputs_are_never_replaced(kind, inputs, tmp_path, work, fails):
    out = special_out(tmp_path, kind)
    before = os.lstat(out)
    line = fails(["embed", "--model", inputs["doc"], "--input", inputs["texts"], "--out", out, "--quiet"], tmp_path)
    assert "textgan does not replace" in line or "is a folder" in line, line
    after = os.lstat(out)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)


@pytest.mark.parametrize("how, words", [("truncated", "damaged or truncated"), ("sizes", "disagrees with"),
                                        ("unknown_field", "damaged"), ("not_json", "config.json")])
def test_damaged_checkpoints_are_named(how, words, inputs, tmp_path, work, fails):
    ckpt = damaged_copy(inputs["doc"], tmp_path / f"doc-{how}", how)
    line = fails(["embed", "--model", ckpt, "--input", inputs["texts"], "--out", work / "v.npy", "--quiet"], tmp_path)
    assert words in line and str(ckpt) in line, line


def test_read_only_output_folder(inputs, tmp_path, work, fails, read_only):
    ro = read_only(work / "ro")
    line = fails(["embed", "--model", inputs["doc"], "--input", inputs["texts"], "--out", ro / "v.jsonl", "--quiet"],
                 tmp_path)
    assert "permission denied" in line


def test_full_disk(inputs, tmp_path, work, fails, disk_full):
    line = fails(["embed", "--model", inputs["doc"], "--input", inputs["texts"], "--out", work / "v.jsonl", "--quiet"],
                 tmp_path)
    assert "no space left" in line


def test_vectors_to_standard_output(inputs, work, capsys):
    import json

    from textgan.cli import main

    assert main(["embed", "--model", str(inputs["doc"]), "--input", str(inputs["texts"]), "--out", "-", "--quiet"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 40 and len(rows[0]["embedding"]) == 3
    assert not list(work.iterdir())


def test_the_model_goes_first_as_in_generate_or_after_model(inputs, tmp_path, work, fails, capsys):
    """`textgan embed RUN ...` as `textgan generate RUN ...`; --model still works; none or two differing
    models are one-line errors."""
    import numpy as np

    from textgan.cli import main

    doc, texts = str(inputs["doc"]), str(inputs["texts"])
    assert main(["embed", doc, "--input", texts, "--out", str(work / "a.npy"), "--quiet"]) == 0
    assert main(["embed", "--model", doc, "--input", texts, "--out", str(work / "b.npy"), "--quiet"]) == 0
    assert np.array_equal(np.load(work / "a.npy"), np.load(work / "b.npy"))
    assert "needs the ADM run or checkpoint folder" in fails(["embed", "--input", texts, "--out", work / "c.npy"], tmp_path)
    assert "two models given" in fails(["embed", doc, "--model", str(tmp_path), "--input", texts,
                                        "--out", work / "c.npy"], tmp_path)
