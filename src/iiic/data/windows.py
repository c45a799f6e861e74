"""Windows of a row: the 50-s EEG window and the 600-s spectrogram window.

A train row's EEG window is ``[eeg_label_offset_seconds, +50 s)`` of its EEG file (10,000
samples at 200 Hz) and its spectrogram window holds the rows with
``spectrogram_label_offset_seconds <= time < offset + 600 s`` (300 rows, times 1, 3, 5, ...).
A test row's windows are its whole files (exactly 50 s of EEG, 600 s of spectrogram).

A window that runs past either end of its file raises :class:`WindowError` naming the row and the
file; windows are never padded. The index helpers (:func:`eeg_window_slice`,
:func:`spectrogram_window_slice`) work on sizes alone, so ``iiic validate`` and the cache share
exactly these rules.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from iiic.constants import EEG_WINDOW_S, SFREQ_HZ, SPEC_STEP_S, SPEC_WINDOW_S
from iiic.data.errors import WindowError
from iiic.data.layout import DataDir, Split
from iiic.data.readers import EEG, Spectrogram, read_eeg, read_spectrogram


def _where(source: str | Path, row: str | None) -> str:
    return f"{source}: {row}" if row else f"{source}"


def eeg_window_slice(
    n_times: int,
    offset_s: float,
    length_s: float = EEG_WINDOW_S,
    *,
    sfreq_hz: float = SFREQ_HZ,
    source: str | Path = "<eeg>",
    row: str | None = None,
) -> slice:
    """Sample slice of the window ``[offset_s, offset_s + length_s)`` in a file of ``n_times``.

    Raises
    ------
    WindowError
        The window starts before 0 or ends after the last sample.
    """
    start = round(offset_s * sfreq_hz)
    stop = start + round(length_s * sfreq_hz)
    if start < 0 or stop > n_times:
        raise WindowError(
            f"{_where(source, row)}: EEG window [{offset_s:g}, {offset_s + length_s:g}) s runs "
            f"past the file (0 .. {n_times / sfreq_hz:g} s, {n_times} samples)"
        )
    return slice(start, stop)


def spectrogram_window_slice(
    times_s: np.ndarray,
    offset_s: float,
    length_s: float = SPEC_WINDOW_S,
    *,
    source: str | Path = "<spectrogram>",
    row: str | None = None,
) -> slice:
    """Row slice of ``offset_s <= time < offset_s + length_s`` in a spectrogram with ``times_s``.

    The file covers ``[times[0] - step/2, times[-1] + step/2]`` (step = 2 s); the window must lie
    inside it and hold exactly ``length_s / step`` rows (300 for 600 s).

    Raises
    ------
    WindowError
        The window runs past the file's coverage, or a gap in 'time' leaves too few rows.
    """
    half = SPEC_STEP_S / 2
    first, last = float(times_s[0]) - half, float(times_s[-1]) + half
    end_s = offset_s + length_s
    if offset_s < first or end_s > last:
        raise WindowError(
            f"{_where(source, row)}: spectrogram window [{offset_s:g}, {end_s:g}) s runs past "
            f"the file ({first:g} .. {last:g} s, {len(times_s)} rows)"
        )
    lo, hi = np.searchsorted(times_s, [offset_s, end_s], side="left")
    expected = round(length_s / SPEC_STEP_S)
    if hi - lo != expected:
        raise WindowError(
            f"{_where(source, row)}: spectrogram window [{offset_s:g}, {end_s:g}) s holds "
            f"{hi - lo} rows, expected {expected} (gap in 'time')"
        )
    return slice(int(lo), int(hi))


def eeg_window(
    eeg: EEG, offset_s: float, length_s: float = EEG_WINDOW_S, *, row: str | None = None
) -> np.ndarray:
    """The EEG window ``[offset_s, offset_s + length_s)``, shape (20, 10000) float32 µV (a view)."""
    sl = eeg_window_slice(eeg.n_times, offset_s, length_s, sfreq_hz=eeg.sfreq_hz,
                          source=eeg.source, row=row)  # fmt: skip
    return eeg.data[:, sl]


def spectrogram_window(
    spec: Spectrogram, offset_s: float, length_s: float = SPEC_WINDOW_S, *, row: str | None = None
) -> np.ndarray:
    """The spectrogram rows with ``offset_s <= time < offset_s + length_s``, shape (300, 4, 100)."""
    sl = spectrogram_window_slice(spec.times_s, offset_s, length_s, source=spec.source, row=row)
    return spec.data[sl]


def row_label(row: pd.Series | dict) -> str:
    """'eeg_id=…, eeg_sub_id=…' of a table row (for messages)."""
    keys = [k for k in ("eeg_id", "eeg_sub_id") if k in row]
    return ", ".join(f"{k}={int(row[k])}" for k in keys)


def train_row_windows(row: pd.Series | dict, data: DataDir) -> tuple[np.ndarray, np.ndarray]:
    """Read the files of one train.csv row and cut its windows.

    Returns
    -------
    eeg : ndarray, shape (20, 10000), float32, µV
    spec : ndarray, shape (300, 4, 100), float32
    """
    label = row_label(row)
    eeg = read_eeg(data.eeg_path(row["eeg_id"], "train"))
    spec = read_spectrogram(data.spectrogram_path(row["spectrogram_id"], "train"))
    return (
        eeg_window(eeg, float(row["eeg_label_offset_seconds"]), row=label),
        spectrogram_window(spec, float(row["spectrogram_label_offset_seconds"]), row=label),
    )


def whole_file_windows(
    row: pd.Series | dict, data: DataDir, split: Split = "test"
) -> tuple[np.ndarray, np.ndarray]:
    """The whole files of one test.csv row: EEG (20, 10000) and spectrogram (300, 4, 100).

    Raises
    ------
    WindowError
        The EEG does not hold exactly 50 s or the spectrogram not exactly 600 s.
    """
    label = f"eeg_id={int(row['eeg_id'])}"
    eeg = read_eeg(data.eeg_path(row["eeg_id"], split))
    spec = read_spectrogram(data.spectrogram_path(row["spectrogram_id"], split))
    return whole_test_eeg(eeg, row=label), whole_test_spectrogram(spec, row=label)


def whole_test_eeg(eeg: EEG, *, row: str | None = None) -> np.ndarray:
    """A test EEG as one window, (20, 10000); WindowError unless it holds exactly 50 s."""
    window = eeg_window(eeg, 0.0, row=row)
    if window.shape[1] != eeg.n_times:
        raise WindowError(f"{_where(eeg.source, row)}: a test EEG must hold exactly "
                          f"{EEG_WINDOW_S:g} s, this one holds {eeg.duration_s:g} s")  # fmt: skip
    return window


def whole_test_spectrogram(spec: Spectrogram, *, row: str | None = None) -> np.ndarray:
    """A test spectrogram as one window, (300, 4, 100); WindowError unless it holds 600 s."""
    window = spectrogram_window(spec, 0.0, row=row)
    if window.shape[0] != spec.data.shape[0]:
        raise WindowError(f"{_where(spec.source, row)}: a test spectrogram must hold exactly "
                          f"{SPEC_WINDOW_S:g} s, it has {spec.data.shape[0]} rows")  # fmt: skip
    return window
