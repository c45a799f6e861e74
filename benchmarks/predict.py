"""Inference speed: windows/s and latency per 50-s window, torch vs onnxruntime, same run.

One run directory is built (``iiic.runs.rundir`` layout, random weights: speed does not
depend on the values) and exported to ONNX; then, on the same random referential windows
(20 × 10,000 float32 µV), in one process:

- ``preprocess only``: :func:`iiic.signal.preprocess` (the shared part of both backends; the floor);
- ``torch``: ``Predictor(backend="torch")`` end to end (preprocess → every fold → softmax → mean);
- ``onnxruntime``: ``Predictor(backend="onnx")`` end to end (CPUExecutionProvider).

Latency = median wall time of one window (batch 1); throughput = windows/s at ``--batch-size``
(and windows per CPU-second, robust to other processes sharing the cores; the load average is
recorded).
Both backends get the same thread count (``--threads``, default 2 = the 2-core target machine).

``diagnosis`` (why ONNX Runtime was slower, issue 15): the fold model alone on preprocessed windows,
torch and ONNX Runtime at 1 and 2 threads, ORT with and without spin-waiting and with basic or all
graph optimisations, interleaved (best of 3), plus the share of ORT's time per operator type (its
profiler; the GRU's share) — and the Predictor end to end with ORT's old settings (spinning on).
Prints a table and writes benchmarks/results/predict.json (``predict_<preset>.json`` with
``--config``). ``--quick`` finishes in < 60 s.
"""

from __future__ import annotations

import argparse
import json
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
from iiic.runs.rundir import save_config, save_fold_model
from iiic.signal.preprocess import preprocess
from iiic.train.config import TrainConfig, build_model, load_config
from iiic.utils import machine_info, write_json_atomic
from readme_table import Load, Rows, get, num

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


def _model_rate(fn, n: int, repeats: int = 3) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return n / best


def _spinning_predictor(run_dir: Path, args) -> Predictor:
    """The ONNX predictor with ORT's spin-waiting on (its default; iiic's setting before)."""
    import onnxruntime as ort

    from iiic.predict.onnx import session_options
    from iiic.runs.rundir import ONNX_FILE

    pred = Predictor.from_runs([run_dir], backend="onnx", device="cpu",
                               batch_size=args.batch_size, onnx_threads=args.threads)  # fmt: skip
    for fold_dir, fold in zip(pred.runs[0].fold_dirs, pred.sessions[0], strict=True):
        opts = session_options(args.threads, spinning=True)
        fold.session = ort.InferenceSession(str(fold_dir / ONNX_FILE), opts,
                                            providers=["CPUExecutionProvider"])  # fmt: skip
    return pred


def diagnosis(run_dir: Path, cfg: TrainConfig, x: np.ndarray) -> dict:
    """Windows/s of fold 0 alone (preprocessed input) under each thread / ORT setting, and the
    share of ORT's operator time per operator type."""
    import onnxruntime as ort

    from iiic.predict.onnx import session_options
    from iiic.predict.runs import load_run
    from iiic.runs.rundir import ONNX_FILE

    model = load_run(run_dir).models[0].eval()
    eeg = preprocess(x, cfg.preprocess)
    feed = {"eeg": eeg}
    path = str(run_dir / "fold_0" / ONNX_FILE)
    sessions = {}
    for threads in (1, 2):
        for level in ("basic", "all"):
            for spin in (True, False):
                opts = session_options(threads, spinning=spin)
                if level == "basic":
                    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
                name = f"ort_{threads}_threads_{level}_opt_{'spinning' if spin else 'no_spin'}"
                sessions[name] = ort.InferenceSession(
                    path, opts, providers=["CPUExecutionProvider"]
                )
    rates: dict[str, float] = {}
    with torch.inference_mode():
        for threads in (1, 2):
            torch.set_num_threads(threads)
            rates[f"torch_{threads}_threads"] = _model_rate(
                lambda: model(torch.from_numpy(eeg), None), len(eeg)
            )
            for name, sess in sessions.items():
                if name.startswith(f"ort_{threads}_"):
                    rates[name] = _model_rate(lambda s=sess: s.run(["logits"], feed), len(eeg))
    opts = session_options(1)
    opts.enable_profiling = True
    with tempfile.TemporaryDirectory() as tmp:
        opts.profile_file_prefix = str(Path(tmp) / "ort")
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        for _ in range(3):
            sess.run(["logits"], feed)
        events = json.loads(Path(sess.end_profiling()).read_text())
    per_op: dict[str, float] = {}
    for e in events:
        if e.get("cat") == "Node":
            op = e["args"].get("op_name", "?")
            per_op[op] = per_op.get(op, 0.0) + e["dur"]
    total = sum(per_op.values()) or 1.0
    share = {k: round(v / total, 3) for k, v in sorted(per_op.items(), key=lambda kv: -kv[1])}
    return {"model_windows_per_s": {k: round(v, 1) for k, v in rates.items()},
            "ort_time_share_by_operator": share, "batch": len(eeg)}  # fmt: skip


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
        load = {"before": os.getloadavg()[0]}
        predictors = {
            "torch": Predictor.from_runs([run_dir], backend="torch", device="cpu",
                                         batch_size=args.batch_size),
            "onnxruntime": Predictor.from_runs([run_dir], backend="onnx", device="cpu",
                                               batch_size=args.batch_size, onnx_threads=args.threads),
            "onnxruntime, spinning (old settings)": _spinning_predictor(run_dir, args),
        }  # fmt: skip
        for _ in range(3):  # interleaved rounds, best throughput of each
            for name, pred in predictors.items():
                r = _time(pred.predict, x, args.batch_size, repeats)
                if name not in rows or r["windows_per_s"] > rows[name]["windows_per_s"]:
                    rows[name] = r
        diag = diagnosis(run_dir, cfg, x[: min(len(x), 64)])
        torch.set_num_threads(args.threads)
        load["after"] = os.getloadavg()[0]
        agree = np.abs(
            predictors["torch"].predict(x[:4]) - predictors["onnxruntime"].predict(x[:4])
        ).max()
    print(f"{cfg.model}, {n_folds} fold models per window, {args.threads} threads, "
          f"batch {args.batch_size}, {n_windows} windows")  # fmt: skip
    print(f"{'path':<18}{'latency / window (ms)':>24}{'windows / s':>14}{'windows / CPU-s':>18}")
    for name, r in rows.items():
        print(f"{name:<18}{r['latency_ms']:>24.1f}{r['windows_per_s']:>14.1f}"
              f"{r['windows_per_cpu_s']:>18.1f}")  # fmt: skip
    speedup = rows["onnxruntime"]["windows_per_s"] / rows["torch"]["windows_per_s"]
    print(f"onnxruntime / torch throughput: {speedup:.2f}x; max |p_torch - p_onnx| = {agree:.2e}; "
          f"export {export_s:.2f} s; 1-min load {load}")  # fmt: skip
    print(f"fold model alone, windows/s: {diag['model_windows_per_s']}")
    print(f"ORT time by operator: {diag['ort_time_share_by_operator']}")
    out = RESULTS if args.config is None else RESULTS.with_name(f"predict_{args.config.stem}.json")
    out = out.with_name(out.stem + "_quick.json") if args.quick else out
    write_json_atomic(out, {
        "benchmark": "predict", "quick": args.quick, "model": cfg.model, "config": None if args.config is None else str(args.config), "n_folds": n_folds,
        "threads": args.threads, "batch_size": args.batch_size, "n_windows": n_windows,
        "results": rows, "onnx_speedup": speedup, "max_abs_diff": float(agree),
        "export_s": export_s, "load_avg_1min": load, "diagnosis": diag, "machine": machine_info(),
    })  # fmt: skip


def readme_rows(load: Load) -> Rows:
    """Result row of predict_eeg1d_cpu.json: ONNX Runtime vs torch windows/s."""
    pred = load("predict_eeg1d_cpu")
    if not pred:
        return {}
    res = pred["results"]
    spin = get(res, "onnxruntime, spinning (old settings).windows_per_s")
    gru = get(pred, "diagnosis.ort_time_share_by_operator.GRU")
    return {"speed": [("`iiic predict`, eeg1d_cpu 5 folds, ONNX Runtime (the default on CPU)",
                       f"{get(res, 'onnxruntime.windows_per_s'):.1f} windows/s",
                       f"torch: {get(res, 'torch.windows_per_s'):.1f} windows/s (ONNX Runtime / torch = "
                       f"{pred['onnx_speedup']:.2f}×); ONNX Runtime with spin-waiting (the old setting): "
                       f"{num(spin, '.1f')}",
                       f"`benchmarks/predict.py --config eeg1d_cpu`: {pred['n_windows']} windows, "
                       f"{pred['threads']} threads; GRU {num(gru, '.1%')} of ORT's time; 1-min load "
                       f"{num(get(pred, 'load_avg_1min.before'), '.1f')}")]}  # fmt: skip


if __name__ == "__main__":
    main()
