"""The training cache: every train EEG/spectrogram read once into memory-mapped ``.npy`` arrays.

Layout of a cache directory (written by :func:`build_cache` / ``iiic prepare``)::

    CACHE/eeg.npy              (total_samples, 20) float16 or float32, µV, time-major: the
                               files one after another, NaN filled (see cache_build)
    CACHE/eeg_index.parquet    eeg_id, start, n_samples, nan_fraction, saturated, nonphysical
    CACHE/spec.npy             (total_rows, 4, 100) float32, Kaggle spectrogram rows (NaN kept)
    CACHE/spec_times.npy       (total_rows,) float64, the 'time' column, s
    CACHE/spec_index.parquet   spectrogram_id, start, n_rows, nan_fraction
    CACHE/rows.parquet         one row per kept train row (see ROWS_COLUMNS)
    CACHE/cache_report.json    excluded files, dropped rows (counts + reasons), timings
    CACHE/manifest.json        format version, dtype, source directory, counts

A window is one contiguous slice of ``eeg.npy``; :class:`Cache` returns it channel-first float32.
The cache pickles without its arrays (DataLoader workers reopen the memory maps lazily).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from iiic.constants import EEG_WINDOW_S, SFREQ_HZ, SPEC_WINDOW_S
from iiic.data.errors import DataError, WindowError
from iiic.data.windows import eeg_window_slice, spectrogram_window_slice

CACHE_FORMAT_VERSION = 1
EEG_FILE, EEG_INDEX = "eeg.npy", "eeg_index.parquet"
SPEC_FILE, SPEC_TIMES, SPEC_INDEX = "spec.npy", "spec_times.npy", "spec_index.parquet"
ROWS_FILE, REPORT_FILE, MANIFEST_FILE = "rows.parquet", "cache_report.json", "manifest.json"
EEG_DTYPES: tuple[str, ...] = ("float16", "float32")


class Cache:
    """Read access to a finished cache directory.

    Attributes
    ----------
    root : Path
    rows : DataFrame
        One row per kept train row: ids, offsets (s), patient_id, fold, vote columns,
        total_votes, quality, agreement, period_id, ``eeg_nan_fraction`` / ``spec_nan_fraction``
        (share of NaN-filled values in the row's window), ``eeg_start`` / ``spec_start`` (the
        window's first index in ``eeg.npy`` / ``spec.npy``).
    eeg_index, spec_index : DataFrame
        Per-file start, length and NaN fraction, indexed by eeg_id / spectrogram_id.
    manifest : dict
    """

    def __init__(self, root: Path, manifest: dict[str, Any]) -> None:
        self.root = Path(root)
        self.manifest = manifest
        self.rows = pd.read_parquet(self.root / ROWS_FILE)
        self.eeg_index = pd.read_parquet(self.root / EEG_INDEX).set_index("eeg_id")
        spec_index = self.root / SPEC_INDEX
        self.spec_index = (pd.read_parquet(spec_index).set_index("spectrogram_id")
                           if spec_index.exists() else None)  # fmt: skip
        self._arrays: dict[str, np.ndarray] | None = None
        self._eeg_spans = _spans(self.eeg_index, "n_samples")
        self._spec_spans = _spans(self.spec_index, "n_rows") if self.spec_index is not None else {}

    @classmethod
    def open(cls, cache_dir: str | Path) -> Cache:
        """Open a cache directory; :class:`DataError` if it is missing or unfinished."""
        root = Path(cache_dir)
        manifest_path = root / MANIFEST_FILE
        if not manifest_path.is_file():
            raise DataError(f"{root}: not a finished iiic cache (no {MANIFEST_FILE}); "
                            "build it with `iiic prepare`")  # fmt: skip
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("format_version") != CACHE_FORMAT_VERSION:
            raise DataError(f"{manifest_path}: cache format {manifest.get('format_version')}, "
                            f"this iiic reads {CACHE_FORMAT_VERSION}; rebuild it")  # fmt: skip
        return cls(root, manifest)

    # --- memory maps, opened lazily per process -------------------------------------------
    def _array(self, name: str) -> np.ndarray:
        if self._arrays is None:
            self._arrays = {}
        if name not in self._arrays:
            path = self.root / name
            if not path.exists():
                raise DataError(f"{path}: absent (cache built with eeg_only=True?)")
            self._arrays[name] = np.load(path, mmap_mode="r")
        return self._arrays[name]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_arrays"] = None  # never pickle the memory maps' contents
        return state

    @property
    def sfreq_hz(self) -> float:
        return float(self.manifest.get("sfreq_hz", SFREQ_HZ))

    @property
    def eeg_dtype(self) -> str:
        return str(self.manifest["eeg_dtype"])

    # --- EEG ----------------------------------------------------------------------------
    def _eeg_span(self, eeg_id: int) -> tuple[int, int]:
        try:
            return self._eeg_spans[int(eeg_id)]
        except KeyError:
            raise DataError(f"{self.root}: eeg_id {eeg_id} is not in the cache") from None

    def eeg_record(self, eeg_id: int) -> np.ndarray:
        """The whole (NaN-filled) EEG file, shape (20, n_samples) float32 µV."""
        start, n = self._eeg_span(eeg_id)
        return np.ascontiguousarray(self._array(EEG_FILE)[start : start + n].T, dtype=np.float32)

    def eeg(self, eeg_id: int, offset_s: float, length_s: float = EEG_WINDOW_S) -> np.ndarray:
        """EEG window ``[offset_s, offset_s + length_s)``, shape (20, n_times) float32 µV.

        Raises
        ------
        WindowError
            The window runs past either end of the file.
        """
        start, n = self._eeg_span(eeg_id)
        sl = eeg_window_slice(n, offset_s, length_s, sfreq_hz=self.sfreq_hz,
                              source=self.root / EEG_FILE, row=f"eeg_id={int(eeg_id)}")  # fmt: skip
        block = self._array(EEG_FILE)[start + sl.start : start + sl.stop]  # (n_times, 20)
        return np.ascontiguousarray(block.T, dtype=np.float32)

    # --- spectrograms -----------------------------------------------------------------------
    def _spec_span(self, spectrogram_id: int) -> tuple[int, int]:
        if self.spec_index is None:
            raise DataError(f"{self.root}: cache has no spectrograms (built with eeg_only=True)")
        try:
            return self._spec_spans[int(spectrogram_id)]
        except KeyError:
            raise DataError(
                f"{self.root}: spectrogram_id {spectrogram_id} is not in the cache"
            ) from None

    def spectrogram_record(self, spectrogram_id: int) -> tuple[np.ndarray, np.ndarray]:
        """The whole spectrogram: times (n_rows,) s and data (n_rows, 4, 100) float32."""
        start, n = self._spec_span(spectrogram_id)
        times = np.asarray(self._array(SPEC_TIMES)[start : start + n])
        return times, np.asarray(self._array(SPEC_FILE)[start : start + n], dtype=np.float32)

    def spectrogram(
        self, spectrogram_id: int, offset_s: float, length_s: float = SPEC_WINDOW_S
    ) -> np.ndarray:
        """Rows with ``offset_s <= time < offset_s + length_s``, shape (300, 4, 100) float32.

        Raises
        ------
        WindowError
            The window runs past the file or a gap in 'time' leaves too few rows.
        """
        start, n = self._spec_span(spectrogram_id)
        times = self._array(SPEC_TIMES)[start : start + n]
        sl = spectrogram_window_slice(times, offset_s, length_s, source=self.root / SPEC_FILE,
                                      row=f"spectrogram_id={int(spectrogram_id)}")  # fmt: skip
        block = self._array(SPEC_FILE)[start + sl.start : start + sl.stop]
        return np.array(block, dtype=np.float32)


def _spans(index: pd.DataFrame, count_column: str) -> dict[int, tuple[int, int]]:
    """file id → (first index, length) for fast lookups."""
    starts, counts = index["start"].to_numpy(), index[count_column].to_numpy()
    return {int(i): (int(s), int(n)) for i, s, n in zip(index.index, starts, counts, strict=True)}


def build_cache(data_dir: str | Path, out_dir: str | Path, **options: Any) -> Path:
    """Build a cache from a Kaggle-layout directory; see :func:`iiic.data.cache_build.build_cache`."""
    from iiic.data.cache_build import build_cache as _build

    return _build(data_dir, out_dir, **options)


__all__ = ["EEG_DTYPES", "Cache", "WindowError", "build_cache"]
