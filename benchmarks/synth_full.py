"""Full-scale twin, measured end to end: ``iiic synth --labels <real train.csv>`` then ``iiic validate``.

Generates the twin of the whole rebuilt real train.csv (17,001 EEGs, 379 EEG-hours, ~26 GB of
parquet) through the CLI, exactly as a user would, and records wall time, EEG-hours per second,
the peak RSS of the largest process, the size on disk, and the validation result (every file and
window checked). Needs ../shared/data and about 30 GB of free disk; takes ~20 min on 2 cores.
The baseline in the same run is the extrapolation ``benchmarks/synth.py`` makes from a 2 % run
(its JSON is read if present). Writes benchmarks/results/synth_full.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from iiic.utils import machine_info, write_json_atomic
from readme_table import Load, Rows, num

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("IIIC_SHARED_DATA", REPO.parent / "shared" / "data"))
LABELS = SHARED / "hms-train-labels-reconstructed" / "train.csv.gz"
RESULTS = REPO / "benchmarks" / "results"


def _run(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return time.perf_counter() - start, proc


def _du_gib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**30


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--work", type=Path, default=None, help="write the twin here (kept)")
    args = ap.parse_args()
    if not LABELS.exists():
        sys.exit(f"{LABELS}: not found (needs ../shared/data or $IIIC_SHARED_DATA)")
    work = args.work or Path(tempfile.mkdtemp(prefix="iiic-synth-full-"))
    out = work / "twin"
    shutil.rmtree(out, ignore_errors=True)
    iiic = [sys.executable, "-m", "iiic"]
    synth_s, proc = _run([*iiic, "synth", "--labels", str(LABELS), "--out", str(out),
                          "--workers", str(args.workers)])  # fmt: skip
    if proc.returncode:
        sys.exit(f"iiic synth failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    summary = json.loads((out / "synth_summary.json").read_text())
    validate_s, val = _run([*iiic, "validate", str(out), "--workers", str(args.workers), "--json"])
    report = json.loads(val.stdout) if val.stdout.strip().startswith("{") else {}
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    n_files = report.get("counts", {}).get("files_read", 0)
    extrapolated = None
    if (RESULTS / "synth.json").exists():
        extrapolated = json.loads((RESULTS / "synth.json").read_text()).get(
            "full_scale_minutes_best"
        )
    result = {
        "machine": machine_info(),
        "command": f"iiic synth --labels {LABELS.name} --workers {args.workers}",
        "n_eegs": summary["n_eegs"], "n_spectrograms": summary["n_spectrograms"],
        "n_rows": summary["n_rows"], "eeg_hours": round(summary["eeg_hours"], 1),
        "synth_minutes": round(synth_s / 60, 1),
        "eeg_hours_per_s": round(summary["eeg_hours"] / synth_s, 3),
        "extrapolated_minutes_from_2pct": extrapolated,
        "peak_rss_mib_largest_process": round(peak_mib),
        "disk_gib": round(_du_gib(out), 1),
        "oracle_kl": summary["oracle_kl"], "oracle_kl_ge10_votes": summary.get("oracle_kl_ge10_votes"),
        "validate": {"returncode": val.returncode, "seconds": round(validate_s, 1),
                     "files_read": n_files, "files_per_s": round(n_files / validate_s, 1),
                     "errors": len(report.get("errors", [])) if report else None,
                     "warnings": len(report.get("warnings", [])) if report else None},
    }  # fmt: skip
    path = write_json_atomic(RESULTS / "synth_full.json", result)
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=1))
    print(f"wrote {path}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


def readme_rows(load: Load) -> Rows:
    """Result row of synth_full.json: the full-scale twin's minutes, then validate of it."""
    full = load("synth_full")
    if not full:
        return {}
    val = full["validate"]
    return {"speed": [(f"`iiic synth --labels` full scale ({full['n_eegs']:,} EEGs, "
                       f"{full['eeg_hours']:.0f} EEG-h)", f"{full['synth_minutes']:.1f} min",
                       f"extrapolated from the 2 % run: {num(full['extrapolated_minutes_from_2pct'], '.0f')}"
                       " min; goal ≤ 30 min",
                       f"`benchmarks/synth_full.py`: the CLI end to end, 2 workers, peak RSS "
                       f"{full['peak_rss_mib_largest_process']} MiB, {full['disk_gib']} GiB; "
                       f"`iiic validate` of all {val['files_read']:,} files: {val['errors']} errors, "
                       f"{val['files_per_s']:.0f} files/s")]}  # fmt: skip


if __name__ == "__main__":
    main()
