"""Shared fixtures: a private cache directory, and the shared corpora when available."""

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    # Tests never write into the user's ~/.cache/textgan.
    monkeypatch.setenv("TEXTGAN_CACHE", str(tmp_path_factory.mktemp("textgan-cache")))


def shared_corpora() -> Path | None:
    root = os.environ.get("TEXTGAN_CORPORA")
    return Path(root) if root and Path(root).is_dir() else None


requires_corpora = pytest.mark.skipif(shared_corpora() is None, reason="TEXTGAN_CORPORA is not set to the shared corpora")
