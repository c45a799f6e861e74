"""Fixtures of the clinical tests: tiny real EDF files written with edfio, a stand-in scorer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from iiic.constants import ELECTRODES, N_CLASSES

TUH_STYLE = [f"EEG {name.upper()}-REF" for name in ELECTRODES] + ["EEG EKG1-REF", "PHOTIC-REF"]
"""Labels of a TUH-like file: 19 electrodes, the EKG and one extra channel (21 signals)."""
PHYSICAL_RANGE_UV = (-3000.0, 3000.0)


def write_edf(
    path: Path,
    data_uv: np.ndarray,
    sfreq_hz: float,
    labels: list[str],
    *,
    start: dt.datetime | None = dt.datetime(2024, 3, 1, 22, 30, 0),
    physical_range: tuple[float, float] = PHYSICAL_RANGE_UV,
    annotations: list[tuple[float, float, str]] | None = None,
) -> Path:
    """Write ``data_uv`` (n_signals, n_times) µV as an EDF+ file with edfio (1-s records) and
    ``annotations`` (onset s, duration s, text)."""
    import edfio

    signals = [
        edfio.EdfSignal(
            np.clip(row, *physical_range).astype(np.float64),
            sfreq_hz,
            label=label,
            physical_dimension="uV",
            physical_range=physical_range,
        )
        for row, label in zip(data_uv, labels, strict=True)
    ]
    edf = edfio.Edf(
        signals,
        starttime=start.time() if start else None,
        recording=edfio.Recording(startdate=start.date()) if start else None,
        annotations=[edfio.EdfAnnotation(*a) for a in annotations] if annotations else None,
    )
    edf.write(path)
    return path


def background(
    n_signals: int, n_times: int, seed: int = 0, amplitude_uv: float = 20.0
) -> np.ndarray:
    """Random background EEG (n_signals, n_times) µV: AR(1)-filtered white noise, unit std."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    x = lfilter([1.0], [1.0, -0.95], rng.standard_normal((n_signals, n_times)), axis=1)
    return amplitude_uv * x / x.std(axis=1, keepdims=True)


def amplitude_rule(eeg_ref: np.ndarray, spec: np.ndarray | None) -> np.ndarray:
    """Stand-in scorer (n, 20, 10000) → (n, 6): a softmax of the log amplitude of the left
    and right hemispheres' central 10 s. Deterministic and cheap; not a classifier."""
    centre = eeg_ref[:, :, 4000:6000]
    amp = np.log(centre.std(axis=2) + 1.0)  # (n, 20)
    left, right = amp[:, :8].mean(axis=1), amp[:, 11:19].mean(axis=1)
    logits = np.zeros((len(eeg_ref), N_CLASSES))
    logits[:, 0] = 3 * (left - right)
    logits[:, 5] = 1.0
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture(scope="session")
def edf_writer() -> Callable[..., Path]:
    return write_edf


STAND_IN = "amplitude rule (stand-in)"


@pytest.fixture(scope="session")
def stand_in_scorer():
    """:func:`amplitude_rule` as an analysis's scorer."""
    from iiic.clinical.scoring import WindowScorer

    return WindowScorer(amplitude_rule, info={"models": STAND_IN})


@pytest.fixture(scope="session")
def make_background() -> Callable[..., np.ndarray]:
    return background


@pytest.fixture(scope="session")
def tuh_labels() -> list[str]:
    return list(TUH_STYLE)


TINY_EEG1D = {"widths": [8, 16], "kernel_sizes": [3, 7], "gru_hidden": 8}
"""A small eeg1d (fast on one core)."""


@pytest.fixture(scope="session")
def random_run_dir(tmp_path_factory) -> Path:
    """A run directory in the training layout with a tiny eeg1d of fixed random weights.

    Written through iiic.runs.rundir, read back by the real Predictor: it checks the wiring
    (shapes, preprocessing, files), not classification quality.
    """
    import json

    import torch

    from iiic.constants import CLASSES
    from iiic.runs.rundir import save_config, save_fold_model
    from iiic.signal.preprocess import PreprocessConfig
    from iiic.train.config import TrainConfig, build_model

    run_dir = tmp_path_factory.mktemp("runs") / "eeg1d_random"
    cfg = TrainConfig(
        model="eeg1d",
        model_options=dict(TINY_EEG1D),
        preprocess=PreprocessConfig(downsample=5),
        n_folds=2,
    )
    save_config(run_dir, cfg)
    for k in range(2):
        torch.manual_seed(k)
        save_fold_model(run_dir / f"fold_{k}", build_model(cfg), k, {})
    prior = dict(zip(CLASSES, [0.2, 0.15, 0.1, 0.05, 0.1, 0.4], strict=True))
    (run_dir / "class_prior.json").write_text(json.dumps(prior))
    return run_dir


LEFT_BOOST = (120.0, 200.0)
"""Seconds of the analysed recording in which the left hemisphere is 4x larger: the stand-in
scorer calls these windows Seizure (one event)."""


@pytest.fixture(scope="session")
def analysed_edf(tmp_path_factory):
    """A 6-minute TUH-style EDF+ (256 Hz, with one file annotation) analysed with the stand-in
    scorer and ``annotated_copy``: ``(edf path, output folder, AnalysisResult)``. Shared by the
    annotation, review-page and API tests."""
    from iiic.clinical.pipeline import AnalyzeConfig, analyze_file

    root = tmp_path_factory.mktemp("analysed")
    sfreq = 256.0
    data = background(len(TUH_STYLE), round(360 * sfreq), seed=11)
    a, b = (round(t * sfreq) for t in LEFT_BOOST)
    data[:8, a:b] *= 4.0  # Fp1 F3 C3 P3 F7 T3 T5 O1
    path = write_edf(root / "patient one.edf", data, sfreq, list(TUH_STYLE),
                     annotations=[(30.0, 5.0, "eyes closed")])  # fmt: skip
    cfg = AnalyzeConfig(max_pages=1, annotated_copy=True)
    from iiic.clinical.scoring import WindowScorer

    scorer = WindowScorer(amplitude_rule, info={"models": STAND_IN})
    result = analyze_file(path, scorer, root / "out", config=cfg)
    return path, root / "out", result
