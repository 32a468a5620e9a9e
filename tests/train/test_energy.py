"""The ADM training loop, a tiny end-to-end run, checkpoints and embedding (API and CLI)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from textgan import api
from textgan.cli import main
from textgan.config import load_recipe, recipe_from_dict, recipe_to_dict
from textgan.embedding import embed_texts, load_document_model
from textgan.errors import TextganError
from textgan.models.adm import AdversarialDocumentModel, DenoisingAutoencoder
from textgan.train.energy import document_batches, train_energy_model

TOPICS = {0: "apple banana cherry grape melon fruit juice", 1: "car engine wheel road drive speed motor",
          2: "god church faith pray bible belief soul"}
TINY = ["adm.vocab_file=null", "adm.vocab_size=30", "adm.tokenizer=words", "adm.steps=60", "adm.eval_every=20",
        "adm.hidden_dim=6", "adm.noise_dim=4", "adm.generator_dim=8", "adm.batch_size=8", "threads=1", "device=cpu"]


@pytest.fixture
def tiny_corpus(tmp_path):
    rng = random.Random(0)
    folder = tmp_path / "corpus"
    folder.mkdir()
    for split, n in (("train", 60), ("test", 15)):
        with open(folder / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for i in range(n):
                words = rng.choices(TOPICS[i % 3].split(), k=6) + rng.choices(["people", "thing", "data"], k=3)
                f.write(json.dumps({"id": f"{split}{i}", "text": " ".join(words), "label": i % 3}) + "\n")
            if split == "test":
                f.write(json.dumps({"id": "no-vocab", "text": "zzz qqq", "label": 0}) + "\n")
    return folder


def test_batches_are_full_and_cover_every_document_each_epoch():
    stream = document_batches(torch.zeros(10, 3), 4, torch.Generator().manual_seed(0))
    first = torch.cat([next(stream) for _ in range(5)])  # 20 indices = 2 epochs
    assert sorted(first[:10].tolist()) == list(range(10)) and sorted(first[10:].tolist()) == list(range(10))


def test_adversarial_steps_update_both_networks_and_select_the_best():
    torch.manual_seed(0)
    model = AdversarialDocumentModel(vocab_size=12, hidden_dim=3, noise_dim=2, generator_dim=4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    docs = (torch.rand(20, 12, generator=torch.Generator().manual_seed(0)) < 0.3).to(torch.uint8)
    scores = iter([0.1, 0.5, 0.2])
    result = train_energy_model(model.discriminator, model.generator, docs, steps=6, batch_size=4, lr=1e-2,
                                betas=(0.5, 0.999), margin=0.6, eval_every=2, validate=lambda: next(scores), seed=0,
                                state_module=model)
    logged = result.history
    assert [r["step"] for r in logged] == [2, 4, 6]
    assert result.best_step == 4 and result.best_score == 0.5
    after = model.state_dict()
    assert not torch.equal(before["discriminator.encoder.weight"], after["discriminator.encoder.weight"])
    assert not torch.equal(before["generator.output.weight"], after["generator.output.weight"])
    assert torch.equal(before["generator.norms.0.weight"], after["generator.norms.0.weight"])  # frozen scale
    assert {"d_loss", "g_loss", "real_energy", "fake_energy"} <= set(logged[0])


@pytest.mark.parametrize("shared", [False, True])
def test_discriminator_update_masks_real_and_generated_batch_once_each_or_once_shared(shared, monkeypatch):
    torch.manual_seed(0)
    model = AdversarialDocumentModel(vocab_size=40, hidden_dim=3, noise_dim=2, generator_dim=4)
    docs = (torch.rand(16, 40, generator=torch.Generator().manual_seed(0)) < 0.3).to(torch.uint8)
    masks = []
    forward = DenoisingAutoencoder.forward

    def spy(self, x, mask=None):
        masks.append(mask.clone())
        return forward(self, x, mask)

    monkeypatch.setattr(DenoisingAutoencoder, "forward", spy)
    train_energy_model(model.discriminator, model.generator, docs, steps=0, batch_size=4, lr=1e-2, betas=(0.5, 0.999),
                       margin=0.6, eval_every=1, validate=lambda: 0.0, seed=0, state_module=model, shared_mask=shared)
    assert len(masks) == 3  # one step: real and generated energies of the D update, then the G update's
    assert torch.equal(masks[0], masks[1]) == shared  # 40 words at noise 0.4: two draws agree with p = 1e-9
    assert not torch.equal(masks[1], masks[2])  # the generator's update draws its own mask either way


def test_dae_alone_minimises_reconstruction_energy():
    torch.manual_seed(0)
    dae = DenoisingAutoencoder(vocab_size=12, hidden_dim=4, noise=0.4)
    docs = (torch.rand(32, 12, generator=torch.Generator().manual_seed(0)) < 0.3).to(torch.uint8)
    start = dae.energy(docs.float()).mean().item()
    logged = train_energy_model(dae, None, docs, steps=300, batch_size=8, lr=1e-2, betas=(0.5, 0.999), margin=1.0,
                                eval_every=300, validate=lambda: 0.0, seed=0).history
    assert "g_loss" not in logged[0]
    assert dae.energy(docs.float()).mean().item() < 0.7 * start


def test_tiny_end_to_end_run_embed_and_cli(tiny_corpus, tmp_path):
    recipe = load_recipe(api.find_recipe("adm/newsgroups20"), [f"data.corpus={tiny_corpus}", *TINY])
    result = api.train(recipe, out_dir=tmp_path / "run", progress=False)
    run = result.path
    table = json.loads((run / "retrieval.json").read_text())["table"]
    assert list(table) == ["ADM", "ADM (AE)", "DAE", "Bag of words (binary, cosine)", "TF-IDF (cosine)"]
    assert set(result.metrics) == {f"precision@{r:g}" for r in recipe.adm.recalls}
    assert all(0.0 <= p <= 1.0 for row in table.values() for p in row.values())
    assert table["ADM"]["1"] == pytest.approx(table["TF-IDF (cosine)"]["1"])  # whole database: label share
    for name in ("precision_recall.png", "embedding_map.png", "learning_curve.png", "retrieval.md", "vocab.json",
                 "checkpoints/best/model.safetensors", "baselines/dae/checkpoints/best/config.json"):
        assert (run / name).is_file(), name
    assert not list(run.rglob("*.pt")) and not list(run.rglob("*.pkl"))
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [20, 40, 60]

    texts = ["apple banana car", "god church", "zzz nothing"]
    vectors = api.embed(run, texts, device="cpu")
    assert vectors.shape == (3, 6) and torch.equal(vectors, api.embed(run, texts, device="cpu"))
    loaded = load_document_model(run)
    emb = embed_texts(loaded, texts, batch_size=2)
    assert emb.empty.tolist() == [False, False, True] and emb.num_empty == 1
    bias = loaded.model.discriminator.encoder.bias
    assert torch.allclose(emb.vectors[2], torch.nn.functional.leaky_relu(bias, 0.2))

    from datasets import Dataset

    ds = api.embed(run, Dataset.from_dict({"text": texts}), device="cpu")
    assert len(ds["embedding"][0]) == 6

    out = tmp_path / "vec.npy"
    assert main(["embed", "--model", str(run), "--input", str(tiny_corpus), "--out", str(out), "--quiet"]) == 0
    arr = np.load(out, allow_pickle=False)
    assert arr.shape == (16, 6) and arr.dtype == np.float32
    assert (tmp_path / "vec.ids.txt").read_text().splitlines()[-1] == "no-vocab"
    assert json.loads((tmp_path / "vec.meta.json").read_text())["num_empty"] == 1
    for ext in ("parquet", "jsonl"):
        assert main(["embed", "--model", str(run), "--input", str(tiny_corpus), "--out", str(tmp_path / f"v.{ext}"),
                     "--quiet"]) == 0
    import pyarrow.parquet as pq

    t = pq.read_table(tmp_path / "v.parquet")
    assert t.num_rows == 16 and t.column("empty").to_pylist()[-1] is True
    rows = [json.loads(line) for line in (tmp_path / "v.jsonl").read_text().splitlines()]
    assert np.allclose(np.array([r["embedding"] for r in rows], dtype=np.float32), arr)
    assert main(["embed", "--model", str(run), "--input", str(tiny_corpus), "--out", str(tmp_path / "v.csv")]) == 2


def test_adm_recipe_validation():
    recipe = load_recipe(api.find_recipe("adm/newsgroups20"))
    assert recipe.adm.lr == 1e-4 and isinstance(recipe.adm.lr, float)  # YAML 1.1 reads 1e-4 as a string
    assert recipe.adm.noise == 0.4 and recipe.adm.hidden_dim == 50 and recipe.adm.batch_size == 64
    assert recipe_from_dict(recipe_to_dict(recipe)) == recipe  # a run's resolved recipe.yaml loads again
    with pytest.raises(TextganError, match="does not use"):
        recipe_from_dict({"data": {"corpus": "newsgroups20"}, "adm": {}, "mle": {"epochs": 1}})
    with pytest.raises(TextganError, match="text corpus"):
        recipe_from_dict({"adm": {}})
    with pytest.raises(TextganError, match="baselines"):
        recipe_from_dict({"data": {"corpus": "x.txt"}, "adm": {"baselines": ["lsi"]}})
    with pytest.raises(TextganError, match="noise"):
        recipe_from_dict({"data": {"corpus": "x.txt"}, "adm": {"noise": 1.5}})


def test_embed_refuses_a_language_model_checkpoint(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"kind": "lstm", "args": {}}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(TextganError, match="not a document model"):
        load_document_model(tmp_path)


@pytest.mark.slow
def test_recipe_smoke_run_on_newsgroups20(tmp_path, monkeypatch):
    import os

    if not os.environ.get("TEXTGAN_CORPORA"):
        pytest.skip("TEXTGAN_CORPORA is not set")
    recipe = load_recipe(api.find_recipe("adm/newsgroups20"), ["adm.steps=40", "adm.eval_every=20", "device=cpu"])
    result = api.train(recipe, out_dir=tmp_path / "run", progress=False)
    table = json.loads((result.path / "retrieval.json").read_text())
    assert table["num_queries"] == 7532 and table["database_size"] == 11314
    assert table["table"]["Bag of words (binary, cosine)"]["0.0002"] > 0.3


def test_validation_table_scores_the_kept_weights_beside_tfidf(tmp_path):
    from tests.train.engine_cases import case_recipe

    recipe, overrides = case_recipe("adm", tmp_path)
    out = tmp_path / "run"
    assert main(["run", str(recipe), "--out", str(out), "--quiet", *[a for o in overrides for a in ("--set", o)]]) == 0
    info = json.loads((out / "run.json").read_text())
    table = json.loads((out / "validation_retrieval.json").read_text())["table"]
    assert set(table) == {"ADM", "ADM (AE)", "DAE", "Bag of words (binary, cosine)", "TF-IDF (cosine)"}
    assert info["validation_retrieval"] == table
    # 54 training documents: the checkpoint was picked on precision at 1 document, which recall 0.01 retrieves
    for model, title in (("adm", "ADM"), ("adm_ae", "ADM (AE)"), ("dae", "DAE")):
        assert table[title]["0.01"] == pytest.approx(info["best_val_scores"][model])
    assert (out / "validation_retrieval.md").read_text().count("|") > 20
