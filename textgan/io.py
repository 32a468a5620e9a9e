"""Atomic file writes: write to a temporary name in the same folder, then rename.

``tempfile.mkstemp`` and ``tempfile.mkdtemp`` create private (0600 / 0700) entries; renamed into
place as they are, a user's outputs would be unreadable to the group and others whatever the
umask says. Everything here honours the process umask instead (0644 files and 0755 folders
under the usual umask 0022), as a plain ``open`` or ``mkdir`` would.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Iterator, TypeVar

from .errors import TextganError

_P = TypeVar("_P", bound="str | os.PathLike")


def _umask_at_import() -> int:
    # os.umask can only be read by setting it; done once, while importing (single-threaded in
    # practice), and used only where /proc/self/status has no "Umask:" line (non-Linux, old kernels).
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _proc_umask() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return None


_FALLBACK_UMASK: int = _umask_at_import() if (_mask := _proc_umask()) is None else _mask
del _mask


def current_umask() -> int:
    """The process umask, read without changing it (thread-safe).

    Read from ``/proc/self/status`` on Linux (so later ``os.umask`` calls are seen); elsewhere the
    value the process had when this module was imported.
    """
    mask = _proc_umask()
    return _FALLBACK_UMASK if mask is None else mask


def apply_umask(path: _P) -> _P:
    """Give ``path`` the mode a plain ``open``/``mkdir`` would: 0666 (file) or 0777 (folder) less the umask.

    For entries made by ``tempfile.mkstemp``/``mkdtemp`` (0600/0700) before they are renamed
    into a user-visible place. Only the entry itself changes, not a folder's contents.
    Returns ``path``, so it can wrap the call that made it.
    """
    base = 0o777 if os.path.isdir(path) else 0o666
    os.chmod(path, base & ~current_umask())
    return path


def apply_umask_tree(root: str | os.PathLike) -> None:
    """`apply_umask` to ``root`` and everything under it (symbolic links are left alone).

    Files with an execute bit get 0777 less the umask, so they stay executable.
    """
    mask = current_umask()
    apply_umask(root)
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                continue
            full = stat.S_ISDIR(st.st_mode) or st.st_mode & 0o111
            want = (0o777 if full else 0o666) & ~mask
            if stat.S_IMODE(st.st_mode) != want:
                os.chmod(path, want)


# Output names that mean "standard output": written directly, never renamed over.
STDOUT_NAMES: frozenset[str] = frozenset({"-", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"})


def is_stdout(path: str | os.PathLike | None) -> bool:
    """True when ``path`` names standard output (``-``, ``/dev/stdout``): write to it directly."""
    return path is not None and os.fspath(path) in STDOUT_NAMES


def _kind(mode: int) -> str | None:
    """What a non-regular, non-folder entry is, in words (None for a regular file or a folder)."""
    for test, word in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return word
    return None


def check_output(path: str | os.PathLike, *, folder: bool = False, own: tuple[str, ...] = (),
                 flag: str = "--out") -> None:
    """Refuse an output path that writing to a temporary name and renaming would clobber.

    A symbolic link, device, pipe or socket is never replaced (standard output is not checked
    here: see :func:`is_stdout`). A file output may not be an existing folder; a folder output
    may not be an existing file, nor a non-empty folder that holds none of the names in
    ``own`` (textgan's own outputs, which are replaced).

    Raises:
        TextganError: one line naming the path, what it is and the fix.
    """
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError:
        return  # e.g. a component that is not a folder: the write itself says so
    kind = _kind(st.st_mode)
    if kind is not None:
        fix = ("pass the path it points to" if kind == "a symbolic link" else
               "pass a regular file name (or - to write to standard output)")
        raise TextganError(f"{flag} {str(path)!r} is {kind}, which textgan does not replace: {fix}")
    if stat.S_ISDIR(st.st_mode) and not folder:
        raise TextganError(f"{flag} {str(path)!r} is a folder: pass a file name, e.g. {str(path / 'out')!r}")
    if folder and not stat.S_ISDIR(st.st_mode):
        raise TextganError(f"{flag} {str(path)!r} is a file: pass a folder name (a new one, or one textgan wrote)")
    if folder and not any((path / name).exists() for name in own) and any(path.iterdir()):
        raise TextganError(f"{flag} {str(path)!r} is a folder that textgan did not write and is not empty: "
                           "pass a new folder name (textgan replaces only its own output folders)")


@contextlib.contextmanager
def _stdout_stream(mode: str) -> Iterator[IO]:
    sys.stdout.flush()
    stream = sys.stdout.buffer if "b" in mode else sys.stdout
    yield stream
    stream.flush()


def _mkstemp_beside(path: Path) -> tuple[int, str]:
    """``tempfile.mkstemp`` beside ``path``, with the umask's mode instead of 0600."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~current_umask())
    except BaseException:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return fd, tmp


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8",
                check: Callable[[], None] | None = None) -> Iterator[IO]:
    """Open ``path`` for writing so that readers never see a half-written file.

    The data goes to a temporary file beside ``path``; on success it is fsynced and renamed
    over ``path``; on any exception the temporary file is removed and ``path`` is untouched.

    Args:
        path: destination file.
        mode: ``"w"`` (text) or ``"wb"`` (binary).
        encoding: text encoding (ignored for binary mode).
        check: called once the data is written, just before the rename; an exception from it
            leaves ``path`` untouched (a run checks that its folder is still its own).

    Standard output (``-``, ``/dev/stdout``) is written directly. A ``path`` that is a symbolic
    link, device, pipe, socket or folder is refused (`check_output`), never replaced.
    """
    if is_stdout(path):
        with _stdout_stream(mode) as stream:
            yield stream
        return
    check_output(path, flag="output")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _mkstemp_beside(path)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if check is not None:
            check()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_tmp_path(path: str | os.PathLike) -> Path:
    """Return a fresh temporary path beside ``path`` (for libraries that write by file name).

    The (empty) file exists already, with the umask's mode, which a library that opens it for
    writing keeps.
    """
    check_output(path, flag="output")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _mkstemp_beside(path)
    os.close(fd)
    return Path(tmp)


def make_tmp_dir(dest: str | os.PathLike) -> Path:
    """A fresh empty folder beside ``dest``, with the umask's mode, to fill and then `replace_dir`."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    return apply_umask(Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent)))


def write_json(path: str | os.PathLike, obj: Any, check: Callable[[], None] | None = None) -> None:
    """Write ``obj`` as indented JSON, atomically (``check`` as in `atomic_open`)."""
    with atomic_open(path, "w", check=check) as f:
        json.dump(obj, f, indent=2, sort_keys=False, default=str)
        f.write("\n")


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def replace_dir(tmp: str | os.PathLike, dest: str | os.PathLike, check: Callable[[], None] | None = None) -> None:
    """Move the finished folder ``tmp`` to ``dest``, replacing any previous ``dest``.

    The old folder is first renamed aside, so ``dest`` is at every moment either the complete
    old folder or the complete new one (a crash leaves at most a ``.NAME.old`` folder behind).

    Everything in ``tmp`` first gets the umask's modes (`apply_umask_tree`): a
    ``tempfile.mkdtemp`` folder is 0700, and some writers (safetensors) make 0600 files.
    ``check`` (if given) is called just before the first rename; an exception from it leaves
    ``dest`` untouched.
    """
    tmp, dest = Path(tmp), Path(dest)
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        check_output(dest, folder=True, flag="output")
    apply_umask_tree(tmp)
    if check is not None:
        check()
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dest, old)
        os.replace(tmp, dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, dest)
