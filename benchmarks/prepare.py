"""``iiic prepare`` against its read floor and against a public-style pipeline, in one run.

On one twin (default: a standalone 30-patient twin written first; or ``--data DIR``):

(a) **Read floor**: every EEG and spectrogram parquet file read once with pyarrow
    (``pq.read_table``) and with polars (``pl.read_parquet``); the faster is ``read_floor_s``.
    ``iiic prepare`` in raw mode (the float16 cache of EEG + spectrograms) against it:
    ``ratio_to_read_floor`` (goal <= 1.3).
(b) **Equal work, the public pipelines' preprocessing**, for every labelled row window: the 16
    double-banana chains + Fz-Cz, Cz-Pz and EKG; zero-phase Butterworth band-pass 0.5-20 Hz; clip
    ±1024 µV and divide by 32; 4x decimation (200 -> 50 Hz); per-chain log STFT spectrograms (Hann
    64 samples = 1.28 s, hop 0.2 s, 0.78-19.5 Hz, power averaged over the chain's four pairs);
    float16 storage.

    - ``baseline``: :func:`public_style_pipeline`, written here in plain pandas/scipy the way
      public notebooks do it, file by file (pandas read; per window: interpolate NaN, montage by
      column, ``sosfiltfilt``, ``decimate``, ``scipy.signal.stft``, ``np.save``);
    - ``iiic``: ``iiic prepare --eeg-only --preset`` (raw cache + model-ready windows with
      ``filter_method: fft``), then the same spectrograms from the model-ready windows with iiic's
      ``StftSpectrogram`` (torch, batched) into a float16 memory map;
    - ``iiic_iir``: the same with scipy's recursive filters (``filter_method: iir``, the default).

    ``speedup_per_core`` = baseline CPU-seconds / iiic CPU-seconds (CPU time counts the work of
    one core and is disturbed far less than wall time by other processes; wall ratios are kept
    too). The outputs are compared: largest difference in the central 40 s and over the window.
(c) **Per EEG-hour** (issue 27), so runs of other sizes compare: ``prepare --eeg-only --preset
    eeg1d_cpu`` (raw cache + model-ready inputs per recording; ``prepare_eeg1d``, and the same with
    ``filter_method: fft``, ``prepare_eeg1d_fft``): ``cpu_s_per_eeg_hour`` (raw cache included)
    and ``ready_mb_per_eeg_hour`` (model-ready storage). ``--before-src DIR`` runs the same job
    with the iiic source tree in DIR too (``prepare_eeg1d_before``: e.g. a checkout of the
    commit that stored inputs per labelled row), interleaved, so the previous figures stand
    beside the new ones. ``full_scale_gb``: raw + model-ready storage for the real train.csv's
    :data:`REAL_EEG_HOURS` EEG-hours at this run's MB per EEG-hour.

Every job runs in a fresh subprocess on one core (1 worker, 1 torch/polars/arrow thread), jobs
interleaved, ``--repeats`` times; the median is reported and the 1-minute load average recorded.
Writes benchmarks/results/prepare.json (prepare_quick.json with ``--quick``: 6 patients, 1 run).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from iiic.utils import machine_info, write_json_atomic

RESULTS = Path(__file__).resolve().parent / "results" / "prepare.json"
SFREQ_HZ, WINDOW = 200, 10_000
BAND_HZ, CLIP_UV, DIVIDE_BY, DECIMATE = (0.5, 20.0), 1024.0, 32.0, 4
N_FFT, HOP, FMIN_HZ, FMAX_HZ = 64, 10, 0.5, 20.0  # at 50 Hz: 1.28-s Hann frames every 0.2 s
PUBLIC = {"central": True, "ekg": True, "bandpass_hz": list(BAND_HZ), "clip_uv": CLIP_UV,
          "divide_by": DIVIDE_BY, "downsample": DECIMATE}  # fmt: skip
"""The equal work as a PreprocessConfig (+ ``filter_method``)."""
JOBS = (
    "pyarrow",
    "polars",
    "prepare_raw",
    "baseline",
    "iiic",
    "iiic_iir",
    "prepare_eeg1d",
    "prepare_eeg1d_fft",
)
REAL_EEG_HOURS = 379.0
"""EEG-hours of the real train.csv's 17,089 EEG files (sum of their lengths at 200 Hz)."""
SPEC_RANGE_LOG10 = 4.0
"""Spectrogram bins compared: within 40 dB of the chain's peak power."""
ONE_THREAD = {"POLARS_MAX_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "OPENBLAS_NUM_THREADS": "1", "ARROW_NUM_THREADS": "1"}  # fmt: skip


# --- the baseline: a public-notebook-style pipeline in plain pandas/scipy --------------------
def public_style_pipeline(data_dir: Path, out_dir: Path) -> int:
    """Preprocess every labelled window of train.csv file by file; returns the windows written.

    Writes ``<eeg_id>_<eeg_sub_id>_eeg.npy`` (19, 2500) and ``..._spec.npy`` (4, 25, 251), float16.
    """
    import pandas as pd
    from scipy import signal

    chains = {
        "LL": ["Fp1", "F7", "T3", "T5", "O1"], "RL": ["Fp2", "F8", "T4", "T6", "O2"],
        "LP": ["Fp1", "F3", "C3", "P3", "O1"], "RP": ["Fp2", "F4", "C4", "P4", "O2"],
    }  # fmt: skip
    pairs = [(c[i], c[i + 1]) for c in chains.values() for i in range(4)] + [("Fz", "Cz"), ("Cz", "Pz")]  # fmt: skip
    sos = signal.butter(4, BAND_HZ, btype="bandpass", fs=SFREQ_HZ, output="sos")
    train = pd.read_csv(data_dir / "train.csv")
    written = 0
    for eeg_id, rows in train.groupby("eeg_id"):
        eeg = pd.read_parquet(data_dir / "train_eegs" / f"{eeg_id}.parquet")
        for _, row in rows.iterrows():
            start = int(round(row["eeg_label_offset_seconds"] * SFREQ_HZ))
            win = eeg.iloc[start : start + WINDOW]
            if len(win) < WINDOW:
                continue
            win = win.interpolate(limit_direction="both").fillna(0.0)  # NaN: linear; dead -> 0
            x = np.stack([(win[a] - win[b]).to_numpy() for a, b in pairs] + [win["EKG"].to_numpy()])
            x = signal.sosfiltfilt(sos, x, axis=1)
            x = np.clip(x, -CLIP_UV, CLIP_UV) / DIVIDE_BY
            x = signal.decimate(x, DECIMATE, axis=1)  # zero-phase IIR anti-alias, 200 -> 50 Hz
            f, _, z = signal.stft(x[:16], fs=SFREQ_HZ / DECIMATE, nperseg=N_FFT,
                                  noverlap=N_FFT - HOP, boundary="even", padded=False)  # fmt: skip
            keep = (f >= FMIN_HZ) & (f <= FMAX_HZ)
            power = np.abs(z[:, keep]) ** 2  # (16, n_freqs, n_frames)
            spec = np.log10(power.reshape(4, 4, *power.shape[1:]).mean(axis=1) + 1e-10)
            name = f"{eeg_id}_{int(row['eeg_sub_id'])}"
            np.save(out_dir / f"{name}_eeg.npy", x.astype(np.float16))
            np.save(out_dir / f"{name}_spec.npy", spec.astype(np.float16))
            written += 1
    return written


# --- iiic doing the same work -------------------------------------------------------------
def iiic_pipeline(data_dir: Path, out_dir: Path, filter_method: str) -> int:
    """Raw cache + model-ready inputs (``iiic prepare --eeg-only --preset``) + spectrograms of
    every distinct row window, sliced from the model-ready files (``out_dir/eeg_spec.npy``)."""
    import torch

    from iiic.data.cache import Cache, build_cache
    from iiic.signal.preprocess import PreprocessConfig
    from iiic.signal.spectrogram import StftSpectrogram
    from iiic.train.ready import build_ready, find_ready

    cfg = PreprocessConfig(**PUBLIC, filter_method=filter_method)
    cache = Cache.open(build_cache(data_dir, out_dir / "cache", workers=1, eeg_only=True,
                                   progress=False))  # fmt: skip
    build_ready(cache, cfg, workers=1, progress=False)
    ready, _ = find_ready(cache, cfg)
    starts = np.unique(cache.rows["eeg_start"].to_numpy(dtype=np.int64))
    np.save(out_dir / "spec_starts.npy", starts)
    stft = StftSpectrogram(sfreq_hz=cfg.sfreq_out_hz, n_fft=N_FFT, hop_length=HOP,
                           fmin_hz=FMIN_HZ, fmax_hz=FMAX_HZ, log=False)  # fmt: skip
    shape = (len(starts), 4, len(stft.freqs_hz), stft.n_frames(cfg.n_times()))
    out = np.lib.format.open_memmap(out_dir / "eeg_spec.npy", "w+", np.float16, shape)
    with torch.inference_mode():
        for s in range(0, len(starts), 256):
            x = torch.from_numpy(np.stack([ready.window(int(t))[:16] for t in starts[s : s + 256]]))
            power = stft(x)  # (B, 16, n_freqs, n_frames)
            chain = power.reshape(len(x), 4, 4, *power.shape[-2:]).mean(dim=2)
            out[s : s + len(x)] = torch.log10(chain + 1e-10).numpy()
    out.flush()
    return len(starts)


def prepare_preset(data_dir: Path, out_dir: Path, filter_method: str | None) -> dict:
    """``iiic prepare --eeg-only --preset eeg1d_cpu`` (``filter_method`` overridden unless None);
    returns the MB written: raw cache (``eeg.npy``) and model-ready set."""
    from iiic.data.cache import build_cache
    from iiic.train.config import load_config
    from iiic.train.ready import build_ready

    cfg = load_config("eeg1d_cpu").preprocess
    if filter_method is not None:
        cfg = cfg.model_copy(update={"filter_method": filter_method})
    cache = build_cache(data_dir, out_dir, workers=1, eeg_only=True, progress=False)
    ready = build_ready(cache, cfg, workers=1, progress=False)
    return {"raw_mb": (cache / "eeg.npy").stat().st_size / 1e6,
            "ready_mb": sum(f.stat().st_size for f in ready.iterdir()) / 1e6}  # fmt: skip


# --- subprocess jobs ------------------------------------------------------------------------
def _preload(what: str) -> None:
    """Import before the clock starts what each job imports lazily (timed: the work only)."""
    import pandas  # noqa: F401
    import polars  # noqa: F401
    import pyarrow as pa
    import pyarrow.parquet
    import scipy.signal  # noqa: F401

    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    if what in ("pyarrow", "polars", "baseline"):
        return
    import sklearn.model_selection  # noqa: F401

    if what.startswith(("iiic", "prepare_eeg1d")):
        import torch

        torch.set_num_threads(1)
    if what.startswith("prepare_eeg1d"):
        import iiic.data.cache
        import iiic.train.ready  # noqa: F401
        from iiic.train.config import load_config

        load_config("eeg1d_cpu")  # imports the model registry (timm): not per-EEG-hour work


def _job(args: dict) -> dict:
    """Run one job in this (fresh) process; returns wall s, CPU s, peak RSS MiB and the number of
    modules the timed part still imported (0: imports are not in the figures)."""
    _preload(args["what"])
    data, out, what = Path(args["data"]), Path(args["out"]), args["what"]
    files = args.get("files", [])
    sizes: dict = {}
    modules = set(sys.modules)
    t0, c0 = time.perf_counter(), _cpu_s()
    windows = None
    if what == "pyarrow":
        import pyarrow.parquet as pq

        for f in files:
            pq.read_table(f)
    elif what == "polars":
        import polars as pl

        for f in files:
            pl.read_parquet(f)
    elif what == "prepare_raw":
        from iiic.data.cache import build_cache

        build_cache(data, out, workers=1, progress=False)
    elif what == "baseline":
        out.mkdir(parents=True)
        windows = public_style_pipeline(data, out)
    elif what.startswith("prepare_eeg1d"):
        sizes = prepare_preset(data, out, "fft" if what.endswith("_fft") else None)
    else:
        out.mkdir(parents=True)
        windows = iiic_pipeline(data, out, "fft" if what == "iiic" else "iir")
    wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
    if what.startswith("prepare_eeg1d"):
        windows = sizes  # sizes measured after the clock stopped
    peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF,
               resource.RUSAGE_CHILDREN)) / 1024  # fmt: skip
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mib": peak, "windows": windows,
            "modules_imported_while_timed": len(set(sys.modules) - modules)}  # fmt: skip


def _cpu_s() -> float:
    self, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return self.ru_utime + self.ru_stime + kids.ru_utime + kids.ru_stime


def _child(job: dict, src: Path | None = None) -> dict:
    env = {**os.environ, **ONE_THREAD, **({"PYTHONPATH": str(src)} if src else {})}
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(job)], env=env,
                          capture_output=True, text=True)  # fmt: skip
    if proc.returncode:
        raise RuntimeError(f"job {job['what']} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- outputs compared -----------------------------------------------------------------------
def compare_outputs(baseline_dir: Path, iiic_dir: Path, n_rows: int = 200) -> dict:
    """Largest |baseline - iiic| of the EEG (central 40 s / whole window, relative to the largest
    baseline value) and of the log10 spectrograms in the central 30 s (after the constant offset
    of scipy's ``1/sum(window)`` scaling), over bins within ``SPEC_RANGE_LOG10`` of the chain's
    peak: below that the float16 rounding of the stored EEG (iiic's spectrograms are computed
    from it) sets the floor."""
    from iiic.data.cache import Cache
    from iiic.train.ready import ReadyInputs

    cache = Cache.open(iiic_dir / "cache")
    ready_dir = next((iiic_dir / "cache" / "ready").iterdir())
    ready = ReadyInputs(ready_dir, json.loads((ready_dir / "ready.json").read_text()))
    spec = np.load(iiic_dir / "eeg_spec.npy", mmap_mode="r")
    starts = np.load(iiic_dir / "spec_starts.npy")
    rows = cache.rows.iloc[
        np.linspace(0, len(cache.rows) - 1, min(n_rows, len(cache.rows))).astype(int)
    ]
    offset = 2 * np.log10(np.hanning(N_FFT + 1)[:-1].sum())  # scipy divides the STFT by sum(win)
    eeg_mid, eeg_all, spec_mid = 0.0, 0.0, 0.0
    middle = slice(WINDOW // DECIMATE // 5, 4 * WINDOW // DECIMATE // 5)  # 10-40 s
    for _, row in rows.iterrows():
        name = f"{row['eeg_id']}_{row['eeg_sub_id']}"
        base = np.load(baseline_dir / f"{name}_eeg.npy").astype(np.float32)
        got = ready.window(int(row["eeg_start"]))
        scale = np.abs(base).max()
        eeg_mid = max(eeg_mid, float(np.abs(got - base)[:, middle].max() / scale))
        eeg_all = max(eeg_all, float(np.abs(got - base).max() / scale))
        s_base = np.load(baseline_dir / f"{name}_spec.npy").astype(np.float32) + offset
        s_iiic = spec[int(np.searchsorted(starts, row["eeg_start"]))].astype(np.float32)
        frames = slice(s_base.shape[-1] // 5, 4 * s_base.shape[-1] // 5)
        strong = s_base >= s_base.max(axis=(1, 2), keepdims=True) - SPEC_RANGE_LOG10
        d = np.abs(s_iiic - s_base)[..., frames][strong[..., frames]]
        spec_mid = max(spec_mid, float(d.max()))
    return {"rows_compared": len(rows), "eeg_max_rel_diff_central_40s": eeg_mid,
            "eeg_max_rel_diff_whole_window": eeg_all,
            f"spec_max_abs_log10_diff_central_within_{10 * SPEC_RANGE_LOG10:g}_db": spec_mid}  # fmt: skip


def _twin(root: Path, patients: int) -> Path:
    from iiic.synth.twin import generate_twin

    return generate_twin(root / "twin", n_patients=patients, seed=0, workers=1)


def _sizes(data: Path) -> dict:
    import pandas as pd
    import pyarrow.parquet as pq

    eegs = sorted((data / "train_eegs").glob("*.parquet"))
    specs = sorted((data / "train_spectrograms").glob("*.parquet"))
    samples = sum(pq.read_metadata(f).num_rows for f in eegs)
    rows = pd.read_csv(data / "train.csv")
    return {"n_files": len(eegs) + len(specs), "n_eeg_files": len(eegs),
            "n_spectrogram_files": len(specs), "eeg_hours": samples / SFREQ_HZ / 3600,
            "n_rows": len(rows), "window_hours": len(rows) * WINDOW / SFREQ_HZ / 3600,
            "files": [str(f) for f in eegs + specs]}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, help="Kaggle-layout directory (default: a twin)")
    ap.add_argument("--patients", type=int, default=30, help="patients of the default twin")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved runs of each job (median)")
    ap.add_argument("--quick", action="store_true", help="6-patient twin, 1 run (about a minute)")
    ap.add_argument("--jobs", default=",".join(JOBS), help="comma-separated subset of the jobs")
    ap.add_argument(
        "--before-src",
        type=Path,
        help="iiic source tree (the src/ directory) of "
        "the previous version: its prepare_eeg1d job runs beside the others",
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_job(json.loads(args.child))))
        return
    if args.quick:
        args.patients, args.repeats = 6, 1
    if set(args.jobs.split(",")) != set(JOBS):
        args.quick = True  # a partial run never overwrites prepare.json
    with tempfile.TemporaryDirectory(prefix="iiic_prepare_bench_") as tmp_name:
        tmp = Path(tmp_name)
        data = args.data or _twin(tmp, args.patients)
        sizes = _sizes(data)
        jobs = [j for j in JOBS if j in args.jobs.split(",")]
        if args.before_src:
            jobs.append("prepare_eeg1d_before")
        load = {"before": os.getloadavg()[0]}
        runs: dict[str, list[dict]] = {j: [] for j in jobs}
        for rep in range(args.repeats):  # interleaved: the machine is shared
            for what in jobs:
                out = tmp / what
                shutil.rmtree(out, ignore_errors=True)
                job = {"what": what, "data": str(data), "out": str(out),
                       "files": sizes["files"] if what in ("pyarrow", "polars") else []}  # fmt: skip
                src = args.before_src.resolve() if what.endswith("_before") else None
                runs[what].append(_child({**job, "what": what.removesuffix("_before")}, src))
                print(f"run {rep + 1}/{args.repeats} {what:<12} {runs[what][-1]['wall_s']:7.2f} s "
                      f"wall, {runs[what][-1]['cpu_s']:7.2f} s CPU", flush=True)  # fmt: skip
        load["after"] = os.getloadavg()[0]
        diff = {m: compare_outputs(tmp / "baseline", tmp / m) for m in ("iiic", "iiic_iir")
                if "baseline" in jobs and m in jobs}  # fmt: skip
    report(runs, sizes, diff, load, args)


def _median(runs: list[dict], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def per_eeg_hour(runs: dict, med: dict, eeg_hours: float) -> dict:
    """CPU-s and MB per EEG-hour of ``prepare --eeg-only --preset eeg1d_cpu`` (and its variants),
    and the full-scale storage estimate (raw + model-ready for :data:`REAL_EEG_HOURS`)."""
    out: dict = {}
    for job, key in (("prepare_eeg1d", ""), ("prepare_eeg1d_fft", "_fft"),
                     ("prepare_eeg1d_before", "_before")):  # fmt: skip
        if job not in runs:
            continue
        mb = runs[job][0]["windows"]  # the MB written (the same in every run)
        out[f"cpu_s_per_eeg_hour{key}"] = med[job]["cpu_s"] / eeg_hours
        out[f"ready_mb_per_eeg_hour{key}"] = mb["ready_mb"] / eeg_hours
        out[f"raw_mb_per_eeg_hour{key}"] = mb["raw_mb"] / eeg_hours
        out[f"full_scale_gb{key}"] = (
            (mb["raw_mb"] + mb["ready_mb"]) / eeg_hours * REAL_EEG_HOURS / 1e3
        )
    out["full_scale_how"] = (f"(raw + model-ready MB per EEG-hour of this run) x {REAL_EEG_HOURS:g} "
                             "EEG-hours of the real train.csv, --eeg-only (no spectrograms)")  # fmt: skip
    return out


def report(runs: dict, sizes: dict, diff: dict, load: dict, args) -> None:
    med = {name: {k: _median(r, k) for k in ("wall_s", "cpu_s", "peak_rss_mib")}
           for name, r in runs.items()}  # fmt: skip
    if not set(JOBS) <= set(runs):  # a partial run: the table only
        for name, m in med.items():
            print(f"{name:<14}{m['wall_s']:>9.2f} s wall{m['cpu_s']:>9.2f} s CPU; load {load}")
        return
    floor_lib = min(("pyarrow", "polars"), key=lambda n: med[n]["wall_s"])
    floor = med[floor_lib]["wall_s"]
    base, fft, iir = med["baseline"], med["iiic"], med["iiic_iir"]
    windows = runs["baseline"][0]["windows"]
    result = {
        "quick": args.quick, "repeats": args.repeats, "statistic": "median of interleaved runs",
        "data": "--data" if args.data else f"standalone twin, {args.patients} patients, seed 0",
        **{k: v for k, v in sizes.items() if k != "files"},
        "windows_processed": windows,
        "read_floor_s": floor, "read_floor_library": floor_lib,
        "read_s": {"pyarrow": med["pyarrow"]["wall_s"], "polars": med["polars"]["wall_s"]},
        "prepare_raw_s": med["prepare_raw"]["wall_s"],
        "ratio_to_read_floor": med["prepare_raw"]["wall_s"] / floor,
        "prepare_raw_peak_rss_mib": med["prepare_raw"]["peak_rss_mib"],
        "baseline_s": base["wall_s"], "baseline_cpu_s": base["cpu_s"],
        "iiic_s": fft["wall_s"], "iiic_cpu_s": fft["cpu_s"],
        "iiic_iir_s": iir["wall_s"], "iiic_iir_cpu_s": iir["cpu_s"],
        "speedup_per_core": base["cpu_s"] / fft["cpu_s"],
        "speedup_wall": base["wall_s"] / fft["wall_s"],
        "speedup_per_core_iir": base["cpu_s"] / iir["cpu_s"],
        "baseline_ms_per_window": 1e3 * base["cpu_s"] / windows,
        "iiic_ms_per_window": 1e3 * fft["cpu_s"] / windows,
        **per_eeg_hour(runs, med, sizes["eeg_hours"]),
        "outputs_compared": diff, "runs": runs, "medians": med,
        "equal_work": "per labelled window: 16 chains + Fz-Cz, Cz-Pz, EKG; Butterworth 0.5-20 Hz "
                      "zero-phase; clip ±1024 µV / 32; decimate 4 (50 Hz); log STFT per chain "
                      "(Hann 1.28 s, hop 0.2 s, 0.78-19.5 Hz); float16",
        "threads": "1 process, 1 thread per job", "load_avg_1min": load,
        "machine": machine_info(),
    }  # fmt: skip
    print(f"\n{sizes['n_files']} files ({sizes['n_eeg_files']} EEG, {sizes['eeg_hours']:.2f} "
          f"EEG-h), {windows} windows ({sizes['window_hours']:.1f} h); load {load}")  # fmt: skip
    print(f"{'job':<14}{'wall s':>9}{'CPU s':>9}{'peak MiB':>10}")
    for name, m in med.items():
        print(f"{name:<14}{m['wall_s']:>9.2f}{m['cpu_s']:>9.2f}{m['peak_rss_mib']:>10.0f}")
    print(f"prepare (raw) / read floor ({floor_lib}): {result['ratio_to_read_floor']:.2f}x")
    print(f"equal work, per core: iiic {result['speedup_per_core']:.2f}x faster than the baseline "
          f"(iir filters: {result['speedup_per_core_iir']:.2f}x); outputs: {diff}")  # fmt: skip
    for k, v in result.items():
        if "per_eeg_hour" in k or k.startswith("full_scale_gb"):
            print(f"{k:<34}{v:9.3f}")
    write_json_atomic(RESULTS.with_name("prepare_quick.json") if args.quick else RESULTS, result)


def readme_rows(load) -> dict:
    """Result rows (speed) of prepare.json: raw mode vs the read floor, equal work vs a
    public-style pipeline, per EEG-hour. ``load`` and the rows as in ``readme_table``."""
    prep, rows = load("prepare"), []
    if prep and "ratio_to_read_floor" in prep:
        lavg = f"1-min load {prep['load_avg_1min']['before']:.1f}"
        how = (f"`benchmarks/prepare.py`: {prep['n_files']} files of a twin ({prep['eeg_hours']:.1f} "
               f"EEG-h), one core per job, median of {prep['repeats']} interleaved runs; {lavg}")  # fmt: skip
        rows.append(("`iiic prepare` raw mode (float16 cache, EEG + spectrograms)",
                     f"{prep['ratio_to_read_floor']:.2f}× the fastest plain read",
                     f"read floor: {prep['read_floor_library']} {prep['read_floor_s']:.1f} s (pyarrow "
                     f"{prep['read_s']['pyarrow']:.1f} s), prepare {prep['prepare_raw_s']:.1f} s; "
                     "goal ≤ 1.3×", how))  # fmt: skip
        diff = prep["outputs_compared"]["iiic"]
        rows.append((f"public pipelines' preprocessing, equal work ({prep['windows_processed']} "
                     "windows: 19-ch montage, 0.5-20 Hz zero-phase, ÷4, log STFT per chain, float16)",
                     f"{prep['speedup_per_core']:.2f}× faster per core",
                     f"plain pandas/scipy baseline {prep['baseline_ms_per_window']:.1f} ms/window, iiic "
                     f"{prep['iiic_ms_per_window']:.1f} (CPU); with scipy's filters "
                     f"{prep['speedup_per_core_iir']:.2f}×; goal ≥ 3×",
                     how + f"; iiic = `prepare --eeg-only --preset` (filter_method fft) + STFT; "
                     f"outputs equal to {diff['eeg_max_rel_diff_central_40s']:.1e} in the central 40 s"))  # fmt: skip
    if prep and "cpu_s_per_eeg_hour" in prep:
        before = (f"; per-row inputs before: {prep['cpu_s_per_eeg_hour_before']:.2f} CPU-s, "
                  f"{prep['ready_mb_per_eeg_hour_before']:.1f} MB, {prep['full_scale_gb_before']:.1f} GB"
                  if "cpu_s_per_eeg_hour_before" in prep else "")  # fmt: skip
        rows.append(("`iiic prepare --eeg-only --preset eeg1d_cpu` per EEG-hour (raw cache + "
                     "model-ready inputs per recording)",
                     f"{prep['cpu_s_per_eeg_hour']:.2f} CPU-s, {prep['ready_mb_per_eeg_hour']:.1f} MB "
                     "model-ready",
                     f"filter_method fft: {prep['cpu_s_per_eeg_hour_fft']:.2f} CPU-s{before}; full scale "
                     f"(379 EEG-h) raw + model-ready ≈ {prep['full_scale_gb']:.1f} GB; goals ≤ 0.75 "
                     "CPU-s, ≤ 6 MB, ≤ 14 GB", how))  # fmt: skip
    return {"speed": rows}


if __name__ == "__main__":
    main()
