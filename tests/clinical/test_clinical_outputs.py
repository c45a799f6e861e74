"""Issue 26: ``iiic analyze`` never deletes or overwrites a file it did not write, every output
folder is complete or absent, concurrent writers are refused, and its own outputs are never read
back as inputs. The real CLI on real EDF files (typer's runner; subprocesses where a process must
be killed or run beside another). Each test names the issue's item it checks."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cli_helpers import error_line, iiic
from iiic.cli import ANALYZE_EXIT_FAILED
from iiic.clinical.outdir import MANIFEST
from iiic.constants import EEG_CHANNELS, ELECTRODES

SFREQ = 200.0
FAST = ["--fast", "--max-pages", "0", "--review-eeg-min", "0", "--device", "cpu"]
"""Settings that keep each analysis to a few seconds."""


@pytest.fixture(scope="module")
def edf(tmp_path_factory, edf_writer, make_background, tuh_labels) -> Path:
    """One 60-s TUH-style EDF+ file (two windows), copied where each test needs it."""
    data = make_background(len(tuh_labels), round(60 * SFREQ), seed=5)
    return edf_writer(tmp_path_factory.mktemp("edf") / "rec.edf", data, SFREQ, tuh_labels)


def place(edf: Path, *paths: Path) -> None:
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(edf, p)


def analyze(*args) -> object:
    return iiic("analyze", *args)


def test_an_input_folder_as_out_is_refused_and_keeps_every_file(edf, random_run_dir, tmp_path):
    """Item 1: `analyze dd --out dd` replaced the user's folder dd/a/ by the report of dd/a.edf."""
    dd = tmp_path / "dd"
    place(edf, dd / "a.edf", dd / "a" / "b.edf")
    line = error_line(analyze(dd, "--models", random_run_dir, "--out", dd, *FAST))
    assert f"{dd}: is not an iiic output folder" in line and "never deletes" in line
    assert (dd / "a" / "b.edf").is_file() and sorted(p.name for p in dd.iterdir()) == ["a", "a.edf"]


def test_a_folder_with_user_files_is_never_replaced(edf, random_run_dir, tmp_path):
    """Item 2: my_notes.txt in out/plain/ was deleted, the user's index.html overwritten."""
    recs, out = tmp_path / "recs", tmp_path / "out"
    place(edf, recs / "plain.edf", recs / "other.edf")
    (out / "plain").mkdir(parents=True)
    (out / "plain" / "my_notes.txt").write_text("mine")
    (out / "index.html").write_text("my own page")
    line = error_line(analyze(recs, "--models", random_run_dir, "--out", out, *FAST))
    assert "is not an iiic output folder" in line
    assert (out / "index.html").read_text() == "my own page"
    assert (out / "plain" / "my_notes.txt").read_text() == "mine"
    # an iiic batch folder: a recording folder the user added a file to is not replaced
    mine = tmp_path / "mine"
    assert analyze(recs, "--models", random_run_dir, "--out", mine, *FAST).exit_code == 0
    assert json.loads((mine / MANIFEST).read_text())["kind"] == "batch"
    (mine / "plain" / "my_notes.txt").write_text("mine")
    again = analyze(recs, "--models", random_run_dir, "--out", mine, *FAST, "--threshold", "0.3")
    assert again.exit_code == ANALYZE_EXIT_FAILED, again.output
    table = pd.read_csv(mine / "recordings.csv").set_index("name")
    assert table.loc["other", "status"] == "done" and table.loc["plain", "status"] == "failed"
    assert "holds files iiic did not write (my_notes.txt)" in table.loc["plain", "error"]
    assert (mine / "plain" / "my_notes.txt").read_text() == "mine"
    assert (mine / "plain" / "report.html").is_file()  # the earlier analysis is kept whole


def test_outputs_are_never_read_back_as_inputs(edf, random_run_dir, tmp_path):
    """Item 8: with --out inside the input folder the 2nd run analysed a.annotated.edf, the 3rd
    a.annotated.annotated.edf, and both failed on iiic's own annotations/*.edf."""
    kin = tmp_path / "kin"
    place(edf, kin / "a.edf")
    args = [kin, "--models", random_run_dir, "--out", kin / "reports", "--annotated-copy", *FAST]
    assert analyze(*args).exit_code == 0
    shutil.copy(kin / "reports" / "a" / "a.annotated.edf", kin / "a.annotated.edf")
    for threshold in ("0.4", "0.3"):  # other settings: the recording is analysed again
        result = analyze(*args, "--threshold", threshold)
        assert result.exit_code == 0, result.output
        assert "1 recordings: 0 already analysed (skipped), 1 to do" in result.stderr
        assert "not taken as inputs (iiic's own outputs)" in result.stderr
    assert pd.read_csv(kin / "reports" / "recordings.csv")["name"].tolist() == ["a"]
    assert sorted(p.name for p in (kin / "reports").iterdir() if not p.name.startswith(".")) == [
        "a", "index.html", "recordings.csv"]  # fmt: skip


def test_a_broken_link_is_listed_as_failed(edf, random_run_dir, tmp_path):
    """Item 13: a dangling *.edf symlink inside a batch folder was skipped silently."""
    recs = tmp_path / "recs"
    place(edf, recs / "a.edf")
    (recs / "gone.edf").symlink_to(tmp_path / "nowhere.edf")
    result = analyze(recs, "--models", random_run_dir, "--out", tmp_path / "out", *FAST)
    assert result.exit_code == ANALYZE_EXIT_FAILED, result.output
    table = pd.read_csv(tmp_path / "out" / "recordings.csv").set_index("name")
    assert table.loc["a", "status"] == "done" and table.loc["gone", "status"] == "failed"
    assert "broken symbolic link" in table.loc["gone", "error"]
    assert "nowhere.edf" in table.loc["gone", "error"]


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "iiic", "analyze", *map(str, args)]


def _wait_for(predicate, proc: subprocess.Popen, what: str, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s  # a liveness bound, not a speed figure
    while not predicate():
        assert proc.poll() is None, f"{what}: the process ended first ({proc.returncode})"
        assert time.monotonic() < deadline, f"{what}: never happened"
        time.sleep(0.02)


def test_a_single_analysis_killed_midway_leaves_the_last_complete_one(edf, random_run_dir,
                                                                      tmp_path):  # fmt: skip
    """Item 7: a killed analyze left the new timeline/summary next to the old report.html."""
    out = tmp_path / "rep"
    assert analyze(edf, "--models", random_run_dir, "--out", out, *FAST).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    proc = subprocess.Popen(_cli(edf, "--models", random_run_dir, "--out", out, *FAST,
                                 "--threshold", "0.3"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        _wait_for(lambda: list(tmp_path.glob(".rep.partial-*/summary.json")), proc,
                  "the new summary.json")  # fmt: skip
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    result = analyze(edf, "--models", random_run_dir, "--out", out, *FAST, "--threshold", "0.3")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "summary.json").read_text())["settings"]["threshold"] == 0.3
    assert not list(tmp_path.glob(".rep.*")), list(tmp_path.iterdir())


def test_two_writers_of_one_out_the_second_is_refused(edf, random_run_dir, tmp_path):
    """Item 10: two analyze into one --out at once both exited 0 and claimed the report."""
    recs, out = tmp_path / "recs", tmp_path / "out"
    place(edf, *(recs / f"r{i}.edf" for i in range(3)))
    first = subprocess.Popen(_cli(recs, "--models", random_run_dir, "--out", out, *FAST),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        _wait_for(lambda: (out / ".analyze.lock").exists(), first, "the first run's lock")
        second = analyze(recs, "--models", random_run_dir, "--out", out, *FAST)
        line = error_line(second)
        assert "another run (pid" in line and ".analyze.lock" in line
    finally:
        assert first.wait(timeout=300) == 0, first.stderr.read().decode()
    assert pd.read_csv(out / "recordings.csv")["status"].tolist() == ["done"] * 3
    # one recording: the lock next to the folder
    single = tmp_path / "single"
    with open(tmp_path / ".single.lock", "w") as held:  # what a running analyze holds
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        line = error_line(analyze(edf, "--models", random_run_dir, "--out", single, *FAST))
        assert "another run" in line and ".single.lock" in line and not single.exists()


def _children(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids += [int(k) for k in (task / "children").read_text().split()]
    return kids


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_batch_workers_die_with_a_killed_parent(edf, random_run_dir, tmp_path):
    """Item 3: after SIGKILL of a batch analyze its workers kept running, published reports
    and hung on a pipe for minutes."""
    recs, out = tmp_path / "recs", tmp_path / "out"
    place(edf, *(recs / f"r{i}.edf" for i in range(4)))
    with open(tmp_path / "stderr.txt", "w") as err:  # not a pipe: orphans could hold it open
        proc = subprocess.Popen(_cli(recs, "--models", random_run_dir, "--out", out, *FAST,
                                     "--workers", "2"), stdout=subprocess.DEVNULL, stderr=err)  # fmt: skip
        try:
            _wait_for(lambda: list(out.glob(".*partial-*")), proc, "a worker's partial folder")
            kids = _children(proc.pid)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait()
    assert len(kids) >= 2, kids  # the workers (+ multiprocessing's resource tracker)
    deadline = time.monotonic() + 20
    while any(_alive(p) for p in kids) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = [p for p in kids if _alive(p)]
    for p in alive:  # leave no orphans when the test fails
        os.kill(p, signal.SIGKILL)
    assert not alive, f"workers {alive} outlived their killed parent"
    published = sorted(p.name for p in out.glob("r*"))
    time.sleep(1.0)
    assert sorted(p.name for p in out.glob("r*")) == published  # nothing published after
    result = analyze(recs, "--models", random_run_dir, "--out", out, *FAST)
    assert result.exit_code == 0, result.output  # the rerun completes
    assert pd.read_csv(out / "recordings.csv")["status"].isin(["done", "skipped"]).all()
    assert not list(out.glob(".*.partial-*"))


def make_discontinuous(path: Path, gap_after_s: int, gap_s: int) -> Path:
    """Turn an EDF+C file of 1-s records (edfio) into EDF+D: records from ``gap_after_s`` on get
    onsets ``gap_s`` later (their time-keeping annotations rewritten, as a recorder paused)."""
    from iiic.clinical.header import read_header

    h = read_header(path)
    raw = bytearray(path.read_bytes())
    assert raw[192:197] == b"EDF+C" and h.record_s == 1.0
    raw[192:197] = b"EDF+D"
    record = sum(h.samples_per_record) * 2
    skip, size = sum(h.samples_per_record[:-1]) * 2, h.samples_per_record[-1] * 2
    for r in range(gap_after_s, h.n_records):
        at = h.header_bytes + r * record + skip
        assert raw[at : at + size].startswith(f"+{r}\x14\x14\x00".encode())
        tal = f"+{r + gap_s}\x14\x14\x00".encode()
        raw[at : at + size] = tal + bytes(size - len(tal))
    path.write_bytes(bytes(raw))
    return path


def test_edf_plus_d_gaps_are_respected(tmp_path, edf_writer, make_background, tuh_labels,
                                       random_run_dir):  # fmt: skip
    """Item 4: a 600-s gap after 60 s was ignored ('180 s, 14 windows'): times after it were
    10 minutes off and windows joined signal 10 minutes apart."""
    from iiic.clinical.edf import read_recording

    data = make_background(len(tuh_labels), round(180 * SFREQ), seed=9)
    path = edf_writer(tmp_path / "paused.edf", data, SFREQ, tuh_labels,
                      annotations=[(30.0, 1.0, "before the pause")])  # fmt: skip
    make_discontinuous(path, gap_after_s=60, gap_s=600)
    rec = read_recording(path)
    assert rec.gaps == [(60.0, 660.0)] and rec.duration_s == 780.0
    rows = [EEG_CHANNELS.index(e) for e in ELECTRODES]
    after = rec.data[rows, 660 * 200 :]  # the 120 s recorded after the pause, at their true time
    np.testing.assert_allclose(after, data[:19, 60 * 200 :], atol=0.1)  # EDF quantisation
    assert np.isnan(rec.data[:, 60 * 200 : 660 * 200]).all()
    assert rec.annotations["onset_s"].tolist() == [30.0]
    out = tmp_path / "out"
    assert analyze(path, "--models", random_run_dir, "--out", out, *FAST).exit_code == 0
    summary = json.loads((out / "summary.json").read_text())
    starts = pd.read_csv(out / "timeline.csv")["start_s"].tolist()
    assert starts == [0.0, 10.0, *range(660, 731, 10)]  # no window overlaps the gap
    assert summary["gaps_s"] == [[60.0, 660.0]] and summary["duration_s"] == 780.0
    assert any("EDF+D: 1 gap(s) without data (60.0-660.0 s" in n for n in summary["notes"])
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "EDF+D: 1 gap(s)" in page
    raw = page.split('id="iiic-review-data">', 1)[1].split("</script>", 1)[0]
    assert json.loads(raw)["centers_s"] == [s + 25.0 for s in starts]  # the review's time axis


def test_api_analyze_follows_the_same_rules(edf, random_run_dir, tmp_path):
    """The API writes like the CLI: a folder with a file iiic did not write is refused, an
    earlier analysis is replaced whole, and the returned files are where they were published."""
    from iiic import api

    model = api.load_runs(random_run_dir, device="cpu")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "timeline.csv").write_text("my own table")
    with pytest.raises(ValueError, match="is not an iiic output folder"):
        api.analyze(model, edf, mine, max_pages=0, review_eeg_min=0)
    assert (mine / "timeline.csv").read_text() == "my own table"
    out = tmp_path / "out"
    for threshold in (0.5, 0.3):
        result = api.analyze(model, edf, out, max_pages=0, review_eeg_min=0, threshold=threshold)
    assert (
        result.files["report_html"] == out / "report.html" and result.files["report_html"].is_file()
    )
    assert json.loads((out / "summary.json").read_text())["settings"]["threshold"] == 0.3
