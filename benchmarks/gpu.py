"""One-command GPU benchmark: twin subset → cache → model-ready inputs → AMP training of the GPU
presets for a fixed number of steps → windows/s, peak GPU memory, the loader's headroom; then a
DDP run on every visible GPU of the node (torchrun).

    python benchmarks/gpu.py               # on a GPU machine, from a fresh checkout (<= 8 min)
    python benchmarks/gpu.py --cpu-tiny    # the same code paths on the CPU, tiny (test suite)

For each preset (eeg1d_gpu, spec2d_gpu, multimodal_gpu; ImageNet weights from the locked
package, AMP as the preset says: bf16 on GPUs that support it), fold 0 of the twin:

- ``train_windows_per_s``: ``FoldTrainer.train_epoch`` end to end (the preset's DataLoader
  workers, augmentation, EMA, AMP) over ``--steps`` steps after a warm-up epoch;
- ``step_windows_per_s``: the loop's training step alone (EMA, clipping, mixup) on one resident
  batch (no loader);
- ``loader_windows_per_s``: the DataLoader alone (no model); ``loader_headroom`` = loader /
  step: above 1 the loader can keep the device busy;
- ``peak_gpu_mib``: ``torch.cuda.max_memory_allocated`` over the measured epoch.

DDP: ``torchrun --standalone --nproc_per_node=<visible GPUs> -m iiic train`` of eeg1d_gpu for
``--steps`` steps (in --cpu-tiny mode 2 CPU processes over gloo); its windows/s over all ranks.
Writes benchmarks/results/gpu.json (gpu_cpu_tiny.json in --cpu-tiny mode).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

from iiic.data.cache import Cache
from iiic.train.config import TrainConfig, load_config, with_epochs
from iiic.train.kfold import open_data
from iiic.utils import machine_info, write_json_atomic
from readme_table import Load, Rows

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"
SHARED = Path(os.environ.get("IIIC_SHARED_DATA", REPO.parent / "shared" / "data"))
REAL_LABELS = SHARED / "hms-train-labels-reconstructed" / "train.csv.gz"
PRESETS = ("eeg1d_gpu", "spec2d_gpu", "multimodal_gpu")
_EEG_TINY = {"widths": [16, 16, 16, 16], "blocks_per_stage": 1, "gru_hidden": 16}
_SPEC_TINY = {"n_mels": 32, "image_height": 64, "image_width": 64}
TINY_OPTIONS = {"eeg1d_gpu": {**_EEG_TINY, "widths": [16] * 5}, "spec2d_gpu": _SPEC_TINY,
                "multimodal_gpu": {"eeg": _EEG_TINY, "spec": _SPEC_TINY}}  # fmt: skip
"""--cpu-tiny: model options that shrink each preset's network (same layers, same code paths)."""


def _merge(base: dict, over: dict) -> dict:
    return {**base, **{k: _merge(base.get(k, {}), v) if isinstance(v, dict) else v
                       for k, v in over.items()}}  # fmt: skip


def bench_config(name: str, args: argparse.Namespace) -> TrainConfig:
    """The preset, fold 0, one epoch of ``--steps`` steps (tiny mode: batch 2, no workers, a
    narrow network on small images)."""
    cfg = load_config(name)
    cfg = with_epochs(cfg, [1])  # the first stage, one epoch
    update: dict = {"folds": [0], "patience": None, "max_steps_per_epoch": args.steps}
    if args.cpu_tiny:
        update |= {"batch_size": 2, "eval_batch_size": 2, "num_workers": 0, "n_folds": 2,
                   "model_options": _merge(cfg.model_options, TINY_OPTIONS[name])}  # fmt: skip
    return cfg.model_copy(update=update)


def make_data(work: Path, args: argparse.Namespace) -> tuple[Path, dict]:
    """Twin subset (with spectrograms), its cache and the model-ready inputs of every preset
    whose augmentations can use them (eeg1d_gpu's channel dropout and band-pass jitter act on
    the referential signal: it preprocesses each window in its loader workers)."""
    from iiic.synth.twin import generate_twin
    from iiic.train.augment import raw_only_augmentations
    from iiic.train.ready import build_ready

    t: dict = {}
    t0 = time.perf_counter()
    if args.cpu_tiny:
        twin = generate_twin(work / "twin", n_patients=4, seed=args.seed, max_eegs_per_patient=2,
                             max_rows_per_eeg=6, workers=args.workers)  # fmt: skip
    else:
        labels = REAL_LABELS if REAL_LABELS.is_file() else None
        twin = generate_twin(work / "twin", n_patients=args.patients, seed=args.seed, labels=labels,
                             workers=args.workers)  # fmt: skip
    t["twin_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cache_dir = open_data(twin, workers=args.workers)[1]
    t["cache_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for name in args.presets.split(","):
        cfg = load_config(name)
        if not raw_only_augmentations(cfg.augment):
            build_ready(cache_dir, cfg.preprocess, workers=args.workers, progress=False)
    t["ready_s"] = time.perf_counter() - t0
    return cache_dir, t


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _loader_rate(trainer, ds, steps: int) -> float:
    """Windows/s of the training DataLoader alone."""
    n, t0 = 0, time.perf_counter()
    for step, batch in enumerate(trainer.train_loader(ds, 0)):
        if step >= steps:
            break
        n += batch["eeg"].shape[0]
    return n / (time.perf_counter() - t0)


def _step_rate(trainer, ds, opt, sched, scaler, steps: int) -> float:
    """Windows/s of the loop's training step (``FoldTrainer.train_step``) on one batch resident
    on the device (no loader)."""
    batch = next(iter(trainer.train_loader(ds, 0)))
    batch = {k: v.to(trainer.rt.device) for k, v in batch.items() if isinstance(v, torch.Tensor)}
    model, n, t0 = trainer.model.train(), 0, 0.0
    for step in range(steps + 1):
        if step == 1:  # the first step is a warm-up (kernels, allocator)
            _sync(trainer.rt.device)
            t0, n = time.perf_counter(), 0
        n += trainer.train_step(batch, opt, sched, scaler, model, step)[1]
    _sync(trainer.rt.device)
    return n / (time.perf_counter() - t0)


def bench_preset(name: str, cache_dir: Path, work: Path, args: argparse.Namespace) -> dict:
    """Training, step and loader windows/s and peak memory of one preset on fold 0."""
    import dataclasses

    from iiic.train.loop import FoldTrainer
    from iiic.train.rows import prepare_rows, validation_rows
    from iiic.train.runtime import resolve_amp, setup_runtime

    cfg = bench_config(name, args)
    rt = setup_runtime(args.device, "off")
    rt = dataclasses.replace(rt, amp_dtype=resolve_amp(cfg.amp, rt.device))
    cache = Cache.open(cache_dir)
    rows = prepare_rows(cache.rows, cfg)
    val, _ = validation_rows(rows[rows["fold"] == 0], cfg)
    t0 = time.perf_counter()
    trainer = FoldTrainer(cfg, cache, rows, val, 0, work / name, rt, progress_bar=False)
    ds, opt, sched, scaler = trainer.stage_setup(0, 4 * args.steps)
    trainer.train_epoch(ds, opt, sched, scaler, trainer.model)  # warm-up epoch
    setup_s = time.perf_counter() - t0
    if rt.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(rt.device)
    trainer.p.global_epoch += 1
    train_rate = trainer.train_epoch(ds, opt, sched, scaler, trainer.model)[1]
    peak = torch.cuda.max_memory_allocated(rt.device) / 2**20 if rt.device.type == "cuda" else None
    step_rate = _step_rate(trainer, ds, opt, sched, scaler, args.steps)
    loader_rate = _loader_rate(trainer, ds, args.steps)
    out = {"batch_size": cfg.batch_size, "steps": args.steps, "num_workers": cfg.num_workers,
           "amp": str(rt.amp_dtype).replace("torch.", "") if rt.amp_dtype else None,
           "model_ready": trainer.ready is not None, "setup_and_warmup_s": setup_s,
           "train_windows_per_s": train_rate, "step_windows_per_s": step_rate,
           "loader_windows_per_s": loader_rate, "loader_headroom": loader_rate / step_rate,
           "peak_gpu_mib": peak,
           "parameters_m": sum(p.numel() for p in trainer.model.parameters()) / 1e6}  # fmt: skip
    print(f"{name:<15} train {train_rate:8.1f} w/s  step {step_rate:8.1f} w/s  loader "
          f"{loader_rate:8.1f} w/s (headroom {out['loader_headroom']:.2f}x)  peak "
          f"{'-' if peak is None else f'{peak:.0f} MiB'}", flush=True)  # fmt: skip
    return out


def bench_ddp(cache_dir: Path, work: Path, args: argparse.Namespace) -> dict:
    """eeg1d_gpu through ``torchrun -m iiic train`` on every visible GPU (2 CPU ranks if tiny)."""
    n = 2 if args.cpu_tiny else max(1, torch.cuda.device_count())
    cfg = bench_config("eeg1d_gpu", args)
    cfg_path, run = work / "ddp_config.yaml", work / "ddp_run"
    cfg_path.write_text(yaml.safe_dump(cfg.to_json_dict()), encoding="utf-8")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
           "-m", "iiic", "train", "--config", str(cfg_path), "--data", str(cache_dir),
           "--out", str(run), "--folds", "0", "--quiet",
           "--device", "cpu" if args.cpu_tiny else "auto"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"} if args.cpu_tiny else None
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.ddp_timeout)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"torchrun exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    history = json.loads((run / "fold_0" / "metrics.json").read_text())["history"]
    out = {"processes": n, "distributed": n > 1, "windows_per_s": history[0]["windows_per_s"],
           "wall_s": seconds, "steps": args.steps, "batch_size_per_rank": cfg.batch_size}  # fmt: skip
    print(f"DDP eeg1d_gpu on {n} process(es): {out['windows_per_s']:.1f} windows/s "
          f"(all ranks; {seconds:.0f} s with start-up)", flush=True)  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cpu-tiny", "--quick", action="store_true",
                    help="tiny twin, CPU, 2 steps (tests; run_all --quick)")  # fmt: skip
    ap.add_argument("--patients", type=int, default=48, help="twin subset size")
    ap.add_argument("--steps", type=int, default=None, help="measured steps (default 50; tiny 2)")
    ap.add_argument("--presets", default=",".join(PRESETS))
    ap.add_argument("--no-ddp", action="store_true", help="skip the torchrun run")
    ap.add_argument("--ddp-timeout", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--results", type=Path, default=None)
    args = ap.parse_args()
    args.steps = args.steps or (2 if args.cpu_tiny else 50)
    if not args.cpu_tiny and not torch.cuda.is_available():
        sys.exit("benchmarks/gpu.py: no CUDA device visible (use --cpu-tiny for the CPU check)")
    args.device = "cpu" if args.cpu_tiny else "cuda"
    work = args.work or Path(tempfile.mkdtemp(prefix="iiic_bench_gpu_"))
    t_start = time.perf_counter()
    try:
        cache_dir, timings = make_data(work, args)
        presets = {n: bench_preset(n, cache_dir, work, args) for n in args.presets.split(",")}
        ddp = None if args.no_ddp else bench_ddp(cache_dir, work, args)
        n_rows = len(Cache.open(cache_dir).rows)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    path = args.results or RESULTS_DIR / ("gpu_cpu_tiny.json" if args.cpu_tiny else "gpu.json")
    write_json_atomic(path, {
        "benchmark": "gpu", "cpu_tiny": args.cpu_tiny, "machine": machine_info(),
        "gpus_visible": torch.cuda.device_count(),
        "settings": {"patients": None if args.cpu_tiny else args.patients, "rows": n_rows,
                     "steps": args.steps, "seed": args.seed, "workers": args.workers},
        "data_s": timings, "presets": presets, "ddp": ddp,
        "total_minutes": (time.perf_counter() - t_start) / 60,
    })  # fmt: skip
    print(f"total {(time.perf_counter() - t_start) / 60:.1f} min; wrote {path}")


def readme_rows(load: Load) -> Rows:
    """Result rows of gpu.json: training windows/s per GPU preset ("not measured" without it)."""
    gpu = load("gpu")
    if not gpu:
        return {"speed": [("GPU training (eeg1d_gpu, spec2d_gpu, multimodal_gpu, DDP)", "not measured",
                           "no GPU was lent to this project's sessions so far",
                           "`python benchmarks/gpu.py` (one command, ≤ 8 min); its CPU mode "
                           "`--cpu-tiny` runs in the test suite")]}  # fmt: skip
    return {"speed": [(f"GPU training, {name} ({g['amp']})", f"{g['train_windows_per_s']:.0f} windows/s",
                       f"step alone {g['step_windows_per_s']:.0f}, loader headroom "
                       f"{g['loader_headroom']:.1f}×, peak {g['peak_gpu_mib']:.0f} MiB",
                       f"`benchmarks/gpu.py` on {gpu['machine'].get('cuda')}")
                      for name, g in gpu["presets"].items()]}  # fmt: skip


if __name__ == "__main__":
    main()
