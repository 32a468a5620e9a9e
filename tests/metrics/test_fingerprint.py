"""Protocol fingerprints, and `evaluate_texts` / `textgan evaluate` carrying them with the new
n-gram metrics and Texygen's protocol options (blank lines, fast BLEU and Self-BLEU)."""

from __future__ import annotations

import json
import math
import re

import pytest

from textgan.metrics.bleu import bleu, self_bleu
from textgan.metrics.fingerprint import fingerprint, protocol, texts_hash
from textgan.train.evaluation import evaluate_texts

SAMPLES = ["a cat sits on the mat", "the dog runs in the park", "a cat runs", "the mat"]
REFS = ["a cat is on the mat", "a dog runs in a park", "the bird sings"]


def test_texts_hash_is_order_and_content_sensitive():
    assert texts_hash(["a b", "c"]) == texts_hash([["a", "b"], ["c"]])
    assert texts_hash(["a b", "c"]) != texts_hash(["c", "a b"])
    assert texts_hash(["a b c"]) != texts_hash(["a b", "c"])  # lines are delimited
    assert texts_hash(None) is None and len(texts_hash(["x"])) == 16


@pytest.mark.parametrize("change", [
    {"references": ["a cat is on the mat"]}, {"tokenize": "nltk"}, {"orders": (2, 3)}, {"samples": 3},
    {"smoothing": "method0"}, {"epsilon": 0.2}, {"self_bleu": "first500"}, {"bleu_references": "first500"},
    {"blank_lines": "keep"}, {"train": ["x"]},
])
def test_every_protocol_field_changes_the_fingerprint(change):
    base = dict(samples=4, references=REFS)
    assert fingerprint(protocol(**base)) == fingerprint(protocol(**base))
    assert fingerprint(protocol(**base)) != fingerprint(protocol(**{**base, **change}))
    assert len(fingerprint(protocol(**base))) == 12


def test_evaluate_texts_new_metrics_and_fingerprint():
    out = evaluate_texts(SAMPLES, REFS, metrics=("bleu", "self_bleu", "fbleu", "ms_jaccard", "entropy"),
                         orders=(2, 3))
    assert out["bleu2"] == out["bleu_f2"] == bleu(SAMPLES, REFS, n=2)[2]
    assert out["bleu_b3"] == bleu(REFS, SAMPLES, n=3)[3]
    assert 0 < out["ms_jaccard2"] < 1 and out["token_entropy"] > 0
    assert out["protocol"]["references_sha256"] == texts_hash(REFS)
    assert out["fingerprint"] == fingerprint(out["protocol"])
    again = evaluate_texts(SAMPLES, REFS, metrics=("bleu", "self_bleu", "fbleu", "ms_jaccard", "entropy"),
                           orders=(2, 3))
    assert again["fingerprint"] == out["fingerprint"]
    other = evaluate_texts(SAMPLES, REFS[:2], metrics=("bleu",), orders=(2, 3))
    assert other["fingerprint"] != out["fingerprint"]


def test_texygen_fast_modes_and_blank_lines():
    samples = [f"w{i} w{i + 1} w{i + 2}" for i in range(600)]
    refs = [f"w{i} w{i + 1}" for i in range(0, 1200, 2)]
    fast = evaluate_texts(samples, refs, metrics=("bleu", "self_bleu"), orders=(2,), self_bleu_first=500,
                          bleu_first_references=500)
    assert fast["self_bleu2"] == self_bleu(samples[:500], n=2)[2]
    assert fast["bleu2"] == bleu(samples, refs[:500], n=2)[2] and fast["num_references"] == 500
    assert fast["protocol"]["self_bleu"] == "first500" and fast["protocol"]["bleu_references"] == "first500"
    full = evaluate_texts(samples, refs, metrics=("bleu", "self_bleu"), orders=(2,))
    assert full["fingerprint"] != fast["fingerprint"]
    with_blank = ["a cat sits on the mat", "", "the mat"]
    kept = evaluate_texts(with_blank, REFS, metrics=("bleu",), orders=(2,))  # the default: scored as given
    dropped = evaluate_texts(with_blank, REFS, metrics=("bleu",), orders=(2,), blank_lines="drop")
    assert kept["num_samples"] == 3 and dropped["num_samples"] == 2
    assert math.isclose(kept["bleu2"] * 3, dropped["bleu2"] * 2)  # the empty sentence scores 0


def test_all_selects_the_metrics_whose_inputs_are_given():
    out = evaluate_texts(SAMPLES, None, metrics=("all",), orders=(2,))
    assert "self_bleu2" in out and "token_entropy" in out and "bleu2" not in out and "copied" not in out
    assert "lm_score" not in out and "frechet" not in out


def test_cli_prints_and_writes_the_fingerprint(tmp_path, capsys):
    from textgan.cli import main

    (tmp_path / "s.txt").write_text("\n".join(SAMPLES[:2]) + "\n\n" + "\n".join(SAMPLES[2:]) + "\n")
    (tmp_path / "r.txt").write_text("\n".join(REFS) + "\n")
    base = ["evaluate", "--samples", str(tmp_path / "s.txt"), "--references", str(tmp_path / "r.txt"),
            "--metrics", "bleu,self_bleu,fbleu,ms_jaccard,entropy"]
    assert main(base + ["--out", str(tmp_path / "a.json")]) == 0
    printed = capsys.readouterr().out
    a = json.loads((tmp_path / "a.json").read_text())
    assert re.search(rf"^fingerprint +{a['fingerprint']}$", printed, re.M) and "protocol: tokenizer=whitespace" in printed
    assert a["num_samples"] == 4 and a["protocol"]["blank_lines"] == "drop"
    assert {"bleu_f2", "bleu_b5", "bleu_ha4", "ms_jaccard5", "token_entropy"} <= set(a)
    assert main(base + ["--blank-lines", "keep", "--fast-self-bleu", "--out", str(tmp_path / "b.json")]) == 0
    b = json.loads((tmp_path / "b.json").read_text())
    assert b["num_samples"] == 5 and b["protocol"]["self_bleu"] == "first500"
    assert b["fingerprint"] != a["fingerprint"]


def test_outcomes_are_recorded_but_not_fingerprinted():
    """What a procedure measured (the LM scores' epochs, held-out NLL, seconds) is kept in the
    protocol under ``training`` but leaves the fingerprint alone: two sample sets scored the same
    way share one fingerprint."""
    base = protocol(samples=2, references=REFS, lm={"config": {"max_epochs": 5}, "lm_score": {
        "training": {"epochs": 3, "seconds": 1.5}, "scored": 2}})
    other = protocol(samples=2, references=REFS, lm={"config": {"max_epochs": 5}, "lm_score": {
        "training": {"epochs": 5, "seconds": 9.0}, "scored": 2}})
    assert base != other and fingerprint(base) == fingerprint(other)
    changed = protocol(samples=2, references=REFS, lm={"config": {"max_epochs": 4}, "lm_score": {
        "training": {"epochs": 3, "seconds": 1.5}, "scored": 2}})
    assert fingerprint(changed) != fingerprint(base)
