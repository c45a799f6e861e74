"""Training augmentations: per-window transforms of referential EEG and batch-level mixup.

Window augmentations follow the dataset's hook contract
``augment(x_ref: ndarray (20, T) µV, rng: np.random.Generator) -> ndarray (20, T)`` and run on the
referential window BEFORE preprocessing, so the left/right flip is a channel permutation
(``constants.FLIP_PERMUTATION``) and every bipolar chain sees a consistent signal. Each transform
has its own probability in :class:`AugmentConfig`; :func:`build_augment` composes them into a
picklable callable (safe for DataLoader worker processes). NaN samples are kept where they are
(``preprocess`` fills and counts them later).

Mixup mixes whole batches (EEG, spectrogram and target distributions with the same weights) and
is called by the training loop: :func:`mixup`, or :func:`mixup_params` + :func:`mix` for several
inputs.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from scipy import stats

from iiic import constants
from iiic.signal import filters
from iiic.train.config import N_SCALP, AugmentConfig
from iiic.utils import bad_value

logger = logging.getLogger(__name__)


class Augment:
    """The composed window augmentation (see :func:`build_augment`); picklable.

    Call ``augment(x_ref, rng)`` with ``x_ref`` of shape (20, n_times) µV; returns a new float32
    array of the same shape. Steps, each with its probability, in order: amplitude scale,
    band-pass jitter, channel dropout, time reversal, time shift, flip.
    """

    def __init__(self, cfg: AugmentConfig, sfreq_hz: float = constants.SFREQ_HZ) -> None:
        self.cfg = cfg
        self.sfreq_hz = float(sfreq_hz)

    def __repr__(self) -> str:
        active = {k: v for k, v in self.cfg.model_dump().items() if k.startswith("p_") and v > 0}
        return f"Augment({active}, sfreq_hz={self.sfreq_hz:g})"

    def __call__(self, x_ref: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(20, n_times) µV → augmented (20, n_times) float32 µV (a new array)."""
        x = _check_window(x_ref)
        cfg = self.cfg
        if rng.random() < cfg.p_amplitude_scale:
            x = amplitude_scale(x, rng, cfg.amplitude_scale_range)
        if rng.random() < cfg.p_bandpass_jitter:
            x = bandpass_jitter(x, rng, self.sfreq_hz, cfg.low_hz_range, cfg.high_hz_range)
        if rng.random() < cfg.p_channel_dropout:
            x = channel_dropout(x, rng, cfg.max_dropout_channels)
        if rng.random() < cfg.p_time_reverse:
            x = x[:, ::-1]
        if rng.random() < cfg.p_time_shift:
            x = time_shift(x, rng, round(cfg.max_shift_s * self.sfreq_hz), cfg.shift_mode)
        if rng.random() < cfg.p_flip:
            x = x[list(constants.FLIP_PERMUTATION)]
        return np.ascontiguousarray(x, dtype=np.float32)


def build_augment(
    cfg: AugmentConfig | None = None, sfreq_hz: float = constants.SFREQ_HZ
) -> Augment:
    """The window augmentation for ``cfg`` (default :class:`AugmentConfig`), as the dataset hook."""
    aug = Augment(cfg or AugmentConfig(), sfreq_hz)
    logger.debug("augmentation: %r", aug)
    return aug


def _check_window(x_ref: np.ndarray) -> np.ndarray:
    x = np.array(x_ref, dtype=np.float32)  # a copy: the caller's window is never modified
    n_ref = len(constants.EEG_CHANNELS)
    if x.ndim != 2 or x.shape[0] != n_ref:
        raise ValueError(bad_value("x_ref", f"shape ({n_ref}, n_times)", x.shape))
    return x


def amplitude_scale(
    x: np.ndarray, rng: np.random.Generator, scale_range: tuple[float, float]
) -> np.ndarray:
    """Multiply by one log-uniform factor from ``scale_range``."""
    lo, hi = np.log(scale_range[0]), np.log(scale_range[1])
    return x * np.float32(np.exp(rng.uniform(lo, hi)))


def bandpass_jitter(
    x: np.ndarray,
    rng: np.random.Generator,
    sfreq_hz: float,
    low_hz_range: tuple[float, float],
    high_hz_range: tuple[float, float],
) -> np.ndarray:
    """Zero-phase band-pass with random edges; NaN samples stay NaN (filtered through a fill)."""
    low_hz, high_hz = rng.uniform(*low_hz_range), rng.uniform(*high_hz_range)
    nan = np.isnan(x)
    filled, _ = filters.fill_nan(x) if nan.any() else (x, 0)
    y = filters.bandpass(filled, sfreq_hz, round(low_hz, 2), round(high_hz, 1))  # cacheable SOS
    y[nan] = np.nan
    return y


def channel_dropout(x: np.ndarray, rng: np.random.Generator, max_channels: int) -> np.ndarray:
    """Set 1..``max_channels`` random scalp electrodes to 0 µV (EKG is never dropped)."""
    n_drop = int(rng.integers(1, max_channels + 1))
    drop = rng.choice(N_SCALP, size=n_drop, replace=False)
    y = x.copy()
    y[drop] = 0.0
    return y


def time_shift(
    x: np.ndarray, rng: np.random.Generator, max_shift: int, mode: str = "circular"
) -> np.ndarray:
    """Shift along time by a uniform integer in ``[-max_shift, max_shift]`` samples."""
    shift = int(rng.integers(-max_shift, max_shift + 1)) if max_shift > 0 else 0
    if mode == "circular":
        return np.roll(x, shift, axis=-1)
    y = np.zeros_like(x)
    if shift >= 0:
        y[:, shift:] = x[:, : x.shape[1] - shift]
    else:
        y[:, :shift] = x[:, -shift:]
    return y


# --- batch level -----------------------------------------------------------------------------


def mixup_params(
    batch_size: int, alpha: float, rng: np.random.Generator | torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample mixing weights ``lam ~ Beta(alpha, alpha)`` (B,) and a partner permutation (B,).

    ``rng`` is a numpy Generator or a torch Generator (CPU); both give reproducible draws.
    """
    if alpha <= 0:
        raise ValueError(bad_value("alpha", "> 0", alpha))
    if isinstance(rng, torch.Generator):
        u = torch.rand(batch_size, generator=rng, dtype=torch.float64).numpy()
        perm = torch.randperm(batch_size, generator=rng)
        lam = stats.beta.ppf(u, alpha, alpha)
    else:
        lam = rng.beta(alpha, alpha, size=batch_size)
        perm = torch.from_numpy(rng.permutation(batch_size))
    return torch.as_tensor(lam, dtype=torch.float32), perm


def mix(t: torch.Tensor, lam: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """``lam * t + (1 - lam) * t[perm]`` with ``lam`` (B,) broadcast over the other dims."""
    lam = lam.to(device=t.device, dtype=t.dtype).reshape(-1, *([1] * (t.ndim - 1)))
    return lam * t + (1.0 - lam) * t[perm.to(t.device)]


def mixup(
    batch_eeg: torch.Tensor,
    batch_target: torch.Tensor,
    alpha: float,
    rng: np.random.Generator | torch.Generator,
    p: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix a batch with a permutation of itself (Zhang et al. 2018), with probability ``p``.

    Parameters
    ----------
    batch_eeg : Tensor, shape (B, ...)
        Model input (preprocessed EEG or spectrograms).
    batch_target : Tensor, shape (B, n_classes)
        Vote distributions (rows sum to 1; mixed rows still do).
    alpha : float
        Beta(alpha, alpha) parameter; small alpha keeps most weights near 0 or 1.
    rng : numpy or torch Generator
    p : float
        Probability of mixing this batch at all; otherwise the inputs are returned unchanged.

    Returns
    -------
    (eeg, target) : the mixed batch, same shapes and dtypes.
    """
    if batch_eeg.shape[0] != batch_target.shape[0]:
        raise ValueError(
            f"batch_target: batch size {batch_target.shape[0]} differs from batch_eeg's "
            f"{batch_eeg.shape[0]}"
        )
    draw = torch.rand(1, generator=rng).item() if isinstance(rng, torch.Generator) else rng.random()
    if draw >= p:
        return batch_eeg, batch_target
    lam, perm = mixup_params(batch_eeg.shape[0], alpha, rng)
    return mix(batch_eeg, lam, perm), mix(batch_target, lam, perm)


# --- model-ready inputs ----------------------------------------------------------------------

OUTPUT_EQUIVALENTS = ("p_flip", "p_amplitude_scale", "p_time_reverse", "p_time_shift")
"""Window augmentations with an equivalent on a preprocessed window (what model-ready inputs hold):
the flip is a channel permutation of the montage (exact); scale, reversal and shift act on the
filtered, decimated signal (equal to the referential-signal versions up to the filters' edge
effects at the window ends and the wrap point, and clipping). The others — channel dropout and
band-pass jitter, and any augmentation added later — need the referential signal: with them,
training falls back to the per-window path (:func:`raw_only_augmentations`)."""


def raw_only_augmentations(cfg: AugmentConfig) -> list[str]:
    """Active window augmentations (``p_* > 0``, mixup aside) that need the referential signal."""
    return [k for k, v in cfg.model_dump().items()
            if k.startswith("p_") and k != "p_mixup" and v > 0 and k not in OUTPUT_EQUIVALENTS]  # fmt: skip


class OutputAugment:
    """The window augmentation of :class:`Augment` on preprocessed windows (picklable).

    Call ``augment(y, rng)`` with ``y`` of shape (n_chans, n_times) as ``preprocess`` returns it
    (bipolar, filtered, clipped and scaled, ``preprocess.sfreq_out_hz``); returns a new float32
    array. Same steps, probabilities and random draws, in the same order, as :class:`Augment`:
    the amplitude factor is applied and the result re-clipped to ``±clip_uv / divide_by``; the
    shift is drawn in output samples; the flip permutes the bipolar channels.

    Raises
    ------
    ValueError
        ``cfg`` enables an augmentation that needs the referential signal.
    """

    def __init__(self, cfg: AugmentConfig, preprocess) -> None:
        from iiic.signal.montage import bipolar_flip_permutation

        blocked = raw_only_augmentations(cfg)
        if blocked:
            raise ValueError(f"cfg: {blocked} act on the referential signal; use Augment")
        self.cfg = cfg
        self.sfreq_hz = float(preprocess.sfreq_out_hz)
        clip = preprocess.clip_uv
        self.clip = None if clip is None else float(clip) / preprocess.divide_by
        self.flip = list(bipolar_flip_permutation(preprocess.channel_names))

    def __call__(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(n_chans, n_times) preprocessed → augmented (n_chans, n_times) float32 (a new array)."""
        x = np.array(y, dtype=np.float32)
        cfg = self.cfg
        if rng.random() < cfg.p_amplitude_scale:
            x = amplitude_scale(x, rng, cfg.amplitude_scale_range)
            if self.clip is not None:
                x = np.clip(x, -self.clip, self.clip)
        rng.random(), rng.random()  # band-pass jitter, channel dropout: off here (same draws)
        if rng.random() < cfg.p_time_reverse:
            x = x[:, ::-1]
        if rng.random() < cfg.p_time_shift:
            x = time_shift(x, rng, round(cfg.max_shift_s * self.sfreq_hz), cfg.shift_mode)
        if rng.random() < cfg.p_flip:
            x = x[self.flip]
        return np.ascontiguousarray(x, dtype=np.float32)
