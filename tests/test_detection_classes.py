"""Label-conditional detection datasets: every row keeps its class, the card gives the class mix."""

import json
from pathlib import Path

import pytest

from textgan.detection import build_detection_dataset
from textgan.errors import TextganError

CLASSES = ("false", "true")


def write_real(tmp_path: Path, n: int = 120, labelled: bool = True) -> Path:
    path = tmp_path / "real.jsonl"
    with open(path, "w") as f:
        for i in range(n):
            c = CLASSES[i % 2]
            row = {"text": f"statement {i} says the {c} thing about plan {i % 9} today"}
            if labelled:
                row.update(label=i % 2, label_name=c)
            f.write(json.dumps(row) + "\n")
    return path


def write_generated(tmp_path: Path, n: int = 120, classes=CLASSES, every: bool = True) -> Path:
    path = tmp_path / "gen.jsonl"
    with open(path, "w") as f:
        for i in range(n):
            rec = {"id": i, "text": f"gen {i} zz {classes[i % len(classes)]} qq {i % 5}", "label": "generated",
                   "model": "conditional_lstm", "recipe": "liar", "checkpoint_sha256": "ab" * 32,
                   "sampling": {"temperature": 1.0, "seed": 0}}
            if every or i % 2:
                rec.update(class_label=i % len(classes), class_name=classes[i % len(classes)])
            f.write(json.dumps(rec) + "\n")
    return path


def rows(out: Path, split: str) -> list[dict]:
    return [json.loads(line) for line in (out / f"{split}.jsonl").read_text().splitlines()]


def test_rows_keep_their_class_and_the_card_gives_the_mix(tmp_path):
    ds = build_detection_dataset(write_real(tmp_path), [write_generated(tmp_path)], tmp_path / "det", seed=0)
    meta = json.loads((tmp_path / "det" / "detection.json").read_text())
    for split in ("train", "validation", "test"):
        for r in rows(ds.path, split):
            # the class is the one written into the text above: a shuffled class column fails here
            assert r["class_name"] in CLASSES and f" {r['class_name']} " in f" {r['text']} "
        mix = meta["classes"][split]
        got = {side: {c: sum(1 for r in rows(ds.path, split) if r["label"] == lab and r["class_name"] == c)
                      for c in CLASSES} for side, lab in (("real", 0), ("generated", 1))}
        assert mix == got
    assert meta["columns"]["class"] == "class_name"
    card = (tmp_path / "det" / "README.md").read_text()
    assert "## Classes (label-conditional generator)" in card and "| test | generated |" in card
    import datasets

    assert "class_name" in datasets.load_from_disk(str(tmp_path / "det"))["train"].column_names


def test_unconditional_runs_have_no_class_column(tmp_path):
    gen = tmp_path / "plain.jsonl"
    gen.write_text("".join(json.dumps({"id": i, "text": f"gen {i} zz qq", "label": "generated"}) + "\n" for i in range(80)))
    ds = build_detection_dataset(write_real(tmp_path, labelled=False), [gen], tmp_path / "det", seed=0)
    assert "class_name" not in rows(ds.path, "train")[0]
    assert json.loads((tmp_path / "det" / "detection.json").read_text())["classes"] is None


def test_class_errors_name_the_fix(tmp_path):
    with pytest.raises(TextganError, match="has no label column"):
        build_detection_dataset(write_real(tmp_path, labelled=False), [write_generated(tmp_path)], tmp_path / "a")
    with pytest.raises(TextganError, match="only some generated records carry a class"):
        build_detection_dataset(write_real(tmp_path), [write_generated(tmp_path, every=False)], tmp_path / "b")
    with pytest.raises(TextganError, match=r"generated classes \['half-true'\] are not labels"):
        build_detection_dataset(write_real(tmp_path), [write_generated(tmp_path, classes=("false", "half-true"))],
                                tmp_path / "c")
    assert not any((tmp_path / d).exists() for d in "abc")
