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
from iiic.synth import artifacts, patterns, signals
from iiic.synth.signals import PatientTraits, background

SFREQ = constants.SFREQ_HZ
FULL_STRENGTH_SHARE = 0.85
"""A pattern share at or above this is drawn at full amplitude."""
MIN_SHARE = 0.05
"""Shares at or below this (rater noise) leave no trace in the signal."""
STRENGTH_EXPONENT = 0.5
"""Amplitude = ((share - MIN_SHARE) / (FULL_STRENGTH_SHARE - MIN_SHARE)) ** STRENGTH_EXPONENT."""
FULL_DUTY_SHARE = 0.8
"""A pattern share at or above this is present all the time; below, it comes and goes."""
MIN_DUTY = 0.35
"""Smallest fraction of time an intermittent pattern is on."""
BURST_MEAN_S = 4.0
"""Mean length of the on/off stretches of an intermittent pattern, s."""
RAMP_S = 2.0
"""State changes between stationary periods are smoothed over this time, s."""
P_SIDE_FLIP = 0.15
"""Probability that an EEG's lateralized patterns sit on the patient's other hemisphere."""
SPORADIC_BASE = 0.25
"""Strength of sporadic discharges under any pattern (they are part of most recordings)."""
P_OTHER_ARTIFACT = 0.15
"""Probability that an EEG's strong 'Other' stretches are artifact-dominated."""
ARTIFACT_MIN_STRENGTH = 0.8
"""'Other' strength above which such an artifact can be drawn (clear Other windows only)."""
MIN_STRENGTH = 0.05
"""Patterns weaker than this everywhere in the file are skipped (speed)."""


def share_to_strength(share: np.ndarray) -> np.ndarray:
    """Amplitude 0..1 of a pattern from its share of the distribution (sub-linear above
    MIN_SHARE, 1 at FULL_STRENGTH_SHARE)."""
    x = (np.asarray(share) - MIN_SHARE) / (FULL_STRENGTH_SHARE - MIN_SHARE)
    return np.clip(x, 0, 1) ** STRENGTH_EXPONENT


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
    center_s : float, optional
        Position of the window centre after its start, s (default ``EEG_WINDOW_S / 2``).
    """
    half = constants.EEG_WINDOW_S / 2 if center_s is None else center_s
    centers = np.asarray(offsets_s, float) + half
    order = np.argsort(centers, kind="stable")
    centers, p_signal = centers[order], np.asarray(p_signal)[order]
    bounds = (centers[1:] + centers[:-1]) / 2 * SFREQ
    owner = np.searchsorted(bounds, np.arange(n_times))
    strength = share_to_strength(p_signal)
    env = strength[owner].T.astype(np.float32)  # (6, n)
    if len(centers) > 1:
        env = _smooth(env, round(RAMP_S * SFREQ))
    return env


def _smooth(env: np.ndarray, width: int) -> np.ndarray:
    """Moving average over ``width`` samples along the last axis (same length)."""
    n = env.shape[-1]
    if n <= width or width < 2:
        return env
    c = np.cumsum(np.pad(env, ((0, 0), (width // 2 + 1, width - width // 2)), mode="edge"), axis=1)
    return ((c[:, width:] - c[:, :-width]) / width)[:, :n].astype(np.float32)


def intermittency(env: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gate (6, n) in 0..1: weaker patterns (proto) come and go in bursts of a few seconds.

    The share of time a pattern is on grows with its strength (always on at full strength).
    """
    n = env.shape[1]
    share = MIN_SHARE + np.clip(env, 0, 1) ** (1 / STRENGTH_EXPONENT) * (
        FULL_STRENGTH_SHARE - MIN_SHARE
    )
    duty = np.clip(share / FULL_DUTY_SHARE, MIN_DUTY, 1.0)
    n_seg = int(n / (BURST_MEAN_S * SFREQ)) + 2
    edges = np.sort(rng.integers(0, n, n_seg))
    seg = np.searchsorted(edges, np.arange(n))
    u = rng.random((env.shape[0], n_seg + 1)).astype(np.float32)[:, seg]  # (6, n)
    gate = (u < duty).astype(np.float32)
    return _smooth(gate, round(0.5 * SFREQ))


def seen_strengths(env: np.ndarray, offsets_s: np.ndarray) -> np.ndarray:
    """Mean realised amplitude of each class per window, (n_rows, 12): the central 10 s
    (classes 0..5) then the whole 50 s (classes 0..5); ``env`` from :func:`synth_eeg`."""
    c = np.concatenate([np.zeros((env.shape[0], 1)), np.cumsum(env, axis=1, dtype=np.float64)], 1)
    out = []
    centre_s = (constants.EEG_WINDOW_S - constants.LABEL_WINDOW_S) / 2
    for start_s, length_s in ((centre_s, constants.LABEL_WINDOW_S), (0.0, constants.EEG_WINDOW_S)):
        a = np.round((np.asarray(offsets_s, float) + start_s) * SFREQ).astype(np.int64)
        a = np.clip(a, 0, env.shape[1])
        b = np.clip(a + round(length_s * SFREQ), 0, env.shape[1])
        out.append(((c[:, b] - c[:, a]) / np.maximum(b - a, 1)).T)
    return np.concatenate(out, axis=1).astype(np.float32)


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
    restyle: bool = True,
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
    restyle : bool
        Draw a new pattern style for this EEG (``signals.restyle``; default True); False keeps
        the patient's (one recording of one patient, as ``synth_recording`` writes).

    Returns
    -------
    x : ndarray, shape (20, n_times), float32
        ``constants.EEG_CHANNELS`` order (19 electrodes + EKG), µV; may hold a NaN stretch.
    info : dict
        What was added (artifact counts, NaN samples, side of lateralized patterns) and
        ``env``, (6, n_times) float32 in 0..1: each class's realised amplitude (strength x
        intermittency) — what the signal shows, before background and artifacts.
    """
    if restyle:
        traits = signals.restyle(traits, rng)
    env = class_strengths(offsets_s, p_signal, n_times)
    env = env * intermittency(env, rng)
    flip = rng.random() < P_SIDE_FLIP
    side = (1 - traits.side if flip else traits.side) if side is None else side
    x = background(n_times, traits, rng)
    k = {c: i for i, c in enumerate(constants.CLASSES)}
    if env[k["lpd"]].max() > MIN_STRENGTH:
        field = patterns.lateral_field(side, rng, spread=traits.lateral_spread,
                                       width=traits.field_width)  # fmt: skip
        x += patterns.periodic_discharges(env[k["lpd"]], traits, field, rng)
    if env[k["gpd"]].max() > MIN_STRENGTH:
        field = patterns.generalized_field(rng, frontal=rng.uniform(0.2, 0.7))
        lag_s = rng.uniform(0.02, 0.12) if traits.triphasic else rng.uniform(0.0, 0.03)
        x += patterns.periodic_discharges(env[k["gpd"]], traits, field, rng, lag_s=lag_s,
                                           symmetric=True)  # fmt: skip
    if env[k["lrda"]].max() > MIN_STRENGTH:
        field = patterns.lateral_field(
            side,
            rng,
            temporal=rng.random() < 0.6,
            spread=traits.lateral_spread,
            width=traits.field_width,
        )
        # LRDA in ICU recordings is often polymorphic and waxes and wanes (the real LRDA segments
        # have weak delta peaks): frequency wander and amplitude modulation vary per EEG
        x += patterns.rhythmic_delta(env[k["lrda"]], traits, field, rng, amp_x=patterns.LRDA_AMP_X,
                                     wander=rng.uniform(0.06, 0.2), min_mod=rng.uniform(0.1, 0.5))  # fmt: skip
    if env[k["grda"]].max() > MIN_STRENGTH:
        field = patterns.generalized_field(rng, frontal=rng.uniform(0.2, 0.7))
        x += patterns.rhythmic_delta(env[k["grda"]], traits, field, rng, wander=0.04, min_mod=0.7,
                                     symmetric=True)  # fmt: skip
    if env[k["seizure"]].max() > MIN_STRENGTH:
        x += patterns.seizure(env[k["seizure"]], traits, rng)
    # sporadic sharp transients occur in most recordings; they only dominate in 'Other'
    x += patterns.sporadic(np.maximum(env[k["other"]], SPORADIC_BASE), traits, rng)
    if env[k["other"]].max() > ARTIFACT_MIN_STRENGTH and rng.random() < P_OTHER_ARTIFACT:
        # part of the real 'Other' is artifact-dominated (hundreds of µV of muscle/electrode noise)
        x += patterns.artifact_burst(np.clip(env[k["other"]] - 0.5, 0, 1) * 2, rng)
    ekg = artifacts.ekg(n_times, traits, rng)
    info: dict = {"side": side, "env": env}
    if with_artifacts:
        info.update(artifacts.add_artifacts(x, ekg, rng))
    out = np.empty((len(constants.EEG_CHANNELS), n_times), np.float32)
    out[: len(constants.ELECTRODES)] = x
    out[constants.EKG_INDEX] = ekg
    if with_artifacts and nan_stretches:
        info["nan_samples"] = artifacts.nan_stretch(out, rng)
    return out, info
