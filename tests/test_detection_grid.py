"""The decoding grid (issue 18 item 4): cells over temperature x top-p x top-k, each record keeps its
settings, the hardest cell is the argmin of the strongest detector's AUROC, resume, bad settings."""

import json
import math

import pytest
import torch

from textgan import generation
from textgan.cli import main
from textgan.data.tokenizers import build_tokenizer
from textgan.data.vocab import Vocab
from textgan.detection import grid as grid_mod
from textgan.detection.grid import cell_name, decoding_grid, format_grid, summarize
from textgan.errors import TextganError
from textgan.generation import SamplingSettings, generate_texts
from textgan.models.lstm_generator import LSTMGenerator
from textgan.train.checkpoint import save_checkpoint

WORDS = [f"w{i}" for i in range(20)]
DETECTORS = ("tfidf_logreg", "zero_shot_loglik", "zero_shot_logrank")
GRID = dict(temperatures=(0.5, 1.0), top_ps=(1.0,), top_ks=(0, 3), num=300, detectors=DETECTORS, n_bootstrap=200,
            device="cpu")
TINY_CNN = dict(embed_dim=8, filter_sizes=(1, 2), num_filters=(8, 8), lr=0.02, batch_size=16)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny random LSTM generator and "real" texts drawn from it at temperature 1, no top-k (another seed):
    the cell t1.0_p1.0_k0 decodes exactly like the real texts, so no detector can tell them apart, while
    temperature 0.5 and top-k 2 change the distribution and are easy to detect."""
    tmp = tmp_path_factory.mktemp("grid_world")
    torch.manual_seed(0)
    vocab = Vocab.build([WORDS])
    model = LSTMGenerator(len(vocab), 8, 8, max_len=10, start_token=vocab.bos_id, pad_id=vocab.pad_id,
                          eos_id=vocab.eos_id, init_std=0.5)
    ckpt = save_checkpoint(tmp / "ckpt", model, "lstm", vocab, build_tokenizer("whitespace"), {"recipe": "tiny"})
    gen = generate_texts(ckpt, 1500, tmp / "real.jsonl", sampling=SamplingSettings(seed=99), drop_duplicates=True)
    real = tmp / "real.txt"
    real.write_text("".join(json.loads(line)["text"] + "\n" for line in gen.path.read_text().splitlines()))
    return ckpt, real


@pytest.fixture(scope="module")
def finished(world, tmp_path_factory):
    ckpt, real = world
    out = tmp_path_factory.mktemp("grid") / "g"
    result = decoding_grid(ckpt, real, out, **GRID)
    return out, result


def test_cells_hold_their_settings_and_the_hardest_is_the_argmin(finished):
    out, result = finished
    names = {cell_name(t, 1.0, k) for t in (0.5, 1.0) for k in (0, 3)}
    assert {p.name for p in (out / "cells").iterdir()} == names  # no .partial folder left
    data = json.loads((out / "grid.json").read_text())
    assert data["complete"] and data["cells_done"] == 4
    # Every cell gives the dataset the same number of usable texts and the same real texts: a cell's real
    # test texts are those of the largest cell's (fewer only where near-duplicate generated texts were cut).
    assert all(c["counts"]["used"] == 300 for c in data["cells"])
    assert set(data["real_test_shared"].values()) == {1.0}
    assert len({c["counts"]["dataset"]["train"]["real"] for c in data["cells"]}) == 1
    for cell in data["cells"]:
        t, k = cell["sampling"]["temperature"], cell["sampling"]["top_k"]
        folder = out / "cells" / cell["name"]
        assert cell["name"] == cell_name(t, 1.0, k) and (folder / "cell.json").is_file()
        records = [json.loads(line) for line in (folder / "generated.jsonl").read_text().splitlines()]
        used = [json.loads(line) for line in (folder / "used.jsonl").read_text().splitlines()]
        assert len(records) >= 300 and len(used) == cell["counts"]["used"] == 300
        assert {r["text"] for r in used} <= {r["text"] for r in records}
        for r in records + used:  # every text keeps its cell's decoding settings
            assert (r["sampling"]["temperature"], r["sampling"]["top_p"], r["sampling"]["top_k"]) == (t, 1.0, k)
            assert r["sampling"]["seed"] == 0
        det = json.loads((folder / "detection" / "detection.json").read_text())
        assert [g["sampling"] for g in det["generated"]] == [[records[0]["sampling"]]]
        assert set(cell["detectors"]) == set(DETECTORS)
        for m in cell["detectors"].values():
            lo, hi = m["ci95"]["auroc"]
            assert lo <= m["auroc"] <= hi and "tpr_at_fpr_1pct" in m and "accuracy" in m
        assert 0 < cell["text"]["distinct2"] <= 1 and 0 <= cell["text"]["self_bleu4"] <= 1
        assert cell["text"]["len_mean"] > 0
    # The hardest cell is the argmin over cells of the strongest detector's AUROC, computed here from scratch.
    best = {c["name"]: max(m["auroc"] for m in c["detectors"].values()) for c in data["cells"]}
    argmin = min(best, key=best.get)
    assert data["hardest"]["name"] == result.hardest["name"] == argmin == "t1.0_p1.0_k0"
    assert data["hardest"]["auroc"] == pytest.approx(best[argmin])
    assert data["ranking"] == sorted(best, key=best.get)
    assert best["t0.5_p1.0_k0"] > 0.8 and best["t1.0_p1.0_k3"] > 0.8  # the other cells are easy
    ci = data["hardest"]["auroc_ci95"]
    assert ci[0] <= best[argmin] <= ci[1]
    expected = [c["name"] for c in data["cells"] if c["name"] != argmin
                and not (c["detectors"][c["best_detector"]]["ci95"]["auroc"][1] < ci[0]
                         or ci[1] < c["detectors"][c["best_detector"]]["ci95"]["auroc"][0])]
    assert sorted(data["overlapping"]) == sorted(expected)
    md = (out / "grid.md").read_text()
    rows = [line for line in md.splitlines() if line.startswith("| ") and "_p" in line]
    assert [r.split(" | ")[1] for r in rows] == data["ranking"]  # sorted, hardest first
    assert "**Hardest to detect: t1.0_p1.0_k0**" in md and f"[{ci[0]:.3f}, {ci[1]:.3f}]" in md


def test_rerun_skips_finished_cells_and_a_killed_grid_continues(world, finished, tmp_path, monkeypatch):
    ckpt, real = world
    out, _ = finished
    calls = []
    real_generate = generation.generate_texts
    monkeypatch.setattr(generation, "generate_texts", lambda *a, **kw: calls.append(kw["sampling"]) or real_generate(*a, **kw))
    again = decoding_grid(ckpt, real, out, **GRID)
    assert calls == [] and sorted(again.skipped) == sorted(c["name"] for c in again.cells)

    # A grid killed in its third cell (after that cell's texts were generated) continues where it stopped.
    fresh = tmp_path / "g"
    real_build = grid_mod._dataset.build_detection_dataset
    builds = []

    def dying_build(*a, **kw):
        builds.append(1)
        if len(builds) == 3:
            raise KeyboardInterrupt
        return real_build(*a, **kw)

    monkeypatch.setattr(grid_mod._dataset, "build_detection_dataset", dying_build)
    with pytest.raises(KeyboardInterrupt):
        decoding_grid(ckpt, real, fresh, **GRID)
    partial = json.loads((fresh / "grid.json").read_text())
    assert not partial["complete"] and partial["cells_done"] == 2
    assert "incomplete" in (fresh / "grid.md").read_text()
    third = cell_name(1.0, 1.0, 0)
    assert (fresh / "cells" / f".{third}.partial" / "generated.jsonl").is_file()
    assert not (fresh / "cells" / third).exists()
    calls.clear()
    resumed = decoding_grid(ckpt, real, fresh, **GRID)
    assert sorted(resumed.skipped) == [cell_name(0.5, 1.0, 0), cell_name(0.5, 1.0, 3)]
    assert [(s.temperature, s.top_k) for s in calls] == [(1.0, 0), (1.0, 3)]
    assert not (fresh / "cells" / f".{third}.partial").exists()
    # The same numbers as the uninterrupted grid.
    first = json.loads((out / "grid.json").read_text())
    second = json.loads((fresh / "grid.json").read_text())
    assert [(c["name"], c["best_auroc"]) for c in second["cells"]] == [(c["name"], c["best_auroc"]) for c in first["cells"]]


def test_other_settings_in_the_same_folder_are_refused(world, finished):
    ckpt, real = world
    out, _ = finished
    with pytest.raises(TextganError, match=r"other settings .*num 300 vs 301.*another --out"):
        decoding_grid(ckpt, real, out, **{**GRID, "num": 301})


@pytest.mark.parametrize("change, message", [
    ({"top_ps": (0.0,)}, r"--top-p values must be in \(0, 1\]"),
    ({"top_ps": (1.5,)}, r"--top-p values must be in \(0, 1\]"),
    ({"temperatures": ()}, r"--temperatures is empty"),
    ({"temperatures": (0.0, 1.0)}, r"--temperatures values must be > 0"),
    ({"top_ks": (-1,)}, r"--top-k values must be whole numbers >= 0"),
    ({"top_ks": (0, 0)}, r"--top-k lists a value twice"),
    ({"detectors": ("tfidf", )}, r"unknown detector"),
    ({"num": 0}, r"-n/--num must be"),
])
def test_bad_settings_fail_before_anything_is_written(world, tmp_path, change, message):
    ckpt, real = world
    out = tmp_path / "g"
    with pytest.raises(TextganError, match=message):
        decoding_grid(ckpt, real, out, **{**GRID, **change})
    assert not out.exists()


def test_cli_grid_with_the_cnn(world, tmp_path, capsys, monkeypatch):
    ckpt, real = world
    out = tmp_path / "g"
    assert main(["corpus", "grid", str(ckpt), "--real", str(real), "--out", str(out), "--top-p", "0,1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--top-p" in err and not out.exists()
    assert main(["corpus", "grid", str(ckpt), "--real", str(real), "--out", str(out), "--temperatures", ""]) == 2
    assert "--temperatures is empty" in capsys.readouterr().err and not out.exists()

    real_report = grid_mod.decoding_grid
    monkeypatch.setattr(grid_mod, "decoding_grid",  # the shipped CNN is large: a tiny one for the test
                        lambda *a, **kw: real_report(*a, **{**kw, "detector_options": TINY_CNN}))
    assert main(["corpus", "grid", str(ckpt), "--real", str(real), "--out", str(out), "--temperatures", "1.0",
                 "--top-p", "0.9", "--top-k", "0,3", "-n", "200", "--detectors", "tfidf_logreg,cnn", "--epochs", "1",
                 "--oov", "drop", "--quiet", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "Hardest to detect" in printed and str(out / "grid.md") in printed
    data = json.loads((out / "grid.json").read_text())
    assert [c["name"] for c in data["cells"]] == ["t1.0_p0.9_k0", "t1.0_p0.9_k3"]
    for c in data["cells"]:
        assert set(c["detectors"]) == {"tfidf_logreg", "cnn"} and not math.isnan(c["detectors"]["cnn"]["auroc"])
        assert (out / "cells" / c["name"] / "detection" / "report.json").is_file()
    assert data["settings"]["epochs"] == 1 and data["settings"]["num"] == 200 and data["settings"]["oov"] == "drop"
    assert json.loads((out / "cells" / "t1.0_p0.9_k0" / "detection" / "detection.json").read_text())[
        "canonical"]["oov"] == "drop"


def _cell(name, aurocs, unk=(0.0, 0.0)):
    t, p, k = name[1:].split("_")
    return {"name": name, "sampling": {"temperature": float(t), "top_p": float(p[1:]), "top_k": int(k[1:])},
            "detectors": {d: {"auroc": a, "accuracy": 0.5, "tpr_at_fpr_1pct": 0.0, "ci95": {"auroc": list(ci)}}
                          for d, (a, ci) in aurocs.items()},
            "best_detector": max(aurocs, key=lambda d: aurocs[d][0]), "best_auroc": max(a for a, _ in aurocs.values()),
            "counts": {"dataset": {"test": {"real": 100, "generated": 100}}},
            "text": {"distinct2": 0.5, "self_bleu4": 0.3, "len_mean": 9.0},
            "unk_token_rate": {"real": unk[0], "generated": unk[1]}}


def test_summary_names_the_argmin_and_overlapping_intervals():
    cells = [_cell("t0.7_p1.0_k0", {"tfidf_logreg": (0.95, (0.93, 0.97)), "cnn": (0.60, (0.5, 0.7))}),
             _cell("t1.0_p1.0_k0", {"tfidf_logreg": (0.70, (0.64, 0.76)), "cnn": (0.72, (0.66, 0.78))}),
             _cell("t1.3_p1.0_k0", {"tfidf_logreg": (0.74, (0.69, 0.80)), "cnn": (0.50, (0.4, 0.6))}, unk=(0.04, 0.0))]
    summary = summarize(cells)
    # Strongest detectors: 0.95, 0.72, 0.74 -> hardest t1.0 (its cnn), whose interval overlaps t1.3's only.
    assert summary["ranking"] == ["t1.0_p1.0_k0", "t1.3_p1.0_k0", "t0.7_p1.0_k0"]
    assert summary["hardest"]["name"] == "t1.0_p1.0_k0" and summary["hardest"]["detector"] == "cnn"
    assert summary["hardest"]["auroc_ci95"] == [0.66, 0.78] and summary["overlapping"] == ["t1.3_p1.0_k0"]
    settings = {"checkpoint": "run", "num": 1000, "seed": 0, "real": "r", "real_max_tokens": 9,
                "detectors": ["cnn", "tfidf_logreg"]}
    md = format_grid({"settings": settings, "cells": cells, "cells_done": 3, "num_cells": 3, "complete": True,
                      "same_real_test_texts": True, "real_test_shared": {}, **summary})
    assert "**Hardest to detect: t1.0_p1.0_k0**" in md and "0.720 [0.660, 0.780]" in md
    assert "overlaps those of t1.3_p1.0_k0" in md and "not resolved" in md
    assert "**Warning**: real texts hold `<unk>`" in md and "--oov drop" in md
