"""pyproject.toml ships every code package and, as package data, the recipes and the corpus cards."""

from __future__ import annotations

import glob
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def setuptools_cfg() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def test_every_code_package_is_listed(setuptools_cfg: dict) -> None:
    listed = set(setuptools_cfg["packages"])
    on_disk = {
        path.parent.relative_to(REPO).as_posix().replace("/", ".")
        for path in (REPO / "textgan").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    missing = sorted(on_disk - listed)
    assert not missing, f"add {missing} to [tool.setuptools] packages in pyproject.toml, or the wheel lacks them"
    for package in listed:
        folder = setuptools_cfg.get("package-dir", {}).get(package, package.replace(".", "/"))
        assert (REPO / folder).is_dir(), f"pyproject.toml lists {package} but {folder}/ does not exist"


@pytest.mark.parametrize(
    ("package", "folder", "patterns"),
    [("textgan.recipes", "recipes", ["**/*.yaml", "*.md"]), ("textgan.corpus_cards", "corpora", ["cards/**/*.yaml", "*.md"])],
)
def test_data_folders_are_package_data(setuptools_cfg: dict, package: str, folder: str, patterns: list[str]) -> None:
    assert package in setuptools_cfg["packages"]
    assert setuptools_cfg["package-dir"][package] == folder
    globs = setuptools_cfg["package-data"][package]
    shipped = {
        Path(p).relative_to(REPO / folder).as_posix()
        for pattern in globs
        for p in glob.glob(str(REPO / folder / pattern), recursive=True)
    }
    wanted = {p.relative_to(REPO / folder).as_posix() for pattern in patterns for p in (REPO / folder).glob(pattern)}
    assert wanted and wanted <= shipped, sorted(wanted - shipped)
