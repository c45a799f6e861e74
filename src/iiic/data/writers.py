"""Writers of HMS-format parquet files (the inverse of :mod:`iiic.data.readers`).

Used by the synthetic twin, tests, benchmarks and anything that must produce files Kaggle code
can read: EEG = 20 float32 columns (``constants.EEG_CHANNELS``); spectrogram = 'time' + 400
float32 columns whose missing rows are parquet nulls, as in the real files. Files are written
atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from iiic.constants import EEG_CHANNELS, SPEC_COLUMNS
from iiic.data.readers import TIME_COLUMN
from iiic.utils import atomic_path, bad_value

PARQUET_OPTIONS = {"compression": "snappy", "use_dictionary": False}
"""Snappy like the real files; no dictionary encoding (10x faster on noise-like float data)."""


def write_eeg(path: str | Path, data: np.ndarray) -> Path:
    """Write ``data`` (20, n_times) µV as an HMS EEG parquet file (float32 columns)."""
    data = np.asarray(data, dtype=np.float32)
    if data.ndim != 2 or data.shape[0] != len(EEG_CHANNELS):
        raise ValueError(bad_value("data", f"shape ({len(EEG_CHANNELS)}, n_times)", data.shape))
    table = pa.table({name: data[i] for i, name in enumerate(EEG_CHANNELS)})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, **PARQUET_OPTIONS)
    return Path(path)


def write_spectrogram(
    path: str | Path, times_s: np.ndarray, data: np.ndarray, time_dtype: str = "int64"
) -> Path:
    """Write a Kaggle spectrogram: ``times_s`` (n_rows,) s and ``data`` (n_rows, 4, 100).

    ``time_dtype`` is the integer type of the 'time' column (int64 in train, int16 in test files).
    NaN values are stored as parquet nulls, as the real files store missing rows (a real
    spectrogram with 26 missing rows holds 10,400 null cells and no NaN), so pipelines that fill
    nulls (polars ``fill_null``, pyarrow null counts) see these files as they see real ones.
    """
    data = np.asarray(data, dtype=np.float32).reshape(len(times_s), len(SPEC_COLUMNS))
    columns = {TIME_COLUMN: pa.array(np.asarray(times_s).astype(time_dtype))}
    for i, name in enumerate(SPEC_COLUMNS):
        column = np.ascontiguousarray(data[:, i])
        columns[name] = pa.array(column, mask=np.isnan(column))
    with atomic_path(path) as tmp:
        pq.write_table(pa.table(columns), tmp, **PARQUET_OPTIONS)
    return Path(path)
