"""Is there an EEG in this window? Non-physical amplitudes and windows without data.

One rule for ``iiic validate`` (error), ``iiic prepare`` (row excluded and counted) and
``iiic predict`` (row gets the fallback and is listed):

- **non-physical**: a value beyond ±``constants.NONPHYSICAL_UV`` (1 V) or ±inf. No amplifier
  records it; it is what random bytes in a parquet data page read as (up to ±3.4e38 µV), and it
  overflows float32 arithmetic in the montage and filters. Such samples are never clipped,
  filled or scored.
- **no data**: every scalp electrode is NaN throughout the window (the EKG does not count). NaN
  filling would turn it into a flat 0 µV recording, which a model scores as if it were real.

Windows with some NaN are still filled: :func:`fill_nan` (linear in time) is the one NaN filler
of the cache, the preprocessing, the augmentation and the clinical fast path.
"""

from __future__ import annotations

import numpy as np

from iiic.constants import EEG_CHANNELS, ELECTRODES, NONPHYSICAL_UV, SFREQ_HZ
from iiic.utils import bad_value

N_ELECTRODES = len(ELECTRODES)
"""Rows 0..18 of a (20, T) EEG array are the scalp electrodes; row 19 is the EKG."""


def nonphysical(x: np.ndarray) -> np.ndarray:
    """Mask of non-physical values (|x| > NONPHYSICAL_UV or ±inf; NaN is not), same shape as x."""
    with np.errstate(invalid="ignore"):
        return np.abs(x) > NONPHYSICAL_UV


def no_data(x: np.ndarray) -> bool:
    """True when every scalp electrode of ``x`` (20, T) µV is NaN throughout."""
    return bool(np.isnan(x[:N_ELECTRODES]).all())


def describe_nonphysical(x: np.ndarray, mask: np.ndarray | None = None, start: int = 0) -> str:
    """'<n> non-physical value(s) ... (largest <v> µV in <channel> at <t> s)' for (20, T) ``x``
    µV whose first sample is sample ``start`` of its file."""
    mask = nonphysical(x) if mask is None else mask
    ch, t = np.unravel_index(np.argmax(np.where(mask, np.abs(x), -1.0)), x.shape)
    return (f"{int(mask.sum())} non-physical value(s) (|x| > {NONPHYSICAL_UV:g} µV or ±inf; "
            f"largest {abs(float(x[ch, t])):.3g} µV in {EEG_CHANNELS[ch]} at "
            f"{(start + t) / SFREQ_HZ:.3f} s): corrupt file?")  # fmt: skip


def window_problem(x: np.ndarray) -> str | None:
    """Why the window ``x`` (20, T) µV cannot be scored or trained on, or None when it can."""
    mask = nonphysical(x)
    if mask.any():
        return describe_nonphysical(x, mask)
    if no_data(x):
        return "no data (every electrode is NaN)"
    return None


def fill_nan(x: np.ndarray, *, copy: bool = True) -> tuple[np.ndarray, int]:
    """Fill NaN samples by linear interpolation along time, per channel.

    Samples before the first (after the last) valid one take its value; a channel that is NaN
    throughout becomes 0. The count lets callers record the filled share of a window.

    Parameters
    ----------
    x : ndarray, shape (..., n_times)
        Signal, µV, possibly with NaN stretches.
    copy : bool
        Always return a new float32 array (True), or ``x`` itself when it holds no NaN (False:
        the cache's path for the usual file).

    Returns
    -------
    filled : ndarray, shape (..., n_times), float32
    n_filled : int
        Number of samples that were NaN (over all leading dimensions).
    """
    x = np.asarray(x)
    if x.ndim < 1 or x.shape[-1] < 1:
        raise ValueError(bad_value("x", "shape (..., n_times) with n_times >= 1", x.shape))
    nan = np.isnan(x)
    n_filled = int(np.count_nonzero(nan))
    if not n_filled:
        return (np.array(x, dtype=np.float32, order="C") if copy else x), 0
    out = np.array(x, dtype=np.float32, order="C")
    flat, bad = out.reshape(-1, out.shape[-1]), nan.reshape(-1, out.shape[-1])
    t = np.arange(out.shape[-1])
    for i in np.flatnonzero(bad.any(axis=1)):
        ok = ~bad[i]
        flat[i] = np.interp(t, t[ok], flat[i, ok]) if ok.any() else 0.0
    return out, n_filled
