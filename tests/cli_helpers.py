"""Helpers of the CLI tests (imported by tests/test_bad_input.py and tests/clinical/): the real
CLI in-process through typer's runner."""

from __future__ import annotations

from typer.testing import CliRunner

from iiic.cli import app


def iiic(*args):
    """Run the CLI in-process; fail the test on a traceback (any exception but a clean exit)."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"traceback from iiic {' '.join(map(str, args))}") from (
            result.exception
        )
    return result


def error_line(result, code: int = 2) -> str:
    """The single 'error: ...' line of a failed command (asserts the exit code)."""
    assert result.exit_code == code, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]
