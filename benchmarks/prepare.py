"""``iiic prepare`` speed and memory vs a bare pyarrow read of the same files, in one run.

(a) wall time of :func:`iiic.data.cache.build_cache` (float16 and float32) next to
    ``pyarrow.parquet.read_table`` of the same files with the same number of processes
    (goal: <= 1.3x); the EEG-only build separates EEG from spectrogram cost for the extrapolation;
(b) DataLoader throughput: a slot (:func:`bench_loader`) filled by the dataset's benchmark;
(c) peak memory (``ru_maxrss`` of the build process and of its workers; each build runs in a
    fresh subprocess so high-water marks do not mix).

Also the dtype choice: cache size, random-window read time and float16's error against float32
(max |error| in µV on values clipped to ±1024 µV, as preprocessing does).

The data set is built by copying the real HMS files in ../shared/data under new ids (or pass
``--data DIR``, e.g. a twin from ``iiic synth``). Figures are extrapolated linearly to the real
train set: 17,001 EEG files holding 379 h at 200 Hz, and 11,087 spectrogram files.
Writes benchmarks/results/prepare.json (prepare_quick.json with --quick).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from iiic.constants import EEG_WINDOW_S, SFREQ_HZ, VOTE_COLUMNS
from iiic.utils import machine_info, write_json_atomic

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
RESULTS = REPO / "benchmarks" / "results" / "prepare.json"
FULL_EEG_HOURS, FULL_EEGS, FULL_SPECS = 379.0, 17_001, 11_087
PUBLIC_PREPROCESS_MIN = 25.0
"""Minutes one public solution needed for its preprocessing (the issue's reference)."""
CLIP_UV = 1024.0

_CHILD = """
import json, resource, sys, time
from concurrent.futures import ProcessPoolExecutor
import pyarrow.parquet as pq
from iiic.data.cache import build_cache  # imports before the clock starts, in both cases
args = json.loads(sys.argv[1])

def read(p):
    return pq.read_table(p).num_rows

t = time.perf_counter()
if args["what"] == "pyarrow":
    with ProcessPoolExecutor(args["workers"]) as pool:
        list(pool.map(read, args["files"], chunksize=16))
else:
    build_cache(args["data"], args["out"], workers=args["workers"], dtype=args["dtype"],
                eeg_only=args["eeg_only"], progress=False)
secs = time.perf_counter() - t
self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"seconds": secs, "peak_rss_mib": max(self_kb, child_kb) / 1024,
                  "main_rss_mib": self_kb / 1024, "worker_rss_mib": child_kb / 1024}))
"""


def build_dir(root: Path, n_eegs: int) -> Path:
    """Real EEG/spectrogram files copied under new ids + a train.csv whose windows fit."""
    signals = SHARED / "hms-train-signals"
    eegs = [signals / "train_eegs" / "1628180742.parquet",
            signals / "unidentified" / "anikaitlakhotia_sample_eeg_66s.parquet",
            *sorted((SHARED / "iiic-real-segments" / "train_eegs").glob("*.parquet"))]  # fmt: skip
    specs = [signals / "train_spectrograms" / "353733.parquet",
             signals / "unidentified" / "lxfted73_train_spectrogram_600s.parquet"]  # fmt: skip
    for sub in ("train_eegs", "train_spectrograms"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n_eegs):
        src = eegs[i % len(eegs)]
        shutil.copy(src, root / "train_eegs" / f"{i}.parquet")
        spec_id = i // 2
        if i % 2 == 0:
            shutil.copy(specs[spec_id % 2], root / "train_spectrograms" / f"{spec_id}.parquet")
        for k in range(3 if src.name.startswith(("1628", "anik")) else 1):
            rows.append({"eeg_id": i, "eeg_sub_id": k, "eeg_label_offset_seconds": 6.0 * k,
                         "spectrogram_id": spec_id, "spectrogram_sub_id": k,
                         "spectrogram_label_offset_seconds": 0.0, "label_id": len(rows),
                         "patient_id": i // 3, "expert_consensus": "Other",
                         **dict(zip(VOTE_COLUMNS, (0, 1, 0, 0, 1, 2), strict=True))})  # fmt: skip
    pd.DataFrame(rows).to_csv(root / "train.csv", index=False)
    return root


def _child(args: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(args)], check=True,
                         capture_output=True, text=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def _dir_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file()) / 2**20


def window_read_ms(cache_dir: Path, n_batches: int = 50, batch: int = 32) -> float:
    """Mean ms to read a random batch of 32 EEG windows (float32, channel-first) from the cache."""
    from iiic.data.cache import Cache

    cache = Cache.open(cache_dir)
    rng = np.random.default_rng(0)
    rows = cache.rows
    t = time.perf_counter()
    for _ in range(n_batches):
        idx = rng.integers(0, len(rows), batch)
        np.stack([cache.eeg(rows.eeg_id.iat[i], rows.eeg_label_offset_seconds.iat[i]) for i in idx])
    return (time.perf_counter() - t) / n_batches * 1e3


def float16_error(c16: Path, c32: Path) -> dict[str, float]:
    """float16 vs float32 cache: max |error| (µV) after clipping at ±1024 µV, max relative error."""
    a16 = np.load(c16 / "eeg.npy", mmap_mode="r")
    a32 = np.load(c32 / "eeg.npy", mmap_mode="r")
    worst_abs, worst_rel = 0.0, 0.0
    for start in range(0, len(a32), 1_000_000):
        x32 = np.asarray(a32[start : start + 1_000_000], dtype=np.float64)
        x16 = np.asarray(a16[start : start + 1_000_000], dtype=np.float64)
        err = np.abs(np.clip(x16, -CLIP_UV, CLIP_UV) - np.clip(x32, -CLIP_UV, CLIP_UV))
        worst_abs = max(worst_abs, float(err.max()))
        nz = np.abs(x32) > 1e-3
        worst_rel = max(worst_rel, float((np.abs(x16 - x32)[nz] / np.abs(x32[nz])).max()))
    return {"max_abs_error_uv_clipped_1024": worst_abs, "max_relative_error": worst_rel}


def bench_loader(cache_dir: Path, quick: bool) -> dict | None:
    """(b) DataLoader throughput: filled in by the dataset's benchmark section (None here)."""
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="existing Kaggle-layout directory")
    parser.add_argument("--n-eegs", type=int, default=1000, help="EEG files to build")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="best of N interleaved runs")
    parser.add_argument("--quick", action="store_true", help="60 EEG files, 1 run each (< 60 s)")
    args = parser.parse_args()
    if args.quick:
        args.repeats = 1
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = args.data or build_dir(tmp / "data", 60 if args.quick else args.n_eegs)
        files = sorted(str(p) for p in (data / "train_eegs").glob("*.parquet"))
        files += sorted(str(p) for p in (data / "train_spectrograms").glob("*.parquet"))
        w = args.workers
        jobs = {"pyarrow": {"what": "pyarrow", "files": files, "workers": w}}
        for name, dtype, eeg_only in (("float16", "float16", False), ("float32", "float32", False),
                                      ("float16_eeg_only", "float16", True)):  # fmt: skip
            jobs[name] = {"what": "prepare", "data": str(data), "workers": w, "dtype": dtype,
                          "eeg_only": eeg_only}  # fmt: skip
        runs: dict[str, dict] = {}
        for _rep in range(args.repeats):  # interleaved, best of N: the machine is shared
            for name, job in jobs.items():
                out = tmp / name
                shutil.rmtree(out, ignore_errors=True)
                r = _child({**job, "out": str(out)})
                if name not in runs or r["seconds"] < runs[name]["seconds"]:
                    runs[name] = {**r, "peak_rss_mib": max(r["peak_rss_mib"],
                                  runs.get(name, {}).get("peak_rss_mib", 0))}  # fmt: skip
        for name in ("float16", "float32"):
            runs[name]["eeg_npy_mib"] = (tmp / name / "eeg.npy").stat().st_size / 2**20
            runs[name]["cache_mib"] = _dir_mib(tmp / name)
            runs[name]["batch32_read_ms"] = window_read_ms(tmp / name)
        error = float16_error(tmp / "float16", tmp / "float32")
        samples = int(np.load(tmp / "float32" / "eeg.npy", mmap_mode="r").shape[0])
        loader = bench_loader(tmp / "float16", args.quick)
    report(runs, error, files, samples, data, w, args.quick, loader)


def report(runs, error, files, samples, data, workers, quick, loader) -> None:
    base = runs["pyarrow"]["seconds"]
    n_eeg_files = sum("train_eegs" in f for f in files)
    hours = samples / SFREQ_HZ / 3600
    print(f"{len(files)} files ({n_eeg_files} EEG, {hours:.2f} h), {workers} workers")
    print(
        f"{'run':<20}{'s':>8}{'x pyarrow':>11}{'peak MiB':>10}{'eeg.npy MiB':>13}{'32 win ms':>11}"
    )
    for name, r in runs.items():
        print(f"{name:<20}{r['seconds']:>8.2f}{r['seconds'] / base:>11.2f}{r['peak_rss_mib']:>10.0f}"
              f"{r.get('eeg_npy_mib', float('nan')):>13.1f}{r.get('batch32_read_ms', float('nan')):>11.2f}")  # fmt: skip
    eeg_s = runs["float16_eeg_only"]["seconds"]
    spec_s = max(runs["float16"]["seconds"] - eeg_s, 0.0)
    n_spec = len(files) - n_eeg_files
    full_s = eeg_s * FULL_EEG_HOURS / hours + (spec_s * FULL_SPECS / n_spec if n_spec else 0.0)
    full_gib = {
        k: runs[k]["eeg_npy_mib"] / 1024 * FULL_EEG_HOURS / hours for k in ("float16", "float32")
    }
    print(f"float16 vs float32: max |err| {error['max_abs_error_uv_clipped_1024']:.3f} µV (clipped "
          f"±{CLIP_UV:g} µV), max relative {error['max_relative_error']:.2e}")  # fmt: skip
    print(f"extrapolated to {FULL_EEGS} EEGs ({FULL_EEG_HOURS:g} h) + {FULL_SPECS} spectrograms: "
          f"{full_s / 60:.1f} min (public solution: ~{PUBLIC_PREPROCESS_MIN:g} min), eeg.npy "
          f"{full_gib['float16']:.1f} GiB float16 / {full_gib['float32']:.1f} GiB float32")  # fmt: skip
    write_json_atomic(RESULTS.with_name("prepare_quick.json") if quick else RESULTS, {
        "quick": quick, "workers": workers, "best_of": "interleaved repeats, min seconds", "data": str(data), "n_files": len(files),
        "n_eeg_files": n_eeg_files, "eeg_hours": hours, "runs": runs, "float16_error": error,
        "ratio_float16_vs_pyarrow": runs["float16"]["seconds"] / base,
        "extrapolated_full_minutes": full_s / 60, "extrapolated_eeg_npy_gib": full_gib,
        "public_solution_minutes": PUBLIC_PREPROCESS_MIN, "loader": loader,
        "window_s": EEG_WINDOW_S, "machine": machine_info(),
    })  # fmt: skip


if __name__ == "__main__":
    main()
