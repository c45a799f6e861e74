"""Sliding 50-s windows over a whole recording and per-window signal-quality flags.

The window grid: window ``k`` covers samples ``[k * stride, k * stride + 10,000)`` at 200 Hz; its
labelled centre (the 10 s a model scores, ``constants.LABEL_WINDOW_S``) is the middle of it.
Windows that would run past the end are not made (the first and last 20 s of a recording are
never a labelled centre).

Quality flags are computed from per-block statistics (blocks of ``gcd(stride, window)`` samples,
one pass over the data), so flagging a 24-h recording costs about one read of it:

- ``flat``: an electrode's standard deviation over the window is below ``flat_std_uv`` (0.5 µV)
  — a disconnected or switched-off electrode.
- ``saturated``: more than ``saturation_fraction`` of an electrode's samples lie within
  ``rail_tolerance_fraction`` of the file's physical minimum or maximum (amplifier clipping).
- ``nan``: an electrode has missing (NaN) samples.
- ``artifact``: an electrode's peak-to-peak amplitude exceeds ``artifact_ptp_uv``.
The EKG channel is not checked.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from pydantic import BaseModel, ConfigDict, Field

from iiic.constants import EEG_WINDOW_SAMPLES, ELECTRODES, SFREQ_HZ
from iiic.utils import bad_value

FLAG_NAMES: tuple[str, ...] = ("flat", "saturated", "nan", "artifact")
"""The quality flags of a window, in column order (``flag_<name>``)."""
STATS_CHUNK_SAMPLES = round(3600 * SFREQ_HZ)
"""Per-block statistics are computed one hour at a time (bounded temporary memory)."""


class QualityConfig(BaseModel):
    """Thresholds of the per-window quality flags."""

    model_config = ConfigDict(extra="forbid")
    flat_std_uv: float = Field(0.5, gt=0, description="std below this over a window = flat, µV")
    saturation_fraction: float = Field(0.01, gt=0, le=1, description="share of samples at rails")
    rail_tolerance_fraction: float = Field(
        0.005, ge=0, lt=0.5, description="distance to a rail, as a share of the physical range"
    )
    artifact_ptp_uv: float = Field(2000.0, gt=0, description="peak-to-peak above this, µV")


def stride_samples(stride_s: float) -> int:
    """Stride in samples at 200 Hz; ValueError naming ``stride_s`` when it is not positive."""
    n = round(stride_s * SFREQ_HZ)
    if not math.isfinite(stride_s) or n < 1:
        raise ValueError(bad_value("stride_s", "a positive number of seconds", repr(stride_s)))
    return n


def window_starts(n_times: int, stride_s: float) -> np.ndarray:
    """Start sample of each 50-s window that fits in ``n_times`` samples (200 Hz), shape (n_windows,)."""
    step = stride_samples(stride_s)
    if n_times < EEG_WINDOW_SAMPLES:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, n_times - EEG_WINDOW_SAMPLES + 1, step, dtype=np.int64)


def _block_stats(x: np.ndarray, block: int, rails: np.ndarray | None, tol: float) -> dict:
    """Per-block sum, sum of squared deviations, min, max, NaN and rail counts of (19, n) data."""
    n_blocks = x.shape[1] // block
    out = {k: [] for k in ("n", "mean", "m2", "min", "max", "nan", "rail")}
    for a in range(0, n_blocks, max(1, STATS_CHUNK_SAMPLES // block)):
        b = min(n_blocks, a + max(1, STATS_CHUNK_SAMPLES // block))
        v = x[:, a * block : b * block].reshape(x.shape[0], b - a, block).astype(np.float64)
        mean = v.mean(axis=2)
        out["mean"].append(mean)
        out["m2"].append(((v - mean[..., None]) ** 2).sum(axis=2))
        out["min"].append(v.min(axis=2))
        out["max"].append(v.max(axis=2))
        out["nan"].append(np.isnan(v).sum(axis=2))
        if rails is not None:
            span = (rails[:, 1] - rails[:, 0])[:, None, None] * tol
            at = (v <= rails[:, :1, None] + span) | (v >= rails[:, 1:, None] - span)
            out["rail"].append(at.sum(axis=2))
    return {k: np.concatenate(v, axis=1) for k, v in out.items() if v}


def _window_sum(a: np.ndarray, k: int, step: int, n_windows: int) -> np.ndarray:
    """Sum of ``k`` consecutive blocks every ``step`` blocks: (c, n_blocks) → (c, n_windows)."""
    return sliding_window_view(a, k, axis=1)[:, ::step][:, :n_windows].sum(axis=2)


def quality_flags(
    data: np.ndarray,
    starts: np.ndarray,
    stride_s: float,
    rails_uv: np.ndarray | None = None,
    config: QualityConfig | None = None,
) -> dict[str, np.ndarray]:
    """Quality flags of each window, per electrode.

    Parameters
    ----------
    data : ndarray, shape (20, n_times), µV at 200 Hz (EEG_CHANNELS order; the EKG row is skipped)
    starts : ndarray, shape (n_windows,), from :func:`window_starts` with the same ``stride_s``
    stride_s : window stride, s
    rails_uv : ndarray, shape (20, 2), physical (min, max) per channel, µV; a NaN row (or None)
        skips the saturation check of that channel (of all channels)
    config : thresholds (defaults of :class:`QualityConfig`)

    Returns
    -------
    dict flag name → bool ndarray, shape (n_windows, 19) (``constants.ELECTRODES`` order)
    """
    cfg = config or QualityConfig()
    n_el = len(ELECTRODES)
    if len(starts) == 0:
        return {name: np.zeros((0, n_el), dtype=bool) for name in FLAG_NAMES}
    block = math.gcd(stride_samples(stride_s), EEG_WINDOW_SAMPLES)
    k, step = EEG_WINDOW_SAMPLES // block, stride_samples(stride_s) // block
    rails = None  # channels with unknown (NaN) rails are never counted as saturated
    if rails_uv is not None and np.isfinite(rails_uv[:n_el]).any():
        rails = rails_uv[:n_el]
    st = _block_stats(data[:n_el], block, rails, cfg.rail_tolerance_fraction)
    n_w = len(starts)
    total = _window_sum(st["mean"], k, step, n_w) * block
    mean = total / EEG_WINDOW_SAMPLES
    sq_means = _window_sum(st["mean"] ** 2, k, step, n_w) * block
    m2 = _window_sum(st["m2"], k, step, n_w) + sq_means - EEG_WINDOW_SAMPLES * mean**2
    std = np.sqrt(np.maximum(m2, 0) / EEG_WINDOW_SAMPLES)
    wmin = sliding_window_view(st["min"], k, axis=1)[:, ::step][:, :n_w].min(axis=2)
    wmax = sliding_window_view(st["max"], k, axis=1)[:, ::step][:, :n_w].max(axis=2)
    flags = {
        "flat": std < cfg.flat_std_uv,
        "saturated": (
            _window_sum(st["rail"], k, step, n_w) > cfg.saturation_fraction * EEG_WINDOW_SAMPLES
            if rails is not None
            else np.zeros_like(std, dtype=bool)
        ),
        "nan": _window_sum(st["nan"], k, step, n_w) > 0,
        "artifact": (wmax - wmin) > cfg.artifact_ptp_uv,
    }
    return {name: f.T.copy() for name, f in flags.items()}


def describe_flags(flags: dict[str, np.ndarray]) -> list[str]:
    """One text per window: 'flat: Fp1, T3; saturated: O2' (empty when nothing is flagged)."""
    n_w = next(iter(flags.values())).shape[0]
    texts = []
    for w in range(n_w):
        parts = []
        for name in FLAG_NAMES:
            hit = np.flatnonzero(flags[name][w])
            if hit.size:
                parts.append(f"{name}: " + ", ".join(ELECTRODES[i] for i in hit))
        texts.append("; ".join(parts))
    return texts
