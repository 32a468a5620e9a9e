"""Checkpoints: safetensors weights + JSON config + vocabulary (+ tokenizer files); never pickle."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors.torch import load_file, save_file

from ..errors import TextganError
from ..io import file_sha256, replace_dir, write_json

FORMAT_VERSION = 1


@dataclass
class LoadedGenerator:
    """A generator with everything needed to turn its ids into text."""

    model: torch.nn.Module
    kind: str
    vocab: Any  # textgan.data.vocab.Vocab
    tokenizer: Any | None  # textgan.data.tokenizers.Tokenizer, None for the synthetic oracle
    config: dict
    path: Path
    sha256: str


def save_checkpoint(path: str | Path, model: torch.nn.Module, kind: str, vocab: Any,
                    tokenizer: Any | None = None, extra: dict | None = None,
                    check: Callable[[], None] | None = None) -> Path:
    """Write a self-contained checkpoint folder atomically.

    Layout: ``model.safetensors``, ``config.json`` (kind, constructor arguments, extra),
    ``vocab.json`` and, for text, ``tokenizer/`` with the tokenizer's own files.

    Args:
        path: destination folder (replaced if it exists).
        model: a module with ``config() -> dict`` of constructor arguments.
        kind: registry name of the model ("lstm").
        vocab: the Vocab the model's ids refer to.
        tokenizer: the tokenizer that produced the tokens, or None.
        extra: more JSON-able facts (epoch, metrics, recipe name).
        check: called once the folder is written, before it replaces ``path`` (see `replace_dir`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        save_file(weights_of(model), str(tmp / "model.safetensors"))
        if hasattr(model, "export_pretrained"):  # also a folder its own library loads (transformers models)
            model.export_pretrained(tmp / "hf", vocab)
        config = {"format_version": FORMAT_VERSION, "kind": kind, "args": model.config(), "extra": extra or {}}
        companions = model.companions() if hasattr(model, "companions") else {}
        if companions:  # modules the model's constructor takes (LeakGAN: its discriminator), saved beside it
            config["companions"] = {name: _save_companion(tmp / "companions" / name, module)
                                    for name, module in companions.items()}
        if tokenizer is not None:
            config["tokenizer"] = tokenizer.save(tmp / "tokenizer")
        write_json(tmp / "config.json", config)
        vocab.save(tmp / "vocab.json")
        replace_dir(tmp, path, check=check)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def weights_of(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A module's state dict on the CPU, ready for safetensors: tied weights (one tensor under two
    names, e.g. a transformer's input and output embeddings) are written as separate copies."""
    out, seen = {}, set()
    for k, v in module.state_dict().items():
        v = v.detach().cpu().contiguous()
        ptr = v.untyped_storage().data_ptr()
        out[k] = v.clone() if ptr in seen else v
        seen.add(ptr)
    return out


def _save_companion(folder: Path, module: torch.nn.Module) -> dict:
    """Save a companion module's weights and constructor arguments; return how to rebuild it."""
    from ..registry import discriminators, generators

    for table, registry in (("discriminator", discriminators()), ("generator", generators())):
        name = registry.name_of(module)
        if name is not None:
            break
    else:
        raise TextganError(f"cannot save companion {type(module).__name__}: it is not a registered model")
    folder.mkdir(parents=True)
    save_file(weights_of(module), str(folder / "model.safetensors"))
    return {"table": table, "kind": name, "args": module.config()}


def _load_companions(ckpt: Path, config: dict) -> dict:
    """Rebuild the companions listed in ``config`` (name -> module), for the model's constructor."""
    from ..registry import build_discriminator, build_generator

    out = {}
    for name, spec in config.get("companions", {}).items():
        build = build_discriminator if spec["table"] == "discriminator" else build_generator
        module = build_from_config(ckpt, spec, build)
        load_into(module, ckpt / "companions" / name / "model.safetensors")
        out[name] = module.eval()
    return out


def _one_line(e: BaseException, limit: int = 160) -> str:
    """The most telling line of an exception's message, cut to ``limit`` characters."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    best = next((line for line in lines if line.startswith(("size mismatch", "Missing key", "Unexpected key"))),
                lines[0] if lines else type(e).__name__)
    return best if len(best) <= limit else best[:limit - 3] + "..."


def read_config(ckpt: Path) -> dict:
    """A checkpoint's ``config.json``, checked to be a mapping with ``kind`` and ``args``.

    Raises:
        TextganError: the file is unreadable, not JSON, or not a checkpoint config (named, as damaged).
    """
    file = ckpt / "config.json"
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TextganError(f"checkpoint config {str(file)!r} is unreadable or damaged ({_one_line(e)}): "
                           "re-save the checkpoint (rerun training, or copy the folder again)") from None
    if not isinstance(config, dict) or not isinstance(config.get("kind"), str) or not isinstance(config.get("args"), dict):
        raise TextganError(f"checkpoint config {str(file)!r} is damaged (it lacks the model's kind and args): "
                           "re-save the checkpoint (rerun training, or copy the folder again)")
    return config


def load_weights(file: Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``model.safetensors``, with a one-line error naming a truncated or damaged file."""
    try:
        return load_file(str(file))
    except Exception as e:  # safetensors raises SafetensorError (and OSError) for a damaged file
        raise TextganError(f"checkpoint weights {str(file)!r} are damaged or truncated ({_one_line(e)}): "
                           "re-save the checkpoint (rerun training, or copy the folder again)") from None


def build_from_config(ckpt: Path, config: dict, build, **kw) -> torch.nn.Module:
    """``build(config["kind"], **config["args"], **kw)``; a config it cannot build is named as damaged."""
    try:
        return build(config["kind"], **config["args"], **kw)
    except TextganError:
        raise
    except Exception as e:  # an unknown field (TypeError), an impossible size (ValueError, RuntimeError)
        raise TextganError(f"checkpoint config {str(ckpt / 'config.json')!r} is damaged or from another textgan version "
                           f"({type(e).__name__}: {_one_line(e)}): re-save the checkpoint with this version") from None


def load_into(model: torch.nn.Module, weights_file: Path) -> torch.nn.Module:
    """Load ``weights_file`` into ``model``; weights that do not fit the config are named as damaged."""
    weights = load_weights(weights_file)
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:
        raise TextganError(f"checkpoint {str(weights_file.parent)!r} is damaged: its config.json disagrees with "
                           f"{weights_file.name} ({_one_line(e)}): re-save the checkpoint (rerun training, or copy "
                           "the folder again)") from None
    return model


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder from a run folder (its best, else last, checkpoint) or the folder itself."""
    path = Path(path)
    if (path / "config.json").is_file() and (path / "model.safetensors").is_file():
        return path
    for name in ("best", "last"):
        cand = path / "checkpoints" / name
        if (cand / "model.safetensors").is_file():
            return cand
    raise TextganError(f"no checkpoint at {str(path)!r}: pass a run folder (with checkpoints/) or a checkpoint folder holding model.safetensors and config.json")


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> LoadedGenerator:
    """Load a generator checkpoint saved by :func:`save_checkpoint` (or a run folder).

    Raises:
        TextganError: no checkpoint there, or its files are unreadable, truncated, or disagree
            with each other (the message names the damaged file).
    """
    from ..data.tokenizers import load_tokenizer
    from ..data.vocab import Vocab
    from ..registry import build_generator

    ckpt = resolve_checkpoint(path)
    config = read_config(ckpt)
    try:
        companions = {name: m.to(device) for name, m in _load_companions(ckpt, config).items()}
    except (KeyError, TypeError, AttributeError) as e:
        raise TextganError(f"checkpoint config {str(ckpt / 'config.json')!r} is damaged (companions: {_one_line(e)}): "
                           "re-save the checkpoint") from None
    model = build_from_config(ckpt, config, build_generator, **companions)
    load_into(model, ckpt / "model.safetensors")
    model.to(device).eval()
    vocab = Vocab.load(ckpt / "vocab.json")
    tokenizer = load_tokenizer(config["tokenizer"], ckpt / "tokenizer") if "tokenizer" in config else None
    return LoadedGenerator(model, config["kind"], vocab, tokenizer, config, ckpt, file_sha256(ckpt / "model.safetensors"))
