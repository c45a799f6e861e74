"""Data flows one way: a stage of ``src/iiic`` imports only earlier stages (no back-arrows).

Walks every module's ``import`` statements (including imports inside functions) with ``ast``.
Inference (predict, ensemble, clinical, api) stands without training: it imports the run
directory's format and the device from ``iiic.runs``, never ``iiic.train``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import iiic

SRC = Path(iiic.__file__).parent
STAGES: tuple[tuple[str, ...], ...] = (
    ("constants", "utils", "resources"),
    ("data",),
    ("signal",),
    ("models",),
    ("evaluate",),
    ("runs",),
    ("ensemble", "synth"),
    ("train",),
    ("predict",),
    ("clinical",),
    ("api", "demo"),
    ("cli", "__main__", "__init__"),
)
RANK = {name: i for i, names in enumerate(STAGES) for name in names}
INFERENCE = ("predict", "ensemble", "clinical", "api")
"""Stages that must run where the training package is absent (they may sit above ``train``)."""


def _is_module(name: str) -> bool:
    """``from iiic import name`` imports a stage (not ``__version__``)."""
    return (SRC / name / "__init__.py").is_file() or (SRC / f"{name}.py").is_file()


def _edges() -> set[tuple[str, str]]:
    out = set()
    for path in SRC.rglob("*.py"):
        module = ".".join(path.relative_to(SRC).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module == "iiic":
                names = [f"iiic.{a.name}" for a in node.names if _is_module(a.name)]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.ImportFrom):
                raise AssertionError(f"{path}: relative import; write `from iiic.… import …`")
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "iiic" and len(parts) > 1:
                    out.add((module, parts[1]))
    return out


def test_every_package_has_a_stage() -> None:
    tops = {p.stem if p.is_file() else p.name for p in SRC.iterdir()
            if (p.suffix == ".py" or (p / "__init__.py").is_file())}  # fmt: skip
    assert tops <= set(RANK), sorted(tops - set(RANK))


def test_no_stage_imports_a_later_one() -> None:
    edges = _edges()
    assert len(edges) > 50  # the walk sees the imports
    back = sorted((m, t) for m, t in edges if RANK[t] > RANK[m.split(".")[0]])
    assert not back, back


def test_inference_does_not_import_training() -> None:
    edges = _edges()
    assert ("predict.runs", "runs") in edges  # the walk sees inference's imports
    bad = sorted(m for m, t in edges if t == "train" and m.split(".")[0] in INFERENCE)
    assert not bad, (
        f"{bad} import iiic.train: inference must run without the training package; move what "
        "both need (the run directory's format, the device) to iiic.runs"
    )
