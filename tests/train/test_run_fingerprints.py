"""Runs record the protocol of their evaluations: a fingerprint in every ``metrics.jsonl`` record,
the protocol in ``run.json``, and a note in a seeds summary when the seeds' protocols differ."""

import json
from pathlib import Path

import pytest

from tests.train.engine_cases import write_news_corpus
from textgan import api
from textgan.errors import TextganError
from textgan.metrics.fingerprint import fingerprint, texts_hash
from textgan.multiseed import fingerprint_note

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
TEXT = ["mle.epochs=2", "data.max_vocab=200", "data.max_len=12", "generator.embed_dim=8", "generator.hidden_dim=8",
        "eval.num_samples=40", "eval.save_samples=40", "eval.every=1", "threads=1", "device=cpu",
        "eval.metrics=[nll_test,bleu,self_bleu,fbleu,ms_jaccard,distinct,entropy,novelty,length]"]


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def text_run(tmp_path: Path, name: str, *extra: str) -> Path:
    corpus = write_news_corpus(tmp_path / "news")
    overrides = [f"data.corpus={corpus}", "data.train_split=train", *TEXT, *extra]
    return api.train(RECIPES / "mle" / "synthetic_oracle.yaml", out_dir=tmp_path / name, overrides=overrides,
                     progress=False).path


def test_every_record_carries_the_runs_fingerprint_and_the_extra_metrics_match_evaluate(tmp_path):
    run = text_run(tmp_path, "a")
    info = json.loads((run / "run.json").read_text())
    proto = info["eval_protocol"]["protocol"]
    assert info["eval_protocol"]["fingerprint"] == fingerprint(proto)
    recs = records(run)
    assert len(recs) == 3 and all(r["fingerprint"] == fingerprint(proto) for r in recs)
    assert info["final_metrics"]["fingerprint"] == fingerprint(proto)
    test_texts = (tmp_path / "news" / "test.txt").read_text().splitlines()
    assert proto["references_sha256"] == texts_hash(test_texts)
    assert proto["num_samples"] == 40 and proto["blank_lines"] == "keep" and proto["source"] == "run evaluation"
    assert proto["nll_test_rows"] == 80 and proto["nll_test_sha256"]
    # The run's numbers are those `textgan evaluate` gives on the same samples (all 40 were saved).
    last = recs[-1]
    samples = run / "samples" / "mle_epoch002.txt"
    result = api.evaluate(samples, tmp_path / "news" / "test.txt", tmp_path / "news" / "train.txt",
                          metrics=("bleu", "self_bleu", "fbleu", "ms_jaccard", "distinct", "entropy", "novelty",
                                   "length"), blank_lines="keep")
    for key in ("bleu3", "self_bleu2", "bleu_f3", "bleu_b3", "bleu_ha4", "ms_jaccard3", "distinct2",
                "token_entropy", "copied", "novel_3gram", "len_mean"):
        assert last[key] == pytest.approx(result[key], abs=1e-12), key


def test_the_fingerprint_follows_the_protocol_not_the_seed(tmp_path):
    a = records(text_run(tmp_path, "a"))[-1]["fingerprint"]
    seed1 = records(text_run(tmp_path, "b", "seed=1"))[-1]["fingerprint"]
    fewer = records(text_run(tmp_path, "c", "eval.num_samples=30"))[-1]["fingerprint"]
    nltk = records(text_run(tmp_path, "d", "eval.tokenizer=nltk"))[-1]["fingerprint"]
    assert a == seed1
    assert len({a, fewer, nltk}) == 3


def test_oracle_runs_fingerprint_the_oracle_and_the_test_ids(tmp_path):
    overrides = ["mle.epochs=1", "data.num_train=64", "data.num_test=32", "eval.num_samples=16", "threads=1",
                 "device=cpu"]
    run = api.train(RECIPES / "quickstart.yaml", out_dir=tmp_path / "q", overrides=overrides, progress=False).path
    proto = json.loads((run / "run.json").read_text())["eval_protocol"]["protocol"]
    assert proto["oracle_sha256"] and proto["nll_test_sha256"] and proto["references_sha256"] is None


def test_seeds_summary_notes_mixed_protocols():
    assert "the same for every seed" in fingerprint_note({"0": ["abc"], "1": ["abc"]})
    mixed = fingerprint_note({"0": ["abc"], "1": ["def"]})
    assert mixed.startswith("**Note") and "seed 0: abc" in mixed and "seed 1: def" in mixed
    assert fingerprint_note({"0": ["abc", "def"]}).startswith("**Note")  # one seed, two protocols
    assert "none recorded" in fingerprint_note({})


@pytest.mark.parametrize("metric", ["lm_score", "frechet"])
def test_costly_metrics_in_a_run_are_refused_with_the_command_that_computes_them(metric):
    from textgan.config import load_recipe

    with pytest.raises(TextganError, match="textgan evaluate"):
        load_recipe(RECIPES / "quickstart.yaml", [f"eval.metrics=[nll_test,{metric}]"])
