"""Tests for textgan/data/tokenizers.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from textgan.data.tokenizers import (
    TOKENIZER_KINDS,
    HFTokenizer,
    SentencePieceTokenizer,
    Tokenizer,
    build_tokenizer,
    load_tokenizer,
    tokenizer_fingerprint,
)
from textgan.errors import TextganError

CORPUS = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat and a dog are friends",
    "the bird flew over the mat",
    "dogs and cats play in the garden",
    "a small bird sat on a big dog",
] * 5


def test_whitespace() -> None:
    tok = build_tokenizer("whitespace")
    assert isinstance(tok, Tokenizer)
    assert tok.tokenize("  A  b\tc\n") == ["A", "b", "c"]
    assert tok.detokenize(["A", "b", "c"]) == "A b c"
    assert build_tokenizer("whitespace", lowercase=True).tokenize("A B") == ["a", "b"]


def test_whitespace_save_load(tmp_path: Path) -> None:
    config = build_tokenizer("whitespace", lowercase=True).save(tmp_path)
    assert config == {"kind": "whitespace", "lowercase": True}
    assert list(tmp_path.iterdir()) == []
    assert load_tokenizer(config, tmp_path).tokenize("X Y") == ["x", "y"]


def test_nltk_needs_no_downloaded_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import nltk

    # An empty data path: any lookup of punkt or other resources would raise LookupError.
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    tok = build_tokenizer("nltk")
    text = 'He said "hello, world!" and it\'s fine.'
    tokens = tok.tokenize(text)
    assert tokens == ["He", "said", "``", "hello", ",", "world", "!", "''", "and", "it", "'s", "fine", "."]
    assert tok.detokenize(tokens) == text
    assert isinstance(tok, Tokenizer)


def test_nltk_lowercase_and_round_trip(tmp_path: Path) -> None:
    tok = build_tokenizer("nltk", lowercase=True)
    assert tok.tokenize("The Cat.") == ["the", "cat", "."]
    again = load_tokenizer(tok.save(tmp_path), tmp_path)
    assert again.tokenize("The Cat.") == ["the", "cat", "."]


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_sentencepiece_train_is_deterministic_and_round_trips(model_type: str, tmp_path: Path) -> None:
    a = build_tokenizer("sentencepiece", train_texts=CORPUS, vocab_size=40, model_type=model_type)
    b = build_tokenizer("sentencepiece", train_texts=list(CORPUS), vocab_size=40, model_type=model_type)
    assert isinstance(a, SentencePieceTokenizer) and isinstance(a, Tokenizer)
    assert a.model_proto == b.model_proto
    assert 10 < len(a) <= 40
    text = "the cat sat on the log"
    pieces = a.tokenize(text)
    assert pieces[0].startswith("\u2581")  # SentencePiece marks word starts with U+2581
    assert a.detokenize(pieces) == text
    config = a.save(tmp_path)
    assert config["kind"] == "sentencepiece" and (tmp_path / config["model_file"]).is_file()
    loaded = load_tokenizer(config, tmp_path)
    assert loaded.tokenize(text) == pieces
    assert tokenizer_fingerprint(loaded) == tokenizer_fingerprint(a)


def test_sentencepiece_errors(tmp_path: Path) -> None:
    with pytest.raises(TextganError, match="train_texts"):
        build_tokenizer("sentencepiece")
    with pytest.raises(TextganError, match="empty"):
        build_tokenizer("sentencepiece", train_texts=["", "  "])
    with pytest.raises(TextganError, match="model_type"):
        build_tokenizer("sentencepiece", train_texts=CORPUS, model_type="wordpiece")
    with pytest.raises(TextganError, match="sentencepiece.model"):
        load_tokenizer({"kind": "sentencepiece", "model_file": "sentencepiece.model"}, tmp_path)


def _make_hf_folder(path: Path) -> Path:
    from tokenizers import Tokenizer as RustTokenizer
    from tokenizers import models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    rust = RustTokenizer(models.WordLevel(unk_token="[UNK]"))
    rust.pre_tokenizer = pre_tokenizers.Whitespace()
    rust.train_from_iterator(CORPUS, trainers.WordLevelTrainer(special_tokens=["[UNK]", "[PAD]"], show_progress=False))
    PreTrainedTokenizerFast(tokenizer_object=rust, unk_token="[UNK]", pad_token="[PAD]").save_pretrained(str(path))
    return path


def test_hf_local_folder(tmp_path: Path) -> None:
    folder = _make_hf_folder(tmp_path / "hf")
    tok = build_tokenizer("hf", path=folder)
    assert isinstance(tok, HFTokenizer) and isinstance(tok, Tokenizer)
    assert tok.tokenize("the cat sat on a unicorn") == ["the", "cat", "sat", "on", "a", "[UNK]"]
    assert tok.detokenize(["the", "cat", "sat"]) == "the cat sat"
    assert build_tokenizer("hf", path=folder, lowercase=True).tokenize("The CAT") == ["the", "cat"]


def test_hf_save_load(tmp_path: Path) -> None:
    tok = build_tokenizer("hf", path=_make_hf_folder(tmp_path / "hf"))
    run = tmp_path / "run"
    config = tok.save(run)
    assert config["kind"] == "hf" and (run / config["path"] / "tokenizer_config.json").is_file()
    assert [p.name for p in run.iterdir()] == [config["path"]]  # no temporary folder left behind
    loaded = load_tokenizer(config, run)
    assert loaded.tokenize("a dog and a bird") == ["a", "dog", "and", "a", "bird"]
    # Saving again replaces the folder in place.
    assert tok.save(run) == config
    assert tokenizer_fingerprint(loaded) == tokenizer_fingerprint(tok)


def test_hf_errors(tmp_path: Path) -> None:
    with pytest.raises(TextganError, match="path="):
        build_tokenizer("hf")
    with pytest.raises(TextganError, match="not found"):
        build_tokenizer("hf", path=tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TextganError, match="could not load") as err:
        build_tokenizer("hf", path=tmp_path / "empty")
    assert "\n" not in str(err.value)


def test_unknown_kind_lists_valid_kinds(tmp_path: Path) -> None:
    with pytest.raises(TextganError) as err:
        build_tokenizer("spacy")
    assert all(kind in str(err.value) for kind in TOKENIZER_KINDS)
    with pytest.raises(TextganError, match="whitespace"):
        load_tokenizer({"kind": "spacy"}, tmp_path)
    with pytest.raises(TextganError, match="kind"):
        load_tokenizer({}, tmp_path)


def test_fingerprint_depends_on_settings() -> None:
    plain = tokenizer_fingerprint(build_tokenizer("whitespace"))
    assert plain == tokenizer_fingerprint(build_tokenizer("whitespace"))
    assert plain != tokenizer_fingerprint(build_tokenizer("whitespace", lowercase=True))
    assert plain != tokenizer_fingerprint(build_tokenizer("nltk"))
    assert len(plain) == 64
