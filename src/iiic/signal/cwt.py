"""Continuous wavelet transform (complex Morlet) of multichannel EEG as a torch module.

The time–frequency input of the 1st-place HMS solution (CWT / superlets). For each of
``n_freqs`` centre frequencies ``f`` log-spaced over ``fmin_hz..fmax_hz``, the wavelet is::

    psi_f(t) = exp(-t² / (2 σ_f²)) · exp(2πi f t),   σ_f = n_cycles / (2π f)  [s]

sampled at the input rate on one shared odd support of ``2·ceil(3 σ_max · sfreq_hz) + 1``
samples and scaled to unit L1 norm (so a sinusoid's response does not grow with the scale). The
output is ``log10(|x ⋆ psi_f|² + 1e-10)`` at every ``hop_length``-th sample (frames centred on
samples 0, hop, 2·hop, …; the input is reflect-padded by half the support).

Two interchangeable implementations (same values to float32 rounding):

- ``impl="fft"``: one FFT of each channel, a product with every wavelet's spectrum, the product
  folded to the frame rate (exact decimation) and short inverse FFTs (fast on CPU and GPU);
- ``impl="conv"``: a strided ``conv1d`` with the wavelets' real and imaginary parts as fixed
  kernels; exports to ONNX (``iiic export`` switches to it, see :func:`use_conv_cwt`).

Runs in float32 with autocast disabled (power overflows float16).
"""

from __future__ import annotations

import logging
import math
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from iiic.signal.spectrogram import LOG_EPS
from iiic.utils import bad_value, check_option

logger = logging.getLogger(__name__)

CwtImpl = Literal["fft", "conv"]
SUPPORT_SD = 3.0
"""Half-support of the wavelets in standard deviations of the widest Gaussian."""


def morlet_bank(
    freqs_hz: np.ndarray, sfreq_hz: float, n_cycles: float
) -> tuple[np.ndarray, np.ndarray]:
    """Complex Morlet wavelets, shape (n_freqs, L) complex128 (unit L1 norm), and times (L,) s."""
    sigma_s = n_cycles / (2 * np.pi * np.asarray(freqs_hz, dtype=np.float64))
    half = math.ceil(SUPPORT_SD * sigma_s.max() * sfreq_hz)
    t = np.arange(-half, half + 1) / sfreq_hz
    psi = np.exp(-(t**2) / (2 * sigma_s[:, None] ** 2)) * np.exp(2j * np.pi * freqs_hz[:, None] * t)
    return psi / np.abs(psi).sum(axis=1, keepdims=True), t


def _smooth(n: int) -> int:
    """The smallest 2·3·5-smooth integer >= n (fast FFT sizes)."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


class CwtScalogram(nn.Module):
    """Log-power Morlet scalogram of (B, C, T) EEG: (B, C, n_freqs, ceil(T / hop_length)).

    Parameters
    ----------
    sfreq_hz : float
        Sampling rate of the input, Hz.
    n_freqs : int
        Centre frequencies, log-spaced from ``fmin_hz`` to ``fmax_hz`` (``freqs_hz``; rows low to
        high frequency).
    fmin_hz, fmax_hz : float
        Band covered, Hz (0 < fmin_hz < fmax_hz <= Nyquist).
    n_cycles : float
        Cycles per wavelet (time vs frequency resolution; σ_t = n_cycles / (2π f) s).
    hop_length : int
        Samples between output frames.
    impl : {"fft", "conv"}
        See the module docstring.
    """

    def __init__(
        self, *, sfreq_hz: float, n_freqs: int = 32, fmin_hz: float = 0.5, fmax_hz: float = 20.0,
        n_cycles: float = 6.0, hop_length: int = 10, impl: CwtImpl = "fft",
    ) -> None:  # fmt: skip
        super().__init__()
        if not 0 < fmin_hz < fmax_hz <= sfreq_hz / 2:
            raise ValueError(
                bad_value(
                    "fmin_hz, fmax_hz",
                    f"0 < fmin_hz < fmax_hz <= Nyquist ({sfreq_hz / 2:g} Hz)",
                    f"{fmin_hz}, {fmax_hz}",
                )
            )
        if n_freqs < 1 or hop_length < 1 or not n_cycles > 0:
            raise ValueError(
                bad_value(
                    "n_freqs, hop_length, n_cycles",
                    ">= 1, >= 1, > 0",
                    f"{n_freqs}, {hop_length}, {n_cycles}",
                )
            )
        check_option("impl", impl, ("fft", "conv"))
        self.freqs_hz = tuple(float(f) for f in np.geomspace(fmin_hz, fmax_hz, n_freqs))
        psi, _ = morlet_bank(np.array(self.freqs_hz), sfreq_hz, n_cycles)
        self.support = psi.shape[1]  # samples, odd
        self.hop_length, self.impl = int(hop_length), impl
        psi_t = torch.from_numpy(psi)
        self.register_buffer("psi_re", psi_t.real.float(), persistent=False)  # (F, L)
        self.register_buffer("psi_im", psi_t.imag.float(), persistent=False)
        logger.debug("CWT: %d Morlet wavelets %.2f-%.2f Hz, %g cycles, support %d samples",
                     n_freqs, fmin_hz, fmax_hz, n_cycles, self.support)  # fmt: skip

    def use_conv(self) -> None:
        """Switch to the ``conv`` implementation (same output; exportable to ONNX)."""
        self.impl = "conv"

    def n_frames(self, n_times: int) -> int:
        """Frames of an ``n_times``-sample input."""
        return -(-n_times // self.hop_length)

    def _power(self, xp: torch.Tensor, t: int) -> torch.Tensor:
        """Padded (N, T + L - 1) → |x ⋆ psi|² (N, n_freqs, n_frames)."""
        if self.impl == "conv":
            kernel = torch.cat([self.psi_re, self.psi_im])[:, None, :]  # (2F, 1, L)
            z = F.conv1d(xp[:, None, :], kernel, stride=self.hop_length)  # (N, 2F, frames)
            re, im = z.chunk(2, dim=1)
            return re.square() + im.square()
        hop, lag = self.hop_length, self.support - 1
        n = hop * _smooth(-(-(xp.shape[-1] + lag) // hop))  # >= the linear convolution, hop | n
        psi = torch.complex(self.psi_re, self.psi_im).flip(-1)  # correlation = conv with flip
        k = torch.arange(n, device=xp.device, dtype=torch.float64)
        advance = torch.polar(torch.ones_like(k), 2 * math.pi * k * lag / n).to(psi.dtype)
        spec = torch.fft.fft(xp, n=n)[:, None, :] * (torch.fft.fft(psi, n=n) * advance)  # (N, F, n)
        # only every hop-th output sample is kept: fold the spectrum (exact decimation in time)
        folded = spec.reshape(*spec.shape[:2], hop, n // hop).sum(dim=2)  # (N, F, n / hop)
        z = torch.fft.ifft(folded)[..., : self.n_frames(t)]  # (N, F, frames), times hop
        return (z.real.square() + z.imag.square()) / hop**2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) float → (B, C, n_freqs, ceil(T / hop_length)) float32, log10 power."""
        if x.ndim != 3:
            raise ValueError(bad_value("x", "shape (batch, channels, n_times)", tuple(x.shape)))
        b, c, t = x.shape
        half = self.support // 2
        if half >= t:
            raise ValueError(f"x: {t} samples is shorter than the wavelets' half support ({half}); "
                             "raise fmin_hz or lower n_cycles")  # fmt: skip
        with torch.autocast(device_type=x.device.type, enabled=False):
            xp = F.pad(x.float().reshape(b * c, 1, t), (half, half), mode="reflect")[:, 0]
            power = self._power(xp, t)  # (B*C, F, frames)
            return torch.log10(power + LOG_EPS).reshape(b, c, power.shape[1], power.shape[2])


def use_conv_cwt(model: nn.Module) -> int:
    """Switch every CWT inside ``model`` to ``impl="conv"`` (before ONNX export); returns how many."""
    switched = [m for m in model.modules() if isinstance(m, CwtScalogram) and m.impl != "conv"]
    for m in switched:
        m.use_conv()
    return len(switched)
