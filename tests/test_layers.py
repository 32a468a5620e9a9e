"""Layering: the models never import the training, RL or application code above them.

``textgan.models`` is the bottom layer: ``textgan.rl`` and the training code import the
models, never the reverse. Every module under ``textgan/models/`` is parsed with ``ast`` (so
imports inside functions count too) and each import, absolute or relative, is resolved to the
absolute module name it refers to.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import textgan

PACKAGE_ROOT = Path(textgan.__file__).resolve().parent
MODELS = PACKAGE_ROOT / "models"
FORBIDDEN = ("textgan.rl", "textgan.train", "textgan.engine", "textgan.api", "textgan.cli", "textgan.detection",
             "textgan.generation")


def module_name(path: Path) -> str:
    """``textgan/models/leakgan.py`` -> ``textgan.models.leakgan`` (``__init__.py`` -> the package)."""
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, name: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``source``, the module ``name``.

    ``from X import a, b`` yields X and X.a, X.b (a name may be a submodule: ``from .. import rl``);
    calls ``importlib.import_module("...")`` and ``__import__("...")`` with a constant string count too.
    """
    package = name if is_package else name.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                if node.level > len(base):
                    raise AssertionError(f"{name}:{node.lineno}: relative import beyond the top-level package")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names if alias.name != "*"]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called in ("import_module", "__import__"):
                target = node.args[0].value
                if target.startswith("."):  # import_module(".x", package=__package__)
                    dots = len(target) - len(target.lstrip("."))
                    base = package.split(".")
                    target = ".".join(base[:len(base) - (dots - 1)] + [target.lstrip(".")])
                found.append((node.lineno, target))
    return found


def violations(source: str, name: str, is_package: bool = False) -> list[str]:
    return [f"{name}:{line} imports {target}" for line, target in imported_modules(source, name, is_package)
            if any(target == f or target.startswith(f + ".") for f in FORBIDDEN)]


MODEL_FILES = sorted(MODELS.rglob("*.py"))


def test_there_are_model_modules_to_check():
    assert MODELS / "__init__.py" in MODEL_FILES and MODELS / "leakgan.py" in MODEL_FILES


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: str(p.relative_to(MODELS)))
def test_models_do_not_import_upper_layers(path):
    bad = violations(path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py")
    assert bad == [], "textgan.models must not import these (move the code into models/ or invert the import):\n" + \
        "\n".join(bad)


@pytest.mark.parametrize("source", [
    "from ..rl.leakgan import manager_loss",
    "from .. import rl",
    "from ..train import pretrain",
    "import textgan.engine.loop",
    "from textgan import cli",
    "from textgan.api import load",
    "def f():\n    from ..detection import x\n",
    "class A:\n    def f(self):\n        import textgan.generation as g\n",
    "import importlib\nimportlib.import_module('textgan.rl.losses')",
])
def test_the_check_catches_upward_imports(source):
    assert violations(source, "textgan.models.leakgan")


@pytest.mark.parametrize("source", [
    "from .sampling import token_log_probs",
    "from . import sampling",
    "from ..errors import TextganError",
    "import torch.nn.functional as F",
    "from textgan.data.vocab import Vocab",
    "from textgan.models.rlish import x",  # a name that merely starts like a forbidden one
])
def test_the_check_allows_imports_within_and_below(source):
    assert violations(source, "textgan.models.leakgan") == []


def test_relative_imports_in_the_package_init_resolve_from_the_package():
    assert violations("from ..rl import losses", "textgan.models", is_package=True)
    assert violations("from .rl import losses", "textgan.models", is_package=True) == []  # textgan.models.rl


WORKFLOWS = ("textgan.runs", "textgan.api", "textgan.cli", "textgan.detection", "textgan.generation",
             "textgan.embedding", "textgan.bench")
LAYERS = {
    # package: what it may not import (everything above it)
    "engine": ("textgan.models", "textgan.rl", "textgan.train", "textgan.data", *WORKFLOWS),
    "train": WORKFLOWS,
    "rl": ("textgan.train", "textgan.engine", *WORKFLOWS),
    "data": ("textgan.rl", "textgan.train", "textgan.engine", *WORKFLOWS),
    "metrics": ("textgan.rl", "textgan.train", "textgan.engine", *WORKFLOWS),  # a metric that trains a model is in train/  # the oracle corpus is drawn from a model
}


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_each_layer_imports_only_what_lies_below_it(package):
    bad = []
    for path in sorted((PACKAGE_ROOT / package).rglob("*.py")):
        name = module_name(path)
        for line, target in imported_modules(path.read_text(encoding="utf-8"), name, path.name == "__init__.py"):
            if any(target == f or target.startswith(f + ".") for f in LAYERS[package]):
                bad.append(f"{path.relative_to(PACKAGE_ROOT.parent)}:{line} imports {target}")
    assert not bad, "\n".join(bad)
