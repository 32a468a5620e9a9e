"""`textgan bench evaluate` (small sizes) and `textgan evaluate --metrics all`."""

from __future__ import annotations

import json

from textgan.bench.evaluate import NGRAM_METRICS, bench_evaluate, format_evaluate_bench
from textgan.cli import main

TINY_LM = dict(embed_dim=8, hidden_dim=16, max_epochs=1, batch_size=64)


def test_bench_evaluate_small(tiny_encoder):
    r = bench_evaluate(n=150, encoder=str(tiny_encoder), lm_options=TINY_LM)
    assert r["n"] == 150 and all(r[f"{m}_s"] >= 0 for m in NGRAM_METRICS)
    assert {"lm_s", "frechet_s", "ngram_s"} <= set(r)
    assert {"bleu2", "self_bleu5", "bleu_b4", "ms_jaccard3", "token_entropy", "lm_score", "reverse_lm_score",
            "frechet"} <= set(r["values"])
    text = format_evaluate_bench(r)
    assert "n-gram metrics together" in text and "LM + reverse LM" in text and "Frechet" in text
    assert "LM epochs (best / trained): lm_score 1/1" in text


def test_bench_evaluate_cli(tiny_encoder, capsys):
    assert main(["bench", "evaluate", "--num", "100", "--no-lm", "--encoder", str(tiny_encoder)]) == 0
    out = capsys.readouterr().out
    assert "evaluate bench: 100 samples" in out and "LM + reverse" not in out


def test_evaluate_metrics_all_cli(tmp_path, tiny_encoder, capsys):
    samples = ["a cat sits on the mat", "the dog runs in the park", "a bird sings", "the man rides a horse"] * 3
    refs = ["a cat is on the mat", "a dog runs in a park", "the bird sings in a tree", "a woman reads"] * 3
    (tmp_path / "s.txt").write_text("\n".join(samples) + "\n")
    (tmp_path / "r.txt").write_text("\n".join(refs) + "\n")
    out = tmp_path / "all.json"
    assert main(["evaluate", "--samples", str(tmp_path / "s.txt"), "--references", str(tmp_path / "r.txt"),
                 "--train", str(tmp_path / "r.txt"), "--metrics", "all", "--encoder", str(tiny_encoder),
                 "--lm-epochs", "1", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    for key in ("bleu2", "self_bleu2", "bleu_f2", "bleu_b2", "bleu_ha2", "ms_jaccard2", "distinct1", "token_entropy",
                "copied", "len_mean", "lm_score", "reverse_lm_score", "frechet", "fingerprint"):
        assert key in result, key
    assert result["protocol"]["lm"]["config"]["max_epochs"] == 1
    assert result["protocol"]["features"]["encoder"] == tiny_encoder.name
    printed = capsys.readouterr().out
    assert "lm_score" in printed and "fingerprint" in printed
