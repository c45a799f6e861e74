"""Kaggle-style spectrograms: grid, shapes, NaN rows, and agreement with a real Kaggle pair."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iiic import constants
from iiic.signal.kaggle_spec import (
    eeg_spectrogram_windows,
    kaggle_style_spectrogram,
    spectrogram_windows,
)

SF = constants.SFREQ_HZ


def test_shape_times_and_tone_location() -> None:
    t = np.arange(round(60 * SF)) / SF
    x = np.zeros((20, len(t)), np.float32)
    x[constants.ELECTRODES.index("Fp1")] = 50 * np.sin(2 * np.pi * 5.0 * t)  # only LL and LP see it
    times, spec = kaggle_style_spectrogram(x, SF)
    assert spec.shape == (30, 4, 100) and spec.dtype == np.float32
    np.testing.assert_array_equal(times, np.arange(30) * 2 + 1)
    peak = np.asarray(constants.SPEC_FREQS_HZ)[spec[10, 0].argmax()]
    assert peak == pytest.approx(5.0, abs=0.2)
    assert spec[10, 0].max() > 100 * max(spec[10, 1].max(), 0.01)  # RL does not include Fp1


def test_nan_samples_give_nan_rows_and_bad_input_is_rejected() -> None:
    x = np.random.default_rng(0).normal(0, 20, (20, round(40 * SF))).astype(np.float32)
    x[:, round(20 * SF) : round(21 * SF)] = np.nan
    _, spec = kaggle_style_spectrogram(x, SF)
    nan_rows = np.isnan(spec).all(axis=(1, 2))
    assert nan_rows[10] and not nan_rows[0] and not nan_rows[-1]
    with pytest.raises(ValueError, match="shape"):
        kaggle_style_spectrogram(x[:19], SF)
    with pytest.raises(ValueError, match="sfreq_hz"):
        kaggle_style_spectrogram(x, 250.0)


@pytest.mark.real_data
def test_matches_the_real_kaggle_spectrogram(shared_data: Path) -> None:
    signals = shared_data / "hms-train-signals"
    x = pd.read_parquet(signals / "train_eegs" / "1628180742.parquet").to_numpy().T
    real = pd.read_parquet(signals / "train_spectrograms" / "353733.parquet")
    times, mine = kaggle_style_spectrogram(x, SF)
    # EEG time t sits at spectrogram time t + 275 s (window centres aligned, offsets both 0);
    # the real rows are at odd seconds, so half a row off: t + 274 (t + 276 fits as well)
    rows = real.set_index("time").loc[(times + 274).astype(int)].to_numpy().reshape(-1, 4, 100)
    corr = np.corrcoef(np.log(rows + 0.01).ravel(), np.log(mine + 0.01).ravel())[0, 1]
    assert corr > 0.85
    assert 0.7 < np.median(rows / np.maximum(mine, 0.01)) < 1.4


def test_spec_windows_are_centred_and_nan_padded() -> None:
    times = 1.0 + 2.0 * np.arange(500)  # 1000 s of rows
    spec = np.broadcast_to(times[:, None, None], (500, 4, 100)).astype(np.float32)
    out = spectrogram_windows(times, spec, np.array([500.0, 25.0]))
    assert out.shape == (2, 300, 4, 100)
    assert out[0, 0, 0, 0] == 201.0 and out[0, -1, 0, 0] == 799.0
    assert np.isnan(out[1, :138]).all() and out[1, 138, 0, 0] == 1.0


def test_eeg_spectrogram_windows_centre_a_50s_eeg_in_the_600s_window() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(0, 30, (20, round(50 * SF))).astype(np.float32)
    out = eeg_spectrogram_windows(x, SF, [25.0])
    _, spec = kaggle_style_spectrogram(x, SF)  # 25 rows at 1, 3, ..., 49 s
    assert out.shape == (1, 300, 4, 100) and out.dtype == np.float32
    finite = np.isfinite(out[0]).all(axis=(1, 2))
    assert finite.sum() == 25 and np.flatnonzero(finite).tolist() == list(range(138, 163))
    np.testing.assert_array_equal(out[0, 138:163], spec)
    assert np.isnan(eeg_spectrogram_windows(x[:, :100], SF, [25.0, 30.0])).all()
