"""What the benchmarks' ``readme_rows`` functions share: the row type and small JSON helpers.

Each benchmark that contributes to the results tables (docs/results.md, the README's headline
figures) defines, beside its code, ``readme_rows(load: Load) -> Rows``: its rows by table section
(``quality``, ``real``, ``speed``), rendered from its own ``benchmarks/results/*.json`` (read
through ``load``). ``run_all.py`` only collects them, in the order its ``SECTIONS`` lists
(``HEADLINE`` picks the README's).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

Row = tuple[str, str, str, str]
"""(figure, iiic, baseline in the same run, how it was measured): one line of a results table."""
Rows = dict[str, list[Row]]
"""A benchmark's rows by section: ``quality`` (twin and demo figures), ``real`` (real EEG),
``speed``."""
Load = Callable[[str], "dict | None"]
"""``load("name")``: ``benchmarks/results/name.json`` as a dict, None when the file is absent."""


def load_json(results_dir: Path, name: str) -> dict | None:
    """``results_dir/name.json`` as a dict; None when it is absent."""
    path = results_dir / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def get(data: dict | None, path: str) -> object:
    """``data["a"]["b"]`` for path "a.b"; None when any part is absent."""
    for key in path.split("."):
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def num(value: object, fmt: str) -> str:
    """``value`` formatted with ``fmt``, or "not measured" for None."""
    return "not measured" if value is None else format(value, fmt)


def pair(fig: dict | None) -> str:
    """'≥10-vote KL / all-rows KL' of one result."""
    if not fig:
        return "not measured"
    return f"{num(fig.get('kl_high_votes'), '.3f')} / {num(fig.get('kl_all'), '.3f')}"


def stale(doc: dict) -> str:
    """A note for results written before results recorded their commit (earlier twin)."""
    has = (doc.get("machine") or {}).get("commit") or doc.get("commit")
    return "" if has else " (earlier twin revision, not re-run)"
