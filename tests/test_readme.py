"""The README stays true: its two commands match CI, its results block matches the JSON files."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def _run_all():
    spec = importlib.util.spec_from_file_location("run_all", REPO / "benchmarks" / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_two_commands_come_first_and_ci_runs_the_second() -> None:
    blocks = re.findall(r"```bash\n(.*?)\n```", README, flags=re.S)
    demo, tests = blocks[0], blocks[1]
    install = "python3 -m venv .venv && .venv/bin/pip install -r requirements.lock && "
    install += ".venv/bin/pip install --no-deps -e ."
    assert demo == f"{install} && .venv/bin/iiic demo --out demo"
    assert tests == f"{install} && .venv/bin/python -m pytest -q"
    ci = (REPO / ".ci" / "run").read_text()
    for step in ("python3 -m venv .venv", ".venv/bin/pip install -q -r requirements.lock",
                 ".venv/bin/pip install -q --no-deps -e .", ".venv/bin/python -m pytest -q"):  # fmt: skip
        assert step in ci


def test_results_block_matches_the_benchmark_files() -> None:
    run_all = _run_all()
    start, end = run_all.MARKERS
    block = README[README.index(start) : README.index(end) + len(end)]
    assert block == run_all.render_readme(), "run `python benchmarks/run_all.py --render-only`"
    assert "| figure |" in block


def test_using_it_on_a_recording_starts_with_the_command_that_needs_no_model() -> None:
    section = README[README.index("## Using it on a recording") :]
    first = re.search(r"```bash\n(.*?)\n```", section, flags=re.S).group(1)
    assert first == "iiic analyze patient.edf --out patient_report/"
