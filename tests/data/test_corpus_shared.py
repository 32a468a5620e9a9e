"""Tests of the named corpora against the shared copy ($TEXTGAN_CORPORA); skipped without it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from textgan.data.corpus import (
    corpus_file,
    corpus_info,
    list_corpora,
    load_corpus,
    locate_file,
    split_status,
    verify_corpus,
)
from textgan.data.encode import encode_texts
from textgan.data.tokenizers import build_tokenizer
from textgan.data.vocab import Vocab
from textgan.errors import TextganError


def test_every_present_split_has_the_card_row_count(shared_corpora: Path) -> None:
    checked = 0
    for card in list_corpora():
        for split, files in split_status(card).items():
            if any(path is None for path in files.values()):
                continue
            ds = load_corpus(card.name, split)
            expected = card.splits[split].rows
            if card.name == "fake_news/fakenewsnet_v1":
                expected -= 2  # two articles have empty text and are dropped
            assert len(ds) == expected, (card.name, split)
            assert ds.column_names[0] == "text"
            assert ("label" in ds.column_names) == (card.splits[split].label_field is not None)
            checked += 1
    assert checked >= 11


def test_shared_files_match_their_checksums(shared_corpora: Path) -> None:
    for card in list_corpora():
        results = verify_corpus(card.name)
        assert all(ok in (True, None) for ok in results.values()), (card.name, results)
    assert verify_corpus("coco_captions") == {"train.txt": True, "test.txt": True}


def test_coco_first_caption(shared_corpora: Path) -> None:
    ds = load_corpus("coco_captions", "train")
    assert ds[0]["text"] == "a bicycle replica with a clock as the front wheel."


def test_newsgroups_labels_match_label_file(shared_corpora: Path) -> None:
    ds = load_corpus("newsgroups20", "test")
    names = corpus_file("newsgroups20", "labels.txt").read_text(encoding="utf-8").split()
    assert len(names) == 20
    pairs = set(zip(ds["label"], ds["label_name"]))
    assert pairs == {(i, name) for i, name in enumerate(names)}
    assert Counter(ds["label"])[names.index("talk.religion.misc")] == 251


def test_adm_vocab_file(shared_corpora: Path) -> None:
    words = corpus_file("newsgroups20", "20newsgroups.vocab").read_text(encoding="utf-8").split("\n")
    assert words[:3] == ["aa", "ab", "ability"]
    assert len([w for w in words if w]) == 2000


def test_liar_labels_and_columns(shared_corpora: Path) -> None:
    ds = load_corpus("fake_news/liar", "train")
    counts = Counter(ds["label_name"])
    assert counts == {"false": 1998, "half-true": 2123, "mostly-true": 1966, "true": 1683,
                      "barely-true": 1657, "pants-fire": 842}
    assert Counter(ds["label"])[0] == 842 and Counter(ds["label"])[5] == 1683
    assert ds[0]["text"] == "Says the Annies List political group supports third-trimester abortions on demand."
    assert ds[0]["speaker"] == "dwayne-bohac"


def test_fake_news_folds_and_label_polarity(shared_corpora: Path) -> None:
    fa_kes = load_corpus("fake_news/fa_kes", "all")
    assert Counter(fa_kes["fold"]) == {0: 160, 1: 159, 2: 163, 3: 161, 4: 161}
    assert Counter(zip(fa_kes["label"], fa_kes["label_name"])) == {(1, "credible"): 427, (0, "fake"): 377}
    fnn = load_corpus("fake_news/fakenewsnet_v1", "all")
    assert set(zip(fnn["label"], fnn["label_name"])) == {(1, "fake"), (0, "real")}
    titles = load_corpus("fake_news/fa_kes", "all", text_column="title")
    assert titles[0]["text"] == "Syria attack symptoms consistent with nerve agent use WHO"


def test_fa_kes_original_csv_as_user_file(shared_corpora: Path) -> None:
    path = corpus_file("fake_news/fa_kes", "FA-KES-Dataset.csv")
    ds = load_corpus(str(path), text_column="article_content", label_column="labels")
    assert len(ds) == 804
    assert Counter(ds["label"]) == {1: 427, 0: 377}
    assert "article_title" in ds.column_names


def test_oracle_samples_encode_with_integer_vocab(shared_corpora: Path) -> None:
    card = corpus_info("synthetic_oracle")
    ds = load_corpus("synthetic_oracle")
    tokenizer, vocab = build_tokenizer(card.tokenizer), Vocab.integers(card.integer_vocab)
    ids, n_truncated = encode_texts(ds["text"][:100], tokenizer, vocab, 20)
    assert ids.shape == (100, 20) and n_truncated == 0
    assert ids[0, :3].tolist() == [3388, 2260, 4538]
    assert int(ids.max()) < 5000


def test_oracle_params_file(shared_corpora: Path) -> None:
    import numpy as np

    with np.load(corpus_file("synthetic_oracle", "seqgan_oracle_params.npz"), allow_pickle=False) as params:
        assert params["embedding"].shape == (5000, 32)
        assert params["W_out"].shape == (32, 5000)


def test_emnlp_train_missing_message(shared_corpora: Path) -> None:
    if locate_file("emnlp_news", "emnlp_news.txt") is not None:
        pytest.skip("emnlp_news.txt is present")
    with pytest.raises(TextganError) as err:
        load_corpus("emnlp_news", "train")
    message = str(err.value)
    assert "\n" not in message
    assert str(shared_corpora / "emnlp_news" / "emnlp_news.txt") in message
    assert "download=True" in message
