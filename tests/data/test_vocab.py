"""Tests for textgan/data/vocab.py."""

from __future__ import annotations

import json
import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from textgan.data.vocab import SPECIALS, Vocab
from textgan.errors import TextganError


def test_specials_have_fixed_ids() -> None:
    vocab = Vocab(list(SPECIALS) + ["a", "b"])
    assert (vocab.pad_id, vocab.bos_id, vocab.eos_id, vocab.unk_id) == (0, 1, 2, 3)
    assert vocab.itos[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert len(vocab) == 6
    assert vocab.stoi["b"] == 5
    assert "a" in vocab and "z" not in vocab


def test_build_orders_by_frequency_then_string() -> None:
    vocab = Vocab.build([["b", "a", "b"], ["c", "a", "b"], ["d"]])
    # b:3, a:2, then the ties c:1, d:1 in string order
    assert vocab.itos == ["<pad>", "<bos>", "<eos>", "<unk>", "b", "a", "c", "d"]


def test_build_is_independent_of_text_order() -> None:
    texts = [["x", "y"], ["y", "z", "z"], ["w"], ["z", "x"]]
    shuffled = texts[:]
    random.Random(0).shuffle(shuffled)
    assert Vocab.build(texts) == Vocab.build(shuffled)


def test_build_min_freq_and_max_size_counts_specials() -> None:
    tokens = [["a"] * 5 + ["b"] * 3 + ["c"] * 2 + ["d"]]
    assert Vocab.build(tokens, min_freq=2).itos[4:] == ["a", "b", "c"]
    assert Vocab.build(tokens, max_size=6).itos == ["<pad>", "<bos>", "<eos>", "<unk>", "a", "b"]
    with pytest.raises(TextganError, match="max_size"):
        Vocab.build(tokens, max_size=4)
    with pytest.raises(TextganError, match="min_freq"):
        Vocab.build(tokens, min_freq=0)


def test_build_does_not_duplicate_special_strings() -> None:
    vocab = Vocab.build([["<unk>", "a", "<unk>", "<eos>"]])
    assert vocab.itos == ["<pad>", "<bos>", "<eos>", "<unk>", "a"]
    assert vocab.encode(["<unk>", "<eos>"]) == [3, 2]


def test_build_without_specials() -> None:
    vocab = Vocab.build([["b", "a", "b"]], specials=False)
    assert vocab.itos == ["b", "a"]
    assert vocab.pad_id is None and vocab.unk_id is None


def test_encode_maps_unknown_to_unk() -> None:
    vocab = Vocab.build([["the", "cat"]])
    assert vocab.encode(["the", "dog", "cat"]) == [vocab.stoi["the"], 3, vocab.stoi["cat"]]


def test_decode_stops_at_eos_and_drops_pad_bos() -> None:
    vocab = Vocab(list(SPECIALS) + ["a", "b"])
    ids = [1, 4, 0, 5, 2, 4, 0]
    assert vocab.decode(ids) == ["a", "b"]
    assert vocab.decode(torch.tensor(ids)) == ["a", "b"]
    assert vocab.decode(ids, strip_special=False) == ["<bos>", "a", "<pad>", "b", "<eos>", "a", "<pad>"]
    assert vocab.decode([3, 4]) == ["<unk>", "a"]


def test_decode_rejects_out_of_range_ids() -> None:
    vocab = Vocab(list(SPECIALS) + ["a"])
    with pytest.raises(TextganError, match="outside the vocabulary"):
        vocab.decode([4, 5])
    with pytest.raises(TextganError):
        vocab.decode([-1])


def test_integers_vocab() -> None:
    vocab = Vocab.integers(5)
    assert vocab.itos == ["0", "1", "2", "3", "4"]
    assert not vocab.specials
    assert (vocab.pad_id, vocab.bos_id, vocab.eos_id, vocab.unk_id) == (None, None, None, None)
    assert vocab.encode(["3", "0", "4"]) == [3, 0, 4]
    # No eos: decoding never stops early, and 2 is an ordinary token.
    assert vocab.decode([2, 2, 0]) == ["2", "2", "0"]
    with pytest.raises(TextganError, match="no <unk>"):
        vocab.encode(["5"])


def test_constructor_validates() -> None:
    with pytest.raises(TextganError, match="must start with"):
        Vocab(["a", "b"])
    with pytest.raises(TextganError, match="duplicate"):
        Vocab(list(SPECIALS) + ["a", "a"])


def test_save_load_round_trip(tmp_path) -> None:
    vocab = Vocab.build([["héllo", "world", "héllo"]])
    path = tmp_path / "sub" / "vocab.json"
    vocab.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["itos"] == ["<pad>", "<bos>", "<eos>", "<unk>", "héllo", "world"]
    assert data["specials"] is True
    assert Vocab.load(path) == vocab
    assert Vocab.from_dict(vocab.to_dict()) == vocab
    assert [p.name for p in path.parent.iterdir()] == ["vocab.json"]  # no temp files left
    ints = Vocab.integers(3)
    ints.save(tmp_path / "ints.json")
    assert Vocab.load(tmp_path / "ints.json") == ints


def test_equality_and_hash() -> None:
    a = Vocab.integers(3)
    assert a == Vocab(["0", "1", "2"], specials=False)
    assert a != Vocab.integers(4)
    assert hash(a) == hash(Vocab.integers(3))
    assert Vocab.build([["x"]]) != Vocab.build([["x"]], specials=False)


def test_load_errors_are_one_line(tmp_path) -> None:
    with pytest.raises(TextganError, match="not found") as missing:
        Vocab.load(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(TextganError, match="not valid JSON") as bad:
        Vocab.load(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(TextganError, match="itos"):
        Vocab.load(tmp_path / "list.json")
    assert "\n" not in str(missing.value) and "\n" not in str(bad.value)


@settings(max_examples=50, deadline=None, database=None)
@given(st.lists(st.lists(st.sampled_from(["a", "b", "c", "dd", "é", "<x>"]), max_size=8), min_size=1, max_size=6))
def test_encode_decode_round_trip(token_lists) -> None:
    vocab = Vocab.build(token_lists)
    for tokens in token_lists:
        assert vocab.decode(vocab.encode(tokens)) == tokens
    assert len(vocab) == 4 + len({t for tokens in token_lists for t in tokens})
