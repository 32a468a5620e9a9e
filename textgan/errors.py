"""User-facing errors: one line that names the problem and the fix."""

from __future__ import annotations


class TextganError(Exception):
    """An error caused by user input (a file, a recipe, a corpus name, a setting).

    The CLI prints ``error: <message>`` on one line and exits with status 2, without a
    traceback. The message must name the problem and say how to fix it.
    """


class NonFiniteLossError(TextganError):
    """A training loss became NaN or infinite."""
