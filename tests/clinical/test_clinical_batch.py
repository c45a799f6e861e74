"""``iiic analyze`` over a folder: parallel workers, a failed file reported, resumable after a kill,
the index page and the table across recordings."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from iiic.cli import ANALYZE_EXIT_FAILED, app
from iiic.clinical.batch import collect_recordings
from iiic.predict.card import NO_CHECK

RUNNER = CliRunner()
SFREQ = 256.0


@pytest.fixture(scope="module")
def archive(tmp_path_factory, edf_writer, make_background, tuh_labels) -> Path:
    """A folder: two 2-min EDF+ files (one in a sub-folder, same stem) and a broken '.edf'."""
    root = tmp_path_factory.mktemp("archive")
    (root / "ward").mkdir()
    for i, path in enumerate([root / "night.edf", root / "ward" / "night.edf"]):
        data = make_background(len(tuh_labels), round(120 * SFREQ), seed=20 + i)
        edf_writer(path, data, SFREQ, tuh_labels)
    (root / "ward" / "scan.EDF").write_bytes(b"%PDF-1.4 not a recording" * 20)
    (root / "notes.txt").write_text("not a recording")
    return root


def _analyze(args: list[str]):
    return RUNNER.invoke(app, ["analyze", *map(str, args)])


def test_names_are_stems_or_paths_when_stems_collide(archive: Path) -> None:
    jobs = collect_recordings([archive])
    assert [n for _, n in jobs] == ["night", "ward__night", "scan"]
    single = collect_recordings([archive / "night.edf", archive / "ward" / "scan.EDF"])
    assert [n for _, n in single] == ["night", "scan"]


@pytest.fixture(scope="module")
def batch_out(archive: Path, random_run_dir: Path, tmp_path_factory) -> tuple[Path, object]:
    """The archive analysed with two worker processes: (output folder, CLI result)."""
    out = tmp_path_factory.mktemp("batch") / "out"
    result = _analyze([archive, "--models", random_run_dir, "--out", out, "--workers", "2",
                       "--fast", "--max-pages", "0"])  # fmt: skip
    return out, result


def test_a_folder_is_analysed_by_parallel_workers(batch_out, archive: Path) -> None:
    out, result = batch_out
    assert result.exit_code == ANALYZE_EXIT_FAILED, result.output  # scan.EDF is not an EDF
    assert "3 recordings (2 analysed or already done, 1 failed)" in result.output
    assert "scan.EDF: not an EDF" in result.output
    table = pd.read_csv(out / "recordings.csv")
    assert table["name"].tolist() == ["night", "ward__night", "scan"]
    assert table["status"].tolist() == ["done", "done", "failed"]
    done = table.iloc[:2]
    assert (done["windows"] == 8).all() and done["hours"].round(4).eq(round(120 / 3600, 4)).all()
    for name in done["name"]:
        summary = json.loads((out / name / "summary.json").read_text())
        assert summary["n_windows"] == 8 and summary["settings"]["threads"] == 1
        assert summary["model"] == NO_CHECK and summary["settings"]["prior"] == "monitoring"
        assert summary["settings"]["recording"].endswith("night.edf")
        assert (out / name / "report.html").is_file()
        assert (out / name / "annotations" / "events.edf").is_file()
    assert not list(out.glob(".*.partial-*"))
    assert pd.isna(table["windows"].iloc[2]) and "not an EDF" in table["error"].iloc[2]


def test_index_page_in_chromium(batch_out, open_page) -> None:
    out, _ = batch_out
    check = open_page(out / "index.html")
    assert check.clean, (check.errors, check.outside, check.broken_links)
    rows = check.page.locator("table tr")
    assert rows.count() == 4  # header + three recordings
    assert check.page.locator("a[href='ward__night/report.html']").count() == 1
    assert "failed" in rows.nth(3).inner_text()
    line = check.page.locator("#model-card")  # the run has no card: said so, visibly
    assert line.is_visible() and line.inner_text() == f"Model: {NO_CHECK}"


def test_a_killed_run_resumes(archive: Path, random_run_dir: Path, tmp_path: Path) -> None:
    """Kill ``iiic analyze`` after its first recording, run it again: the finished recording is
    skipped, the rest is done, nothing half-written is left."""
    out = tmp_path / "out"
    args = [sys.executable, "-m", "iiic", "analyze", str(archive / "night.edf"),
            str(archive / "ward"), "--models", str(random_run_dir), "--out", str(out), "--fast",
            "--max-pages", "0"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while not (out / "night" / "report.html").exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the first recording never finished"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert not (out / "recordings.csv").exists()  # killed before the end
    first = (out / "night" / "summary.json").stat().st_mtime_ns
    result = _analyze([archive / "night.edf", archive / "ward", "--models", random_run_dir,
                       "--out", out, "--fast", "--max-pages", "0"])  # fmt: skip
    assert result.exit_code == ANALYZE_EXIT_FAILED, result.output
    assert "1 already analysed (skipped), 2 to do" in result.output
    table = pd.read_csv(out / "recordings.csv")
    assert table["status"].tolist() == ["skipped", "done", "failed"]
    assert (out / "night" / "summary.json").stat().st_mtime_ns == first
    assert not list(out.glob(".*.partial-*"))
    other = _analyze([archive / "night.edf", "--models", random_run_dir, "--out", out, "--fast",
                      "--max-pages", "0", "--threshold", "0.3", "--workers", "1", archive / "ward" / "night.edf"])  # fmt: skip
    assert other.exit_code == 0, other.output  # other settings: analysed again, not skipped
    assert pd.read_csv(out / "recordings.csv")["status"].tolist() == ["done", "done"]
