"""The command line as users call it: ``iiic`` / ``python -m iiic`` in a subprocess."""

from __future__ import annotations

import subprocess
import sys

import pytest

from iiic import __version__
from iiic.cli import app

COMMANDS = sorted(c.name or c.callback.__name__ for c in app.registered_commands)


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "iiic", *args], capture_output=True, text=True)


def test_version() -> None:
    result = _run("--version")
    assert result.returncode == 0 and result.stdout.strip() == __version__


def test_help_lists_every_command() -> None:
    result = _run("--help")
    assert result.returncode == 0
    assert all(name in result.stdout for name in COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help(name: str) -> None:
    result = _run(name, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: " in result.stdout and "--help" in result.stdout
