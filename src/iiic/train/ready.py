"""Model-ready inputs (``iiic prepare --preset``): every cached EEG file preprocessed once, whole.

For one :class:`~iiic.signal.preprocess.PreprocessConfig`, each EEG file of a cache that has
labelled rows is read from ``eeg.npy`` and passed through
:func:`~iiic.signal.preprocess.preprocess_recording` — the one preprocessing, the same function
``iiic analyze --fast`` applies to a recording — and stored at the model's rate. A row's window is
then a slice of its file (memory-mapped, no copy until the loader converts it), so each sample is
filtered and stored once however many rows' windows overlap it (about 4x on the real train.csv).
Layout::

    CACHE/ready/<key>/eeg.npy     (n_samples, n_chans) float16, time-major, preprocess output at
                                  cfg.sfreq_out_hz: the files one after another
    CACHE/ready/<key>/files.npy   (n_files, 3) int64, sorted: each file's first sample in
                                  CACHE/eeg.npy, its length there, its first sample in eeg.npy here
    CACHE/ready/<key>/ready.json  the PreprocessConfig, shapes, the cache's fingerprint, counts,
                                  seconds, the float16 error bound

Windows near a file's ends: the filters see the file's end, extended as :func:`preprocess` extends
the ends of any input (odd reflection), and the signal of the same file everywhere else. That is
what inference sees: a Kaggle test file is one 50-s window, preprocessed whole by the same
function (a file of one window gives exactly ``preprocess(window)``), and ``analyze --fast``
preprocesses a recording whole. Away from a file's ends a window equals the per-window path to
float32 rounding; within about 5 s of a window's ends that are not its file's ends it is the
better estimate (real neighbouring signal instead of an extension).

``key`` hashes every field of the config and the format version, so a changed preprocessing never
reads another config's inputs; ``manifest.json["ready"]`` lists the finished sets and
:func:`find_ready` names what differs when none matches. A set records the fingerprint of the
cache it was made from and is rebuilt when that no longer matches.

Error bound: float16 keeps 11 significant bits, so ``|stored - preprocess_recording()| <=
2**-11 |value|`` (``+ 2**-25`` near 0); values beyond ±65,504 saturate and are counted
(``saturated``; none after clipping to ±1024 µV / 32). The build runs in shards of files and
resumes after a kill like the cache (``ready/<key>.partial/``, renamed when complete).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from iiic.constants import EEG_WINDOW_SAMPLES, SFREQ_HZ
from iiic.data.cache import EEG_FILE, MANIFEST_FILE, Cache
from iiic.data.errors import DataError
from iiic.signal.preprocess import PreprocessConfig, preprocess_recording
from iiic.utils import process_pool, store_float16, write_json_atomic

log = logging.getLogger(__name__)

READY_DIR, READY_FILE, FILES_FILE = "ready", "ready.json", "files.npy"
READY_FORMAT_VERSION = 2
"""2: per recording (1 stored each row's window)."""
SHARD_FILES = 64
"""EEG files per shard (the unit of work and of resumption)."""
FLOAT16_MAX = float(np.finfo(np.float16).max)
FLOAT16_RELATIVE_ERROR = 2.0**-11
FLOAT16_ABSOLUTE_ERROR = 2.0**-25
"""Largest rounding error of a float16 value: relative (normal range) and absolute (near 0)."""


def ready_key(cfg: PreprocessConfig) -> str:
    """Directory name of the set for ``cfg``: a hash of every field and the format version."""
    blob = json.dumps({"format": READY_FORMAT_VERSION, "preprocess": cfg.model_dump(mode="json")},
                      sort_keys=True)  # fmt: skip
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


class ReadyInputs:
    """Read access to one finished model-ready set (memory-mapped; pickles without its arrays).

    Attributes
    ----------
    root : Path
        ``CACHE/ready/<key>``.
    preprocess : PreprocessConfig
        The config the files were preprocessed with.
    meta : dict
        ``ready.json``.
    """

    def __init__(self, root: Path, meta: dict[str, Any]) -> None:
        self.root, self.meta = Path(root), meta
        self.preprocess = PreprocessConfig.model_validate(meta["preprocess"])
        self._n_times = self.preprocess.n_times()
        self._eeg: np.ndarray | None = None
        self._files: np.ndarray | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_eeg": None, "_files": None}  # workers reopen the maps

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._eeg is None or self._files is None:
            self._eeg = np.load(self.root / EEG_FILE, mmap_mode="r")
            self._files = np.load(self.root / FILES_FILE)
        return self._eeg, self._files

    def window(self, eeg_start: int) -> np.ndarray:
        """The preprocessed window that starts at sample ``eeg_start`` of the cache's eeg.npy,
        sliced from its file's preprocessed signal (a start between two output samples is
        rounded to the nearer: at most ``downsample / 2`` input samples, 12.5 ms at 40 Hz).

        Returns
        -------
        ndarray, shape (n_chans, n_times), float32 (preprocess() output units)
        """
        eeg, files = self._arrays()
        ds, n_t = self.preprocess.downsample, self._n_times
        i = int(np.searchsorted(files[:, 0], eeg_start, side="right")) - 1
        raw_start, n_raw, first = (int(v) for v in files[i]) if i >= 0 else (0, 0, 0)
        offset = eeg_start - raw_start
        if i < 0 or not 0 <= offset <= n_raw - EEG_WINDOW_SAMPLES:
            raise DataError(f"{self.root}: no preprocessed file holds the window at eeg.npy "
                            f"sample {eeg_start} (built before these rows were cached?)")  # fmt: skip
        first += min(round(offset / ds), n_raw // ds - n_t)  # (T, C) slice of the file
        return np.ascontiguousarray(eeg[first : first + n_t].T, dtype=np.float32)


def _cache_of(cache: Cache | str | Path) -> Cache:
    return cache if isinstance(cache, Cache) else Cache.open(cache)


def find_ready(cache: Cache | str | Path, cfg: PreprocessConfig) -> tuple[ReadyInputs | None, str]:
    """``(inputs, "")`` when ``cache`` holds a finished set for ``cfg``, else ``(None, why)`` with
    ``why`` naming the sets present and the fields in which their preprocessing differs."""
    cache = _cache_of(cache)
    root = cache.root / READY_DIR / ready_key(cfg)
    meta_path = root / READY_FILE
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("cache_fingerprint") == cache.manifest.get("fingerprint"):
            return ReadyInputs(root, meta), ""
        return None, f"{root}: made for an earlier build of this cache; rebuild it"
    present = cache.manifest.get("ready", {})
    if not present:
        return None, f"{cache.root}: no model-ready inputs (see `iiic prepare --preset`)"
    want = cfg.model_dump(mode="json")
    diffs = []
    for key, entry in sorted(present.items()):
        have = entry["preprocess"]
        fields = [f"{k} {have.get(k)!r} (this run: {v!r})" for k, v in want.items()
                  if have.get(k) != v]  # fmt: skip
        diffs.append(f"{key}: " + ", ".join(fields or ["format"]))
    return None, (f"{cache.root}: its model-ready inputs were made with other preprocessing "
                  f"({'; '.join(diffs)})")  # fmt: skip


# --- build ---------------------------------------------------------------------------------
def _init_worker() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread per process (torch.fft, BLAS)


def _ready_shard(task: dict[str, Any]) -> dict[str, Any]:
    """Preprocess the files ``task["files"]`` (rows of files.npy) into the work memmap."""
    cfg = PreprocessConfig.model_validate(task["preprocess"])
    work, index = Path(task["work"]), task["files"]
    raw = np.load(Path(task["cache"]) / EEG_FILE, mmap_mode="r")  # (total_samples, 20)
    out = np.load(work / EEG_FILE, mmap_mode="r+")  # (n_samples, n_chans)
    files = np.load(work / FILES_FILE)
    saturated = 0
    for raw_start, n, first in files[index]:
        x = raw[raw_start : raw_start + n].astype(np.float32)  # (n, 20): a contiguous cast,
        y = preprocess_recording(x.T, cfg)  # (C, n // ds); 6x faster than a strided one
        if y.size and not max(y.max(), -y.min()) <= FLOAT16_MAX:  # (none after a ±1024 µV clip)
            saturated += int(np.count_nonzero(np.abs(y) > FLOAT16_MAX))
            y = np.clip(y, -FLOAT16_MAX, FLOAT16_MAX)
        store_float16(out[first : first + y.shape[1]], y.T)
    del out  # unmap: written pages survive a killed process in the page cache
    return {"shard": task["shard"], "files": index, "saturated": saturated}


def _prepare_work(work: Path, plan: dict[str, Any], files: np.ndarray, shape: tuple) -> None:
    plan_path = work / "plan.json"
    fingerprint = hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()[:16]
    if plan_path.is_file() and json.loads(plan_path.read_text())["fingerprint"] == fingerprint:
        log.info("resuming %s", work)
        return
    if work.exists():
        shutil.rmtree(work)
    (work / "shards").mkdir(parents=True)
    np.save(work / FILES_FILE, files)
    np.lib.format.open_memmap(work / EEG_FILE, "w+", np.float16, shape)
    write_json_atomic(plan_path, {"fingerprint": fingerprint, "plan": plan}, indent=None)


def _file_table(cache: Cache, ds: int) -> tuple[np.ndarray, int]:
    """files.npy (n_files, 3) for the EEG files with rows, and the rows off the ``ds`` grid."""
    index = cache.eeg_index.loc[pd.unique(cache.rows["eeg_id"])].sort_values("start")
    raw = index[["start", "n_samples"]].to_numpy(dtype=np.int64)
    first = np.concatenate([[0], np.cumsum(raw[:, 1] // ds)[:-1]]).astype(np.int64)
    spans = dict(zip(index.index, raw[:, 0], strict=True))
    offsets = cache.rows["eeg_start"].to_numpy(np.int64) - cache.rows["eeg_id"].map(spans)
    return np.column_stack([raw, first]), int(np.count_nonzero(offsets.to_numpy() % ds))


def _record(cache: Cache, key: str, meta: dict[str, Any]) -> None:
    """Add the finished set to the cache's manifest.json (atomically rewritten)."""
    path = cache.root / MANIFEST_FILE
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest.setdefault("ready", {})[key] = {
        k: meta[k] for k in ("preprocess", "n_files", "n_samples", "n_chans", "dtype")
    }
    write_json_atomic(path, manifest)


def build_ready(
    cache_dir: str | Path,
    cfg: PreprocessConfig,
    *,
    workers: int = 2,
    progress: bool = True,
    shard_files: int = SHARD_FILES,
    on_shard: Callable[[dict], None] | None = None,
) -> Path:
    """Build (or resume, or find up to date) the model-ready set of ``cfg`` in a finished cache.

    Parameters
    ----------
    cache_dir : a cache of ``iiic prepare`` / :func:`iiic.data.cache.build_cache`
    cfg : the preprocessing to apply (a preset's ``preprocess`` section)
    workers : processes (1: in this process)
    progress : progress bar on stderr (terminals only)
    shard_files : EEG files per shard, the unit of resumption
    on_shard : called with each finished shard's result (tests use it to simulate a kill)

    Returns
    -------
    Path ``CACHE/ready/<key>``.
    """
    from iiic.data.cache_build import _run_shards  # the cache's shard runner (progress, resume)

    t0 = time.perf_counter()
    cache = _cache_of(cache_dir)
    if cfg.crop_s is not None:
        raise ValueError(f"crop_s={cfg.crop_s:g}: windows of this preprocessing are cropped before "
                         "they are filtered, so they train per window (short windows, cheap); "
                         "no model-ready inputs to build")  # fmt: skip
    key = ready_key(cfg)
    out = cache.root / READY_DIR / key
    found, _ = find_ready(cache, cfg)
    if found is not None:
        log.info("%s is up to date", out)
        return out
    shutil.rmtree(out, ignore_errors=True)  # made for an earlier build of the cache
    files, off_grid = _file_table(cache, cfg.downsample)
    if off_grid:
        log.warning("%d row windows start between two samples at %g Hz: served from the nearer",
                    off_grid, cfg.sfreq_out_hz)  # fmt: skip
    shape = (int(files[-1, 1] // cfg.downsample + files[-1, 2]) if len(files) else 0, cfg.n_chans)
    plan = {"key": key, "cache_fingerprint": cache.manifest.get("fingerprint"),
            "n_files": len(files), "shard_files": shard_files}  # fmt: skip
    work = out.with_name(key + ".partial")
    _prepare_work(work, plan, files, shape)
    tasks = [{"work": str(work), "cache": str(cache.root), "preprocess": cfg.model_dump(mode="json"),
              "shard": f"ready_{k // shard_files:05d}",
              "files": list(range(k, min(k + shard_files, len(files))))}
             for k in range(0, len(files), shard_files)]  # fmt: skip
    tasks = [t for t in tasks if not (work / "shards" / f"{t['shard']}.json").exists()]
    with contextlib.ExitStack() as stack:
        pool = (stack.enter_context(process_pool(workers, initializer=_init_worker))
                if workers > 1 and len(tasks) > 1 else None)  # fmt: skip
        _run_shards(tasks, work, pool, progress, on_shard, len(files), run=_ready_shard)
    shards = [json.loads(p.read_text()) for p in sorted((work / "shards").glob("*.json"))]
    meta = {"format_version": READY_FORMAT_VERSION, "key": key,
            "preprocess": cfg.model_dump(mode="json"), "cache_fingerprint": plan["cache_fingerprint"],
            "n_files": len(files), "n_samples": shape[0], "n_chans": shape[1],
            "n_times": cfg.n_times(), "dtype": "float16", "layout": "per recording, time-major",
            "sfreq_hz": cfg.sfreq_out_hz, "channels": list(cfg.channel_names),
            "eeg_hours": float(files[:, 1].sum() / SFREQ_HZ / 3600),
            "rows_off_grid": off_grid, "saturated": sum(s["saturated"] for s in shards),
            "float16_error": {"relative": FLOAT16_RELATIVE_ERROR, "absolute": FLOAT16_ABSOLUTE_ERROR},
            "seconds": round(time.perf_counter() - t0, 3)}  # fmt: skip
    write_json_atomic(work / READY_FILE, meta)
    shutil.rmtree(work / "shards")
    (work / "plan.json").unlink()
    os.replace(work, out)  # atomic: the set is absent or complete
    _record(cache, key, meta)
    log.info("model-ready inputs: %s (%d files, %d x %d, float16, %.1f s)", out, len(files),
             *shape, meta["seconds"])  # fmt: skip
    return out


__all__ = ["ReadyInputs", "build_ready", "find_ready", "ready_key"]
