"""Fixtures for the data tests: an isolated user cache, no network, the shared corpora."""

from __future__ import annotations

import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own TEXTGAN_CACHE, and downloads are off unless a test enables them."""
    monkeypatch.setenv("TEXTGAN_CACHE", str(tmp_path / "textgan_cache"))
    monkeypatch.delenv("TEXTGAN_DOWNLOAD", raising=False)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse any URL that would leave the machine (file:// and localhost stay allowed)."""
    real_urlopen = urllib.request.urlopen

    def guarded(url, *args, **kwargs):
        full = url.full_url if isinstance(url, urllib.request.Request) else str(url)
        parsed = urllib.parse.urlparse(full)
        if parsed.scheme != "file" and parsed.hostname not in ("127.0.0.1", "localhost"):
            raise urllib.error.URLError(f"network disabled in tests ({parsed.hostname})")
        return real_urlopen(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", guarded)


@pytest.fixture
def shared_corpora() -> Path:
    """The shared corpora folder ($TEXTGAN_CORPORA); the test is skipped when it is absent."""
    value = os.environ.get("TEXTGAN_CORPORA", "").strip()
    if not value or not Path(value).is_dir():
        pytest.skip("TEXTGAN_CORPORA is not set to an existing folder")
    return Path(value)


@pytest.fixture
def no_corpora(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide the shared corpora so only the user cache is searched."""
    monkeypatch.delenv("TEXTGAN_CORPORA", raising=False)
