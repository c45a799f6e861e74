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


def test_an_option_shared_by_commands_has_one_help_text() -> None:
    """--device, --backend, --models, ... are declared once (cli.Device, ...): same help everywhere."""
    import typer

    helps: dict[str, set[str]] = {}
    users: dict[str, set[str]] = {}
    for name, command in typer.main.get_command(app).commands.items():
        for param in command.params:
            for opt in param.opts:
                helps.setdefault(opt, set()).add(param.help or "")
                users.setdefault(opt, set()).add(name)
    assert {"demo", "train", "predict", "score", "analyze"} <= users["--device"]
    assert "cuda:N" in next(iter(helps["--device"]))
    for opt in ("--device", "--backend", "--models", "--batch-size", "--allow-partial", "--blend"):
        assert len(helps[opt]) == 1, (opt, helps[opt])


def test_a_bad_option_value_names_its_option(tmp_path) -> None:
    """Options checked by a pydantic config (demo, analyze) fail on one line naming the option,
    in utils.bad_value's wording, before any work."""
    from typer.testing import CliRunner

    runner = CliRunner()
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "d"), "--edf-hours", "30"])
    assert result.exit_code == 2
    assert result.output == "error: --edf-hours: expected less than or equal to 24; received 30.0\n"
    result = runner.invoke(app, ["analyze", str(tmp_path / "x.edf"), "--out", str(tmp_path / "a"),
                                 "--stride-s", "0"])  # fmt: skip
    assert result.exit_code == 2
    assert result.output == "error: --stride-s: expected greater than 0; received 0.0\n"
    assert not (tmp_path / "d").exists()
