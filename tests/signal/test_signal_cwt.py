"""Morlet CWT: FFT and conv forms agree, match a direct convolution, and find a sinusoid's frequency."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iiic.signal.cwt import CwtScalogram, morlet_bank, use_conv_cwt

SFREQ = 50.0
N_TIMES = 2500  # 50 s


def _sines(freqs_hz: tuple[float, ...], n: int = N_TIMES) -> torch.Tensor:
    t = np.arange(n) / SFREQ
    x = sum(np.sin(2 * np.pi * f * t) for f in freqs_hz)
    return torch.tensor(x, dtype=torch.float32)[None, None]  # (1, 1, T)


def test_fft_and_conv_forms_agree_and_match_a_direct_convolution() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 1203, generator=g) * 20  # odd length: frames = ceil(T / hop)
    m = CwtScalogram(sfreq_hz=SFREQ, n_freqs=12, fmin_hz=1.0, fmax_hz=20.0, hop_length=7)
    a = m(x)
    assert a.shape == (2, 3, 12, -(-1203 // 7)) and a.dtype == torch.float32
    assert use_conv_cwt(m) == 1 and m.impl == "conv"
    torch.testing.assert_close(m(x), a, atol=2e-3, rtol=0)
    # reference: numpy correlation of the reflect-padded signal with each wavelet
    psi, _ = morlet_bank(np.array(m.freqs_hz), SFREQ, 6.0)
    half = psi.shape[1] // 2
    xp = np.pad(x[1, 2].double().numpy(), half, mode="reflect")
    for f in (0, 5, 11):
        z = np.correlate(xp, np.conj(psi[f]), mode="valid")[::7]  # Σ_j psi[j] x[t + j]
        np.testing.assert_allclose(a[1, 2, f].numpy(), np.log10(np.abs(z) ** 2 + 1e-10), atol=2e-3)


@pytest.mark.parametrize("freq_hz", [2.0, 7.0, 15.0])
def test_a_sinusoid_peaks_at_its_frequency(freq_hz: float) -> None:
    m = CwtScalogram(sfreq_hz=SFREQ, n_freqs=40, fmin_hz=0.5, fmax_hz=20.0, hop_length=10)
    profile = m(_sines((freq_hz,)))[0, 0, :, 50:-50].mean(dim=1)  # away from the edges
    peak = m.freqs_hz[int(profile.argmax())]
    assert abs(np.log(peak / freq_hz)) < np.log(20 / 0.5) / 39  # within one log-spaced step


def test_bad_settings_name_the_parameter() -> None:
    with pytest.raises(ValueError, match="Nyquist"):
        CwtScalogram(sfreq_hz=SFREQ, fmax_hz=30.0)
    with pytest.raises(ValueError, match="impl"):
        CwtScalogram(sfreq_hz=SFREQ, impl="wavelets")  # type: ignore[arg-type]
    m = CwtScalogram(sfreq_hz=SFREQ, fmin_hz=0.5)
    with pytest.raises(ValueError, match="half support"):
        m(torch.zeros(1, 1, 100))
