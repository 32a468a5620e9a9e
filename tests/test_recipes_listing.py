"""Shipped recipes: `textgan recipes` lists every recipes/**/*.yaml with a whole first sentence."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from textgan import api
from textgan.resources import first_sentence, header_paragraph, recipe_summary

REPO = Path(__file__).resolve().parents[1]


def test_header_paragraph_joins_wrapped_comment_lines() -> None:
    text = "# First line of the\n#   header, end-of-\n# sequence and 0.740/\n# 0.520.\n#\n# Second paragraph.\nname: x\n"
    assert header_paragraph(text) == "First line of the header, end-of-sequence and 0.740/0.520."
    assert header_paragraph("\n# only\n\n# not this\n") == "only"
    assert header_paragraph("name: x\n# late comment\n") == ""


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("One. Two.", "One."),
        ("LeakGAN (Guo et al., AAAI 2018, Sec. 4 \"News\"). Next", "LeakGAN (Guo et al., AAAI 2018, Sec. 4 \"News\")."),
        ("See Fig. 2 and e.g. this, by J. Smith et al. 2018! Then", "See Fig. 2 and e.g. this, by J. Smith et al. 2018!"),
        ("It ends (docs/x.md). data.max_len follows", "It ends (docs/x.md)."),
        ("Quoted \"end.\" After", "Quoted \"end.\""),
        ("Numbers 0.950, 0.880 and file.yaml inside", "Numbers 0.950, 0.880 and file.yaml inside"),
        ("No end at all (a. B. c)", "No end at all (a. B. c)"),
    ],
)
def test_first_sentence(text: str, sentence: str) -> None:
    assert first_sentence(text) == sentence


def test_recipe_summary_is_the_first_sentence_across_wrapped_lines() -> None:
    text = ("# SeqGAN on the oracle (Yu et al.\n# 2017, Table 1). Reproduces the\n# paper.\n"
            "name: s\n")
    assert recipe_summary(text) == "SeqGAN on the oracle (Yu et al. 2017, Table 1)."


def test_list_recipes_finds_every_shipped_recipe() -> None:
    on_disk = sorted(p.relative_to(REPO / "recipes").as_posix() for p in (REPO / "recipes").rglob("*.yaml"))
    rows = api.list_recipes()
    assert [name for name, _ in rows] == on_disk
    assert len(on_disk) >= 10 and any("/" in name for name in on_disk)
    for name, summary in rows:
        paragraph = header_paragraph((REPO / "recipes" / name).read_text(encoding="utf-8"))
        assert summary and paragraph.startswith(summary), name
        # a whole sentence, or the whole paragraph when it has no sentence end: never cut mid-phrase
        assert summary == paragraph or re.search(r"[.!?][\"')\]]*$", summary), f"{name}: {summary!r}"
        assert summary.count("(") == summary.count(")"), f"{name}: {summary!r}"


def test_list_recipes_takes_another_root(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "r.yaml").write_text("# Deep recipe,\n# wrapped. More.\nname: r\n", encoding="utf-8")
    (tmp_path / "top.yaml").write_text("name: top\n", encoding="utf-8")
    assert api.list_recipes(tmp_path) == [("a/b/r.yaml", "Deep recipe, wrapped."), ("top.yaml", "")]


def test_shipped_recipes_are_found_by_name_from_any_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    expected = api.RECIPES_DIR / "mle" / "synthetic_oracle.yaml"
    for name in ("mle/synthetic_oracle", "mle/synthetic_oracle.yaml", "recipes/mle/synthetic_oracle.yaml"):
        assert api.find_recipe(name) == expected
    assert api.RECIPES_DIR.resolve() == (REPO / "recipes").resolve()
