"""Artifacts and the EKG channel of the twin.

Eye blinks (bifrontal, nearly periodic), lateral eye movements (F7/F8), muscle bursts (high-frequency, temporal), electrode pops, flat or noisy
channels, 60 Hz line noise, EKG leakage into scalp channels, the EKG channel's heartbeat, and
NaN stretches like the real files. Each artifact is present in a random share of EEGs so files
differ; all amplitudes are in µV.
"""

from __future__ import annotations

import numpy as np

from iiic import constants
from iiic.synth.signals import XY, PatientTraits

SFREQ = constants.SFREQ_HZ
LINE_HZ = 60.0
"""Mains frequency of the HMS recordings (US), Hz."""
P_BLINKS = 0.45
P_EYE_MOVEMENTS = 0.3
P_MUSCLE = 0.35
P_POP = 0.2
P_FLAT_CHANNEL = 0.03
P_NOISY_CHANNEL = 0.05
P_LINE_NOISE = 0.5
P_EKG_LEAK = 0.4
P_NAN_STRETCH = 0.02
"""Probability that an EEG file has each kind of artifact (independently)."""
NAN_STRETCH_S = (0.5, 4.0)
"""Range of the length of a NaN stretch, s."""
_ELECTRODES = constants.ELECTRODES
_FRONT = np.array([{"Fp1": 1.0, "Fp2": 1.0, "F3": 0.35, "F4": 0.35, "F7": 0.4, "F8": 0.4,
                    "Fz": 0.45}.get(e, 0.03) for e in _ELECTRODES], np.float32)  # fmt: skip
_LATERAL_EYE = np.array([{"F7": 1.0, "F8": -1.0, "Fp1": 0.4, "Fp2": -0.4, "T3": 0.25,
                          "T4": -0.25, "F3": 0.2, "F4": -0.2}.get(e, 0.0) for e in _ELECTRODES],
                        np.float32)  # fmt: skip
_TEMPORAL = np.array([1.0 if e in ("F7", "T3", "T5", "F8", "T4", "T6") else 0.1
                      for e in _ELECTRODES], np.float32)  # fmt: skip


def ekg(n: int, traits: PatientTraits, rng: np.random.Generator) -> np.ndarray:
    """EKG channel (n,) µV: QRS complexes + T waves at the patient's heart rate with HRV."""
    dur = n / SFREQ
    rr = (1 / traits.heart_rate_hz) * (1 + 0.04 * rng.standard_normal(int(dur * 2.5) + 3))
    beats = rng.uniform(0, 1) + np.concatenate([[0.0], np.cumsum(rr)])
    beats = beats[beats < dur]
    t = np.arange(round(0.6 * SFREQ)) / SFREQ
    k = (np.exp(-((t - 0.05) ** 2) / (2 * 0.008**2)) - 0.25 * np.exp(-((t - 0.07) ** 2) / 2e-4)
         + 0.25 * np.exp(-((t - 0.3) ** 2) / (2 * 0.04**2)))  # fmt: skip
    out = np.zeros(n + len(k), np.float32)
    idx = np.round(beats * SFREQ).astype(np.int64)
    np.add.at(out, (idx[:, None] + np.arange(len(k))).ravel(), np.tile(k, len(idx)))
    sign = 1.0 if rng.random() < 0.7 else -1.0
    noise = rng.standard_normal(n).astype(np.float32) * 0.03
    return ((out[:n] + noise) * sign * traits.ekg_uv).astype(np.float32)


def _events(n: int, rate_hz: float, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0, n, rng.poisson(rate_hz * n / SFREQ)).astype(np.int64)


def _add_bumps(sig: np.ndarray, idx: np.ndarray, kernel: np.ndarray, amps: np.ndarray) -> None:
    padded = np.zeros(len(sig) + len(kernel), np.float32)
    pos = (idx[:, None] + np.arange(len(kernel))).ravel()
    np.add.at(padded, pos, (amps[:, None] * kernel).ravel())
    sig += padded[: len(sig)]


def add_artifacts(x: np.ndarray, ekg_sig: np.ndarray, rng: np.random.Generator) -> dict:
    """Add artifacts in place to ``x`` (19, n) µV; returns which ones were added (for reports)."""
    n = x.shape[1]
    added: dict[str, int] = {}
    if rng.random() < P_BLINKS:
        # blinks: 200-500 ms bifrontal deflections of 50-800 µV at Fp1/Fp2, every few seconds
        # (an awake patient blinks about every 3 s: nearly periodic, but not a discharge)
        idx = _events(n, rng.uniform(0.05, 0.5), rng)
        t = np.arange(round(0.8 * SFREQ)) / SFREQ
        kern = np.exp(-((t - 0.4) ** 2) / (2 * rng.uniform(0.05, 0.1) ** 2)).astype(np.float32)
        src = np.zeros(n, np.float32)
        size = np.exp(rng.normal(np.log(rng.uniform(60, 600)), 0.2, len(idx))).astype(np.float32)
        _add_bumps(src, idx, kern, size)
        x += np.outer(_FRONT * (1 + rng.normal(0, 0.1, len(_FRONT))).astype(np.float32), src)
        added["blinks"] = len(idx)
    if rng.random() < P_EYE_MOVEMENTS:
        # lateral eye movements: opposite steps at F7 and F8 (the corneo-retinal dipole)
        steps = np.zeros(n, np.float32)
        idx = np.sort(_events(n, rng.uniform(0.1, 0.6), rng))
        for i in idx:
            steps[i:] = rng.uniform(-1, 1) * rng.uniform(30, 150)
        sos_src = np.convolve(steps, np.ones(20, np.float32) / 20, mode="same")
        x += np.outer(_LATERAL_EYE, sos_src - sos_src.mean())
        added["eye_movements"] = len(idx)
    if rng.random() < P_MUSCLE:
        env = np.zeros(n, np.float32)
        idx = _events(n, rng.uniform(0.02, 0.2), rng)
        kern = np.hanning(round(rng.uniform(0.5, 3) * SFREQ)).astype(np.float32)
        _add_bumps(env, idx, kern, np.ones(len(idx), np.float32))
        hf = np.diff(rng.standard_normal((len(XY), n + 1)).astype(np.float32), axis=1)
        x += hf * (env * np.exp(rng.uniform(np.log(3), np.log(40)))) * _TEMPORAL[:, None]
        added["muscle"] = len(idx)
    if rng.random() < P_POP:
        ch = int(rng.integers(len(XY)))
        idx = _events(n, 0.05, rng)
        t = np.arange(round(1.5 * SFREQ)) / SFREQ
        _add_bumps(x[ch], idx, np.exp(-t / 0.3).astype(np.float32),
                   rng.uniform(-500, 500, len(idx)).astype(np.float32))  # fmt: skip
        added["pops"] = len(idx)
    if rng.random() < P_FLAT_CHANNEL:
        ch = int(rng.integers(len(XY)))
        x[ch] = x[ch] * 0.01 + rng.normal(0, 0.5)
        added["flat_channel"] = ch
    if rng.random() < P_NOISY_CHANNEL:
        ch = int(rng.integers(len(XY)))
        x[ch] += rng.standard_normal(n).astype(np.float32) * rng.uniform(30, 100)
        added["noisy_channel"] = ch
    if rng.random() < P_LINE_NOISE:
        t = np.arange(n, dtype=np.float32) / np.float32(SFREQ)
        line = np.sin(2 * np.pi * LINE_HZ * t + rng.uniform(0, 2 * np.pi)).astype(np.float32)
        gains = rng.uniform(0.3, 1.0, len(XY)).astype(np.float32)
        x += np.outer((gains * np.exp(rng.normal(np.log(8), 1.0))).astype(np.float32), line)
        added["line_noise"] = 1
    if rng.random() < P_EKG_LEAK:
        # EKG artifact: sharp, periodic (the heart rate) and widespread, often left-sided;
        # up to ~20 % of the EKG channel in the worst electrodes
        gains = rng.uniform(0.0, rng.uniform(0.03, 0.2), len(XY))
        gains = (gains * np.where(XY[:, 0] < 0.1, 1.0, rng.uniform(0.0, 1.0))).astype(np.float32)
        x += np.outer(gains, ekg_sig)
        added["ekg_leak"] = 1
    return added


def nan_stretch(x: np.ndarray, rng: np.random.Generator) -> int:
    """With probability P_NAN_STRETCH set a stretch of all channels of ``x`` to NaN; its length."""
    if rng.random() >= P_NAN_STRETCH:
        return 0
    n = x.shape[1]
    length = min(n // 4, round(rng.uniform(*NAN_STRETCH_S) * SFREQ))
    start = int(rng.integers(0, max(1, n - length)))
    x[:, start : start + length] = np.nan
    return length
