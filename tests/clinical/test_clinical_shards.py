"""Issue 28: ``iiic analyze ARCHIVE --shard I/N`` spreads an archive over several processes (or
cluster jobs) writing into one ``--out``; the collected index equals one unsharded run's. Real
processes started at once, and a shard killed half-way."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from iiic.cli import app
from iiic.clinical.batch import Shard, collect_recordings, shard_key

SFREQ = 200.0
N_RECORDINGS = 7
SETTINGS = ["--fast", "--max-pages", "0", "--review-eeg-min", "0", "--device", "cpu"]


@pytest.fixture(scope="module")
def archive(tmp_path_factory, edf_writer, make_background, tuh_labels) -> Path:
    """Seven 60-s EDF+ files in two wards (two share a stem) and a file that is not an EDF."""
    root = tmp_path_factory.mktemp("archive")
    data = make_background(len(tuh_labels), round(60 * SFREQ), seed=7)
    (root / "ward_a").mkdir()
    (root / "ward_b").mkdir()
    first = edf_writer(root / "ward_a" / "p0.edf", data, SFREQ, tuh_labels)
    for i in range(1, N_RECORDINGS):
        shutil.copy(first, root / ("ward_a" if i < 3 else "ward_b") / f"p{i}.edf")
    shutil.copy(first, root / "ward_b" / "p0.edf")  # same stem in the other ward
    (root / "ward_b" / "broken.edf").write_bytes(b"not an EDF" * 50)
    return root


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "iiic", "analyze", *map(str, args)]


def test_shards_started_at_once_equal_one_run(archive, random_run_dir, tmp_path):
    """Three shards at once into one --out, then collected: the same reports, recordings.csv
    rows and index as one unsharded run; every recording analysed exactly once."""
    jobs = collect_recordings([archive])
    owners = [[s for s in range(3) if Shard(s, 3).owns(shard_key(f, [archive]))] for f, _ in jobs]
    assert all(len(o) == 1 for o in owners)  # each recording in exactly one shard
    one = tmp_path / "one"
    single = CliRunner().invoke(app, ["analyze", str(archive), "--models", str(random_run_dir),
                                      "--out", str(one), *SETTINGS])  # fmt: skip
    assert single.exit_code == 3, single.output  # broken.edf
    shared = tmp_path / "shared"
    procs = [subprocess.Popen(_cli(archive, "--models", random_run_dir, "--out", shared,
                                   *SETTINGS, "--shard", f"{i}/3"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(3)]  # fmt: skip
    logs = [p.communicate(timeout=600)[1] for p in procs]
    assert all(p.returncode in (0, 3) for p in procs), logs
    done = [ln.split("] ", 1)[1].split(":")[0] for log in logs for ln in log.splitlines()
            if ln.startswith("[") and ": done (" in ln]  # fmt: skip
    assert sorted(done) == sorted(n for _, n in jobs if n != "broken")  # each exactly once
    result = CliRunner().invoke(app, ["collect", str(shared)])
    assert result.exit_code == 0 and f"{len(jobs)} recordings" in result.output, result.output
    pd.testing.assert_frame_equal(pd.read_csv(shared / "recordings.csv"),
                                  pd.read_csv(one / "recordings.csv"))  # fmt: skip
    assert (shared / "index.html").read_text() == (one / "index.html").read_text()
    assert (shared / "recordings.csv").read_text() == (one / "recordings.csv").read_text()
    for _, name in jobs:
        if name != "broken":
            assert (shared / name / "timeline.csv").read_bytes() == (
                one / name / "timeline.csv"
            ).read_bytes()


def test_a_killed_shard_rerun_completes_its_share(archive, random_run_dir, tmp_path):
    jobs = collect_recordings([archive])
    counts = [sum(Shard(s, 2).owns(shard_key(f, [archive])) for f, _ in jobs) for s in range(2)]
    s = max(range(2), key=counts.__getitem__)
    assert counts[s] >= 2
    mine = [n for f, n in jobs if Shard(s, 2).owns(shard_key(f, [archive]))]
    out = tmp_path / "out"
    args = _cli(archive, "--models", random_run_dir, "--out", out, *SETTINGS, "--shard", f"{s}/2")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not any((out / n / "report.html").exists() for n in mine):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    first = [n for n in mine if (out / n / "report.html").exists()]
    assert 1 <= len(first) < len(mine)  # killed half-way
    rerun = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert rerun.returncode in (0, 3), rerun.stderr
    assert f"{len(first)} already analysed (skipped)" in rerun.stderr
    table = pd.read_csv(out / "recordings.csv")  # the other shard never ran: named, not listed
    assert sorted(table["name"]) == sorted(mine)
    assert f"shard(s) [{1 - s}] of 2 not finished yet" in rerun.stderr
    expected = ["failed" if n == "broken" else "skipped" if n in first else "done" for n in mine]
    assert table.set_index("name").loc[mine, "status"].tolist() == expected


def test_a_recording_keeps_its_shard_when_files_are_added(archive, tmp_path):
    """The share is stable: files added elsewhere in the archive move no recording to another
    shard (the key is the path under the folder given, not a position in the list)."""
    grown = Path(shutil.copytree(archive, tmp_path / "archive"))
    (grown / "ward_c").mkdir()
    for i in range(5):
        shutil.copy(grown / "ward_a" / "p1.edf", grown / "ward_c" / f"new{i}.edf")
    before = {shard_key(f, [archive]) for f, _ in collect_recordings([archive])}
    after = {shard_key(f, [grown]) for f, _ in collect_recordings([grown])}
    assert before < after
    for key in before:
        assert [Shard(s, 4).owns(key) for s in range(4)].count(True) == 1
    with pytest.raises(Exception, match="--shard: expected 0 <= I < N"):
        Shard.parse("4/4")
