"""Whole-recording analysis speed: a synthetic 24-h EDF through ``iiic analyze``, stage by stage.

A synthetic recording with pattern episodes (:mod:`iiic.synth.recording`) is written as EDF+,
then analysed as ``iiic analyze`` does, with the CPU 1-D model preset (preset eeg1d_cpu,
randomly initialised folds: speed does not depend on the weights), on ``--threads`` cores
(default 2, the target machine). Stages, timed separately:

- ``read_resample``: :func:`iiic.clinical.edf.read_recording` (EDF → 20 × n float32 µV, 200 Hz);
- ``spectrogram``: the Kaggle-style four-chain spectrogram of the whole recording;
- ``filter``: :func:`iiic.signal.preprocess.preprocess_recording` (montage, band-pass, clip,
  decimation of the whole recording, once);
- ``inference``: all windows (10-s stride) through the fold models, torch and ONNX Runtime;
- the same end to end with the ``--folds``-fold ensemble (``onnx_5fold_fast_path_s``), next to
  the floor (``floor_read_resample_s``: decoding and resampling the EDF alone);
- ``tables`` and ``figures_report``: timeline/summary files, IIIC-gram, EEG pages, HTML.

Baselines, same run, on the first ``--baseline-hours`` of the recording, reported per hour and
scaled to the whole length, with the largest difference of their probabilities from the fast
path: exact ``analyze`` (the runs' own filters on the recording, torch and ONNX), fast with
torch, and each 50-s window preprocessed on its own (``Predictor.predict``, as ``analyze``
did before issue 25: every sample filtered five times at the 10-s stride). ``--quick`` analyses 1 h (< 60 s). Writes benchmarks/results/analyze.json
(analyze_quick.json with ``--quick``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from iiic.clinical.edf import Recording, read_recording
from iiic.clinical.pipeline import AnalyzeConfig, analyze_file
from iiic.clinical.scoring import WindowScorer, scorer_for
from iiic.clinical.timeline import analyze_recording
from iiic.constants import SFREQ_HZ
from iiic.utils import machine_info, write_json_atomic
from readme_table import Load, Rows, get, num

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "analyze.json"
PRESET = "eeg1d_cpu"
SECONDS_PER_HOUR = 3600.0


def make_run(run_dir: Path, n_folds: int) -> Path:
    """A run directory of the eeg1d CPU preset with ``n_folds`` random fold models + ONNX files."""
    from iiic.predict.onnx import export_run
    from iiic.runs.rundir import save_config, save_fold_model
    from iiic.train.config import TrainConfig, build_model, resolve_config

    preset = yaml.safe_load(resolve_config(PRESET).read_text())
    cfg = TrainConfig(
        model=preset["model"], model_options=preset["model_options"],
        preprocess=preset["preprocess"], n_folds=max(2, n_folds),
    )  # fmt: skip
    save_config(run_dir, cfg)
    for k in range(n_folds):
        torch.manual_seed(k)
        save_fold_model(run_dir / f"fold_{k}", build_model(cfg), k, {})
    write_json_atomic(run_dir / "class_prior.json", [1 / 6] * 6)
    export_run(run_dir)
    return run_dir


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def _baseline(head: Recording, predictor, fast_probs: np.ndarray, *, mode: str) -> dict:
    """Score ``head`` (the start of the recording) ``fast``, ``exact`` or with each window
    preprocessed ``alone``: seconds per hour, max |Δp| vs the fast path."""
    start = time.perf_counter()
    scorer = (WindowScorer(predictor.predict) if mode == "alone"
              else scorer_for(predictor, fast=mode == "fast", prior="training"))  # fmt: skip
    probs = analyze_recording(head, scorer, batch_size=64).probabilities
    wall = time.perf_counter() - start
    hours = head.duration_s / SECONDS_PER_HOUR
    diff = np.abs(probs - fast_probs[: len(probs)])
    return {
        "windows": len(probs),
        "seconds": wall,
        "seconds_per_hour": wall / hours,
        "max_abs_prob_diff_vs_onnx_fast": float(diff.max()),
        "top_class_agreement": float(
            (probs.argmax(axis=1) == fast_probs[: len(probs)].argmax(axis=1)).mean()
        ),
    }


def _inference_only(recording: Recording, predictor, threads: int) -> float:
    """Seconds to score every window with the fast path (filter + models), no outputs."""
    start = time.perf_counter()
    analyze_recording(recording, scorer_for(predictor, fast=True, prior="training"))
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=24.0, help="recording length (default 24)")
    ap.add_argument("--quick", action="store_true", help="1 h recording (< 60 s)")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads (torch, ORT, FFT)")
    ap.add_argument("--folds", type=int, default=5, help="folds of the ensemble run (preset: 5)")
    ap.add_argument("--baseline-hours", type=float, default=1.0, help="baselines on this much")
    args = ap.parse_args()
    hours = 1.0 if args.quick else args.hours
    base_hours = 0.05 if args.quick else args.baseline_hours
    torch.set_num_threads(args.threads)
    from iiic.predict.predictor import Predictor
    from iiic.synth.recording import write_recording

    load = {"before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (edf, episodes), synth_s = _timed(write_recording, tmp / "synthetic.edf", hours, seed=7)
        one = make_run(tmp / "eeg1d_cpu_1fold", 1)
        recording, read_s = _timed(read_recording, edf)
        cfg = AnalyzeConfig(fft_workers=args.threads, batch_size=64)
        # one fold model of a 2-fold config: a deliberate single-fold measurement
        onnx = Predictor.from_runs([one], backend="onnx", device="cpu", onnx_threads=args.threads,
                                   allow_partial=True)  # fmt: skip
        fast = scorer_for(onnx, fast=True, prior="training")
        res, wall = _timed(analyze_file, recording, fast, tmp / "out", config=cfg)
        stages = {
            "read_resample": read_s,
            **{k.removesuffix("_s"): v for k, v in res.timings_s.items() if k != "read_resample_s"},
        }
        stages["end_to_end"] = wall + read_s
        print("onnx, 1 fold: " + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items()))
        fast_probs = res.timeline.probabilities
        n = min(recording.data.shape[1], round(base_hours * SECONDS_PER_HOUR * SFREQ_HZ))
        head = Recording(data=recording.data[:, :n], start=recording.start)
        torch_pred = Predictor.from_runs([one], backend="torch", device="cpu", allow_partial=True)
        baselines = {
            "torch_fast": _baseline(head, torch_pred, fast_probs, mode="fast"),
            "torch_exact": _baseline(head, torch_pred, fast_probs, mode="exact"),
            "onnx_exact": _baseline(head, onnx, fast_probs, mode="exact"),
            "torch_each_window_alone": _baseline(head, torch_pred, fast_probs, mode="alone"),
        }
        ens = make_run(tmp / "eeg1d_cpu_ensemble", args.folds)
        ens_onnx = Predictor.from_runs(
            [ens], backend="onnx", device="cpu", onnx_threads=args.threads
        )
        ensemble_s = _inference_only(recording, ens_onnx, args.threads)
        print(f"onnx, {args.folds} folds: filter + inference {ensemble_s:.1f} s")
        ens_fast = scorer_for(ens_onnx, fast=True, prior="training")
        ens_res, ens_wall = _timed(analyze_file, recording, ens_fast, tmp / "out_ens", config=cfg)
        ens_stages = {"read_resample": read_s,
                      **{k.removesuffix("_s"): v for k, v in ens_res.timings_s.items()
                         if k != "read_resample_s"}, "end_to_end": ens_wall + read_s}  # fmt: skip
        print(
            f"onnx, {args.folds} folds: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in ens_stages.items())
        )
        n_windows = len(fast_probs)
    load["after"] = os.getloadavg()[0]
    for b in baselines.values():
        b["scaled_to_recording_s"] = b["seconds_per_hour"] * hours
    _print_table(hours, n_windows, stages, args.folds, ensemble_s, baselines)
    out = RESULTS.with_name("analyze_quick.json") if args.quick else RESULTS
    write_json_atomic(
        out,
        {
            "benchmark": "analyze",
            "quick": args.quick,
            "hours": hours,
            "windows": n_windows,
            "episodes": len(episodes),
            "model": "eeg1d (preset eeg1d_cpu), random weights",
            "threads": args.threads,
            "synth_write_s": synth_s,
            "onnx_1fold_fast_path_s": stages,
            f"onnx_{args.folds}fold_filter_inference_s": ensemble_s,
            f"onnx_{args.folds}fold_fast_path_s": ens_stages,
            "floor_read_resample_s": read_s,
            "goal_5fold_end_to_end_s": 15.0,
            "load_avg_1min": load,
            "baselines_on_first_hours": base_hours,
            "baselines": baselines,
            "machine": machine_info(),
        },
    )
    print(f"wrote {out}")


def _print_table(hours, n_windows, stages, folds, ensemble_s, baselines) -> None:
    print(f"\n{hours:g} h recording, {n_windows} windows; fast path, ONNX, 1 fold")
    for stage, seconds in stages.items():
        print(f"  {stage:<16}{seconds:>8.1f} s")
    print(f"  ONNX {folds}-fold ensemble, filter + inference: {ensemble_s:.1f} s")
    print("baselines (measured on the first part, scaled to the recording):")
    for name, b in baselines.items():
        print(
            f"  {name:<12}{b['seconds_per_hour']:>8.1f} s/h → {b['scaled_to_recording_s']:>7.0f} s;"
            f" max |Δp| vs ONNX fast {b['max_abs_prob_diff_vs_onnx_fast']:.2g}"
        )


def readme_rows(load: Load) -> Rows:
    """Result rows of analyze.json: ``analyze --fast`` of a 24-h EDF, 1 fold and 5 folds."""
    an = load("analyze")
    if not an:
        return {}
    rows = [(f"`iiic analyze --fast`, {an['hours']:.0f}-h EDF, 1 fold ONNX",
             f"{get(an, 'onnx_1fold_fast_path_s.end_to_end'):.0f} s",
             f"exact path with torch: {get(an, 'baselines.torch_exact.scaled_to_recording_s'):.0f} s "
             "(scaled from 1 h)", f"{an['windows']} windows, {an['threads']} threads")]  # fmt: skip
    five = an.get("onnx_5fold_fast_path_s")
    if five:
        lavg = get(an, "load_avg_1min.before")
        rows.append((f"`iiic analyze --fast`, {an['hours']:.0f}-h EDF, 5-fold ensemble",
                     f"{five['end_to_end']:.0f} s",
                     f"floor (EDF decode + resample alone): {an['floor_read_resample_s']:.0f} s; "
                     f"filter {five['filter']:.0f} s, inference {five['inference']:.0f} s; "
                     f"goal ≤ {an['goal_5fold_end_to_end_s']:.0f} s",
                     f"`benchmarks/analyze.py`, backend ONNX Runtime, {an['threads']} threads; "
                     f"1-min load {num(lavg, '.1f')}"))  # fmt: skip
    return {"speed": rows}


if __name__ == "__main__":
    main()
