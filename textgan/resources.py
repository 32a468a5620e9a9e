"""Where the data shipped with textgan lives: the recipes and the corpus cards.

The top-level folders ``recipes/`` and ``corpora/`` of the repository are mapped onto the
sub-packages ``textgan.recipes`` and ``textgan.corpus_cards`` (see ``[tool.setuptools]
package-dir`` in pyproject.toml), so a wheel installs them inside the package and an editable
install points at the source tree. They hold no Python code, only data files.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parent.parent
"""The repository root when textgan runs from its source tree."""

RECIPES_PACKAGE = "textgan.recipes"
CORPORA_PACKAGE = "textgan.corpus_cards"


def package_data_dir(package: str, source_folder: str) -> Path:
    """The folder of a data-only sub-package, as a filesystem path.

    Args:
        package: the sub-package, e.g. ``"textgan.recipes"``.
        source_folder: the folder of the repository it maps to, e.g. ``"recipes"``.

    Returns:
        The installed folder (``importlib.resources.files(package)``) when the package can be
        found on disk, else ``<repository root>/<source_folder>`` (a source checkout used
        without installing, or an install that lacks the data).
    """
    try:
        root = importlib.resources.files(package)
    except (ModuleNotFoundError, TypeError, ValueError):
        root = None
    if root is not None:
        if isinstance(root, Path):
            if root.is_dir():
                return root
        else:  # a namespace package (the folders have no __init__.py): a MultiplexedPath
            for entry in root.iterdir():
                if isinstance(entry, Path):
                    return entry.parent
    return SOURCE_ROOT / source_folder


def recipes_dir() -> Path:
    """The folder of the shipped recipes (``recipes/`` in the repository)."""
    return package_data_dir(RECIPES_PACKAGE, "recipes")


def corpora_dir() -> Path:
    """The folder of the corpus documents and cards (``corpora/`` in the repository)."""
    return package_data_dir(CORPORA_PACKAGE, "corpora")


# ----------------------------------------------------------------------------------------------
# Recipe summaries
# ----------------------------------------------------------------------------------------------

_ABBREVIATIONS = frozenset({"al", "e.g", "i.e", "cf", "vs", "etc", "approx", "fig", "sec", "eq", "tab", "no", "vol"})
_CLOSERS = "\"')]"


def header_paragraph(text: str) -> str:
    """The first paragraph of a file's leading ``#`` comment, its wrapped lines joined into one.

    The paragraph ends at an empty comment line (``#``), a blank line or the first line that is
    not a comment. A line ending in ``-`` or ``/`` right after a word (``end-of-`` / ``sequence``)
    is joined without a space.
    """
    parts: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("#"):
            if stripped or parts:
                break
            continue
        content = stripped.lstrip("#").strip()
        if not content:
            if parts:
                break
            continue
        parts.append(content)
    joined = ""
    for part in parts:
        if not joined:
            joined = part
        elif joined[-1] in "-/" and len(joined) > 1 and not joined[-2].isspace() and part[0].isalnum():
            joined += part
        else:
            joined += " " + part
    return joined


def first_sentence(text: str) -> str:
    """The first sentence of ``text``: up to the first ``.``, ``!`` or ``?`` that ends a sentence.

    A stop ends a sentence only outside brackets, before white space (after optional closing
    quotes or brackets), and not after a common abbreviation (``et al.``, ``e.g.``, ``Fig.``,
    ``Sec.``) or an initial (``J.``). Without such an end the whole text is the sentence.
    """
    depth = 0
    i = 0
    while i < len(text):
        char = text[i]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(depth - 1, 0)
        elif char in ".!?" and depth == 0:
            end = i + 1
            while end < len(text) and text[end] in _CLOSERS:
                end += 1
            rest = text[end:]
            if not rest.strip():
                return text[:end].strip()
            word = text[:i].rsplit(None, 1)[-1].lstrip("(\"'") if text[:i].strip() else ""
            initial = len(word) == 1 and word.isupper()  # "J. Smith"
            if rest[0].isspace() and not initial and word.lower() not in _ABBREVIATIONS:
                return text[:end].strip()
        i += 1
    return text.strip()


def recipe_summary(text: str) -> str:
    """A recipe's one-sentence summary: the first sentence of its header comment, never cut mid-phrase."""
    return first_sentence(header_paragraph(text))
