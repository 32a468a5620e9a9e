"""`textgan corpus detection`: each bad input or fault ends in one `error:` line, exit 2, nothing left behind."""

import os

import pytest

from tests.errors.cases import command_argv, special_out

CASES = {
    "missing_generated": (["--generated", "{tmp}/nope.jsonl"], "not found"),
    "generated_not_jsonl": (["--generated", "{notjson}"], "not a JSON object"),
    "test_fraction_zero": (["--test-fraction", "0"], "fractions"),
    "fractions_sum_to_one": (["--validation-fraction", "0.5", "--test-fraction", "0.5"], "sum below 1"),
    "max_per_class_zero": (["--max-per-class", "0"], "--max-per-class must be positive"),
    "real_max_tokens_zero": (["--real-max-tokens", "0"], "--real-max-tokens must be positive"),
    "epochs_zero": (["--report", "--epochs", "0"], "--epochs must be positive"),
    "threads_zero": (["--threads", "0"], "--threads must be a positive number"),
    "unknown_real_corpus": (["--real", "emnlp_nws"], "unknown corpus"),
    "empty_real_file": (["--real", "{empty}"], "empty"),
    "real_csv_without_text_column": (["--real", "{csv}"], "--text-column"),
    "out_to_stdout": (["--out", "-"], "not a stream"),
}


def argv_for(extra, inputs, tmp_path, work):
    defaults = {"--real": str(inputs["texts"]), "--generated": str(inputs["gen"]), "--out": str(work / "det")}
    return command_argv(["corpus", "detection"], defaults, extra, {"tmp": tmp_path, "work": work, **inputs})


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_settings(case, inputs, tmp_path, work, fails):
    extra, words = CASES[case]
    line = fails(argv_for(extra, inputs, tmp_path, work), tmp_path)
    assert words in line, line
    assert "text_column=<" not in line


@pytest.mark.parametrize("kind", ["symlink", "fifo", "device", "file", "foreign_folder"])
def test_outputs_that_are_not_textgan_folders_are_never_replaced(kind, inputs, tmp_path, work, fails):
    if kind == "file":
        out = work / "det"
        out.write_text("mine\n")
    elif kind == "foreign_folder":
        out = work / "det"
        out.mkdir()
        (out / "notes.txt").write_text("mine\n")
    else:
        out = special_out(tmp_path, kind)
    before = os.lstat(out)
    line = fails(argv_for(["--out", str(out)], inputs, tmp_path, work), tmp_path)
    assert any(w in line for w in ("textgan does not replace", "is a file", "did not write")), line
    after = os.lstat(out)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    if kind == "foreign_folder":
        assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_read_only_output_folder(inputs, tmp_path, work, fails, read_only):
    ro = read_only(work / "ro")
    line = fails(argv_for(["--out", str(ro / "det")], inputs, tmp_path, work), tmp_path)
    assert "permission denied" in line


def test_full_disk(inputs, tmp_path, work, fails, disk_full):
    line = fails(argv_for([], inputs, tmp_path, work), tmp_path)
    assert "no space left" in line
