"""Tests for textgan/data/corpus.py that need no shared corpora (user files, lookup, download)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from textgan.data import corpus
from textgan.data.corpus import (
    CorpusCard,
    RemoteFile,
    SplitSpec,
    corpus_file,
    corpus_info,
    format_card,
    format_card_line,
    list_corpora,
    load_corpus,
    locate_file,
    register_corpus,
)
from textgan.errors import TextganError


def one_line_error(excinfo: pytest.ExceptionInfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------------------- user files


def test_txt_one_text_per_line(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"\xef\xbb\xbfhello world\r\n\n   \nsecond line \nthird")
    ds = load_corpus(str(path))
    assert ds.column_names == ["text"]
    assert ds["text"] == ["hello world", "second line ", "third"]


def test_jsonl_with_label_and_extra_columns(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    rows = [
        {"id": 1, "body": "first doc", "label": 1, "text": "t1"},
        {"id": 2, "body": "second doc", "label": 0, "text": "  "},
        {"id": 3, "body": "  ", "label": 1, "text": "t3"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    ds = load_corpus(path)
    assert ds.column_names == ["text", "label", "id", "body"]
    assert ds["text"] == ["t1", "t3"]  # the blank text is dropped
    assert ds["label"] == [1, 1]
    by_body = load_corpus(path, text_column="body", label_column="id")
    assert by_body["text"] == ["first doc", "second doc"]
    assert by_body["label"] == [1, 2]


def test_jsonl_errors(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "ok"}\n{"text": broken}\n', encoding="utf-8")
    with pytest.raises(TextganError) as err:
        load_corpus(path)
    assert "line 2" in one_line_error(err)
    path.write_text('{"text": "ok"}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(TextganError, match="line 2"):
        load_corpus(path)
    path.write_text('{"body": "x", "y": 1}\n', encoding="utf-8")
    with pytest.raises(TextganError) as err:
        load_corpus(path)
    message = one_line_error(err)
    assert "'text'" in message and "['body', 'y']" in message and "text_column" in message
    path.write_text('{"text": 5}\n', encoding="utf-8")
    with pytest.raises(TextganError, match="not text"):
        load_corpus(path)


def test_csv_quoting_and_integer_labels(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text('text,label,note\n"hello, world",1,a\n"two\nlines",0,b\n', encoding="utf-8")
    ds = load_corpus(path)
    assert ds["text"] == ["hello, world", "two\nlines"]
    assert ds["label"] == [1, 0]  # "1"/"0" strings become ints
    assert ds.column_names == ["text", "label", "note"]
    path.write_text("content,label\nx,pos\ny,neg\n", encoding="utf-8")
    ds = load_corpus(path, text_column="content")
    assert ds["label"] == ["pos", "neg"]


def test_csv_errors(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("text,label\na,1\nb,2,3\n", encoding="utf-8")
    with pytest.raises(TextganError, match="line 3 has 3 fields"):
        load_corpus(path)
    path.write_text("text,label\na,1\n", encoding="utf-8")
    with pytest.raises(TextganError) as err:
        load_corpus(path, label_column="y")
    assert "['text', 'label']" in one_line_error(err)


def test_tsv_without_quote_processing(tmp_path: Path) -> None:
    path = tmp_path / "d.tsv"
    path.write_text('text\tlabel\n"quoted" start\t1\nplain\t0\n', encoding="utf-8")
    ds = load_corpus(path)
    assert ds["text"] == ['"quoted" start', "plain"]
    assert ds["label"] == [1, 0]


def test_saved_dataset_and_dataset_dict(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    Dataset.from_dict({"sentence": ["a b", "c", " "], "y": [0, 1, 1]}).save_to_disk(str(tmp_path / "ds"))
    ds = load_corpus(tmp_path / "ds", text_column="sentence", label_column="y")
    assert ds["text"] == ["a b", "c"] and ds["label"] == [0, 1]
    DatasetDict(
        {"train": Dataset.from_dict({"text": ["x"]}), "test": Dataset.from_dict({"text": ["y", "z"]})}
    ).save_to_disk(str(tmp_path / "dd"))
    assert load_corpus(tmp_path / "dd", "test")["text"] == ["y", "z"]
    with pytest.raises(TextganError) as err:
        load_corpus(tmp_path / "dd", "valid")
    assert "['train', 'test']" in one_line_error(err)


def test_split_folder(tmp_path: Path) -> None:
    (tmp_path / "train.txt").write_text("a\nb\n", encoding="utf-8")
    (tmp_path / "test.jsonl").write_text('{"text": "c"}\n', encoding="utf-8")
    assert load_corpus(tmp_path)["text"] == ["a", "b"]
    assert load_corpus(tmp_path, "test")["text"] == ["c"]
    with pytest.raises(TextganError, match="valid.txt"):
        load_corpus(tmp_path, "valid")


def test_user_file_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(TextganError) as err:
        load_corpus(str(tmp_path / "missing.txt"))
    assert "not found" in one_line_error(err)
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    with pytest.raises(TextganError) as err:
        load_corpus(tmp_path / "empty.txt")
    assert "empty" in one_line_error(err)
    (tmp_path / "blank.txt").write_text("\n  \n\t\n", encoding="utf-8")
    with pytest.raises(TextganError, match="no non-blank texts"):
        load_corpus(tmp_path / "blank.txt")
    (tmp_path / "latin.txt").write_bytes(b"ok line\ncaf\xe9\n")
    with pytest.raises(TextganError) as err:
        load_corpus(tmp_path / "latin.txt")
    message = one_line_error(err)
    assert "latin.txt" in message and "offset 11" in message and "line 2" in message and "UTF-8" in message
    (tmp_path / "data.parquet").write_bytes(b"PAR1")
    with pytest.raises(TextganError) as err:
        load_corpus(tmp_path / "data.parquet")
    assert ".parquet" in one_line_error(err) and ".jsonl" in str(err.value)
    (tmp_path / "t.txt").write_text("x\n", encoding="utf-8")
    with pytest.raises(TextganError, match="no column"):
        load_corpus(tmp_path / "t.txt", text_column="body")


# ---------------------------------------------------------------------------- registry


def test_registry_lists_the_named_corpora() -> None:
    names = [card.name for card in list_corpora()]
    assert names == sorted(names)
    assert {
        "coco_captions",
        "emnlp_news",
        "newsgroups20",
        "fake_news/fa_kes",
        "fake_news/fakenewsnet_v1",
        "fake_news/liar",
        "synthetic_oracle",
    } <= set(names)
    assert set(corpus_info("emnlp_news").splits) == {"train", "valid", "test"}
    assert corpus_info("synthetic_oracle").integer_vocab == 5000
    assert corpus_info("coco_captions").tokenizer == "whitespace"
    assert corpus_info("fake_news/liar").card_path == "corpora/fake_news.md"


def test_unknown_names_suggest_the_nearest(no_corpora: None) -> None:
    with pytest.raises(TextganError) as err:
        load_corpus("coco_caption")
    message = one_line_error(err)
    assert "did you mean 'coco_captions'" in message and "newsgroups20" in message
    with pytest.raises(TextganError, match="did you mean 'fake_news/liar'"):
        load_corpus("fake_news/lair")
    with pytest.raises(TextganError, match="family") as err:
        load_corpus("fake_news")
    assert "fake_news/fa_kes" in str(err.value)
    with pytest.raises(TextganError, match="did you mean"):
        corpus_info("newsgroup20")


def test_unknown_split(no_corpora: None) -> None:
    with pytest.raises(TextganError) as err:
        load_corpus("fake_news/fa_kes", "train")
    assert "['all']" in one_line_error(err)


def test_register_refuses_duplicates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(corpus, "_REGISTRY", dict(corpus._REGISTRY))
    card = dataclasses.replace(corpus_info("coco_captions"), name="mine")
    register_corpus(card)
    with pytest.raises(TextganError, match="already registered"):
        register_corpus(card)
    register_corpus(card, replace=True)
    bad = dataclasses.replace(card, name="bad", splits={"train": SplitSpec(("a.xml",), "xml")})
    with pytest.raises(TextganError, match="format"):
        register_corpus(bad)


# ---------------------------------------------------------------------------- lookup order


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_corpora_dir_then_user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "shared"
    cache = tmp_path / "textgan_cache"  # set by the autouse fixture
    monkeypatch.setenv("TEXTGAN_CORPORA", str(shared))
    _write(cache / "corpora" / "coco_captions" / "test.txt", "from cache\n")
    assert load_corpus("coco_captions", "test")["text"] == ["from cache"]
    _write(shared / "coco_captions" / "test.txt", "from shared\nsecond\n")
    assert load_corpus("coco_captions", "test")["text"] == ["from shared", "second"]
    assert locate_file("coco_captions", "test.txt") == shared / "coco_captions" / "test.txt"
    assert locate_file("coco_captions", "train.txt") is None


def test_named_split_reads_header_less_tsv_with_label_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXTGAN_CORPORA", str(tmp_path))
    row = ["1.json", "half-true", '"Quoted" claim.', "tax", "someone", "job", "TX", "none"]
    row += ["0", "1", "2", "3", "4", "ctx"]
    row2 = ["2.json", "pants-fire", "Another claim.", *row[3:]]
    _write(tmp_path / "fake_news" / "liar" / "valid.tsv", "\t".join(row) + "\n" + "\t".join(row2) + "\n")
    ds = load_corpus("fake_news/liar", "valid")
    assert ds["text"] == ['"Quoted" claim.', "Another claim."]
    assert ds["label"] == [3, 0]
    assert ds["label_name"] == ["half-true", "pants-fire"]
    assert ds.column_names[:4] == ["text", "label", "label_name", "id"]
    assert ds["context"] == ["ctx", "ctx"]
    bad = ["3.json", "sort-of-true", *row[2:]]
    _write(tmp_path / "fake_news" / "liar" / "test.tsv", "\t".join(bad) + "\n")
    with pytest.raises(TextganError, match="sort-of-true"):
        load_corpus("fake_news/liar", "test")


def test_missing_file_names_both_places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXTGAN_CORPORA", str(tmp_path / "shared"))
    with pytest.raises(TextganError) as err:
        load_corpus("emnlp_news", "train")
    message = one_line_error(err)
    assert str(tmp_path / "shared" / "emnlp_news" / "emnlp_news.txt") in message
    assert str(tmp_path / "textgan_cache" / "corpora" / "emnlp_news" / "emnlp_news.txt") in message
    assert "download=True" in message and "Texygen" in message
    with pytest.raises(TextganError) as err:
        corpus_file("synthetic_oracle", "seqgan_oracle_params.npz")
    message = one_line_error(err)
    assert "seqgan_oracle_params.npz" in message and "download=True" not in message
    with pytest.raises(TextganError, match="has no file"):
        corpus_file("synthetic_oracle", "other.bin")


def test_missing_file_without_corpora_env(no_corpora: None) -> None:
    with pytest.raises(TextganError) as err:
        corpus_file("newsgroups20", "20newsgroups.vocab")
    assert "$TEXTGAN_CORPORA/newsgroups20/20newsgroups.vocab" in one_line_error(err)


def test_format_card_reports_local_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXTGAN_CORPORA", str(tmp_path))
    _write(tmp_path / "coco_captions" / "train.txt", "a\n")
    text = format_card(corpus_info("coco_captions"))
    assert "train.txt: present" in text and "test.txt: MISSING" in text
    assert "10,000 rows" in text and "CC BY 4.0" in text
    line = format_card_line(corpus_info("coco_captions"))
    assert "\n" not in line and "train," in line and "test (missing)" in line


# ---------------------------------------------------------------------------- downloads


def _git_blob(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(corpus, "_REGISTRY", dict(corpus._REGISTRY))


def _remote_card(url: str, **remote_kwargs) -> CorpusCard:
    return CorpusCard(
        name="tiny",
        title="tiny",
        description="test corpus",
        source=url,
        license="none",
        splits={"train": SplitSpec(("train.txt",), "txt")},
        files={"train.txt": None},
        remote={"train.txt": RemoteFile(url, **remote_kwargs)},
    )


def test_download_is_opt_in_and_cached(tmp_path: Path, no_corpora: None, scratch_registry: None) -> None:
    raw = b"first line  \nsecond\t\n\n"
    upstream = tmp_path / "upstream.txt"
    upstream.write_bytes(raw)
    register_corpus(_remote_card(upstream.as_uri(), git_blob=_git_blob(raw), transform="rstrip_lines"))
    with pytest.raises(TextganError, match="download=True"):
        load_corpus("tiny")
    ds = load_corpus("tiny", download=True)
    assert ds["text"] == ["first line", "second"]
    cached = tmp_path / "textgan_cache" / "corpora" / "tiny" / "train.txt"
    assert cached.read_bytes() == b"first line\nsecond\n"
    assert not list((tmp_path / "textgan_cache" / "corpora" / "_downloads").iterdir())  # single-use raw file removed
    upstream.unlink()  # a second load does not download again
    assert load_corpus("tiny")["text"] == ["first line", "second"]


def test_download_via_environment(tmp_path: Path, no_corpora: None, scratch_registry: None,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    upstream = tmp_path / "up.txt"
    upstream.write_bytes(b"x y\n")
    register_corpus(_remote_card(upstream.as_uri()))
    monkeypatch.setenv("TEXTGAN_DOWNLOAD", "1")
    assert load_corpus("tiny")["text"] == ["x y"]


def test_download_checksum_mismatch_leaves_nothing(tmp_path: Path, no_corpora: None, scratch_registry: None) -> None:
    upstream = tmp_path / "up.txt"
    upstream.write_bytes(b"tampered\n")
    register_corpus(_remote_card(upstream.as_uri(), git_blob=_git_blob(b"original\n")))
    with pytest.raises(TextganError) as err:
        load_corpus("tiny", download=True)
    assert "git blob" in one_line_error(err)
    cache = tmp_path / "textgan_cache" / "corpora"
    assert [p for p in cache.rglob("*") if p.is_file()] == []


def test_offline_download_fails_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              scratch_registry: None) -> None:
    monkeypatch.setenv("TEXTGAN_CORPORA", str(tmp_path / "shared"))
    # Port 9 (discard) on localhost: the connection is refused at once, no real network.
    register_corpus(_remote_card("http://127.0.0.1:9/train.txt"))
    with pytest.raises(TextganError) as err:
        load_corpus("tiny", download=True)
    message = one_line_error(err)
    assert "could not download" in message and "http://127.0.0.1:9/train.txt" in message
    assert str(tmp_path / "shared" / "tiny" / "train.txt") in message
    assert str(tmp_path / "textgan_cache" / "corpora" / "tiny" / "train.txt") in message
    cache = tmp_path / "textgan_cache" / "corpora"
    assert not cache.exists() or [p for p in cache.rglob("*") if p.is_file()] == []


def test_real_card_download_offline(tmp_path: Path, no_corpora: None) -> None:
    # The network guard in conftest makes the real GitHub URL fail like an offline machine.
    with pytest.raises(TextganError) as err:
        load_corpus("coco_captions", "test", download=True)
    message = one_line_error(err)
    assert "raw.githubusercontent.com/geek-ai/Texygen" in message and "test.txt" in message


def _tarball(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_newsgroups_conversion(tmp_path: Path, no_corpora: None, scratch_registry: None) -> None:
    archive = _tarball(
        tmp_path / "20news-bydate.tar.gz",
        {
            "20news-bydate-train/sci.space/9": b"Subject: b\n\nmoon",
            "20news-bydate-train/alt.atheism/10": b"Subject: a\n\ncaf\xe9",  # Latin-1
            "20news-bydate-train/alt.atheism/9": b"Subject: c\n\nthird",
            "20news-bydate-test/sci.space/1": b"Subject: d\n\nmars",
        },
    )
    real = corpus_info("newsgroups20")
    remote = {
        rel: dataclasses.replace(r, url=archive.as_uri(), sha256=hashlib.sha256(archive.read_bytes()).hexdigest())
        for rel, r in real.remote.items()
        if r.transform.startswith("newsgroups")
    }
    register_corpus(dataclasses.replace(real, remote=remote), replace=True)
    ds = load_corpus("newsgroups20", "train", download=True)
    assert ds["id"] == ["train/alt.atheism/10", "train/alt.atheism/9", "train/sci.space/9"]
    assert ds["label"] == [0, 0, 1]
    assert ds["label_name"] == ["alt.atheism", "alt.atheism", "sci.space"]
    assert ds["text"][0] == "Subject: a\n\ncafé"
    assert load_corpus("newsgroups20", "test", download=True)["id"] == ["test/sci.space/1"]
    labels = corpus_file("newsgroups20", "labels.txt", download=True)
    assert labels.read_text(encoding="utf-8") == "alt.atheism\nsci.space\n"
    # The shared tarball stays in the download cache for the other two files.
    assert len(list((tmp_path / "textgan_cache" / "corpora" / "_downloads").iterdir())) == 1


def test_train_split_alternatives_take_the_first_available(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from textgan.config import DataConfig
    from textgan.data.prepare import first_available_split, prepare_data

    (tmp_path / "valid.txt").write_text("a b\nb c\n", encoding="utf-8")
    cfg = DataConfig(corpus=str(tmp_path), train_split="train|valid", test_split=None, tokenizer="whitespace",
                     max_len=4)
    split, ds = first_available_split(cfg)
    assert split == "valid" and ds["text"] == ["a b", "b c"]
    assert "'train' is not available" in caplog.text
    data = prepare_data(cfg, seed=0, cache_dir=tmp_path / "cache")
    assert data.train_split == "valid" and data.train.size(0) == 2
    (tmp_path / "train.txt").write_text("x y\n", encoding="utf-8")
    assert first_available_split(cfg)[0] == "train"
    with pytest.raises(TextganError, match="missing.txt"):
        first_available_split(dataclasses.replace(cfg, train_split="missing"))
    with pytest.raises(TextganError, match="train_split is empty"):
        first_available_split(dataclasses.replace(cfg, train_split=" | "))
