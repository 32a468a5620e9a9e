"""Full training state: every model, optimizer and random stream of a run, as safetensors + JSON.

A run's ``state/`` folder holds ``state.safetensors`` (every tensor: weights, optimizer moments,
random-generator states) and ``state.json`` (everything else: optimizer hyper-parameters, the
python and numpy random states, the engine's position, trackers). Nothing is pickled, so a state
folder from an untrusted source cannot run code when loaded.

A :class:`TrainState` is a table of named parts, registered once when the run is built:

* ``nn.Module``: its ``state_dict`` (parameters and buffers);
* ``torch.optim.Optimizer``: its per-parameter state (tensors) and its parameter groups (JSON);
* ``torch.Generator``: its state (a byte tensor);
* any object with ``state_dict() -> dict`` and ``load_state_dict(dict)``, whose values are
  tensors or JSON-able (nested dicts are flattened with dots).

Besides the registered parts, the process-wide random streams that training draws from
(torch's default CPU generator and, when used, every CUDA device's, python's ``random`` and
numpy's global ``RandomState``) are saved and restored, since dropout and initialisation read them.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn

from ..errors import TextganError
from ..io import make_tmp_dir, replace_dir, write_json

STATE_FORMAT = 1
TENSORS = "state.safetensors"
META = "state.json"


def flatten(prefix: str, value: Any, tensors: dict[str, Tensor]) -> Any:
    """The JSON-able rest of nested dicts, lists and tuples; every tensor moves into ``tensors``.

    Tensors are keyed by their dotted path under ``prefix`` and left as ``{"__tensor__": key}``;
    tuples and non-string dict keys are tagged so that :func:`unflatten` gives them back.
    """
    if isinstance(value, Tensor):
        tensors[prefix] = value.detach().cpu().contiguous().clone()
        return {"__tensor__": prefix}
    if isinstance(value, dict):
        return {"__dict__": [[_key(k), flatten(f"{prefix}.{k}", v, tensors)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        out = [flatten(f"{prefix}.{i}", v, tensors) for i, v in enumerate(value)]
        return {"__tuple__": out} if isinstance(value, tuple) else out
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot save a {type(value).__name__} in a training state ({prefix})")


def _key(k: Any) -> Any:
    if isinstance(k, (str, int)) and not isinstance(k, bool):
        return k
    raise TypeError(f"cannot save a dict key of type {type(k).__name__} in a training state")


def unflatten(value: Any, tensors: dict[str, Tensor]) -> Any:
    """The inverse of :func:`flatten`."""
    if isinstance(value, dict):
        if "__tensor__" in value:
            return tensors[value["__tensor__"]]
        if "__tuple__" in value:
            return tuple(unflatten(v, tensors) for v in value["__tuple__"])
        return {k: unflatten(v, tensors) for k, v in value["__dict__"]}
    if isinstance(value, list):
        return [unflatten(v, tensors) for v in value]
    return value


def _global_rng_state() -> dict:
    import numpy as np

    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    out = {
        "torch": torch.get_rng_state(),
        "python": [version, list(internal), gauss],
        "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda"] = list(torch.cuda.get_rng_state_all())
    return out


def _set_global_rng_state(state: dict) -> None:
    import numpy as np

    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"]))


def _optimizer_state(opt: torch.optim.Optimizer) -> dict:
    sd = opt.state_dict()
    groups = [{k: v for k, v in g.items()} for g in sd["param_groups"]]
    return {"state": {int(i): dict(s) for i, s in sd["state"].items()}, "param_groups": groups}


def _load_optimizer_state(opt: torch.optim.Optimizer, saved: dict) -> None:
    state = {int(i): s for i, s in saved["state"].items()}
    opt.load_state_dict({"state": state, "param_groups": saved["param_groups"]})


class TrainState:
    """The named parts of a run whose values make up its full training state."""

    def __init__(self) -> None:
        self.parts: dict[str, Any] = {}

    def register(self, name: str, part: Any) -> Any:
        """Add ``part`` under ``name`` (a name is registered once); returns ``part``."""
        if name in self.parts:
            raise ValueError(f"training-state part {name!r} is already registered")
        if not isinstance(part, (nn.Module, torch.optim.Optimizer, torch.Generator)) and not (
                hasattr(part, "state_dict") and hasattr(part, "load_state_dict")):
            raise TypeError(f"{name!r}: a {type(part).__name__} has no state_dict/load_state_dict")
        self.parts[name] = part
        return part

    def __contains__(self, name: str) -> bool:
        return name in self.parts

    # ------------------------------------------------------------------ capture / restore
    def capture(self) -> tuple[dict[str, Tensor], dict]:
        """(tensors, JSON) of every part and of the process-wide random streams."""
        tensors: dict[str, Tensor] = {}
        meta: dict = {"format": STATE_FORMAT, "parts": {}}
        for name, part in self.parts.items():
            if isinstance(part, torch.Generator):
                value, kind = {"state": part.get_state()}, "generator"
            elif isinstance(part, torch.optim.Optimizer):
                value, kind = _optimizer_state(part), "optimizer"
            elif isinstance(part, nn.Module):
                value, kind = dict(part.state_dict()), "module"
            else:
                value, kind = part.state_dict(), "object"
            meta["parts"][name] = {"kind": kind, "value": flatten(f"{name}", value, tensors)}
        meta["rng"] = flatten("__rng__", _global_rng_state(), tensors)
        return tensors, meta

    def restore(self, tensors: dict[str, Tensor], meta: dict) -> None:
        """Load every registered part from a captured state (the inverse of :meth:`capture`)."""
        saved = meta["parts"]
        missing = [n for n in self.parts if n not in saved]
        if missing:
            raise TextganError(f"the saved training state has no {', '.join(missing)}: it was written by another "
                               "recipe; start a new run instead of --resume")
        for name, part in self.parts.items():
            value = unflatten(saved[name]["value"], tensors)
            try:
                if isinstance(part, torch.Generator):
                    part.set_state(value["state"])
                elif isinstance(part, torch.optim.Optimizer):
                    _load_optimizer_state(part, value)
                elif isinstance(part, nn.Module):
                    part.load_state_dict(value)
                else:
                    part.load_state_dict(value)
            except (RuntimeError, ValueError, KeyError) as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise TextganError(f"the saved state of {name!r} does not fit this run's model ({first[:200]}): "
                                   "resume with the recipe the run started with (no --set of model sizes)") from None
        _set_global_rng_state(unflatten(meta["rng"], tensors))


def save_state(folder: str | Path, tensors: dict[str, Tensor], meta: dict,
               check: Callable[[], None] | None = None) -> Path:
    """Write a captured state to ``folder`` atomically (the old state stays whole until the new one is).

    ``check`` is called after the state is written and before it replaces the old one (see `replace_dir`).
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    tmp = make_tmp_dir(folder)
    try:
        save_file(tensors, str(tmp / TENSORS))
        write_json(tmp / META, meta)
        replace_dir(tmp, folder, check=check)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def load_state(folder: str | Path) -> tuple[dict[str, Tensor], dict]:
    """Read a state folder written by :func:`save_state`.

    Raises:
        TextganError: the folder is missing, incomplete or damaged.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / META).is_file() or not (folder / TENSORS).is_file():
        raise TextganError(f"no training state in {str(folder)!r}: the run was stopped before its first checkpoint; "
                           "start it again without --resume")
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        tensors = load_file(str(folder / TENSORS))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, SafetensorError) as e:
        raise TextganError(f"the training state in {str(folder)!r} is damaged ({type(e).__name__}): "
                           "start the run again without --resume") from None
    if meta.get("format") != STATE_FORMAT:
        raise TextganError(f"the training state in {str(folder)!r} has format {meta.get('format')!r}, this textgan "
                           f"reads {STATE_FORMAT}: resume it with the textgan version that started it")
    return tensors, meta
