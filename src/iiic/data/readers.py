"""Readers of HMS parquet files: EEG → :class:`EEG`, Kaggle spectrogram → :class:`Spectrogram`.

Data are read with polars (no pandas round trip): for the 401-column spectrogram files it takes a
third of pyarrow's time (per-column overhead; ``benchmarks/prepare.py`` measures both). polars runs
a thread pool that a forked child must not use: worker processes that read files are started with
"spawn" (:func:`iiic.utils.process_pool`). Every problem raises :class:`DataError` ``f"{path}: {problem}"``: missing file, empty (0 bytes)
or truncated / non-parquet file, no rows, missing or extra columns, a non-float signal column or
a non-numeric ``time`` column, a ``time`` that is not strictly increasing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from iiic.constants import EEG_CHANNELS, SFREQ_HZ, SPEC_CHAINS, SPEC_COLUMNS, SPEC_FREQS_HZ
from iiic.data.errors import DataError

TIME_COLUMN = "time"
"""The spectrogram's time column: centre of each row, s (int16 in test files, int64 in train)."""


@dataclass(frozen=True)
class EEG:
    """One EEG parquet file.

    Attributes
    ----------
    data : ndarray, shape (20, n_times), float32
        Referential signals in µV, channel-first, in ``channels`` order (NaN kept as read).
    channels : tuple of str
        ``constants.EEG_CHANNELS``.
    sfreq_hz : float
        Sampling rate, Hz.
    source : Path
        The file it was read from.
    """

    data: np.ndarray
    channels: tuple[str, ...]
    sfreq_hz: float
    source: Path

    @property
    def n_times(self) -> int:
        return int(self.data.shape[1])

    @property
    def duration_s(self) -> float:
        return self.n_times / self.sfreq_hz


@dataclass(frozen=True)
class Spectrogram:
    """One Kaggle spectrogram parquet file.

    Attributes
    ----------
    times_s : ndarray, shape (n_rows,), float64
        Row centres, s (1, 3, 5, ...).
    data : ndarray, shape (n_rows, 4, 100), float32
        Power per (time, chain LL/RL/LP/RP, frequency); all-NaN rows are kept.
    freqs_hz : ndarray, shape (100,)
        ``constants.SPEC_FREQS_HZ``.
    source : Path
    """

    times_s: np.ndarray
    data: np.ndarray
    freqs_hz: np.ndarray
    source: Path


def open_parquet(path: str | Path) -> pq.ParquetFile:
    """Open a parquet file, mapping every failure to a :class:`DataError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (0 bytes)")
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path}: not a parquet file or truncated ({exc})") from None


def _check_columns(path: Path, names: list[str], expected: tuple[str, ...]) -> None:
    if tuple(names) == expected:
        return
    have, want = set(names), set(expected)
    missing = [c for c in expected if c not in have]
    extra = [c for c in names if c not in want]
    if missing or extra:
        more = "..." if len(missing) > 5 else ""
        parts = [f"missing column(s) {missing[:5]}{more}"] if missing else []
        parts += [f"unexpected column(s) {extra[:5]}"] if extra else []
        raise DataError(f"{path}: " + "; ".join(parts))


def _read_frame(path: Path, expected: tuple[str, ...]) -> pl.DataFrame:
    """The whole file as a polars DataFrame with exactly the ``expected`` columns and >= 1 row."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (0 bytes)")
    try:
        frame = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: not a parquet file or truncated ({reason})") from None
    _check_columns(path, frame.columns, expected)
    if frame.height == 0:
        raise DataError(f"{path}: no rows")
    return frame


def _check_float(path: Path, frame: pl.DataFrame, columns: tuple[str, ...]) -> None:
    types = dict(zip(frame.columns, frame.dtypes, strict=True))  # (frame.schema is slow to build)
    if all(t.is_float() for t in {types[c] for c in columns}):
        return
    for name in columns:
        if not types[name].is_float():
            raise DataError(
                f"{path}: column {name!r} has dtype {str(types[name]).lower()}, expected float32"
            )


def eeg_n_times(path: str | Path) -> int:
    """Number of samples of an EEG file from its parquet footer (no data read)."""
    pf = open_parquet(path)
    _check_columns(Path(path), pf.schema_arrow.names, EEG_CHANNELS)
    return int(pf.metadata.num_rows)


def read_eeg(path: str | Path) -> EEG:
    """Read an HMS EEG parquet file (20 float columns, 200 Hz, µV).

    Returns
    -------
    EEG
        ``data`` of shape (20, n_times) float32 in ``constants.EEG_CHANNELS`` order (nulls → NaN).
    """
    path = Path(path)
    frame = _read_frame(path, EEG_CHANNELS)
    _check_float(path, frame, EEG_CHANNELS)
    if tuple(frame.columns) != EEG_CHANNELS:
        frame = frame.select(EEG_CHANNELS)
    data = frame.to_numpy(order="fortran").T  # (20, n_times), C order
    return EEG(np.ascontiguousarray(data, dtype=np.float32), EEG_CHANNELS, SFREQ_HZ, path)


def read_spectrogram(path: str | Path) -> Spectrogram:
    """Read a Kaggle spectrogram parquet file ('time' + 400 float columns).

    Returns
    -------
    Spectrogram
        ``data`` of shape (n_rows, 4, 100) float32 (chain-major columns reshaped; nulls → NaN),
        ``times_s`` (n_rows,) float64.
    """
    path = Path(path)
    frame = _read_frame(path, (TIME_COLUMN, *SPEC_COLUMNS))
    time_type = frame[TIME_COLUMN].dtype
    if not (time_type.is_integer() or time_type.is_float()):
        raise DataError(
            f"{path}: column 'time' has dtype {str(time_type).lower()}, expected an integer type"
        )
    _check_float(path, frame, SPEC_COLUMNS)
    times = frame[TIME_COLUMN].cast(pl.Float64).to_numpy()
    if np.isnan(times).any() or (np.diff(times) <= 0).any():
        raise DataError(f"{path}: column 'time' is missing values or not strictly increasing")
    if tuple(frame.columns[1:]) != SPEC_COLUMNS:
        frame = frame.select(TIME_COLUMN, *SPEC_COLUMNS)
    values = frame.drop(TIME_COLUMN).to_numpy()  # (n_rows, 400)
    data = np.ascontiguousarray(values, dtype=np.float32)
    data = data.reshape(len(times), len(SPEC_CHAINS), len(SPEC_FREQS_HZ))
    return Spectrogram(times, data, np.asarray(SPEC_FREQS_HZ), path)
