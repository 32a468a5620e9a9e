"""The corpus card files in corpora/cards/ (textgan/data/cards.py): every card loads, bad cards fail in one line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from textgan.data import corpus
from textgan.data.cards import CorpusCard, cards_dir, load_card, load_cards
from textgan.errors import TextganError

REPO = Path(__file__).resolve().parents[2]
CARDS = REPO / "corpora" / "cards"


def test_every_card_file_loads_and_is_registered() -> None:
    paths = sorted(CARDS.rglob("*.yaml"))
    assert paths, "no card files in corpora/cards"
    cards = load_cards(CARDS)
    assert [c.name for c in cards] == sorted(p.relative_to(CARDS).with_suffix("").as_posix() for p in paths)
    for card in cards:
        assert isinstance(card, CorpusCard)
        assert corpus._REGISTRY[card.name] == card
    assert {c.name for c in corpus.list_corpora()} == {c.name for c in cards}


def test_family_names_are_folders() -> None:
    liar = load_card(CARDS / "fake_news" / "liar.yaml", CARDS)
    assert liar.name == "fake_news/liar"
    assert liar.splits["valid"].columns == liar.splits["train"].columns == corpus.LIAR_COLUMNS  # YAML aliases
    assert corpus.LIAR_LABELS[0] == "pants-fire" and corpus.LIAR_LABELS[-1] == "true"


def test_the_source_tree_cards_are_used() -> None:
    assert cards_dir().resolve() == CARDS.resolve()


def test_the_readme_example_card_loads(tmp_path: Path) -> None:
    readme = (REPO / "corpora" / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(.*?)```", readme, re.S)
    assert block is not None, "corpora/README.md lacks its example card"
    text = "\n".join(line[3:] if line.startswith("   ") else line for line in block.group(1).splitlines())
    path = tmp_path / "cards" / "my_captions.yaml"
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    card = load_card(path, tmp_path / "cards")
    assert card.name == "my_captions" and list(card.splits) == ["train", "test"]
    assert card.splits["test"].text_field == "body" and card.remote["train.txt"].transform == "rstrip_lines"


GOOD = """\
title: Tiny
description: >-
  a tiny
  corpus
source: here
license: none
splits:
  train: {files: [train.txt], format: txt, rows: 2}
files:
  train.txt: null
"""


def _card(tmp_path: Path, text: str, name: str = "fam/tiny") -> Path:
    path = tmp_path / "cards" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_a_minimal_card(tmp_path: Path) -> None:
    card = load_card(_card(tmp_path, GOOD), tmp_path / "cards")
    assert card.name == "fam/tiny" and card.description == "a tiny corpus" and card.tokenizer == "whitespace"
    assert card.splits["train"].files == ("train.txt",) and card.splits["train"].rows == 2
    assert load_cards(tmp_path / "cards") == [card]


BAD = [
    ("title: [unclosed\n", "not valid YAML"),
    ("", "empty"),
    ("- a\n- b\n", "not a mapping"),
    ("name: fam/tiny\n" + GOOD, "'name' key"),
    (GOOD + "colour: red\n", "unknown key 'colour'"),
    (GOOD.replace("title: Tiny\n", ""), "lacks the key 'title'"),
    (GOOD.replace("title: Tiny", "title: 3"), "title is int"),
    (GOOD.replace("format: txt", "format: xml"), "format 'xml'"),
    (GOOD.replace("rows: 2", "rows: '2,000'"), "not a count"),
    (GOOD.replace("files: [train.txt]", "files: train.txt"), "list of strings"),
    (GOOD.replace("train.txt: null", "other.txt: null"), "files does not list it"),
    (GOOD.replace("train.txt: null", "train.txt: abc"), "not a sha256"),
    (GOOD + "tokenizer: spacy\n", "tokenizer 'spacy'"),
    (GOOD + "remote:\n  train.txt: {url: http://x, transform: unzip}\n", "transform 'unzip'"),
    (GOOD + "remote:\n  train.txt: {sha256: null}\n", "lacks the key 'url'"),
    (GOOD.replace("splits:\n  train: {files: [train.txt], format: txt, rows: 2}", "splits: {}"), "splits is empty"),
]


@pytest.mark.parametrize(("text", "problem"), BAD)
def test_a_malformed_card_fails_in_one_line_naming_the_file(tmp_path: Path, text: str, problem: str) -> None:
    path = _card(tmp_path, text)
    with pytest.raises(TextganError) as err:
        load_card(path, tmp_path / "cards")
    message = str(err.value)
    assert "\n" not in message
    assert str(path) in message and problem in message
    assert re.search(r": [a-z][^:]*", message.split(problem, 1)[1]), f"no fix after the problem: {message}"
    with pytest.raises(TextganError):  # loading the folder fails the same way
        load_cards(tmp_path / "cards")


def test_a_missing_cards_folder(tmp_path: Path) -> None:
    with pytest.raises(TextganError, match="corpus cards folder .* not found"):
        load_cards(tmp_path / "nowhere")
