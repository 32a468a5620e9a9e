"""`textgan bench detection` at a small size: every stage and detector timed, the counts add up."""

from __future__ import annotations

from textgan.bench.detection import bench_detection, format_detection_bench
from textgan.cli import main


def test_bench_detection_small(tmp_path):
    r = bench_detection(n=300, threads=1, workdir=tmp_path)
    counts = r["counts"]
    assert r["n"] == sum(c["real"] + c["generated"] for c in counts.values()) <= 300
    assert all(c["real"] == c["generated"] > 0 for c in counts.values())
    assert set(r["auroc"]) == {"cnn", "tfidf_logreg", "zero_shot_loglik", "zero_shot_logrank"}
    s = r["seconds"]
    assert abs(s["total"] - s["dataset"] - s["report"]) <= 0.11 and s["cnn_training"] <= s["report"]
    assert r["met"] == (s["total"] < 600)
    text = format_detection_bench(r)
    assert "**total** (target 600 s" in text and "CNN training" in text
    # The prepared generator and texts are reused on a second call with the same folder.
    assert (tmp_path / "generator" / "checkpoints").is_dir() and (tmp_path / "generated.jsonl").is_file()


def test_bench_detection_cli_with_transformer(tmp_path, capsys):
    assert main(["bench", "detection", "--num", "200", "--threads", "1", "--transformer",
                 "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "transformer detector" in out and "test AUROC" in out and "transformer " in out.split("test AUROC")[1]
