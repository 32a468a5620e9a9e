"""Bag-of-words preprocessing for the ADM: tokenizers, vocabulary, binary encoding, splits."""

from __future__ import annotations

import json

import pytest
import torch

from textgan.data.bow import ENGLISH_STOP_WORDS, BowEncoder, label_ids, load_bow_data, validation_split
from textgan.errors import TextganError


def test_nltk_tokenizer_lowercases_and_splits_sentence_final_periods():
    enc = BowEncoder(["cars", "dogs"], "nltk")
    assert enc.tokenize("I like Cars. Dogs don't!") == ["i", "like", "cars", ".", "dogs", "do", "n't", "!"]


def test_words_tokenizer_is_sklearn_style():
    enc = BowEncoder(["aren"], "words")
    assert enc.tokenize("They AREN'T here: e-mail a@b.com") == ["they", "aren", "here", "mail", "com"]


def test_binary_encoding_and_counts():
    enc = BowEncoder(["aa", "car", "dog"], "words")
    counts = enc.counts(["car car dog", "AA cat", "nothing here"])
    assert counts.dtype == torch.uint8
    assert counts.tolist() == [[0, 2, 1], [1, 0, 0], [0, 0, 0]]
    # the first vocabulary word is kept (the reference's `if vocab_to_id.get(x)` drops id 0)
    assert enc.encode(["car car dog", "AA cat", "nothing here"]).tolist() == [[0, 1, 1], [1, 0, 0], [0, 0, 0]]


def test_vocabulary_file_save_load(tmp_path):
    (tmp_path / "v.vocab").write_text("alpha\nbeta\n\ngamma\n", encoding="utf-8")
    enc = BowEncoder.from_file(tmp_path / "v.vocab", "words")
    assert enc.words == ["alpha", "beta", "gamma"]
    enc.save(tmp_path / "vocab.json")
    assert BowEncoder.load(tmp_path / "vocab.json") == enc
    (tmp_path / "dup.vocab").write_text("a\na\n", encoding="utf-8")
    with pytest.raises(TextganError, match="twice"):
        BowEncoder.from_file(tmp_path / "dup.vocab")


def test_build_vocabulary_drops_stop_words_and_keeps_most_frequent():
    texts = ["the cat and the dog", "the cat sat", "dog cat 42 x"]
    enc = BowEncoder.build(texts, size=2, tokenizer="words")
    assert enc.words == ["cat", "dog"]  # 'the'/'and' are stop words, '42' not alphabetic
    assert {"the", "and", "of"} <= ENGLISH_STOP_WORDS
    assert "subject" not in ENGLISH_STOP_WORDS  # the paper's vocabulary keeps e-mail header words


def test_validation_split_is_deterministic_and_disjoint():
    a_train, a_valid = validation_split(100, 0.1, seed=3)
    b_train, b_valid = validation_split(100, 0.1, seed=3)
    assert torch.equal(a_valid, b_valid) and len(a_valid) == 10 and len(a_train) == 90
    assert not set(a_train.tolist()) & set(a_valid.tolist())
    assert not torch.equal(validation_split(100, 0.1, seed=4)[1], a_valid)


def test_string_labels_are_numbered_consistently():
    train, names = label_ids(["sport", "art", "sport"])
    test, names2 = label_ids(["art", "music"], names)
    assert train.tolist() == [1, 0, 1] and test.tolist() == [0, 2] and names2 == ["art", "sport", "music"]


def test_load_bow_data_from_a_user_folder(tmp_path):
    for split, n in (("train", 20), ("test", 5)):
        with open(tmp_path / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for i in range(n):
                f.write(json.dumps({"id": f"{split}-{i}", "text": f"apple banana {'car' if i % 2 else 'dog'}",
                                    "label": "even" if i % 2 == 0 else "odd"}) + "\n")
    data = load_bow_data(str(tmp_path), None, validation_fraction=0.25, seed=0, vocab_size=10, tokenizer="words")
    assert data.encoder.words == ["apple", "banana", "car", "dog"]
    assert (len(data.train), len(data.valid), len(data.test)) == (15, 5, 5)
    assert data.test.ids[0] == "test-0" and data.label_names == ["even", "odd"]
    assert data.train.binary.sum(dim=1).eq(3).all()


def test_paper_vocabulary_on_newsgroups20_is_the_reference_file(shared_corpora):
    from textgan.data.corpus import corpus_file

    enc = BowEncoder.from_file(corpus_file("newsgroups20", "20newsgroups.vocab"))
    assert len(enc) == 2000 and enc.words[:2] == ["aa", "ab"]
