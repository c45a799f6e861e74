"""How an analysis scores a recording's windows: one scorer, built once, used for every recording.

:func:`load_scorer` is the one entry that builds what an analysis needs from a
:class:`ScorerSpec` (run directories, blend, backend, device, threads, class prior, exact or
fast): the :class:`~iiic.predict.predictor.Predictor` and the description of the model that every
report carries. ``iiic analyze`` (one recording, many, each worker of a batch),
:func:`iiic.api.analyze` (:func:`scorer_for`, from a loaded predictor) and ``iiic demo`` call it.
A plain window function (rules, stand-ins) is a :class:`WindowScorer`.

**The windows' preprocessing** is training's: the model-ready inputs of ``iiic prepare --preset``
preprocess each EEG file once and slice the windows from it, so :class:`RecordingScorer` applies
each run's preprocessing once to each stretch of the recording (between EDF+D gaps) with
:func:`iiic.signal.preprocess.preprocess_recording` and slices each window from it. Exact (the
default): the run's own filters throughout. Fast (``--fast``): the zero-phase filters on the FFT
in the blocks that touch neither end of a stretch (about 4x fewer operations, equal to float32
rounding there: the probabilities agree to about 1e-6, ``benchmarks/fast_exact.py``); the ends as
exact. A run that reads the central ``crop_s`` of each window (e.g. the 10 s the experts
labelled) was trained on each crop filtered alone: it gets each window's crop preprocessed alone,
on both paths.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from iiic.constants import DEFAULT_BACKEND, EEG_WINDOW_SAMPLES, SFREQ_HZ
from iiic.predict.prior import DEFAULT_ANALYZE_PRIOR
from iiic.signal.preprocess import PreprocessConfig, preprocess, preprocess_recording

if TYPE_CHECKING:
    from iiic.clinical.edf import Recording
    from iiic.predict.predictor import Predictor

PredictFn = Callable[[np.ndarray, np.ndarray | None], np.ndarray]
"""``(eeg_ref (n, 20, 10000) µV, spec (n, 300, 4, 100) | None) -> probabilities (n, 6)``."""
ScoreFn = Callable[[np.ndarray, np.ndarray | None], np.ndarray]
"""``(window starts (n,) samples at 200 Hz, spec (n, 300, 4, 100) | None) -> (n, 6)``: one
recording's windows, from :meth:`ModelScorer.for_recording` / :meth:`WindowScorer.for_recording`."""
FILTERING = {False: "each recording once, the runs' own filters (--exact)",
             True: "each recording once, FFT inside the recording (--fast)"}  # fmt: skip
"""The report's "filtering" line of an exact and a fast analysis."""


@dataclass(frozen=True)
class ScorerSpec:
    """What an analysis loads (picklable: sent to the workers of a batch)."""

    run_dirs: tuple[str, ...]
    blend: str | None = None
    backend: str = DEFAULT_BACKEND
    device: str = "auto"
    threads: int | None = None
    """torch and ONNX Runtime threads (None: their defaults)."""
    fast: bool = False
    allow_partial: bool = False
    prior: str = DEFAULT_ANALYZE_PRIOR
    """Class prior of the probabilities (:mod:`iiic.predict.prior`): monitoring, hms, training
    or a JSON file."""

    def info(self) -> dict[str, Any]:
        """The settings written into each recording's summary.json (known before loading)."""
        return {"models": ", ".join(self.run_dirs), "blend": self.blend, "prior": self.prior,
                "backend": self.backend, "filtering": FILTERING[self.fast],
                "threads": self.threads}  # fmt: skip


@dataclass
class ModelScorer:
    """A predictor, exact or fast, and what the reports say about it (``info``)."""

    predictor: Predictor
    fast: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def needs_spec(self) -> bool:
        return self.predictor.needs_spec

    def for_recording(self, recording: Recording) -> RecordingScorer:
        """Preprocess ``recording`` for every run (once) and return its window scorer."""
        return RecordingScorer(self.predictor, recording.data, gaps_s=recording.gaps,
                               fast=self.fast)  # fmt: skip


@dataclass
class WindowScorer:
    """A plain window function as a scorer (rules, stand-ins): each window is cut from the
    recording and given to ``predict_fn`` (:data:`PredictFn`)."""

    predict_fn: PredictFn
    needs_spec: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    def for_recording(self, recording: Recording) -> ScoreFn:
        data = recording.data

        def score(starts: np.ndarray, spec: np.ndarray | None) -> np.ndarray:
            eeg = np.stack([data[:, s : s + EEG_WINDOW_SAMPLES] for s in starts])
            return self.predict_fn(eeg.astype(np.float32, copy=False), spec)

        return score


Scorer = ModelScorer | WindowScorer


def load_scorer(spec: ScorerSpec) -> ModelScorer:
    """Load the models of ``spec`` (setting torch's threads) and build their scorer."""
    import torch

    from iiic.predict.predictor import Predictor

    if spec.threads:
        torch.set_num_threads(spec.threads)
    predictor = Predictor.from_runs(
        list(spec.run_dirs), backend=spec.backend, device=spec.device, blend=spec.blend,
        onnx_threads=spec.threads, allow_partial=spec.allow_partial,
    )  # fmt: skip
    return scorer_for(predictor, fast=spec.fast, prior=spec.prior, settings=spec.info())


def scorer_for(predictor: Predictor, *, fast: bool = False,
               prior: str | None = DEFAULT_ANALYZE_PRIOR,
               settings: dict[str, Any] | None = None) -> ModelScorer:  # fmt: skip
    """The scorer of a loaded predictor, its probabilities shifted to ``prior`` (None: the
    predictor's own, :meth:`~iiic.predict.predictor.Predictor.with_prior`); ``settings``
    (:meth:`ScorerSpec.info`) override the description read from the predictor."""
    if prior is not None:
        predictor = predictor.with_prior(prior)
    spec = ScorerSpec(
        tuple(str(r.path) for r in predictor.runs),
        fast=fast,
        backend=predictor.backend,
        prior=predictor.prior_name or "training",
    )
    info = spec.info() | (settings or {}) | {"engine": predictor.backend, **predictor.report_info()}
    return ModelScorer(predictor, fast=fast, info=info)


def _stretches(n: int, gaps_s: list[tuple[float, float]], ds: int) -> list[tuple[int, int]]:
    """Sample ranges [a, b) of the data between the gaps, on the decimation grid, at least one
    window long (no window overlaps a gap: :func:`iiic.clinical.timeline.analyze_recording`)."""
    out, a = [], 0
    for g0, g1 in sorted(gaps_s):
        b = int(g0 * SFREQ_HZ) // ds * ds
        if b - a >= EEG_WINDOW_SAMPLES:
            out.append((a, b))
        a = -(-round(g1 * SFREQ_HZ) // ds) * ds
    if n - a >= EEG_WINDOW_SAMPLES:
        out.append((a, n))  # the recording's end as it is (a file is preprocessed whole)
    return out


class RecordingScorer:
    """Score the windows of one recording with a Predictor's models (see the module docstring).

    Parameters
    ----------
    predictor : iiic.predict.predictor.Predictor (torch or onnx backend; no TTA flip)
    data : ndarray, shape (20, n_times), µV at 200 Hz
    gaps_s : (start, end) s of the stretches without data (EDF+D), preprocessed apart
    fast : the zero-phase filters on the FFT inside each stretch (``--fast``)
    """

    def __init__(self, predictor: Predictor, data: np.ndarray, *,
                 gaps_s: list[tuple[float, float]] = (), fast: bool = False) -> None:  # fmt: skip
        if predictor.tta_flip:
            raise ValueError("tta_flip: analyze does not flip; use Predictor.predict")
        self.predictor, self.data = predictor, data
        self.features: dict[PreprocessConfig, np.ndarray] = {}
        """Each 50-s run config's model input of the whole recording (C, n_times // ds)."""
        for run in predictor.runs:
            cfg = run.preprocess
            if run.needs_eeg and cfg.crop_s is None and cfg not in self.features:
                ds = cfg.downsample
                feats = np.zeros((cfg.n_chans, data.shape[1] // ds), np.float32)
                for a, b in _stretches(data.shape[1], list(gaps_s), ds):
                    feats[:, a // ds : a // ds + (b - a) // ds] = preprocess_recording(
                        data[:, a:b], cfg, interior_method="fft" if fast else None)  # fmt: skip
                self.features[cfg] = feats

    def _eeg(self, cfg: PreprocessConfig, starts: np.ndarray) -> np.ndarray:
        """Model input (B, C, n_times) of the windows at ``starts``."""
        if cfg.crop_s is not None:  # the crop filtered alone, as the run was trained
            a, n = cfg.crop_start(), cfg.crop_samples
            return preprocess(np.stack([self.data[:, s + a : s + a + n] for s in starts]), cfg)
        ds, n_t, feats = cfg.downsample, cfg.n_times(), self.features[cfg]
        return np.stack([feats[:, s // ds : s // ds + n_t] for s in starts])

    def __call__(self, starts: np.ndarray, spec: np.ndarray | None) -> np.ndarray:
        """Probabilities (B, 6) of the windows starting at samples ``starts`` (B,)."""
        from iiic.signal.spectrogram import kaggle_spec_features

        self.check_starts(starts)
        per_run = []
        for i, run in enumerate(self.predictor.runs):
            eeg = self._eeg(run.preprocess, starts) if run.needs_eeg else None
            feats = kaggle_spec_features(spec) if run.needs_spec else None
            per_run.append(self.predictor.run_probs(i, eeg, feats))
        return self.predictor.combine(np.stack(per_run))  # (n_runs, B, 6) → (B, 6)

    def check_starts(self, starts: np.ndarray) -> None:
        """ValueError unless every start is a multiple of every sliced run's decimation factor
        and every window lies inside the recording."""
        for cfg in self.features:
            if np.any(starts % cfg.downsample):
                raise ValueError(
                    f"stride_s: window starts must be multiples of {cfg.downsample} samples "
                    f"({cfg.downsample / SFREQ_HZ:g} s): a run reads the recording at "
                    f"{cfg.sfreq_out_hz:g} Hz"
                )
        if len(starts) and starts.max() + EEG_WINDOW_SAMPLES > self.data.shape[1]:
            raise ValueError("starts: a window runs past the end of the recording")
