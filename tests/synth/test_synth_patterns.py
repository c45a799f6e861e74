"""The six patterns look like their definitions: lateralized, periodic, rhythmic delta, evolving."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.signal

from iiic import constants
from iiic.signal.kaggle_spec import chain_matrix
from iiic.synth.generator import class_strengths, synth_eeg
from iiic.synth.realism import window_features
from iiic.synth.signals import sample_traits

SF = constants.SFREQ_HZ
N = constants.EEG_WINDOW_SAMPLES
LEFT = [i for i, e in enumerate(constants.ELECTRODES) if e in ("Fp1", "F3", "C3", "P3", "F7", "T3", "T5", "O1")]  # fmt: skip
RIGHT = [
    constants.ELECTRODES.index(constants.HEMISPHERE_SWAP[constants.ELECTRODES[i]]) for i in LEFT
]


def _traits(seed: int, **over):
    base = sample_traits(np.random.default_rng(seed))
    fixed = {"bg_rms_uv": 20.0, "pattern_uv": 100.0, "pd_rate_hz": 1.0, "rda_hz": 2.0,
             "asym_left_gain": 1.0, "side": 0}  # fmt: skip
    return dataclasses.replace(base, **{**fixed, **over})


def _window(cls: str, seed: int, share: float = 0.95, n: int = N, **over) -> np.ndarray:
    p = np.full(constants.N_CLASSES, (1 - share) / (constants.N_CLASSES - 1))
    p[constants.CLASSES.index(cls)] = share
    x, _ = synth_eeg(np.array([0.0]), p[None], n, _traits(seed, **over),
                     np.random.default_rng(seed), with_artifacts=False, side=over.get("side", 0),
                     restyle=False)  # fmt: skip
    return x


def _band_power(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    f, p = scipy.signal.welch(x - x.mean(axis=-1, keepdims=True), fs=SF, nperseg=1024, axis=-1)
    return p[..., (f >= lo) & (f < hi)].sum(axis=-1)


@pytest.mark.parametrize("cls", ["lpd", "lrda"])
def test_lateralized_classes_are_one_sided(cls: str) -> None:
    for side, seed in ((0, 1), (1, 2), (0, 3)):
        x = _window(cls, seed, side=side)
        bip = chain_matrix() @ x
        p = _band_power(bip, 0.5, 20.0).reshape(4, 4).mean(axis=1)  # LL, RL, LP, RP
        left, right = p[0] + p[2], p[1] + p[3]
        ratio = left / right if side == 0 else right / left
        assert ratio > 2.0, (cls, side, ratio)


@pytest.mark.parametrize("cls", ["gpd", "grda"])
def test_generalized_classes_are_symmetric(cls: str) -> None:
    for seed in (1, 2, 3):
        x = _window(cls, seed)
        p = _band_power(x[: len(constants.ELECTRODES)], 0.5, 20.0)
        ratio = p[LEFT].sum() / p[RIGHT].sum()
        assert 0.67 < ratio < 1.5, (cls, ratio)


@pytest.mark.parametrize("cls", ["lpd", "gpd"])
def test_periodic_discharges_repeat_at_their_rate(cls: str) -> None:
    rate_hz = 1.25
    x = _window(cls, 4, pd_rate_hz=rate_hz)
    field_max = int(np.argmax(np.abs(x[:19]).max(axis=1)))
    sig = np.abs(np.diff(x[field_max]))  # sharpness envelope: spikes stand out
    sig = sig - sig.mean()
    acf = np.correlate(sig, sig, mode="full")[len(sig) - 1 :]
    acf /= acf[0]
    lags = np.arange(round(0.3 * SF), round(2.5 * SF))
    peak_lag_s = lags[np.argmax(acf[lags])] / SF
    assert peak_lag_s == pytest.approx(1 / rate_hz, rel=0.15)
    assert acf[lags].max() > 0.2


def test_pd_is_sharp_rda_is_not() -> None:
    sharp = {c: np.mean([window_features(_window(c, s))["sharpness"] for s in (1, 2)])
             for c in ("lpd", "gpd", "lrda", "grda")}  # fmt: skip
    assert min(sharp["lpd"], sharp["gpd"]) > 3 * max(sharp["lrda"], sharp["grda"], 0.1)


@pytest.mark.parametrize("cls", ["lrda", "grda"])
def test_rhythmic_delta_has_a_delta_peak(cls: str) -> None:
    x = _window(cls, 5, rda_hz=1.8)
    f, p = scipy.signal.welch(chain_matrix() @ x, fs=SF, nperseg=2048, axis=-1)
    spectrum = p.mean(axis=0)
    band = (f >= 0.5) & (f <= 20)
    peak_hz = f[band][np.argmax(spectrum[band])]
    assert 0.5 <= peak_hz <= 4.0
    assert peak_hz == pytest.approx(1.8, abs=0.4)
    background = _window("other", 5)  # same patient: the pattern adds delta over its field
    assert (
        _band_power(chain_matrix() @ x, 0.5, 4).sum()
        > 1.5 * _band_power(chain_matrix() @ background, 0.5, 4).sum()
    )


def test_seizures_evolve_in_frequency_and_amplitude() -> None:
    x = _window("seizure", 6, n=round(150 * SF))
    bip = chain_matrix() @ x
    step = round(10 * SF)
    dom, amp = [], []
    for s in range(0, bip.shape[1] - step + 1, step):
        f, p = scipy.signal.welch(bip[:, s : s + step], fs=SF, nperseg=1024, axis=-1)
        spec = p.mean(axis=0)
        band = (f >= 1) & (f <= 12)
        dom.append(f[band][np.argmax(spec[band])])
        amp.append(x[:19, s : s + step].std(axis=1).mean())
    assert max(dom) - min(dom) > 1.5, dom  # frequency changes across the event(s)
    assert max(amp) / min(amp) > 1.3, amp  # and amplitude


def test_pattern_strength_follows_its_share() -> None:
    powers = [_band_power(chain_matrix() @ _window("lrda", 7, share=s), 1, 3).sum()
              for s in (0.1, 0.5, 0.95)]  # fmt: skip
    assert powers[0] < powers[1] < powers[2]


def test_class_strengths_follow_window_owners() -> None:
    offsets = np.array([0.0, 10.0, 60.0])
    p = np.zeros((3, 6))
    p[:2, constants.CLASSES.index("lpd")] = 1.0
    p[2, constants.CLASSES.index("other")] = 1.0
    n = round(110 * SF)
    env = class_strengths(offsets, p, n)
    lpd, other = env[constants.CLASSES.index("lpd")], env[constants.CLASSES.index("other")]
    assert lpd[: round(50 * SF)].min() == pytest.approx(1.0)  # first period: LPD throughout
    assert other[round(75 * SF) :].min() == pytest.approx(1.0)  # last window's centre: Other
    assert lpd[round(75 * SF) :].max() == pytest.approx(0.0)


def test_proto_patterns_are_intermittent_full_ones_continuous() -> None:
    from iiic.synth.generator import intermittency

    n = round(600 * SF)
    p = np.zeros((1, constants.N_CLASSES))
    p[0, constants.CLASSES.index("lpd")] = 0.5  # proto: LPD vs Other
    p[0, constants.CLASSES.index("other")] = 0.5
    env = class_strengths(np.array([0.0]), p, n)
    gate = intermittency(env, np.random.default_rng(0))
    on = gate[constants.CLASSES.index("lpd")] > 0.5
    assert 0.35 < on.mean() < 0.9 and (np.diff(on.astype(int)) != 0).sum() > 20
    full = np.zeros_like(p)
    full[0, constants.CLASSES.index("lpd")] = 0.95
    gate = intermittency(class_strengths(np.array([0.0]), full, n), np.random.default_rng(0))
    assert gate[constants.CLASSES.index("lpd")].min() == pytest.approx(1.0)
