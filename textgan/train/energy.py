"""ADM runs: the energy-based (EBGAN) training loop, checkpoint selection by retrieval, evaluation.

The loop follows the reference's ``train.py`` (AYLIEN/adversarial-document-model): every step
draws one batch of training documents, updates the discriminator on it (fresh noise z and a
fresh batch mask), then updates the generator (another z and mask); every ``eval_every`` steps
the validation documents query the training documents and the checkpoint with the best
precision at recall ``select_recall`` is kept. The same loop without a generator trains the
denoising autoencoder alone (the paper's DAE baseline). Each model trains as one phase of the
engine (:mod:`textgan.engine.loop`), so an ADM run resumes exactly like any other. Embedding
documents lives in :mod:`textgan.embedding`, the figures in :mod:`textgan.figures`.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from ..engine.loop import BestTracker, BestWeights, Engine, Phase
from ..engine.optim import adam, check_finite
from ..engine.rundir import RunDir, plot_learning_curve
from ..engine.state import TrainState
from ..baselines import baseline_title
from ..figures import pca_2d, plot_embedding_map, plot_precision_recall, tsne_2d
from ..io import atomic_open, write_json
from ..metrics.retrieval import retrieval_precision, retrieved_count, tfidf
from ..models.adm import (AdversarialDocumentModel, DenoisingAutoencoder, MLPGenerator, discriminator_loss, embed_bow,
                          generator_loss, reconstruction_energy)
from ..seeds import stream
from .checkpoint import save_checkpoint

log = logging.getLogger(__name__)

METHOD_TITLES: dict[str, str] = {
    "adm": "ADM",
    "adm_ae": "ADM (AE)",
    "dae": "DAE",
    "bow": "Bag of words (binary, cosine)",
    "tfidf": "TF-IDF (cosine)",
}
"""Row titles of the retrieval table, by method name."""


# --------------------------------------------------------------------------- data


class DocumentBatches:
    """Endless full batches of document indices, reshuffled every epoch (resumable).

    The reference streams its (pre-shuffled) CSV in a cycle, so batches are always full and run
    across epoch boundaries; here each epoch is a fresh permutation drawn from ``generator``.
    The indices drawn but not yet used are the iterator's state.

    Args:
        n: number of documents.
        batch_size: B.
        generator: CPU random source (saved with the run's state by its owner).
    """

    def __init__(self, n: int, batch_size: int, generator: torch.Generator) -> None:
        self.n, self.batch_size, self.generator = n, batch_size, generator
        self.buffer = torch.empty(0, dtype=torch.int64)

    def __iter__(self) -> "DocumentBatches":
        return self

    def __next__(self) -> Tensor:
        while self.buffer.numel() < self.batch_size:
            self.buffer = torch.cat([self.buffer, torch.randperm(self.n, generator=self.generator)])
        out, self.buffer = self.buffer[:self.batch_size], self.buffer[self.batch_size:]
        return out

    def state_dict(self) -> dict:
        return {"buffer": self.buffer.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.buffer = state["buffer"].to(torch.int64)


def document_batches(docs: Tensor, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
    """:class:`DocumentBatches` over the N documents of ``docs`` (N, V): yields (B,) int64 indices."""
    return DocumentBatches(docs.shape[0], batch_size, generator)


# --------------------------------------------------------------------------- training


@dataclass
class EnergyTrainResult:
    """What :func:`train_energy_model` returns.

    Attributes:
        best_state: the state dict (CPU copies) with the best validation score.
        best_step: its step.
        best_score: its validation score (higher is better).
        steps: steps run.
        history: the logged records.
    """

    best_state: dict
    best_step: int
    best_score: float
    steps: int
    history: list[dict] = field(default_factory=list)


class EnergyPhase(Phase):
    """Training of one denoising-autoencoder energy, adversarially when a generator is given.

    With a generator each step is the reference's pair of updates: the discriminator minimises
    ``mean E(x) + max(0, margin - mean E(G(z)))`` (:func:`discriminator_loss`), then the generator
    minimises ``mean E(G(z))``; every update draws its own z ~ N(0, I) and batch masks (one for the
    real and one for the generated batch, or one for both with ``shared_mask``). Without a
    generator the discriminator minimises ``mean E(x)`` alone (the DAE baseline). Steps run
    0..``steps`` (the reference's ``steps + 1`` updates); validation runs at every positive
    multiple of ``eval_every`` and at the last step, and the best weights are kept.

    The models, optimizers, random generators, batch order and best weights are registered in
    ``state`` under ``name``.
    """

    unit = "step"

    def __init__(self, name: str, discriminator: DenoisingAutoencoder, generator: MLPGenerator | None,
                 train_docs: Tensor, state: TrainState, *, steps: int, batch_size: int, lr: float,
                 betas: tuple[float, float], margin: float, eval_every: int, validate: Callable[[], float], seed: int,
                 state_module: nn.Module | None = None, on_best: Callable[[int, float], None] | None = None,
                 log_to: str = "", autocast_dtype: torch.dtype | None = None,
                 on_end: Callable[[], None] | None = None, shared_mask: bool = False) -> None:
        super().__init__()
        self.name, self.steps, self.shared_mask = name, steps + 1, shared_mask
        self.discriminator, self.generator, self.train_docs = discriminator, generator, train_docs
        self.batch_size, self.margin, self.eval_every, self.validate = batch_size, margin, eval_every, validate
        self.log_to, self.autocast_dtype, self.on_end = log_to, autocast_dtype, on_end
        self.device = discriminator.encoder.weight.device
        self.state_module = state_module or discriminator
        state.register(f"{name}.model", self.state_module)
        self.order = state.register(f"{name}.order", stream(seed, "energy.order"))
        self.rng = state.register(f"{name}.rng", stream(seed, "energy.noise", self.device))
        self.batches = state.register(f"{name}.batches", DocumentBatches(train_docs.shape[0], batch_size, self.order))
        self.d_opt = state.register(f"{name}.d_optimizer", adam(discriminator.parameters(), lr=lr, betas=betas))
        self.g_opt = None
        if generator is not None:
            self.g_opt = state.register(f"{name}.g_optimizer", adam(generator.parameters(), lr=lr, betas=betas))
        self.best_weights = state.register(f"{name}.best_weights", BestWeights(self.state_module))
        self.d_params = list(discriminator.parameters())
        self.sums: dict[str, float] = {}
        self.count = 0
        self.history: list[dict] = []
        self.on_best = on_best
        self.tracker = BestTracker("val_score", "max", self._improved)  # updated by the engine after each evaluation
        self.best.append(self.tracker)

    def _improved(self, step: int, score: float, record: dict) -> None:
        self.best_weights.keep()
        if self.on_best is not None:
            self.on_best(step, score)

    @property
    def best_score(self) -> float:
        return self.tracker.best if self.tracker.best is not None else -math.inf

    @property
    def best_step(self) -> int:
        return self.tracker.best_step or 0

    def _autocast(self):
        dtype = self.autocast_dtype
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None)

    def _noise(self, n: int) -> Tensor:
        return torch.randn(n, self.generator.noise_dim, generator=self.rng, device=self.device)

    def _energy(self, docs: Tensor, mask: Tensor | None = None) -> Tensor:
        """(B,) energies of ``docs`` under ``mask``, or under a fresh batch mask when None."""
        if mask is None:
            mask = self.discriminator.mask(self.rng)
        with self._autocast():
            reconstruction = self.discriminator(docs, mask)
        return reconstruction_energy(docs, reconstruction.float())  # (B,) in float32

    def begin(self) -> None:
        if self.generator is not None:
            self.generator.train()
        self.discriminator.train()

    def step(self, step: int) -> dict:
        name, generator, batch_size = self.name, self.generator, self.batch_size
        x = (self.train_docs[next(self.batches).to(self.train_docs.device)] > 0).float()  # (B, V) binary
        # discriminator update: the generator's output is a constant here. With shared_mask the real and the
        # generated batch see one mask, as AYLIEN's model.py feeds one `mask` to both discriminator calls
        mask = self.discriminator.mask(self.rng) if self.shared_mask and generator is not None else None
        real = self._energy(x, mask)
        if generator is not None:
            with torch.no_grad(), self._autocast():
                fake_docs = generator(self._noise(batch_size)).float()
            fake = self._energy(fake_docs, mask)
            d_loss = discriminator_loss(real, fake, self.margin)
        else:
            d_loss = real.mean()
        check_finite(d_loss, f"{name} discriminator step {step}", "lower adm.lr or check the input documents")
        self.d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_opt.step()
        record = {"d_loss": d_loss.item(), "real_energy": real.mean().item()}
        # generator update: gradients flow through the (frozen) discriminator to the generator only
        if generator is not None:
            for p in self.d_params:
                p.requires_grad_(False)
            with self._autocast():
                fake_docs = generator(self._noise(batch_size)).float()
            fake = self._energy(fake_docs)
            g_loss = generator_loss(fake)
            check_finite(g_loss, f"{name} generator step {step}", "lower adm.lr")
            self.g_opt.zero_grad(set_to_none=True)
            g_loss.backward()
            self.g_opt.step()
            for p in self.d_params:
                p.requires_grad_(True)
            record.update(g_loss=g_loss.item(), fake_energy=fake.mean().item())
        for k, v in record.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        self.count += 1
        return record

    def should_evaluate(self, step: int) -> bool:
        return (step and step % self.eval_every == 0) or step == self.steps - 1

    def evaluate(self, step: int, stats: dict) -> dict:
        score = self.validate()
        self.discriminator.train()
        best = score if math.isfinite(score) and score > self.best_score else self.best_score
        entry = {"model": self.name, "step": step, **{k: v / self.count for k, v in self.sums.items()},
                 "val_score": score, "best_val_score": best}
        entry = self.ctx.engine.log(entry, to=self.log_to)
        self.history.append(entry)
        self.sums, self.count = {}, 0
        return entry  # the engine hands it to the tracker: a new best keeps the weights and calls on_best

    def end(self) -> dict:
        if self.on_end is not None:
            self.on_end()
        return {}

    def result(self) -> EnergyTrainResult:
        return EnergyTrainResult(self.best_weights.weights, self.best_step, self.best_score, self.steps - 1,
                                 self.history)

    def state_dict(self) -> dict:
        return {"sums": self.sums, "count": self.count, "history": self.history}

    def load_state_dict(self, state: dict) -> None:
        self.sums, self.count, self.history = dict(state["sums"]), state["count"], list(state["history"])


def train_energy_model(discriminator: DenoisingAutoencoder, generator: MLPGenerator | None, train_docs: Tensor, *,
                       steps: int, batch_size: int, lr: float, betas: tuple[float, float], margin: float,
                       eval_every: int, validate: Callable[[], float], seed: int,
                       state_module: nn.Module | None = None, on_best: Callable[[int, float], None] | None = None,
                       name: str = "adm", progress: bool = False,
                       autocast_dtype: torch.dtype | None = None, shared_mask: bool = False) -> EnergyTrainResult:
    """Train one energy model outside a run folder (an :class:`EnergyPhase` on an in-memory engine).

    See :class:`EnergyPhase` for the updates. ``validate`` returns the current validation score
    (higher is better); ``seed`` seeds the batch order, the noise z and the masks;
    ``state_module`` is the module whose weights are kept as the best (default: the
    discriminator); ``autocast_dtype`` runs the forward passes under ``torch.autocast``
    (``torch.bfloat16`` is about 3 times faster on CPUs with bf16 matrix units; weights,
    optimizer state and losses stay float32); ``shared_mask`` masks the real and the generated
    batch of a discriminator update with one mask (the reference's graph) instead of one each.

    Returns:
        The best state, its step and score, and the history.
    """
    phase = EnergyPhase(name, discriminator, generator, train_docs, TrainState(), steps=steps, batch_size=batch_size,
                        lr=lr, betas=betas, margin=margin, eval_every=eval_every, validate=validate, seed=seed,
                        state_module=state_module, on_best=on_best, autocast_dtype=autocast_dtype,
                        shared_mask=shared_mask)
    Engine([phase], progress=progress, handle_signals=False).run_phases()
    return phase.result()


# --------------------------------------------------------------------------- the recipe run


def _fmt_recall(r: float) -> str:
    return f"{r:g}"


def format_retrieval_table(table: dict[str, dict[str, float]]) -> str:
    """Markdown table: one row per method, one column per recall fraction."""
    recalls = list(next(iter(table.values())).keys()) if table else []
    lines = ["| method | " + " | ".join(recalls) + " |", "|---|" + "---|" * len(recalls)]
    for method, row in table.items():
        lines.append(f"| {method} | " + " | ".join(f"{row[r]:.4f}" for r in recalls) + " |")
    return "\n".join(lines) + "\n"


class RetrievalPhase(Phase):
    """The test retrieval table of every method (one step), as the reference's ``evaluate.py``.

    Database = training + validation documents, queries = test documents (validation documents
    query the training ones when there is no test split).
    """

    name = "retrieval"
    steps = 1

    def __init__(self, adm: "AdmRun") -> None:
        super().__init__()
        self.adm = adm
        self.table: dict = {}

    def step(self, i: int) -> dict:
        self.table = self.adm.evaluate_retrieval()
        return {}

    def state_dict(self) -> dict:
        return {"table": self.table}

    def load_state_dict(self, state: dict) -> None:
        self.table = state["table"]


@dataclass
class AdmRun:
    """An ADM recipe built for training: data, models, phases."""

    recipe: object
    data: object
    device: torch.device
    models: dict  # name -> (module, kind)
    energy_phases: dict  # name -> EnergyPhase
    phases: list
    state: TrainState
    margin: float
    empties: dict
    run: RunDir | None = None

    def folder(self, name: str) -> RunDir:
        """The run folder a model writes into: the run's for the ADM, ``baselines/<name>`` otherwise."""
        return self.run if name == "adm" else RunDir(self.run.path / "baselines" / name)

    def bind(self, run: RunDir) -> None:
        self.run = run
        self.data.encoder.save(run.path / "vocab.json")
        for name in self.models:
            if name != "adm":
                folder = self.folder(name)
                folder.path.mkdir(parents=True, exist_ok=True)
                if not (folder.path / "metrics.jsonl").exists():
                    (folder.path / "metrics.jsonl").write_text("", encoding="utf-8")

    def summary(self, records: list[dict]) -> dict:
        best_steps = {n: p.best_step for n, p in self.energy_phases.items()}
        summary: dict = {"vocab_size": len(self.data.encoder), "margin": self.margin, "empty_documents": self.empties,
                         "best_steps": best_steps,
                         "best_val_scores": {n: max((h["val_score"] for h in p.history), default=None)
                                             for n, p in self.energy_phases.items()}}
        if self.data.train.labels is None:
            summary["final_metrics"] = {"val_energy": -summary["best_val_scores"]["adm"]}
            return summary
        table = self.phases[-1].table
        summary["retrieval"] = table
        for name in ("probe", "clustering", "validation_retrieval"):  # written by evaluate_retrieval when present
            if self.run is not None and (self.run.path / f"{name}.json").is_file():
                summary[name] = json.loads((self.run.path / f"{name}.json").read_text(encoding="utf-8"))["table"]
        summary["final_metrics"] = {f"precision@{k}": v for k, v in table["ADM"].items()}
        return summary

    def evaluate_retrieval(self) -> dict:
        """Write ``retrieval.json``/``.md``, the precision-recall plot and the embedding map; return the table."""
        cfg, data, device, run, recipe = self.recipe.adm, self.data, self.device, self.run, self.recipe
        if data.train.labels is None:
            return {}
        if data.test is not None:
            queries_split, where = data.test, "test"
            database_counts = torch.cat([data.train.counts, data.valid.counts])
            database_labels = torch.cat([data.train.labels, data.valid.labels])
        else:
            queries_split, where = data.valid, "validation"
            database_counts, database_labels = data.train.counts, data.train.labels
        recalls = list(cfg.recalls)
        vectors = self._vectors(queries_split.counts, database_counts, [b for b in ("bow", "tfidf") if b in cfg.baselines])
        vectors.update(self._feature_baselines(database_counts, queries_split.counts))
        titles = {name: METHOD_TITLES.get(name) or baseline_title(name, cfg.baseline_dim, cfg.encoder_path)
                  for name in vectors}
        table = self._precision_table(vectors, titles, queries_split.labels, database_labels, recalls)
        if data.test is not None:
            self._validation_table(recalls)
        best_steps = {n: p.best_step for n, p in self.energy_phases.items()}
        size = int(database_counts.shape[0])
        unmeasured = [_fmt_recall(r) for r in recalls if retrieved_count(size, r) == 0]
        if unmeasured:
            log.warning("recall %s retrieve no document of %d: their precision is written as 0 (the reference's "
                        "convention), not measured; read the other recall levels, or use a larger corpus",
                        ", ".join(unmeasured), size)
        write_json(run.path / "retrieval.json", {"queries": where, "num_queries": len(queries_split),
                                                 "database_size": size, "table": table,
                                                 "best_steps": best_steps, "no_document_recalls": unmeasured})
        with atomic_open(run.path / "retrieval.md") as f:
            f.write(f"Precision of {where} queries against {size} documents, by recall fraction.\n\n")
            f.write(format_retrieval_table(table))
            if unmeasured:
                f.write(f"\nRecall {', '.join(unmeasured)}: no document of {size} is retrieved (int(r N + 0.5) = 0); "
                        "the 0 there is the reference's convention, not a measurement.\n")
        plot_precision_recall(table, run.path / "precision_recall.png", f"{recipe.name}: {where} retrieval")
        if cfg.embedding_map != "none":
            adm_queries, map_labels = vectors["adm"][0], queries_split.labels
            if cfg.embedding_map == "tsne" and adm_queries.shape[0] > cfg.map_points:
                keep = torch.randperm(adm_queries.shape[0],
                                      generator=torch.Generator().manual_seed(recipe.seed))[:cfg.map_points]
                adm_queries, map_labels = adm_queries[keep], map_labels[keep]
            points = (tsne_2d(adm_queries, seed=recipe.seed) if cfg.embedding_map == "tsne"
                      else pca_2d(adm_queries, recipe.seed))
            shown = "t-SNE of " + str(len(map_labels)) if cfg.embedding_map == "tsne" else "PCA"
            plot_embedding_map(points, map_labels, data.label_names, run.path / "embedding_map.png",
                               f"ADM {where} embeddings ({shown})")
        others = [e for e in cfg.evaluations if e != "retrieval"]  # retrieval: the table above, always written
        if others:
            import importlib.util

            if importlib.util.find_spec("sklearn") is None:
                log.warning("%s skipped: scikit-learn is not installed (pip install 'textgan[baselines]')",
                            " and ".join(others))
                others = []
        if others:
            from ..metrics.representation import evaluate_embeddings, write_evaluation_tables

            tables = evaluate_embeddings({titles[n]: (db, q) for n, (q, db) in vectors.items()}, database_labels,
                                         queries_split.labels, evaluations=others, seed=recipe.seed)
            write_evaluation_tables(tables, run.path, title=f"{recipe.name}: {where}",
                                    info={"queries": where, "num_queries": len(queries_split),
                                          "database_size": int(database_counts.shape[0])})
        return table

    def _vectors(self, query_counts: Tensor, database_counts: Tensor, bags: list[str]) -> dict[str, tuple[Tensor, Tensor]]:
        """(query, database) vectors of every trained model at its current weights, and of the bag-of-words
        methods in ``bags`` (``bow``: binary; ``tfidf``: document frequencies of the database)."""
        cfg, device = self.recipe.adm, self.device
        vectors = {name: (embed_bow(module, query_counts.to(device), batch_size=cfg.embed_batch_size),
                          embed_bow(module, database_counts.to(device), batch_size=cfg.embed_batch_size))
                   for name, (module, _) in self.models.items()}
        if "bow" in bags:
            vectors["bow"] = ((query_counts > 0).float(), (database_counts > 0).float())
        if "tfidf" in bags:
            df, n_db = (database_counts > 0).sum(dim=0), database_counts.shape[0]
            vectors["tfidf"] = (tfidf(query_counts, df, n_db), tfidf(database_counts, df, n_db))
        return vectors

    def _precision_table(self, vectors: dict, titles: dict, query_labels: Tensor, database_labels: Tensor,
                         recalls: list[float]) -> dict[str, dict[str, float]]:
        """Method title -> {recall: precision} of each (query, database) pair in ``vectors``."""
        table = {}
        for name, (q, db) in vectors.items():
            precision = retrieval_precision(q.to(self.device), query_labels, db.to(self.device), database_labels,
                                            recalls)
            table[titles.get(name, name)] = {_fmt_recall(r): p for r, p in zip(recalls, precision)}
        return table

    def _validation_table(self, recalls: list[float]) -> dict:
        """``validation_retrieval.json``/``.md``: validation queries against the training part, every trained
        model at its kept (best) weights beside binary bag of words and TF-IDF: the table to tune settings on
        (the test table stays untouched by the choice)."""
        data, run = self.data, self.run
        db_counts = data.train.counts
        vectors = self._vectors(data.valid.counts, db_counts, ["bow", "tfidf"])
        table = self._precision_table(vectors, METHOD_TITLES, data.valid.labels, data.train.labels, recalls)
        write_json(run.path / "validation_retrieval.json", {"queries": "validation", "num_queries": len(data.valid),
                                                            "database_size": int(db_counts.shape[0]), "table": table})
        with atomic_open(run.path / "validation_retrieval.md") as f:
            f.write(f"Precision of validation queries against the {db_counts.shape[0]} training documents they were "
                    "held out from, by recall fraction (tune on this table, report the test table).\n\n")
            f.write(format_retrieval_table(table))
        return table

    def _feature_baselines(self, database_counts: Tensor, query_counts: Tensor) -> dict[str, tuple[Tensor, Tensor]]:
        """(query, database) vectors of the opt-in baselines of textgan/baselines.py (LSA, LDA, doc2vec, encoder)."""
        from ..baselines import FEATURE_BASELINES, BaselineUnavailable, baseline_features, parse_baseline, split_texts

        cfg, texts_cache = self.recipe.adm, {}

        def texts():
            if "t" not in texts_cache:
                texts_cache["t"] = split_texts(self.recipe, self.data)
            return texts_cache["t"]

        out: dict[str, tuple[Tensor, Tensor]] = {}
        for spec in cfg.baselines:
            if parse_baseline(spec)[0] not in FEATURE_BASELINES:
                continue
            try:
                db, q = baseline_features(spec, database_counts=database_counts, query_counts=query_counts,
                                          texts=texts, tokenize=self.data.encoder.tokenize, dim=cfg.baseline_dim,
                                          seed=self.recipe.seed, encoder_path=cfg.encoder_path,
                                          encoder_max_length=cfg.encoder_max_length, device=self.device)
            except BaselineUnavailable as e:
                log.warning("%s", e)
                continue
            out[spec] = (q, db)
        return out


def build_adm(recipe, device: torch.device, progress: bool = True) -> AdmRun:
    """Load the bags of words and build the ADM (and the baselines the recipe lists) as engine phases.

    The run writes into its folder: ``vocab.json``, ``checkpoints/{best,last}`` (the ADM),
    ``baselines/<name>/`` (metrics and checkpoints of ADM (AE) and DAE), ``retrieval.json`` and
    ``retrieval.md`` (test precision at every recall fraction for every method),
    ``precision_recall.png``, ``embedding_map.png`` and the learning curves. Its summary:
    ``final_metrics`` (the ADM's test precision per recall), the full retrieval table, best
    steps and empty-document counts.
    """
    from ..data.bow import BowEncoder, load_bow_data
    from ..data.corpus import corpus_file

    cfg = recipe.adm
    data_cfg = recipe.data
    encoder = None
    if cfg.vocab_file:
        path = Path(cfg.vocab_file).expanduser()
        if not path.is_file():
            path = corpus_file(data_cfg.corpus, cfg.vocab_file)
        encoder = BowEncoder.from_file(path, cfg.tokenizer)
    data = load_bow_data(data_cfg.corpus, encoder, train_split=data_cfg.train_split, test_split=data_cfg.test_split,
                         text_column=data_cfg.text_column, label_column=data_cfg.label_column,
                         validation_fraction=cfg.validation_fraction, seed=recipe.seed, vocab_size=cfg.vocab_size,
                         tokenizer=cfg.tokenizer, progress=progress)
    encoder = data.encoder
    vocab_size = len(encoder)
    margin = cfg.margin if cfg.margin is not None else float(vocab_size // 20)
    labelled = data.train.labels is not None
    empties = {name: int((split.counts.sum(dim=1, dtype=torch.int64) == 0).sum())
               for name, split in (("train", data.train), ("valid", data.valid), ("test", data.test)) if split is not None}
    log.info("bag of words: V=%d, train %d, valid %d, test %s, empty %s", vocab_size, len(data.train), len(data.valid),
             len(data.test) if data.test is not None else "-", empties)
    train_docs = data.train.counts.to(device)
    valid_docs = data.valid.counts.to(device)
    select_recall = cfg.select_recall
    if labelled and retrieved_count(len(data.train), select_recall) == 0:
        select_recall = 1.0 / len(data.train)  # a tiny corpus: retrieve one document instead of none
        log.warning("adm.select_recall=%g retrieves no document of %d: selecting on precision@1 document",
                    cfg.select_recall, len(data.train))

    state = TrainState()
    adm = AdmRun(recipe, data, device, {}, {}, [], state, margin, empties)
    for name in ("adm", *[b for b in cfg.baselines if b in ("adm_ae", "dae")]):
        torch.manual_seed(recipe.seed)  # the same initial discriminator for every model
        noise = 0.0 if name == "adm_ae" else cfg.noise
        if name == "dae":
            module: nn.Module = DenoisingAutoencoder(vocab_size, cfg.hidden_dim, noise, cfg.negative_slope)
            discriminator, generator, kind = module, None, "dae"
        else:
            module = AdversarialDocumentModel(vocab_size, cfg.hidden_dim, noise, cfg.negative_slope, cfg.noise_dim,
                                              cfg.generator_dim)
            discriminator, generator, kind = module.discriminator, module.generator, "adm"
        module.to(device)

        def validate(discriminator=discriminator) -> float:
            if labelled:
                db = embed_bow(discriminator, train_docs, batch_size=cfg.embed_batch_size)
                queries = embed_bow(discriminator, valid_docs, batch_size=cfg.embed_batch_size)
                return retrieval_precision(queries, data.valid.labels, db, data.train.labels, [select_recall])[0]
            with torch.no_grad():  # unlabelled corpus: the lowest clean validation energy wins
                discriminator.eval()
                energies = [discriminator.energy((valid_docs[i:i + cfg.embed_batch_size] > 0).float())
                            for i in range(0, valid_docs.shape[0], cfg.embed_batch_size)]
                return -torch.cat(energies).mean().item()

        def on_best(step: int, score: float, module=module, kind=kind, name=name) -> None:
            with adm.run.guard():
                save_checkpoint(adm.folder(name).checkpoints / "best", module, kind, encoder,
                                extra={"recipe": recipe.name, "method": name, "step": step, "val_score": score,
                                       "val_metric": f"precision@{select_recall:g}" if labelled else "-energy"},
                                check=adm.run.check_owned)

        def on_end(module=module, kind=kind, name=name) -> None:
            folder = adm.folder(name)
            with adm.run.guard():
                save_checkpoint(folder.checkpoints / "last", module, kind, encoder,
                                extra={"recipe": recipe.name, "method": name, "step": cfg.steps},
                                check=adm.run.check_owned)
            module.load_state_dict(adm.energy_phases[name].best_weights.weights)
            module.eval()
            if name != "adm":
                plot_learning_curve(folder.metrics(), folder.path / "learning_curve.png")

        phase = EnergyPhase(name, discriminator, generator, train_docs, state, steps=cfg.steps,
                            batch_size=cfg.batch_size, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), margin=margin,
                            eval_every=cfg.eval_every, validate=validate, seed=recipe.seed, state_module=module,
                            on_best=on_best, log_to="" if name == "adm" else f"baselines/{name}",
                            autocast_dtype=torch.bfloat16 if cfg.compute_dtype == "bfloat16" else None,
                            on_end=on_end, shared_mask=cfg.shared_mask)
        adm.models[name] = (module, kind)
        adm.energy_phases[name] = phase
    adm.phases = [*adm.energy_phases.values(), RetrievalPhase(adm)]
    return adm
