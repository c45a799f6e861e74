"""Fast path for long recordings: preprocess the whole recording once, then slice the windows.

The exact path (``Predictor.predict``) preprocesses each 50-s window on its own. With the default
10-s stride every sample is filtered five times, and the zero-phase IIR filters cost ~17 ms per
window on one core (~150 s for 24 h). Here the recording is preprocessed once, in blocks of
:data:`BLOCK_S` with :data:`PAD_S` of overlap, applying the same steps as
:func:`iiic.signal.preprocess.preprocess` in the same order — NaN fill, bipolar montage, band-pass,
notch, clip/scale, decimation — with the zero-phase filters applied in the frequency domain: a
forward-backward IIR filter has the response ``|H(f)|²``, so multiplying the block's FFT by
``|H(f)|²`` gives the steady-state output of ``sosfiltfilt``/``filtfilt``/``decimate``.

The windows then differ from the exact path only near their ends, where the exact path's
filters see the window edge (odd extension) and this path sees the neighbouring signal (a
*better* estimate of the filtered EEG, but not what the model saw in training). The difference in
probabilities is measured by ``benchmarks/analyze.py`` and bounded by a test.

:class:`ContinuousScorer` gives the sliced windows to a :class:`iiic.predict.predictor.Predictor`'s
own steps — :meth:`~iiic.predict.predictor.Predictor.run_probs` (its torch models or ONNX Runtime
sessions, with their thread setting) and :meth:`~iiic.predict.predictor.Predictor.combine`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.fft import next_fast_len

from iiic.constants import EEG_WINDOW_SAMPLES, SFREQ_HZ
from iiic.signal import filters, montage
from iiic.signal.preprocess import PreprocessConfig

BLOCK_S = 600.0
"""Length of one preprocessing block, s."""
PAD_S = 30.0
"""Signal added on each side of a block so the filters' transients stay outside it, s."""


def _gains(cfg: PreprocessConfig, n_fft: int) -> tuple[np.ndarray, np.ndarray]:
    """``|H(f)|²`` on the rfft grid of ``n_fft``: (band-pass × notch, decimation anti-alias)."""
    return filters.zero_phase_gains(
        n_fft, SFREQ_HZ, cfg.bandpass_hz, cfg.filter_order, cfg.notch_hz, cfg.downsample
    )


def _preprocess_block(x: np.ndarray, cfg: PreprocessConfig, workers: int) -> np.ndarray:
    """Steps of ``preprocess`` on one padded block (20, L) → (n_chans, L // downsample).

    One forward FFT serves both filters unless clipping (nonlinear) changes the band-passed
    signal, in which case the decimation filter gets its own FFT of the clipped signal
    (:func:`iiic.signal.filters.fft_filter`: torch, float32; ``workers`` is unused, torch's
    thread count applies).
    """
    x, _ = filters.fill_nan(x)
    y = montage.bipolar(x, cfg.matrix())  # (C, L) float32
    n_fft = next_fast_len(y.shape[-1], real=True)
    gain, dec = _gains(cfg, n_fft)
    if cfg.downsample > 1:
        filtered = filters.fft_filter(y, [gain, dec], n_fft, clip_between=cfg.clip_uv)
        filtered = filtered[..., :: cfg.downsample]
    else:
        filtered = filters.fft_filter(y, [gain], n_fft)
    return filters.clip_scale(filtered, cfg.clip_uv, cfg.divide_by)


def preprocess_continuous(
    data: np.ndarray, cfg: PreprocessConfig, *, workers: int = 1
) -> np.ndarray:
    """Preprocess a whole recording (20, n) µV at 200 Hz block by block.

    ``workers``: kept for callers; the FFTs run with torch's thread count.

    Returns
    -------
    ndarray, shape (cfg.n_chans, n // cfg.downsample), float32: sample ``i`` corresponds to
    sample ``i * cfg.downsample`` of ``data``; the window starting at sample ``s`` (a multiple of
    ``cfg.downsample``) is ``out[:, s // ds : s // ds + cfg.n_times()]``.
    """
    ds = cfg.downsample
    n = data.shape[1]
    block = math.ceil(BLOCK_S * SFREQ_HZ / ds) * ds
    pad = math.ceil(PAD_S * SFREQ_HZ / ds) * ds
    out = np.empty((cfg.n_chans, n // ds), dtype=np.float32)
    for start in range(0, n, block):
        stop = min(n, start + block)
        lo, hi = max(0, start - pad), min(n, stop + pad)
        y = _preprocess_block(data[:, lo:hi], cfg, workers)
        skip = (start - lo) // ds
        count = min(out.shape[1], stop // ds) - start // ds
        out[:, start // ds : start // ds + count] = y[:, skip : skip + count]
    return out


class ContinuousScorer:
    """Score windows of one recording with a Predictor's models, preprocessing it only once.

    Parameters
    ----------
    predictor : iiic.predict.predictor.Predictor (torch or onnx backend; no TTA flip)
    data : ndarray, shape (20, n_times), µV at 200 Hz
    workers : threads of the FFTs of :func:`preprocess_continuous`
    """

    def __init__(self, predictor, data: np.ndarray, *, workers: int = 1) -> None:
        if predictor.tta_flip:
            raise ValueError("tta_flip: the continuous path does not flip; use the exact path")
        self.predictor = predictor
        self.features: dict[PreprocessConfig, np.ndarray] = {}
        for run in predictor.runs:
            if run.needs_eeg and run.preprocess not in self.features:
                self.features[run.preprocess] = preprocess_continuous(
                    data, run.preprocess, workers=workers
                )

    def _eeg(self, cfg: PreprocessConfig, starts: np.ndarray) -> np.ndarray:
        ds, n_t = cfg.downsample, cfg.n_times()
        feats, lead = self.features[cfg], cfg.crop_start()  # the central crop_s of each window
        return np.stack([feats[:, (s + lead) // ds : (s + lead) // ds + n_t] for s in starts])

    def __call__(self, starts: np.ndarray, spec: np.ndarray | None) -> np.ndarray:
        """Probabilities (B, 6) of the windows starting at samples ``starts`` (B,)."""
        from iiic.signal.spectrogram import kaggle_spec_features

        per_run = []
        for i, run in enumerate(self.predictor.runs):
            eeg = self._eeg(run.preprocess, starts) if run.needs_eeg else None
            feats = kaggle_spec_features(spec) if run.needs_spec else None
            per_run.append(self.predictor.run_probs(i, eeg, feats))
        return self.predictor.combine(np.stack(per_run))  # (n_runs, B, 6) → (B, 6)

    def check_starts(self, starts: np.ndarray) -> None:
        """ValueError unless every start is a multiple of every run's decimation factor."""
        for cfg in self.features:
            if np.any(starts % cfg.downsample):
                raise ValueError(
                    f"stride_s: window starts must be multiples of {cfg.downsample} samples "
                    "for the continuous path"
                )
        if len(starts) and starts[-1] + EEG_WINDOW_SAMPLES > self._n_times():
            raise ValueError("starts: a window runs past the end of the recording")

    def _n_times(self) -> int:
        cfg, feats = next(iter(self.features.items()), (None, None))
        return np.iinfo(np.int64).max if cfg is None else feats.shape[1] * cfg.downsample
