"""The Python API for notebooks: read, load, predict, analyse, evaluate in a few calls.

Thin entry points over the packages the command line uses, with the project's conventions:
EEG is referential, channel-first ``(20, n_times)`` in ``constants.EEG_CHANNELS`` order, µV,
200 Hz; a window is 50 s, ``(20, 10000)``; probabilities are ``(n, 6)`` in ``constants.CLASSES``
order, rows summing to 1. ``docs/api_example.ipynb`` runs every function on a tiny twin.

>>> from iiic import api
>>> model = api.load_runs()                                # the default model shipped with iiic
>>> model = api.load_runs(["runs/eeg1d"])                  # or trained run directories
>>> rec = api.read_recording("patient.edf")                # or an mne.io.Raw
>>> timeline = api.predict_recording(model, rec)           # one row per 50-s window
>>> result = api.analyze(model, rec, "patient_report/")    # what `iiic analyze` writes
>>> probs = api.predict_windows(model, windows)            # (n, 20, 10000) µV -> (n, 6)
>>> ev = api.evaluate_oof("runs/eeg1d/oof.parquet")        # Kaggle KL and its breakdown
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from iiic.clinical.edf import Recording, recording_from_raw
from iiic.clinical.edf import read_recording as _read_edf
from iiic.clinical.outdir import replacing
from iiic.clinical.pipeline import AnalysisResult, AnalyzeConfig, analyze_file
from iiic.clinical.scoring import scorer_for
from iiic.clinical.timeline import Timeline, analyze_recording
from iiic.constants import (
    ANALYZE_BATCH_SIZE,
    ANALYZE_STRIDE_S,
    DEFAULT_BACKEND,
    EEG_CHANNELS,
    EEG_WINDOW_S,
    EEG_WINDOW_SAMPLES,
    SFREQ_HZ,
)
from iiic.data.plausibility import fill_nan, window_problem
from iiic.data.readers import EEG, Spectrogram, read_eeg, read_spectrogram
from iiic.evaluate.breakdown import Evaluation
from iiic.evaluate.breakdown import evaluate_oof as _evaluate
from iiic.evaluate.oof import read_oof
from iiic.predict.predictor import Predictor
from iiic.predict.prior import DEFAULT_ANALYZE_PRIOR
from iiic.signal.kaggle_spec import eeg_spectrogram_windows
from iiic.utils import bad_value

__all__ = [
    "read_recording",
    "read_kaggle_eeg",
    "read_kaggle_spectrogram",
    "load_runs",
    "predict_windows",
    "predict_recording",
    "analyze",
    "evaluate_oof",
]

RecordingLike = Recording | str | Path | Any
"""A :class:`~iiic.clinical.edf.Recording`, an EDF/EDF+/BDF path, or an ``mne.io.Raw``."""


def read_recording(source: RecordingLike, *, allow_missing: int = 0) -> Recording:
    """A whole recording at 200 Hz: ``.data`` (20, n_times) µV, ``.start``, ``.annotations``.

    Parameters
    ----------
    source : EDF/EDF+/BDF path, ``mne.io.Raw`` (referential 10-20 channels in volts, e.g. from
        ``mne.io.read_raw_edf``; names matched tolerantly, resampled to 200 Hz), or a Recording
    allow_missing : electrodes that may be absent (each interpolated from its 10-20 neighbours)
    """
    if isinstance(source, Recording):
        return source
    if isinstance(source, str | Path):
        return _read_edf(source, allow_missing=allow_missing)
    import mne

    if isinstance(source, mne.io.BaseRaw):
        return recording_from_raw(source, allow_missing=allow_missing)
    raise TypeError(
        bad_value("source", "a path, an mne.io.Raw or a Recording", type(source).__name__)
    )


def read_kaggle_eeg(path: str | Path) -> EEG:
    """A Kaggle ``train_eegs``/``test_eegs`` parquet file: ``.data`` (20, n_times) µV at 200 Hz."""
    return read_eeg(path)


def read_kaggle_spectrogram(path: str | Path) -> Spectrogram:
    """A Kaggle spectrogram parquet file: ``.data`` (n_rows, 4, 100), ``.times_s`` every 2 s."""
    return read_spectrogram(path)


def load_runs(
    run_dirs: str | Path | list[str | Path] | None = None,
    *,
    blend: str | Path | None = None,
    device: str = "auto",
    backend: str = DEFAULT_BACKEND,
    tta_flip: bool = False,
    allow_partial: bool = False,
) -> Predictor:
    """Trained run directories (``iiic train``) as one model; ``blend``: blend.json of ``iiic blend``;
    ``allow_partial``: predict from the finished folds of an unfinished run (else RunError).
    No ``run_dirs``: the default model shipped with iiic (its own blend; docs/default_model.md);
    ``model.card`` is the model's card (:mod:`iiic.predict.card`)."""
    if run_dirs is None:
        if blend is not None:
            raise ValueError("blend: give run_dirs too (the default model has its own blend)")
        from iiic.predict.default_model import load_default

        return load_default(device=device, backend=backend, tta_flip=tta_flip,
                            allow_partial=allow_partial)  # fmt: skip
    dirs = [run_dirs] if isinstance(run_dirs, str | Path) else list(run_dirs)
    return Predictor.from_runs(dirs, blend=blend, device=device, backend=backend,
                               tta_flip=tta_flip, allow_partial=allow_partial)  # fmt: skip


def predict_windows(
    model: Predictor, eeg: np.ndarray, spec: np.ndarray | None = None
) -> np.ndarray:
    """Class probabilities of 50-s windows.

    Parameters
    ----------
    model : from :func:`load_runs`
    eeg : ndarray, shape (n, 20, 10000) or (20, 10000), referential µV at 200 Hz
    spec : ndarray, shape (n, 300, 4, 100), optional
        Kaggle spectrogram windows, for models that read them; when None such models get the
        Kaggle-style spectrogram computed from each window (as ``iiic predict`` does for rows
        without a spectrogram file)

    Returns
    -------
    ndarray, shape (n, 6) — or (6,) for one window — in ``constants.CLASSES`` order

    The rules of ``iiic predict``: NaN stretches are filled linearly over time; a window with no
    data (every electrode NaN) or non-physical values (beyond ±1 V, ±inf), or whose prediction is
    not finite, gets the models' class prior and a warning naming the window. ``eeg`` must hold
    real numbers (float or integer): complex, boolean or object arrays raise ValueError.
    """
    eeg = np.asarray(eeg)
    if eeg.dtype.kind not in "fiu":
        raise ValueError(
            bad_value("eeg", "real numbers (µV, float or integer)", f"dtype {eeg.dtype}")
        )
    eeg = eeg.astype(np.float32)
    single = eeg.ndim == 2
    eeg = eeg[None] if single else eeg
    if eeg.ndim != 3 or eeg.shape[1:] != (len(EEG_CHANNELS), EEG_WINDOW_SAMPLES):
        raise ValueError(
            bad_value(
                "eeg",
                f"shape (n, {len(EEG_CHANNELS)}, {EEG_WINDOW_SAMPLES}) or "
                f"({len(EEG_CHANNELS)}, {EEG_WINDOW_SAMPLES}) µV",
                eeg.shape,
            )
        )
    problems = {i: p for i, x in enumerate(eeg) if (p := window_problem(x)) is not None}
    eeg = np.stack([fill_nan(x)[0] if i not in problems else np.zeros_like(x)
                    for i, x in enumerate(eeg)]) if len(eeg) else eeg  # fmt: skip
    if model.needs_spec and spec is None:
        spec = np.concatenate(
            [eeg_spectrogram_windows(x, SFREQ_HZ, [EEG_WINDOW_S / 2]) for x in eeg]
        )  # (n, 300, 4, 100)
    probs = model.predict(eeg, spec)
    bad = np.flatnonzero(~np.isfinite(probs).all(axis=1))
    problems |= {int(i): "prediction is not finite (NaN or inf from the models)" for i in bad
                 if int(i) not in problems}  # fmt: skip
    for i, why in sorted(problems.items()):
        probs[i] = model.class_prior
        warnings.warn(f"eeg window {i}: {why}; it gets the class prior", stacklevel=2)
    return probs[0] if single else probs


def predict_recording(
    model: Predictor,
    recording: RecordingLike,
    *,
    stride_s: float = ANALYZE_STRIDE_S,
    fast: bool = False,
    batch_size: int = ANALYZE_BATCH_SIZE,
    prior: str | Path | None = None,
) -> Timeline:
    """Score a whole recording window by window (no files written), as ``iiic analyze`` does
    (:mod:`iiic.clinical.scoring`: each run's preprocessing applied to the recording once;
    ``fast`` as ``--fast``).

    Returns a :class:`~iiic.clinical.timeline.Timeline`: ``.table`` has one row per 50-s window
    (start/centre in s and clock time, the six probabilities, top class, quality flags),
    ``.probabilities`` is (n_windows, 6). ``prior``: the class prior of the probabilities
    (None: the model's, :meth:`Predictor.with_prior`; ``training``: as trained; ``monitoring``
    as ``iiic analyze``; :mod:`iiic.predict.prior`).
    """
    rec = read_recording(recording)
    scorer = scorer_for(model, fast=fast, prior=None if prior is None else str(prior))
    return analyze_recording(rec, scorer, stride_s=stride_s, batch_size=batch_size)


def analyze(
    model: Predictor, recording: RecordingLike, out_dir: str | Path, *, fast: bool = False,
    prior: str | Path = DEFAULT_ANALYZE_PRIOR, **settings: Any,
) -> AnalysisResult:  # fmt: skip
    """Everything ``iiic analyze`` writes (timeline, events, annotations, figures, report.html).

    ``prior``: the class prior of the probabilities, as ``iiic analyze --prior``
    (:mod:`iiic.predict.prior`: ``monitoring``, ``hms`` or a JSON file); ``fast`` as
    ``--fast``. ``settings`` are fields of :class:`~iiic.clinical.pipeline.AnalyzeConfig`
    (``stride_s``, ``threshold``, ``allow_missing``, ``max_pages``, ...). Returns the timeline,
    the summary (``.summary``) and the written files (``.files``).

    ``out_dir`` follows the CLI's rules (:mod:`iiic.clinical.outdir`): it must be new, empty or
    an earlier analysis of iiic holding only files iiic wrote (else ValueError naming it); the
    analysis is published by rename when complete.
    """
    cfg = AnalyzeConfig(**settings)
    rec = read_recording(recording, allow_missing=cfg.allow_missing)
    scorer = scorer_for(model, fast=fast, prior=str(prior))
    out_dir = Path(out_dir)
    with replacing(out_dir) as partial:
        result = analyze_file(rec, scorer, partial, config=cfg)
    result.files = {k: out_dir / Path(p).relative_to(partial) for k, p in result.files.items()}
    return result


def evaluate_oof(
    oof: str | Path | pd.DataFrame, *, labels: str | Path | None = None,
    out_dir: str | Path | None = None,
) -> Evaluation:  # fmt: skip
    """Kaggle KL of an out-of-fold table and its breakdown (quality, agreement, class, fold).

    Parameters
    ----------
    oof : OOF table (``RUN/oof.parquet``, a public notebook's CSV) or a DataFrame in the OOF
        contract (docs/architecture.md)
    labels : train.csv with raw votes, for tables that hold only probabilities
    out_dir : also write the report there (metrics.json, report.md, report.html, figures)
    """
    table = oof if isinstance(oof, pd.DataFrame) else read_oof(oof, labels)
    if out_dir is not None:
        from iiic.evaluate.report import write_report
        from iiic.runs.rundir import preprocessing_of

        pp = None if isinstance(oof, pd.DataFrame) else preprocessing_of(oof)
        return write_report(table, out_dir, preprocessing=pp)
    return _evaluate(table)
