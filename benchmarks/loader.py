"""Loader-side throughput: windows/s through the signal path, next to a montage-only baseline.

Times, in one run, on the same random 50-s referential windows (20 × 10,000 float32 µV):

- ``montage only (numpy)``: the bipolar matrix product — the floor of any preprocessing;
- ``preprocess``: :func:`iiic.signal.preprocess` with the default config (NaN fill, 18-channel
  montage, 0.5-20 Hz zero-phase Butterworth, clip/scale);
- ``augment + preprocess``: the training path with every window augmentation switched on;
- ``preprocess + mel (torch|conv)``: plus :class:`MelSpectrogram` on the CPU (64 mels,
  n_fft 256), as when the spectrogram is computed in the loader instead of on the GPU.

Per-window rows process one window per call, as ``Dataset.__getitem__`` does, with 1 or 2 worker
processes (like DataLoader ``num_workers``); batched rows process the whole batch in one call with
1 or 2 torch/BLAS threads. Prints a table and writes benchmarks/results/loader.json.
``--quick`` finishes in well under 60 s. The 1-minute load average before and after is recorded:
figures taken while other processes share the cores are lower bounds.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from iiic import constants
from iiic.signal.montage import bipolar, montage_matrix
from iiic.signal.preprocess import PreprocessConfig, preprocess
from iiic.signal.spectrogram import MelSpectrogram
from iiic.train.augment import AugmentConfig, build_augment
from iiic.utils import machine_info, write_json_atomic

RESULTS = Path(__file__).resolve().parent / "results" / "loader.json"
CFG = PreprocessConfig()
AUG = build_augment(
    AugmentConfig(
        p_flip=0.5, p_time_shift=0.5, p_time_reverse=0.5, p_channel_dropout=0.5,
        p_bandpass_jitter=0.5, p_amplitude_scale=0.5,
    )
)  # fmt: skip
MATRIX = montage_matrix(central=True)
_MEL: dict[str, MelSpectrogram] = {}


def _mel(impl: str) -> MelSpectrogram:
    if impl not in _MEL:
        _MEL[impl] = MelSpectrogram(sfreq_hz=constants.SFREQ_HZ, stft_impl=impl).eval()
    return _MEL[impl]


def _windows(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (n, len(constants.EEG_CHANNELS), constants.EEG_WINDOW_SAMPLES)
    return rng.normal(0.0, 40.0, shape).astype(np.float32)


# --- per-window steps (what Dataset.__getitem__ does) ----------------------------------------


def step_montage(x: np.ndarray, _i: int) -> np.ndarray:
    return bipolar(x, MATRIX)


def step_preprocess(x: np.ndarray, _i: int) -> np.ndarray:
    return preprocess(x, CFG)


def step_augment_preprocess(x: np.ndarray, i: int) -> np.ndarray:
    return preprocess(AUG(x, np.random.default_rng(i)), CFG)


def step_preprocess_mel(x: np.ndarray, _i: int, impl: str = "torch") -> np.ndarray:
    with torch.inference_mode():
        return _mel(impl)(torch.from_numpy(preprocess(x, CFG))[None]).numpy()


def step_preprocess_mel_conv(x: np.ndarray, i: int) -> np.ndarray:
    return step_preprocess_mel(x, i, "conv")


STEPS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "montage only (numpy)": step_montage,
    "preprocess": step_preprocess,
    "augment + preprocess": step_augment_preprocess,
    "preprocess + mel (torch.stft)": step_preprocess_mel,
    "preprocess + mel (conv)": step_preprocess_mel_conv,
}


_DATA: np.ndarray = np.empty(0, dtype=np.float32)  # set before forking: workers share it


def _worker_init() -> None:
    torch.set_num_threads(1)


def _run_chunk(args: tuple[str, int, int]) -> int:
    name, start, count = args
    for i in range(start, start + count):
        STEPS[name](_DATA[i], i)
    return count


def per_window_rate(
    name: str, data: np.ndarray, workers: int, repeats: int = 2, clock=time.perf_counter
) -> float:
    """Best windows/s of ``STEPS[name]`` applied one window at a time by ``workers`` processes.

    With one worker, ``clock=time.process_time`` gives windows per CPU-second: a figure that
    other processes sharing the cores disturb much less than wall time.
    """
    global _DATA
    _DATA = data
    n = len(data) // workers * workers
    chunks = [(name, k * (n // workers), n // workers) for k in range(workers)]
    best = float("inf")
    if workers == 1:
        _run_chunk((name, 0, 1))  # warm-up (filter design, torch kernels)
        for _ in range(repeats):
            start = clock()
            _run_chunk(chunks[0])
            best = min(best, clock() - start)
        return n / best
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init) as pool:
        list(pool.map(_run_chunk, [(name, k, 1) for k in range(workers)]))  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            done = sum(pool.map(_run_chunk, chunks))
            best = min(best, time.perf_counter() - start)
    return done / best


def batched_rate(name: str, batch: np.ndarray, threads: int) -> float:
    """Windows/s of one batched call with ``threads`` torch threads."""
    torch.set_num_threads(threads)
    fns = {
        "montage only (numpy)": lambda b: bipolar(b, MATRIX),
        "preprocess": lambda b: preprocess(b, CFG),
        "preprocess + mel (torch.stft)": lambda b: _mel("torch")(
            torch.from_numpy(preprocess(b, CFG))
        ),
        "preprocess + mel (conv)": lambda b: _mel("conv")(torch.from_numpy(preprocess(b, CFG))),
        "mel only (torch.stft)": lambda b: _mel("torch")(torch.from_numpy(bipolar(b, MATRIX))),
        "mel only (conv)": lambda b: _mel("conv")(torch.from_numpy(bipolar(b, MATRIX))),
    }
    fn = fns[name]
    with torch.inference_mode():
        fn(batch[:2])
        best = float("inf")
        for _ in range(2):
            start = time.perf_counter()
            fn(batch)
            best = min(best, time.perf_counter() - start)
    torch.set_num_threads(1)
    return len(batch) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (< 60 s)")
    parser.add_argument("--windows", type=int, default=None, help="windows per measurement")
    args = parser.parse_args()
    n = args.windows or (48 if args.quick else 256)
    torch.set_num_threads(1)
    load_before = os.getloadavg()[0]
    workers = (1, 2) if (os.cpu_count() or 1) >= 2 else (1,)
    data = _windows(n)
    per_window = {
        name: {f"{w}_workers": round(per_window_rate(name, data, w), 1) for w in workers}
        for name in STEPS
    }
    for name in STEPS:
        cpu_rate = per_window_rate(name, data, 1, clock=time.process_time)
        per_window[name]["1_worker_per_cpu_s"] = round(cpu_rate, 1)
    batch = _windows(min(n, 64))
    batched = {
        name: {f"{t}_threads": round(batched_rate(name, batch, t), 1) for t in workers}
        for name in (
            "montage only (numpy)", "preprocess", "preprocess + mel (torch.stft)",
            "preprocess + mel (conv)", "mel only (torch.stft)", "mel only (conv)",
        )
    }  # fmt: skip
    base = per_window["montage only (numpy)"]["1_workers"]
    print(f"windows/s, {n} windows of 20 x {constants.EEG_WINDOW_SAMPLES} float32 µV")
    print(
        f"{'per window (Dataset.__getitem__)':34s}"
        + "".join(f"{w:>12d} worker" for w in workers)
        + f"{'1 worker/CPU-s':>19s}"
    )
    for name, rates in per_window.items():
        print(f"{name:34s}" + "".join(f"{r:>19.1f}" for r in rates.values()))
    print(
        f"{'batched (B=' + str(len(batch)) + ')':34s}"
        + "".join(f"{t:>12d} thread" for t in workers)
    )
    for name, rates in batched.items():
        print(f"{name:34s}" + "".join(f"{r:>19.1f}" for r in rates.values()))
    result = {
        "n_windows": n,
        "batch_size": len(batch),
        "window_shape": [len(constants.EEG_CHANNELS), constants.EEG_WINDOW_SAMPLES],
        "preprocess_config": CFG.model_dump(mode="json"),
        "mel": {"n_fft": 256, "hop_length": 64, "n_mels": 64, "fmin_hz": 0.5, "fmax_hz": 20.0},
        "per_window_windows_per_s": per_window,
        "batched_windows_per_s": batched,
        "preprocess_vs_montage_slowdown": round(base / per_window["preprocess"]["1_workers"], 1),
        "load_avg_1min": {"before": load_before, "after": os.getloadavg()[0]},
        "machine": machine_info(),
    }
    write_json_atomic(RESULTS, result)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
