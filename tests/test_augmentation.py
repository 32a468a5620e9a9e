"""The augmentation experiment (textgan.detection.augment, `textgan corpus augment`, docs/fake_news.md):
a classifier on real data versus real + label-conditional generated data, with bootstrap intervals."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import requires_corpora
from textgan.cli import main
from textgan.detection import augment
from textgan.detection.augment import accuracy_macro_f1, augmentation_experiment, map_labels, paired_bootstrap
from textgan.errors import TextganError

ROOT = Path(__file__).resolve().parents[1]
CONDITIONAL = ROOT / "recipes" / "conditional" / "liar_cpu.yaml"
AUGMENT = ROOT / "recipes" / "fake_news" / "liar_augment_cpu.yaml"
WORDS = {"down": "a b c d e".split(), "up": "f g h i j".split()}  # each label its own words


def _write_corpus(folder: Path, names: dict[str, str] | None = None) -> Path:
    """train / valid / test JSONL files of short texts; label "up" uses words f..j, "down" a..e
    (``names`` renames the labels in the files)."""
    rng = torch.Generator().manual_seed(0)
    folder.mkdir(parents=True)
    for split, n in (("train", 240), ("valid", 60), ("test", 60)):
        with open(folder / f"{split}.jsonl", "w") as f:
            for i in range(n):
                label = "up" if i % 3 else "down"
                k = int(torch.randint(3, 7, (1,), generator=rng))
                idx = torch.randint(0, 5, (k,), generator=rng).tolist()
                text = " ".join(WORDS[label][j] for j in idx)
                f.write(json.dumps({"text": text, "label": (names or {}).get(label, label)}) + "\n")
    return folder


def _sets(flags: list[str]) -> list[str]:
    return [x for f in flags for x in ("--set", f)]


TINY = ["mle.epochs=40", "eval.num_samples=16", "eval.every=40", "eval.every_adversarial=1", "eval.metrics=[nll_test]",
        "discriminator.embed_dim=8", "discriminator.filter_sizes=[1,2]", "discriminator.num_filters=[8,8]",
        "discriminator.pretrain_rounds=1", "discriminator.pretrain_epochs=1", "discriminator.num_negatives=32",
        "adversarial.batches=1", "adversarial.batch_size=8", "adversarial.num_rollouts=1", "generator.hidden_dim=16",
        "device=cpu", "threads=1"]


@pytest.fixture(scope="module")
def cond(tmp_path_factory):
    """A tiny label-conditional generator trained on the train split of a two-label folder corpus."""
    tmp = tmp_path_factory.mktemp("augment")
    corpus = _write_corpus(tmp / "corpus")
    run = tmp / "run"
    flags = [*TINY, f"data.corpus={corpus}", "data.tokenizer=whitespace", "data.lowercase=false", "data.min_freq=1",
             "data.max_len=8"]
    assert main(["run", str(CONDITIONAL), "--out", str(run), "--quiet", *_sets(flags)]) == 0
    return run, corpus


def _share_own_words(texts: list[str], label: str) -> float:
    toks = [t for text in texts for t in text.split() if t in WORDS["up"] + WORDS["down"]]
    return sum(t in WORDS[label] for t in toks) / max(len(toks), 1)


def test_metrics_match_sklearn_and_the_paired_interval_is_of_the_difference():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    a = np.where(rng.random(300) < 0.6, y, rng.integers(0, 3, 300))
    b = np.where(rng.random(300) < 0.8, y, rng.integers(0, 3, 300))
    acc, f1 = accuracy_macro_f1(y, a, 3)
    assert acc == pytest.approx((y == a).mean()) and f1 == pytest.approx(f1_score(y, a, average="macro"))
    ci = paired_bootstrap(y, a, b, 3, n=500, seed=1)
    diff = accuracy_macro_f1(y, b, 3)[0] - acc
    assert ci["difference"]["accuracy"][0] < diff < ci["difference"]["accuracy"][1]
    assert ci["difference"]["accuracy"][0] > 0  # b is clearly better
    same = paired_bootstrap(y, a, a, 3, n=200)
    assert same["difference"]["accuracy"] == [0.0, 0.0] and same["a"] == same["b"]


def test_label_mapping_by_name_case_and_map_and_its_errors():
    assert map_labels(["down", "up"], ["DOWN", "up"]) == {"down": "DOWN", "up": "up"}
    assert map_labels(["down", "up"], ["neg", "pos"], {"down": "neg", "up": "pos"}) == {"down": "neg", "up": "pos"}
    for args, needle in (((["down", "up"], ["down", "sideways"]), "'up'"),
                         ((["down", "up"], ["down", "up", "left"]), "'left'"),
                         ((["down", "up"], ["down", "up"], {"down": "up"}), "both map"),
                         ((["down", "up"], ["down", "up"], {"left": "up"}), "'left'")):
        with pytest.raises(TextganError, match=needle) as e:
            map_labels(*args)
        assert "\n" not in str(e.value)


def test_a_generated_unk_stays_one_token_in_the_shared_form():
    """nltk reads "<unk>" as "<", "unk", ">": without the guard in Canonicalizer.tokens a generated <unk>
    became three (a shortcut)."""
    from textgan.data.tokenizers import NltkTokenizer
    from textgan.data.vocab import Vocab
    from textgan.detection.canonical import Canonicalizer

    vocab = Vocab.build([["the", "senator", "said", '"', "``", "''", ".", "it", "$"]], min_freq=1)
    tok = NltkTokenizer(lowercase=True)
    assert tok.tokenize("the <unk> said").count("unk") == 1 and "<" in tok.tokenize("the <unk> said")  # the trap
    canon = Canonicalizer(tokenizer=tok, vocab=vocab, oov="unk")
    for text, unks in (("the <unk> said", 1), ('the senator said "it <unk>" .', 1), ("$<unk> <unk>.", 2),
                       ("The Zyxw senator said it.", 1)):
        once = canon(text, "generated")
        assert once.count("<unk>") == unks, (text, once)
        assert canon(once, "generated") == once  # stable when applied again


def test_the_experiment_reports_real_versus_augmented_with_paired_intervals(cond, tmp_path, monkeypatch):
    run, corpus = cond
    seen: list[tuple[list[str], list[int]]] = []
    fit = augment.tfidf_logreg_classifier

    def spy(train_texts, train_y, *rest, **kw):
        seen.append((list(train_texts), list(train_y)))
        return fit(train_texts, train_y, *rest, **kw)

    monkeypatch.setitem(augment._CLASSIFIERS, "tfidf_logreg", spy)
    out = tmp_path / "aug"
    report = augmentation_experiment(corpus, run, out, per_label=40, seeds=[0, 1], real_fractions=[1.0, 0.25],
                                     n_bootstrap=300)
    assert (out / "augmentation.json").is_file() and (out / "augmentation.md").is_file()
    assert json.loads((out / "augmentation.json").read_text())["runs"] == json.loads(json.dumps(report["runs"]))
    assert report["generator"]["label_map"] == {"down": "down", "up": "up"}
    assert report["real"]["splits"] == {"train": "train", "validation": "valid", "test": "test"}
    assert "never saw the test split" in report["held_out"]["statement"]
    assert [(r["real_fraction"], r["seed"]) for r in report["runs"]] == [(1.0, 0), (1.0, 1), (0.25, 0), (0.25, 1)]
    for r in report["runs"]:
        assert r["generated"] == 80 and r["generated_labels"] == {"down": 40, "up": 40}
        for part in ("real_only", "augmented"):
            for m in ("accuracy", "macro_f1"):
                lo, hi = r[part]["ci95"][m]
                assert 0 <= lo <= r[part][m] <= hi <= 1
        for m in ("accuracy", "macro_f1"):
            lo, hi = r["difference"]["ci95"][m]
            assert lo <= r["difference"][m] <= hi  # the paired interval holds the point difference
            assert r["difference"][m] == pytest.approx(r["augmented"][m] - r["real_only"][m])
    assert report["runs"][2]["real_train"] == 60  # 25 % of 240, stratified (20 down, 40 up)
    assert report["runs"][2]["real_train_labels"] == {"down": 20, "up": 40}
    row = report["summary"][0]
    assert row["real_fraction"] == 1.0 and row["real_only"]["accuracy"]["n"] == 2
    md = (out / "augmentation.md").read_text()
    assert "mean +- std (2)" in md and "difference [paired 95% CI]" in md

    # The generated rows carry the label they were generated for: rows labelled "up" use up's words.
    # (A shuffle of the labels would put down's words under "up".)
    texts, labels = seen[1]  # the augmented classifier of the first run: real rows, then generated rows
    real_n = report["runs"][0]["real_train"]
    gen_t, gen_y = texts[real_n:], labels[real_n:]
    assert len(gen_t) == 80
    k_up = report["real"]["classes"].index("up")
    up, down = [t for t, y in zip(gen_t, gen_y) if y == k_up], [t for t, y in zip(gen_t, gen_y) if y != k_up]
    assert _share_own_words(up, "up") > 0.8 and _share_own_words(down, "down") > 0.8
    records = [json.loads(x) for x in (out / "generated" / "seed0.jsonl").read_text().splitlines()]
    assert {(r["class_name"], r["corpus_label"]) for r in records} == {("down", "down"), ("up", "up")}


def test_a_swapped_label_map_moves_the_words_with_the_labels(cond, tmp_path, monkeypatch):
    """The check above has teeth: mapping the generator's labels the wrong way round puts down's words under "up"."""
    run, corpus = cond
    seen = []
    fit = augment.tfidf_logreg_classifier
    monkeypatch.setitem(augment._CLASSIFIERS, "tfidf_logreg",
                        lambda tt, ty, *a, **k: (seen.append((list(tt), list(ty))), fit(tt, ty, *a, **k))[1])
    report = augmentation_experiment(corpus, run, tmp_path / "swapped", per_label=30, seeds=[0], n_bootstrap=0,
                                     label_map="down:up,up:down")
    texts, labels = seen[1]
    real_n = report["runs"][0]["real_train"]
    k_up = report["real"]["classes"].index("up")
    up = [t for t, y in zip(texts[real_n:], labels[real_n:]) if y == k_up]  # corpus label "up": the generator's "down"
    assert len(up) == 30 and _share_own_words(up, "up") < 0.2
    assert report["runs"][0]["real_only"]["ci95"] == {}


def test_the_cnn_classifier_runs_the_same_experiment(cond, tmp_path):
    run, corpus = cond
    report = augmentation_experiment(corpus, run, tmp_path / "cnn", per_label=20, seeds=[0], classifier="cnn",
                                     n_bootstrap=100)
    r = report["runs"][0]
    assert report["settings"]["classifier"] == "cnn" and r["augmented"]["classifier"]["best_epoch"] >= 1
    assert r["real_only"]["accuracy"] > 0.9  # the two labels use disjoint words
    lo, hi = r["difference"]["ci95"]["macro_f1"]
    assert lo <= r["difference"]["macro_f1"] <= hi


def test_bad_input_is_one_line_and_writes_nothing(cond, tmp_path):
    run, corpus = cond
    renamed = _write_corpus(tmp_path / "renamed", {"up": "sideways"})
    cases = [
        (dict(real=renamed, generator=run), "'up' is not a label of the real corpus"),
        (dict(real=corpus, generator=run, label_map="left:down"), "'left'"),
        (dict(real=corpus, generator=run, train_split="valid", validation_split="test", test_split="train"),
         "includes the test split"),
        (dict(real=corpus / "train.jsonl", generator=run), "single file"),
        (dict(real=corpus, generator=run, per_label=5, ratio=1.0), "one of them"),
        (dict(real=corpus, generator=run, real_fractions=[0.0]), "(0, 1]"),
        (dict(real=corpus, generator=run, classifier="svm"), "tfidf_logreg"),
    ]
    for i, (kw, needle) in enumerate(cases):
        out = tmp_path / f"out{i}"
        with pytest.raises(TextganError) as e:
            augmentation_experiment(out=out, seeds=[0], n_bootstrap=0, **kw)
        assert needle in str(e.value) and "\n" not in str(e.value), (needle, str(e.value))
        assert not out.exists()


def test_an_unconditional_generator_is_refused(tmp_path):
    from textgan.data.vocab import Vocab
    from textgan.models.lstm_generator import LSTMGenerator
    from textgan.train.checkpoint import save_checkpoint

    vocab = Vocab.build([["a", "b", "c"]], min_freq=1)
    ckpt = save_checkpoint(tmp_path / "ckpt", LSTMGenerator(len(vocab), 4, 4, max_len=5, start_token=vocab.bos_id,
                                                            pad_id=vocab.pad_id, eos_id=vocab.eos_id), "lstm", vocab)
    corpus = _write_corpus(tmp_path / "corpus")
    with pytest.raises(TextganError, match="label-conditional"):
        augmentation_experiment(corpus, ckpt, tmp_path / "out", seeds=[0])
    assert not (tmp_path / "out").exists()


def test_the_command_writes_the_report(cond, tmp_path, capsys):
    run, corpus = cond
    out = tmp_path / "cli"
    assert main(["corpus", "augment", "--real", str(corpus), "--generator", str(run), "--out", str(out),
                 "--ratio", "0.5", "--real-fraction", "1.0", "--seeds", "3", "--bootstrap", "100", "--quiet",
                 "--threads", "1"]) == 0
    report = json.loads((out / "augmentation.json").read_text())
    r = report["runs"][0]
    assert r["seed"] == 3 and r["generated"] == 120 and r["generated_labels"] == {"down": 40, "up": 80}  # train mix
    assert "Augmentation experiment" in capsys.readouterr().out
    assert main(["corpus", "augment", "--real", str(corpus), "--generator", str(run), "--out", str(tmp_path / "x"),
                 "--seeds", "a,b"]) == 2
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
@requires_corpora
def test_the_liar_augment_recipe_runs_shrunk(tmp_path):
    out = tmp_path / "run"
    flags = [*TINY, "data.max_len=12", "mle.epochs=1", "eval.every=1", "pipeline.num_generate=200",
             "pipeline.detector.epochs=1", "pipeline.detector.filter_sizes=[1,2]", "pipeline.detector.num_filters=[8,8]",
             "pipeline.detector.max_eval_samples=100", "pipeline.augmentation.per_label=20",
             "pipeline.augmentation.seeds=[0]", "pipeline.augmentation.real_fractions=[0.1]",
             "pipeline.augmentation.n_bootstrap=100"]
    assert main(["run", str(AUGMENT), "--out", str(out), "--quiet", *_sets(flags)]) == 0
    report = json.loads((out / "augmentation" / "augmentation.json").read_text())
    assert report["real"]["corpus"] == "fake_news/liar" and len(report["generator"]["label_map"]) == 6
    assert report["runs"][0]["generated"] == 120 and report["runs"][0]["real_fraction"] == 0.1
    assert "fake_news/liar:train" in report["held_out"]["statement"]
    summary = json.loads((out / "run.json").read_text())["pipeline"]
    assert summary["augmentation"]["summary"][0]["real_fraction"] == 0.1
    assert (out / "detection" / "report.json").is_file()
