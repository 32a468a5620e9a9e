"""Which device a run or command uses."""

from __future__ import annotations

import torch

from .errors import TextganError


def resolve_device(name: str) -> torch.device:
    """"auto" -> CUDA when available, else CPU; "cuda" without a GPU is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TextganError("device 'cuda' was asked for but no CUDA GPU is visible: use --set device=cpu (or auto)")
    return torch.device(name)
