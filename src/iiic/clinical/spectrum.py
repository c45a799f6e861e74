"""Display spectrogram of the four bipolar chains over a whole recording (for the IIIC-gram).

Per chain (LL, RL, LP, RP of ``constants.CHAINS``) the power spectra of its four bipolar channels
are averaged, like the Kaggle spectrograms, but computed for display: Hann-windowed periodograms
of :data:`SEGMENT_S`-second segments (0.5 Hz resolution, 0.5-:data:`MAX_FREQ_HZ` Hz), averaged
over ``step_s`` seconds per column, one block of :data:`BLOCK_S` at a time. A 24-h recording costs
about a second; the model input spectrogram (``iiic.signal.kaggle_spec``) is only computed when a
model needs it.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.fft import rfft, rfftfreq

from iiic.constants import SFREQ_HZ, SPEC_CHAINS
from iiic.signal.montage import bipolar, montage_matrix

SEGMENT_S = 2.0
"""Length of one periodogram segment, s."""
MAX_FREQ_HZ = 20.0
"""Highest frequency kept, Hz."""
BLOCK_S = 3600.0
"""Recording processed one block at a time, s."""
CHAIN_LENGTH = 4
"""Bipolar pairs per chain (``constants.CHAINS``)."""


def chain_spectrogram(
    data: np.ndarray, step_s: float = SEGMENT_S, *, workers: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chain-averaged power spectrogram of a referential recording.

    Parameters
    ----------
    data : ndarray, shape (20, n_times), µV at ``constants.SFREQ_HZ``
    step_s : column width, s (rounded to a whole number of segments, at least one)
    workers : threads of the FFTs (scipy.fft)

    Returns
    -------
    times_s : ndarray, shape (n_columns,), centre of each column, s
    freqs_hz : ndarray, shape (n_freqs,), 0.5 .. MAX_FREQ_HZ (no DC)
    power : ndarray, shape (n_columns, 4, n_freqs), float32, µV²/Hz (``constants.SPEC_CHAINS``)
    """
    seg = round(SEGMENT_S * SFREQ_HZ)
    per_col = max(1, round(step_s / SEGMENT_S))
    col = seg * per_col
    n_cols = data.shape[1] // col
    freqs = rfftfreq(seg, 1.0 / SFREQ_HZ)
    keep = (freqs > 0) & (freqs <= MAX_FREQ_HZ)  # no DC bin
    window = np.hanning(seg).astype(np.float32)
    scale = 2.0 / (SFREQ_HZ * float((window**2).sum()))
    matrix = montage_matrix()  # (16, 20): LL, RL, LP, RP chains
    out = np.empty((n_cols, len(SPEC_CHAINS), int(keep.sum())), dtype=np.float32)
    cols_per_block = max(1, math.floor(BLOCK_S * SFREQ_HZ / col))
    for c0 in range(0, n_cols, cols_per_block):
        c1 = min(n_cols, c0 + cols_per_block)
        x = np.nan_to_num(bipolar(data[:, c0 * col : c1 * col].astype(np.float32), matrix))
        x = x.reshape(x.shape[0], (c1 - c0) * per_col, seg) * window  # (16, n_seg, seg)
        p = np.abs(rfft(x, axis=-1, workers=workers)[..., keep]) ** 2 * scale  # (16, n_seg, n_f)
        p = p.reshape(len(SPEC_CHAINS), CHAIN_LENGTH, c1 - c0, per_col, -1).mean(axis=(1, 3))
        out[c0:c1] = np.moveaxis(p, 0, 1)
    times = (np.arange(n_cols) + 0.5) * col / SFREQ_HZ
    return times, freqs[keep], out
