"""What durable writes cost: every atomic write with and without ``fsync``, in one run.

``iiic.utils.atomic_path`` flushes each output file and its directory to the disk before the
write counts as done (``iiic.utils.FSYNC``); ``iiic prepare`` also flushes its memory-mapped
arrays per shard and the whole cache before its final rename. This script times the writers
that matter with ``FSYNC`` on and off, interleaved (best of ``--repeats``), on the disk that holds
``--dir`` (default: a temporary folder):

- a cache manifest (``write_json_atomic``, 1 KiB),
- a submission (``write_submission``, ``--rows`` rows),
- a fold checkpoint (``save_fold_model``) of the eeg1d_cpu and spec2d_cpu presets' models,
- a training resume state (``save_state`` of the eeg1d_cpu model + EMA + best + AdamW tensors),
- ``iiic prepare`` of a small synthetic twin (``--patients``): end to end with and without, and
  the flush itself (``fsync_tree`` of a cache just built without fsync: the I/O a durable build
  adds, independent of CPU load), per GiB and extrapolated to the full Kaggle cache.

Writes benchmarks/results/durability.json (durability_quick.json with --quick) with the commit,
the date and the machine; no absolute paths.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from iiic import utils
from iiic.constants import VOTE_COLUMNS
from iiic.utils import machine_info, write_json_atomic
from readme_table import Load, Rows, get, num

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def commit() -> str | None:
    """The checked-out commit (with '+dirty' when the tree has changes), None outside git."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, check=True,
                             capture_output=True, text=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=REPO, capture_output=True, text=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    return sha + ("+dirty" if dirty else "")


def timed(fn: Callable[[], object], fsync: bool) -> float:
    """Seconds of one call of ``fn`` with ``iiic.utils.FSYNC = fsync``."""
    utils.FSYNC = fsync
    try:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0
    finally:
        utils.FSYNC = True


def compare(name: str, fn: Callable[[], object], repeats: int) -> dict:
    """Best and median seconds with and without fsync, interleaved; prints one line."""
    runs: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(repeats):
        for fsync in (False, True):
            runs[fsync].append(timed(fn, fsync))
    out = {
        "fsync_best_ms": 1e3 * min(runs[True]), "no_fsync_best_ms": 1e3 * min(runs[False]),
        "fsync_median_ms": 1e3 * statistics.median(runs[True]),
        "no_fsync_median_ms": 1e3 * statistics.median(runs[False]), "repeats": repeats,
    }  # fmt: skip
    out["added_best_ms"] = out["fsync_best_ms"] - out["no_fsync_best_ms"]
    out["added_median_ms"] = out["fsync_median_ms"] - out["no_fsync_median_ms"]
    print(f"{name:<34} fsync {out['fsync_best_ms']:9.1f} ms   no fsync "
          f"{out['no_fsync_best_ms']:9.1f} ms   (best of {repeats})", flush=True)  # fmt: skip
    return out


def writers(work: Path, n_rows: int) -> dict[str, Callable[[], object]]:
    """The writers to time, each writing into ``work``."""
    from iiic.predict.submission import write_submission
    from iiic.runs.rundir import save_fold_model
    from iiic.train.config import build_model, load_config
    from iiic.train.ema import EMA
    from iiic.train.state import flatten_optimizer, save_state

    manifest = {"format_version": 1, "counts": {f"k{i}": i for i in range(40)}}
    ids = np.arange(n_rows) + 10**9
    sub = pd.DataFrame({"eeg_id": ids, **{c: 1 / len(VOTE_COLUMNS) for c in VOTE_COLUMNS}})
    eeg1d = build_model(load_config("eeg1d_cpu"))
    spec2d = build_model(load_config("spec2d_cpu").model_copy(update={"model_options": {
        **load_config("spec2d_cpu").model_options, "weights": None}}))  # fmt: skip
    opt = torch.optim.AdamW(eeg1d.parameters())
    eeg1d(torch.zeros(2, 18, 2000)).sum().backward()
    opt.step()  # optimiser state holds its tensors, as in a real resume state
    tensors, plain = flatten_optimizer(opt.state_dict())
    ema = EMA(eeg1d, 0.98)
    best = {k: v.clone() for k, v in eeg1d.state_dict().items()}
    groups = {"model": eeg1d.state_dict(), "best": best,
              "ema": ema.module.state_dict(), "optimizer": tensors}  # fmt: skip
    return {
        "cache manifest (JSON)": lambda: write_json_atomic(work / "manifest.json", manifest),
        f"submission ({n_rows} rows)": lambda: write_submission(sub, sub, work / "sub.csv"),
        "fold checkpoint, eeg1d_cpu": lambda: save_fold_model(work / "e", eeg1d, 0, {}),
        "fold checkpoint, spec2d_cpu": lambda: save_fold_model(work / "s", spec2d, 0, {}),
        "resume state, eeg1d_cpu": lambda: save_state(work / "state", groups, {"opt": plain}),
    }


FULL_CACHE_GIB = 11.0
"""Size of the float16 cache of the full Kaggle train set (benchmarks/prepare.py), GiB."""


def bench_prepare(work: Path, patients: int, repeats: int) -> dict:
    """``build_cache`` of a synthetic twin with and without fsync (a fresh --out each time), and
    the time to flush a cache just built without fsync."""
    from iiic.data.cache import build_cache
    from iiic.synth.twin import generate_twin

    twin = generate_twin(work / "twin", n_patients=patients, seed=0)
    k = iter(range(10**6))
    flush_s, size = [], 0

    def build(flush: bool = False) -> None:
        nonlocal size
        out = work / f"cache_{next(k)}"
        build_cache(twin, out, workers=2, progress=False)
        if flush:  # built with FSYNC off: what a durable build adds is this flush
            t0 = time.perf_counter()
            utils.fsync_tree(out)
            flush_s.append(time.perf_counter() - t0)
            size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        shutil.rmtree(out)

    result = compare(f"iiic prepare ({patients}-patient twin)", build, repeats)
    for _ in range(repeats):
        timed(lambda: build(flush=True), fsync=False)
    gib = size / 2**30
    summary = pd.read_csv(twin / "train.csv")
    result.update({
        "patients": patients, "train_rows": len(summary),
        "eeg_files": int(summary["eeg_id"].nunique()), "cache_mib": size / 2**20,
        "flush_median_s": statistics.median(flush_s), "flush_s_per_gib": statistics.median(flush_s) / gib,
        "flush_full_cache_s": statistics.median(flush_s) / gib * FULL_CACHE_GIB,
    })  # fmt: skip
    print(f"flush of a fresh {size / 2**20:.0f} MiB cache: {result['flush_median_s']:.2f} s "
          f"({result['flush_s_per_gib']:.1f} s/GiB; full cache ≈ {result['flush_full_cache_s']:.0f} s)")  # fmt: skip
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, a smaller twin")
    parser.add_argument("--dir", type=Path, default=None, help="folder on the disk to measure")
    parser.add_argument("--rows", type=int, default=2000, help="rows of the submission")
    parser.add_argument("--patients", type=int, default=None, help="patients of the twin")
    args = parser.parse_args()
    repeats = 5 if args.quick else 15
    patients = args.patients or (8 if args.quick else 12)
    torch.set_num_threads(1)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        df = subprocess.run(["df", "--output=fstype", str(work)], capture_output=True, text=True)
        fs = (df.stdout.split() or [None])[-1]
        results = {
            name: compare(name, fn, repeats) for name, fn in writers(work, args.rows).items()
        }
        results["iiic prepare"] = bench_prepare(work, patients, max(2, repeats // 5))
    doc = {
        "benchmark": "durability", "quick": args.quick,
        "commit": commit(), "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "filesystem": fs, "load_avg_1min": {"before": load_before, "after": os.getloadavg()[0]},
        "results": results, "machine": machine_info(),
    }  # fmt: skip
    path = RESULTS / ("durability_quick.json" if args.quick else "durability.json")
    write_json_atomic(path, doc)
    print(f"wrote {path.relative_to(REPO)}")
    return 0


def readme_rows(load: Load) -> Rows:
    """Result rows of durability.json: what fsync adds to a write, and to prepare's flush (next to
    prepare_full.json's minutes)."""
    dur = load("durability")
    if not dur:
        return {}
    res, keys = dur["results"], ("cache manifest (JSON)", "fold checkpoint, eeg1d_cpu")
    sub = next(k for k in res if k.startswith("submission"))
    rows = [("durable writes (fsync of the file and its directory): manifest / "
             f"{sub} / eeg1d checkpoint",
             " / ".join(f"+{res[k]['added_best_ms']:.1f}" for k in (keys[0], sub, keys[1]))
             + " ms", "without fsync: " + " / ".join(
                 f"{res[k]['no_fsync_best_ms']:.1f}" for k in (keys[0], sub, keys[1]))
             + " ms", f"`benchmarks/durability.py`: best of {res[keys[0]]['repeats']} "
             f"interleaved writes, {dur.get('filesystem')}, 1-min load average "
             f"{num(get(dur, 'load_avg_1min.before'), '.1f')}")]  # fmt: skip
    prep = res["iiic prepare"]
    rows.append(("`iiic prepare`: flushing the finished cache to the disk (what fsync adds)",
                 f"{prep['flush_s_per_gib']:.2f} s/GiB",
                 f"full float16 cache (≈ 11 GiB) ≈ {prep['flush_full_cache_s']:.0f} s next to "
                 f"≈ {num(get(load('prepare_full'), 'minutes_extrapolated_to_full_scale'), '.0f')} min "
                 "of prepare", f"`benchmarks/durability.py`: {prep['patients']}-patient twin "
                 f"cache ({prep['cache_mib']:.0f} MiB), median of {prep['repeats']}"))  # fmt: skip
    return {"speed": rows}


if __name__ == "__main__":
    raise SystemExit(main())
