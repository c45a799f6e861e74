"""Score a whole recording window by window: the timeline of six-class probabilities.

:func:`analyze_recording` slides the 50-s window over the recording (``windows.window_starts``),
streams the windows to an injected scorer (:mod:`iiic.clinical.scoring`: the models, exact or fast, or a plain window function) in
batches of ``batch_size`` windows and returns a :class:`Timeline` — one row per window with the
probabilities, the top class and the quality flags.

Models that need a Kaggle spectrogram get, for each window, the
300 rows (600 s) of :func:`iiic.signal.kaggle_spec.kaggle_style_spectrogram` centred on the window
centre, NaN where the 600 s run past the recording (as in the Kaggle files).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from iiic.clinical.edf import Recording
from iiic.clinical.scoring import ScoreFn, Scorer
from iiic.clinical.windows import (
    FLAG_NAMES,
    QualityConfig,
    describe_flags,
    quality_flags,
    window_starts,
)
from iiic.constants import (
    ANALYZE_BATCH_SIZE,
    ANALYZE_STRIDE_S,
    CLASS_LABELS,
    CLASSES,
    EEG_WINDOW_S,
    EEG_WINDOW_SAMPLES,
    N_CLASSES,
    SFREQ_HZ,
)
from iiic.signal.kaggle_spec import spectrogram_windows
from iiic.utils import bad_value, timed

log = logging.getLogger(__name__)

PROB_SUM_TOLERANCE = 1e-3


@dataclass
class Timeline:
    """Per-window results of a whole recording.

    ``table`` columns: window, start_s, end_s, center_s, center_time (clock time or NaT),
    the six ``constants.CLASSES`` probabilities, top_class (display label), top_prob,
    ``flag_<name>`` for ``windows.FLAG_NAMES`` and ``flags`` (text naming the channels).
    ``spec_times_s`` (n_cols,) s, ``spec_freqs_hz`` (n_freqs,) Hz and ``spec``
    (n_cols, 4, n_freqs) µV²/Hz: the display spectrogram of the four chains
    (:func:`iiic.clinical.spectrum.chain_spectrogram`).
    """

    table: pd.DataFrame
    stride_s: float
    duration_s: float
    start: datetime | None = None
    spec_times_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    spec_freqs_hz: np.ndarray = field(default_factory=lambda: np.zeros(0))
    spec: np.ndarray = field(default_factory=lambda: np.zeros((0, 4, 0), np.float32))

    @property
    def probabilities(self) -> np.ndarray:
        """(n_windows, 6) probabilities in ``constants.CLASSES`` order."""
        return self.table[list(CLASSES)].to_numpy()


MAX_DISPLAY_COLUMNS = 3000
"""The display spectrogram has at most this many time columns."""


def display_spectrogram(
    recording: Recording, *, workers: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The four-chain display spectrogram of the whole recording (≤ MAX_DISPLAY_COLUMNS columns)."""
    from iiic.clinical.spectrum import SEGMENT_S, chain_spectrogram

    step_s = max(SEGMENT_S, recording.duration_s / MAX_DISPLAY_COLUMNS)
    return chain_spectrogram(recording.data, step_s, workers=workers)


def recording_spectrogram(recording: Recording) -> tuple[np.ndarray, np.ndarray]:
    """Kaggle-style spectrogram of the whole recording (model input of spectrogram models).

    Rounded like the Kaggle files (and the twin's training files), as ``iiic predict`` computes
    it for EEG-only rows. Returns times (n_rows,) s and power (n_rows, 4, 100).
    """
    from iiic.signal.kaggle_spec import kaggle_style_spectrogram

    return kaggle_style_spectrogram(recording.data, recording.sfreq_hz)


def _check_probs(probs: np.ndarray, n: int) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape != (n, N_CLASSES):
        raise ValueError(
            bad_value("scorer", f"probabilities of shape ({n}, {N_CLASSES})", probs.shape)
        )
    if not np.allclose(probs.sum(axis=1), 1.0, atol=PROB_SUM_TOLERANCE):
        raise ValueError("scorer: expected probabilities (rows summing to 1)")
    return probs


def predict_windows(
    starts: np.ndarray,
    score: ScoreFn,
    *,
    batch_size: int = ANALYZE_BATCH_SIZE,
    spec: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Probabilities (n_windows, 6) of the windows starting at samples ``starts`` of one
    recording, scored by ``score`` (a scorer's ``for_recording(recording)``) in batches."""
    out = np.zeros((len(starts), N_CLASSES))
    for a in range(0, len(starts), batch_size):
        s = starts[a : a + batch_size]
        centers = (s + EEG_WINDOW_SAMPLES / 2) / SFREQ_HZ
        sp = spectrogram_windows(spec[0], spec[1], centers) if spec is not None else None
        out[a : a + len(s)] = _check_probs(score(s, sp), len(s))
        log.debug("scored windows %d-%d of %d", a, a + len(s), len(starts))
    return out


def analyze_recording(
    recording: Recording,
    scorer: Scorer,
    *,
    stride_s: float = ANALYZE_STRIDE_S,
    batch_size: int = ANALYZE_BATCH_SIZE,
    quality: QualityConfig | None = None,
    spectrogram: tuple[np.ndarray, np.ndarray] | None = None,
    display: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    timings: dict[str, float] | None = None,
) -> Timeline:
    """Slide a 50-s window over ``recording`` and score each window with ``scorer``.

    Parameters
    ----------
    recording : the recording at 200 Hz (:func:`iiic.clinical.edf.read_recording`)
    scorer : :class:`iiic.clinical.scoring.ModelScorer` or ``WindowScorer``
    stride_s : distance between window starts, s
    batch_size : windows per call of the scorer
    quality : thresholds of the quality flags
    spectrogram : precomputed ``recording_spectrogram(recording)`` (computed when None and the
        scorer's models read Kaggle spectrograms)
    display : precomputed ``display_spectrogram(recording)`` (computed when None)
    timings : when given, gets ``filter_s`` (the scorer's preprocessing of the recording) and
        ``inference_s`` (the windows through the models), s

    Returns
    -------
    Timeline
    """
    if batch_size < 1:
        raise ValueError(bad_value("batch_size", ">= 1", batch_size))
    starts = window_starts(recording.data.shape[1], stride_s)
    for g0, g1 in recording.gaps:  # EDF+D: no window overlaps a stretch without data
        start_s = starts / SFREQ_HZ
        starts = starts[(start_s + EEG_WINDOW_S <= g0) | (start_s >= g1)]
    spec = None
    if scorer.needs_spec:
        spec = spectrogram if spectrogram is not None else recording_spectrogram(recording)
    timings = {} if timings is None else timings
    with timed(timings, "filter_s"):
        score = scorer.for_recording(recording)
    with timed(timings, "inference_s"):
        probs = predict_windows(starts, score, batch_size=batch_size, spec=spec)
    flags = quality_flags(recording.data, starts, stride_s, recording.rails_uv, quality)
    table = timeline_table(starts, probs, flags, recording.start)
    times, freqs, power = display if display is not None else display_spectrogram(recording)
    return Timeline(table, stride_s, recording.duration_s, recording.start, times, freqs, power)


def timeline_table(
    starts: np.ndarray,
    probs: np.ndarray,
    flags: dict[str, np.ndarray],
    start: datetime | None,
) -> pd.DataFrame:
    """The per-window table of a :class:`Timeline` (see its docstring for the columns)."""
    start_s = starts / SFREQ_HZ
    center_s = start_s + EEG_WINDOW_S / 2
    table = pd.DataFrame(
        {
            "window": np.arange(len(starts)),
            "start_s": start_s,
            "end_s": start_s + EEG_WINDOW_S,
            "center_s": center_s,
            "center_time": (
                pd.to_datetime([start + timedelta(seconds=float(c)) for c in center_s])
                if start is not None
                else pd.Series(pd.NaT, index=range(len(starts)), dtype="datetime64[ns]")
            ),
        }
    )
    for i, name in enumerate(CLASSES):
        table[name] = probs[:, i]
    top = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=int)
    table["top_class"] = [CLASS_LABELS[i] for i in top]
    table["top_prob"] = probs.max(axis=1) if len(probs) else np.zeros(0)
    for name in FLAG_NAMES:
        table[f"flag_{name}"] = flags[name].any(axis=1)
    table["flags"] = describe_flags(flags) if len(starts) else []
    return table
