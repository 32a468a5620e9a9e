"""docs/errors.md is the catalogue of errors: linked from the README, and backed by a test file per command."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ("run", "generate", "evaluate", "embed", "detection")


def test_readme_links_the_catalogue():
    assert "(docs/errors.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_command_has_an_error_test_file_and_a_section():
    text = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    for command in COMMANDS:
        assert (ROOT / "tests" / "errors" / f"test_{command}_errors.py").is_file(), command
    for heading in ("## Outputs", "## Recipes", "## Data", "## Checkpoints", "`textgan generate`", "`textgan evaluate`",
                    "`textgan embed`", "## Warnings"):
        assert heading in text, heading
