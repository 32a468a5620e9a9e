"""Recipes validate strictly: unknown keys, wrong types, YAML traps, overrides."""

from pathlib import Path

import pytest

from textgan.api import RECIPES_DIR, find_recipe, list_recipes
from textgan.config import Recipe, load_recipe, parse_overrides, recipe_from_dict, recipe_to_dict
from textgan.errors import TextganError


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "r.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_scientific_notation_reads_as_float(tmp_path):
    # PyYAML (YAML 1.1) returns the string "1e-4" for this; validation must coerce it.
    r = load_recipe(write(tmp_path, "mle:\n  lr: 1e-4\n"))
    assert r.mle.lr == 1e-4 and isinstance(r.mle.lr, float)


def test_unknown_key_names_the_nearest_valid_key(tmp_path):
    with pytest.raises(TextganError, match=r"unknown recipe key 'mle.epoks': did you mean 'mle.epochs'"):
        load_recipe(write(tmp_path, "mle:\n  epoks: 3\n"))
    with pytest.raises(TextganError, match=r"did you mean 'generator'"):
        load_recipe(write(tmp_path, "generatr:\n  embed_dim: 3\n"))


def test_wrong_type_names_key_and_expected_type(tmp_path):
    with pytest.raises(TextganError, match=r"'mle.epochs' expects int, got 'ten'"):
        load_recipe(write(tmp_path, "mle:\n  epochs: ten\n"))
    with pytest.raises(TextganError, match=r"'mle.grad_clip' expects float"):
        load_recipe(write(tmp_path, "mle:\n  grad_clip: [1]\n"))
    with pytest.raises(TextganError, match=r"'data.oracle' must be one of 'random', 'seqgan'.*did you mean 'seqgan'"):
        load_recipe(write(tmp_path, "data:\n  oracle: seqgn\n"))
    with pytest.raises(TextganError, match=r"expects bool"):
        load_recipe(write(tmp_path, "mle:\n  drop_last: 3\n"))


def test_missing_empty_and_malformed_files(tmp_path):
    with pytest.raises(TextganError, match="not found"):
        load_recipe(tmp_path / "nope.yaml")
    with pytest.raises(TextganError, match="is empty"):
        load_recipe(write(tmp_path, "# only a comment\n"))
    with pytest.raises(TextganError, match="not valid YAML at line 3"):
        load_recipe(write(tmp_path, "mle:\n  lr: [1,\n"))
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(TextganError, match="not UTF-8"):
        load_recipe(bad)


def test_overrides_are_typed_and_nested(tmp_path):
    assert parse_overrides(["mle.epochs=3", "data.corpus=coco_captions"]) == {
        "mle": {"epochs": 3}, "data": {"corpus": "coco_captions"}}
    r = load_recipe(write(tmp_path, "mle:\n  epochs: 7\n"), ["mle.epochs=3", "mle.lr=1e-3", "eval.metrics=[nll_test]"])
    assert (r.mle.epochs, r.mle.lr, r.eval.metrics) == (3, 1e-3, ("nll_test",))
    with pytest.raises(TextganError, match="KEY=VALUE"):
        parse_overrides(["mle.epochs"])


def test_defaults_live_on_the_dataclasses_and_round_trip():
    r = recipe_from_dict({})
    assert r == Recipe()
    assert recipe_from_dict(recipe_to_dict(r)) == r


def test_every_shipped_recipe_loads():
    paths = sorted(RECIPES_DIR.rglob("*.yaml"))
    assert len(paths) >= 2
    for path in paths:
        load_recipe(path)
        assert path.read_text(encoding="utf-8").startswith("#"), f"{path} lacks its header comment"


def test_recipes_are_listed_and_found_by_name():
    names = dict(list_recipes())
    assert "quickstart.yaml" in names and names["quickstart.yaml"].startswith("Quickstart")
    assert find_recipe("mle/synthetic_oracle") == RECIPES_DIR / "mle" / "synthetic_oracle.yaml"
    with pytest.raises(TextganError, match="did you mean recipes/quickstart.yaml"):
        find_recipe("quickstrt.yaml")


def test_the_leakgan_fake_news_chain_trains_as_the_leakgan_emnlp_budget_recipe():
    """fake_news/emnlp_news_leakgan_cpu.yaml's run also stands for leakgan/emnlp_news_cpu.yaml's BLEU table."""
    import yaml

    chain = yaml.safe_load((RECIPES_DIR / "fake_news" / "emnlp_news_leakgan_cpu.yaml").read_text())
    alone = yaml.safe_load((RECIPES_DIR / "leakgan" / "emnlp_news_cpu.yaml").read_text())
    for section in ("seed", "data", "generator", "mle", "discriminator", "adversarial", "eval"):
        assert chain[section] == alone[section], section


def test_the_tokenizer_has_one_name_and_its_old_spellings_are_aliases():
    from textgan.config import recipe_from_dict

    r = recipe_from_dict({"eval": {"bleu_tokenize": "nltk"}})
    assert r.eval.tokenizer == "nltk"
    r = recipe_from_dict({"data": {"corpus": "x.txt"}, "pipeline": {"detector": {"tokenize": "nltk"}}})
    assert r.pipeline.detector.tokenizer == "nltk"
    with pytest.raises(TextganError, match="same setting"):
        recipe_from_dict({"eval": {"bleu_tokenize": "nltk", "tokenizer": "whitespace"}})
