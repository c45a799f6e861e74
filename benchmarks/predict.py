"""Inference speed: windows/s and latency per 50-s window, torch vs onnxruntime, same run.

One run directory is built (``iiic.train.checkpoint`` layout, random weights: speed does not
depend on the values) and exported to ONNX; then, on the same random referential windows
(20 × 10,000 float32 µV), in one process:

- ``preprocess only``: :func:`iiic.signal.preprocess` (the shared part of both backends; the floor);
- ``torch``: ``Predictor(backend="torch")`` end to end (preprocess → every fold → softmax → mean);
- ``onnxruntime``: ``Predictor(backend="onnx")`` end to end (CPUExecutionProvider).

Latency = median wall time of one window (batch 1); throughput = windows/s at ``--batch-size``
(and windows per CPU-second, robust to other processes sharing the cores; the load average is
recorded).
Both backends get the same thread count (``--threads``, default 2 = the 2-core target machine).
Prints a table and writes benchmarks/results/predict.json (``predict_<preset>.json`` with
``--config``). ``--quick`` finishes in < 60 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from iiic import constants
from iiic.predict.onnx import export_run
from iiic.predict.predictor import Predictor
from iiic.signal.preprocess import preprocess
from iiic.train.checkpoint import build_model, save_config, save_fold_model
from iiic.train.config import TrainConfig, load_config
from iiic.utils import machine_info, write_json_atomic

RESULTS = Path(__file__).resolve().parent / "results" / "predict.json"


def make_run(run_dir: Path, model: str, n_folds: int, config: Path | None = None) -> TrainConfig:
    """A run directory with ``n_folds`` randomly initialised fold models (``config``: a preset)."""
    if config is not None:
        cfg = load_config(config, n_folds=max(n_folds, 2))
    else:
        cfg = TrainConfig(model=model, n_folds=max(n_folds, 2))
    save_config(run_dir, cfg)
    for k in range(n_folds):
        torch.manual_seed(k)
        save_fold_model(run_dir / f"fold_{k}", build_model(cfg), k, {})
    uniform = [1.0 / constants.N_CLASSES] * constants.N_CLASSES
    write_json_atomic(run_dir / "class_prior.json", uniform)
    return cfg


def _windows(n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    shape = (n, len(constants.EEG_CHANNELS), constants.EEG_WINDOW_SAMPLES)
    return rng.normal(0.0, 40.0, shape).astype(np.float32)


def _time(fn, x: np.ndarray, batch: int, repeats: int) -> dict:
    """Median latency of one window (s) and throughput (windows/s) at ``batch``."""
    fn(x[:batch])  # warm-up of both shapes (allocations, oneDNN/ORT kernel selection)
    fn(x[:1])
    lat = []
    for i in range(repeats):
        start = time.perf_counter()
        fn(x[i : i + 1])
        lat.append(time.perf_counter() - start)
    start, cpu_start = time.perf_counter(), time.process_time()
    for s in range(0, len(x), batch):
        fn(x[s : s + batch])
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {
        "latency_ms": 1e3 * statistics.median(lat),
        "windows_per_s": len(x) / wall,
        "windows_per_cpu_s": len(x) / cpu,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer windows and folds (< 60 s)")
    ap.add_argument("--model", default="eeg1d", help="registered model name (default eeg1d)")
    ap.add_argument(
        "--config", type=Path, help="TrainConfig file or preset name (eeg1d_cpu, …) instead"
    )
    ap.add_argument("--threads", type=int, default=2, help="CPU threads per backend")
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()
    n_windows, n_folds, repeats = (16, 2, 3) if args.quick else (128, 5, 20)
    torch.set_num_threads(args.threads)
    x = _windows(n_windows)
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / f"{args.model}_bench"
        cfg = make_run(run_dir, args.model, n_folds, args.config)
        export_start = time.perf_counter()
        export_run(run_dir)
        export_s = time.perf_counter() - export_start
        rows["preprocess only"] = _time(
            lambda b: preprocess(b, cfg.preprocess), x, args.batch_size, repeats
        )
        for backend in ("torch", "onnx"):
            pred = Predictor.from_runs([run_dir], backend=backend, device="cpu",
                                       batch_size=args.batch_size, onnx_threads=args.threads)  # fmt: skip
            rows["torch" if backend == "torch" else "onnxruntime"] = _time(
                pred.predict, x, args.batch_size, repeats
            )
        agree = np.abs(
            Predictor.from_runs([run_dir], device="cpu").predict(x[:4])
            - Predictor.from_runs([run_dir], backend="onnx", device="cpu").predict(x[:4])
        ).max()
    print(f"{cfg.model}, {n_folds} fold models per window, {args.threads} threads, "
          f"batch {args.batch_size}, {n_windows} windows")  # fmt: skip
    print(f"{'path':<18}{'latency / window (ms)':>24}{'windows / s':>14}{'windows / CPU-s':>18}")
    for name, r in rows.items():
        print(f"{name:<18}{r['latency_ms']:>24.1f}{r['windows_per_s']:>14.1f}"
              f"{r['windows_per_cpu_s']:>18.1f}")  # fmt: skip
    speedup = rows["onnxruntime"]["windows_per_s"] / rows["torch"]["windows_per_s"]
    print(f"onnxruntime / torch throughput: {speedup:.2f}x; max |p_torch - p_onnx| = {agree:.2e}; "
          f"export {export_s:.2f} s")  # fmt: skip
    out = RESULTS if args.config is None else RESULTS.with_name(f"predict_{args.config.stem}.json")
    write_json_atomic(out, {
        "benchmark": "predict", "quick": args.quick, "model": cfg.model, "config": None if args.config is None else str(args.config), "n_folds": n_folds,
        "threads": args.threads, "batch_size": args.batch_size, "n_windows": n_windows,
        "results": rows, "onnx_speedup": speedup, "max_abs_diff": float(agree),
        "export_s": export_s, "load_average_1min": os.getloadavg()[0], "machine": machine_info(),
    })  # fmt: skip


if __name__ == "__main__":
    main()
