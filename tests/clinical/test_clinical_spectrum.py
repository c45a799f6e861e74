"""The display spectrogram of the four chains: shapes, times, where the power shows up."""

from __future__ import annotations

import numpy as np

from iiic.clinical.spectrum import chain_spectrogram
from iiic.constants import EEG_CHANNELS

FS = 200


def test_a_left_temporal_rhythm_shows_in_ll_only(make_background) -> None:
    data = make_background(20, 600 * FS, seed=4, amplitude_uv=5.0)
    t = np.arange(data.shape[1]) / FS
    data[EEG_CHANNELS.index("T3")] += 80.0 * np.sin(2 * np.pi * 5.0 * t)  # 5 Hz at T3
    times, freqs, power = chain_spectrogram(data, step_s=10.0)
    assert power.shape == (60, 4, 40) and freqs[0] == 0.5 and freqs[-1] == 20.0
    np.testing.assert_allclose(times[:2], [5.0, 15.0])
    ll, rl = power[:, 0], power[:, 1]
    assert (freqs[ll.argmax(axis=1)] == 5.0).all()
    assert ll[:, freqs == 5.0].min() > 100 * rl[:, freqs == 5.0].max()


def test_parseval_white_noise_level() -> None:
    rng = np.random.default_rng(0)
    sigma = 10.0
    data = np.zeros((20, 200 * FS), dtype=np.float32)
    data[EEG_CHANNELS.index("O1")] = rng.normal(0, sigma, data.shape[1])  # one electrode
    _, _, power = chain_spectrogram(data, step_s=200.0)
    # O1 enters the last pair of LL and LP: one of four pairs → a quarter of the one-sided PSD.
    expected = 2 * sigma**2 / FS / 4
    np.testing.assert_allclose(power[0, 0].mean(), expected, rtol=0.1)
    np.testing.assert_allclose(power[0, 1].mean(), 0.0, atol=1e-6)
