"""Downloading a corpus file from its card's canonical source and converting it.

Used by `textgan.data.corpus.corpus_file` when downloading is allowed; each `RemoteFile` of a
card names the URL, the expected checksum and one of `TRANSFORMS`, implemented here.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import logging
import os
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from textgan.data.cards import CorpusCard, RemoteFile
from textgan.errors import TextganError
from textgan.io import atomic_open, atomic_tmp_path, file_sha256

logger = logging.getLogger(__name__)

_DOWNLOAD_TIMEOUT_S = 60


def _git_blob_id(path: Path) -> str:
    """The git blob id of a file: sha1 of ``b"blob <size>\\0" + content``."""
    digest = hashlib.sha1()
    digest.update(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download_to(url: str, dest: Path) -> None:
    """Stream ``url`` into ``dest`` atomically; raise the underlying network error."""
    request = urllib.request.Request(url, headers={"User-Agent": "textgan"})
    tmp = atomic_tmp_path(dest)
    try:
        with urllib.request.urlopen(request, timeout=_DOWNLOAD_TIMEOUT_S) as response, open(tmp, "wb") as out:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                out.write(chunk)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def fetch_remote(card: CorpusCard, relpath: str, remote: RemoteFile, *, dest: Path, downloads: Path,
                 where: str) -> Path:
    """Download (and convert) one corpus file; return its path.

    Args:
        card: the corpus.
        relpath: the file, relative to the corpus folder.
        remote: where to download it from and how to check and convert it.
        dest: where the converted file is written (atomically).
        downloads: folder of the raw downloads (one shared by several files is kept).
        where: where the file can be put by hand, for error messages.

    Raises:
        TextganError: the download failed or is not the expected file (one line).
    """
    raw = downloads / (
        hashlib.sha256(remote.url.encode()).hexdigest()[:16] + "-" + (remote.url.rsplit("/", 1)[-1] or "download")
    )
    if not raw.is_file():
        logger.info("downloading %s %s from %s %s", card.name, relpath, remote.url, remote.size)
        try:
            _download_to(remote.url, raw)
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise TextganError(
                f"could not download {card.name} {relpath} from {remote.url} ({reason}): download it by "
                f"hand and put it at {where}"
            ) from None
        problem = None
        if remote.sha256 is not None and file_sha256(raw) != remote.sha256:
            problem = f"sha256 differs from {remote.sha256[:12]}"
        elif remote.git_blob is not None and not _git_blob_id(raw).startswith(remote.git_blob):
            problem = f"git blob id differs from {remote.git_blob[:12]}"
        if problem:
            raw.unlink(missing_ok=True)
            raise TextganError(
                f"downloaded {remote.url} is not the expected file ({problem}): retry, or get {relpath} "
                f"by hand and put it at {where}"
            )
    data = _TRANSFORM_FNS[remote.transform](raw)
    with atomic_open(dest, "wb") as f:
        f.write(data)
    # Keep a shared download (the 20news tarball feeds three files); drop single-use ones.
    if sum(r.url == remote.url for r in card.remote.values()) == 1:
        raw.unlink(missing_ok=True)
    expected = card.files.get(relpath)
    if expected is not None and file_sha256(dest) != expected:
        logger.warning(
            "%s %s: sha256 differs from the card's %s (the conversion may not match the shared copy)",
            card.name,
            relpath,
            expected[:12],
        )
    logger.info("saved %s", dest)
    return dest


def _rstrip_lines(raw: Path) -> bytes:
    lines = raw.read_bytes().split(b"\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return b"".join(line.rstrip() + b"\n" for line in lines)


def _newsgroups_members(raw: Path) -> dict[str, list[tuple[str, str, bytes]]]:
    """Read 20news-bydate.tar.gz: split -> [(label name, file name, bytes)], sorted."""
    out: dict[str, list[tuple[str, str, bytes]]] = {"train": [], "test": []}
    with tarfile.open(raw, "r:gz") as tar:
        for member in tar:
            parts = member.name.strip("./").split("/")
            if not member.isfile() or len(parts) != 3 or not parts[0].startswith("20news-bydate-"):
                continue
            split = parts[0].removeprefix("20news-bydate-")
            if split in out:
                data = tar.extractfile(member)
                if data is not None:
                    out[split].append((parts[1], parts[2], data.read()))
    for records in out.values():
        records.sort(key=lambda r: (r[0], r[1]))
    return out


def _newsgroups_labels_from(members: dict[str, list[tuple[str, str, bytes]]]) -> list[str]:
    return sorted({label for records in members.values() for label, _, _ in records})


def _newsgroups_jsonl(split: str) -> Callable[[Path], bytes]:
    def convert(raw: Path) -> bytes:
        members = _newsgroups_members(raw)
        labels = _newsgroups_labels_from(members)
        index = {label: i for i, label in enumerate(labels)}
        out = io.StringIO()
        for label, fname, data in members[split]:
            # The original archive is Latin-1 (as scikit-learn decodes it).
            record = {"id": f"{split}/{label}/{fname}", "label": index[label], "label_name": label,
                      "text": data.decode("latin-1")}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        return out.getvalue().encode("utf-8")

    return convert


def _newsgroups_labels(raw: Path) -> bytes:
    return "".join(label + "\n" for label in _newsgroups_labels_from(_newsgroups_members(raw))).encode()


_TRANSFORM_FNS: dict[str, Callable[[Path], bytes]] = {
    "copy": lambda raw: raw.read_bytes(),
    "rstrip_lines": _rstrip_lines,
    "newsgroups_train": _newsgroups_jsonl("train"),
    "newsgroups_test": _newsgroups_jsonl("test"),
    "newsgroups_labels": _newsgroups_labels,
}
