"""``python -m iiic`` runs the command line."""

from iiic.cli import app

app(prog_name="iiic")
