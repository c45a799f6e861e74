"""The six IIIC patterns of the twin as spatial fields times source waveforms (ACNS 2021).

- LPD / GPD: sharp bi- or triphasic discharges (~100-300 ms) at nearly regular intervals
  (0.5-3 Hz); lateralized field over one hemisphere vs bilateral synchronous, frontally
  predominant field.
- LRDA / GRDA: rhythmic, sinusoid-like delta (0.5-4 Hz) without inter-discharge intervals; one
  hemisphere (temporal maximum) vs generalized (frontal maximum, "FIRDA").
- Seizure: rhythmic sharp activity (> 2.5 Hz) that evolves within each event: frequency falls
  (e.g. 5 -> 2.5 Hz), amplitude grows, the field spreads from a focal onset to both hemispheres, and fast
  (15-25 Hz) activity rides on it.
- Other: sporadic, irregular discharges that do not qualify as a pattern; heavy artifact bursts
  (``artifact_burst``) in part of it.

Each function returns ``(19, n)`` float32 µV given an envelope ``env`` (n,) in 0..1 (the pattern's
strength over time, derived from the windows' true distributions) and the patient's traits.
"""

from __future__ import annotations

import numpy as np

from iiic import constants
from iiic.synth.signals import MIRROR, XY, PatientTraits

SFREQ = constants.SFREQ_HZ
PD_AMP_X = 2.5
"""Peak of a full-strength periodic discharge at its maximum electrode, x the patient's
``pattern_uv``."""
RDA_AMP_X = 1.5
"""Amplitude of full-strength generalized rhythmic delta, x ``pattern_uv``."""
LRDA_AMP_X = 1.2
"""Amplitude of full-strength lateralized rhythmic delta, x ``pattern_uv``: smaller than GRDA as
in the real segments (10 µV vs 14-24 µV in the bipolar chains), but not as small as they suggest
(at 0.9 a 96-patient model could not tell LRDA from background)."""
SZ_AMP_X = 3.0
"""Amplitude of a full-strength seizure at its peak, x ``pattern_uv``."""
SZ_FAST_X = 0.3
"""Amplitude of the fast (beta) activity of a seizure, x its rhythmic amplitude."""
ARTIFACT_EVERY_S = 120.0
"""Mean time between heavy artifact bursts where they occur, s."""
ARTIFACT_BURST_S = (5.0, 40.0)
"""Length range of one heavy artifact burst, s."""
SPORADIC_RATE_HZ = 0.12
"""Rate of sporadic discharges in 'Other' at full strength, Hz."""
INTERVAL_JITTER = 0.07
"""Relative jitter of periodic-discharge intervals (nearly regular)."""
SPIKE_SHARPNESS = 12.0
"""Concentration of the per-cycle spike of seizure waveforms (larger: narrower spike)."""
PROPAGATION_S = 0.02
"""Largest extra arrival delay of a pattern at one electrode (propagation), s."""
CONTRALATERAL = 0.2
"""Gain of a lateralized field over the other hemisphere (spread through the skull)."""


def _outer(field: np.ndarray, src: np.ndarray) -> np.ndarray:
    """(19,) x (n,) -> (19, n) float32 without a float64 intermediate."""
    return np.outer(np.asarray(field, np.float32), np.asarray(src, np.float32))


def _gauss_field(center_xy: tuple[float, float], width: float) -> np.ndarray:
    d2 = np.sum((XY - np.asarray(center_xy)) ** 2, axis=1)
    return np.exp(-d2 / (2 * width**2)).astype(np.float32)


def lateral_field(
    side: int,
    rng: np.random.Generator,
    temporal: bool = False,
    spread: float = CONTRALATERAL,
    width: float | None = None,
) -> np.ndarray:
    """Field (19,) over one hemisphere (0 left, 1 right): a regional or hemispheric maximum.

    ``spread`` is the gain of the mirror image over the other hemisphere (0: unilateral; up to
    about 0.55: bilateral but clearly higher on one side, which ACNS 2021 still calls
    lateralized); ``width`` the field's size in head radii (regional 0.25 .. hemispheric 0.6).
    """
    sign = -1.0 if side == 0 else 1.0
    x = sign * (rng.uniform(0.7, 0.95) if temporal else rng.uniform(0.3, 0.95))
    y = rng.uniform(-0.7, 0.8)
    width = rng.uniform(0.3, 0.45) if width is None else width * rng.uniform(0.85, 1.15)
    field = _gauss_field((x, y), width) + spread * _gauss_field((-x, y), width)
    field = field * (1 + rng.normal(0, 0.05, len(XY)))
    return (field / field.max()).astype(np.float32)


GENERALIZED_MAXIMA = ("frontal", "diffuse", "posterior")
GENERALIZED_MAXIMA_P = (0.65, 0.25, 0.10)
"""Predominance of generalized patterns (ACNS: frontally predominant is the most common)."""


def generalized_field(rng: np.random.Generator, frontal: float = 0.6) -> np.ndarray:
    """Bilateral, near-symmetric field (19,): frontally predominant (weight ``frontal`` of the
    bifrontal maxima vs a diffuse part), diffuse, or occipitally predominant, drawn with
    GENERALIZED_MAXIMA_P; left/right differ by a few per cent at most."""
    kind = rng.choice(GENERALIZED_MAXIMA, p=GENERALIZED_MAXIMA_P)
    width = rng.uniform(0.3, 0.5)
    y = {"frontal": rng.uniform(0.45, 0.85), "diffuse": 0.0, "posterior": -rng.uniform(0.5, 0.85)}
    y = y[str(kind)]
    front = _gauss_field((-0.4, y), width) + _gauss_field((0.4, y), width)
    diffuse = _gauss_field((0.0, 0.0), rng.uniform(0.7, 1.2))
    share = frontal if kind != "diffuse" else rng.uniform(0.1, 0.4)
    field = share * front / front.max() + (1 - share) * diffuse / diffuse.max()
    field = field * (1 + rng.normal(0, 0.08, len(XY)))
    return (field / field.max()).astype(np.float32)


def discharge_kernel(traits: PatientTraits, rng: np.random.Generator) -> np.ndarray:
    """One discharge waveform (unit peak) in the patient's style, drawn around its traits.

    A main sharp (or blunt) component of half-width ``traits.pd_width_s`` (12-70 ms: spikes,
    sharp waves, blunt waves), with an opposite-polarity phase after it (diphasic), an initial
    small phase before it (triphasic) and an after-going slow wave of relative size
    ``traits.pd_slow_wave``; up to 0.8 s long.
    """
    t = np.arange(round(0.8 * SFREQ)) / SFREQ
    g = lambda mu, sd: np.exp(-((t - mu) ** 2) / (2 * sd**2))  # noqa: E731
    w = traits.pd_width_s * rng.uniform(0.8, 1.25)
    t0 = 0.1 + 2 * w
    k = g(t0, w)
    if traits.pd_phases >= 2:
        k = k - rng.uniform(0.3, 0.9) * g(t0 + 2.2 * w, 1.6 * w)
    if traits.pd_phases >= 3:
        k = k - rng.uniform(0.2, 0.5) * g(t0 - 1.8 * w, 0.8 * w)
    slow_at = t0 + 2 * w + rng.uniform(0.08, 0.2)
    k = k - traits.pd_slow_wave * rng.uniform(0.5, 1.0) * g(slow_at, rng.uniform(0.05, 0.12))
    return (k / np.abs(k).max()).astype(np.float32)


def _train(n: int, times_s: np.ndarray, kernel: np.ndarray, amps: np.ndarray) -> np.ndarray:
    """Sum of ``kernel`` placed at ``times_s`` with amplitudes ``amps`` -> (n,)."""
    out = np.zeros(n + len(kernel), np.float32)
    idx = np.round(times_s * SFREQ).astype(np.int64)
    keep = (idx >= 0) & (idx < n)
    pos = idx[keep][:, None] + np.arange(len(kernel))
    np.add.at(out, pos.ravel(), (amps[keep][:, None] * kernel).ravel())
    return out[:n]


def periodic_times(
    duration_s: float, rate_hz: float, rng: np.random.Generator, jitter: float = INTERVAL_JITTER
) -> np.ndarray:
    """Nearly regular discharge times over ``duration_s`` at ``rate_hz`` (slowly drifting);
    ``jitter`` is the relative sd of the intervals."""
    n = int(duration_s * rate_hz * 1.3) + 2
    drift = 1 + 0.08 * np.sin(2 * np.pi * np.arange(n) / max(n, 1) * rng.uniform(0.5, 2))
    intervals = drift / rate_hz * (1 + jitter * rng.standard_normal(n))
    intervals = np.maximum(intervals, 0.3 / rate_hz)
    t = rng.uniform(0, 1 / rate_hz) + np.concatenate([[0.0], np.cumsum(intervals)[:-1]])
    return t[t < duration_s]


def uneven(field: np.ndarray, rng: np.random.Generator, *,
           symmetric: bool = False) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """A real field is not a smooth surface: per-electrode gains (log-sd drawn in 0.1-0.45) and
    arrival delays (0 to 3-20 ms, s) around ``field`` (19,). This is why a broad generalized
    pattern shows in most bipolar chains instead of cancelling between neighbouring electrodes
    (real GPD and GRDA segments: median chain power about half the largest). ``symmetric``: the
    right hemisphere repeats the left one's irregularities (up to a third of their size), as a
    bisynchronous, symmetric generalized pattern does (ACNS)."""
    sd, late = rng.uniform(0.1, 0.45), rng.uniform(0.003, PROPAGATION_S)
    log_gain, delays = rng.normal(0, sd, len(field)), rng.uniform(0, late, len(field))
    if symmetric:
        left = XY[:, 0] < 0
        log_gain[MIRROR[left]] = log_gain[left] + rng.normal(0, sd / 3, left.sum())
        delays[MIRROR[left]] = delays[left] + rng.uniform(0, late / 3, left.sum())
    return (field * np.exp(log_gain)).astype(np.float32), delays


def _delayed(field: np.ndarray, src: np.ndarray, delays: np.ndarray) -> np.ndarray:
    """(19, n): ``field[e] * src`` shifted later by ``delays[e]`` samples (>= 0)."""
    out = np.zeros((len(field), len(src)), np.float32)
    for e, (gain, d) in enumerate(zip(field, delays, strict=True)):
        out[e, d:] = gain * src[: len(src) - d]
    return out


def periodic_discharges(
    env: np.ndarray,
    traits: PatientTraits,
    field: np.ndarray,
    rng: np.random.Generator,
    *,
    lag_s: float = 0.0,
    symmetric: bool = False,
) -> np.ndarray:
    """LPD or GPD: ``field`` (19,) times a regular discharge train scaled by ``env`` (n,).

    Amplitude, rate, interval jitter and waveform vary around the patient's traits. ``lag_s``
    delays the discharge from the front to the back of the head (the anterior-posterior lag of
    triphasic waves, tens of ms). Every electrode also sees the discharge a few ms earlier or
    later (propagation, up to ``PROPAGATION_S``) and somewhat larger or smaller: a real field is
    not a smooth surface, which is why a broad generalized discharge shows in every bipolar chain
    instead of cancelling between neighbouring electrodes.
    """
    n = len(env)
    # real periodic discharges are 'nearly' regular: intervals and sizes vary from one discharge
    # to the next (the real LPD/GPD segments have weaker autocorrelation peaks than a metronome)
    jitter = rng.uniform(0.04, 0.15)
    times = periodic_times(n / SFREQ, traits.pd_rate_hz * rng.uniform(0.85, 1.15), rng, jitter)
    idx = np.minimum((times * SFREQ).astype(np.int64), n - 1)
    amps = env[idx] * np.exp(rng.uniform(0.05, 0.35) * rng.standard_normal(len(times)))
    src = _train(n, times, discharge_kernel(traits, rng), amps.astype(np.float32))
    scale = PD_AMP_X * traits.pattern_uv * rng.uniform(0.7, 1.4)
    gains, delay_s = uneven(field, rng, symmetric=symmetric)
    delay_s = delay_s + (XY[:, 1].max() - XY[:, 1]) / 2 * lag_s
    return _delayed(gains * scale, src, np.round(delay_s * SFREQ).astype(np.int64))


def rhythmic_delta(
    env: np.ndarray,
    traits: PatientTraits,
    field: np.ndarray,
    rng: np.random.Generator,
    *,
    amp_x: float = RDA_AMP_X,
    wander: float = 0.08,
    min_mod: float = 0.4,
    symmetric: bool = False,
) -> np.ndarray:
    """LRDA or GRDA: sinusoid-like delta at the patient's frequency x ``env``.

    ``wander`` is the relative sd of the frequency (one value per 0.5 s), ``min_mod`` the lowest
    amplitude of its slow modulation (one value per 2 s): GRDA (often FIRDA) is more regular than
    LRDA, whose waves vary in shape and size. The wave shape ranges from sinusoidal to sharply
    contoured (a harmonic of random size and phase).
    """
    n = len(env)
    f0 = min(traits.rda_hz * rng.uniform(0.85, 1.15), 4.0)
    knots = np.arange(n // 100 + 2) * 100  # one random value per 0.5 s
    freq = f0 * (1 + np.interp(np.arange(n), knots, rng.normal(0, wander, len(knots))))
    phase = 2 * np.pi * np.cumsum(freq) / SFREQ + rng.uniform(0, 2 * np.pi)
    harmonic = rng.uniform(0.0, 0.5)  # sinusoidal .. sharply contoured
    wave = np.sin(phase) + harmonic * np.sin(2 * phase + rng.uniform(0, 2 * np.pi))
    mod = np.interp(np.arange(n), knots[::4], rng.uniform(min_mod, 1.0, len(knots[::4])))
    src = (wave * mod * env).astype(np.float32)
    gains, delay_s = uneven(field, rng, symmetric=symmetric)
    scale = amp_x * traits.pattern_uv * rng.uniform(0.7, 1.4)
    return _delayed(gains * scale, src, np.round(delay_s * SFREQ).astype(np.int64))


def seizure(env: np.ndarray, traits: PatientTraits, rng: np.random.Generator) -> np.ndarray:
    """Evolving seizures: events of 30-120 s whose frequency, amplitude and field evolve.

    ``traits.sz_kind`` sets the type: "focal" (rhythmic sharp activity from a focal onset that
    spreads to both hemispheres while slowing, e.g. 5 -> 1.5 Hz), "generalized" (generalized
    spike-and-wave at 2.8-4 Hz, slowing a little), "rhythmic" (focal rhythmic theta/alpha,
    5-8 Hz, that grows and slows). Events stay above ~2.2-3 Hz: slower rhythmic discharges
    without evolution are periodic discharges or rhythmic delta by the ACNS definitions.
    """
    n = len(env)
    t = np.arange(n) / SFREQ
    u = np.zeros(n, np.float32)  # position within the current event, 0..1
    start = -rng.uniform(0, 40)
    kind = traits.sz_kind
    # start and end frequency of each event, Hz: ACNS 2021 calls rhythmic discharges a seizure
    # when they average > 2.5 Hz (or evolve), so events stay above ~2.5 Hz while they slow down;
    # generalized spike-and-wave keeps its rate
    f_hi = {"focal": rng.uniform(3.5, 6.0), "generalized": rng.uniform(2.8, 4.0),
            "rhythmic": rng.uniform(5.0, 8.0)}[kind]  # fmt: skip
    f_lo = {"focal": rng.uniform(2.2, 3.0), "generalized": f_hi * rng.uniform(0.75, 0.95),
            "rhythmic": rng.uniform(2.8, 4.0)}[kind]  # fmt: skip
    while start < t[-1]:
        dur = rng.uniform(30, 120)
        sel = (t >= start) & (t < start + dur)
        u[sel] = (t[sel] - start) / dur
        start += dur + rng.uniform(0, 3)
    freq = f_hi + (f_lo - f_hi) * u
    phase = 2 * np.pi * np.cumsum(freq) / SFREQ
    wave = np.sin(phase) + 0.3 * np.sin(2 * phase + 1.2) + 0.1 * np.sin(3 * phase + 0.4)
    spike = np.exp(SPIKE_SHARPNESS * (np.cos(phase) - 1))  # one sharp spike per cycle
    spike_share = {"focal": rng.uniform(0.2, 0.8), "generalized": rng.uniform(0.6, 0.9),
                   "rhythmic": rng.uniform(0.0, 0.3)}[kind]  # fmt: skip
    wave = (1 - spike_share) * wave + spike_share * 2.5 * (spike - spike.mean())
    amp = (0.4 + 1.0 * u) * np.minimum(1.0, (1 - u) * 12 + 0.3)
    src = (wave * amp * env).astype(np.float32)
    src += SZ_FAST_X * rng.uniform(0.2, 1.0) * env * _fast_activity(n, rng)
    scale = SZ_AMP_X * traits.pattern_uv * rng.uniform(0.7, 1.6)
    gen = generalized_field(rng, frontal=rng.uniform(0.3, 0.8))
    if kind == "generalized":
        delays = np.round((XY[:, 1].max() - XY[:, 1]) / 2 * rng.uniform(0, 0.03) * SFREQ)
        return _delayed(gen * scale * 1.3, src, delays.astype(np.int64))
    spread = np.clip((u - 0.15) / 0.4, 0, 1).astype(np.float32)
    if kind == "rhythmic":
        spread = spread * rng.uniform(0.0, 0.6)
    side = traits.side if rng.random() < 0.8 else 1 - traits.side
    focal = lateral_field(side, rng, spread=rng.uniform(0.0, 0.4), width=traits.field_width)
    out = _outer(focal * scale, src * (1 - spread))
    out += _outer(gen * scale, src * spread)
    return out.astype(np.float32)


def _fast_activity(n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-sd beta-range noise (n,) (15-25 Hz): the fast activity riding on many seizures."""
    f = np.fft.rfftfreq(n, 1 / SFREQ)
    spec = (rng.standard_normal(len(f)) + 1j * rng.standard_normal(len(f))) * (
        (f >= 15) & (f <= 25)
    )
    x = np.fft.irfft(spec, n=n)
    return (x / max(float(x.std()), 1e-12)).astype(np.float32)


def artifact_burst(env: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Heavy artifact bursts (19, n) µV under ``env``: broadband muscle / electrode noise of
    tens to hundreds of µV over many channels, lasting ARTIFACT_BURST_S, the way
    artifact-dominated windows of 'Other' look."""
    n = len(env)
    gate = np.zeros(n, np.float32)
    n_events = max(1, rng.poisson(n / SFREQ / ARTIFACT_EVERY_S))
    for _ in range(n_events):
        start = int(rng.integers(0, n))
        gate[start : start + round(rng.uniform(*ARTIFACT_BURST_S) * SFREQ)] = 1.0
    gains = np.exp(rng.normal(np.log(rng.uniform(40, 400)), 0.5, len(XY))).astype(np.float32)
    # first difference of white noise: power rising with frequency, like muscle
    noise = np.diff(rng.standard_normal((len(XY), n + 1)).astype(np.float32), axis=1)
    return noise * (gate * env).astype(np.float32) * gains[:, None]


def sporadic(env: np.ndarray, traits: PatientTraits, rng: np.random.Generator) -> np.ndarray:
    """'Other': irregular sporadic discharges (Poisson) at a few random locations x ``env``."""
    n = len(env)
    out = np.zeros((len(XY), n), np.float32)
    rate = SPORADIC_RATE_HZ * rng.uniform(0.2, 1.5)
    for _ in range(3):
        k = rng.poisson(rate / 3 * n / SFREQ)
        times = np.sort(rng.uniform(0, n / SFREQ, k))
        idx = np.minimum((times * SFREQ).astype(np.int64), n - 1)
        amps = (env[idx] * rng.uniform(0.5, 1.2, k)).astype(np.float32)
        src = _train(n, times, discharge_kernel(traits, rng), amps)
        field = lateral_field(int(rng.integers(2)), rng, spread=rng.uniform(0.0, 0.5))
        out += _outer(field * (PD_AMP_X * traits.pattern_uv), src)
    return out
