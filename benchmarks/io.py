"""I/O throughput: ``iiic validate`` and window reading vs a bare pyarrow read of the same files.

Builds a Kaggle-layout directory of N EEG + N/2 spectrogram files by copying the real HMS files in
../shared/data under new ids (or uses ``--data DIR``), then times, in one run and on the same files:

- ``pyarrow``: ``pyarrow.parquet.read_table`` of every file (the floor: no checks at all);
- ``validate (w workers)``: :func:`iiic.data.validate.validate_data_dir` (reads each file once,
  NaN share, every row's windows checked);
- ``windows``: :func:`read_eeg` / :func:`read_spectrogram` + every row's window cut.

Prints a table and writes benchmarks/results/io.json (io_quick.json with --quick). ``--quick`` finishes in well under 60 s.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from iiic.constants import EEG_WINDOW_S, SPEC_WINDOW_S
from iiic.data.layout import DataDir, read_train_csv
from iiic.data.readers import read_eeg, read_spectrogram
from iiic.data.validate import validate_data_dir
from iiic.data.windows import eeg_window, spectrogram_window
from iiic.utils import machine_info, write_json_atomic
from readme_table import Load, Rows, num

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
RESULTS = REPO / "benchmarks" / "results" / "io.json"


def build_dir(root: Path, n_eegs: int) -> Path:
    """Copy the real EEG/spectrogram files under new ids + a train.csv whose windows fit."""
    signals = SHARED / "hms-train-signals"
    eegs = [signals / "train_eegs" / "1628180742.parquet",
            *sorted((SHARED / "iiic-real-segments" / "train_eegs").glob("*.parquet"))]  # fmt: skip
    spec_src = signals / "train_spectrograms" / "353733.parquet"
    for sub in ("train_eegs", "train_spectrograms"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n_eegs):
        src = eegs[i % len(eegs)]
        shutil.copy(src, root / "train_eegs" / f"{i}.parquet")
        spec_id = i // 2
        if i % 2 == 0:
            shutil.copy(spec_src, root / "train_spectrograms" / f"{spec_id}.parquet")
        n_windows = 3 if src.name.startswith("1628") else 1
        for k in range(n_windows):
            rows.append({"eeg_id": i, "eeg_sub_id": k, "eeg_label_offset_seconds": 10.0 * k,
                         "spectrogram_id": spec_id, "spectrogram_sub_id": k,
                         "spectrogram_label_offset_seconds": 10.0 * k, "label_id": len(rows),
                         "patient_id": i // 4, "expert_consensus": "Seizure", "seizure_vote": 3,
                         "lpd_vote": 0, "gpd_vote": 0, "lrda_vote": 0, "grda_vote": 0,
                         "other_vote": 1})  # fmt: skip
    pd.DataFrame(rows).to_csv(root / "train.csv", index=False)
    return root


def _files(root: Path) -> list[Path]:
    return sorted((root / "train_eegs").glob("*.parquet")) + sorted(
        (root / "train_spectrograms").glob("*.parquet")
    )


def bench_pyarrow(files: list[Path]) -> float:
    t = time.perf_counter()
    for f in files:
        pq.read_table(f)
    return time.perf_counter() - t


def bench_validate(root: Path, workers: int) -> float:
    t = time.perf_counter()
    report = validate_data_dir(root, workers=workers, progress=False)
    elapsed = time.perf_counter() - t
    if not report.ok:
        raise SystemExit(f"validate found errors in the benchmark directory: {report.errors[:3]}")
    return elapsed


def bench_windows(root: Path) -> tuple[float, int]:
    """Read each file once and cut every row's windows; returns (seconds, windows cut)."""
    data = DataDir(root)
    t = time.perf_counter()
    train = read_train_csv(data.train_csv)
    n = 0
    for eeg_id, rows in train.groupby("eeg_id"):
        eeg = read_eeg(data.eeg_path(eeg_id))
        n += sum(
            eeg_window(eeg, o, EEG_WINDOW_S).shape[0] > 0 for o in rows.eeg_label_offset_seconds
        )
    for spec_id, rows in train.groupby("spectrogram_id"):
        spec = read_spectrogram(data.spectrogram_path(spec_id))
        for o in rows.spectrogram_label_offset_seconds:
            spectrogram_window(spec, o, SPEC_WINDOW_S)
    return time.perf_counter() - t, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="existing Kaggle-layout directory to measure")
    parser.add_argument("--n-eegs", type=int, default=2000, help="EEG files to build")
    parser.add_argument("--quick", action="store_true", help="300 EEG files (< 60 s)")
    parser.add_argument("--repeats", type=int, default=3, help="best of N interleaved runs")
    args = parser.parse_args()
    n_eegs = 300 if args.quick else args.n_eegs
    if args.quick:
        args.repeats = 1
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data or build_dir(Path(tmp) / "data", n_eegs)
        files = _files(root)
        mb = sum(f.stat().st_size for f in files) / 1e6
        bench_pyarrow(files[:20])  # warm the page cache and imports
        methods = {
            "pyarrow read_table": lambda: bench_pyarrow(files),
            "validate (1 worker)": lambda: bench_validate(root, 1),
            "validate (2 workers)": lambda: bench_validate(root, 2),
            "read + cut windows": lambda: bench_windows(root)[0],
        }
        best = dict.fromkeys(methods, float("inf"))
        for _ in range(args.repeats):  # interleaved, best of N: the machine is shared
            for name, run in methods.items():
                best[name] = min(best[name], run())
        rows = [{"method": name, "seconds": secs, "files_per_s": len(files) / secs,
                 "mb_per_s": mb / secs} for name, secs in best.items()]  # fmt: skip
    base = rows[0]["seconds"]
    print(f"{len(files)} files, {mb:.1f} MB")
    print(f"{'method':<24}{'s':>8}{'files/s':>10}{'MB/s':>9}{'x pyarrow':>11}")
    for r in rows:
        print(f"{r['method']:<24}{r['seconds']:>8.2f}{r['files_per_s']:>10.0f}{r['mb_per_s']:>9.1f}"
              f"{r['seconds'] / base:>11.2f}")  # fmt: skip
    write_json_atomic(RESULTS.with_name("io_quick.json") if args.quick else RESULTS, {"n_files": len(files), "megabytes": mb, "quick": args.quick, "repeats": args.repeats,
                                "results": rows, "machine": machine_info()})  # fmt: skip


def readme_rows(load: Load) -> Rows:
    """Result row of io.json: validate's files/s next to a bare pyarrow read."""
    io = load("io")
    if not io:
        return {}
    by = {x["method"]: x for x in io["results"]}
    val = next((x for m, x in by.items() if m.startswith("validate (2")), None)
    bare = by.get("pyarrow read_table")
    return {"speed": [("`iiic validate`, 2 workers (every file + window checked)",
                       num(val and val["files_per_s"], ".0f") + " files/s",
                       f"bare pyarrow read: {num(bare and bare['files_per_s'], '.0f')} files/s",
                       f"{io['n_files']} real-size parquet files")]}  # fmt: skip


if __name__ == "__main__":
    main()
