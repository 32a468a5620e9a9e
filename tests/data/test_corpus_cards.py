"""The corpus cards in corpora/ and the registry in textgan/data/corpus.py agree."""

from __future__ import annotations

from pathlib import Path

from textgan.data.corpus import list_corpora

REPO = Path(__file__).resolve().parents[2]
CARDS = REPO / "corpora"


def test_every_registered_corpus_has_a_card() -> None:
    for card in list_corpora():
        path = REPO / card.card_path
        assert path.is_file(), f"{card.name}: missing {card.card_path}"
        text = path.read_text(encoding="utf-8")
        assert card.name in text, f"{card.card_path} does not mention {card.name}"
        for relpath, sha256 in card.files.items():
            if sha256 is not None:
                assert sha256 in text, f"{card.card_path} lacks the sha256 of {relpath}"
        for split in card.splits:
            assert split in text


def test_every_card_has_a_registry_entry() -> None:
    families = {card.name.split("/")[0] for card in list_corpora()}
    documented = {p.stem for p in CARDS.glob("*.md") if p.name != "README.md"}
    assert documented == families


def test_readme_indexes_every_corpus() -> None:
    readme = (CARDS / "README.md").read_text(encoding="utf-8")
    for card in list_corpora():
        assert f"`{card.name}`" in readme
        assert Path(card.card_path).name in readme
