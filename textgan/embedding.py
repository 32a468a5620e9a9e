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
"""File extensions of ``textgan embed --out``; ``--format hf`` writes a ``datasets`` folder instead."""


def _side_files(out: Path) -> tuple[Path, Path]:
    stem = out.with_suffix("")
    return stem.with_name(stem.name + ".ids.txt"), stem.with_name(stem.name + ".meta.json")


def check_embedding_out(out: str | Path, fmt: str | None = None) -> None:
    """Refuse an ``--out`` that `embed_stream` cannot write or must not replace (before any work).

    Standard output (``-``) is accepted: the JSONL records are written to it, without meta file.
    ``fmt="hf"``: ``out`` is a ``datasets`` folder (new, or one written before).
    """
    if is_stdout(out):
        return
    out = Path(out)
    if fmt == "hf":
        check_output(out, folder=True, own=("state.json", "dataset_info.json"))
        return
    check_output(out)
    if out.suffix.lower() not in EMBEDDING_FORMATS:
        raise TextganError(f"unsupported embedding file {out.name!r}: end --out with one of {', '.join(EMBEDDING_FORMATS)} "
                           "(or pass - for JSONL on standard output)")
    ids_path, meta_path = _side_files(out)
    if out.suffix.lower() == ".npy":
        check_output(ids_path, flag="--out's id file")
    check_output(meta_path, flag="--out's meta file")


# --------------------------------------------------------------------------- sharded, resumable embedding of a corpus


EMBED_MANIFEST_FORMAT = "textgan.embed/1"


def embed_parts_dir(out: Path) -> Path:
    """``OUT.parts/``: the shards of an embedding in progress."""
    return out.with_name(out.name + ".parts")


def _shard_table(ids: list, vectors, empty: list[bool]):
    """A shard: ``id`` (string, as the parquet output), ``embedding``, ``empty``, and ``_id_json``
    (the id as JSON, so JSONL keeps integer ids integers; dropped from parquet and ``datasets``)."""
    import pyarrow as pa

    return pa.table({
        "id": pa.array([str(i) for i in ids], pa.string()),
        "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1), pa.float32()), vectors.shape[1]),
        "empty": pa.array(empty, pa.bool_()),
        "_id_json": pa.array([json.dumps(i) for i in ids], pa.string()),
    })


def embed_stream(loaded: LoadedDocumentModel, items, out: str | Path, fmt: str, meta: dict, *,
                 shard_size: int = 50_000, batch_size: int = 4096, progress: bool = False) -> tuple[list[Path], int, int]:
    """Embed ``(id, text)`` items into ``out`` in shards, with constant memory; resumable; split over
    torchrun ranks.

    Shard ``i`` holds items ``i * shard_size`` to ``(i + 1) * shard_size - 1``; rank ``r`` of ``N``
    embeds the shards ``i`` with ``i % N == r`` that are not finished yet, each written atomically to
    ``OUT.parts/shard-XXXXX.parquet`` with an entry ``shard-XXXXX.json`` (rows, empty documents,
    sha256). A killed run, rerun with the same command (any number of processes), embeds only the
    missing shards; the settings are checked against ``OUT.parts/manifest.json``. Rank 0 then
    merges the shards in order into ``fmt`` (``npy``: an (N, H) float32 array filled shard by
    shard through a memory map, ids in ``<stem>.ids.txt``; ``parquet``; ``jsonl``; ``hf``: a
    ``datasets`` folder), writes ``<stem>.meta.json`` and removes the shard folder. A document's
    vector does not depend on the shard or batch it is in (the model is in eval mode, without
    noise), so the output equals an unsharded run's.

    Returns:
        ``(files written, documents, empty documents)``.
    """
    import itertools

    import numpy as np
    import pyarrow.parquet as pq
    from tqdm.auto import tqdm

    from .engine.distributed import setup
    from .generation import _check_settings, _sha256, shard_entry

    device = next(loaded.model.parameters()).device
    dist = setup(device.type)
    out = Path(out)
    parts = embed_parts_dir(out)
    settings = {"checkpoint_sha256": loaded.sha256, "input": meta.get("input"), "split": meta.get("split"),
                "text_column": meta.get("text_column"), "shard_size": shard_size, "format": fmt}
    made = not parts.exists()
    if dist.is_main:
        check_output(parts, folder=True, own=("manifest.json",), flag="--out's shard folder")
        if (parts / "manifest.json").is_file():
            _check_settings(json.loads((parts / "manifest.json").read_text(encoding="utf-8")).get("settings", {}),
                            settings, parts)
        try:
            parts.mkdir(parents=True, exist_ok=True)
            write_json(parts / "manifest.json", {"format": EMBED_MANIFEST_FORMAT, "settings": settings})
        except Exception:
            _drop_unfinished(parts, made)
            raise
    dist.barrier()

    def entry(index: int) -> dict | None:
        return shard_entry(parts, index)

    total = 0
    bar = tqdm(unit="doc", desc="embed", disable=not (progress and dist.is_main), dynamic_ncols=True)
    try:
        it = iter(items)
        for index in itertools.count():
            chunk = list(itertools.islice(it, shard_size))
            if not chunk:
                break
            total += len(chunk)
            if index % dist.world == dist.rank and entry(index) is None:
                ids = [i for i, _ in chunk]
                emb = embed_texts(loaded, [t for _, t in chunk], batch_size=batch_size)
                name = f"shard-{index:05d}.parquet"
                tmp = atomic_tmp_path(parts / name)
                try:
                    pq.write_table(_shard_table(ids, emb.vectors.float().numpy(), emb.empty.tolist()), tmp)
                    os.replace(tmp, parts / name)
                except BaseException:
                    tmp.unlink(missing_ok=True)
                    raise
                write_json(parts / f"shard-{index:05d}.json", {"index": index, "file": name, "rows": len(chunk),
                                                               "empty": emb.num_empty, "sha256": _sha256(parts / name)})
            bar.update(len(chunk))
        if total == 0:
            raise TextganError(f"{meta.get('input')!r} has no non-blank text to embed (the input is empty): pass a "
                               "file or corpus split with texts")
    except Exception:  # a bad input line, a full disk: nothing finished is left behind (an interrupt keeps it)
        if dist.is_main:
            _drop_unfinished(parts, made)
        raise
    finally:
        bar.close()
    dist.barrier()
    files: list[Path] = []
    num_empty = 0
    if dist.is_main:
        entries = [entry(i) for i in range(-(-total // shard_size))]
        missing = [i for i, e in enumerate(entries) if e is None]
        if missing:
            raise TextganError(f"shards {missing[:5]} of {str(parts)!r} are missing or damaged: rerun the same command")
        num_empty = sum(e["empty"] for e in entries)
        meta = {**meta, "num_documents": total, "num_empty": num_empty, "shards": len(entries),
                "shard_size": shard_size}
        files = _merge_embedding_shards(parts, [parts / e["file"] for e in entries], out, fmt, total,
                                        int(loaded.dim), meta)
        import shutil

        shutil.rmtree(parts, ignore_errors=True)
    dist.barrier()
    if not dist.is_main:
        meta_path = _side_files(out)[1] if fmt != "hf" else out / "textgan_meta.json"
        num_empty = json.loads(meta_path.read_text(encoding="utf-8"))["num_empty"]
    return files, total, num_empty


def _drop_unfinished(parts: Path, made: bool) -> None:
    """Remove the shard folder this call made when no shard in it is finished."""
    import shutil

    if made and not list(parts.glob("shard-*.json")):
        shutil.rmtree(parts, ignore_errors=True)


def _merge_embedding_shards(parts: Path, shard_files: list[Path], out: Path, fmt: str, total: int, dim: int,
                            meta: dict) -> list[Path]:
    """Merge parquet shards, in order, into the final format with constant memory (see :func:`embed_stream`)."""
    import numpy as np
    import pyarrow.parquet as pq

    def tables(keep_json_ids: bool = False):
        for path in shard_files:
            table = pq.read_table(path)
            yield table if keep_json_ids else table.drop(["_id_json"])

    written = [out]
    if fmt == "npy":
        ids_path, meta_path = _side_files(out)
        tmp = atomic_tmp_path(out)
        try:
            arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(total, dim))
            row = 0
            with atomic_open(ids_path) as ids_file:
                for table in tables():
                    vec = np.asarray(table.column("embedding").combine_chunks().flatten(), dtype=np.float32)
                    arr[row:row + table.num_rows] = vec.reshape(table.num_rows, dim)
                    row += table.num_rows
                    for i in table.column("id").to_pylist():
                        ids_file.write(str(i).replace("\n", " ") + "\n")
            arr.flush()
            del arr
            os.replace(tmp, out)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        written.append(ids_path)
    elif fmt == "parquet":
        meta_path = _side_files(out)[1]
        tmp = atomic_tmp_path(out)
        writer = None
        try:
            for table in tables():
                table = table.replace_schema_metadata({"textgan": json.dumps(meta)})
                if writer is None:
                    writer = pq.ParquetWriter(str(tmp), table.schema)
                writer.write_table(table)
            writer.close()
            writer = None
            os.replace(tmp, out)
        except BaseException:
            if writer is not None:
                writer.close()
            tmp.unlink(missing_ok=True)
            raise
    elif fmt == "jsonl":
        meta_path = _side_files(out)[1]
        with atomic_open(out) as f:
            for table in tables(keep_json_ids=True):
                for r in table.to_pylist():
                    f.write(json.dumps({"id": json.loads(r["_id_json"]), "embedding": r["embedding"],
                                        "empty": r["empty"]}) + "\n")
    else:  # hf: a datasets folder (save_to_disk), built from the shards without loading them all
        from datasets import Dataset

        from .generation import quiet_datasets
        from .io import replace_dir

        tmp = parts / "dataset.tmp"
        with quiet_datasets():
            ds = Dataset.from_parquet([str(p) for p in shard_files], cache_dir=str(parts / "hf_cache"))
            ds.remove_columns(["_id_json"]).save_to_disk(str(tmp))
        replace_dir(tmp, out)
        meta_path = out / "textgan_meta.json"
    write_json(meta_path, meta)
    written.append(meta_path)
    return written
