"""Model-ready inputs (``iiic prepare --preset``): every cached EEG window preprocessed once.

For one :class:`~iiic.signal.preprocess.PreprocessConfig`, each distinct row window of a cache
(``rows.eeg_start``) is read from ``eeg.npy`` exactly as :class:`~iiic.data.cache.Cache` serves it
and passed through :func:`~iiic.signal.preprocess.preprocess` — the per-window path itself,
vectorised over the windows — so training reads what it would have computed, whatever the config
says. Layout::

    CACHE/ready/<key>/eeg.npy     (n_windows, n_chans, n_times) float16, preprocess() output
    CACHE/ready/<key>/starts.npy  (n_windows,) int64, sorted: each window's first sample in
                                  CACHE/eeg.npy (the rows' ``eeg_start``)
    CACHE/ready/<key>/ready.json  the PreprocessConfig, shapes, the cache's fingerprint, counts,
                                  seconds, the float16 error bound

``key`` hashes every field of the config and the format version, so a changed preprocessing never
reads another config's windows; ``manifest.json["ready"]`` lists the finished sets and
:func:`find_ready` names what differs when none matches. A set records the fingerprint of the
cache it was made from and is rebuilt when that no longer matches.

Error bound: float16 keeps 11 significant bits, so ``|stored - preprocess()| <= 2**-11 |value|``
(``+ 2**-25`` near 0); values beyond ±65,504 saturate and are counted (``saturated``; none after
clipping to ±1024 µV / 32). The build runs in shards of windows and resumes after a kill like the
cache (``ready/<key>.partial/``, renamed when complete).
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

from iiic.constants import EEG_WINDOW_SAMPLES
from iiic.data.cache import EEG_FILE, MANIFEST_FILE, Cache
from iiic.data.errors import DataError
from iiic.signal.preprocess import PreprocessConfig, preprocess
from iiic.utils import process_pool, write_json_atomic

log = logging.getLogger(__name__)

READY_DIR, READY_FILE, STARTS_FILE = "ready", "ready.json", "starts.npy"
READY_FORMAT_VERSION = 1
SHARD_WINDOWS = 512
"""Windows per shard (the unit of work and of resumption)."""
BATCH_WINDOWS = 32
"""Windows per ``preprocess`` call (all filters vectorised over them)."""
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
        The config the windows were preprocessed with.
    meta : dict
        ``ready.json``.
    """

    def __init__(self, root: Path, meta: dict[str, Any]) -> None:
        self.root, self.meta = Path(root), meta
        self.preprocess = PreprocessConfig.model_validate(meta["preprocess"])
        self._eeg: np.ndarray | None = None
        self._starts: np.ndarray | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_eeg": None, "_starts": None}  # workers reopen the maps

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._eeg is None or self._starts is None:
            self._eeg = np.load(self.root / EEG_FILE, mmap_mode="r")
            self._starts = np.load(self.root / STARTS_FILE)
        return self._eeg, self._starts

    def window(self, eeg_start: int) -> np.ndarray:
        """The preprocessed window that starts at sample ``eeg_start`` of the cache's eeg.npy.

        Returns
        -------
        ndarray, shape (n_chans, n_times), float32 (preprocess() output units)
        """
        eeg, starts = self._arrays()
        i = int(np.searchsorted(starts, eeg_start))
        if i == len(starts) or starts[i] != eeg_start:
            raise DataError(f"{self.root}: no model-ready window starts at eeg.npy sample "
                            f"{eeg_start} (built before these rows were cached?)")  # fmt: skip
        return np.asarray(eeg[i], dtype=np.float32)


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
    """Preprocess the windows ``task["files"]`` (indices into starts.npy) into the work memmap."""
    cfg = PreprocessConfig.model_validate(task["preprocess"])
    work, index = Path(task["work"]), task["files"]
    raw = np.load(Path(task["cache"]) / EEG_FILE, mmap_mode="r")  # (total_samples, 20)
    out = np.load(work / EEG_FILE, mmap_mode="r+")
    starts = np.load(work / STARTS_FILE)
    saturated = 0
    for b in range(0, len(index), BATCH_WINDOWS):
        rows = index[b : b + BATCH_WINDOWS]
        x = np.stack([raw[s : s + EEG_WINDOW_SAMPLES].T for s in starts[rows]], dtype=np.float32)
        y = preprocess(x, cfg)  # (B, C, T'): what Cache.eeg + preprocess give per window
        saturated += int(np.count_nonzero(np.abs(y) > FLOAT16_MAX))
        out[rows[0] : rows[-1] + 1] = np.clip(y, -FLOAT16_MAX, FLOAT16_MAX)
    del out  # unmap: written pages survive a killed process in the page cache
    return {"shard": task["shard"], "files": index, "saturated": saturated}


def _prepare_work(work: Path, plan: dict[str, Any], starts: np.ndarray, shape: tuple) -> None:
    plan_path = work / "plan.json"
    fingerprint = hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()[:16]
    if plan_path.is_file() and json.loads(plan_path.read_text())["fingerprint"] == fingerprint:
        log.info("resuming %s", work)
        return
    if work.exists():
        shutil.rmtree(work)
    (work / "shards").mkdir(parents=True)
    np.save(work / STARTS_FILE, starts)
    np.lib.format.open_memmap(work / EEG_FILE, "w+", np.float16, shape)
    write_json_atomic(plan_path, {"fingerprint": fingerprint, "plan": plan})


def _record(cache: Cache, key: str, meta: dict[str, Any]) -> None:
    """Add the finished set to the cache's manifest.json (atomically rewritten)."""
    path = cache.root / MANIFEST_FILE
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest.setdefault("ready", {})[key] = {
        k: meta[k] for k in ("preprocess", "n_windows", "n_chans", "n_times", "dtype")
    }
    write_json_atomic(path, manifest)


def build_ready(
    cache_dir: str | Path,
    cfg: PreprocessConfig,
    *,
    workers: int = 2,
    progress: bool = True,
    shard_windows: int = SHARD_WINDOWS,
    on_shard: Callable[[dict], None] | None = None,
) -> Path:
    """Build (or resume, or find up to date) the model-ready set of ``cfg`` in a finished cache.

    Parameters
    ----------
    cache_dir : a cache of ``iiic prepare`` / :func:`iiic.data.cache.build_cache`
    cfg : the preprocessing to apply (a preset's ``preprocess`` section)
    workers : processes (1: in this process)
    progress : progress bar on stderr (terminals only)
    shard_windows : windows per shard, the unit of resumption
    on_shard : called with each finished shard's result (tests use it to simulate a kill)

    Returns
    -------
    Path ``CACHE/ready/<key>``.
    """
    from iiic.data.cache_build import _run_shards  # the cache's shard runner (progress, resume)

    t0 = time.perf_counter()
    cache = _cache_of(cache_dir)
    key = ready_key(cfg)
    out = cache.root / READY_DIR / key
    found, _ = find_ready(cache, cfg)
    if found is not None:
        log.info("%s is up to date", out)
        return out
    shutil.rmtree(out, ignore_errors=True)  # made for an earlier build of the cache
    starts = np.unique(cache.rows["eeg_start"].to_numpy(dtype=np.int64))
    shape = (len(starts), cfg.n_chans, cfg.n_times())
    plan = {"key": key, "cache_fingerprint": cache.manifest.get("fingerprint"),
            "n_windows": len(starts), "shard_windows": shard_windows}  # fmt: skip
    work = out.with_name(key + ".partial")
    _prepare_work(work, plan, starts, shape)
    tasks = [{"work": str(work), "cache": str(cache.root), "preprocess": cfg.model_dump(mode="json"),
              "shard": f"ready_{k // shard_windows:05d}",
              "files": list(range(k, min(k + shard_windows, len(starts))))}
             for k in range(0, len(starts), shard_windows)]  # fmt: skip
    tasks = [t for t in tasks if not (work / "shards" / f"{t['shard']}.json").exists()]
    with contextlib.ExitStack() as stack:
        pool = (stack.enter_context(process_pool(workers, initializer=_init_worker))
                if workers > 1 and len(tasks) > 1 else None)  # fmt: skip
        _run_shards(tasks, work, pool, progress, on_shard, len(starts), run=_ready_shard,
                    unit="window")  # fmt: skip
    shards = [json.loads(p.read_text()) for p in sorted((work / "shards").glob("*.json"))]
    meta = {"format_version": READY_FORMAT_VERSION, "key": key,
            "preprocess": cfg.model_dump(mode="json"), "cache_fingerprint": plan["cache_fingerprint"],
            "n_windows": shape[0], "n_chans": shape[1], "n_times": shape[2], "dtype": "float16",
            "sfreq_hz": cfg.sfreq_out_hz, "channels": list(cfg.channel_names),
            "saturated": sum(s["saturated"] for s in shards),
            "float16_error": {"relative": FLOAT16_RELATIVE_ERROR, "absolute": FLOAT16_ABSOLUTE_ERROR},
            "seconds": round(time.perf_counter() - t0, 3)}  # fmt: skip
    write_json_atomic(work / READY_FILE, meta)
    shutil.rmtree(work / "shards")
    (work / "plan.json").unlink()
    os.replace(work, out)  # atomic: the set is absent or complete
    _record(cache, key, meta)
    log.info("model-ready inputs: %s (%d windows, %d x %d, float16, %.1f s)", out, *shape,
             meta["seconds"])  # fmt: skip
    return out


__all__ = ["ReadyInputs", "build_ready", "find_ready", "ready_key"]
