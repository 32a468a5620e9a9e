"""Tests for textgan/data/encode.py."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from textgan.data.encode import (
    build_vocab_and_encode,
    decode_ids,
    encode_cached,
    encode_texts,
    tokenized_cache_dir,
)
from textgan.data.tokenizers import build_tokenizer
from textgan.data.vocab import Vocab
from textgan.errors import TextganError

WS = build_tokenizer("whitespace")


class CountingTokenizer:
    """A whitespace tokenizer that counts its tokenize calls."""

    kind = "counting"

    def __init__(self) -> None:
        self.calls = 0

    def tokenize(self, text: str) -> list[str]:
        self.calls += 1
        return text.split()

    def detokenize(self, tokens: Sequence[str]) -> str:
        return " ".join(tokens)

    def save(self, directory: Any) -> dict[str, Any]:
        return {"kind": self.kind}


def test_rows_are_tokens_eos_pad_with_truncation() -> None:
    vocab = Vocab.build([["a", "b", "b", "c"]])  # ids: b=4, a=5, c=6
    ids, n_truncated = encode_texts(["a b", "a b c d e", "zzz"], WS, vocab, max_len=4)
    assert ids.dtype == torch.long and ids.shape == (3, 4)
    assert ids.tolist() == [
        [5, 4, 2, 0],  # a b <eos> <pad>
        [5, 4, 6, 2],  # cut to max_len - 1 = 3 tokens, then <eos>; "d" would be <unk>
        [3, 2, 0, 0],  # unknown token -> <unk>
    ]
    assert n_truncated == 1


def test_truncation_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    vocab = Vocab.build([["a"]])
    with caplog.at_level(logging.INFO, logger="textgan.data.encode"):
        _, n = encode_texts(["a a a", "a a a a", "a"], WS, vocab, max_len=3)
    assert n == 2
    assert "truncated 2 of 3" in caplog.text


def test_integer_vocab_requires_exact_length() -> None:
    vocab = Vocab.integers(10)
    ids, n = encode_texts(["1 2 3", "9 0 0"], WS, vocab, max_len=3)
    assert ids.tolist() == [[1, 2, 3], [9, 0, 0]] and n == 0
    with pytest.raises(TextganError, match="text 1 has 2 tokens") as err:
        encode_texts(["1 2 3", "4 5"], WS, vocab, max_len=3)
    assert "\n" not in str(err.value)
    with pytest.raises(TextganError, match="exactly max_len=3"):
        encode_texts(["1 2 3 4"], WS, vocab, max_len=3)


def test_bad_max_len_and_empty_input() -> None:
    vocab = Vocab.build([["a"]])
    with pytest.raises(TextganError, match="max_len"):
        encode_texts(["a"], WS, vocab, max_len=1)
    with pytest.raises(TextganError, match="max_len"):
        encode_texts(["a"], WS, vocab, max_len=0)
    ids, n = encode_texts([], WS, vocab, max_len=5)
    assert ids.shape == (0, 5) and ids.dtype == torch.long and n == 0


def test_build_vocab_and_encode_matches_separate_steps() -> None:
    texts = ["the cat sat", "the dog sat down today"]
    vocab, ids, n = build_vocab_and_encode(texts, WS, max_len=4, min_freq=1)
    assert vocab == Vocab.build([t.split() for t in texts])
    expected, expected_n = encode_texts(texts, WS, vocab, 4)
    assert torch.equal(ids, expected) and n == expected_n == 1
    small, _, _ = build_vocab_and_encode(texts, WS, max_len=4, max_size=6)
    assert small.itos[4:] == ["sat", "the"]


def test_decode_ids_stops_at_eos() -> None:
    vocab = Vocab.build([["a", "b", "c"]])
    texts = ["a b", "c", "b a c"]
    ids, _ = encode_texts(texts, WS, vocab, max_len=5)
    assert decode_ids(ids, vocab, WS) == texts
    assert decode_ids(ids[0], vocab, WS) == ["a b"]
    a, b, eos = vocab.stoi["a"], vocab.stoi["b"], vocab.eos_id
    assert decode_ids([[a, eos, b, b]], vocab, WS) == ["a"]
    nltk = build_tokenizer("nltk")
    nltk_vocab = Vocab.build([nltk.tokenize("Hello, world!")])
    nltk_ids, _ = encode_texts(["Hello, world!"], nltk, nltk_vocab, max_len=8)
    assert decode_ids(nltk_ids, nltk_vocab, nltk) == ["Hello, world!"]


def test_decode_ids_integer_vocab() -> None:
    ids = torch.tensor([[4, 0, 2], [1, 1, 1]])
    assert decode_ids(ids, Vocab.integers(5), WS) == ["4 0 2", "1 1 1"]


def test_cache_hit_does_not_tokenize_again(tmp_path: Path) -> None:
    texts = ["a b c", "b c", "c a b a b"]
    vocab = Vocab.build([t.split() for t in texts])
    tok = CountingTokenizer()
    first, n1 = encode_cached(texts, tok, vocab, 4, cache_dir=tmp_path)
    assert tok.calls == 3 and n1 == 1
    files = sorted(p.suffix for p in tmp_path.iterdir())
    assert files == [".json", ".safetensors"]
    second, n2 = encode_cached(texts, tok, vocab, 4, cache_dir=tmp_path)
    assert tok.calls == 3  # served from the cache
    assert torch.equal(first, second) and n2 == n1 and second.dtype == torch.long
    encode_cached(texts, tok, vocab, 5, cache_dir=tmp_path)  # another max_len: a new entry
    assert tok.calls == 6
    encode_cached(texts + ["a"], tok, vocab, 4, cache_dir=tmp_path)  # other texts: a new entry
    assert tok.calls == 10
    other_vocab = Vocab.build([["a", "b", "c", "d"]])
    encode_cached(texts, tok, other_vocab, 4, cache_dir=tmp_path)  # other vocabulary: a new entry
    assert tok.calls == 13
    assert len(list(tmp_path.glob("*.safetensors"))) == 4


def test_cache_default_dir_and_dataset_input(tmp_path: Path) -> None:
    from datasets import Dataset

    assert tokenized_cache_dir() == tmp_path / "textgan_cache" / "tokenized"
    ds = Dataset.from_dict({"text": ["x y", "y"], "label": [0, 1]})
    vocab = Vocab.build([["x", "y"]])
    tok = CountingTokenizer()
    ids, _ = encode_cached(ds, tok, vocab, 3)
    assert ids.tolist() == [[vocab.stoi["x"], vocab.stoi["y"], 2], [vocab.stoi["y"], 2, 0]]
    assert len(list(tokenized_cache_dir().glob("*.safetensors"))) == 1
    encode_cached(["x y", "y"], tok, vocab, 3)  # same texts as a list: same entry
    assert tok.calls == 2
    with pytest.raises(TextganError, match="no 'text' column"):
        encode_cached(Dataset.from_dict({"body": ["x"]}), tok, vocab, 3)


def test_damaged_cache_entry_is_rebuilt(tmp_path: Path) -> None:
    vocab = Vocab.build([["a"]])
    tok = CountingTokenizer()
    ids, _ = encode_cached(["a", "a a"], tok, vocab, 3, cache_dir=tmp_path)
    (tensor_file,) = tmp_path.glob("*.safetensors")
    tensor_file.write_bytes(b"garbage")
    again, _ = encode_cached(["a", "a a"], tok, vocab, 3, cache_dir=tmp_path)
    assert tok.calls == 4 and torch.equal(ids, again)
    encode_cached(["a", "a a"], tok, vocab, 3, cache_dir=tmp_path)
    assert tok.calls == 4  # repaired entry is used


@settings(max_examples=40, deadline=None, database=None)
@given(
    st.lists(st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=9), min_size=1, max_size=5),
    st.integers(min_value=2, max_value=7),
)
def test_encode_properties(token_lists: list[list[str]], max_len: int) -> None:
    texts = [" ".join(tokens) for tokens in token_lists]
    vocab = Vocab.build(token_lists)
    ids, n_truncated = encode_texts(texts, WS, vocab, max_len)
    assert ids.shape == (len(texts), max_len)
    assert n_truncated == sum(len(t) > max_len - 1 for t in token_lists)
    for row, tokens in zip(ids.tolist(), token_lists):
        kept = tokens[: max_len - 1]
        assert row[len(kept)] == vocab.eos_id
        assert all(i == vocab.pad_id for i in row[len(kept) + 1 :])
        assert vocab.decode(row) == kept
