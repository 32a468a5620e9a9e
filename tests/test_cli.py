"""The CLI end to end, in-process through main(argv), on tiny settings."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from textgan.api import RECIPES_DIR
from textgan.cli import main

QUICK = str(RECIPES_DIR / "quickstart.yaml")
TINY = ["--set", "mle.epochs=2", "--set", "data.num_train=256", "--set", "data.num_test=64",
        "--set", "eval.every=1", "--set", "eval.num_samples=64", "--quiet"]


def run_quick(tmp_path: Path, name: str, *extra: str) -> Path:
    out = tmp_path / name
    assert main(["run", QUICK, "--out", str(out), *TINY, *extra]) == 0
    return out


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def auto_device() -> str:
    """The device a recipe's ``device: auto`` resolves to on this machine."""
    try:
        from textgan.device import resolve_device
    except ImportError:  # before the move of the run folder code into textgan.engine
        from textgan.train.loop import resolve_device
    return str(resolve_device("auto"))


def test_run_writes_a_complete_folder_and_is_reproducible(tmp_path, capsys):
    run = run_quick(tmp_path, "a")  # the quickstart recipe's device: auto
    for name in ("recipe.yaml", "run.json", "metrics.jsonl", "learning_curve.png", "samples/mle_epoch002.txt",
                 "checkpoints/last/model.safetensors", "checkpoints/last/config.json", "checkpoints/last/vocab.json"):
        assert (run / name).is_file(), name
    env = json.loads((run / "run.json").read_text())
    device = auto_device()
    assert env["seed"] == 0 and env["device"] == device and env["versions"]["torch"]
    recs = records(run)
    assert [r["epoch"] for r in recs] == [0, 1, 2]
    assert recs[0]["nll_oracle"] > recs[-1]["nll_oracle"]  # MLE improves the samples' oracle likelihood
    assert "nll_oracle" in capsys.readouterr().out
    # Same seed, same numbers: checked on the CPU, whose kernels are deterministic (several CUDA
    # kernels, e.g. atomics in backward passes, are not, and this run does not ask for determinism).
    if device != "cpu":
        recs = records(run_quick(tmp_path, "a-cpu", "--set", "device=cpu"))
    again = records(run_quick(tmp_path, "b", "--set", "device=cpu"))
    assert json.loads((tmp_path / "b" / "run.json").read_text())["device"] == "cpu"
    strip = lambda rs: [{k: v for k, v in r.items() if k != "time"} for r in rs]  # noqa: E731
    assert strip(again) == strip(recs)


def test_generate_writes_jsonl_with_settings(tmp_path, capsys):
    run = run_quick(tmp_path, "r")
    out = tmp_path / "gen.jsonl"
    assert main(["generate", str(run), "--num", "7", "--out", str(out), "--temperature", "0.8", "--top-k", "50",
                 "--seed", "3"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 7 and [r["id"] for r in rows] == list(range(7))
    assert {"temperature": 0.8, "top_k": 50, "top_p": 1.0, "seed": 3, "max_len": 20}.items() <= rows[0]["sampling"].items()
    assert rows[0]["label"] == "generated" and len(rows[0]["text"].split()) == 20
    again = tmp_path / "gen2.jsonl"
    main(["generate", str(run), "--num", "7", "--out", str(again), "--temperature", "0.8", "--top-k", "50", "--seed", "3"])
    assert again.read_text() == out.read_text()


@pytest.mark.parametrize("argv, message", [
    (["run", QUICK, "--set", "mle.epoks=1"], "did you mean 'mle.epochs'"),
    (["run", "no/such/recipe.yaml"], "not found"),
    (["run", QUICK, "--set", "data.corpus=coco_capshuns"], "unknown corpus"),
    (["generate", "/nonexistent/run", "--num", "3", "--out", "x.jsonl"], "no checkpoint"),
    (["evaluate", "--samples", "/nonexistent.txt"], "not found"),
])
def test_user_errors_are_one_line_with_exit_2(tmp_path, capsys, argv, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = [a if a != "--out" else a for a in argv]
    if argv[0] == "run":
        argv += ["--out", str(tmp_path / "run")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "x.jsonl").exists()


def test_nan_loss_stops_with_a_one_line_error_and_no_checkpoint(tmp_path, capsys):
    out = tmp_path / "nan"
    assert main(["run", QUICK, "--out", str(out), *TINY, "--set", "mle.lr=.inf", "--set", "mle.grad_clip=0"]) == 2
    err = capsys.readouterr().err
    assert "loss became nan" in err and "lower mle.lr" in err
    assert not (out / "checkpoints").exists()


def test_recipes_and_corpus_listing(capsys):
    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    assert "quickstart.yaml" in out and "mle/synthetic_oracle.yaml" in out
    assert main(["corpus", "list"]) == 0
    assert "coco_captions" in capsys.readouterr().out
    assert main(["corpus", "info", "synthetic_oracle"]) == 0
    assert "SeqGAN" in capsys.readouterr().out


def test_dry_run_prints_the_resolved_recipe(capsys):
    assert main(["run", QUICK, "--dry-run", "--set", "mle.lr=1e-3"]) == 0
    assert "lr: 0.001" in capsys.readouterr().out


def test_evaluate_scores_files_like_nltk(tmp_path, capsys):
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    samples = ["a cat sits on the mat", "the dog runs in the park"]
    refs = ["a cat is on the mat", "a dog runs in a park", "the bird sings"]
    (tmp_path / "s.txt").write_text("\n".join(samples) + "\n")
    (tmp_path / "r.txt").write_text("\n".join(refs) + "\n")
    out = tmp_path / "m.json"
    assert main(["evaluate", "--samples", str(tmp_path / "s.txt"), "--references", str(tmp_path / "r.txt"),
                 "--train", str(tmp_path / "r.txt"), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    ref_tokens = [r.split() for r in refs]
    for n in (2, 3):
        expected = sum(sentence_bleu(ref_tokens, s.split(), weights=(1 / n,) * n,
                                     smoothing_function=SmoothingFunction().method1) for s in samples) / 2
        assert abs(result[f"bleu{n}"] - expected) < 1e-12
    assert result["copied"] == 0.0 and result["len_mean"] == 6.0


def test_quality_diversity_sweep_on_the_oracle(tmp_path, capsys):
    run = run_quick(tmp_path, "qd")
    assert main(["evaluate", "--run", str(run), "--temperatures", "0.5,1.0,2.0", "--num-samples", "64"]) == 0
    rows = json.loads((run / "quality_diversity.json").read_text())
    assert [r["temperature"] for r in rows] == [0.5, 1.0, 2.0]
    # Colder sampling gives likelier samples under the generator: NLL-test rises as T falls far below 1.
    assert rows[0]["nll_test"] > rows[1]["nll_test"]
    assert (run / "quality_diversity.png").stat().st_size > 1000


def test_import_has_no_side_effects(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "TEXTGAN_CACHE": str(tmp_path / "cache")}
    code = "import sys, textgan; print('torch' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "False"  # importing textgan does not even load torch
    assert list(tmp_path.iterdir()) == []


def test_text_corpus_run_with_tokenizer_saved_and_truncation_reported(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    lines = ["the cat sat on the mat .", "a dog ran in the park , fast .", "birds sing in the morning ."] * 20
    (corpus / "train.txt").write_text("\n".join(lines) + "\n")
    (corpus / "test.txt").write_text("the cat ran in the park .\nbirds sat on the mat .\n")
    out = tmp_path / "run"
    assert main(["run", QUICK, "--out", str(out), "--quiet", "--set", f"data.corpus={corpus}", "--set", "data.tokenizer=nltk",
                 "--set", "data.max_len=8", "--set", "mle.epochs=2", "--set", "mle.batch_size=8",
                 "--set", "eval.metrics=[nll_test,bleu,self_bleu]", "--set", "eval.num_samples=20", "--set", "eval.every=1"]) == 0
    env = json.loads((out / "run.json").read_text())
    assert env["n_truncated"] == 20  # only the 8-token dog sentence exceeds 8 - 1 tokens
    last = records(out)[-1]
    assert 0.0 <= last["bleu2"] <= 1.0 and 0.0 <= last["self_bleu2"] <= 1.0 and last["nll_test"] > 0
    assert json.loads((out / "checkpoints" / "last" / "config.json").read_text())["tokenizer"]["kind"] == "nltk"
    gen = tmp_path / "g.jsonl"
    assert main(["generate", str(out), "--num", "5", "--out", str(gen)]) == 0
    texts = [json.loads(line)["text"] for line in gen.read_text().splitlines()]
    from textgan.data.tokenizers import build_tokenizer

    # The texts read back as vocabulary words whatever the samples (the device draws its own):
    # nltk's detokenizer alone can glue punctuation into words (a mid-line "mat ." came back as "mat.").
    words = set(" ".join(lines).split()) | {"<unk>"}
    tok = build_tokenizer("nltk")
    assert len(texts) == 5 and all(set(tok.tokenize(t.replace("<unk>", ""))) <= words for t in texts), texts
    assert not any("<pad>" in t or "<bos>" in t or "<eos>" in t for t in texts)
