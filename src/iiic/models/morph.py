"""``morph``: the ACNS morphology of a window, measured, then a small MLP → logits.

The IIIC classes are defined by a handful of properties (ACNS 2021): periodic discharges recur
at 0.5-3 Hz with a discernible interval, rhythmic delta repeats without one, lateralized
patterns are clearly larger on one side, generalized ones are bilateral and synchronous,
seizures are rhythmic (> 2.5 Hz) or evolve. This model measures those properties with fixed,
parameter-free operations and learns only how to weigh them, so it needs few examples and
leans on what defines the classes rather than on how one data source draws them (the synthetic
twin). Every feature is scale-free (ratios, correlations, rates).

Per window (B, C, T) of bipolar chains (the 16 double-banana chains first, in
``constants.BIPOLAR_PAIRS`` order; midline/EKG channels after them are ignored):

- spectrum (Welch, 6.4-s Hann segments, 50 % overlap): relative power in five bands (0.5-2,
  2-4, 4-8, 8-13, 13-20 Hz), median and max over channels; the delta peak over the delta mean
  (rhythmicity), median and max; the dominant frequency (1-12 Hz) of the mean spectrum;
- lateralization: log10 power ratio of the 8 homologous chain pairs (Fp1-F7/Fp2-F8, …) in total
  and delta power: max |.|, |mean| and the sign consistency; the correlation of homologous
  channels (synchrony); the share of channels above half the largest power (field extent);
  the anterior/posterior power ratio;
- periodicity: autocorrelation peak (height and lag as a rate, Hz; lags 0.3-2.5 s) of the
  discharge envelope (|first difference|, 10 Hz) summed over all chains, each hemisphere and
  per channel (max, median); of the raw signal per channel (rhythm);
- sharpness: kurtosis of the first difference and the 99.5th percentile over the median of
  |x| per channel (median and max);
- evolution: |log| ratio of the amplitude in the last vs the first 20 s (a third of the window
  when it is shorter than 40 s: a 10-s window, ``crop_s: 10``, compares its first and last 3.3 s);
- field: log ratio of the median to the largest channel power.

No feature depends on the recording's absolute amplitude (a reader adjusts the gain; real
amplitudes vary between patients, amplifiers and the twin): the model sees shape and relative
size only.

The features pass a BatchNorm (a learned standardisation) and a two-layer MLP.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import Field
from torch import nn
from torch.nn import functional as F

from iiic.models.base import IIICModel, ModelOptions
from iiic.models.chain1d import LEFT, N_CHAIN_CHANNELS, RIGHT, require_chains
from iiic.models.registry import register_model
from iiic.utils import bad_value

BANDS_HZ = ((0.5, 2.0), (2.0, 4.0), (4.0, 8.0), (8.0, 13.0), (13.0, 20.0))
WELCH_S = 6.4
"""Welch segment length, s."""
ENVELOPE_HZ = 10.0
"""Rate of the discharge envelope, Hz."""
LAGS_S = (0.3, 2.5)
"""Lags searched for a periodicity peak, s."""
RHYTHM_HZ = 20.0
"""Rate of the raw signal for the rhythm autocorrelation, Hz."""
EVOLUTION_S = 20.0
"""Length of the first and last part compared by the evolution feature, s (windows >= 40 s)."""
MIN_WINDOW_S = 8.0
"""Shortest window the features are defined on, s (a Welch segment and the longest lag fit)."""


class MorphOptions(ModelOptions):
    """Options of :class:`Morph`."""

    hidden: int = Field(64, ge=1)
    drop_rate: float = Field(0.2, ge=0.0, lt=1.0)
    feature_noise: float = Field(
        0.0,
        ge=0.0,
        description="sd of Gaussian noise added to the "
        "standardised features while training (feature-space domain "
        "randomisation; none at inference)",
    )


def _dft(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Hann-windowed real DFT matrices (n, n // 2 + 1): cos and sin parts."""
    t = np.arange(n)[:, None]
    k = np.arange(n // 2 + 1)[None, :]
    win = np.hanning(n)[:, None]
    arg = 2 * np.pi * t * k / n
    return (torch.tensor(win * np.cos(arg), dtype=torch.float32),
            torch.tensor(win * np.sin(arg), dtype=torch.float32))  # fmt: skip


def _kth_largest(x: torch.Tensor, k: int, dim: int = -1) -> torch.Tensor:
    """The ``k``-th largest value along ``dim``. ``k = n // 2 + 1`` gives the (upper) median of
    ``n`` values. ``topk`` for small ``k`` and in an ONNX export (which has no ``kthvalue``,
    ``quantile`` or ``median``); ``kthvalue`` for a median (the same value, twice as fast)."""
    if torch.onnx.is_in_onnx_export() or 8 * k < x.shape[dim]:
        return x.topk(k, dim=dim).values.select(dim, k - 1)
    return x.kthvalue(x.shape[dim] - k + 1, dim=dim).values


def _median(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Upper median along ``dim`` (a static size: channels)."""
    return _kth_largest(x, int(x.shape[dim]) // 2 + 1, dim)


def _kurtosis(x: torch.Tensor) -> torch.Tensor:
    """Excess kurtosis along the last axis."""
    d = x - x.mean(dim=-1, keepdim=True)
    var = (d * d).mean(dim=-1)
    return (d**4).mean(dim=-1) / (var * var + 1e-12) - 3.0


def _acf_peak(s: torch.Tensor, lo: int, hi: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Highest local maximum of the autocorrelation of ``s`` (..., T) at lags lo..hi samples:
    (height, lag in samples); height 0 and lag ``hi`` where there is none."""
    s = s - s.mean(dim=-1, keepdim=True)
    n = s.shape[-1] - hi - 1
    ref = s[..., :n]
    denom = (ref * ref).sum(dim=-1) + 1e-12
    acf = (
        torch.stack(
            [(ref * s[..., lag : lag + n]).sum(dim=-1) for lag in range(lo - 1, hi + 2)], dim=-1
        )
        / denom[..., None]
    )  # fmt: skip  (..., hi - lo + 3)
    mid = acf[..., 1:-1]
    is_peak = (mid > acf[..., :-2]) & (mid >= acf[..., 2:])
    scored = torch.where(is_peak, mid, torch.full_like(mid, -1.0))
    height, idx = scored.max(dim=-1)
    lag = (idx + lo).to(s.dtype)
    found = height > -1.0
    return torch.where(found, height, torch.zeros_like(height)), torch.where(
        found, lag, torch.full_like(lag, float(hi))
    )


class MorphologyFeatures(nn.Module):
    """(B, C, T) bipolar EEG at ``sfreq_hz`` → (B, len(FEATURE_NAMES)) (module docstring)."""

    def __init__(self, n_times: int, sfreq_hz: float) -> None:
        super().__init__()
        self.sfreq = float(sfreq_hz)
        self.nperseg = min(n_times, 2 ** round(math.log2(WELCH_S * sfreq_hz)))
        cos, sin = _dft(self.nperseg)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        freqs = np.arange(self.nperseg // 2 + 1) * sfreq_hz / self.nperseg
        masks = [(freqs >= lo) & (freqs < hi) for lo, hi in BANDS_HZ]  # empty above Nyquist
        self.register_buffer(
            "bands", torch.tensor(np.stack(masks), dtype=torch.float32).T, persistent=False
        )  # fmt: skip  (F, 5)
        self.register_buffer("freqs", torch.tensor(freqs, dtype=torch.float32), persistent=False)
        self.delta = torch.tensor((freqs >= 0.5) & (freqs <= 4.0)).nonzero().ravel().tolist()
        self.dom = torch.tensor((freqs >= 1.0) & (freqs <= 12.0)).nonzero().ravel().tolist()
        self.env_pool = max(1, round(sfreq_hz / ENVELOPE_HZ))
        self.raw_pool = max(1, round(sfreq_hz / RHYTHM_HZ))
        duration_s = n_times / sfreq_hz
        evo_s = EVOLUTION_S if duration_s >= 2 * EVOLUTION_S else duration_s / 3
        self.evo = round(evo_s * sfreq_hz)
        hop = self.nperseg // 2
        self.starts = list(range(0, n_times - self.nperseg + 1, hop))
        self.k_median = n_times // 2 + 1  # of |x| over time
        self.k_peak = max(1, round(0.005 * n_times))  # its 99.5th percentile
        self.register_buffer("left", torch.tensor(LEFT), persistent=False)
        self.register_buffer("right", torch.tensor(RIGHT), persistent=False)

    def _psd(self, x: torch.Tensor) -> torch.Tensor:
        frames = torch.stack(
            [x[..., s : s + self.nperseg] for s in self.starts], dim=2
        )  # (B,C,S,N)
        re, im = frames @ self.cos, frames @ self.sin
        return (re * re + im * im).mean(dim=2)  # (B, C, F)

    def _acf(self, s: torch.Tensor, rate_hz: float) -> tuple[torch.Tensor, torch.Tensor]:
        lo, hi = (round(v * rate_hz) for v in LAGS_S)
        height, lag = _acf_peak(s, lo, hi)
        return height, rate_hz / lag  # rate, Hz

    def named(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The features by name, each (B,) (:data:`FEATURE_NAMES` order)."""
        x = x[:, :N_CHAIN_CHANNELS]
        x = x - x.mean(dim=-1, keepdim=True)
        psd = self._psd(x)  # (B, 16, F)
        band = psd @ self.bands  # (B, 16, 5) power per band
        total = band.sum(dim=-1) + 1e-12  # (B, 16)
        diff = x[..., 1:] - x[..., :-1]
        return (self._spectral(psd, band, total) | self._lateral(x, band, total)
                | self._periodic(x, diff) | self._shape(x, diff))  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.stack(list(self.named(x).values()), dim=1)  # (B, N_FEATURES)
        return torch.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)

    def _spectral(self, psd, band, total) -> dict[str, torch.Tensor]:
        rel = band / total[..., None]
        delta = psd[..., self.delta]
        prominence = delta.amax(dim=-1) / (delta.mean(dim=-1) + 1e-12)
        dominant = self.freqs[self.dom][psd.mean(dim=1)[..., self.dom].argmax(dim=-1)]
        out = {f"band{i}_share_median": _median(rel[..., i], 1) for i in range(len(BANDS_HZ))}
        out |= {f"band{i}_share_max": rel[..., i].amax(dim=1) for i in range(len(BANDS_HZ))}
        return out | {"delta_peak_median": _median(prominence, 1),
                      "delta_peak_max": prominence.amax(dim=1), "dominant_hz": dominant}  # fmt: skip

    def _lateral(self, x, band, total) -> dict[str, torch.Tensor]:
        li = torch.log10(total[:, self.left] / total[:, self.right])  # (B, 8 pairs)
        delta = band[..., :2].sum(dim=-1) + 1e-12
        li_delta = torch.log10(delta[:, self.left] / delta[:, self.right])
        xl, xr = x[:, self.left], x[:, self.right]
        norm = ((xl * xl).sum(-1) * (xr * xr).sum(-1) + 1e-12).sqrt()
        front = total[:, [0, 4, 8, 12]].sum(dim=1)  # Fp1-F7, Fp2-F8, Fp1-F3, Fp2-F4
        back = total[:, [3, 7, 11, 15]].sum(dim=1)  # T5-O1, T6-O2, P3-O1, P4-O2
        return {
            "lateral_max": li.abs().amax(dim=1), "lateral_mean": li.mean(dim=1).abs(),
            "lateral_consistency": torch.sign(li).mean(dim=1).abs(),
            "lateral_delta_mean": li_delta.mean(dim=1).abs(),
            "lateral_delta_max": li_delta.abs().amax(dim=1),
            "homologous_correlation": ((xl * xr).sum(-1) / norm).mean(dim=1),
            "field_extent": (total > 0.5 * total.amax(dim=1, keepdim=True)).float().mean(dim=1),
            "front_back": torch.log10(front / (back + 1e-12)),
            "field_median_vs_max": torch.log(_median(total, 1)) - torch.log(total.amax(dim=1)),
        }  # fmt: skip

    def _periodic(self, x, diff) -> dict[str, torch.Tensor]:
        env = F.avg_pool1d(diff.abs(), self.env_pool)  # (B, 16, T') discharge envelope
        h_all, rate = self._acf(env.sum(dim=1), ENVELOPE_HZ)
        h_l, _ = self._acf(env[:, self.left].sum(dim=1), ENVELOPE_HZ)
        h_r, _ = self._acf(env[:, self.right].sum(dim=1), ENVELOPE_HZ)
        h_ch, _ = self._acf(env, ENVELOPE_HZ)  # (B, 16)
        rhythm, _ = self._acf(F.avg_pool1d(x, self.raw_pool), self.sfreq / self.raw_pool)
        return {
            "periodicity": h_all, "periodic_rate_hz": rate,
            "periodicity_hemisphere_max": torch.maximum(h_l, h_r),
            "periodicity_hemisphere_diff": (h_l - h_r).abs(),
            "periodicity_channel_max": h_ch.amax(dim=1),
            "periodicity_channel_median": _median(h_ch, 1),
            "rhythm_max": rhythm.amax(dim=1), "rhythm_median": _median(rhythm, 1),
        }  # fmt: skip

    def _shape(self, x, diff) -> dict[str, torch.Tensor]:
        kurt = _kurtosis(diff)  # (B, 16)
        mag = x.abs()
        peak = _kth_largest(mag, self.k_peak) / (_kth_largest(mag, self.k_median) + 1e-6)
        first = (x[..., : self.evo] ** 2).mean(dim=(1, 2))
        last = (x[..., -self.evo :] ** 2).mean(dim=(1, 2))
        return {
            "sharpness_median": _median(kurt, 1),
            "sharpness_max": torch.log1p(kurt.clamp_min(0).amax(dim=1)),
            "peak_to_median": _median(peak, 1), "peak_to_median_max": torch.log(peak.amax(dim=1)),
            "evolution_amplitude": torch.log(last / (first + 1e-12)).abs(),
        }  # fmt: skip


class FeatureNoise(nn.Module):
    """Adds N(0, sd²) to its input in training mode; the identity in eval mode (and in ONNX)."""

    def __init__(self, sd: float) -> None:
        super().__init__()
        self.sd = sd

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.sd * torch.randn_like(x) if self.training and self.sd > 0 else x


@register_model
class Morph(IIICModel):
    """Fixed ACNS morphology features → BatchNorm → MLP (see the module docstring)."""

    name = "morph"
    Options = MorphOptions
    tiny_options: ClassVar[dict[str, Any]] = {"hidden": 8}
    needs_eeg = True
    needs_spec = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        require_chains(self.name, self.n_chans)
        if self.n_times / self.sfreq_hz < MIN_WINDOW_S:
            raise ValueError(
                bad_value(
                    "morph",
                    f"windows of >= {MIN_WINDOW_S:g} s",
                    f"{self.n_times / self.sfreq_hz:g} s",
                )
            )
        self.features = MorphologyFeatures(self.n_times, self.sfreq_hz)
        n_features = len(FEATURE_NAMES)
        h = self.options.hidden
        self.mlp = nn.Sequential(
            nn.BatchNorm1d(n_features),
            nn.Linear(n_features, h),
            nn.SiLU(),
            nn.Dropout(self.options.drop_rate),
            nn.Linear(h, h),
            nn.SiLU(),
        )
        self.noise = FeatureNoise(self.options.feature_noise)
        self.num_features = h
        self.head = nn.Sequential(nn.Dropout(self.options.drop_rate), nn.Linear(h, self.n_outputs))

    def forward_features(
        self, eeg: torch.Tensor | None, spec: torch.Tensor | None = None
    ) -> torch.Tensor:
        self.check_inputs(eeg, spec)
        z = self.mlp[0](self.features(eeg))  # standardised features
        return self.mlp[1:](self.noise(z))


FEATURE_NAMES: tuple[str, ...] = tuple(
    MorphologyFeatures(2000, 40.0).named(torch.randn(2, N_CHAIN_CHANNELS, 2000)).keys()
)
"""Names of the features, in the order of :class:`MorphologyFeatures`' output."""
