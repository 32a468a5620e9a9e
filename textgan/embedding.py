"""Embedding documents with a trained ADM or DAE: loading the checkpoint, embedding bags of words and texts, writing vectors.

Used by ``textgan embed`` (:func:`textgan.api.embed`, :func:`textgan.api.embed_to_file`) and by
the validation and test retrieval of :func:`textgan.train.energy.run_adm`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from .errors import TextganError
from .io import atomic_open, atomic_tmp_path, check_output, is_stdout, write_json
from .models.adm import AdversarialDocumentModel, DenoisingAutoencoder, embed_bow  # noqa: F401  (embed_bow: re-exported)
from .train.checkpoint import build_from_config, file_sha256, load_into, read_config, resolve_checkpoint

MODEL_KINDS: dict[str, type[nn.Module]] = {"adm": AdversarialDocumentModel, "dae": DenoisingAutoencoder}
"""Checkpoint ``kind`` -> class, for :func:`load_document_model`."""


# --------------------------------------------------------------------------- bags of words


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
    from .data.bow import BowEncoder

    ckpt = resolve_checkpoint(path)
    config = read_config(ckpt)
    kind = config.get("kind")
    if kind not in MODEL_KINDS:
        raise TextganError(f"checkpoint {str(ckpt)!r} holds a {kind!r} model, not a document model: pass an ADM run folder "
                           f"(one trained with an adm: recipe section)")
    model = build_from_config(ckpt, config, lambda kind, **args: MODEL_KINDS[kind](**args))
    load_into(model, ckpt / "model.safetensors")
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


# --------------------------------------------------------------------------- sentence features for metrics


def model_features(path: str | Path, device: str | torch.device = "cpu", batch_size: int = 512):
    """Sentence features from one of textgan's trained models, for the Fréchet distance and MAUVE
    when no ``transformers`` encoder folder is at hand (docs/evaluation.md).

    ``path`` is a run folder with ``checkpoints/discriminator`` (its discriminator's features:
    for the CNN, the pooled highway features LeakGAN leaks), an ADM or DAE run folder or
    checkpoint (the document embedding of the texts' bags of words), or a discriminator
    checkpoint folder. Texts are tokenized with the model's own tokenizer and vocabulary (unknown
    words become ``<unk>``), to the run's ``data.max_len`` when the run's recipe is there (else
    the longest text's length).

    Returns:
        ``(fn, name)``: ``fn(texts) -> (N, D)`` float64 array, and a name for the protocol (the
        model's role, kind and weights hash).
    """
    import numpy as np

    from .data.encode import encode_texts
    from .data.tokenizers import load_tokenizer
    from .data.vocab import Vocab
    from .registry import build_discriminator, discriminators

    path = Path(path)
    if (path / "checkpoints" / "discriminator" / "model.safetensors").is_file():
        ckpt = path / "checkpoints" / "discriminator"
    else:
        ckpt = resolve_checkpoint(path)
    config = read_config(ckpt)
    kind = config.get("kind")
    sha = file_sha256(ckpt / "model.safetensors")[:16]
    if kind in MODEL_KINDS:
        loaded = load_document_model(ckpt, device)

        def adm_fn(texts: Sequence[str]) -> np.ndarray:
            return embed_texts(loaded, list(texts), batch_size=batch_size).vectors.double().numpy()

        return adm_fn, f"{kind} embedding ({ckpt.parent.parent.name or ckpt.name}, sha256 {sha})"
    if kind not in discriminators().names() or "tokenizer" not in config:
        raise TextganError(f"{str(path)!r} holds a {kind!r} model without text features: pass a run folder with "
                           "checkpoints/discriminator, a discriminator checkpoint or an ADM run (or --encoder DIR)")
    vocab = Vocab.load(ckpt / "vocab.json")
    needs_vocab = "vocab" in discriminators().meta(kind).get("needs", ())
    model = build_from_config(ckpt, config, build_discriminator, **({"vocab": vocab} if needs_vocab else {}))
    if not hasattr(model, "features"):
        raise TextganError(f"the {kind!r} discriminator in {str(ckpt)!r} has no sentence features: pass another run "
                           "(a cnn or hf_classifier discriminator), an ADM run, or --encoder DIR")
    load_into(model, ckpt / "model.safetensors")
    model.to(device).eval()
    tokenizer = load_tokenizer(config["tokenizer"], ckpt / "tokenizer")
    run = ckpt.parent.parent
    max_len = None
    if (run / "recipe.yaml").is_file():
        from .config import load_recipe

        max_len = load_recipe(run / "recipe.yaml").data.max_len

    @torch.no_grad()
    def disc_fn(texts: Sequence[str]) -> np.ndarray:
        length = max_len or max(len(tokenizer.tokenize(t)) for t in texts) + 1
        ids, _ = encode_texts(list(texts), tokenizer, vocab, max(length, 2))
        feats = [model.features(ids[i:i + batch_size].to(device)).float().cpu()
                 for i in range(0, ids.size(0), batch_size)]
        return torch.cat(feats).double().numpy()

    return disc_fn, f"{kind} discriminator features ({run.name}, sha256 {sha})"


EMBEDDING_FORMATS: tuple[str, ...] = (".npy", ".parquet", ".jsonl")


def _side_files(out: Path) -> tuple[Path, Path]:
    stem = out.with_suffix("")
    return stem.with_name(stem.name + ".ids.txt"), stem.with_name(stem.name + ".meta.json")


def check_embedding_out(out: str | Path) -> None:
    """Refuse an ``--out`` that `write_embeddings` cannot write or must not replace (before any work).

    Standard output (``-``) is accepted: the JSONL records are written to it, without meta file.
    """
    if is_stdout(out):
        return
    out = Path(out)
    check_output(out)
    if out.suffix.lower() not in EMBEDDING_FORMATS:
        raise TextganError(f"unsupported embedding file {out.name!r}: end --out with one of {', '.join(EMBEDDING_FORMATS)} "
                           "(or pass - for JSONL on standard output)")
    ids_path, meta_path = _side_files(out)
    if out.suffix.lower() == ".npy":
        check_output(ids_path, flag="--out's id file")
    check_output(meta_path, flag="--out's meta file")


def write_embeddings(out: str | Path, embeddings: Embeddings, ids: Sequence, meta: dict) -> list[Path]:
    """Write vectors atomically, in the format given by ``out``'s extension.

    * ``.npy``: (N, H) float32 array, ids in ``<stem>.ids.txt`` (one per line, row order);
    * ``.parquet``: columns ``id`` (string), ``embedding`` (list of float32), ``empty`` (bool);
    * ``.jsonl``: one ``{"id", "embedding", "empty"}`` object per document.

    Every format also gets ``<stem>.meta.json``: model, checkpoint hash, dimension, number of
    documents and of empty documents, and what an empty document's vector is.

    Returns:
        The files written.

    Standard output (``-``, ``/dev/stdout``) gets the JSONL records only.

    Raises:
        TextganError: an unsupported extension, or an output (or side file) that is a symbolic
            link, device, pipe or folder.
    """
    import numpy as np

    check_embedding_out(out)
    vectors = embeddings.vectors.float().numpy()
    empty = embeddings.empty.tolist()
    if is_stdout(out):
        with atomic_open(out) as f:
            for i, vec, e in zip(ids, vectors.tolist(), empty):
                f.write(json.dumps({"id": i, "embedding": vec, "empty": e}) + "\n")
        return [Path(out)]
    out = Path(out)
    suffix = out.suffix.lower()
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

