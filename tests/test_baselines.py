"""Offline document-representation baselines (LSA, LDA, doc2vec, a local encoder) and their place in an ADM run."""

from __future__ import annotations

import json
import random

import pytest
import torch

pytest.importorskip("sklearn")

from textgan import api
from textgan.baselines import (BaselineUnavailable, baseline_features, baseline_title, doc2vec_features,
                               encoder_features, lda_features, lsa_features, parse_baseline)
from textgan.config import load_recipe, recipe_from_dict
from textgan.errors import TextganError

TOPICS = {0: "apple banana cherry grape melon fruit juice", 1: "car engine wheel road drive speed motor",
          2: "god church faith pray bible belief soul"}
TINY = ["adm.vocab_file=null", "adm.vocab_size=30", "adm.tokenizer=words", "adm.steps=20", "adm.eval_every=10",
        "adm.hidden_dim=6", "adm.noise_dim=4", "adm.generator_dim=8", "adm.batch_size=8", "adm.embedding_map=none",
        "threads=1", "device=cpu"]


def topic_texts(n: int, seed: int) -> tuple[list[str], torch.Tensor]:
    rng = random.Random(seed)
    texts = [" ".join(rng.choices(TOPICS[i % 3].split(), k=6) + rng.choices(["people", "thing", "data"], k=3))
             for i in range(n)]
    return texts, torch.arange(n) % 3


@pytest.fixture
def tiny_corpus(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for split, n, seed in (("train", 60, 0), ("test", 15, 1)):
        texts, labels = topic_texts(n, seed)
        with open(folder / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for i, (t, y) in enumerate(zip(texts, labels.tolist())):
                f.write(json.dumps({"id": f"{split}{i}", "text": t, "label": y}) + "\n")
    return folder


@pytest.fixture
def tiny_bert(tmp_path):
    """A random 1-layer BERT with a word-level vocabulary, saved as a local transformers folder."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path / "tiny-bert"
    folder.mkdir()
    words = sorted({w for t in TOPICS.values() for w in t.split()} | {"people", "thing", "data"})
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=5 + len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)
    BertModel(config).save_pretrained(folder)
    return folder


def counts_of(texts: list[str]) -> torch.Tensor:
    from textgan.data.bow import BowEncoder

    enc = BowEncoder(sorted({w for t in TOPICS.values() for w in t.split()}), "words")
    return enc.counts(texts)


def test_parse_and_titles():
    assert parse_baseline("lsa") == ("lsa", None) and parse_baseline("lda@300") == ("lda", 300)
    with pytest.raises(TextganError, match="positive integer"):
        parse_baseline("lsa@x")
    assert baseline_title("lsa") == "LSA (50-d, TF-IDF SVD)" and baseline_title("lda@20") == "LDA (20 topics)"
    assert baseline_title("encoder", encoder_path="/m/minilm") == "encoder minilm (mean-pooled)"


def test_lsa_and_lda_separate_topics():
    db_texts, _ = topic_texts(60, 0)
    q_texts, _ = topic_texts(15, 1)
    db, q = counts_of(db_texts), counts_of(q_texts)
    a_db, a_q = lsa_features(db, q, dim=5, seed=0)
    assert a_db.shape == (60, 5) and a_q.shape == (15, 5)
    b_db, b_q = lsa_features(db, q, dim=5, seed=0)
    assert torch.equal(a_db, b_db) and torch.equal(a_q, b_q)
    big_db, _ = lsa_features(db, q, dim=500)  # more than the vocabulary allows: capped
    assert big_db.shape[1] == db.shape[1] - 1
    t_db, t_q = lda_features(db, q, dim=3, seed=0)
    assert t_db.shape == (60, 3) and torch.allclose(t_q.sum(dim=1), torch.ones(15), atol=1e-4)


def test_doc2vec_or_its_skip_message():
    db_texts, _ = topic_texts(30, 0)
    q_texts, _ = topic_texts(6, 1)
    try:
        import gensim  # noqa: F401
    except ImportError:
        with pytest.raises(BaselineUnavailable, match="gensim is not installed"):
            doc2vec_features([t.split() for t in db_texts], [t.split() for t in q_texts], dim=8)
        return
    db, q = doc2vec_features([t.split() for t in db_texts], [t.split() for t in q_texts], dim=8, epochs=5)
    assert db.shape == (30, 8) and q.shape == (6, 8) and db.dtype == torch.float32
    db2, q2 = doc2vec_features([t.split() for t in db_texts], [t.split() for t in q_texts], dim=8, epochs=5)
    assert torch.equal(db, db2) and torch.equal(q, q2)  # one worker, seeded: repeatable


def test_encoder_mean_pooling_ignores_padding(tiny_bert):
    texts = ["apple banana", "car engine wheel road drive speed motor car"]
    together = encoder_features(texts, tiny_bert, batch_size=2)
    alone = torch.cat([encoder_features([t], tiny_bert) for t in texts])
    assert together.shape == (2, 16) and torch.allclose(together, alone, atol=1e-5)
    with pytest.raises(TextganError, match="not a transformers model folder"):
        encoder_features(texts, tiny_bert / "missing")
    with pytest.raises(TextganError, match="encoder_path"):
        baseline_features("encoder", database_counts=None, query_counts=None, texts=lambda: (texts, texts))


def test_config_validation():
    base = {"data": {"corpus": "x.txt"}}
    recipe = recipe_from_dict({**base, "adm": {"baselines": ["lsa", "lsa@300", "lda", "doc2vec@100"]}})
    assert recipe.adm.baseline_dim == 50 and recipe.adm.evaluations == ("retrieval", "probe", "clustering")
    for bad, match in ((["dae@5"], "baselines"), (["lsa@0"], "baselines"), (["lsa", "lsa"], "twice"),
                       (["encoder"], "encoder_path")):
        with pytest.raises(TextganError, match=match):
            recipe_from_dict({**base, "adm": {"baselines": bad}})
    with pytest.raises(TextganError, match="evaluations"):
        recipe_from_dict({**base, "adm": {"evaluations": ["accuracy"]}})


def test_adm_run_with_every_baseline_writes_three_tables(tiny_corpus, tiny_bert, tmp_path):
    baselines = "adm.baselines=[bow,tfidf,lsa@5,lda@3,doc2vec@8,encoder]"
    recipe = load_recipe(api.find_recipe("adm/newsgroups20"),
                         [f"data.corpus={tiny_corpus}", *TINY, baselines, f"adm.encoder_path={tiny_bert}"])
    result = api.train(recipe, out_dir=tmp_path / "run", progress=False)
    run = result.path
    try:
        import gensim  # noqa: F401
        d2v = ["doc2vec (8-d)"]
    except ImportError:
        d2v = []
    methods = ["ADM", "Bag of words (binary, cosine)", "TF-IDF (cosine)", "LSA (5-d, TF-IDF SVD)", "LDA (3 topics)",
               *d2v, "encoder tiny-bert (mean-pooled)"]
    retrieval = json.loads((run / "retrieval.json").read_text())["table"]
    assert list(retrieval) == methods
    probe = json.loads((run / "probe.json").read_text())
    clustering = json.loads((run / "clustering.json").read_text())
    assert list(probe["table"]) == methods and list(clustering["table"]) == methods
    assert probe["queries"] == "test" and probe["num_queries"] == 15 and probe["database_size"] == 60
    assert all(0.0 <= row["accuracy"] <= 1.0 for row in probe["table"].values())
    assert all(row["k"] == 3 and 0.0 <= row["nmi"] <= 1.0 for row in clustering["table"].values())
    assert probe["table"]["TF-IDF (cosine)"]["accuracy"] > 0.9  # three disjoint topic vocabularies
    for name in ("retrieval.md", "precision_recall.png", "probe.md", "probe.png", "clustering.md", "clustering.png"):
        assert (run / name).is_file(), name
    assert not (run / "baselines" / "lsa@5").exists()  # feature baselines train nothing: no baselines/<name>/
    assert set(result.metrics) == {f"precision@{r:g}" for r in recipe.adm.recalls}
    summary = json.loads((run / "run.json").read_text())
    assert summary["probe"] == probe["table"] and summary["clustering"] == clustering["table"]


def test_evaluations_can_be_turned_off(tiny_corpus, tmp_path, caplog):
    recipe = load_recipe(api.find_recipe("adm/newsgroups20"),
                         [f"data.corpus={tiny_corpus}", *TINY, "adm.baselines=[tfidf]", "adm.evaluations=[retrieval]"])
    run = api.train(recipe, out_dir=tmp_path / "run", progress=False).path
    assert (run / "retrieval.json").is_file() and not (run / "probe.json").exists()
    assert not (run / "clustering.json").exists()
    # 60 database documents: recall 0.0001 ... 0.002 retrieve none, so their 0 is no measurement, and says so.
    saved = json.loads((run / "retrieval.json").read_text())
    assert saved["database_size"] == 60 and saved["no_document_recalls"] == ["0.0001", "0.0002", "0.0005", "0.002"]
    assert "0.0001, 0.0002, 0.0005, 0.002: no document of 60 is retrieved" in (run / "retrieval.md").read_text()
    assert "recall 0.0001, 0.0002, 0.0005, 0.002 retrieve no document of 60" in caplog.text


def test_single_file_corpus_queries_are_the_validation_documents(tiny_corpus, tmp_path):
    """A user file with a string label column: no test split, validation texts query the training ones."""
    path = tmp_path / "mine.jsonl"
    rows = [json.loads(line) for line in (tiny_corpus / "train.jsonl").read_text().splitlines()]
    path.write_text("".join(json.dumps({"body": r["text"], "topic": ["fruit", "cars", "church"][r["label"]]}) + "\n"
                            for r in rows))
    recipe = load_recipe(api.find_recipe("adm/newsgroups20"),
                         [f"data.corpus={path}", "data.text_column=body", "data.label_column=topic", *TINY,
                          "adm.baselines=[tfidf,doc2vec@8]", "adm.validation_fraction=0.25"])
    run = api.train(recipe, out_dir=tmp_path / "run", progress=False).path
    probe = json.loads((run / "probe.json").read_text())
    assert probe["queries"] == "validation" and probe["num_queries"] == 15 and probe["database_size"] == 45
    assert "TF-IDF (cosine)" in probe["table"]
    import importlib.util

    assert ("doc2vec (8-d)" in probe["table"]) == (importlib.util.find_spec("gensim") is not None)
