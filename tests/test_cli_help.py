"""The CLI explains itself: every option has a help text, defaults show, --version, python -m textgan."""

import argparse
import subprocess
import sys
from importlib import metadata

import pytest

from textgan.cli import build_parser, main


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("textgan",)):
    """(command path, parser) for the parser and every subparser below it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from walk(child, (*path, name))


PARSERS = list(walk(build_parser()))


def test_every_command_is_walked():
    names = {" ".join(path) for path, _ in PARSERS}
    assert {"textgan run", "textgan generate", "textgan evaluate", "textgan corpus detection",
            "textgan corpus info", "textgan embed", "textgan bench"} <= names


@pytest.mark.parametrize("path,parser", PARSERS, ids=[" ".join(p) for p, _ in PARSERS])
def test_every_option_has_help(path, parser):
    missing = [a.option_strings or [a.dest] for a in parser._actions
               if not isinstance(a, argparse._HelpAction) and not (a.help or "").strip()]
    assert not missing, f"{' '.join(path)}: no help for {missing}"


@pytest.mark.parametrize("path,parser", PARSERS, ids=[" ".join(p) for p, _ in PARSERS])
def test_help_shows_defaults(path, parser):
    text = parser.format_help()
    for a in parser._actions:
        if a.option_strings and isinstance(a.default, (int, float, str)) and not isinstance(a.default, bool) \
                and a.default is not argparse.SUPPRESS:
            assert f"(default: {a.default})" in " ".join(text.split()), (path, a.option_strings)


def test_generate_help_shows_sampling_defaults(capsys):
    with pytest.raises(SystemExit) as e:
        main(["generate", "--help"])
    assert e.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for text in ("--temperature TEMPERATURE", "(default: 1.0)", "--top-k TOP_K", "(default: 0)",
                 "--batch-size BATCH_SIZE", "(default: 1000)", "--device DEVICE", "(default: auto)"):
        assert text in out


def test_run_help_explains_set(capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--set mle.epochs=3 --set discriminator.lr=1e-4" in out
    assert "[a,b]" in out
    assert "--dry-run" in out and "recipes/README.md" in out


def expected_version() -> str:
    return f"textgan {metadata.version('textgan')}"


def test_version_in_process(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == expected_version()


def test_python_dash_m_textgan():
    version = subprocess.run([sys.executable, "-m", "textgan", "--version"], capture_output=True, text=True, timeout=120)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == expected_version()
    # An error goes the same way as with the console script: usage on stderr, exit status 2.
    bad = subprocess.run([sys.executable, "-m", "textgan", "no-such-command"], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2
    assert "usage: textgan" in bad.stderr
