"""Detection dataset splits that generalise: by source / date / topic groups (no group in two splits), at random,
and near-duplicate removal across splits (MinHash LSH, checked against exact Jaccard)."""

import json
import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from textgan.cli import main
from textgan.detection.card import dataset_card
from textgan.detection.dataset import assign_groups, build_detection_dataset, parse_date
from textgan.detection.neardup import (NearDupIndex, check_threshold, exact_near_duplicate_pairs, jaccard,
                                       lsh_bands, near_duplicate_pairs, shingles)
from textgan.errors import TextganError

SPLITS = ("train", "validation", "test")


def words(rng: random.Random, n: int = 14, prefix: str = "w") -> str:
    return " ".join(f"{prefix}{rng.randrange(3000)}" for _ in range(n))


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_generated(path: Path, texts: list[str], **fields) -> Path:
    rows = [{"id": i, "text": t, "label": "generated", "model": "lstm", "recipe": "r", "checkpoint_sha256": "ab" * 32,
             "sampling": {"temperature": 1.0, "seed": 0}, **{k: v[i] for k, v in fields.items()}} for i, t in enumerate(texts)]
    return write_jsonl(path, rows)


def real_rows(n: int, seed: int = 0, **columns) -> list[dict]:
    rng = random.Random(seed)
    return [{"text": words(rng), "label": 0, **{k: f(i) for k, f in columns.items()}} for i in range(n)]


def gen_file(tmp_path: Path, name: str, n: int, seed: int = 1, **fields) -> Path:
    rng = random.Random(seed)
    return write_generated(tmp_path / name, [words(rng, prefix="g") for _ in range(n)], **fields)


def load_rows(out: Path) -> dict[str, list[dict]]:
    return {s: [json.loads(line) for line in (out / f"{s}.jsonl").read_text().splitlines()] for s in SPLITS}


def groups_by_split(rows: dict[str, list[dict]], label: int = 0) -> dict[str, set]:
    return {s: {r["meta_group"] for r in rs if r["label"] == label} for s, rs in rows.items()}


def check_no_group_leak(rows: dict[str, list[dict]], shared_validation: bool = False) -> None:
    """No group is in two splits (with ``shared_validation`` validation may share train's groups, never test's)."""
    g = groups_by_split(rows)
    assert not g["train"] & g["test"], g
    assert not g["validation"] & g["test"], g
    if not shared_validation:
        assert not g["train"] & g["validation"], g


def check_dates_ordered(rows: dict[str, list[dict]]) -> None:
    d = {s: sorted(parse_date(x) for x in v) for s, v in groups_by_split(rows).items()}
    assert d["train"][-1] < d["validation"][0] <= d["validation"][-1] < d["test"][0], {s: (v[0], v[-1]) for s, v in d.items()}


def cross_split_near_dups(rows: dict[str, list[dict]], threshold: float = 0.8) -> list[tuple]:
    """Brute force: (split, label, text) of validation / test texts with exact Jaccard >= threshold to an earlier split."""
    found = []
    for label in (0, 1):
        earlier = [shingles(r["text"]) for r in rows["train"] if r["label"] == label]
        for s in ("validation", "test"):
            mine = [r["text"] for r in rows[s] if r["label"] == label]
            found += [(s, label, t) for t in mine if any(jaccard(shingles(t), e) >= threshold for e in earlier)]
            earlier += [shingles(t) for t in mine]
    return found


# --------------------------------------------------------------------------- group splits


def test_source_split_holds_whole_sources_out(tmp_path):
    sites = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
    real = write_jsonl(tmp_path / "real.jsonl", real_rows(400, site=lambda i: sites[i % 8]))
    gen = gen_file(tmp_path, "gen.jsonl", 400)
    ds = build_detection_dataset(real, [gen], tmp_path / "det", split_by="source", group_column="site", seed=3)
    rows = load_rows(ds.path)
    check_no_group_leak(rows)
    used = groups_by_split(rows)
    assert all(used[s] for s in SPLITS) and set().union(*used.values()) == set(sites)
    assert {s: set(g) for s, g in ds.split["groups"].items()} == used  # the card / json name the groups of each split
    assert all(c["real"] == c["generated"] > 0 for c in ds.counts.values())
    assert ds.counts["train"]["real"] > ds.counts["test"]["real"]
    meta = json.loads((ds.path / "detection.json").read_text())
    assert meta["format"] == "textgan.detection/3" and meta["split"]["by"] == "source"
    assert meta["settings"]["split_by"] == "source" and meta["settings"]["group_column"] == "site"
    assert meta["columns"]["metadata"] == ["meta_source", "meta_group"]
    card = (ds.path / "README.md").read_text()
    assert "Split method: `source`" in card and "Groups (column `site`)" in card
    for s in SPLITS:
        assert all(f"`{g}`" in card.split(f"{s} (")[1].split(";")[0] for g in used[s])
    # Generated texts (one run, no site field) are split at random in the real splits' proportions.
    assert "split at random in the real splits' proportions" in card
    assert {r["meta_group"] for rs in rows.values() for r in rs if r["label"] == 1} == {None}


def test_two_sources_validation_carved_from_train(tmp_path):
    rows = real_rows(240, platform=lambda i: "BuzzFeed" if i < 100 else "PolitiFact")
    real = write_jsonl(tmp_path / "real.jsonl", rows)
    ds = build_detection_dataset(real, [gen_file(tmp_path, "gen.jsonl", 300)], tmp_path / "det", split_by="source",
                                 group_column="platform")
    out = load_rows(ds.path)
    check_no_group_leak(out, shared_validation=True)
    g = groups_by_split(out)
    assert g["test"] == {"BuzzFeed"} and g["train"] == g["validation"] == {"PolitiFact"}  # the smaller group is test
    assert ds.split["validation_shares_train_groups"] is True
    assert "Validation has no group of its own" in (ds.path / "README.md").read_text()


def test_date_split_oldest_train_newest_test(tmp_path):
    start = datetime(2015, 1, 1)

    def date(i):  # two formats (ISO with times and FA-KES's M/D/YYYY), three texts a day, some rows without a date
        if i % 17 == 0:
            return None
        d = start + timedelta(days=(i * 7919) % 97)
        return d.strftime(f"%Y-%m-%dT{i % 24:02d}:{i % 60:02d}:00Z") if i % 2 else f"{d.month}/{d.day}/{d.year}"

    real = write_jsonl(tmp_path / "real.jsonl", real_rows(300, date=date))
    ds = build_detection_dataset(real, [gen_file(tmp_path, "gen.jsonl", 300)], tmp_path / "det", split_by="date")
    rows = load_rows(ds.path)
    check_no_group_leak(rows)
    check_dates_ordered(rows)
    missing = sum(date(i) is None for i in range(300))
    assert ds.removed["real_missing_group"] == ds.split["real_missing_group"] == missing > 0
    rng = ds.split["date_range"]
    assert rng["train"][0] == "2015-01-01" and rng["test"][1] == (start + timedelta(days=96)).date().isoformat()
    assert all(len(g) == 10 for gs in groups_by_split(rows).values() for g in gs)  # groups are days, times dropped
    assert parse_date("2016-09-27T23:30:00-05:00") == datetime(2016, 9, 28, 4, 30) == parse_date("2016-09-28T04:30:00Z")
    assert parse_date("4/5/2017") == datetime(2017, 4, 5) == parse_date("5 Apr 2017") and parse_date(2017) == 2017.0
    card = (ds.path / "README.md").read_text()
    assert "Dates (column `date`): train 2015-01-01 to" in card and f"without a value in `date` (left out): {missing}" in card


def test_topic_split_groups_generated_records_too(tmp_path):
    topics = [f"topic{k}" for k in range(10)]
    real = write_jsonl(tmp_path / "real.jsonl", real_rows(300, subject=lambda i: topics[i % 10]))
    gen = gen_file(tmp_path, "gen.jsonl", 330, subject=[topics[i % 11] if i % 11 < 10 else "unseen" for i in range(330)])
    ds = build_detection_dataset(real, [gen], tmp_path / "det", split_by="topic", max_per_class=200)
    rows = load_rows(ds.path)
    check_no_group_leak(rows)
    gen_groups = groups_by_split(rows, label=1)
    assert all(gen_groups[s] <= set(ds.split["groups"][s]) for s in SPLITS)  # generated texts follow the real groups
    assert ds.removed["generated_unmatched_group"] == 30
    assert sum(c["real"] for c in ds.counts.values()) <= 200


def test_random_split_pools_the_runs(tmp_path):
    real = write_jsonl(tmp_path / "real.jsonl", real_rows(300))
    runs = [gen_file(tmp_path, f"run{i}.jsonl", 100, seed=10 + i) for i in range(3)]
    ds = build_detection_dataset(real, runs, tmp_path / "det", split_by="random")
    sources = {s: {r["meta_source"] for r in rs if r["label"] == 1} for s, rs in load_rows(ds.path).items()}
    assert all(v == {str(p) for p in runs} for v in sources.values())
    assert ds.split["by"] == "random" and "meta_group" not in load_rows(ds.path)["train"][0]
    assert "--split-by random: runs pooled" in (ds.path / "README.md").read_text()
    # The default stays by run: three runs -> train, validation, test.
    by_run = build_detection_dataset(real, runs, tmp_path / "det_run")
    assert by_run.assignment == {"train": [str(runs[0])], "validation": [str(runs[1])], "test": [str(runs[2])]}


def test_group_split_errors_name_the_problem(tmp_path):
    real = write_jsonl(tmp_path / "real.jsonl", real_rows(50, site=lambda i: "only"))
    gen = gen_file(tmp_path, "gen.jsonl", 50)
    with pytest.raises(TextganError, match=r"has no column 'nope' to split by \(its columns: \[.*'site'.*\]\): pass --real-group-column"):
        build_detection_dataset(real, [gen], tmp_path / "a", split_by="source", group_column="nope")
    with pytest.raises(TextganError, match="has no column 'date'"):
        build_detection_dataset(real, [gen], tmp_path / "b", split_by="date")
    with pytest.raises(TextganError, match="needs at least 2 groups with texts, found 1"):
        build_detection_dataset(real, [gen], tmp_path / "c", split_by="source", group_column="site")
    with pytest.raises(TextganError, match="unknown split method 'site'"):
        build_detection_dataset(real, [gen], tmp_path / "d", split_by="site")
    with pytest.raises(TextganError, match="only read by --split-by source"):
        build_detection_dataset(real, [gen], tmp_path / "e", group_column="site")
    bad_dates = write_jsonl(tmp_path / "bad.jsonl", real_rows(20, date=lambda i: "yesterday"))
    with pytest.raises(TextganError, match="'yesterday' is not a date"):
        build_detection_dataset(bad_dates, [gen], tmp_path / "f", split_by="date")
    partial = gen_file(tmp_path, "partial.jsonl", 50, site=["x" if i % 2 else None for i in range(50)])
    two = write_jsonl(tmp_path / "two.jsonl", real_rows(50, site=lambda i: "x" if i % 2 else "y"))
    with pytest.raises(TextganError, match="only some generated records have the field 'site'"):
        build_detection_dataset(two, [partial], tmp_path / "g", split_by="source", group_column="site")
    with pytest.raises(TextganError, match="near-duplicate threshold must be"):
        build_detection_dataset(two, [gen], tmp_path / "h", near_dup_threshold=1.5)
    assert not any((tmp_path / x).exists() for x in "abcdefgh")


def test_assign_groups_never_splits_a_group():
    sizes = {f"g{i}": 5 + (i * 7) % 23 for i in range(30)}
    order = sorted(sizes)
    random.Random(0).shuffle(order)
    groups, shared = assign_groups(sizes, order, False, 0.1, 0.2)
    flat = [g for gs in groups.values() for g in gs]
    assert not shared and sorted(flat) == sorted(sizes) and len(flat) == len(set(flat))
    n = sum(sizes.values())
    assert sum(sizes[g] for g in groups["test"]) <= 0.2 * n and sum(sizes[g] for g in groups["validation"]) <= 0.1 * n
    assert sum(sizes[g] for g in groups["test"]) >= 0.2 * n - 27  # filled up to within one group of its target
    # Contiguous (dates, newest first): test takes a prefix of the order, validation the next ones.
    dated, _ = assign_groups(sizes, sorted(sizes, reverse=True), True, 0.1, 0.2)
    order = sorted(sizes, reverse=True)
    k, m = len(dated["test"]), len(dated["validation"])
    assert dated["test"] == order[:k] and dated["validation"] == order[k:k + m] and dated["train"] == order[k + m:]


def test_checks_catch_a_leaking_group_and_a_broken_date_order(tmp_path):
    """The checks above are not vacuous: a dataset with one leaked group (or date) fails them."""
    start = datetime(2016, 1, 1)
    real = write_jsonl(tmp_path / "real.jsonl",
                       real_rows(200, date=lambda i: (start + timedelta(days=i % 40)).date().isoformat()))
    ds = build_detection_dataset(real, [gen_file(tmp_path, "gen.jsonl", 200)], tmp_path / "det", split_by="date")
    rows = load_rows(ds.path)
    check_no_group_leak(rows)
    check_dates_ordered(rows)
    leaked = {s: list(v) for s, v in rows.items()}
    moved = next(r for r in leaked["test"] if r["label"] == 0)
    leaked["train"].append(dict(moved))  # the same date (group) now in train and test
    with pytest.raises(AssertionError):
        check_no_group_leak(leaked)
    with pytest.raises(AssertionError):
        check_dates_ordered(leaked)


# --------------------------------------------------------------------------- near duplicates


def variant(text: str, changes: int, rng: random.Random) -> str:
    w = text.split()
    for pos in rng.sample(range(len(w)), changes):
        w[pos] = f"new{rng.randrange(10**6)}"
    return " ".join(w)


def test_lsh_finds_the_pairs_exact_jaccard_finds():
    rng = random.Random(0)
    base = [words(rng, 40) for _ in range(120)]
    # Clear cases: one changed word (Jaccard ~0.85 or more) or many (well below 0.8), nothing near the threshold.
    queries = [variant(t, 1, rng) for t in base[:30]] + [variant(t, 10, rng) for t in base[30:60]] + base[100:110]
    exact = exact_near_duplicate_pairs(queries, base, 0.8)
    sims = [jaccard(shingles(q), shingles(b)) for q in queries for b in base]
    assert not [s for s in sims if 0.6 < s < 0.84]  # the test's cases are clear ones
    assert {i for i, _ in exact} == set(range(30)) | set(range(60, 70))
    for seed in (0, 1, 2):
        assert near_duplicate_pairs(queries, base, 0.8, seed=seed) == exact
    # A lower threshold: never a pair exact Jaccard rejects, and every clear one (one changed word) found.
    low = near_duplicate_pairs(queries, base, 0.3)
    assert low <= exact_near_duplicate_pairs(queries, base, 0.3) and {(i, i) for i in range(30)} <= low
    assert lsh_bands(0.8) == (32, 4)  # a pair at Jaccard 0.8 is missed with probability (1 - 0.8**4)**32 = 5e-8
    index = NearDupIndex(0.8, shingle=2, seed=5)
    index.add("a", "one two three four five six seven eight nine ten")
    assert index.matches("one two three four five six seven eight nine ten")[0] == ("a", 1.0)
    assert index.describe()["shingles"] == "word 2-grams" and not index.is_near_duplicate("ten nine eight")
    assert shingles("a b", 3) == frozenset(["a b"]) and check_threshold("none") is None and check_threshold(0) is None


def test_planted_near_duplicates_are_removed_and_counted(tmp_path):
    rng = random.Random(7)
    start = datetime(2017, 1, 1)
    # Real: 100 texts on 100 days: date split (fractions 0.2, 0.2) -> 60 train, 20 validation, 20 test.
    texts = [words(rng, 40) for _ in range(100)]  # one changed word: Jaccard >= 35/41 = 0.85
    texts[85] = variant(texts[3], 1, rng)   # test ~ train
    texts[86] = variant(texts[4], 1, rng)   # test ~ train
    texts[90] = variant(texts[70], 1, rng)  # test ~ validation
    texts[65] = variant(texts[5], 1, rng)   # validation ~ train
    real = write_jsonl(tmp_path / "real.jsonl", [{"text": t, "date": (start + timedelta(days=i)).date().isoformat()}
                                                 for i, t in enumerate(texts)])
    # Generated: three runs (train 60, validation 20, test 20).
    g = [[words(rng, 40, "g") for _ in range(n)] for n in (60, 20, 20)]
    g[2][0], g[2][1], g[2][2] = variant(g[0][0], 1, rng), variant(g[0][1], 1, rng), variant(g[1][0], 1, rng)
    runs = [write_generated(tmp_path / f"run{i}.jsonl", t) for i, t in enumerate(g)]

    fractions = dict(validation_fraction=0.2, test_fraction=0.2)
    off = build_detection_dataset(real, runs, tmp_path / "off", split_by="date", near_dup_threshold="none", **fractions)
    assert off.counts == {s: {"real": n, "generated": n} for s, n in zip(SPLITS, (60, 20, 20))}
    planted = cross_split_near_dups(load_rows(off.path))
    assert len(planted) == 7  # the brute-force check sees every planted pair when nothing is removed
    assert "not removed (--near-dup-threshold none)" in (off.path / "README.md").read_text()

    ds = build_detection_dataset(real, runs, tmp_path / "on", split_by="date", **fractions)
    assert ds.near_duplicates["removed"] == {"validation": {"real": 1, "generated": 0},
                                             "test": {"real": 3, "generated": 3}}
    assert ds.counts == {"train": {"real": 60, "generated": 60}, "validation": {"real": 19, "generated": 19},
                         "test": {"real": 17, "generated": 17}}
    assert cross_split_near_dups(load_rows(ds.path)) == []
    assert ds.removed["generated_unused"] == 1 and ds.removed["real_unused"] == 0  # balance: one validation text left out
    meta = json.loads((ds.path / "detection.json").read_text())
    near = meta["near_duplicates"]
    assert near["threshold"] == 0.8 and near["shingles"] == "word 3-grams" and near["num_perm"] == 128
    assert near["removed_total"] == {"real": 4, "generated": 3} and meta["settings"]["near_dup_threshold"] == 0.8
    card = (ds.path / "README.md").read_text()
    assert "Jaccard similarity >= 0.8" in card and "Removed: validation: real 1, generated 0; test: real 3, generated 3" in card


def test_near_duplicates_are_replaced_from_unused_texts(tmp_path):
    rng = random.Random(3)
    base = [words(rng, 20) for _ in range(100)]
    real = write_jsonl(tmp_path / "real.jsonl", [{"text": t} for t in base + [variant(t, 1, rng) for t in base[:100]]])
    ds = build_detection_dataset(real, [gen_file(tmp_path, "gen.jsonl", 100)], tmp_path / "det", seed=0)
    rows = load_rows(ds.path)
    assert cross_split_near_dups(rows) == []
    removed = ds.near_duplicates["removed"]
    assert removed["validation"]["real"] + removed["test"]["real"] > 0
    assert ds.counts == {"train": {"real": 80, "generated": 80}, "validation": {"real": 10, "generated": 10},
                         "test": {"real": 10, "generated": 10}}  # refilled from the unused real texts
    total = sum(c["real"] for c in ds.counts.values())
    assert total + ds.removed["real_unused"] + ds.near_duplicates["removed_total"]["real"] == 200


# --------------------------------------------------------------------------- command line and card


def test_cli_flags_and_old_cards(tmp_path, capsys):
    real = write_jsonl(tmp_path / "real.jsonl",
                       real_rows(200, platform=lambda i: ["BuzzFeed", "PolitiFact", "Other"][i % 3]))
    gen = gen_file(tmp_path, "gen.jsonl", 200)
    out = tmp_path / "det"
    assert main(["corpus", "detection", "--real", str(real), "--generated", str(gen), "--out", str(out),
                 "--split-by", "source", "--real-group-column", "platform", "--near-dup-threshold", "none",
                 "--validation-fraction", "0.2", "--test-fraction", "0.3"]) == 0
    printed = capsys.readouterr().out
    assert "near duplicates across splits removed (real, generated): validation 0, 0, test 0, 0 (off)" in printed
    meta = json.loads((out / "detection.json").read_text())
    assert meta["split"]["by"] == "source" and meta["near_duplicates"]["enabled"] is False
    check_no_group_leak(load_rows(out))
    assert main(["corpus", "detection", "--real", str(real), "--generated", str(gen), "--out", str(out),
                 "--near-dup-threshold", "0.9", "--near-dup-shingle", "2"]) == 0
    meta = json.loads((out / "detection.json").read_text())
    assert meta["near_duplicates"]["shingles"] == "word 2-grams" and meta["near_duplicates"]["threshold"] == 0.9
    # A detection.json of format /2 (no split, no near_duplicates) still gives a card.
    for key in ("split", "near_duplicates"):
        meta.pop(key)
    for key in ("split_by", "group_column", "near_dup_threshold", "near_dup_shingle", "near_dup_num_perm"):
        meta["settings"].pop(key)
    card = dataset_card({**meta, "format": "textgan.detection/2"})
    assert "Split by source run" in card and "Near duplicates" not in card and "Split method" not in card
