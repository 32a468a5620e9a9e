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
from textgan.detection.shortcuts import check_shortcuts, chance_bound, format_shortcuts, separability, threshold_accuracy
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


def rows(path: Path, split: str) -> list[dict]:
    return [json.loads(line) for line in (path / f"{split}.jsonl").read_text().splitlines()]


def test_no_simple_feature_separates_the_classes(ckpt, tmp_path):
    gen = tmp_path / "gen.jsonl"
    sample(ckpt, gen, 1500, seed=1)
    real_texts = sample(ckpt, tmp_path / "real_src.jsonl", 1500, seed=2)
    real_file = tmp_path / "real.jsonl"
    raw = raw_real_file(real_texts, real_file)
    vocab_words = set(Vocab.load(ckpt / "vocab.json").itos)

    ds = build_detection_dataset(real_file, [gen], tmp_path / "det", generator=ckpt, test_fraction=0.3, seed=0)
    train, test = rows(ds.path, "train"), rows(ds.path, "test")
    bound = chance_bound(len(test))  # 3 standard deviations of a coin's accuracy
    acc = separability(train, test, vocab_words)
    assert all(a <= bound for a in acc.values()), (bound, acc)
    checked = check_shortcuts(ds.path)  # the library's check on the folder (no vocabulary: stored <unk> rate)
    assert checked["passed"] and checked["held_out"] == ["validation", "test"] and "unk_rate" in checked["accuracy"], checked
    assert checked["n_test"] > len(test) and checked["bound"] == chance_bound(checked["n_test"])
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


def test_oov_delete_takes_unk_out_of_both_sides(ckpt, tmp_path):
    """Articles nearly all hold <unk>, the real ones at another token rate than the generator writes it
    (FA-KES, 2026-12-02: 3.1 % against 2.4 %, the <unk> rate separated the classes at 0.639 against a
    bound of 0.616), so neither "unk" nor dropping the texts that hold it helps. `oov="delete"` takes
    every out-of-vocabulary real token and every <unk> of both sides out: no row holds <unk>, and the
    card counts what was deleted per side."""
    gen = tmp_path / "gen.jsonl"
    generated = sample(ckpt, gen, 1500, seed=1)
    assert sum("<unk>" in t for t in generated) > 50  # this generator writes <unk> now and then
    rng = random.Random(0)
    real = [" ".join(w if rng.random() > 0.3 else f"Rare{rng.randrange(99)}" for w in t.split())
            for t in sample(ckpt, tmp_path / "src.jsonl", 1500, seed=2)]
    real_file = tmp_path / "real.txt"
    real_file.write_text("".join(t + "\n" for t in real))
    forced = build_detection_dataset(real_file, [gen], tmp_path / "unk", generator=ckpt, oov="unk", test_fraction=0.3)
    assert separability(rows(forced.path, "train"), rows(forced.path, "test"), set(WORDS))["unk_rate"] > 0.6

    ds = build_detection_dataset(real_file, [gen], tmp_path / "delete", generator=ckpt, oov="delete", test_fraction=0.3)
    every = [r for split in ("train", "validation", "test") for r in rows(ds.path, split)]
    assert every and not any("<unk>" in r["text"] or "Rare" in r["text"] for r in every)
    assert {r["label"] for r in every} == {0, 1}
    c = json.loads((ds.path / "detection.json").read_text())["canonical"]
    assert c["oov"] == "delete" and c["real"]["deleted_unk"] > 1000 and c["generated"]["deleted_unk"] > 50
    assert c["real"]["unk_token_rate"] == 0 == c["generated"]["unk_token_rate"]
    assert "OOV and <unk> tokens deleted" in (ds.path / "README.md").read_text()


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


def write_split(folder: Path, split: str, rows_: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows_))


def test_check_shortcuts_sees_a_planted_shortcut_and_the_cli_exits_1(tmp_path):
    """Real rows end with a space, generated ones do not: the folder check flags exactly that feature;
    the same rows without the space pass. The command exits 1 on a shortcut, 0 without, 2 on a bad folder."""
    import subprocess
    import sys

    rng = random.Random(0)

    def make(n, trailing):
        out = []
        for i in range(n):
            label = i % 2
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9)))
            out.append({"id": f"x-{rng.randrange(10**6)}", "text": words + (" " if trailing and label == 0 else ""),
                        "label": label, "label_name": "generated" if label else "real", "meta_source": "src"})
        return out

    for trailing, expect in ((True, 1), (False, 0)):
        folder = tmp_path / f"ds{int(trailing)}"
        write_split(folder, "train", make(400, trailing))
        write_split(folder, "test", make(200, trailing))
        result = check_shortcuts(folder)
        assert result["shortcuts"] == (["trailing_whitespace"] if trailing else []), result["accuracy"]
        assert ("**shortcut**" in format_shortcuts(result)) == trailing
        proc = subprocess.run([sys.executable, "-m", "textgan", "corpus", "shortcuts", str(folder)],
                              capture_output=True, text=True)
        assert proc.returncode == expect, proc.stderr
    proc = subprocess.run([sys.executable, "-m", "textgan", "corpus", "shortcuts", str(tmp_path / "nothing")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "not a detection dataset folder" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_match_length_removes_a_length_shortcut(ckpt, tmp_path):
    """Real texts of 30-40 words against a generator that writes at most 10: length alone tells the
    classes apart (the words come from the same generator). --match-length cuts each real text to a generated
    text's length; the check then passes."""
    gen = tmp_path / "gen.jsonl"
    sample(ckpt, gen, 1200, seed=1)
    # real texts from the same generator (same words), but each several of its texts run together: 30+ words
    pieces = iter(sample(ckpt, tmp_path / "real_src.jsonl", 12000, seed=2))
    real_texts = []
    while len(real_texts) < 1200:
        words: list[str] = []
        while len(words) < 30:
            words += next(pieces).split()
        real_texts.append(" ".join(words))
    real_file = tmp_path / "real.jsonl"
    real_file.write_text("".join(json.dumps({"text": t}) + "\n" for t in real_texts))
    plain = build_detection_dataset(real_file, [gen], tmp_path / "plain", generator=ckpt, test_fraction=0.3, seed=0,
                                    oov="unk")  # both sides hold <unk> alike (same generator): keep every text
    assert "tokens" in check_shortcuts(plain.path)["shortcuts"]
    matched = build_detection_dataset(real_file, [gen], tmp_path / "matched", generator=ckpt, test_fraction=0.3,
                                      seed=0, oov="unk", match_length=True)
    result = check_shortcuts(matched.path)
    assert result["passed"], result["accuracy"]
    meta = json.loads((matched.path / "detection.json").read_text())
    info = meta["length_matching"]
    assert meta["settings"]["match_length"] and info["real_cut"] > 1000 and info["real_before"]["min"] >= 30
    assert info["generated_before"]["max"] <= 10 and info["after"]["max"] <= 10
    assert "Lengths matched (--match-length cut)" in (matched.path / "README.md").read_text()
    assert "Lengths: not matched" in (plain.path / "README.md").read_text()


def test_match_length_cut_gives_both_classes_one_length_multiset_when_real_texts_are_shorter(ckpt, tmp_path):
    """Real texts of which half are shorter than the generated ones (FA-KES on 2026-12-02: real articles
    178.5 tokens against 207.4 generated after the cut, a token-count shortcut of 0.661). Each generated
    text takes a real text at least as long, cut to its length: the classes' length multisets are equal
    over the dataset (up to the few texts that balancing and near-duplicate replacement swap), and the
    check passes. The former cut (a drawn length; a real text shorter than its
    draw kept whole) failed this test."""
    from collections import Counter

    gen = tmp_path / "gen.jsonl"
    sample(ckpt, gen, 3000, seed=1)
    pieces = iter(sample(ckpt, tmp_path / "real_src.jsonl", 12000, seed=2))
    rng = random.Random(0)
    real_texts = []
    while len(real_texts) < 2400:
        words: list[str] = []
        while len(words) < 12:
            words += next(pieces).split()
        real_texts.append(" ".join(words[:rng.randint(2, 6)] if len(real_texts) % 2 else words))
    real_file = tmp_path / "real.jsonl"
    real_file.write_text("".join(json.dumps({"text": t}) + "\n" for t in real_texts))
    matched = build_detection_dataset(real_file, [gen], tmp_path / "matched", generator=ckpt, test_fraction=0.3,
                                      seed=0, oov="unk", match_length="cut")
    every = [r for split in ("train", "validation", "test") for r in rows(matched.path, split)]
    lengths = [Counter(len(r["text"].split()) for r in every if r["label"] == c) for c in (0, 1)]
    total = sum(lengths[0].values())
    apart = sum(abs(lengths[0][n] - lengths[1][n]) for n in lengths[0] | lengths[1]) / 2
    assert total > 1000 and apart <= 0.01 * total, (lengths, apart)  # (balancing and near-duplicate swaps move a few)
    result = check_shortcuts(matched.path)
    assert result["passed"], result["accuracy"]
    info = json.loads((matched.path / "detection.json").read_text())["length_matching"]
    assert info["mode"] == "cut" and info["real_dropped"] > 500 and info["generated_dropped"] > 0
    assert "Lengths matched (--match-length cut)" in (matched.path / "README.md").read_text()

    short_file = tmp_path / "short.jsonl"  # every real text shorter than every generated one: nothing to pair
    short_file.write_text("".join(json.dumps({"text": w}) + "\n" for w in WORDS * 20))
    long_gen = tmp_path / "long_gen.jsonl"
    long_gen.write_text("".join(json.dumps({"text": " ".join(rng.choice(WORDS) for _ in range(5))}) + "\n"
                                for _ in range(400)))
    with pytest.raises(TextganError, match="match_length cut: no real text is as long as a generated one"):
        build_detection_dataset(short_file, [long_gen], tmp_path / "none", seed=0, match_length="cut")
    assert not (tmp_path / "none").exists()


def test_threshold_accuracy_equals_trying_every_threshold():
    """The one-pass threshold search against the plain search over every candidate and direction."""
    def brute(train, test):
        best = (-1.0, 0.0, 1)
        values = sorted({v for v, _ in train})
        cands = [values[0] - 1] + [(a + b) / 2 for a, b in zip(values, values[1:])] + [values[-1] + 1]
        for thr in cands:
            for sign in (1, -1):
                acc = sum((sign * (v - thr) > 0) == bool(y) for v, y in train) / len(train)
                if acc > best[0]:
                    best = (acc, thr, sign)
        _, thr, sign = best
        return sum((sign * (v - thr) > 0) == bool(y) for v, y in test) / len(test)

    rng = random.Random(0)
    for k in range(200):
        train = [(float(rng.randint(0, 6)) + (rng.random() if k % 2 else 0.0), rng.randint(0, 1))
                 for _ in range(rng.randint(1, 40))]
        test = [(float(rng.randint(-1, 7)), rng.randint(0, 1)) for _ in range(rng.randint(1, 30))]
        assert threshold_accuracy(train, test) == brute(train, test)


def test_match_length_sample_gives_each_split_one_length_distribution(ckpt, tmp_path):
    """Real texts with another length distribution than the generator's (half of them shorter than its
    10 tokens, as EMNLP News keeps only sentences of 20 words and more): token count is a shortcut. `match_length: sample` cuts
    nothing and keeps, in every split, as many real as generated texts of each length: the lengths of
    the two classes are then the same multiset in each split, and the check passes."""
    from collections import Counter

    gen = tmp_path / "gen.jsonl"
    sample(ckpt, gen, 3000, seed=1)
    pool = sample(ckpt, tmp_path / "real_src.jsonl", 12000, seed=2)  # the generator's texts: 94 % hit its 10 tokens
    short = [t for t in pool if len(t.split()) < 10]
    real_texts = short + [t for t in pool if len(t.split()) == 10][:len(short)]  # a corpus half of shorter texts
    real_file = tmp_path / "real.jsonl"
    real_file.write_text("".join(json.dumps({"text": t}) + "\n" for t in real_texts))
    kw = dict(generator=ckpt, test_fraction=0.3, seed=0, oov="unk")
    plain = build_detection_dataset(real_file, [gen], tmp_path / "plain", **kw)
    assert "tokens" in check_shortcuts(plain.path)["shortcuts"]
    matched = build_detection_dataset(real_file, [gen], tmp_path / "matched", match_length="sample", **kw)
    for split in ("train", "validation", "test"):
        lengths = [Counter(len(r["text"].split()) for r in rows(matched.path, split) if r["label"] == c) for c in (0, 1)]
        assert lengths[0] == lengths[1] and sum(lengths[0].values()) > 0, split
    result = check_shortcuts(matched.path)
    assert result["passed"] and result["accuracy"]["tokens"] == 0.5, result["accuracy"]
    info = json.loads((matched.path / "detection.json").read_text())["length_matching"]
    assert info["mode"] == "sample" and info["generated_dropped"] > 1000 and info["after"]["max"] == 10
    total = sum(c["real"] + c["generated"] for c in matched.counts.values())
    # the texts a length keeps are spread over the splits: the second matching, within each split, drops few
    assert sum(info["dropped_in_splits"].values()) < 0.1 * total, (info["dropped_in_splits"], total)
    assert "Lengths matched (--match-length sample)" in (matched.path / "README.md").read_text()
    with pytest.raises(TextganError, match="match_length is 'trim': use false, cut"):
        build_detection_dataset(real_file, [gen], tmp_path / "bad", match_length="trim", **kw)
    assert not (tmp_path / "bad").exists()


def test_content_cues_are_reported_and_one_class_characters_are_a_shortcut(tmp_path):
    """Capitals in every real row and in few generated ones: a content cue (what the texts say),
    reported, the check passes. A character only real rows use: `foreign_chars`, a shortcut, the check fails."""
    rng = random.Random(0)

    def make(n, change, generated_too):
        out = []
        for i in range(n):
            label = i % 2
            words = [rng.choice(WORDS) for _ in range(rng.randint(3, 9))]
            if label == 0:
                words[0] = change(words[0])
            elif generated_too and rng.random() < 0.15:  # the same characters, less often
                words[-1] = change(words[-1])
            out.append({"id": f"x-{rng.randrange(10**6)}", "text": " ".join(words), "label": label,
                        "label_name": "generated" if label else "real", "meta_source": "src"})
        return out

    for name, change, generated_too in (("caps", str.upper, True), ("accent", lambda w: w + "\u00e9", False)):
        folder = tmp_path / name
        write_split(folder, "train", make(400, change, generated_too))
        write_split(folder, "test", make(200, change, generated_too))
        result = check_shortcuts(folder)
        if name == "caps":
            assert result["passed"] and "uppercase_chars" in result["content_cues"], result
            assert "content cue" in format_shortcuts(result) and "**shortcut**" not in format_shortcuts(result)
        else:
            assert not result["passed"] and "foreign_chars" in result["shortcuts"], result
