"""Loader-side throughput: windows/s through the signal path, next to a montage-only baseline.

Times, in one run, on the same random 50-s referential windows (20 × 10,000 float32 µV):

- ``montage only (numpy)``: the bipolar matrix product — the floor of any preprocessing;
- ``preprocess``: :func:`iiic.signal.preprocess` with the default config (NaN fill, 18-channel
  montage, 0.5-20 Hz zero-phase Butterworth, clip/scale), and with ``filter_method="fft"``;
- ``augment + preprocess``: the training path with every window augmentation switched on;
- ``preprocess + mel (torch|conv)``: plus :class:`MelSpectrogram` on the CPU (64 mels,
  n_fft 256), as when the spectrogram is computed in the loader instead of on the GPU.

Per-window rows process one window per call, as ``Dataset.__getitem__`` does, with 1 or 2 worker
processes (like DataLoader ``num_workers``); batched rows process the whole batch in one call with
1 or 2 torch/BLAS threads.

Section ``real_dataset`` (issue 4 b, issue 15): the real :class:`iiic.train.dataset.WindowDataset`
over a cache built (``iiic prepare --preset eeg1d_cpu --preset spec2d_cpu``) from a small synthetic
twin, configured as the ``eeg1d_cpu`` and ``spec2d_cpu`` presets train it (their preprocessing,
augmentation, flip, Kaggle spectrogram for spec2d; every row served; the dataset and augmentation
that ``FoldTrainer`` builds, :mod:`iiic.train.inputs`), on both input paths — ``per_window``
(each window preprocessed in the loader) and ``model_ready`` (the cache's preprocessed windows) —
next to one training step of the same preset in the same run:

- ``loader``: windows/s out of a ``DataLoader`` (the preset's batch size, shuffled, 0/1/2 workers,
  worker start-up included as in every training epoch; no model);
- ``step``: seconds per training step (forward, KL loss, backward, clipping, AdamW, EMA) on
  batches already in memory, 1 and 2 torch threads;
- ``end_to_end``: windows/s of loading + stepping together, as a 2-core machine can split
  them: no worker and 2 torch threads, or 1 worker process and 1 torch thread.

``loader_1_worker_over_step_1_thread`` >= 1 (``loader_keeps_up``) means one core serving windows
outpaces one core training on them; ``loader_share_of_cpu`` is the loader's part of the CPU time
of a training window (from CPU-time figures, which other processes on the cores disturb less);
``end_to_end_over_best_step`` is the share of the step-only throughput a real epoch keeps.
``model_ready_loader_over_step`` (goal >= 2): model-ready windows/s that one core loads (no
worker process: the steady rate, without a worker's start-up) over the windows/s a training step
consumes at its best thread count (on a loaded machine 2 threads can be far slower than 1).
Prints a table and writes benchmarks/results/loader.json. ``--quick`` takes about a minute on an
idle 2-core machine; ``--only signal|dataset`` measures one section and keeps the other's figures.
The 1-minute load average before and after is recorded (per section): figures taken while other
processes share the cores are lower bounds.
"""

from __future__ import annotations

import argparse
import json
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
from readme_table import Load, Rows, get, num

RESULTS = Path(__file__).resolve().parent / "results" / "loader.json"
CFG = PreprocessConfig()
CFG_FFT = PreprocessConfig(filter_method="fft")
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


def step_preprocess_fft(x: np.ndarray, _i: int) -> np.ndarray:
    return preprocess(x, CFG_FFT)


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
    "preprocess (filter_method fft)": step_preprocess_fft,
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


# --- the real Dataset over a cache, next to a training step -----------------------------------

DATASET_PRESETS = ("eeg1d_cpu", "spec2d_cpu")


def _twin_cache(work: Path, quick: bool) -> Path:
    """A small twin (spectrograms included), its cache and the presets' model-ready inputs."""
    from iiic.synth.twin import generate_twin
    from iiic.train.config import load_config
    from iiic.train.kfold import open_data
    from iiic.train.ready import build_ready

    twin = generate_twin(work / "twin", n_patients=6 if quick else 16, seed=0,
                         max_eegs_per_patient=3, max_rows_per_eeg=6, n_test=1)  # fmt: skip
    cache_dir = open_data(twin)[1]
    for name in DATASET_PRESETS:
        build_ready(cache_dir, load_config(name).preprocess, workers=1, progress=False)
    return cache_dir


def _train_dataset(cfg, cache_dir: Path, model, model_ready: bool) -> torch.utils.data.Dataset:
    """The preset's training dataset over every cached row, as FoldTrainer.dataset builds it."""
    from iiic.data.cache import Cache
    from iiic.train.dataset import WindowDataset
    from iiic.train.inputs import choose_inputs, window_augment

    cache = Cache.open(cache_dir)
    mode = "require" if model_ready else "off"
    ready = choose_inputs(cache, cfg.model_copy(update={"model_ready": mode}))
    return WindowDataset(
        cache_dir, cache.rows, preprocess=cfg.preprocess, with_spec=model.needs_spec,
        augment=window_augment(cfg.augment, ready), sampling="all", seed=cfg.seed,
        vote_weighting="sqrt", p_flip=cfg.augment.p_flip, ready=ready,
    )  # fmt: skip


def _loader(ds, batch_size: int, workers: int, n_batches: int) -> torch.utils.data.DataLoader:
    """``n_batches`` shuffled batches (drawn with replacement: a small twin has few rows)."""
    gen = torch.Generator().manual_seed(0)
    sampler = torch.utils.data.RandomSampler(ds, replacement=True,
                                             num_samples=n_batches * batch_size, generator=gen)  # fmt: skip
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, sampler=sampler,
                                       num_workers=workers)  # fmt: skip


def _step_fn(cfg, model):
    """One training step of the loop (forward, KL loss, backward, clip, AdamW, EMA)."""
    from iiic.train.ema import EMA
    from iiic.train.loss import kl_loss

    opt = torch.optim.AdamW(model.parameters(), lr=cfg.stages[0].lr, weight_decay=cfg.weight_decay)
    ema = EMA(model, cfg.ema_decay) if cfg.ema_decay else None
    model.train()

    def step(batch: dict) -> None:
        loss = kl_loss(model(batch["eeg"], batch.get("spec")), batch["target"], batch["weight"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        if ema is not None:
            ema.update(model)

    return step


def _loader_rate(ds, bs: int, workers: int, n_batches: int, clock=time.perf_counter) -> float:
    """Windows/s (or windows per CPU-second with ``clock=time.process_time``) out of a DataLoader."""
    t0 = clock()
    for _ in _loader(ds, bs, workers, n_batches):
        pass
    return n_batches * bs / (clock() - t0)


def _end_to_end_rate(ds, bs: int, workers: int, n_steps: int, step) -> float:
    t0 = time.perf_counter()
    for batch in _loader(ds, bs, workers, n_steps):
        step(batch)
    return n_steps * bs / (time.perf_counter() - t0)


def _step_times(step, batches: list, clock=time.perf_counter) -> list[float]:
    step(batches[0])  # warm-up
    times = []
    for b in batches[1:]:
        t0 = clock()
        step(b)
        times.append(clock() - t0)
    return times


def _loader_rates(ds, bs: int, workers: tuple[int, ...], n_batches: int, repeats: int) -> dict:
    _ = ds[0]  # warm-up before forking workers (filter designs, memory maps)
    rates = {f"{w}_workers": round(max(_loader_rate(ds, bs, w, n_batches) for _ in range(repeats)), 1)
             for w in workers}  # fmt: skip
    rates["0_workers_per_cpu_s"] = round(
        _loader_rate(ds, bs, 0, n_batches, clock=time.process_time), 1
    )
    return rates


def dataset_section(quick: bool, threads: tuple[int, ...]) -> dict:
    """Loader windows/s of both input paths next to the training step of each CPU preset.

    Wall-clock figures are the best of ``repeats`` runs (steps: the fastest single step); the
    ``per_cpu_s`` figures (one process, one thread) count CPU time, which other processes sharing
    the cores disturb much less.
    """
    import tempfile

    from iiic.train.config import build_model, load_config

    n_batches, n_steps, repeats = (3, 3, 1) if quick else (10, 10, 3)
    out: dict = {"n_loader_batches": n_batches, "n_timed_steps": n_steps, "repeats": repeats,
                 "presets": {}}  # fmt: skip
    main_threads = max(threads)
    with tempfile.TemporaryDirectory(prefix="iiic_loader_") as tmp:
        start = time.perf_counter()
        cache_dir = _twin_cache(Path(tmp), quick)
        out["twin_and_cache_s"] = round(time.perf_counter() - start, 1)
        for name in DATASET_PRESETS:
            cfg = load_config(name)
            torch.manual_seed(0)
            torch.set_num_threads(1)
            model = build_model(cfg)
            bs = cfg.batch_size
            datasets = {path: _train_dataset(cfg, cache_dir, model, path == "model_ready")
                        for path in ("per_window", "model_ready")}  # fmt: skip
            worker_counts = (0, *(w for w in threads if w > 0))
            loader = {path: _loader_rates(ds, bs, worker_counts, n_batches, repeats)
                      for path, ds in datasets.items()}  # fmt: skip
            batches = list(_loader(datasets["per_window"], bs, 0, n_steps + 1))
            step = _step_fn(cfg, model)
            step_s = {}
            for t in threads:
                torch.set_num_threads(t)
                step_s[f"{t}_threads"] = round(min(_step_times(step, batches)), 4)
            torch.set_num_threads(1)
            step_s["1_thread_cpu_s"] = round(min(_step_times(step, batches, time.process_time)), 4)
            e2e = {}
            for path, ds in datasets.items():
                for w, t in (
                    (0, main_threads),
                    (1, 1),
                ):  # 2 cores: both train, or 1 loads + 1 trains
                    torch.set_num_threads(t)
                    rate = max(_end_to_end_rate(ds, bs, w, n_steps, step) for _ in range(repeats))
                    e2e[f"{path}_{w}_workers_{t}_threads"] = round(rate, 1)
            step_rates = {k: round(bs / v, 1) for k, v in step_s.items() if k.endswith("_threads")}
            raw, ready = loader["per_window"], loader["model_ready"]
            split = raw["1_workers"] / step_rates["1_threads"]  # 1 core loads, 1 core trains
            cpu_load, cpu_step = 1 / raw["0_workers_per_cpu_s"], step_s["1_thread_cpu_s"] / bs
            ready_cpu = 1 / ready["0_workers_per_cpu_s"]
            best_step = max(step_rates.values())
            out["presets"][name] = {
                "model": cfg.model, "batch_size": bs, "rows_served": len(datasets["per_window"]),
                "with_kaggle_spec": bool(model.needs_spec),
                "loader_windows_per_s": raw,
                "model_ready_loader_windows_per_s": ready,
                "step_s": step_s,
                "step_windows_per_s": step_rates,
                "end_to_end_windows_per_s": e2e,
                "loader_1_worker_over_step_1_thread": round(split, 2),
                "model_ready_loader_over_step": round(ready["0_workers"] / best_step, 2),
                "per_window_loader_over_step": round(raw["0_workers"] / best_step, 2),
                "end_to_end_over_best_step": round(max(e2e.values()) / best_step, 2),
                "loader_share_of_cpu": round(cpu_load / (cpu_load + cpu_step), 2),
                "model_ready_loader_share_of_cpu": round(ready_cpu / (ready_cpu + cpu_step), 2),
                "loader_keeps_up": bool(split >= 1.0),
            }  # fmt: skip
    torch.set_num_threads(1)
    return out


def _print_dataset(sec: dict) -> None:
    print(f"real WindowDataset over a twin cache (twin + cache {sec['twin_and_cache_s']} s)")
    for name, r in sec["presets"].items():
        print(f"  {name} (batch {r['batch_size']}, {r['rows_served']} rows)")
        print(f"    loader windows/s       {r['loader_windows_per_s']}")
        print(f"    model-ready loader     {r['model_ready_loader_windows_per_s']}")
        print(f"    step s                 {r['step_s']}")
        print(f"    step windows/s         {r['step_windows_per_s']}")
        print(f"    end-to-end windows/s   {r['end_to_end_windows_per_s']}")
        verdict = "keeps up" if r["loader_keeps_up"] else "is the bottleneck"
        print(f"    loader (1 worker) / step (1 thread) {r['loader_1_worker_over_step_1_thread']}, "
              f"loader share of CPU {r['loader_share_of_cpu']} -> the loader {verdict}")  # fmt: skip
        print(f"    loader in process / best step: per window {r['per_window_loader_over_step']}, "
              f"model-ready {r['model_ready_loader_over_step']} (goal >= 2)")  # fmt: skip


def signal_section(n: int, workers: tuple[int, ...]) -> dict:
    """The signal-path figures on random windows (per window and batched); prints a table."""
    load_before = os.getloadavg()[0]
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
    return {
        "n_windows": n,
        "batch_size": len(batch),
        "window_shape": [len(constants.EEG_CHANNELS), constants.EEG_WINDOW_SAMPLES],
        "preprocess_config": CFG.model_dump(mode="json"),
        "mel": {"n_fft": 256, "hop_length": 64, "n_mels": 64, "fmin_hz": 0.5, "fmax_hz": 20.0},
        "per_window_windows_per_s": per_window,
        "batched_windows_per_s": batched,
        "preprocess_vs_montage_slowdown": round(base / per_window["preprocess"]["1_workers"], 1),
        "fft_vs_iir_per_cpu_s": round(
            per_window["preprocess (filter_method fft)"]["1_worker_per_cpu_s"]
            / per_window["preprocess"]["1_worker_per_cpu_s"],
            2,
        ),
        "load_avg_1min": {"before": load_before, "after": os.getloadavg()[0]},
        "machine": machine_info(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (< 60 s)")
    parser.add_argument("--windows", type=int, default=None, help="windows per measurement")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON to write (default results/loader.json, loader_quick.json with --quick)")  # fmt: skip
    parser.add_argument(
        "--only", choices=("signal", "dataset"), default=None,
        help="measure one section; the other section's figures in loader.json are kept",
    )  # fmt: skip
    args = parser.parse_args()
    n = args.windows or (48 if args.quick else 256)
    args.out = args.out or (RESULTS.with_name("loader_quick.json") if args.quick else RESULTS)
    torch.set_num_threads(1)
    workers = (1, 2) if (os.cpu_count() or 1) >= 2 and not args.quick else (1,)
    result: dict = {}
    if args.only is not None and args.out.is_file():
        result = json.loads(args.out.read_text(encoding="utf-8"))
    if args.only != "dataset":
        result.update(signal_section(n, workers))
    if args.only != "signal":
        load_before, measured_at = os.getloadavg()[0], time.strftime("%Y-%m-%dT%H:%M:%S%z")
        dataset = dataset_section(args.quick, workers)
        _print_dataset(dataset)
        load = {"before": load_before, "after": os.getloadavg()[0]}
        result["real_dataset"] = {**dataset, "measured_at": measured_at, "load_avg_1min": load}
        result.setdefault("machine", machine_info())
    write_json_atomic(args.out, result)
    print(f"wrote {args.out}")


def readme_rows(load: Load) -> Rows:
    """Result rows of loader.json: the DataLoader on model-ready inputs per preset, and
    ``preprocess`` with the FFT filters vs the recursive ones."""
    loader, rows = load("loader"), []
    lavg = get(loader, "real_dataset.load_avg_1min.before")
    for name, fig in (get(loader, "real_dataset.presets") or {}).items():
        ready = fig.get("model_ready_loader_windows_per_s")
        if ready is None:  # a loader.json from before model-ready inputs
            continue
        best_step = max(fig["step_windows_per_s"].values())
        rows.append((f"DataLoader on model-ready inputs, {name}, one core",
                     f"{ready['0_workers']:.0f} windows/s",
                     f"training step: {best_step:.0f} windows/s, loader/step "
                     f"{fig['model_ready_loader_over_step']:.1f}× (goal ≥ 2×); per-window "
                     f"preprocessing: {fig['loader_windows_per_s']['0_workers']:.0f} windows/s",
                     f"`benchmarks/loader.py`: twin cache, batch {fig['batch_size']}, the dataset "
                     f"and augmentation of `iiic train`; 1-min load {num(lavg, '.1f')}"))  # fmt: skip
    per_window = get(loader, "per_window_windows_per_s") or {}
    fft, iir = per_window.get("preprocess (filter_method fft)"), per_window.get("preprocess")
    if fft and iir:
        rows.append(("`preprocess` of one 50-s window, `filter_method: fft`",
                     f"{fft['1_worker_per_cpu_s']:.0f} windows per CPU-second",
                     f"recursive filters (the default): {iir['1_worker_per_cpu_s']:.0f} "
                     f"({loader['fft_vs_iir_per_cpu_s']:.1f}×)",
                     "`benchmarks/loader.py`: default config (18 channels, 0.5-20 Hz, 200 Hz), "
                     "one process"))  # fmt: skip
    return {"speed": rows}


if __name__ == "__main__":
    main()
