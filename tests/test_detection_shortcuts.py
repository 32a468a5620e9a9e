"""No shortcuts between the classes of a detection dataset (issue 18, part 1).

The real texts here are drawn from the same tiny generator as the generated ones, then stored the
way a real corpus holds them: raw (trailing spaces and newlines, doubled spaces) and with real words
where the generator says ``<unk>``. After the dataset is built, no simple feature of the stored rows
may tell the classes apart beyond chance: a one-feature threshold classifier fitted on the train split
must stay within a binomial bound of 0.5 on the test split. The raw texts fail the same check, so the
check has the power to see a shortcut.
"""

import json
import math
import random
from pathlib import Path

import pytest
import torch

from textgan.data.tokenizers import build_tokenizer
from textgan.data.vocab import Vocab
from textgan.detection import build_detection_dataset, dataset_card
from textgan.errors import TextganError
from textgan.generation import SamplingSettings, generate_texts
from textgan.models.lstm_generator import LSTMGenerator
from textgan.train.checkpoint import save_checkpoint

WORDS = [f"w{i}" for i in range(20)]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    vocab = Vocab.build([WORDS])
    model = LSTMGenerator(len(vocab), 8, 8, max_len=10, start_token=vocab.bos_id, pad_id=vocab.pad_id,
                          eos_id=vocab.eos_id, init_std=1.0)
    with torch.no_grad():
        model.output.bias[vocab.unk_id] -= 0.5  # the generator writes <unk> now and then, as trained ones do
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "ckpt", model, "lstm", vocab,
                           build_tokenizer("whitespace"), {"recipe": "tiny"})


def sample(ckpt: Path, out: Path, n: int, seed: int) -> list[str]:
    generate_texts(ckpt, n, out, sampling=SamplingSettings(seed=seed), progress=False)
    return [json.loads(line)["text"] for line in out.read_text().splitlines()]


def raw_real_file(texts: list[str], path: Path) -> list[str]:
    """Texts as a real corpus stores them: OOV words for <unk>, trailing whitespace, doubled spaces."""
    rng = random.Random(3)
    raw = []
    for t in texts:
        words = [f"Rare{rng.randrange(1000)}" if w == "<unk>" else w for w in t.split()]
        text = ("  " if rng.random() < 0.3 else " ").join(words) + rng.choice([" ", "\n", " \n"])
        raw.append(text)
    with open(path, "w") as f:
        for t in raw:
            f.write(json.dumps({"text": t}) + "\n")
    return raw


def features(text: str, vocab_words: set[str]) -> dict[str, float]:
    toks = text.split()
    return {
        "trailing_whitespace": float(text != text.rstrip()),
        "leading_whitespace": float(text != text.lstrip()),
        "double_space": float("  " in text),
        "chars": float(len(text)),
        "tokens": float(len(toks)),
        "distinct_chars": float(len(set(text))),
        "non_lowercase_alnum_chars": float(sum(not (c.islower() or c.isdigit() or c == " ") for c in text)),
        "uppercase_chars": float(sum(c.isupper() for c in text)),
        "oov_rate": sum(t not in vocab_words for t in toks) / max(len(toks), 1),
        "unk_rate": sum(t == "<unk>" for t in toks) / max(len(toks), 1),
    }


def threshold_accuracy(train: list[tuple[float, int]], test: list[tuple[float, int]]) -> float:
    """Test accuracy of the best single threshold (and direction) on the train split."""
    best = (0.0, 0.0, 1)
    values = sorted({v for v, _ in train})
    cands = [values[0] - 1] + [(a + b) / 2 for a, b in zip(values, values[1:])] + [values[-1] + 1]
    for thr in cands:
        for sign in (1, -1):
            acc = sum((sign * (v - thr) > 0) == bool(y) for v, y in train) / len(train)
            if acc > best[0]:
                best = (acc, thr, sign)
    _, thr, sign = best
    return sum((sign * (v - thr) > 0) == bool(y) for v, y in test) / len(test)


def rows(path: Path, split: str) -> list[dict]:
    return [json.loads(line) for line in (path / f"{split}.jsonl").read_text().splitlines()]


def separability(train_rows, test_rows, vocab_words) -> dict[str, float]:
    out = {}
    tr = [(features(r["text"], vocab_words), r["label"]) for r in train_rows]
    te = [(features(r["text"], vocab_words), r["label"]) for r in test_rows]
    for name in tr[0][0]:
        out[name] = threshold_accuracy([(f[name], y) for f, y in tr], [(f[name], y) for f, y in te])
    # Every non-label, non-metadata column other than the text (the id's number, for one).
    for col in train_rows[0]:
        if col in ("text", "label", "label_name") or col.startswith("meta_"):
            continue
        num = (lambda r: float(str(r[col]).rsplit("-", 1)[-1])) if col == "id" else (lambda r: float(hash(r[col]) % 997))
        out[f"column:{col}"] = threshold_accuracy([(num(r), r["label"]) for r in train_rows],
                                                  [(num(r), r["label"]) for r in test_rows])
    return out


def test_no_simple_feature_separates_the_classes(ckpt, tmp_path):
    gen = tmp_path / "gen.jsonl"
    sample(ckpt, gen, 1500, seed=1)
    real_texts = sample(ckpt, tmp_path / "real_src.jsonl", 1500, seed=2)
    real_file = tmp_path / "real.jsonl"
    raw = raw_real_file(real_texts, real_file)
    vocab_words = set(Vocab.load(ckpt / "vocab.json").itos)

    ds = build_detection_dataset(real_file, [gen], tmp_path / "det", generator=ckpt, test_fraction=0.3, seed=0)
    train, test = rows(ds.path, "train"), rows(ds.path, "test")
    bound = 0.5 + 3 * math.sqrt(0.25 / len(test))  # 3 standard deviations of a coin's accuracy
    acc = separability(train, test, vocab_words)
    assert all(a <= bound for a in acc.values()), (bound, acc)
    assert set(train[0]) == {"id", "text", "label", "label_name", "meta_source"}

    meta = json.loads((ds.path / "detection.json").read_text())
    c = meta["canonical"]
    assert c["oov"] == "unk" and c["real"]["oov_tokens"] > 0 and c["generated"]["oov_tokens"] == 0
    assert c["real"]["texts_with_oov"] == sum(any(w.startswith("Rare") for w in t.split()) for t in raw)
    assert meta["columns"]["metadata"] == ["meta_source"] and meta["textgan_version"] != "unknown"

    # The same check sees the shortcuts of the raw texts (stored as they came, as before this fix).
    raw_rows = [{"text": t, "label": 0} for t in raw] + [{"text": t, "label": 1} for t in sample(ckpt, gen, 1500, 1)]
    random.Random(0).shuffle(raw_rows)
    raw_acc = separability(raw_rows[:2000], raw_rows[2000:], vocab_words)
    assert raw_acc["trailing_whitespace"] == 1.0 and raw_acc["oov_rate"] > bound


def test_drop_mode_removes_texts_the_generator_cannot_write(ckpt, tmp_path):
    gen = tmp_path / "gen.jsonl"
    sample(ckpt, gen, 400, seed=1)
    real_file = tmp_path / "real.jsonl"
    raw = raw_real_file(sample(ckpt, tmp_path / "src.jsonl", 400, seed=2), real_file)
    ds = build_detection_dataset(real_file, [gen], tmp_path / "det", generator=ckpt, oov="drop")
    stored = [r["text"] for s in ("train", "validation", "test") for r in rows(ds.path, s) if r["label"] == 0]
    assert not any("Rare" in t for t in stored)
    meta = json.loads((ds.path / "detection.json").read_text())
    n_oov = sum("Rare" in t for t in raw)
    assert meta["canonical"]["real"]["dropped_oov"] == n_oov > 0
    card = (ds.path / "README.md").read_text()
    assert "dropped for OOV" in card and "drop" in card and "Built with textgan" in card
    with pytest.raises(TextganError, match="needs the generator's vocabulary"):
        build_detection_dataset(real_file, [gen], tmp_path / "det2", oov="drop")


def test_card_says_a_single_run_is_split_at_random(ckpt, tmp_path):
    gen = tmp_path / "gen.jsonl"
    sample(ckpt, gen, 300, seed=1)
    real_file = tmp_path / "real.jsonl"
    raw_real_file(sample(ckpt, tmp_path / "src.jsonl", 300, seed=2), real_file)
    ds = build_detection_dataset(real_file, [gen], tmp_path / "det", generator=ckpt, generator_train="tiny:train")
    card = (ds.path / "README.md").read_text()
    assert "Split by source run: no (a single run" in card and "Split by source run: yes" not in card
    assert "Generator's training data: tiny:train" in card and "Tokenization and detokenization of both sides" in card
    meta = json.loads((ds.path / "detection.json").read_text())
    meta["settings"]["mix_runs"] = False
    meta["generated"] = meta["generated"] * 2
    assert "Split by source run: yes" in dataset_card(meta)


def test_auto_drops_unk_when_the_generator_never_writes_it(tmp_path):
    """A generator whose vocabulary held every training word never writes <unk>, while held-out real
    texts hold words outside it: mapped to <unk> they would give the label away, so the default
    ("auto") drops every text holding <unk> on both sides, and the unk-rate shortcut is gone."""
    torch.manual_seed(1)
    vocab = Vocab.build([WORDS])
    model = LSTMGenerator(len(vocab), 8, 8, max_len=10, start_token=vocab.bos_id, pad_id=vocab.pad_id,
                          eos_id=vocab.eos_id, init_std=1.0)
    with torch.no_grad():
        model.output.bias[vocab.unk_id] -= 1e4  # never writes <unk>
    never = save_checkpoint(tmp_path / "never", model, "lstm", vocab, build_tokenizer("whitespace"), {"recipe": "t"})
    gen = tmp_path / "gen.jsonl"
    sample(never, gen, 1500, seed=1)
    rng = random.Random(0)
    real = [" ".join(w if rng.random() > 0.1 else f"Rare{rng.randrange(99)}" for w in t.split())
            for t in sample(never, tmp_path / "src.jsonl", 1500, seed=2)]
    real_file = tmp_path / "real.txt"
    real_file.write_text("".join(t + "\n" for t in real))
    n_rare = sum("Rare" in t for t in real)
    assert n_rare > 300  # a strong <unk> shortcut if they were mapped

    forced = build_detection_dataset(real_file, [gen], tmp_path / "unk", generator=never, oov="unk", test_fraction=0.3)
    test_rows = rows(forced.path, "test")
    assert separability(rows(forced.path, "train"), test_rows, set(vocab.itos))["unk_rate"] > 0.6  # the shortcut

    ds = build_detection_dataset(real_file, [gen], tmp_path / "auto", generator=never, test_fraction=0.3)
    train, test = rows(ds.path, "train"), rows(ds.path, "test")
    assert not any("<unk>" in r["text"] for r in train + test)
    bound = 0.5 + 3 * math.sqrt(0.25 / len(test))
    assert all(a <= bound for a in separability(train, test, set(vocab.itos)).values())
    c = json.loads((ds.path / "detection.json").read_text())["canonical"]
    assert c["oov"] == "drop" and c["oov_auto"]["choice"] == "drop"
    assert c["oov_auto"]["generated_texts_with_unk"] == 0 and c["oov_auto"]["real_texts_with_unk"] > 0.2
    assert c["real"]["dropped_oov"] == n_rare and c["generated"]["dropped_oov"] == 0
