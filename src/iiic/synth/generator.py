"""Synthesise one EEG file (20 channels, µV) whose windows carry given class distributions.

Each sub-window of the file has a signal distribution ``p_signal`` (6,). Time is split between
sub-windows by their centres (the nearest labelled centre owns each sample), so a stationary
period (consecutive windows with one distribution) is one continuous stretch of one state. The
strength of each pattern over time follows its share in the distribution (a weak or intermittent
pattern for a proto pattern, two patterns at once for an edge case), so the 10-s labelled centre of
every window shows what its distribution says, and the votes drawn from it are learnable.
"""

from __future__ import annotations

import numpy as np

from iiic import constants
from iiic.synth import artifacts, patterns
from iiic.synth.signals import PatientTraits, background

SFREQ = constants.SFREQ_HZ
FULL_STRENGTH_SHARE = 0.85
"""A pattern share at or above this is drawn at full amplitude."""
STRENGTH_EXPONENT = 0.8
"""Amplitude = (share / FULL_STRENGTH_SHARE) ** STRENGTH_EXPONENT (sub-linear: proto shows)."""
RAMP_S = 2.0
"""State changes between stationary periods are smoothed over this time, s."""
P_SIDE_FLIP = 0.15
"""Probability that an EEG's lateralized patterns sit on the patient's other hemisphere."""
SPORADIC_BASE = 0.25
"""Strength of sporadic discharges under any pattern (they are part of most recordings)."""
MIN_STRENGTH = 0.05
"""Patterns weaker than this everywhere in the file are skipped (speed)."""


def class_strengths(
    offsets_s: np.ndarray, p_signal: np.ndarray, n_times: int, *, center_s: float | None = None
) -> np.ndarray:
    """Per-sample amplitude of each class, (6, n_times) in 0..1.

    Parameters
    ----------
    offsets_s : ndarray, shape (n_rows,)
        Window starts, s; the window centre is ``offset + EEG_WINDOW_S / 2``.
    p_signal : ndarray, shape (n_rows, 6)
        Class distribution of each window.
    n_times : int
        Number of samples of the file.
    """
    half = constants.EEG_WINDOW_S / 2 if center_s is None else center_s
    centers = np.asarray(offsets_s, float) + half
    order = np.argsort(centers, kind="stable")
    centers, p_signal = centers[order], np.asarray(p_signal)[order]
    bounds = (centers[1:] + centers[:-1]) / 2 * SFREQ
    owner = np.searchsorted(bounds, np.arange(n_times))
    strength = np.clip(p_signal / FULL_STRENGTH_SHARE, 0, 1) ** STRENGTH_EXPONENT
    env = strength[owner].T.astype(np.float32)  # (6, n)
    ramp = round(RAMP_S * SFREQ)
    if len(centers) > 1 and n_times > ramp:
        c = np.cumsum(np.pad(env, ((0, 0), (ramp // 2 + 1, ramp - ramp // 2)), mode="edge"), axis=1)
        env = ((c[:, ramp:] - c[:, :-ramp]) / ramp)[:, :n_times].astype(np.float32)
    return env


def synth_eeg(
    offsets_s: np.ndarray,
    p_signal: np.ndarray,
    n_times: int,
    traits: PatientTraits,
    rng: np.random.Generator,
    *,
    with_artifacts: bool = True,
    nan_stretches: bool = True,
    side: int | None = None,
) -> tuple[np.ndarray, dict]:
    """Synthesise one EEG.

    Parameters
    ----------
    offsets_s : ndarray, shape (n_rows,)
        Window starts, s.
    p_signal : ndarray, shape (n_rows, 6)
        Class distribution of each window (what the signal encodes).
    n_times : int
        Samples to generate at ``constants.SFREQ_HZ``.
    traits : PatientTraits
    rng : Generator
    with_artifacts, nan_stretches : bool
        Add artifacts / a possible NaN stretch (default True).
    side : int or None
        Hemisphere of lateralized patterns (0 left, 1 right); None: the patient's, sometimes
        flipped.

    Returns
    -------
    x : ndarray, shape (20, n_times), float32
        ``constants.EEG_CHANNELS`` order (19 electrodes + EKG), µV; may hold a NaN stretch.
    info : dict
        What was added (artifact counts, NaN samples, side of lateralized patterns).
    """
    env = class_strengths(offsets_s, p_signal, n_times)
    flip = rng.random() < P_SIDE_FLIP
    side = (1 - traits.side if flip else traits.side) if side is None else side
    x = background(n_times, traits, rng)
    k = {c: i for i, c in enumerate(constants.CLASSES)}
    if env[k["lpd"]].max() > MIN_STRENGTH:
        field = patterns.lateral_field(side, rng)
        x += patterns.periodic_discharges(env[k["lpd"]], traits, field, rng)
    if env[k["gpd"]].max() > MIN_STRENGTH:
        field = patterns.generalized_field(rng, frontal=rng.uniform(0.4, 0.9))
        x += patterns.periodic_discharges(env[k["gpd"]], traits, field, rng)
    if env[k["lrda"]].max() > MIN_STRENGTH:
        field = patterns.lateral_field(side, rng, temporal=True)
        x += patterns.rhythmic_delta(env[k["lrda"]], traits, field, rng)
    if env[k["grda"]].max() > MIN_STRENGTH:
        field = patterns.generalized_field(rng, frontal=rng.uniform(0.5, 0.9))
        x += patterns.rhythmic_delta(env[k["grda"]], traits, field, rng)
    if env[k["seizure"]].max() > MIN_STRENGTH:
        x += patterns.seizure(env[k["seizure"]], traits, rng)
    # sporadic sharp transients occur in most recordings; they only dominate in 'Other'
    x += patterns.sporadic(np.maximum(env[k["other"]], SPORADIC_BASE), traits, rng)
    ekg = artifacts.ekg(n_times, traits, rng)
    info: dict = {"side": side}
    if with_artifacts:
        info.update(artifacts.add_artifacts(x, ekg, rng))
    out = np.empty((len(constants.EEG_CHANNELS), n_times), np.float32)
    out[: len(constants.ELECTRODES)] = x
    out[constants.EKG_INDEX] = ekg
    if with_artifacts and nan_stretches:
        info["nan_samples"] = artifacts.nan_stretch(out, rng)
    return out, info
