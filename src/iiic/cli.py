"""The ``iiic`` command line: a thin typer layer over the stage sub-packages.

Each command imports its stage lazily, so ``iiic --help`` stays fast (no torch import).
Units in option names: seconds (_s), hertz (_hz), microvolts (_uv).
"""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    name="iiic",
    help="Classify harmful brain activity (Seizure, LPD, GPD, LRDA, GRDA, Other) in scalp EEG.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _fail(message: str, code: int = 2) -> None:
    """Print a one-line error to stderr and exit with ``code`` (no stack trace)."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        from iiic import __version__

        typer.echo(__version__)
        raise typer.Exit(0)


# === validate (iiic.data) ===
# === end validate ===

# === synth (iiic.synth) ===
# === end synth ===

# === prepare (iiic.data.cache) ===
# === end prepare ===

# === train (iiic.train) ===
# === end train ===

# === predict / export (iiic.predict) ===
# === end predict ===

# === evaluate / blend (iiic.evaluate, iiic.ensemble) ===
# === end evaluate ===

# === analyze (iiic.clinical) ===
# === end analyze ===

# === demo ===
# === end demo ===
