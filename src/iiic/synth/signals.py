"""Background EEG of the synthetic twin: electrode geometry, per-patient traits, 1/f background.

The background is spatially correlated coloured noise: independent Gaussian sources with a
``1/f^beta`` spectrum plus state-dependent delta/theta slowing and a posterior alpha rhythm are
mixed through the Cholesky factor of an exponential covariance over approximate 2-D 10-20
electrode positions, so nearby electrodes are more alike than distant ones; a slow log-normal
amplitude modulation per electrode makes it non-Gaussian, and a slow (< 0.3 Hz) mostly common
drift is added, as in real referential recordings. Per-patient traits (amplitude, drift,
spectral slope, dominant rhythm, slowing, left/right asymmetry, DC offsets) make patients differ. Long signals are generated in chunks joined by a short cross-fade, so memory
stays bounded for any length.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import scipy.fft

from iiic import constants

N_ELECTRODES = len(constants.ELECTRODES)
POSITIONS: dict[str, tuple[float, float]] = {
    "Fp1": (-0.3, 0.95), "F3": (-0.4, 0.5), "C3": (-0.5, 0.0), "P3": (-0.4, -0.5),
    "F7": (-0.8, 0.6), "T3": (-0.95, 0.0), "T5": (-0.8, -0.6), "O1": (-0.3, -0.95),
    "Fz": (0.0, 0.5), "Cz": (0.0, 0.0), "Pz": (0.0, -0.5),
    "Fp2": (0.3, 0.95), "F4": (0.4, 0.5), "C4": (0.5, 0.0), "P4": (0.4, -0.5),
    "F8": (0.8, 0.6), "T4": (0.95, 0.0), "T6": (0.8, -0.6), "O2": (0.3, -0.95),
}  # fmt: skip
"""Approximate 2-D scalp positions (x: left -1 .. right +1, y: back -1 .. front +1)."""
XY = np.array([POSITIONS[e] for e in constants.ELECTRODES])  # (19, 2)
MIRROR = np.array([int(np.argmin(np.linalg.norm(XY - (-x, y), axis=1))) for x, y in XY])
"""Index of each electrode's mirror image over the midline (midline electrodes: themselves)."""
_LEFT = np.flatnonzero(XY[:, 0] < 0)
SPATIAL_LENGTH = 0.9
"""Correlation length of the background over the unit head, in head radii."""
SPATIAL_NUGGET = 0.05
"""Share of each electrode's background variance that is independent of its neighbours."""
COMMON_MODE = 0.6
"""Share of the background variance common to all electrodes (the shared reference): high in
referential recordings, cancelled by the bipolar montage."""
CHUNK_S = 300.0
"""Background is generated in chunks of this length, s (bounded memory)."""
CROSSFADE_S = 2.0
"""Overlap between consecutive background chunks, s."""
HIGHPASS_HZ = 0.3
"""Below this frequency the background spectrum is rolled off, Hz."""
MOD_SD = 0.35
"""Log-sd of the slow amplitude modulation of each electrode's background: real EEG is not
Gaussian (bursts of larger waves), which shows as the kurtosis of its first difference."""
MOD_KNOT_S = 1.0
"""The modulation takes one random value per electrode every this many seconds."""
DRIFT_HZ = 0.3
"""Referential slow drift (electrode potentials, sweat, movement) lies below this frequency, Hz;
it is what makes real referential amplitudes several times the bipolar ones."""


@dataclass(frozen=True)
class PatientTraits:
    """Per-patient parameters of the synthetic background and patterns (units in names)."""

    bg_rms_uv: float
    drift_uv: float
    pattern_uv: float
    slope_beta: float
    slowing: float
    alpha_hz: float
    alpha_rel: float
    asym_left_gain: float
    dc_uv: np.ndarray  # (19,)
    side: int  # 0 = left, 1 = right: the hemisphere of lateralized patterns
    pd_rate_hz: float
    rda_hz: float
    triphasic: bool
    ekg_uv: float
    heart_rate_hz: float
    beta_rel: float = 0.0
    beta_hz: float = 18.0
    bg_symmetry: float = 0.5
    pd_width_s: float = 0.025
    pd_phases: int = 2
    pd_slow_wave: float = 0.4
    lateral_spread: float = 0.2
    field_width: float = 0.4
    sz_kind: str = "focal"


def sample_traits(rng: np.random.Generator) -> PatientTraits:
    """Draw one patient's traits: background (:func:`sample_background`) + pattern style
    (:func:`sample_style`).

    Domain randomisation: what the label does not depend on varies widely — amplitudes
    (background 5-50 µV, patterns 1.6-11x the background, median ``PATTERN_SNR``), spectral slope, alpha and medication
    beta, discharge width (spikes of 12 ms to blunt waves of 70 ms half-width), number of phases
    and after-going slow wave, how far a lateralized field spreads over the other hemisphere
    (unilateral to bilateral-asymmetric, ACNS 2021), field size, and the kind of seizure.
    """
    background = sample_background(rng)
    return PatientTraits(**background, **sample_style(rng, background["bg_rms_uv"]))


def sample_background(rng: np.random.Generator) -> dict:
    """The patient's background and recording: amplitude, spectrum, drift, asymmetry, EKG."""
    return {
        "bg_rms_uv": float(np.exp(rng.normal(np.log(15.0), 0.55))),
        "drift_uv": float(np.exp(rng.normal(np.log(25.0), 1.0))),
        "slope_beta": float(rng.uniform(1.0, 2.6)),
        "slowing": float(rng.uniform(0.2, 2.0)),
        "alpha_hz": float(rng.uniform(6.5, 11.5)),
        "alpha_rel": float(rng.uniform(0.0, 0.6)),
        "asym_left_gain": float(np.exp(rng.normal(0.0, 0.08))),
        "dc_uv": rng.normal(0.0, 15.0, N_ELECTRODES),
        "side": int(rng.integers(2)),
        "ekg_uv": float(np.exp(rng.normal(np.log(250.0), 0.8))),
        "heart_rate_hz": float(rng.uniform(1.0, 1.8)),
        "beta_rel": float(rng.uniform(0.1, 0.7) if rng.random() < 0.35 else rng.uniform(0, 0.1)),
        "beta_hz": float(rng.uniform(14.0, 24.0)),
        # real backgrounds are bilaterally alike (bipolar homologous chains correlate ~0.3-0.4
        # in the ICU segments, ~0.65 in the healthy recording): a share of each right
        # electrode's activity is its left mirror's
        "bg_symmetry": float(rng.uniform(0.2, 0.85)),
    }


def sample_style(rng: np.random.Generator, bg_rms_uv: float) -> dict:
    """How the patterns look: size relative to the background ``bg_rms_uv`` µV, discharge rate
    and waveform, delta frequency, field spread and size, seizure kind."""
    triphasic = bool(rng.random() < 0.35)
    return {
        # patterns must stand out of the background to be seen (and voted for): their size is
        # set relative to it, so absolute amplitudes vary together
        "pattern_uv": float(
            bg_rms_uv * PATTERN_SNR * np.exp(np.clip(rng.normal(0, 0.45), -0.9, 1.0))
        ),
        "pd_rate_hz": float(
            np.exp(rng.uniform(np.log(0.5), np.log(2.5)))
        ),  # ACNS: > 2.5 Hz = seizure
        "rda_hz": float(rng.uniform(0.7, 3.5)),
        "triphasic": triphasic,
        "pd_width_s": float(np.exp(rng.uniform(np.log(0.012), np.log(0.07)))),
        "pd_phases": 3 if triphasic else int(rng.choice([1, 2, 2, 3])),
        "pd_slow_wave": float(rng.uniform(0.0, 0.9)),
        "lateral_spread": float(rng.uniform(0.0, 0.4)),
        "field_width": float(rng.uniform(0.25, 0.6)),
        "sz_kind": str(rng.choice(SEIZURE_KINDS, p=SEIZURE_KIND_P)),
    }


def restyle(traits: PatientTraits, rng: np.random.Generator) -> PatientTraits:
    """``traits`` with a new pattern style (:func:`sample_style`): each EEG of the twin draws its
    own, so a small twin shows the model many discharge shapes, fields and rates."""
    return dataclasses.replace(traits, **sample_style(rng, traits.bg_rms_uv))


def spatial_cholesky() -> np.ndarray:
    """Cholesky factor (19, 19) of the exponential-distance covariance of the electrodes."""
    d = np.linalg.norm(XY[:, None, :] - XY[None, :, :], axis=-1)
    local = 1 - SPATIAL_NUGGET - COMMON_MODE
    cov = COMMON_MODE + local * np.exp(-d / SPATIAL_LENGTH) + SPATIAL_NUGGET * np.eye(N_ELECTRODES)
    return np.linalg.cholesky(cov).astype(np.float32)


PATTERN_SNR = 4.0
"""Median ratio of a patient's ``pattern_uv`` to its ``bg_rms_uv`` (drawn between about 1.6x and
11x: real idealized patterns are often salient — GPDs standing out in every chain, massive
seizures — while proto patterns are barely above the background)."""
SEIZURE_KINDS = ("focal", "generalized", "rhythmic")
"""Seizure types of the twin: focal onset that spreads and slows; generalized spike-and-wave
(2.5-4 Hz); focal rhythmic theta/alpha that evolves (see ``patterns.seizure``)."""
SEIZURE_KIND_P = (0.45, 0.3, 0.25)

_CHOL = spatial_cholesky()
_OCCIPITAL = np.exp(-((XY[:, 1] + 0.95) ** 2) / 0.3).astype(np.float32)
_FRONTAL = np.exp(-((XY[:, 1] - 0.8) ** 2) / 0.5).astype(np.float32)


def _spectrum(freqs: np.ndarray, traits: PatientTraits) -> tuple[np.ndarray, np.ndarray]:
    """Amplitude spectra (broadband, alpha) on ``freqs`` Hz, normalised to unit variance."""
    f = np.maximum(freqs, 1e-3)
    broad = (f + 0.5) ** (-traits.slope_beta / 2)
    broad = broad * (1 + 1.5 * traits.slowing * np.exp(-((f - 1.5) ** 2) / 1.5))
    broad = broad * (1 + traits.slowing * np.exp(-((f - 5.5) ** 2) / 3.0))
    broad = broad / (1 + (HIGHPASS_HZ / f) ** 4)
    alpha = np.exp(-((f - traits.alpha_hz) ** 2) / 1.0)
    # medication (benzodiazepine / propofol) beta: a broad 14-24 Hz hump on the broadband part
    broad = broad * (1 + traits.beta_rel * 8 * np.exp(-((f - traits.beta_hz) ** 2) / 8.0))
    out = []
    for s in (broad, alpha):
        power = float(np.sum(s**2))
        out.append((s / np.sqrt(max(power, 1e-12))).astype(np.float32))
    return out[0], out[1]


def _background_chunk(n: int, traits: PatientTraits, rng: np.random.Generator) -> np.ndarray:
    """One chunk of background, (19, n) µV without DC offsets."""
    freqs = np.fft.rfftfreq(n, 1 / constants.SFREQ_HZ)
    broad, alpha = _spectrum(freqs, traits)
    n_f = len(freqs)
    z = rng.standard_normal((N_ELECTRODES + 1, 2 * n_f), dtype=np.float32).view(np.complex64)
    c = np.float32(traits.bg_symmetry)  # correlation of homologous innovations (unit variance)
    z[MIRROR[_LEFT]] = c * z[_LEFT] + np.sqrt(1 - c * c) * z[MIRROR[_LEFT]]
    spec = _CHOL @ (z[:N_ELECTRODES] * broad)
    spec += np.outer(traits.alpha_rel * _OCCIPITAL, z[N_ELECTRODES] * alpha)
    # the irfft of a unit-power spectrum of complex normals has a standard deviation of 2/n
    x = scipy.fft.irfft(spec, n=n, axis=-1) * np.float32(n / 2 * traits.bg_rms_uv)
    x *= _modulation(n, rng)
    x += _drift(n, traits, rng)
    return x.astype(np.float32, copy=False)


def _modulation(n: int, rng: np.random.Generator) -> np.ndarray:
    """Slow log-normal amplitude modulation (19, n), mean square about 1 (exactly 1 at knots)."""
    step = round(MOD_KNOT_S * constants.SFREQ_HZ)
    knots = rng.standard_normal((N_ELECTRODES, n // step + 2)).astype(np.float32)
    # linear interpolation between knots (one random value per electrode and knot)
    pos = np.arange(n, dtype=np.float32) / step
    i = pos.astype(np.int64)
    w = pos - i
    z = knots[:, i] * (1 - w) + knots[:, i + 1] * w
    return np.exp(MOD_SD * z - MOD_SD**2).astype(np.float32)


def _drift(n: int, traits: PatientTraits, rng: np.random.Generator) -> np.ndarray:
    """Referential slow drift (19, n) µV below DRIFT_HZ, mostly common to all electrodes."""
    n_f = n // 2 + 1
    freqs = np.fft.rfftfreq(n, 1 / constants.SFREQ_HZ)
    shape = (freqs <= DRIFT_HZ) & (freqs > 0)
    if not shape.any():
        return np.zeros((N_ELECTRODES, n), np.float32)
    z = rng.standard_normal((2, 2 * n_f)).view(np.complex128) * shape
    common = scipy.fft.irfft(z[0], n=n)
    local = scipy.fft.irfft(z[1], n=n)
    norm = np.float32(traits.drift_uv / max(float(np.std(common)), 1e-12))
    gains = rng.uniform(0.3, 1.0, N_ELECTRODES)
    local_gains = rng.normal(0.0, 0.3, N_ELECTRODES)
    return (np.outer(gains, common) + np.outer(local_gains, local)).astype(np.float32) * norm


def background(n_times: int, traits: PatientTraits, rng: np.random.Generator) -> np.ndarray:
    """Background EEG of ``n_times`` samples at ``constants.SFREQ_HZ``.

    Returns
    -------
    ndarray, shape (19, n_times), float32, µV
        Electrodes in ``constants.ELECTRODES`` order, including the patient's DC offsets and
        left/right gain asymmetry.
    """
    chunk = round(CHUNK_S * constants.SFREQ_HZ)
    fade = round(CROSSFADE_S * constants.SFREQ_HZ)
    if n_times <= chunk:
        out = _background_chunk(max(n_times, 2), traits, rng)[:, :n_times]
    else:
        out = np.empty((N_ELECTRODES, n_times), np.float32)
        ramp = np.sin(np.linspace(0, np.pi / 2, fade, dtype=np.float32)) ** 2
        pos, prev_tail = 0, None
        while pos < n_times:
            n = min(chunk + fade, n_times - pos + fade)
            x = _background_chunk(n, traits, rng)
            if prev_tail is not None:
                # equal-power cross-fade keeps the variance constant through the join
                x[:, :fade] = np.sqrt(ramp) * x[:, :fade] + np.sqrt(1 - ramp) * prev_tail
            take = min(n - fade, n_times - pos)
            out[:, pos : pos + take] = x[:, :take]
            prev_tail = x[:, take : take + fade] if take + fade <= n else None
            pos += take
    left = XY[:, 0] < 0
    out[left] *= np.float32(traits.asym_left_gain)
    out += traits.dc_uv[:, None].astype(np.float32)
    return out
