"""The README stays true and short: its two commands match CI, its headline figures and
docs/results.md's table match the JSON files, its layout names every package, links resolve."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
RESULTS_DOC = (REPO / "docs" / "results.md").read_text(encoding="utf-8")


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


def _block(text: str, markers: tuple[str, str]) -> str:
    start, end = markers
    return text[text.index(start) : text.index(end) + len(end)]


def test_results_tables_match_the_benchmark_files() -> None:
    run_all = _run_all()
    block = _block(RESULTS_DOC, run_all.MARKERS)
    assert block == run_all.render_results(), "run `python benchmarks/run_all.py --render-only`"
    headline = _block(README, run_all.HEADLINE_MARKERS)
    assert headline == run_all.render_headline(), "run `python benchmarks/run_all.py --render-only`"
    rows = [line for line in headline.splitlines() if line.startswith("| ") and "---" not in line]
    for part in run_all.HEADLINE:  # a renamed figure must not drop out of the README silently
        assert any(part in row.split(" | ")[0] for row in rows[1:]), part
    for row in rows[1:]:  # every headline figure is one of docs/results.md's, with its value
        assert row.split(" | ")[0] + " | " + row.split(" | ")[1] in block


def test_the_readme_is_short_and_its_layout_is_true() -> None:
    assert len(README.splitlines()) <= 250, "details belong in docs/"
    layout = README[README.index("## Layout") :].split("```")[1]
    src = REPO / "src" / "iiic"
    for sub in sorted(p.name for p in src.iterdir() if p.is_dir() and not p.name.startswith("_")):
        assert f"  {sub}/" in layout, f"src/iiic/{sub}/ is missing from the README's layout"
    models = layout[layout.index("models/") : layout.index("train/")]
    from iiic.models import list_models

    for name in list_models():
        assert name in models, f"model {name} is missing from the README's layout"


def test_using_it_on_a_recording_starts_with_the_command_that_needs_no_model() -> None:
    section = README[README.index("## Using it on a recording") :]
    first = re.search(r"```bash\n(.*?)\n```", section, flags=re.S).group(1)
    assert first == "iiic analyze patient.edf --out patient_report/"


def _relative_links(path: Path) -> list[str]:
    """Targets of the Markdown links and images in ``path`` that are not URLs or anchors."""
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    targets = re.findall(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text)
    return [t.split("#")[0] for t in targets if not re.match(r"[a-z]+:|#", t)]


def test_every_relative_link_in_the_readme_and_docs_exists() -> None:
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    broken = [f"{p.relative_to(REPO)}: {t}" for p in pages for t in _relative_links(p)
              if not (p.parent / t).exists()]  # fmt: skip
    assert not broken
    assert any(_relative_links(p) for p in pages)
