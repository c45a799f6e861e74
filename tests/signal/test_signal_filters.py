"""Filters against independent computations: scipy's frequency response, known tones, NaN counts."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from scipy import signal as sps

from iiic import constants as C
from iiic.signal import filters

FS = C.SFREQ_HZ
T_S = 20.0


def _tone(freq_hz: float, fs: float = FS, amp: float = 100.0, seconds: float = T_S) -> np.ndarray:
    t = np.arange(round(seconds * fs)) / fs
    return (amp * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def _gain_db(y: np.ndarray, x: np.ndarray) -> float:
    """RMS gain over the middle half (away from edge transients), dB."""
    n = x.shape[-1]
    mid = slice(n // 4, 3 * n // 4)
    return 20 * np.log10(np.sqrt(np.mean(y[..., mid] ** 2)) / np.sqrt(np.mean(x[..., mid] ** 2)))


def _expected_zero_phase_db(sos: np.ndarray, freq_hz: float, fs: float = FS) -> float:
    """Forward-backward filtering applies |H(f)|²: 20 log10 |H|² = 40 log10 |H|."""
    _, h = sps.sosfreqz(sos, worN=[freq_hz], fs=fs)
    return float(40 * np.log10(np.abs(h[0])))


def test_bandpass_attenuates_40hz_by_the_designed_amount_and_passes_5hz():
    sos = sps.butter(4, [0.5, 20.0], btype="bandpass", fs=FS, output="sos")
    x40, x5 = _tone(40.0), _tone(5.0)
    g40 = _gain_db(filters.bandpass(x40, FS, 0.5, 20.0), x40)
    expected = _expected_zero_phase_db(sos, 40.0)
    assert expected < -40.0  # the test is meaningful: a strong attenuation is predicted
    assert g40 == pytest.approx(expected, abs=1.0)
    assert abs(_gain_db(filters.bandpass(x5, FS, 0.5, 20.0), x5)) < 0.5


def test_bandpass_is_zero_phase_and_vectorised():
    x = np.stack([_tone(3.0), _tone(8.0, amp=20.0)])[None].repeat(3, axis=0)  # (3, 2, T)
    y = filters.bandpass(x, FS, 0.5, 20.0)
    assert y.shape == x.shape and y.dtype == np.float32 and y.flags.c_contiguous
    np.testing.assert_allclose(y[2, 1], filters.bandpass(x[0, 1], FS, 0.5, 20.0), atol=1e-4)
    mid = slice(1000, 3000)
    lag = np.argmax(np.correlate(y[0, 0, mid], x[0, 0, mid], mode="full")) - (2000 - 1)
    assert lag == 0  # no phase shift


def test_highpass_removes_dc_and_lowpass_keeps_it():
    x = _tone(5.0) + np.float32(300.0)
    hp = filters.highpass(x, FS, 0.5)
    lp = filters.lowpass(x, FS, 20.0)
    mid = slice(1000, 3000)
    assert abs(hp[mid].mean()) < 1.0
    assert lp[mid].mean() == pytest.approx(300.0, abs=1.0)


def test_filter_design_is_cached_and_validated():
    assert filters.butter_sos(FS, 0.5, 20.0) is filters.butter_sos(FS, 0.5, 20.0)
    with pytest.raises(ValueError, match="high_hz: expected 0 < high_hz < Nyquist"):
        filters.bandpass(_tone(5.0), FS, 0.5, 150.0)
    with pytest.raises(ValueError, match="low_hz: expected below high_hz"):
        filters.bandpass(_tone(5.0), FS, 20.0, 10.0)
    with pytest.raises(ValueError, match="at least one band edge"):
        filters.bandpass(_tone(5.0), FS, None, None)


def test_notch_kills_60hz_and_keeps_10hz():
    fs = 250.0  # 60 Hz needs a Nyquist above 60
    x60, x10 = _tone(60.0, fs), _tone(10.0, fs)
    assert _gain_db(filters.notch(x60, fs, 60.0), x60) < -40.0
    assert abs(_gain_db(filters.notch(x10, fs, 60.0), x10)) < 0.1
    with pytest.raises(ValueError, match="freq_hz: expected 0 < freq_hz < Nyquist"):
        filters.notch(_tone(10.0), FS, 120.0)


def test_clip_scale():
    x = np.array([-5000.0, -10.0, 0.0, 64.0, 2000.0])
    np.testing.assert_array_equal(
        filters.clip_scale(x, 1024.0, 32.0), np.array([-32.0, -0.3125, 0.0, 2.0, 32.0])
    )
    np.testing.assert_array_equal(filters.clip_scale(x, None, 2.0), x / 2.0)
    with pytest.raises(ValueError, match="divide_by"):
        filters.clip_scale(x, 1024.0, 0.0)


def test_fill_nan_counts_and_interpolates():
    x = np.zeros((2, 3, 10), dtype=np.float32)
    x[0, 0] = np.arange(10)
    x[0, 0, 3:6] = np.nan  # interior: linear between 2 and 6
    x[0, 1, :2] = np.nan  # leading edge: nearest valid value
    x[0, 1, 2:] = 7.0
    x[1, 2] = np.nan  # whole channel → 0
    original = x.copy()
    filled, n = filters.fill_nan(x)
    assert n == 3 + 2 + 10
    np.testing.assert_allclose(filled[0, 0], np.arange(10))
    np.testing.assert_array_equal(filled[0, 1], 7.0)
    np.testing.assert_array_equal(filled[1, 2], 0.0)
    assert not np.isnan(filled).any()
    np.testing.assert_array_equal(np.isnan(x), np.isnan(original))  # the input is untouched
    clean, n_clean = filters.fill_nan(np.ones((2, 5)))
    assert n_clean == 0 and clean.dtype == np.float32


def test_downsample_keeps_in_band_tones_and_removes_aliases():
    factor = 4  # 200 → 50 Hz
    x5, x40 = _tone(5.0), _tone(40.0)  # 40 Hz would alias to 10 Hz without the anti-alias filter
    y5 = filters.downsample(x5, factor)
    assert y5.shape == (x5.size // factor,) and y5.dtype == np.float32
    assert abs(_gain_db(y5, x5[::factor])) < 0.5
    assert _gain_db(filters.downsample(x40, factor), x40[::factor]) < -30.0
    np.testing.assert_array_equal(filters.downsample(x5, 1), x5)
    with pytest.raises(ValueError, match="factor: expected an integer >= 1"):
        filters.downsample(x5, 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
@pytest.mark.parametrize("factor", [2, 5, 7])
def test_downsample_equals_scipy_decimate(dtype, factor):
    """The cached filter design gives scipy.signal.decimate's values exactly (odd lengths too)."""
    x = (np.random.default_rng(factor).normal(size=(3, 1003)) * 100).astype(dtype)
    want = sps.decimate(x, factor, axis=-1, zero_phase=True).astype(np.float32)
    np.testing.assert_array_equal(filters.downsample(x, factor), want)


def test_filters_log_their_settings(caplog):
    with caplog.at_level(logging.DEBUG, logger="iiic.signal.filters"):
        filters.bandpass(_tone(5.0), FS, 0.5, 20.0)
        filters.notch(_tone(5.0), FS, 50.0)
    text = caplog.text
    assert "zero-phase Butterworth band-pass 0.5-20 Hz, order 4" in text
    assert "notch at 50 Hz" in text


def test_zero_phase_gains_are_the_squared_responses_and_fft_filter_applies_them():
    n_fft = 4096
    gain, dec = filters.zero_phase_gains(n_fft, FS, (0.5, 20.0), 4, None, 4)
    freqs = np.fft.rfftfreq(n_fft, 1 / FS)
    sos = filters.butter_sos(FS, 0.5, 20.0, 4)
    np.testing.assert_allclose(
        gain, np.abs(sps.sosfreqz(sos, worN=freqs, fs=FS)[1]) ** 2, atol=1e-6
    )
    assert dec[0] == pytest.approx(1.0, abs=0.02)  # the Chebyshev filter's 0.05 dB ripple
    assert dec[freqs > 25.0].max() < 1e-2
    pad = filters.fft_pad(FS, (0.5, 20.0), 4, None, 1)
    assert 2 * FS < pad < 15 * FS  # the 0.5 Hz edge rings for seconds
    x = np.random.default_rng(0).normal(0, 30, (2, 3, 3000))
    ext = filters.odd_extend(x, 500)
    assert ext.shape == (2, 3, 4000)
    np.testing.assert_allclose(ext[..., 499], 2 * x[..., 0] - x[..., 1])
    y = filters.fft_filter(ext, [gain[: 4096 // 2 + 1]], n_fft)  # n_fft >= n_ext
    expected = np.fft.irfft(np.fft.rfft(ext, n_fft) * gain, n_fft)[..., :4000]
    np.testing.assert_allclose(y, expected, atol=1e-3)
    with pytest.raises(ValueError, match="pad"):
        filters.odd_extend(x, 3000)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_sosfiltfilt_gives_scipys_values_bit_for_bit(dtype):
    """The steady state computed once per filter changes nothing: scipy's exact values and dtype
    for band-, high- and low-pass designs and the float32 decimation filter, on any leading
    dimensions; inputs too short for the padding get scipy's own error."""
    rng = np.random.default_rng(7)
    designs = [filters.butter_sos(FS, 0.5, 20.0), filters.butter_sos(FS, 0.5, None),
               filters.butter_sos(FS, None, 20.0, 3), filters.decimate_sos(5).astype(np.float32)]  # fmt: skip
    for sos in designs:
        for shape in [(18, 3001), (2, 3, 500), (400,)]:
            x = (rng.normal(size=shape) * 60 + 200).astype(dtype)
            want = sps.sosfiltfilt(sos, x, axis=-1)
            got = filters.sosfiltfilt(sos, x)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="padlen"):
        filters.sosfiltfilt(designs[0], np.zeros((2, 20), dtype=dtype))


def _fft_filter_checking_every_row(x, gains, n_fft, clip):
    """fft_filter before it skipped rows that cannot clip: every row's inverse FFT checked."""
    import torch

    spec = torch.fft.rfft(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), n=n_fft)
    gain = torch.from_numpy(gains[0])
    y = torch.fft.irfft(spec * gain, n=n_fft)
    low, high = torch.aminmax(y)
    if max(-float(low), float(high)) > clip:
        spec, gain = torch.fft.rfft(y.clamp(-clip, clip), n=n_fft), 1.0
    gain = gain * torch.from_numpy(gains[1])
    return torch.fft.irfft(spec * gain, n=n_fft)[..., : x.shape[-1]].numpy()


@pytest.mark.parametrize("big_uv", [0.0, 450.0, 3000.0])
def test_fft_filter_checks_for_clipping_only_the_rows_that_can_clip(big_uv):
    """A row whose max |x| times the response's sum |h| stays below the clip level is not
    inverse-transformed to look for clipping: the output is bit for bit the one of checking
    every row, with no row that might clip (small), one that might but does not (450 µV), and
    one that clips (3000 µV)."""
    n_fft = 6000
    gains = filters.zero_phase_gains(n_fft, FS, (0.5, 20.0), 4, None, 5)
    x = np.random.default_rng(3).normal(0, 20, (2, 4, 5000)).astype(np.float32)
    x[1, 2] += big_uv * np.sin(np.arange(5000) * 2 * np.pi * 3 / FS).astype(np.float32)
    np.testing.assert_array_equal(filters.fft_filter(x, list(gains), n_fft, clip_between=1024.0),
                                  _fft_filter_checking_every_row(x, gains, n_fft, 1024.0))  # fmt: skip
    rows = filters._may_exceed(x, gains[0], n_fft, 1024.0)
    assert rows.tolist() == [False] * 6 + [big_uv > 0] + [False]


@pytest.mark.parametrize("ds", [2, 3, 4, 5])
def test_fft_filter_decimates_on_the_folded_spectrum(ds):
    """Every ds-th sample from the folded spectrum's short inverse FFT equals every ds-th sample
    of the full-length result to float32 rounding (even and odd factors, any leading dims)."""
    n_fft = ds * 4000  # >= the 7000 samples
    gains = list(filters.zero_phase_gains(n_fft, FS, (0.5, 20.0), 4, None, ds))
    x = np.random.default_rng(ds).normal(0, 50, (2, 3, 7000)).astype(np.float32)
    full = filters.fft_filter(x, gains, n_fft, clip_between=1024.0)
    got = filters.fft_filter(x, gains, n_fft, clip_between=1024.0, decimate=ds)
    assert got.shape == (2, 3, -(-7000 // ds))
    np.testing.assert_allclose(got, full[..., ::ds], atol=1e-4 * np.abs(full).max())
    with pytest.raises(ValueError, match="multiple of decimate"):
        filters.fft_filter(x, gains, n_fft + 1, decimate=ds)
