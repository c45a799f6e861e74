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
) -> Path:
    """Write ``data_uv`` (n_signals, n_times) µV as an EDF+ file with edfio (1-s records)."""
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


@pytest.fixture
def edf_writer() -> Callable[..., Path]:
    return write_edf


@pytest.fixture
def stand_in_predict() -> Callable[[np.ndarray, np.ndarray | None], np.ndarray]:
    return amplitude_rule


@pytest.fixture
def make_background() -> Callable[..., np.ndarray]:
    return background


@pytest.fixture
def tuh_labels() -> list[str]:
    return list(TUH_STYLE)
