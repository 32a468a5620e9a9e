"""ADM runs: the energy-based (EBGAN) training loop, checkpoint selection by retrieval, evaluation, embedding.

The loop follows the reference's ``train.py`` (AYLIEN/adversarial-document-model): every step
draws one batch of training documents, updates the discriminator on it (fresh noise z and a
fresh batch mask), then updates the generator (another z and mask); every ``eval_every`` steps
the validation documents query the training documents and the checkpoint with the best
precision at recall ``select_recall`` is kept. The same loop without a generator trains the
denoising autoencoder alone (the paper's DAE baseline). Helpers of ``train/loop.py`` (run
folders, finite-loss checks, learning curves) are called, not inherited.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from ..errors import TextganError
from ..io import atomic_open, atomic_tmp_path, write_json
from ..metrics.retrieval import retrieval_precision, retrieved_count, tfidf
from ..models.adm import (AdversarialDocumentModel, DenoisingAutoencoder, MLPGenerator, discriminator_loss,
                          generator_loss, reconstruction_energy)
from .checkpoint import file_sha256, resolve_checkpoint, save_checkpoint
from .loop import RunDir, Timer, adam, check_finite, plot_learning_curve

log = logging.getLogger(__name__)

METHOD_TITLES: dict[str, str] = {
    "adm": "ADM",
    "adm_ae": "ADM (AE)",
    "dae": "DAE",
    "bow": "Bag of words (binary, cosine)",
    "tfidf": "TF-IDF (cosine)",
}
"""Row titles of the retrieval table, by method name."""

MODEL_KINDS: dict[str, type[nn.Module]] = {"adm": AdversarialDocumentModel, "dae": DenoisingAutoencoder}
"""Checkpoint ``kind`` -> class, for :func:`load_document_model`."""


# --------------------------------------------------------------------------- data and embedding


def document_batches(docs: Tensor, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
    """Endless full batches of document indices, reshuffled every epoch.

    The reference streams its (pre-shuffled) CSV in a cycle, so batches are always full and run
    across epoch boundaries; here each epoch is a fresh permutation drawn from ``generator``.

    Args:
        docs: (N, V) documents (only N is read).
        batch_size: B.
        generator: CPU random source.

    Yields:
        (B,) int64 indices.
    """
    n = docs.shape[0]
    buffer = torch.empty(0, dtype=torch.int64)
    while True:
        while buffer.numel() < batch_size:
            buffer = torch.cat([buffer, torch.randperm(n, generator=generator)])
        yield buffer[:batch_size]
        buffer = buffer[batch_size:]


@torch.no_grad()
def embed_bow(model: nn.Module, docs: Tensor, *, batch_size: int = 4096, progress: bool = False) -> Tensor:
    """Embed bags of words with a model's ``embed`` in eval mode, batch by batch.

    Args:
        model: a module with ``embed((B, V) float) -> (B, H)``.
        docs: (N, V) counts or 0/1 values (any dtype; binarised here).
        batch_size: documents per forward pass.
        progress: show a progress bar.

    Returns:
        (N, H) float32 on the CPU.
    """
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    for start in tqdm(range(0, docs.shape[0], batch_size), desc="embed", unit="batch", disable=not progress,
                      dynamic_ncols=True):
        batch = (docs[start:start + batch_size].to(device) > 0).float()
        out.append(model.embed(batch).float().cpu())
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, model.embed(torch.zeros(1, docs.shape[1], device=device)).shape[1])


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


def train_energy_model(discriminator: DenoisingAutoencoder, generator: MLPGenerator | None, train_docs: Tensor, *,
                       steps: int, batch_size: int, lr: float, betas: tuple[float, float], margin: float,
                       eval_every: int, validate: Callable[[], float], seed: int,
                       state_module: nn.Module | None = None, on_best: Callable[[int, float], None] | None = None,
                       on_log: Callable[[dict], None] | None = None, name: str = "adm", progress: bool = False,
                       timer: Timer | None = None, autocast_dtype: torch.dtype | None = None) -> EnergyTrainResult:
    """Train a denoising-autoencoder energy, adversarially when a generator is given.

    With a generator each step is the reference's pair of updates: the discriminator minimises
    ``mean E(x) + max(0, margin - mean E(G(z)))`` (:func:`discriminator_loss`), then the generator
    minimises ``mean E(G(z))``; every update draws its own z ~ N(0, I) and batch mask. Without a
    generator the discriminator minimises ``mean E(x)`` alone (the DAE baseline).

    Args:
        discriminator: the energy (its ``noise`` sets the masking noise; 0 is a plain autoencoder).
        generator: the generator, or None to train the autoencoder alone.
        train_docs: (N, V) training documents (counts or 0/1, on the training device).
        steps: training steps (the reference runs steps 0..steps, i.e. ``steps + 1`` updates).
        batch_size: B (64).
        lr: Adam learning rate (1e-4).
        betas: Adam betas ((0.5, 0.999)).
        margin: EBGAN margin m.
        eval_every: steps between validations (500); validation runs at every positive
            multiple and at the last step.
        validate: returns the current validation score (higher is better).
        seed: seed of the batch order, the noise z and the masks.
        state_module: the module whose state dict is kept as the best (default: the
            discriminator; pass the wrapper holding both networks to keep the generator too).
        on_best: called with (step, score) after a new best (e.g. to write a checkpoint).
        on_log: called with each log record.
        name: model name in log records.
        progress: show a progress bar.
        timer: wall-clock timer for log records.
        autocast_dtype: run the forward passes under ``torch.autocast`` with this dtype
            (``torch.bfloat16`` makes CPUs with bf16 matrix units about 3 times faster); weights,
            optimizer state and losses stay float32. None: plain float32, as the reference.

    Returns:
        The best state, its step and score, and the history.
    """
    from tqdm.auto import tqdm

    device = discriminator.encoder.weight.device
    timer = timer or Timer()
    state_module = state_module or discriminator
    order = torch.Generator().manual_seed(seed)
    rng = torch.Generator(device=device).manual_seed(seed + 1)
    batches = document_batches(train_docs, batch_size, order)
    d_opt = adam(discriminator.parameters(), lr=lr, betas=betas)
    g_opt = None
    if generator is not None:
        g_opt = adam(generator.parameters(), lr=lr, betas=betas)
        generator.train()
    discriminator.train()
    best = EnergyTrainResult({k: v.detach().cpu().clone() for k, v in state_module.state_dict().items()}, 0,
                             -math.inf, 0)
    sums: dict[str, float] = {}
    count = 0

    def noise(n: int) -> Tensor:
        return torch.randn(n, generator.noise_dim, generator=rng, device=device)

    d_params = list(discriminator.parameters())

    def autocast():
        return torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None)

    def energy(docs: Tensor) -> Tensor:
        with autocast():
            reconstruction = discriminator(docs, discriminator.mask(rng))
        return reconstruction_energy(docs, reconstruction.float())  # (B,) in float32

    bar = tqdm(range(steps + 1), desc=name, unit="step", disable=not progress, dynamic_ncols=True, mininterval=1.0)
    for step in bar:
        x = (train_docs[next(batches).to(train_docs.device)] > 0).float()  # (B, V) binary
        # discriminator update: the generator's output is a constant here
        real = energy(x)
        if generator is not None:
            with torch.no_grad(), autocast():
                fake_docs = generator(noise(batch_size)).float()
            fake = energy(fake_docs)
            d_loss = discriminator_loss(real, fake, margin)
        else:
            d_loss = real.mean()
        check_finite(d_loss, f"{name} discriminator step {step}", "lower adm.lr or check the input documents")
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        d_opt.step()
        record = {"d_loss": d_loss.item(), "real_energy": real.mean().item()}
        # generator update: gradients flow through the (frozen) discriminator to the generator only
        if generator is not None:
            for p in d_params:
                p.requires_grad_(False)
            with autocast():
                fake_docs = generator(noise(batch_size)).float()
            fake = energy(fake_docs)
            g_loss = generator_loss(fake)
            check_finite(g_loss, f"{name} generator step {step}", "lower adm.lr")
            g_opt.zero_grad(set_to_none=True)
            g_loss.backward()
            g_opt.step()
            for p in d_params:
                p.requires_grad_(True)
            record.update(g_loss=g_loss.item(), fake_energy=fake.mean().item())
        for k, v in record.items():
            sums[k] = sums.get(k, 0.0) + v
        count += 1
        if (step and step % eval_every == 0) or step == steps:
            score = validate()
            discriminator.train()
            improved = score > best.best_score
            if improved:
                best.best_state = {k: v.detach().cpu().clone() for k, v in state_module.state_dict().items()}
                best.best_step, best.best_score = step, score
            entry = {"model": name, "step": step, **{k: v / count for k, v in sums.items()},
                     "val_score": score, "best_val_score": best.best_score, "time": round(timer(), 2)}
            best.history.append(entry)
            if on_log is not None:
                on_log(entry)
            if improved and on_best is not None:
                on_best(step, score)
            bar.set_postfix(val=f"{score:.4f}", best=f"{best.best_score:.4f}@{best.best_step}")
            sums, count = {}, 0
    best.steps = steps
    return best


# --------------------------------------------------------------------------- checkpoints


@dataclass
class LoadedDocumentModel:
    """An ADM (or DAE) checkpoint with its bag-of-words vocabulary.

    Attributes:
        model: module with ``embed((B, V)) -> (B, H)``, in eval mode.
        encoder: texts -> bags of words (``textgan.data.bow.BowEncoder``).
        kind: ``"adm"`` or ``"dae"``.
        config: the checkpoint's config.json.
        path: the checkpoint folder.
        sha256: hash of the weights file.
    """

    model: nn.Module
    encoder: object
    kind: str
    config: dict
    path: Path
    sha256: str

    @property
    def dim(self) -> int:
        """H, the embedding size."""
        return int(self.config["args"]["hidden_dim"])


def load_document_model(path: str | Path, device: str | torch.device = "cpu") -> LoadedDocumentModel:
    """Load an ADM or DAE checkpoint (or the best checkpoint of a run folder).

    Raises:
        TextganError: no checkpoint there, or it holds another kind of model.
    """
    from safetensors.torch import load_file

    from ..data.bow import BowEncoder

    ckpt = resolve_checkpoint(path)
    try:
        config = json.loads((ckpt / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TextganError(f"checkpoint config {str(ckpt / 'config.json')!r} is unreadable ({e}): re-save the checkpoint") from None
    kind = config.get("kind")
    if kind not in MODEL_KINDS:
        raise TextganError(f"checkpoint {str(ckpt)!r} holds a {kind!r} model, not a document model: pass an ADM run folder "
                           f"(one trained with an adm: recipe section)")
    model = MODEL_KINDS[kind](**config["args"])
    model.load_state_dict(load_file(str(ckpt / "model.safetensors")))
    model.to(device).eval()
    return LoadedDocumentModel(model, BowEncoder.load(ckpt / "vocab.json"), kind, config, ckpt,
                               file_sha256(ckpt / "model.safetensors"))


# --------------------------------------------------------------------------- embedding texts


@dataclass
class Embeddings:
    """Vectors of documents.

    Attributes:
        vectors: (N, H) float32.
        empty: (N,) bool, True for a document without any vocabulary word (its vector is the
            model's vector of the all-zero bag of words, ``leaky_relu(b_enc)``, the same for all).
    """

    vectors: Tensor
    empty: Tensor

    @property
    def num_empty(self) -> int:
        return int(self.empty.sum())


@torch.no_grad()
def embed_texts(loaded: LoadedDocumentModel, texts: Sequence[str], *, batch_size: int = 4096,
                progress: bool = False) -> Embeddings:
    """Tokenize, encode and embed texts batch by batch.

    Args:
        loaded: from :func:`load_document_model`.
        texts: N documents.
        batch_size: documents per batch.
        progress: show a progress bar (in documents).

    Returns:
        The (N, H) vectors and the empty-document flags.
    """
    from tqdm.auto import tqdm

    device = next(loaded.model.parameters()).device
    vectors, empty = [], []
    with tqdm(total=len(texts), desc="embed", unit="doc", disable=not progress, dynamic_ncols=True) as bar:
        for start in range(0, len(texts), batch_size):
            counts = loaded.encoder.counts(texts[start:start + batch_size])
            empty.append(counts.sum(dim=1, dtype=torch.int64) == 0)
            vectors.append(loaded.model.embed((counts > 0).float().to(device)).float().cpu())
            bar.update(counts.shape[0])
    if not vectors:
        return Embeddings(torch.zeros(0, loaded.dim), torch.zeros(0, dtype=torch.bool))
    return Embeddings(torch.cat(vectors), torch.cat(empty))


EMBEDDING_FORMATS: tuple[str, ...] = (".npy", ".parquet", ".jsonl")


def write_embeddings(out: str | Path, embeddings: Embeddings, ids: Sequence, meta: dict) -> list[Path]:
    """Write vectors atomically, in the format given by ``out``'s extension.

    * ``.npy``: (N, H) float32 array, ids in ``<stem>.ids.txt`` (one per line, row order);
    * ``.parquet``: columns ``id`` (string), ``embedding`` (list of float32), ``empty`` (bool);
    * ``.jsonl``: one ``{"id", "embedding", "empty"}`` object per document.

    Every format also gets ``<stem>.meta.json``: model, checkpoint hash, dimension, number of
    documents and of empty documents, and what an empty document's vector is.

    Returns:
        The files written.

    Raises:
        TextganError: an unsupported extension.
    """
    import numpy as np

    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in EMBEDDING_FORMATS:
        raise TextganError(f"unsupported embedding file {out.name!r}: end --out with one of {', '.join(EMBEDDING_FORMATS)}")
    vectors = embeddings.vectors.float().numpy()
    empty = embeddings.empty.tolist()
    written = [out]
    stem = out.with_suffix("")
    if suffix == ".npy":
        with atomic_open(out, "wb") as f:
            np.save(f, vectors, allow_pickle=False)
        ids_path = stem.with_name(stem.name + ".ids.txt")
        with atomic_open(ids_path) as f:
            for i in ids:
                f.write(str(i).replace("\n", " ") + "\n")
        written.append(ids_path)
    elif suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({
            "id": pa.array([str(i) for i in ids], pa.string()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1), pa.float32()), vectors.shape[1]),
            "empty": pa.array(empty, pa.bool_()),
        }).replace_schema_metadata({"textgan": json.dumps(meta)})
        tmp = atomic_tmp_path(out)
        try:
            pq.write_table(table, tmp)
            os.replace(tmp, out)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    else:
        with atomic_open(out) as f:
            for i, vec, e in zip(ids, vectors.tolist(), empty):
                f.write(json.dumps({"id": i, "embedding": vec, "empty": e}) + "\n")
    meta_path = stem.with_name(stem.name + ".meta.json")
    write_json(meta_path, meta)
    written.append(meta_path)
    return written


# --------------------------------------------------------------------------- figures


def pca_2d(vectors: Tensor, seed: int = 0) -> Tensor:
    """(N, H) -> (N, 2) projection on the two leading principal components (``torch.pca_lowrank``)."""
    x = vectors.float()
    torch.manual_seed(seed)
    _, _, v = torch.pca_lowrank(x, q=min(2, x.shape[1]), center=True, niter=6)
    return (x - x.mean(dim=0)) @ v[:, :2]


def _perplexity_affinities(distances: Tensor, perplexity: float, iterations: int = 60) -> Tensor:
    """Row-wise Gaussian affinities whose entropy matches ``log(perplexity)`` (bisection on beta)."""
    n = distances.shape[0]
    target = torch.log(torch.tensor(perplexity, dtype=distances.dtype))
    lo = torch.zeros(n, 1, dtype=distances.dtype)
    hi = torch.full((n, 1), float("inf"), dtype=distances.dtype)
    beta = torch.ones(n, 1, dtype=distances.dtype)
    eye = torch.eye(n, dtype=torch.bool)
    for _ in range(iterations):
        logits = (-distances * beta).masked_fill(eye, -float("inf"))
        p = torch.softmax(logits, dim=1)
        entropy = -(p * torch.log(p.clamp_min(1e-12))).sum(dim=1, keepdim=True)
        too_flat = entropy > target  # entropy too high: sharpen (raise beta)
        lo = torch.where(too_flat, beta, lo)
        hi = torch.where(too_flat, hi, beta)
        beta = torch.where(torch.isinf(hi), beta * 2, (lo + hi) / 2)
    return p


def tsne_2d(vectors: Tensor, *, perplexity: float = 30.0, iterations: int = 750, seed: int = 0) -> Tensor:
    """A small exact t-SNE (van der Maaten and Hinton, 2008), enough for a map of a few thousand points.

    Gaussian affinities at the given perplexity, symmetrised; Student-t similarities in 2-D;
    gradient descent with momentum 0.5 then 0.8, learning rate 200, early exaggeration 12 for
    the first 250 iterations. Cost and memory are O(N^2): subsample beyond ~5,000 points.

    Args:
        vectors: (N, H) points.
        perplexity: effective number of neighbours.
        iterations: gradient steps.
        seed: initialisation seed.

    Returns:
        (N, 2) float32 coordinates.
    """
    x = vectors.double()
    n = x.shape[0]
    if n < 3:
        return torch.zeros(n, 2)
    x = x - x.mean(dim=0)
    d = torch.cdist(x, x).pow(2)
    d = d / d[d > 0].mean().clamp_min(1e-12)
    p = _perplexity_affinities(d, min(perplexity, (n - 1) / 3))
    p = ((p + p.T) / (2 * n)).clamp_min(1e-12).float()
    y = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed)) * 1e-4
    velocity = torch.zeros_like(y)
    gains = torch.ones_like(y)
    for it in range(iterations):
        exaggeration = 12.0 if it < 250 else 1.0
        sq = (y * y).sum(dim=1)
        num = (sq[:, None] + sq[None, :] - 2.0 * (y @ y.T)).clamp_min_(0.0).add_(1.0).reciprocal_()  # (N, N) Student-t
        num.fill_diagonal_(0.0)
        w = (exaggeration * p).sub_(num / num.sum()).mul_(num)  # (P - Q) * kernel (Q's floor does not matter here)
        grad = 4.0 * (w.sum(dim=1, keepdim=True) * y - w @ y)
        gains = torch.where(torch.sign(grad) != torch.sign(velocity), gains + 0.2, gains * 0.8).clamp_min(0.01)
        velocity = (0.5 if it < 250 else 0.8) * velocity - 200.0 * gains * grad
        y = y + velocity
        y = y - y.mean(dim=0)
    return y.float()


def plot_precision_recall(table: dict[str, dict[str, float]], out: Path, title: str = "") -> Path:
    """Precision against recall fraction (log x axis), one curve per method.

    Args:
        table: method title -> {recall (as text): precision}.
        out: PNG path (written atomically).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for method, row in table.items():
        pts = sorted((float(r), p) for r, p in row.items())
        ax.plot(*zip(*pts), marker="o", ms=3, label=method)
    ax.set_xscale("log")
    ax.set_xlabel("recall (fraction of the database retrieved)")
    ax.set_ylabel("precision")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save_figure(fig, out)
    return out


def plot_embedding_map(points: Tensor, labels: Tensor, names: Sequence[str] | None, out: Path, title: str = "") -> Path:
    """Scatter of 2-D points coloured by label (tab20), legend with label names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 7))
    cmap = plt.get_cmap("tab20")
    for label in sorted(set(labels.tolist())):
        sel = labels == label
        name = names[label] if names and label < len(names) else str(label)
        ax.scatter(points[sel, 0], points[sel, 1], s=3, alpha=0.6, color=cmap(label % 20), label=name)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=6, markerscale=3, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    _save_figure(fig, out)
    return out


def _save_figure(fig, out: Path) -> None:
    import matplotlib.pyplot as plt

    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(out)


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


def run_adm(recipe, run: RunDir, device: torch.device, timer: Timer, progress: bool = True) -> dict:
    """Train the ADM (and the baselines the recipe lists), pick checkpoints, evaluate retrieval.

    Writes into the run folder: ``vocab.json``, ``checkpoints/{best,last}`` (the ADM),
    ``baselines/<name>/`` (metrics and checkpoints of ADM (AE) and DAE), ``retrieval.json`` and
    ``retrieval.md`` (test precision at every recall fraction for every method),
    ``precision_recall.png``, ``embedding_map.png`` (PCA of the test embeddings coloured by label)
    and the learning curves.

    Args:
        recipe: a :class:`textgan.config.Recipe` with an ``adm`` section.
        run: the run folder.
        device: training device.
        timer: wall-clock timer of the run.
        progress: show progress bars.

    Returns:
        A summary for ``run.json``: ``final_metrics`` (the ADM's test precision per recall), the
        full retrieval table, best steps and empty-document counts.
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
    encoder.save(run.path / "vocab.json")
    vocab_size = len(encoder)
    margin = cfg.margin if cfg.margin is not None else float(vocab_size // 20)
    labelled = data.train.labels is not None
    empties = {name: int((split.counts.sum(dim=1, dtype=torch.int64) == 0).sum())
               for name, split in (("train", data.train), ("valid", data.valid), ("test", data.test)) if split is not None}
    log.info("bag of words: V=%d, train %d, valid %d, test %s, empty %s", vocab_size, len(data.train), len(data.valid),
             len(data.test) if data.test is not None else "-", empties)
    train_docs = data.train.counts.to(device)
    valid_docs = data.valid.counts.to(device)

    models: dict[str, tuple[nn.Module, RunDir]] = {}
    best_steps: dict[str, int] = {}
    histories: dict[str, list[dict]] = {}
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
        if name == "adm":
            model_run = run
        else:
            model_run = RunDir(run.path / "baselines" / name)
            model_run.path.mkdir(parents=True, exist_ok=True)
            (model_run.path / "metrics.jsonl").write_text("", encoding="utf-8")

        select_recall = cfg.select_recall
        if labelled and retrieved_count(len(data.train), select_recall) == 0:
            select_recall = 1.0 / len(data.train)  # a tiny corpus: retrieve one document instead of none
            log.warning("adm.select_recall=%g retrieves no document of %d: selecting on precision@1 document",
                        cfg.select_recall, len(data.train))

        def validate(discriminator=discriminator, select_recall=select_recall) -> float:
            if labelled:
                db = embed_bow(discriminator, train_docs, batch_size=cfg.embed_batch_size)
                queries = embed_bow(discriminator, valid_docs, batch_size=cfg.embed_batch_size)
                return retrieval_precision(queries, data.valid.labels, db, data.train.labels, [select_recall])[0]
            with torch.no_grad():  # unlabelled corpus: the lowest clean validation energy wins
                discriminator.eval()
                energies = [discriminator.energy((valid_docs[i:i + cfg.embed_batch_size] > 0).float())
                            for i in range(0, valid_docs.shape[0], cfg.embed_batch_size)]
                return -torch.cat(energies).mean().item()

        def on_best(step: int, score: float, module=module, model_run=model_run, kind=kind, name=name) -> None:
            save_checkpoint(model_run.checkpoints / "best", module, kind, encoder,
                            extra={"recipe": recipe.name, "method": name, "step": step, "val_score": score,
                                   "val_metric": f"precision@{select_recall:g}" if labelled else "-energy"})

        log.info("training %s", METHOD_TITLES[name])
        result = train_energy_model(discriminator, generator, train_docs, steps=cfg.steps, batch_size=cfg.batch_size,
                                    lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), margin=margin, eval_every=cfg.eval_every,
                                    validate=validate, seed=recipe.seed, state_module=module, on_best=on_best,
                                    on_log=model_run.log_metrics, name=name, progress=progress, timer=timer,
                                    autocast_dtype=torch.bfloat16 if cfg.compute_dtype == "bfloat16" else None)
        save_checkpoint(model_run.checkpoints / "last", module, kind, encoder,
                        extra={"recipe": recipe.name, "method": name, "step": result.steps})
        module.load_state_dict(result.best_state)
        module.eval()
        models[name] = (module, model_run)
        best_steps[name] = result.best_step
        histories[name] = result.history
        if model_run is not run:
            plot_learning_curve(model_run.metrics(), model_run.path / "learning_curve.png")

    summary: dict = {"vocab_size": vocab_size, "margin": margin, "empty_documents": empties, "best_steps": best_steps,
                     "best_val_scores": {n: max((h["val_score"] for h in hs), default=None) for n, hs in histories.items()}}
    if not labelled:
        summary["final_metrics"] = {"val_energy": -summary["best_val_scores"]["adm"]}
        return summary

    # Test retrieval as the reference's evaluate.py: database = training + validation, queries = test.
    if data.test is not None:
        queries_split, where = data.test, "test"
        database_counts = torch.cat([data.train.counts, data.valid.counts])
        database_labels = torch.cat([data.train.labels, data.valid.labels])
    else:
        queries_split, where = data.valid, "validation"
        database_counts, database_labels = data.train.counts, data.train.labels
    recalls = list(cfg.recalls)
    vectors: dict[str, tuple[Tensor, Tensor]] = {}
    for name, (module, _) in models.items():
        vectors[name] = (embed_bow(module, queries_split.counts.to(device), batch_size=cfg.embed_batch_size),
                         embed_bow(module, database_counts.to(device), batch_size=cfg.embed_batch_size))
    if "bow" in cfg.baselines:
        vectors["bow"] = ((queries_split.counts > 0).float(), (database_counts > 0).float())
    if "tfidf" in cfg.baselines:
        df = (database_counts > 0).sum(dim=0)
        n_db = database_counts.shape[0]
        vectors["tfidf"] = (tfidf(queries_split.counts, df, n_db), tfidf(database_counts, df, n_db))
    table: dict[str, dict[str, float]] = {}
    for name, (q, db) in vectors.items():
        precision = retrieval_precision(q.to(device), queries_split.labels, db.to(device), database_labels, recalls)
        table[METHOD_TITLES[name]] = {_fmt_recall(r): p for r, p in zip(recalls, precision)}
    write_json(run.path / "retrieval.json", {"queries": where, "num_queries": len(queries_split),
                                             "database_size": int(database_counts.shape[0]), "table": table,
                                             "best_steps": best_steps})
    with atomic_open(run.path / "retrieval.md") as f:
        f.write(f"Precision of {where} queries against {database_counts.shape[0]} documents, by recall fraction.\n\n")
        f.write(format_retrieval_table(table))
    plot_precision_recall(table, run.path / "precision_recall.png", f"{recipe.name}: {where} retrieval")
    if cfg.embedding_map != "none":
        adm_queries, map_labels = vectors["adm"][0], queries_split.labels
        if cfg.embedding_map == "tsne" and adm_queries.shape[0] > cfg.map_points:
            keep = torch.randperm(adm_queries.shape[0], generator=torch.Generator().manual_seed(recipe.seed))[:cfg.map_points]
            adm_queries, map_labels = adm_queries[keep], map_labels[keep]
        points = tsne_2d(adm_queries, seed=recipe.seed) if cfg.embedding_map == "tsne" else pca_2d(adm_queries, recipe.seed)
        plot_embedding_map(points, map_labels, data.label_names, run.path / "embedding_map.png",
                           f"ADM {where} embeddings ({'t-SNE of ' + str(len(map_labels)) if cfg.embedding_map == 'tsne' else 'PCA'})")
    summary["retrieval"] = table
    summary["final_metrics"] = {f"precision@{k}": v for k, v in table["ADM"].items()}
    return summary
