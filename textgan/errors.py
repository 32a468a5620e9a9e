"""User-facing errors: one line that names the problem and the fix."""

from __future__ import annotations


class TextganError(Exception):
    """An error caused by user input (a file, a recipe, a corpus name, a setting).

    The CLI prints ``error: <message>`` on one line and exits with status 2, without a
    traceback. The message must name the problem and say how to fix it.
    """


class NonFiniteLossError(TextganError):
    """A training loss became NaN or infinite."""


def fault_message(e: BaseException, command: str | None = None) -> str | None:
    """One ``<problem>: <fix>`` line for a fault of the machine rather than the code, else None.

    Covers a full disk or quota (ENOSPC, EDQUOT), a refused write (EACCES, EPERM), a read-only
    file system (EROFS), also when safetensors reports them (``SafetensorError`` carries the OS
    error code in its message). ``command`` (``run``, ``generate``...) tailors the fix.
    """
    import errno
    import re

    code, where = None, ""
    if isinstance(e, OSError):
        code = e.errno
        if e.filename:
            where = f" {str(e.filename)!r}"
    elif type(e).__name__ == "SafetensorError":
        found = re.search(r"code: (\d+)", str(e))
        code = int(found.group(1)) if found else None
    if code is None:
        return None
    again = ("then continue the run with `textgan run --resume RUN_DIR` (the folder `textgan run` printed), "
             "or start it again" if command == "run" else "then run the command again")
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return f"no space left on the disk while writing{where}: free some space or write elsewhere (--out), {again}"
    if code in (errno.EACCES, errno.EPERM):
        return (f"permission denied writing{where}: pass an output path in a folder you can write (--out), "
                f"or make the folder writable, {again}")
    if code == errno.EROFS:
        return f"the file system is read-only{where}: pass an output path on a writable disk (--out), {again}"
    return None
