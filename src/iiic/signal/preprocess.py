"""The single preprocessing path from referential EEG to model input.

``preprocess(x_ref, cfg)`` runs, in this order: optional central crop → NaN fill → bipolar
montage → zero-phase band-pass → optional notch → clip/scale → optional decimation. The zero-phase filters run as scipy's
forward-backward recursive filters (``filter_method="iir"``) or as the same ``|H(f)|²`` applied to
the window's spectrum (``"fft"``, see :mod:`iiic.signal.filters`). This is the one definition of
the steps and their order; every setting calls it:

- per window: the training loader (rows without model-ready inputs; cropping presets),
  ``iiic predict`` and ``iiic score`` (a Kaggle test file or an IIIC segment is one window) call
  :func:`preprocess` on each window;
- per recording: :func:`preprocess_recording` calls :func:`preprocess` on overlapping blocks of a
  whole recording and keeps each block's centre (``iiic prepare --preset`` per train EEG file,
  ``iiic analyze`` per recording: :mod:`iiic.clinical.scoring`). A recording no longer than one
  block is exactly one :func:`preprocess` call, so its ends are treated as a window's ends are.

All take the ``PreprocessConfig`` saved in a run's ``config.json``, so training and inference see
the same inputs. Adding a preprocessing step means editing :func:`preprocess` (and
``_filter_fft``, its frequency-domain branch) only.
"""

from __future__ import annotations

import functools
import logging
import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from iiic import constants
from iiic.signal import filters, montage
from iiic.utils import bad_value

logger = logging.getLogger(__name__)

BLOCK_S = 600.0
"""Length of one block of :func:`preprocess_recording`, s."""
PAD_S = 30.0
"""Signal added on each side of a block so the filters' edge effects stay outside it, s (the
slowest response, a 0.5 Hz high-pass edge, decays below 1e-5 of its peak within about 6 s)."""


class PreprocessConfig(BaseModel):
    """Settings of :func:`preprocess` (saved with every run; frozen and hashable).

    Attributes
    ----------
    central : bool
        Add the midline pairs Fz-Cz, Cz-Pz after the 16 double-banana chains.
    ekg : bool
        Add the EKG channel (unchanged) as the last channel.
    bandpass_hz : (low, high) or None
        Zero-phase Butterworth band edges, Hz; None skips the band-pass. Either edge may be None
        (high-pass / low-pass only).
    filter_order : int
        Butterworth order of one pass.
    notch_hz : float or None
        Line-noise notch frequency (50 or 60), Hz; None skips it. Must be below Nyquist.
    clip_uv : float or None
        Clip bipolar channels to ±clip_uv µV before scaling; None skips clipping.
    divide_by : float
        Divide by this after clipping (output unit µV / divide_by).
    downsample : int
        Integer decimation factor (1 = keep ``constants.SFREQ_HZ``).
    crop_s : float or None
        Keep only the central ``crop_s`` seconds of each referential window before anything else
        (10: the part the experts labelled, the input SPaRCNet reads); a window of exactly
        ``crop_s`` seconds (a 10-s IIIC segment) is taken whole. None reads the whole window.
    filter_method : {"iir", "fft"}
        How the zero-phase filters run: "iir", scipy's ``sosfiltfilt``/``filtfilt``/``decimate``
        on the window; "fft", the same ``|H(f)|²`` applied to the spectrum of the window extended
        by odd reflection over the filters' response length (:func:`iiic.signal.filters.fft_filter`):
        equal to "iir" to float32 rounding beyond about 5 s from the window's ends, different
        edge treatment within them, about 4x fewer operations.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    central: bool = True
    ekg: bool = False
    bandpass_hz: tuple[float | None, float | None] | None = (0.5, 20.0)
    filter_order: int = Field(4, ge=1, le=10)
    notch_hz: float | None = None
    clip_uv: float | None = 1024.0
    divide_by: float = Field(32.0, gt=0)
    downsample: int = Field(1, ge=1)
    filter_method: Literal["iir", "fft"] = "iir"
    crop_s: float | None = Field(None, gt=0, le=constants.EEG_WINDOW_S)

    @field_validator("clip_uv")
    @classmethod
    def _positive_clip(cls, v: float | None) -> float | None:
        if v is not None and v <= 0:
            raise ValueError(bad_value("clip_uv", "> 0 µV or None", v))
        return v

    @model_validator(mode="after")
    def _check_frequencies(self) -> PreprocessConfig:
        nyquist_hz = constants.SFREQ_HZ / 2.0
        if self.bandpass_hz is not None:
            low, high = self.bandpass_hz
            if low is None and high is None:
                raise ValueError("bandpass_hz: give at least one edge, or None to skip it")
            for f in (low, high):
                if f is not None and not 0.0 < f < nyquist_hz:
                    raise ValueError(
                        bad_value(
                            "bandpass_hz", f"edges in (0, {nyquist_hz:g}) Hz", self.bandpass_hz
                        )
                    )
            if low is not None and high is not None and low >= high:
                raise ValueError(bad_value("bandpass_hz", "low < high", self.bandpass_hz))
        if self.crop_s is not None:
            lead = constants.EEG_WINDOW_SAMPLES - self.crop_samples
            if self.crop_s * constants.SFREQ_HZ % 1 or lead % (2 * self.downsample):
                raise ValueError(
                    bad_value(
                        "crop_s",
                        f"a crop whose margins are whole multiples of downsample="
                        f"{self.downsample} samples at {constants.SFREQ_HZ:g} Hz",
                        self.crop_s,
                    )
                )
        if self.notch_hz is not None and not 0.0 < self.notch_hz < nyquist_hz:
            raise ValueError(
                bad_value(
                    "notch_hz",
                    f"a frequency in (0, {nyquist_hz:g}) Hz at {constants.SFREQ_HZ:g} Hz sampling",
                    self.notch_hz,
                )
            )
        return self

    @property
    def channel_names(self) -> tuple[str, ...]:
        """Names of the output channels ('Fp1-F7', ..., 'Fz-Cz', 'Cz-Pz', 'EKG')."""
        return montage.channel_names(central=self.central, ekg=self.ekg)

    @property
    def n_chans(self) -> int:
        """Number of output channels (16, 18, 17 or 19)."""
        return len(self.channel_names)

    @property
    def sfreq_out_hz(self) -> float:
        """Sampling rate of the output, Hz."""
        return constants.SFREQ_HZ / self.downsample

    def n_times(self, window_s: float = constants.EEG_WINDOW_S) -> int:
        """Output samples of a ``window_s``-second window at ``constants.SFREQ_HZ`` (of its
        central ``crop_s`` seconds when the config crops)."""
        if self.crop_s is not None:
            window_s = min(window_s, self.crop_s)
        return round(window_s * constants.SFREQ_HZ) // self.downsample

    @property
    def crop_samples(self) -> int:
        """Input samples (at ``constants.SFREQ_HZ``) a window keeps: the crop, or 50 s."""
        s = constants.EEG_WINDOW_S if self.crop_s is None else self.crop_s
        return round(s * constants.SFREQ_HZ)

    def crop_start(self, n_in: int = constants.EEG_WINDOW_SAMPLES) -> int:
        """First input sample kept of an ``n_in``-sample window (0 without a crop)."""
        return max(0, (n_in - self.crop_samples) // 2) if self.crop_s is not None else 0

    def crop(self, x_ref: np.ndarray, sfreq_hz: float = constants.SFREQ_HZ) -> np.ndarray:
        """The central ``crop_s`` seconds of windows (..., 20, n) sampled at ``sfreq_hz`` Hz
        (a view; unchanged without a crop or when the window is not longer than it)."""
        if self.crop_s is None:
            return x_ref
        keep = round(self.crop_s * sfreq_hz)
        a = max(0, (x_ref.shape[-1] - keep) // 2)
        return x_ref[..., a : a + keep]

    def matrix(self) -> np.ndarray:
        """The montage matrix, shape (n_chans, 20)."""
        return montage.montage_matrix(central=self.central, ekg=self.ekg)

    def describe(self, sfreq_hz: float = constants.SFREQ_HZ) -> str:
        """What :func:`preprocess` applies, in order, as one line for reports (MNE-style), e.g.
        "montage: double banana + Fz-Cz, Cz-Pz (18 ch); band-pass 0.5-20 Hz (Butterworth order 4,
        zero-phase IIR); clip ±1024 µV; scale ÷32; decimated to 40 Hz". NaN samples are always
        filled first (linear in time). ``sfreq_hz``: input rate, Hz."""
        extra = " + Fz-Cz, Cz-Pz" * self.central + " + EKG" * self.ekg
        steps = [f"montage: double banana{extra} ({self.n_chans} ch)"]
        if self.crop_s is not None:
            steps.insert(0, f"central {self.crop_s:g} s of the window")
        how = "zero-phase IIR"
        if self.filter_method == "fft":
            pad = filters.fft_pad(sfreq_hz, self.bandpass_hz, self.filter_order, self.notch_hz,
                                  self.downsample)  # fmt: skip
            how = f"zero-phase on the FFT, {pad / sfreq_hz:.1f} s odd extension"
        if self.bandpass_hz is not None:
            band = filters.band_name(*self.bandpass_hz)
            steps.append(f"{band} (Butterworth order {self.filter_order}, {how})")
        if self.notch_hz is not None:
            steps.append(f"notch {self.notch_hz:g} Hz ({how})")
        if self.clip_uv is not None:
            steps.append(f"clip ±{self.clip_uv:g} µV")
        steps.append(f"scale ÷{self.divide_by:g}")
        if self.downsample > 1:
            steps.append(f"decimated to {sfreq_hz / self.downsample:g} Hz")
        else:
            steps.append(f"{sfreq_hz:g} Hz (not decimated)")
        return "; ".join(steps)


@functools.lru_cache(maxsize=8)
def _matrix(central: bool, ekg: bool) -> np.ndarray:
    """``PreprocessConfig.matrix()``, built once (read-only)."""
    m = montage.montage_matrix(central=central, ekg=ekg)
    m.flags.writeable = False
    return m


def _validate_input(x_ref: np.ndarray, sfreq_hz: float, cfg: PreprocessConfig) -> np.ndarray:
    x = np.asarray(x_ref)
    n_ref = len(constants.EEG_CHANNELS)
    if x.ndim < 2 or x.shape[-2] != n_ref:
        raise ValueError(
            bad_value(
                "x_ref",
                f"shape (..., {n_ref}, n_times) with channels {', '.join(constants.EEG_CHANNELS)}",
                x.shape,
            )
        )
    if x.shape[-1] < cfg.downsample:
        raise ValueError(
            f"x_ref: n_times={x.shape[-1]} is shorter than downsample={cfg.downsample}"
        )
    if not (math.isfinite(sfreq_hz) and sfreq_hz > 0):
        raise ValueError(bad_value("sfreq_hz", "a positive sampling rate", sfreq_hz))
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    return x


def preprocess(
    x_ref: np.ndarray, cfg: PreprocessConfig | None = None, sfreq_hz: float = constants.SFREQ_HZ
) -> np.ndarray:
    """Referential EEG windows → model-ready bipolar channels.

    Parameters
    ----------
    x_ref : ndarray, shape (..., 20, n_times)
        Referential EEG, µV, channels in ``constants.EEG_CHANNELS`` order; NaN allowed (filled).
    cfg : PreprocessConfig, optional
        Settings; default ``PreprocessConfig()``.
    sfreq_hz : float
        Sampling rate of ``x_ref``, Hz.

    Returns
    -------
    ndarray, shape (..., cfg.n_chans, n_times // cfg.downsample), float32
        (``n_times`` of the central crop when ``cfg.crop_s`` is set.) Filtered bipolar EEG in µV / ``cfg.divide_by`` (clipped at ±``cfg.clip_uv`` µV first).

    Raises
    ------
    ValueError
        Wrong shape, non-positive ``sfreq_hz``, or infinite samples in ``x_ref``.
    """
    cfg = cfg or PreprocessConfig()
    x = np.asarray(cfg.crop(_validate_input(x_ref, sfreq_hz, cfg), sfreq_hz), dtype=np.float32)
    if not np.isfinite(x.sum(dtype=np.float64)):  # one pass, no copy: NaN or ±inf somewhere
        if np.isinf(x).any():
            raise ValueError("x_ref: contains ±inf samples (only NaN can be filled)")
        x, n_filled = filters.fill_nan(x)
        logger.debug("preprocess: filled %d NaN samples of %d", n_filled, x.size)
    y = montage.bipolar(x, _matrix(cfg.central, cfg.ekg))  # (..., n_chans, T)
    if cfg.filter_method == "fft":
        return _filter_fft(y, cfg, sfreq_hz)
    if cfg.bandpass_hz is not None:
        y = filters.bandpass(y, sfreq_hz, *cfg.bandpass_hz, order=cfg.filter_order)
    if cfg.notch_hz is not None:
        y = filters.notch(y, sfreq_hz, cfg.notch_hz)
    y = filters.clip_scale(y, cfg.clip_uv, cfg.divide_by)
    if cfg.downsample > 1:
        n_out = y.shape[-1] // cfg.downsample
        y = filters.downsample(y, cfg.downsample, sfreq_hz)[..., :n_out]
    return np.ascontiguousarray(y, dtype=np.float32)


def _filter_fft(y: np.ndarray, cfg: PreprocessConfig, sfreq_hz: float) -> np.ndarray:
    """Band-pass, notch, clip/scale and decimation of bipolar ``y`` (..., C, T) via one FFT of the
    odd-extended window (two when clipping bites); see ``filter_method``."""
    ds, n = cfg.downsample, y.shape[-1]
    if cfg.bandpass_hz is None and cfg.notch_hz is None and ds == 1:
        return np.ascontiguousarray(filters.clip_scale(y, cfg.clip_uv, cfg.divide_by))
    pad = filters.fft_pad(sfreq_hz, cfg.bandpass_hz, cfg.filter_order, cfg.notch_hz, ds)
    pad = min(-(-pad // ds) * ds, (n - 1) // ds * ds)  # a multiple of ds: the kept samples
    n_fft = ds * filters.fft_length(-(-(n + 2 * pad) // ds))  # are every ds-th of the FFT's;
    # few distinct lengths: the gains stay cached
    gain, dec = filters.zero_phase_gains(
        n_fft, float(sfreq_hz), cfg.bandpass_hz, cfg.filter_order, cfg.notch_hz, ds
    )
    ext = filters.odd_extend(y, pad) if pad > 0 else y  # (..., C, T + 2 pad)
    if ds == 1:
        out = filters.fft_filter(ext, [gain], n_fft)[..., pad : pad + n]
        return np.ascontiguousarray(filters.clip_scale(out, cfg.clip_uv, cfg.divide_by))
    out = filters.fft_filter(ext, [gain, dec], n_fft, clip_between=cfg.clip_uv, decimate=ds)
    out = out[..., pad // ds : pad // ds + n // ds]  # decimated after the clip, as "iir"
    return np.ascontiguousarray(out / np.float32(cfg.divide_by), dtype=np.float32)


def preprocess_recording(
    x_ref: np.ndarray,
    cfg: PreprocessConfig | None = None,
    sfreq_hz: float = constants.SFREQ_HZ,
    *,
    block_s: float = BLOCK_S,
    pad_s: float = PAD_S,
    interior_method: Literal["iir", "fft"] | None = None,
) -> np.ndarray:
    """A whole recording → model-ready channels: :func:`preprocess` on overlapping blocks.

    Each block of ``block_s`` seconds is preprocessed with ``pad_s`` seconds of the neighbouring
    signal on each side (fewer at the recording's ends) and only its centre is kept, so the
    output equals :func:`preprocess` of the whole recording up to float32 rounding while memory
    stays bounded by one block. At the recording's two ends the filters extend the signal as they
    extend a window's ends. NaN samples are filled per block (linear in time).

    Parameters
    ----------
    x_ref : ndarray, shape (20, n_times)
        Referential EEG, µV, channels in ``constants.EEG_CHANNELS`` order; any float dtype.
    cfg : PreprocessConfig, optional
        Settings (``filter_method`` included); default ``PreprocessConfig()``.
    sfreq_hz : float
        Sampling rate of ``x_ref``, Hz.
    block_s, pad_s : float
        Block length and context on each side, s.
    interior_method : {"iir", "fft"} or None
        ``filter_method`` of the blocks that touch neither end of the recording (None: the
        config's). Their kept centre lies ``pad_s`` from the block's ends, where the two methods
        agree to float32 rounding; the blocks at the recording's ends keep the config's method, so
        the ends are treated exactly as the config says (``iiic analyze --fast``: "fft" inside).

    Returns
    -------
    ndarray, shape (cfg.n_chans, n_times // cfg.downsample), float32
        Sample ``i`` is sample ``i * cfg.downsample`` of ``x_ref``: the window starting at sample
        ``s`` (a multiple of ``cfg.downsample``) is ``out[:, s // ds : s // ds + cfg.n_times()]``
        (a ``crop_s`` of ``cfg`` is not applied to the recording: slice the crop from the window,
        at ``cfg.crop_start()``).
    """
    cfg = (cfg or PreprocessConfig()).model_copy(update={"crop_s": None})  # never crop a recording
    x = _validate_input(x_ref, sfreq_hz, cfg)
    if x.ndim != 2:
        raise ValueError(bad_value("x_ref", "one recording of shape (20, n_times)", x.shape))
    ds, n = cfg.downsample, x.shape[-1]
    block = math.ceil(block_s * sfreq_hz / ds) * ds  # multiples of ds keep the decimation grid
    pad = math.ceil(pad_s * sfreq_hz / ds) * ds
    inner = cfg if interior_method is None else cfg.model_copy(
        update={"filter_method": interior_method})  # fmt: skip
    out = np.empty((cfg.n_chans, n // ds), dtype=np.float32)
    for start in range(0, n, block):
        lo, hi = max(0, start - pad), min(n, start + block + pad)
        y = preprocess(
            x[:, lo:hi], inner if 0 < lo and hi < n else cfg, sfreq_hz
        )  # (C, (hi-lo)//ds)
        first, last = start // ds, min(out.shape[1], (start + block) // ds)
        out[:, first:last] = y[:, first - lo // ds : last - lo // ds]
    return out
