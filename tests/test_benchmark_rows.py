"""benchmarks/ are tools: each renders its own README rows, and they use iiic's public API only."""

from __future__ import annotations

import ast
import functools
import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"


def _run_all():
    spec = importlib.util.spec_from_file_location("run_all", BENCHMARKS / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_benchmark_fills_only_the_sections_that_list_it() -> None:
    run_all = _run_all()
    load = functools.partial(run_all.load_json, run_all.RESULTS)
    for name in {n for order in run_all.SECTIONS.values() for n in order}:
        rows = run_all.benchmark_rows(name, load)
        filled = {section for section, got in rows.items() if got}
        listed = {s for s, order in run_all.SECTIONS.items() if name in order}
        assert filled <= listed, f"benchmarks/{name}.py renders {filled - listed}: not collected"
        for section in filled:
            assert all(
                len(row) == 4 and all(isinstance(x, str) for x in row) for row in rows[section]
            )


def test_rows_without_any_result_file(tmp_path: Path) -> None:
    """A fresh checkout has no results: every benchmark copes; only the GPU row says so."""
    rows = _run_all().collect_rows(tmp_path)
    assert rows["quality"] == [] and rows["real"] == []
    assert [row[1] for _, row in rows["speed"]] == ["not measured"]


def _private_uses(path: Path) -> list[str]:
    """``from iiic… import _name`` and ``obj._name`` (not ``self``, not dunders) in one file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("iiic"):
            out += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            owner = node.value.id if isinstance(node.value, ast.Name) else ""
            if owner not in ("self", "sys", "os") and not node.attr.startswith("__"):
                out.append(f"{ast.unparse(node)} (line {node.lineno})")
    return out


def test_benchmarks_use_the_public_api_only() -> None:
    found = {p.name: _private_uses(p) for p in sorted(BENCHMARKS.glob("*.py"))}
    assert not {k: v for k, v in found.items() if v}
