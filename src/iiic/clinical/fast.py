"""Fast path for long recordings: preprocess the whole recording once, then slice the windows.

The exact path (``Predictor.predict``) preprocesses each 50-s window on its own. With the default
10-s stride every sample is filtered five times, and the zero-phase IIR filters cost ~17 ms per
window on one core (~150 s for 24 h). Here each run's preprocessing is applied once to the whole
recording with :func:`iiic.signal.preprocess.preprocess_recording` (the one preprocessing,
in blocks) with its zero-phase filters on the FFT (``filter_method="fft"``: the same ``|H(f)|²``
as the recursive filters, about 4x fewer operations).

The windows then differ from the exact path only near their ends, where the exact path's
filters see the window edge (odd extension) and this path sees the neighbouring signal (a
*better* estimate of the filtered EEG, but not what a model trained on per-window inputs saw).
The difference in probabilities is measured by ``benchmarks/analyze.py`` and bounded by a test.

:class:`ContinuousScorer` gives the sliced windows to a :class:`iiic.predict.predictor.Predictor`'s
own steps — :meth:`~iiic.predict.predictor.Predictor.run_probs` (its torch models or ONNX Runtime
sessions, with their thread setting) and :meth:`~iiic.predict.predictor.Predictor.combine`.
"""

from __future__ import annotations

import numpy as np

from iiic.constants import EEG_WINDOW_SAMPLES
from iiic.signal.preprocess import PreprocessConfig, preprocess_recording


class ContinuousScorer:
    """Score windows of one recording with a Predictor's models, preprocessing it only once.

    Parameters
    ----------
    predictor : iiic.predict.predictor.Predictor (torch or onnx backend; no TTA flip)
    data : ndarray, shape (20, n_times), µV at 200 Hz
    filter_method : "fft" or None
        How the zero-phase filters run: on the FFT (``analyze --fast``), or as each run's
        ``PreprocessConfig`` says (None).
    """

    def __init__(self, predictor, data: np.ndarray, *, filter_method: str | None = "fft") -> None:
        if predictor.tta_flip:
            raise ValueError("tta_flip: the continuous path does not flip; use the exact path")
        self.predictor = predictor
        self.features: dict[PreprocessConfig, np.ndarray] = {}
        for run in predictor.runs:
            if run.needs_eeg and run.preprocess not in self.features:
                cfg = run.preprocess
                if filter_method is not None:
                    cfg = cfg.model_copy(update={"filter_method": filter_method})
                self.features[run.preprocess] = preprocess_recording(data, cfg)

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
