"""Kaggle-style spectrograms computed from a referential EEG.

The HMS competition shipped, next to each EEG, a 10-minute spectrogram: for each of the four
bipolar chains of the double-banana montage (LL, RL, LP, RP) the power spectra of the chain's four
bipolar channels are averaged, on the 100-bin grid ``constants.SPEC_FREQS_HZ`` (0.59-19.92 Hz,
bins 3..102 of a 1024-point FFT at 200 Hz), one row every 2 s (``time`` = 1, 3, 5, ... s). Their
exact recipe is not public; this module reproduces the look: a Hann-windowed 1024-point
periodogram centred on each row time, scaled so that typical values match the magnitude of the
real files (power-like, ~0.01 .. 1e4, log-normal spread, rounded to 0.01 like the real ones),
with the low-frequency roll-off of the real files below ~1 Hz.
Used by the synthetic twin to write ``train_spectrograms``, and wherever a spectrogram model meets
EEG without a Kaggle spectrogram (``iiic analyze``, and ``iiic predict``/``score`` rows without a
spectrogram file): :func:`eeg_spectrogram_windows` gives the 600-s model input centred on each
window, NaN where the 600 s run past the EEG (as in the Kaggle files).
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from iiic import constants
from iiic.utils import bad_value

SPEC_SCALE = 0.535
"""Multiplier from the Hann periodogram (µV²/Hz) to Kaggle's spectrogram units.

Calibrated on the real pair train_eegs/1628180742 + train_spectrograms/353733 (the median ratio of
the real to the computed rows over the EEG's span; see benchmarks/synth.py).
"""
LOW_CUT_HZ = 0.65
"""The real spectrograms lose power in their lowest bins (0.59-1 Hz) as if high-passed: their
ratio to the plain periodogram is 0.38, 0.70, 0.80 in bins 0.59, 0.78, 0.98 Hz, then ~1. A
second-order high-pass power response ``1 / (1 + (LOW_CUT_HZ / f) ** 4)`` reproduces it."""
SPEC_DECIMALS = 2
"""The real spectrogram values are rounded to 2 decimals."""
_FIRST_BIN = 3


def chain_matrix() -> np.ndarray:
    """Bipolar montage matrix of the 16 chain pairs (LL, RL, LP, RP order).

    Returns
    -------
    ndarray, shape (16, 20)
        Row ``i`` gives ``anode - cathode`` of ``constants.BIPOLAR_PAIRS[i]`` over
        ``constants.EEG_CHANNELS``.
    """
    m = np.zeros((len(constants.BIPOLAR_PAIRS), len(constants.EEG_CHANNELS)), dtype=np.float32)
    for i, (anode, cathode) in enumerate(constants.BIPOLAR_PAIRS):
        m[i, constants.EEG_CHANNELS.index(anode)] = 1.0
        m[i, constants.EEG_CHANNELS.index(cathode)] = -1.0
    return m


def row_times_s(n_times: int, sfreq_hz: float) -> np.ndarray:
    """Centre times of the spectrogram rows covering ``n_times`` samples: 1, 3, 5, ... s."""
    n_rows = int(n_times / sfreq_hz // constants.SPEC_STEP_S)
    return constants.SPEC_STEP_S * np.arange(n_rows) + constants.SPEC_STEP_S / 2


def kaggle_style_spectrogram(
    x_ref: np.ndarray, sfreq_hz: float, *, round_values: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Spectrogram of a referential EEG the way the Kaggle HMS spectrograms look.

    Parameters
    ----------
    x_ref : ndarray, shape (20, n_times)
        Referential EEG in ``constants.EEG_CHANNELS`` order, µV. NaN samples give NaN rows.
    sfreq_hz : float
        Sampling rate, Hz. Must equal ``constants.SFREQ_HZ`` (the frequency grid is defined there).
    round_values : bool
        Round to 2 decimals like the real files (default True).

    Returns
    -------
    times_s : ndarray, shape (n_rows,)
        Row centre times 1, 3, 5, ... s (one row per full 2 s of signal).
    spec : ndarray, shape (n_rows, 4, 100), float32
        Power per chain (``constants.SPEC_CHAINS``) and frequency (``constants.SPEC_FREQS_HZ``).
    """
    x_ref = np.asarray(x_ref)
    if x_ref.ndim != 2 or x_ref.shape[0] != len(constants.EEG_CHANNELS):
        raise ValueError(
            bad_value("x_ref", "shape (20, n_times) in EEG_CHANNELS order", x_ref.shape)
        )
    if sfreq_hz != constants.SFREQ_HZ:
        raise ValueError(
            bad_value("sfreq_hz", f"{constants.SFREQ_HZ} Hz (resample first)", sfreq_hz)
        )
    times = row_times_s(x_ref.shape[1], sfreq_hz)
    n_rows = len(times)
    n_bins = len(constants.SPEC_FREQS_HZ)
    if n_rows == 0:
        return times, np.zeros((0, len(constants.SPEC_CHAINS), n_bins), np.float32)
    nfft = constants.SPEC_NFFT
    step = round(constants.SPEC_STEP_S * sfreq_hz)
    bip = chain_matrix() @ x_ref.astype(np.float32)  # (16, T)
    half = nfft // 2
    pad_r = max(0, (n_rows - 1) * step + step // 2 + half - bip.shape[1])
    padded = np.pad(bip, ((0, 0), (max(0, half - step // 2), pad_r)), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, nfft, axis=1)[:, ::step][:, :n_rows]
    win = np.hanning(nfft).astype(np.float32)
    spec = scipy.fft.rfft(frames * win, axis=-1)[..., _FIRST_BIN : _FIRST_BIN + n_bins]
    power = (spec.real**2 + spec.imag**2) * (2.0 / (sfreq_hz * float(np.sum(win**2))))
    n_chains = len(constants.SPEC_CHAINS)
    freqs = np.asarray(constants.SPEC_FREQS_HZ, np.float32)
    gain = SPEC_SCALE / (1 + (LOW_CUT_HZ / freqs) ** 4)
    per_chain = power.reshape(n_chains, -1, n_rows, n_bins).mean(axis=1) * gain
    out = np.ascontiguousarray(per_chain.transpose(1, 0, 2), dtype=np.float32)
    if round_values:
        out = np.round(out, SPEC_DECIMALS)
    return times, out


def spectrogram_windows(times_s: np.ndarray, spec: np.ndarray, centers_s: np.ndarray) -> np.ndarray:
    """The 300 spectrogram rows (600 s) centred on each window centre.

    Parameters
    ----------
    times_s : ndarray, shape (n_rows,)
        Row centre times of ``spec``, s, every 2 s.
    spec : ndarray, shape (n_rows, 4, 100)
    centers_s : ndarray, shape (n,)
        Window centres on the same time axis, s.

    Returns
    -------
    ndarray, shape (n, 300, 4, 100), float32; rows outside ``times_s`` are NaN.
    """
    centers_s = np.asarray(centers_s, dtype=np.float64)
    n_win = constants.SPEC_WINDOW_ROWS
    if len(times_s) == 0:
        return np.full((len(centers_s), n_win, *spec.shape[1:]), np.nan, np.float32)
    first = np.ceil(
        (centers_s - constants.SPEC_WINDOW_S / 2 - times_s[0]) / constants.SPEC_STEP_S
    ).astype(int)
    idx = first[:, None] + np.arange(n_win)[None, :]  # (n, 300)
    valid = (idx >= 0) & (idx < len(times_s))
    out = spec[np.clip(idx, 0, len(times_s) - 1)].astype(np.float32)
    out[~valid] = np.nan
    return out


def eeg_spectrogram_windows(x_ref: np.ndarray, sfreq_hz: float, centers_s) -> np.ndarray:
    """Kaggle-style 600-s spectrogram windows computed from an EEG, one per window centre.

    The model input of spectrogram models where no Kaggle spectrogram exists: the spectrogram of
    the whole EEG (:func:`kaggle_style_spectrogram`, rounded like the real files and the twin's
    training files), cut as :func:`spectrogram_windows`. A 50-s EEG fills the central 25 rows.

    Parameters
    ----------
    x_ref : ndarray, shape (20, n_times)
        Referential EEG in ``constants.EEG_CHANNELS`` order, µV, at ``sfreq_hz`` (200 Hz).
    sfreq_hz : float
        Sampling rate, Hz.
    centers_s : array-like, shape (n,)
        Window centres, s from the EEG's first sample.

    Returns
    -------
    ndarray, shape (n, 300, 4, 100), float32; rows outside the EEG are NaN.
    """
    times, spec = kaggle_style_spectrogram(x_ref, sfreq_hz)
    return spectrogram_windows(times, spec, np.atleast_1d(centers_s))
