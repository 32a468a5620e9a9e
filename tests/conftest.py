"""Shared fixtures: a private cache directory, and the shared corpora when available."""

import os
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    # The tests use tiny tensors: OpenMP's thread synchronisation would cost more than the work,
    # and stalls badly when the cores are shared.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    # Tests never write into the user's ~/.cache/textgan.
    monkeypatch.setenv("TEXTGAN_CACHE", str(tmp_path_factory.mktemp("textgan-cache")))


def shared_corpora() -> Path | None:
    root = os.environ.get("TEXTGAN_CORPORA")
    return Path(root) if root and Path(root).is_dir() else None


requires_corpora = pytest.mark.skipif(shared_corpora() is None, reason="TEXTGAN_CORPORA is not set to the shared corpora")

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
