"""Kaggle-style spectrogram files of the twin, assembled from the EEGs they span.

A real spectrogram covers 10 minutes or more around the EEGs it belongs to. Rows under an EEG
are computed from the synthetic signal (``iiic.signal.kaggle_spec``); rows no EEG covers are
resampled cheaply from the nearest covered rows (same patient, same state) with log-normal
jitter, so the spectrogram stays consistent with the patient's state. A few files get all-NaN
rows like the real ones.
"""

from __future__ import annotations

import numpy as np

from iiic import constants
from iiic.signal.kaggle_spec import SPEC_DECIMALS

TEST_EEG_START_S = (constants.SPEC_WINDOW_S - constants.EEG_WINDOW_S) / 2
"""Where a test EEG (50 s) sits inside its 600-s spectrogram, s (centres aligned)."""
FILL_NEIGHBOURHOOD_ROWS = 15
"""Uncovered rows copy a random covered row within this many rows of the nearest covered one."""
FILL_JITTER_SD = 0.25
"""Log-normal jitter (natural-log SD) on copied rows."""
P_NAN_ROWS = 0.3
"""Share of train spectrograms holding all-NaN rows."""
NAN_ROW_SHARE = (0.01, 0.09)
"""Range of the share of rows that are all-NaN in such a file."""


def assemble_spectrogram(
    parts: list[tuple[float, np.ndarray, np.ndarray]], end_s: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Spectrogram over [0, ``end_s``) s from EEG pieces.

    Parameters
    ----------
    parts : list of (start_s, times_s (m,), rows (m, 4, 100))
        Per EEG: the spectrogram time of its sample 0 and its own Kaggle-style rows.
    end_s : float
        Required length, s (the last window's end).
    rng : Generator

    Returns
    -------
    times_s : ndarray, shape (n_rows,)   1, 3, 5, ...
    spec : ndarray, shape (n_rows, 4, 100), float32
    """
    step = constants.SPEC_STEP_S
    n_rows = int(np.ceil(end_s / step))
    times = step * np.arange(n_rows) + step / 2
    spec = np.full((n_rows, len(constants.SPEC_CHAINS), len(constants.SPEC_FREQS_HZ)), np.nan,
                   np.float32)  # fmt: skip
    covered = np.zeros(n_rows, bool)
    for start_s, t, rows in parts:
        idx = np.round((t + start_s - step / 2) / step).astype(np.int64)
        ok = (idx >= 0) & (idx < n_rows)
        spec[idx[ok]] = rows[ok]
        covered[idx[ok]] = True
    cov_idx = np.flatnonzero(covered)
    todo = np.flatnonzero(~covered)
    if len(cov_idx) and len(todo):
        nearest = cov_idx[np.clip(np.searchsorted(cov_idx, todo), 0, len(cov_idx) - 1)]
        pos = np.searchsorted(cov_idx, nearest)
        pick = pos + rng.integers(-FILL_NEIGHBOURHOOD_ROWS, FILL_NEIGHBOURHOOD_ROWS + 1, len(todo))
        src = cov_idx[np.clip(pick, 0, len(cov_idx) - 1)]
        jitter = np.exp(rng.normal(0, FILL_JITTER_SD, (len(todo), 1, spec.shape[2])))
        spec[todo] = np.round(spec[src] * jitter.astype(np.float32), SPEC_DECIMALS)
    if rng.random() < P_NAN_ROWS:
        _nan_rows(spec, rng)
    return times, spec


def _nan_rows(spec: np.ndarray, rng: np.random.Generator) -> None:
    """Set a few short runs of rows to NaN (in place)."""
    n = len(spec)
    n_nan = max(1, round(rng.uniform(*NAN_ROW_SHARE) * n))
    while n_nan > 0:
        run = int(min(n_nan, rng.integers(1, 8)))
        start = int(rng.integers(0, max(1, n - run)))
        spec[start : start + run] = np.nan
        n_nan -= run
