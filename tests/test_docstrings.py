"""Docstrings match signatures: a function whose docstring has a numpydoc ``Parameters`` section
documents every parameter it takes, and nothing it does not take."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import iiic

SRC = Path(iiic.__file__).parent
_ENTRY = re.compile(r"^(\*{0,2}[A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s*(?::|$)")
_NEXT_SECTION = re.compile(r"\n(?:Returns|Raises|Yields|Notes|Examples|See Also|Attributes)\n")


def _documented(doc: str) -> list[str]:
    """Parameter names of the docstring's Parameters section (entries start at column 0)."""
    section = _NEXT_SECTION.split(doc.split("Parameters\n", 1)[1])[0]
    names = []
    for line in section.splitlines():
        match = _ENTRY.match(line) if line and not line.startswith((" ", "-")) else None
        if match:
            names += [n.strip().lstrip("*") for n in match.group(1).split(",")]
    return names


def _mismatches() -> list[str]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            doc = ast.get_docstring(node)
            if not doc or "Parameters\n" not in doc:
                continue
            a = node.args
            taken = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]
            taken += [v.arg for v in (a.vararg, a.kwarg) if v is not None]
            taken = [n for n in taken if n not in ("self", "cls")]
            documented = _documented(doc)
            if sorted(taken) != sorted(documented):
                where = f"{path.relative_to(SRC)}:{node.lineno} {node.name}"
                out.append(f"{where}: takes {taken}, documents {documented}")
    return out


def test_the_parser_reads_a_parameters_section() -> None:
    doc = "Do it.\n\nParameters\n----------\na, b : int\n    Two.\n**options\n    More.\n\nReturns\n-------\nx : int\n"
    assert _documented(doc) == ["a", "b", "options"]


def test_documented_parameters_match_the_signatures() -> None:
    assert not _mismatches(), "\n".join(_mismatches())
