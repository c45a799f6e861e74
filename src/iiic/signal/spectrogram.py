"""Spectrograms of EEG: mel/STFT as torch modules, multitaper (scipy dpss), Kaggle spectrogram features.

``MelSpectrogram`` and ``StftSpectrogram`` are ``nn.Module``s so a model can compute its image input
on the GPU. Two interchangeable STFT implementations:

- ``stft_impl="torch"``: ``torch.stft(return_complex=True)`` (fastest on CPU and GPU);
- ``stft_impl="conv"``: the same short-time Fourier transform as a strided ``conv1d`` with fixed
  windowed cos/sin kernels, restricted to the frequency bins the output uses. It exports to ONNX
  (``torch.stft`` with complex output does not export with the TorchScript exporter) and agrees
  with ``"torch"`` to float32 rounding.

Both run in float32 with autocast disabled (power overflows float16), so they are safe inside a
mixed-precision model. Both centre frames with reflect padding of ``n_fft // 2`` samples (``torch.stft``'s ``center=True``),
so ``n_frames = 1 + n_times // hop_length``.

Mel scale: HTK, ``mel(f) = 2595 * log10(1 + f / 700)``. The filterbank is triangular with peak 1
(no area normalisation, like ``torchaudio.functional.melscale_fbanks(norm=None, mel_scale="htk")``),
except that each triangle is widened to reach at least one FFT bin spacing on each side of its
centre, so no filter is empty when ``n_mels`` exceeds the FFT bins between ``fmin_hz`` and
``fmax_hz`` (the usual case for 0.5-20 Hz EEG).
"""

from __future__ import annotations

import logging
import math
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from scipy.signal import windows as sps_windows
from torch import nn

from iiic import constants
from iiic.utils import bad_value, check_option

logger = logging.getLogger(__name__)

LOG_EPS = 1e-10
"""Added to power before log10 (power unit: (input unit)²)."""
AMIN_DB = 1e-10
"""Smallest power before conversion to dB."""
KAGGLE_SPEC_FLOOR = 1e-4
"""Kaggle spectrogram power is clipped below at this before the log."""
KAGGLE_SPEC_CLIP = 6.0
"""Normalised Kaggle log-spectrogram values are clipped to ±this many standard deviations."""
NORM_EPS = 1e-6
"""Added to the standard deviation when normalising."""

StftImpl = Literal["torch", "conv"]


def hz_to_mel(f_hz: np.ndarray | float) -> np.ndarray:
    """HTK mel scale: ``2595 * log10(1 + f / 700)``."""
    return 2595.0 * np.log10(1.0 + np.asarray(f_hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`, Hz."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(
    *, n_freqs: int, sfreq_hz: float, n_mels: int, fmin_hz: float, fmax_hz: float
) -> tuple[np.ndarray, np.ndarray]:
    """Triangular HTK mel filterbank over the one-sided FFT bins.

    Parameters
    ----------
    n_freqs : int
        One-sided FFT bins, ``n_fft // 2 + 1``; bin ``k`` is at ``k * sfreq_hz / n_fft`` Hz.
    sfreq_hz, fmin_hz, fmax_hz : float
        Sampling rate and the band the ``n_mels`` filters cover (edges of the first and last), Hz.
    n_mels : int
        Number of filters.

    Returns
    -------
    fbank : ndarray, shape (n_mels, n_freqs), float32
        Peak-1 triangles, widened to at least one bin spacing per side (see module docstring).
    centers_hz : ndarray, shape (n_mels,), float64
        Centre frequency of each filter, Hz.
    """
    n_fft = 2 * (n_freqs - 1)
    bin_hz = sfreq_hz / n_fft
    freqs = np.arange(n_freqs) * bin_hz
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin_hz), hz_to_mel(fmax_hz), n_mels + 2))
    centers = edges[1:-1]
    lower = centers - np.maximum(centers - edges[:-2], bin_hz)  # (n_mels,)
    upper = centers + np.maximum(edges[2:] - centers, bin_hz)
    rising = (freqs[None, :] - lower[:, None]) / (centers - lower)[:, None]
    falling = (upper[:, None] - freqs[None, :]) / (upper - centers)[:, None]
    fbank = np.clip(np.minimum(rising, falling), 0.0, None)
    return fbank.astype(np.float32), centers


def _check_params(sfreq_hz: float, n_fft: int, hop_length: int, fmin_hz: float, fmax_hz: float):
    if sfreq_hz <= 0:
        raise ValueError(bad_value("sfreq_hz", "> 0 Hz", sfreq_hz))
    if n_fft < 2 or hop_length < 1:
        raise ValueError(bad_value("n_fft, hop_length", ">= 2 and >= 1", f"{n_fft}, {hop_length}"))
    if not 0.0 <= fmin_hz < fmax_hz <= sfreq_hz / 2.0:
        raise ValueError(
            bad_value(
                "fmin_hz, fmax_hz",
                f"0 <= fmin_hz < fmax_hz <= Nyquist ({sfreq_hz / 2:g} Hz)",
                f"{fmin_hz}, {fmax_hz}",
            )
        )


class _Stft(nn.Module):
    """Power spectrogram of the one-sided bins ``bins`` (shared by the mel and linear modules)."""

    def __init__(
        self,
        *,
        sfreq_hz: float,
        n_fft: int,
        hop_length: int | None,
        win_length: int | None,
        power: float,
        stft_impl: StftImpl,
        bins: np.ndarray,
    ) -> None:
        super().__init__()
        check_option("stft_impl", stft_impl, ("torch", "conv"))
        if power not in (1.0, 2.0):
            raise ValueError(bad_value("power", "1.0 (magnitude) or 2.0 (power)", power))
        self.sfreq_hz = float(sfreq_hz)
        self.n_fft = int(n_fft)
        self.hop_length = int(hop_length or n_fft // 4)
        self.win_length = int(win_length or n_fft)
        if not 1 <= self.win_length <= self.n_fft:
            raise ValueError(bad_value("win_length", f"1..n_fft ({n_fft})", win_length))
        self.power = float(power)
        self.stft_impl = stft_impl
        self.bin_lo, self.bin_hi = int(bins.min()), int(bins.max()) + 1
        window = torch.hann_window(self.win_length, periodic=True, dtype=torch.float64)
        pad_left = (self.n_fft - self.win_length) // 2
        window = F.pad(window, (pad_left, self.n_fft - self.win_length - pad_left))
        self.register_buffer("window", window.float(), persistent=False)
        if stft_impl == "conv":
            self.register_buffer("kernel", self._dft_kernel(window), persistent=False)

    def _dft_kernel(self, window: torch.Tensor) -> torch.Tensor:
        k = torch.arange(self.bin_lo, self.bin_hi, dtype=torch.float64)[:, None]
        n = torch.arange(self.n_fft, dtype=torch.float64)[None, :]
        phase = 2.0 * math.pi * k * n / self.n_fft  # (n_bins, n_fft)
        kernel = torch.cat([torch.cos(phase) * window, -torch.sin(phase) * window])
        return kernel[:, None, :].float()  # (2 * n_bins, 1, n_fft)

    def use_conv(self) -> None:
        """Switch to the ``conv`` implementation (same output; exportable to ONNX)."""
        if self.stft_impl != "conv":
            self.register_buffer("kernel", self._dft_kernel(self.window.double()), persistent=False)
            self.kernel = self.kernel.to(self.window.device)
            self.stft_impl = "conv"

    def n_frames(self, n_times: int) -> int:
        """Frames of an ``n_times``-sample input (centred frames)."""
        return 1 + n_times // self.hop_length

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) float → power (B, C, n_bins, n_frames) float32, bins ``bin_lo..bin_hi-1``."""
        if x.ndim != 3:
            raise ValueError(bad_value("x", "shape (batch, channels, n_times)", tuple(x.shape)))
        b, c, t = x.shape
        x = x.float().reshape(b * c, 1, t)  # (B*C, 1, T); float32 also under autocast
        x = F.pad(x, (self.n_fft // 2, self.n_fft // 2), mode="reflect")
        if self.stft_impl == "conv":
            z = F.conv1d(x, self.kernel, stride=self.hop_length)  # (B*C, 2*n_bins, F)
            re, im = z.chunk(2, dim=1)
            spec = re.square() + im.square()
        else:
            z = torch.stft(
                x[:, 0], self.n_fft, self.hop_length, window=self.window, center=False,
                return_complex=True,
            )  # fmt: skip
            z = z[:, self.bin_lo : self.bin_hi]  # (B*C, n_bins, F)
            spec = z.real.square() + z.imag.square()
        if self.power == 1.0:
            spec = spec.sqrt()
        return spec.reshape(b, c, spec.shape[-2], spec.shape[-1])


def use_conv_stft(model: nn.Module) -> int:
    """Switch every STFT inside ``model`` to ``stft_impl="conv"`` (before ONNX export); returns
    how many were switched. The weights are unchanged: the DFT kernel is a fixed buffer."""
    switched = [m for m in model.modules() if isinstance(m, _Stft) and m.stft_impl != "conv"]
    for m in switched:
        m.use_conv()
    return len(switched)


def _scale(spec: torch.Tensor, log: bool, top_db: float | None) -> torch.Tensor:
    if top_db is not None:
        db = 10.0 * torch.log10(spec.clamp_min(AMIN_DB))
        peak = db.amax(dim=(-2, -1), keepdim=True)
        return torch.maximum(db, peak - top_db)
    if log:
        return torch.log10(spec + LOG_EPS)
    return spec


class MelSpectrogram(nn.Module):
    """Log mel spectrogram of multichannel EEG, batched, on any device.

    Parameters
    ----------
    sfreq_hz : float
        Sampling rate of the input, Hz.
    n_fft : int
        FFT length, samples (frequency resolution ``sfreq_hz / n_fft`` Hz).
    hop_length : int, optional
        Samples between frames; default ``n_fft // 4``.
    n_mels : int
        Mel filters between ``fmin_hz`` and ``fmax_hz``.
    fmin_hz, fmax_hz : float
        Band covered by the filterbank, Hz.
    win_length : int, optional
        Hann window length (<= n_fft, zero-padded to n_fft in the centre); default ``n_fft``.
    power : float
        2.0 for power, 1.0 for magnitude.
    log : bool
        Return ``log10(power + 1e-10)`` (else linear power) when ``top_db`` is None.
    top_db : float, optional
        Return decibels ``10 log10(max(power, 1e-10))`` floored at ``peak - top_db`` per (item,
        channel) instead.
    stft_impl : {"torch", "conv"}
        ``"conv"`` exports to ONNX (see module docstring).

    Shapes
    ------
    forward: (B, C, T) float (µV or scaled µV) → (B, C, n_mels, 1 + T // hop_length) float32,
    mel bins from low to high frequency (``centers_hz``).
    """

    def __init__(
        self,
        *,
        sfreq_hz: float = constants.SFREQ_HZ,
        n_fft: int = 256,
        hop_length: int | None = None,
        n_mels: int = 64,
        fmin_hz: float = 0.5,
        fmax_hz: float = 20.0,
        win_length: int | None = None,
        power: float = 2.0,
        log: bool = True,
        top_db: float | None = None,
        stft_impl: StftImpl = "torch",
    ) -> None:
        super().__init__()
        _check_params(sfreq_hz, n_fft, hop_length or n_fft // 4, fmin_hz, fmax_hz)
        if n_mels < 1:
            raise ValueError(bad_value("n_mels", ">= 1", n_mels))
        fbank, centers = mel_filterbank(
            n_freqs=n_fft // 2 + 1,
            sfreq_hz=sfreq_hz,
            n_mels=n_mels,
            fmin_hz=fmin_hz,
            fmax_hz=fmax_hz,
        )
        bins = np.flatnonzero(fbank.any(axis=0))
        self.stft = _Stft(
            sfreq_hz=sfreq_hz, n_fft=n_fft, hop_length=hop_length, win_length=win_length,
            power=power, stft_impl=stft_impl, bins=bins,
        )  # fmt: skip
        fbank = fbank[:, self.stft.bin_lo : self.stft.bin_hi]
        self.register_buffer("fbank", torch.from_numpy(fbank), persistent=False)
        self.centers_hz = tuple(float(c) for c in centers)
        self.n_mels, self.log, self.top_db = int(n_mels), bool(log), top_db

    def n_frames(self, n_times: int) -> int:
        """Frames of an ``n_times``-sample input."""
        return self.stft.n_frames(n_times)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) → (B, C, n_mels, n_frames) float32 (see class docstring for the scale)."""
        with torch.autocast(device_type=x.device.type, enabled=False):  # fp16 power overflows
            spec = self.stft(x)  # (B, C, n_bins, F)
            mel = torch.matmul(self.fbank, spec)  # (n_mels, n_bins) @ (B, C, n_bins, F)
            return _scale(mel, self.log, self.top_db)


class StftSpectrogram(nn.Module):
    """Log power spectrogram on the linear FFT grid, cropped to ``fmin_hz..fmax_hz``.

    Same parameters as :class:`MelSpectrogram` without ``n_mels``; ``freqs_hz`` lists the kept
    bins. forward: (B, C, T) → (B, C, n_freqs, 1 + T // hop_length) float32, low to high frequency.
    """

    def __init__(
        self,
        *,
        sfreq_hz: float = constants.SFREQ_HZ,
        n_fft: int = 256,
        hop_length: int | None = None,
        fmin_hz: float = 0.5,
        fmax_hz: float = 20.0,
        win_length: int | None = None,
        power: float = 2.0,
        log: bool = True,
        top_db: float | None = None,
        stft_impl: StftImpl = "torch",
    ) -> None:
        super().__init__()
        _check_params(sfreq_hz, n_fft, hop_length or n_fft // 4, fmin_hz, fmax_hz)
        freqs = np.arange(n_fft // 2 + 1) * sfreq_hz / n_fft
        bins = np.flatnonzero((freqs >= fmin_hz) & (freqs <= fmax_hz))
        if bins.size == 0:
            raise ValueError(
                f"fmin_hz, fmax_hz: no FFT bin ({sfreq_hz / n_fft:g} Hz spacing) lies in "
                f"[{fmin_hz}, {fmax_hz}] Hz; increase n_fft"
            )
        self.stft = _Stft(
            sfreq_hz=sfreq_hz, n_fft=n_fft, hop_length=hop_length, win_length=win_length,
            power=power, stft_impl=stft_impl, bins=bins,
        )  # fmt: skip
        self.freqs_hz = tuple(float(f) for f in freqs[bins])
        self.log, self.top_db = bool(log), top_db

    def n_frames(self, n_times: int) -> int:
        """Frames of an ``n_times``-sample input."""
        return self.stft.n_frames(n_times)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) → (B, C, n_freqs, n_frames) float32."""
        with torch.autocast(device_type=x.device.type, enabled=False):  # fp16 power overflows
            return _scale(self.stft(x), self.log, self.top_db)


def multitaper_spectrogram(
    x: np.ndarray,
    sfreq_hz: float,
    *,
    window_s: float = 4.0,
    step_s: float = 2.0,
    nw: float = 2.0,
    fmin_hz: float = 0.5,
    fmax_hz: float = 20.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Multitaper power spectral density over sliding windows (DPSS tapers from scipy).

    Uses ``K = 2 * nw - 1`` Slepian tapers (time-half-bandwidth ``nw``; frequency smoothing
    ± ``nw / window_s`` Hz), averages their periodograms with equal weights, one-sided.

    Parameters
    ----------
    x : ndarray, shape (..., n_times)
        Signal, µV.
    sfreq_hz : float
        Sampling rate, Hz.
    window_s, step_s : float
        Window length and step, s.
    nw : float
        Time-half-bandwidth product (>= 1).
    fmin_hz, fmax_hz : float
        Frequencies kept, Hz (inclusive).

    Returns
    -------
    freqs_hz : ndarray, shape (n_freqs,)
    times_s : ndarray, shape (n_frames,)
        Window centres, s from the first sample.
    psd : ndarray, shape (..., n_freqs, n_frames), float32
        Power spectral density, µV²/Hz.
    """
    x = np.asarray(x, dtype=np.float64)
    n_win, n_step = round(window_s * sfreq_hz), round(step_s * sfreq_hz)
    if x.ndim < 1 or n_win < 2 or n_step < 1 or x.shape[-1] < n_win:
        raise ValueError(
            bad_value(
                "x, window_s, step_s",
                f"n_times >= window ({n_win} samples) and step >= 1 sample",
                f"n_times={x.shape[-1] if x.ndim else 0}, window_s={window_s}, step_s={step_s}",
            )
        )
    if nw < 1:
        raise ValueError(bad_value("nw", ">= 1", nw))
    n_tapers = max(1, int(2 * nw) - 1)
    tapers = sps_windows.dpss(n_win, nw, Kmax=n_tapers)  # (K, n_win), unit energy
    frames = np.lib.stride_tricks.sliding_window_view(x, n_win, axis=-1)[..., ::n_step, :]
    spectra = np.fft.rfft(frames[..., None, :] * tapers, axis=-1)  # (..., F, K, n_freqs_all)
    psd = np.mean(np.abs(spectra) ** 2, axis=-2) / sfreq_hz  # (..., F, n_freqs_all)
    psd[..., 1:] *= 2.0  # one-sided (the Nyquist bin is doubled too: immaterial below fmax_hz)
    freqs = np.fft.rfftfreq(n_win, d=1.0 / sfreq_hz)
    keep = (freqs >= fmin_hz) & (freqs <= fmax_hz)
    times = (np.arange(frames.shape[-2]) * n_step + n_win / 2.0) / sfreq_hz
    return freqs[keep], times, np.swapaxes(psd[..., keep], -1, -2).astype(np.float32)


def kaggle_spec_features(spec: np.ndarray, clip_sd: float = KAGGLE_SPEC_CLIP) -> np.ndarray:
    """Kaggle spectrogram window → normalised log image per chain.

    Transform, per chain (LL, RL, LP, RP) of each window:
    ``z = log(clip(power, 1e-4, None))``; ``z = (z - mean) / (std + 1e-6)`` with the mean and
    standard deviation over that chain's finite frequency×time values; ``z = clip(z, -clip_sd,
    clip_sd)``; NaN (missing rows) → 0, i.e. the chain's mean. A chain with no finite value is all 0.

    Parameters
    ----------
    spec : ndarray, shape (..., n_rows, 4, 100)
        Power as read from the parquet (rows = 2-s time steps, ``constants.SPEC_CHAINS``,
        ``constants.SPEC_FREQS_HZ``); NaN rows allowed.
    clip_sd : float
        Clip level of the normalised values, standard deviations.

    Returns
    -------
    ndarray, shape (..., 4, 100, n_rows), float32
        Chain, frequency (low to high), time — the ``spec`` input of the models.
    """
    spec = np.asarray(spec, dtype=np.float32)
    n_chains, n_freqs = len(constants.SPEC_CHAINS), len(constants.SPEC_FREQS_HZ)
    if spec.ndim < 3 or spec.shape[-2:] != (n_chains, n_freqs):
        raise ValueError(
            bad_value("spec", f"shape (..., n_rows, {n_chains}, {n_freqs})", spec.shape)
        )
    z = np.log(np.clip(spec, KAGGLE_SPEC_FLOOR, None))  # NaN stays NaN
    z = np.moveaxis(z, -3, -1)  # (..., 4, 100, n_rows)
    finite = np.isfinite(z)
    count = finite.sum(axis=(-2, -1), keepdims=True)
    zf = np.where(finite, z, 0.0)
    mean = zf.sum(axis=(-2, -1), keepdims=True) / np.maximum(count, 1)
    var = (np.where(finite, z - mean, 0.0) ** 2).sum(axis=(-2, -1), keepdims=True)
    std = np.sqrt(var / np.maximum(count, 1))
    out = np.clip((z - mean) / (std + NORM_EPS), -clip_sd, clip_sd)
    return np.ascontiguousarray(np.where(finite, out, 0.0), dtype=np.float32)
