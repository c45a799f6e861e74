"""Full scale: ``iiic prepare --preset`` of the labels-driven twin, end to end, time and memory.

Runs the CLI exactly as a user would on the twin of the whole rebuilt real train.csv (17,001
EEGs, 379 EEG-hours; ``iiic synth --labels``, see benchmarks/synth_full.py) — given with
``--twin`` or written first with ``--synth`` — and records the wall time of each part (the raw
cache and the preset's model-ready inputs, from their reports), the peak memory (the sum of the
resident sets of the prepare process and its workers, sampled every 0.2 s from /proc, and the
largest single process from ``getrusage``), the size on disk and the 1-minute load average.
Goal: peak memory <= 4 GiB. ``--synth DIR --fraction F`` writes a twin of that share of the
patients instead (time extrapolated linearly in EEG-hours to the full twin).

``--eeg-only`` (default) leaves the twin's spectrogram files out: the raw cache with
spectrograms (about 17 GiB) plus the twin (26 GiB) plus the model-ready set (7 GiB) did not fit
the free disk of the shared machine this ran on. Writes benchmarks/results/prepare_full.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from iiic.utils import machine_info, write_json_atomic
from readme_table import Load, Rows

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("IIIC_SHARED_DATA", REPO.parent / "shared" / "data"))
LABELS = SHARED / "hms-train-labels-reconstructed" / "train.csv.gz"
RESULTS = REPO / "benchmarks" / "results" / "prepare_full.json"
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
FULL_EEG_HOURS = 378.7
"""EEG-hours of the full labels-driven twin (benchmarks/results/synth_full.json)."""


def _tree_rss_bytes(root: int) -> int:
    """Resident set of ``root`` and all its descendants (from /proc), bytes."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            parents[int(entry)] = int(fields[1])
            rss[int(entry)] = int(fields[21]) * PAGE_BYTES
        except (OSError, ValueError, IndexError):
            continue
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        kids = [p for p, ppid in parents.items() if ppid == pid and p not in tree]
        tree.update(kids)
        frontier.extend(kids)
    return sum(rss.get(p, 0) for p in tree)


def run_sampled(cmd: list[str]) -> tuple[float, int, subprocess.CompletedProcess]:
    """Run ``cmd``; returns (wall s, peak sampled tree RSS bytes, the finished process)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss_bytes(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    start = time.perf_counter()
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    sampler.join()
    return wall, peak[0], subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _du_gib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**30


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--twin", type=Path, help="an existing full-scale twin (iiic synth --labels)")
    ap.add_argument("--synth", type=Path, help="write the twin here first (about 26 GiB)")
    ap.add_argument("--fraction", type=float, default=None,
                    help="with --synth: this share of the patients (time extrapolated to 1)")  # fmt: skip
    ap.add_argument("--out", type=Path, required=True, help="cache directory to write")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--preset", default="eeg1d_cpu")
    ap.add_argument("--with-spectrograms", action="store_true", help="not --eeg-only")
    ap.add_argument("--keep", action="store_true", help="keep the cache afterwards")
    args = ap.parse_args()
    iiic = [sys.executable, "-m", "iiic"]
    twin = args.twin
    if twin is None:
        if args.synth is None or not LABELS.is_file():
            sys.exit("give --twin DIR, or --synth DIR with ../shared/data present")
        twin = args.synth
        fraction = ["--fraction", str(args.fraction)] if args.fraction else []
        proc = subprocess.run([*iiic, "synth", "--labels", str(LABELS), "--out", str(twin),
                               "--workers", str(args.workers), *fraction],
                              capture_output=True, text=True)  # fmt: skip
        if proc.returncode:
            sys.exit(f"iiic synth failed:\n{proc.stderr[-2000:]}")
    summary = json.loads((twin / "synth_summary.json").read_text())
    cmd = [*iiic, "prepare", str(twin), "--out", str(args.out), "--workers", str(args.workers),
           "--preset", args.preset, "--no-progress",
           *([] if args.with_spectrograms else ["--eeg-only"])]  # fmt: skip
    load = {"before": os.getloadavg()[0]}
    wall, peak_tree, proc = run_sampled(cmd)
    load["after"] = os.getloadavg()[0]
    if proc.returncode:
        sys.exit(f"iiic prepare failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    report = json.loads((args.out / "cache_report.json").read_text())
    ready = [json.loads(p.read_text()) for p in (args.out / "ready").glob("*/ready.json")]
    result = {
        "machine": machine_info(),
        "command": "iiic prepare TWIN --out CACHE " + " ".join(cmd[cmd.index("--workers"):]),
        "n_eegs": report["counts"]["eegs"], "n_rows": report["counts"]["rows_kept"],
        "eeg_hours": round(summary["eeg_hours"], 1), "twin_n_eegs": summary["n_eegs"],
        "minutes": round(wall / 60, 2),
        "raw_cache_s": report["seconds"]["total"],
        "model_ready_s": ready[0]["seconds"] if ready else None,
        "model_ready_files": ready[0]["n_files"] if ready else None,
        "peak_rss_gib": round(peak_tree / 2**30, 3),
        "peak_rss_largest_process_gib": round(largest / 2**30, 3),
        "disk_gib": round(_du_gib(args.out), 1),
        "rows_dropped": report["rows_dropped"], "files_excluded": len(report["files_excluded"]),
        "eeg_only": not args.with_spectrograms, "workers": args.workers,
        "load_avg_1min": load, "goal_peak_gib": 4.0,
        "full_scale_eeg_hours": FULL_EEG_HOURS,
        "fraction_of_full_scale": round(summary["eeg_hours"] / FULL_EEG_HOURS, 4),
        "minutes_extrapolated_to_full_scale": round(wall / 60 * FULL_EEG_HOURS / summary["eeg_hours"], 1),
    }  # fmt: skip
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=1))
    write_json_atomic(RESULTS, result)
    if not args.keep:
        shutil.rmtree(args.out, ignore_errors=True)


def readme_rows(load: Load) -> Rows:
    """Result row of prepare_full.json: minutes and peak memory of prepare on the big twin."""
    full = load("prepare_full")
    if not full:
        return {}
    share = full.get("fraction_of_full_scale", 1.0)
    scale = "full scale" if share > 0.99 else f"{share:.0%} of the full twin"
    return {"speed": [(f"`iiic prepare --preset` of the labels-driven twin, {scale} ({full['n_eegs']:,} "
                       f"EEGs, {full['eeg_hours']:.0f} EEG-h, {full['n_rows']:,} rows)",
                       f"{full['minutes']:.1f} min, peak RSS {full['peak_rss_gib']:.2f} GiB",
                       f"full scale extrapolated: {full['minutes_extrapolated_to_full_scale']:.0f} min; "
                       f"goal: peak ≤ {full['goal_peak_gib']:.0f} GiB; cache {full['disk_gib']:.1f} GiB",
                       f"`benchmarks/prepare_full.py`: {full['command']}; 1-min load "
                       f"{full['load_avg_1min']['before']:.1f}")]}  # fmt: skip


if __name__ == "__main__":
    main()
