"""Build the training cache (``iiic prepare``): plan → shards → assemble → rename.

1. **Plan** (cheap): read train.csv, drop rows with bad votes/offsets (counted), read every
   referenced parquet footer for its length (unreadable files are excluded and listed), lay the
   files end to end and pre-allocate ``eeg.npy`` / ``spec.npy`` with ``np.lib.format.open_memmap``
   in the work directory ``<out>.partial/``.
2. **Shards**: groups of files are read once each by ``workers`` processes, NaN-filled and written
   into their slice of the memory map; a finished shard leaves ``shards/<kind>_<k>.json``. A killed
   run restarted with the same arguments skips finished shards (the plan is fingerprinted; a
   different plan starts over).
3. **Assemble**: indexes, ``rows.parquet`` (labels, folds, window NaN share), ``folds.csv``, the
   report and the manifest; everything is flushed to the disk (fsync), then the work directory is
   renamed to ``out`` in one step, so ``out`` is either absent or complete. A lock file
   ``<out>.lock`` keeps a second ``prepare`` of the same ``out`` from running at the same time.

Windows that cannot be trained on are excluded and counted by reason (``cache_report.json`` and
stderr): an EEG window holding non-physical values (beyond ±1 V or ±inf: a corrupt file) or no
data (every electrode NaN), see :mod:`iiic.data.plausibility`. Non-physical samples are stored as
filled, like NaN, so they never reach float16 saturation or a later reader.

NaN filling (EEG only): linear interpolation over time per channel (``np.interp``: constant
before the first and after the last valid sample); a channel with no valid sample becomes 0 µV.
The filled share is recorded per file (``eeg_index.nan_fraction``) and per row window
(``rows.eeg_nan_fraction``). Spectrogram NaN rows are kept as read (``rows.spec_nan_fraction``).

EEG dtype: float16 (default) stores µV with a relative error <= 2**-11 (<= 0.25 µV for
|x| <= 1024 µV, 0.03 µV near 50 µV), half the size of float32 (about 11 GB instead of 22 GB for
the full 379 h); values beyond ±65,504 µV saturate and are counted (``saturated``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from iiic import utils
from iiic.constants import (
    EEG_CHANNELS,
    EEG_WINDOW_S,
    NONPHYSICAL_UV,
    SFREQ_HZ,
    SPEC_CHAINS,
    SPEC_FREQS_HZ,
    SPEC_WINDOW_S,
    VOTE_COLUMNS,
)
from iiic.data import labels
from iiic.data.cache import (
    CACHE_FORMAT_VERSION,
    EEG_DTYPES,
    EEG_FILE,
    EEG_INDEX,
    MANIFEST_FILE,
    REPORT_FILE,
    ROWS_FILE,
    SPEC_FILE,
    SPEC_INDEX,
    SPEC_TIMES,
)
from iiic.data.errors import DataError
from iiic.data.folds import assign_folds, resolve_n_folds, write_folds
from iiic.data.layout import DataDir, load_csv, problems_train_csv
from iiic.data.plausibility import describe_nonphysical, fill_nan, no_data, nonphysical
from iiic.data.readers import read_eeg, read_spectrogram
from iiic.data.validate import valid_rows
from iiic.data.windows import eeg_window_slice, spectrogram_window_slice
from iiic.utils import (
    check_option,
    die_with_parent,
    exclusive_lock,
    fsync_path,
    fsync_tree,
    process_pool,
    store_float16,
    write_json_atomic,  # fmt: skip
)

log = logging.getLogger(__name__)

SHARD_FILES = 32
"""Files per shard (the unit of work and of resumption)."""
FLOAT16_MAX_UV = float(np.finfo(np.float16).max)


# --- plan ------------------------------------------------------------------------------------
def _footer_rows(task: tuple[str, str]) -> tuple[int, str | None]:
    """(row count, None) from a parquet footer, or (0, error message) when it is unusable."""
    path, kind = task
    expected = len(EEG_CHANNELS) if kind == "eeg" else 1 + len(SPEC_CHAINS) * len(SPEC_FREQS_HZ)
    try:
        if not Path(path).is_file():
            raise DataError(f"{path}: file not found")
        meta = pq.read_metadata(path)
    except DataError as exc:
        return 0, str(exc)
    except (pa.ArrowException, OSError) as exc:
        return 0, f"{path}: not a parquet file or truncated ({exc})"
    if meta.num_columns != expected:
        return 0, f"{path}: {meta.num_columns} columns, expected {expected}"
    if meta.num_rows == 0:
        return 0, f"{path}: no rows"
    return int(meta.num_rows), None


def _plan_files(
    rows: pd.DataFrame, data: DataDir, kind: str, excluded: list[dict], mapper: Callable = map
) -> list[dict[str, Any]]:
    """One entry per readable referenced file: id, path, start, n, the rows' offsets and indices.

    ``mapper`` maps :func:`_footer_rows` over the files (``pool.map`` to read footers in parallel).
    """
    id_col, off_col, path_of = (
        ("eeg_id", "eeg_label_offset_seconds", data.eeg_path) if kind == "eeg"
        else ("spectrogram_id", "spectrogram_label_offset_seconds", data.spectrogram_path)
    )  # fmt: skip
    ids = rows[id_col].to_numpy()
    order = np.argsort(ids, kind="stable")  # by file, rows in table order (as groupby)
    file_ids, first = np.unique(ids[order], return_index=True)
    offsets = np.split(rows[off_col].to_numpy(dtype=float)[order], first[1:])
    indices = np.split(rows.index.to_numpy()[order], first[1:])
    paths = [str(path_of(int(file_id), "train")) for file_id in file_ids]
    files, start = [], 0
    for file_id, path, offs, idx, (n, error) in zip(
        file_ids, paths, offsets, indices, mapper(_footer_rows, [(p, kind) for p in paths]),
        strict=True,
    ):  # fmt: skip
        if error:
            excluded.append({"kind": kind, "id": int(file_id), "error": error})
            continue
        files.append({"id": int(file_id), "path": path, "start": start, "n": n,
                      "offsets": offs.tolist(), "rows": idx.tolist()})  # fmt: skip
        start += n
    return files


def _fingerprint(plan: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()[:16]


# --- shards (run in worker processes) ---------------------------------------------------------
def _eeg_window(entry: dict, data: np.ndarray, off: float, nan_per_t: np.ndarray,
                bad_per_t: np.ndarray) -> dict[str, Any]:  # fmt: skip
    """Start and NaN share of one row's window, or why it is dropped (``error`` + ``reason``)."""
    try:
        sl = eeg_window_slice(entry["n"], off, EEG_WINDOW_S, source=entry["path"])
    except DataError as exc:
        return {"error": str(exc)}
    where = f"{entry['path']}: EEG window [{off:g}, {off + EEG_WINDOW_S:g}) s"
    if bad_per_t[sl.stop] > bad_per_t[sl.start]:
        problem = describe_nonphysical(data[:, sl], start=sl.start)
        return {"error": f"{where}: {problem}", "reason": "eeg_nonphysical"}
    if nan_per_t[sl.stop] > nan_per_t[sl.start] and no_data(data[:, sl]):  # (NaN: it may be)
        return {"error": f"{where}: no data (every electrode is NaN)", "reason": "eeg_no_data"}
    share = (nan_per_t[sl.stop] - nan_per_t[sl.start]) / ((sl.stop - sl.start) * len(EEG_CHANNELS))
    return {"start": sl.start, "nan_fraction": float(share)}


def _eeg_file(entry: dict, mm: np.ndarray, dtype: str) -> dict[str, Any]:
    eeg = read_eeg(entry["path"])
    if eeg.n_times != entry["n"]:
        raise DataError(f"{entry['path']}: {eeg.n_times} samples, footer said {entry['n']}")
    x = eeg.data
    if max(x.max(), -x.min()) <= NONPHYSICAL_UV:  # False for NaN (max/min propagate it), ±inf
        # the usual file (no NaN, nothing non-physical): no masks, no copies
        nan_per_t = bad_per_t = np.zeros(entry["n"] + 1, dtype=np.int64)
        filled, n_filled, n_bad = x, 0, 0
    else:
        bad = nonphysical(x)
        nan_per_t = np.concatenate([[0], np.cumsum(np.isnan(x).sum(axis=0))])
        bad_per_t = np.concatenate([[0], np.cumsum(bad.sum(axis=0))])
        filled, n_filled = fill_nan(
            np.where(bad, np.float32(np.nan), x) if bad.any() else x, copy=False
        )
        n_bad = int(bad.sum())
    windows = [_eeg_window(entry, eeg.data, off, nan_per_t, bad_per_t) for off in entry["offsets"]]
    saturated = 0
    if dtype == "float16" and max(-filled.min(), filled.max()) > FLOAT16_MAX_UV:
        saturated = int(np.count_nonzero(np.abs(filled) > FLOAT16_MAX_UV))
        filled = np.clip(filled, -FLOAT16_MAX_UV, FLOAT16_MAX_UV)
    store_float16(mm[entry["start"] : entry["start"] + entry["n"]], filled.T)  # (n_times, 20)
    return {"nan_fraction": n_filled / filled.size, "saturated": saturated,
            "nonphysical": n_bad, "windows": windows}  # fmt: skip


def _spec_file(entry: dict, mm: np.ndarray, times_mm: np.ndarray) -> dict[str, Any]:
    spec = read_spectrogram(entry["path"])
    if len(spec.times_s) != entry["n"]:
        raise DataError(f"{entry['path']}: {len(spec.times_s)} rows, footer said {entry['n']}")
    mm[entry["start"] : entry["start"] + entry["n"]] = spec.data
    times_mm[entry["start"] : entry["start"] + entry["n"]] = spec.times_s
    nan_share = np.isnan(spec.data).mean(axis=(1, 2))  # (n_rows,)
    nan_rows = np.concatenate([[0], np.cumsum(nan_share)])
    windows = []
    for off in entry["offsets"]:
        try:
            sl = spectrogram_window_slice(spec.times_s, off, SPEC_WINDOW_S, source=entry["path"])
            share = (nan_rows[sl.stop] - nan_rows[sl.start]) / (sl.stop - sl.start)
            windows.append({"start": sl.start, "nan_fraction": float(share)})
        except DataError as exc:
            windows.append({"error": str(exc)})
    return {"nan_fraction": float(nan_share.mean()), "windows": windows}


def _run_shard(task: dict[str, Any]) -> dict[str, Any]:
    """Read, fill and store the files of one shard; returns per-file results (errors included)."""
    work = Path(task["work"])
    kind = task["kind"]
    mm = np.load(work / (EEG_FILE if kind == "eeg" else SPEC_FILE), mmap_mode="r+")
    times_mm = np.load(work / SPEC_TIMES, mmap_mode="r+") if kind == "spectrogram" else None
    results = []
    for entry in task["files"]:
        try:
            res = (
                _eeg_file(entry, mm, task["dtype"])
                if kind == "eeg"
                else _spec_file(entry, mm, times_mm)
            )
            results.append({"id": entry["id"], **res})
        except DataError as exc:
            results.append({"id": entry["id"], "error": str(exc)})
    for m in (mm, times_mm):  # on the disk before the shard counts as done (power loss)
        if m is not None and utils.FSYNC:
            m.flush()
    del mm, times_mm  # unmap: written pages stay in the page cache (survive a killed process)
    return {"kind": kind, "shard": task["shard"], "files": results}


# --- orchestration ----------------------------------------------------------------------------
def _read_rows(data: DataDir, report: dict[str, Any]) -> pd.DataFrame:
    """Valid train rows (bad votes/offsets dropped and counted); DataError on schema problems."""
    df = load_csv(data.train_csv)
    problems = problems_train_csv(df, data.train_csv)
    if any("missing column" in p for p in problems):
        raise DataError(problems[0])
    ok = valid_rows(df)
    report["rows_dropped"]["bad_votes_or_offsets"] = int((~ok).sum())
    report["row_problems"].extend(problems[:100])
    df = df[ok].reset_index(drop=True)
    return df.astype(
        {c: np.int64 for c in (*VOTE_COLUMNS, "eeg_id", "spectrogram_id", "patient_id")}
    )


def _prepare_work(
    work: Path, plan: dict[str, Any], fingerprint: str, totals: dict[str, int], dtype: str
) -> None:
    """Create (or keep, when the plan is unchanged) the work directory and its memory maps."""
    plan_path = work / "plan.json"
    if plan_path.exists() and json.loads(plan_path.read_text())["fingerprint"] == fingerprint:
        log.info("resuming %s", work)
        return
    if work.exists():
        log.info("discarding %s (made for another plan)", work)
        shutil.rmtree(work)
    (work / "shards").mkdir(parents=True)
    n_chains, n_freqs = len(SPEC_CHAINS), len(SPEC_FREQS_HZ)
    np.lib.format.open_memmap(work / EEG_FILE, "w+", dtype, (totals["eeg"], len(EEG_CHANNELS)))
    if totals.get("spectrogram") is not None:
        np.lib.format.open_memmap(
            work / SPEC_FILE, "w+", np.float32, (totals["spectrogram"], n_chains, n_freqs)
        )
        np.lib.format.open_memmap(work / SPEC_TIMES, "w+", np.float64, (totals["spectrogram"],))
    write_json_atomic(plan_path, {"fingerprint": fingerprint, "plan": plan}, indent=None)


def _shard_tasks(
    work: Path, files: dict[str, list[dict]], dtype: str, shard_files: int
) -> list[dict]:
    tasks = []
    for kind, entries in files.items():
        for k in range(0, len(entries), shard_files):
            shard = f"{kind}_{k // shard_files:05d}"
            if not (work / "shards" / f"{shard}.json").exists():
                tasks.append({"work": str(work), "kind": kind, "shard": shard, "dtype": dtype,
                              "files": entries[k : k + shard_files]})  # fmt: skip
    return tasks


def _run_shards(
    tasks: list[dict], work: Path, pool: ProcessPoolExecutor | None, progress: bool,
    on_shard: Callable | None, total_files: int, run: Callable[[dict], dict] | None = None,
    unit: str = "file",
) -> None:  # fmt: skip
    """Run the shards (in ``pool``, or here when None) with ``run`` (default: read files); each
    finished shard is saved at once. Tasks and results list their ``unit``s under ``"files"``."""
    run = run or _run_shard
    done_files = total_files - sum(len(t["files"]) for t in tasks)
    bar = tqdm(total=total_files, initial=done_files, desc="prepare", unit=unit,
               file=sys.stderr, disable=None if progress else True)  # fmt: skip

    def finish(result: dict) -> None:
        write_json_atomic(work / "shards" / f"{result['shard']}.json", result, indent=None)
        bar.update(len(result["files"]))
        if on_shard is not None:
            on_shard(result)

    try:
        if pool is None:
            for task in tasks:
                finish(run(task))
            return
        pending: set[Future] = {pool.submit(run, t) for t in tasks}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                finish(fut.result())
    finally:
        bar.close()


def _load_results(work: Path) -> dict[str, dict[int, dict]]:
    out: dict[str, dict[int, dict]] = {"eeg": {}, "spectrogram": {}}
    for path in sorted((work / "shards").glob("*.json")):
        result = json.loads(path.read_text())
        out[result["kind"]].update({f["id"]: f for f in result["files"]})
    return out


# --- assembly ---------------------------------------------------------------------------------
_KIND_COLUMNS = {
    "eeg": ("eeg_id", "n_samples", "eeg"),
    "spectrogram": ("spectrogram_id", "n_rows", "spec"),
}


def _assemble_kind(
    kind: str, files: list[dict], results: dict[int, dict], table: pd.DataFrame, report: dict
) -> pd.DataFrame:
    """File index of one kind; fills ``<prefix>_start`` / ``<prefix>_nan_fraction`` in ``table``
    and the drop reason of rows whose file or window is unusable in ``table['_drop']``."""
    id_col, count_col, prefix = _KIND_COLUMNS[kind]
    index, ok_rows, starts, shares = [], [], [], []
    drop: dict[int, str] = {}
    for entry in files:
        res = results.get(entry["id"], {"error": f"{entry['path']}: not processed"})
        if "error" in res:
            report["files_excluded"].append(
                {"kind": kind, "id": entry["id"], "error": res["error"]}
            )
            drop.update(dict.fromkeys(entry["rows"], f"{kind}_file_excluded"))
            continue
        index.append({id_col: entry["id"], "start": entry["start"], count_col: entry["n"],
                      "nan_fraction": res["nan_fraction"], "saturated": res.get("saturated", 0),
                      "nonphysical": res.get("nonphysical", 0)})  # fmt: skip
        for row, win in zip(entry["rows"], res["windows"], strict=True):
            if "error" in win:
                drop[row] = win.get("reason", f"{kind}_window")
                report["row_problems"].append(win["error"])
            else:
                ok_rows.append(row)
                starts.append(entry["start"] + win["start"])
                shares.append(win["nan_fraction"])
    table.loc[ok_rows, f"{prefix}_start"] = np.asarray(starts, dtype=np.int64)
    table.loc[ok_rows, f"{prefix}_nan_fraction"] = np.asarray(shares, dtype=np.float64)
    planned = {r for e in files for r in e["rows"]}  # the others' file failed at planning
    drop.update({r: f"{kind}_file_excluded" for r in table.index if r not in planned})
    fresh = [r for r in drop if pd.isna(table.at[r, "_drop"])]
    table.loc[fresh, "_drop"] = [drop[r] for r in fresh]
    return pd.DataFrame(
        index, columns=[id_col, "start", count_col, "nan_fraction", "saturated", "nonphysical"]
    )


def _rows_table(rows: pd.DataFrame, n_folds: int, seed: int) -> pd.DataFrame:
    table = labels.annotate(rows)
    n_patients = rows["patient_id"].nunique()
    table["fold"] = (assign_folds(rows, n_folds=resolve_n_folds(n_folds, n_patients), seed=seed)
                     if n_patients >= 2 else 0)  # fmt: skip
    table["_drop"] = pd.Series(pd.NA, index=table.index, dtype="object")
    for prefix in ("eeg", "spec"):
        table[f"{prefix}_start"] = np.int64(-1)
        table[f"{prefix}_nan_fraction"] = np.nan
    return table


def _finish(
    work: Path, out: Path, tables: dict[str, pd.DataFrame], report: dict, manifest: dict
) -> None:
    """Write the tables, folds.csv, report and manifest, flush all to the disk, rename ``work``
    onto ``out``, then tidy up."""
    for name, table in tables.items():
        table.to_parquet(work / name, index=False)
    write_folds(tables[ROWS_FILE], work / FOLDS_CSV)  # the split as a plain table, for other tools
    write_json_atomic(work / REPORT_FILE, report)
    write_json_atomic(work / MANIFEST_FILE, manifest)
    if utils.FSYNC:
        fsync_tree(work)
    os.replace(work, out)  # atomic: ``out`` is absent until this line, complete after it
    if utils.FSYNC:
        fsync_path(out.parent)
    shutil.rmtree(out / "shards", ignore_errors=True)  # resume bookkeeping, no longer needed
    (out / "plan.json").unlink(missing_ok=True)


def build_cache(
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    workers: int = 2,
    dtype: str = "float16",
    eeg_only: bool = False,
    n_folds: int = 5,
    seed: int = 42,
    progress: bool = True,
    shard_files: int = SHARD_FILES,
    on_shard: Callable[[dict], None] | None = None,
) -> Path:
    """Build (or resume building) the training cache of a Kaggle-layout directory.

    Parameters
    ----------
    data_dir : directory with train.csv, train_eegs/, train_spectrograms/
    out_dir : the cache directory to create (must not exist, unless it is this same cache)
    workers : processes reading files (1: in this process)
    dtype : "float16" (default) or "float32" for ``eeg.npy``
    eeg_only : skip spectrograms (EEG-only sets such as the IIIC segments)
    n_folds, seed : the patient-grouped folds stored in ``rows.parquet``
    progress : progress bar on stderr (terminals only)
    shard_files : files per shard, the unit of resumption
    on_shard : called with each finished shard's result (tests use it to simulate a kill)

    Returns
    -------
    Path of the finished cache.

    Raises
    ------
    DataError
        train.csv missing/unreadable/without required columns, ``out_dir`` holds something else.
    """
    check_option("dtype", dtype, EEG_DTYPES)
    t0 = time.perf_counter()
    data, out = DataDir(Path(data_dir).resolve()), Path(out_dir)
    report: dict[str, Any] = {"files_excluded": [], "rows_dropped": {}, "row_problems": []}
    rows = _read_rows(data, report)
    with contextlib.ExitStack() as stack:
        stack.enter_context(exclusive_lock(out.with_name(out.name + ".lock"), f"--out {out}"))
        pool = (stack.enter_context(process_pool(workers, initializer=die_with_parent))
                if workers > 1 else None)  # fmt: skip
        if pool is not None:
            stack.callback(pool.shutdown, wait=True, cancel_futures=True)
        return _build(data, out, rows, report, pool, dtype=dtype, eeg_only=eeg_only,
                      n_folds=n_folds, seed=seed, progress=progress, shard_files=shard_files,
                      on_shard=on_shard, t0=t0)  # fmt: skip


def _build(data: DataDir, out: Path, rows: pd.DataFrame, report: dict, pool, *, dtype: str,
           eeg_only: bool, n_folds: int, seed: int, progress: bool, shard_files: int,
           on_shard: Callable | None, t0: float) -> Path:  # fmt: skip
    """The steps of :func:`build_cache` after train.csv was read (``pool``: None or workers)."""
    work = out.with_name(out.name + ".partial")
    mapper = pool.map if pool is not None else map
    planned_excluded: list[dict] = []
    kinds = ("eeg",) if eeg_only else ("eeg", "spectrogram")
    files = {kind: _plan_files(rows, data, kind, planned_excluded, mapper) for kind in kinds}
    plan = {"data_dir": str(data.root), "dtype": dtype, "eeg_only": eeg_only, "files": files,
            "n_folds": n_folds, "seed": seed, "format_version": CACHE_FORMAT_VERSION}  # fmt: skip
    fingerprint = _fingerprint(plan)
    if (out / MANIFEST_FILE).exists():
        if json.loads((out / MANIFEST_FILE).read_text()).get("fingerprint") == fingerprint:
            if not (out / FOLDS_CSV).is_file():  # caches of iiic <= 0.1 wrote it after the rename
                log.warning("%s: %s was missing; rewritten from %s", out, FOLDS_CSV, ROWS_FILE)
                write_folds(pd.read_parquet(out / ROWS_FILE), out / FOLDS_CSV)
            log.info("%s is up to date", out)
            return out
        raise DataError(f"{out}: exists and was built from other data or options; remove it first")
    if out.exists():
        raise DataError(f"{out}: exists and is not an iiic cache; choose another --out")
    totals = {k: sum(f["n"] for f in v) for k, v in files.items()}
    _prepare_work(work, plan, fingerprint, totals, dtype)
    tasks = _shard_tasks(work, files, dtype, shard_files)
    n_files = sum(len(v) for v in files.values())
    _run_shards(tasks, work, pool, progress, on_shard, n_files)
    t_read = time.perf_counter() - t0
    results = _load_results(work)
    report["files_excluded"].extend(planned_excluded)
    table = _rows_table(rows, n_folds, seed)
    tables = {EEG_INDEX: _assemble_kind("eeg", files["eeg"], results["eeg"], table, report)}
    if not eeg_only:
        tables[SPEC_INDEX] = _assemble_kind(
            "spectrogram", files["spectrogram"], results["spectrogram"], table, report
        )
    drop = table.pop("_drop")
    for reason, n in drop.value_counts().items():
        report["rows_dropped"][str(reason)] = int(n)
    kept = table[drop.isna()].reset_index(drop=True)
    tables[ROWS_FILE] = kept
    report.update(_summary(kept, tables, rows, dtype, t_read, time.perf_counter() - t0))
    manifest = {"format_version": CACHE_FORMAT_VERSION, "fingerprint": fingerprint,
                "eeg_dtype": dtype, "sfreq_hz": SFREQ_HZ, "data_dir": str(data.root),
                "eeg_only": eeg_only, "n_rows": len(kept), "n_eegs": len(tables[EEG_INDEX]),
                "n_spectrograms": 0 if eeg_only else len(tables[SPEC_INDEX]),
                "n_folds": int(kept["fold"].nunique()) if len(kept) else 0, "seed": seed,
                "channels": list(EEG_CHANNELS)}  # fmt: skip
    _finish(work, out, tables, report, manifest)
    _log_report(out, report)
    return out


FOLDS_CSV = "folds.csv"
"""eeg_id, eeg_sub_id, patient_id, fold of every kept row (same split as rows.parquet)."""


def _summary(kept, tables, rows, dtype, t_read, t_total) -> dict[str, Any]:
    eeg_index = tables[EEG_INDEX]
    return {
        "counts": {
            "rows_in_train_csv_valid": len(rows),
            "rows_kept": len(kept),
            "eegs": len(eeg_index),
            "spectrograms": len(tables.get(SPEC_INDEX, [])),
            "eegs_with_nan": int((eeg_index.nan_fraction > 0).sum()),
            "saturated_values": int(eeg_index.saturated.sum()),
            "nonphysical_values": int(eeg_index.nonphysical.sum()),
        },  # fmt: skip
        "eeg_dtype": dtype,
        "seconds": {"read_and_store": round(t_read, 3), "total": round(t_total, 3)},
    }


def _log_report(out: Path, report: dict) -> None:
    n_ex, dropped = len(report["files_excluded"]), sum(report["rows_dropped"].values())
    if n_ex or dropped:
        log.warning("%s: %d file(s) excluded, %d row(s) dropped (%s); see %s", out, n_ex, dropped,
                    report["rows_dropped"], out / REPORT_FILE)  # fmt: skip
