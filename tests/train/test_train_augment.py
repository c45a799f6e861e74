"""Augmentations: shapes kept, the flip moves a left-only signal right, p=0 is identity, seeding."""

from __future__ import annotations

import pickle

import numpy as np
import pydantic
import pytest
import torch

from iiic import constants as C
from iiic.signal import montage
from iiic.train.augment import AugmentConfig, build_augment, mix, mixup, mixup_params

N = 2000
OFF = dict(p_flip=0.0)
ALL_ON = dict(
    p_flip=1.0, p_time_shift=1.0, p_time_reverse=1.0, p_channel_dropout=1.0,
    p_bandpass_jitter=1.0, p_amplitude_scale=1.0,
)  # fmt: skip


def _window(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 40, (len(C.EEG_CHANNELS), N)).astype(np.float32)


def _left_only() -> np.ndarray:
    x = np.zeros((len(C.EEG_CHANNELS), N), dtype=np.float32)
    for name in ("Fp1", "F3", "C3", "T3", "O1"):
        x[C.EEG_CHANNELS.index(name)] = _window()[0]
    return x


def _chain_energy(x_ref: np.ndarray, chains: tuple[str, ...]) -> float:
    names = montage.channel_names()
    rows = [names.index(f"{a}-{b}") for c in chains for a, b in C.CHAINS[c]]
    return float(np.square(montage.bipolar(x_ref)[rows]).sum())


def test_p_zero_is_identity():
    x = _window()
    y = build_augment(AugmentConfig(**OFF))(x, np.random.default_rng(0))
    np.testing.assert_array_equal(y, x)
    assert y is not x


def test_every_augmentation_keeps_shape_and_dtype():
    aug = build_augment(AugmentConfig(**ALL_ON))
    x = _window()
    x[3, 100:200] = np.nan  # NaN stretches survive for preprocess to fill and count
    y = aug(x, np.random.default_rng(3))
    assert y.shape == x.shape and y.dtype == np.float32 and y.flags.c_contiguous
    assert np.isnan(y).sum() == 100
    assert not np.allclose(np.nan_to_num(y), np.nan_to_num(x))


def test_flip_moves_a_left_only_signal_to_the_right_chains():
    x = _left_only()
    assert _chain_energy(x, ("RL", "RP")) == 0.0 and _chain_energy(x, ("LL", "LP")) > 0
    y = build_augment(AugmentConfig(p_flip=1.0))(x, np.random.default_rng(0))
    assert _chain_energy(y, ("LL", "LP")) == 0.0
    assert _chain_energy(y, ("RL", "RP")) == pytest.approx(_chain_energy(x, ("LL", "LP")))


def test_time_reverse_and_shift():
    x = _window()
    rev = build_augment(AugmentConfig(p_flip=0.0, p_time_reverse=1.0))(x, np.random.default_rng(0))
    np.testing.assert_array_equal(rev, x[:, ::-1])
    cfg = AugmentConfig(p_flip=0.0, p_time_shift=1.0, max_shift_s=2.0)
    shifted = build_augment(cfg)(x, np.random.default_rng(5))
    shifts = [k for k in range(-400, 401) if np.array_equal(np.roll(x, k, axis=1), shifted)]
    assert len(shifts) == 1 and shifts[0] != 0  # a circular shift within ±2 s at 200 Hz
    zero = build_augment(cfg.model_copy(update={"shift_mode": "zero"}))(x, np.random.default_rng(5))
    k = shifts[0]
    vacated = zero[:, :k] if k > 0 else zero[:, k:]
    np.testing.assert_array_equal(vacated, 0.0)


def test_channel_dropout_zeroes_scalp_electrodes_only():
    x = _window()
    cfg = AugmentConfig(p_flip=0.0, p_channel_dropout=1.0, max_dropout_channels=3)
    for seed in range(5):
        y = build_augment(cfg)(x, np.random.default_rng(seed))
        dropped = np.flatnonzero(~y.any(axis=1))
        assert 1 <= dropped.size <= 3 and C.EKG_INDEX not in dropped
        kept = np.setdiff1d(np.arange(len(C.EEG_CHANNELS)), dropped)
        np.testing.assert_array_equal(y[kept], x[kept])


def test_bandpass_jitter_removes_out_of_band_power():
    t = np.arange(N) / C.SFREQ_HZ
    x = np.tile(np.sin(2 * np.pi * 80.0 * t).astype(np.float32), (len(C.EEG_CHANNELS), 1))
    y = build_augment(AugmentConfig(p_flip=0.0, p_bandpass_jitter=1.0))(x, np.random.default_rng(0))
    assert np.abs(y[:, 500:-500]).max() < 0.05  # 80 Hz is above every allowed upper edge (<= 40)


def test_amplitude_scale_stays_in_range():
    x = _window()
    cfg = AugmentConfig(p_flip=0.0, p_amplitude_scale=1.0, amplitude_scale_range=(0.5, 2.0))
    ratio = build_augment(cfg)(x, np.random.default_rng(1)) / x
    assert np.allclose(ratio, ratio[0, 0]) and 0.5 <= ratio[0, 0] <= 2.0


def test_seeded_rng_is_deterministic_and_augment_pickles():
    aug = build_augment(AugmentConfig(**ALL_ON))
    x = _window()
    a = aug(x, np.random.default_rng(42))
    np.testing.assert_array_equal(a, aug(x, np.random.default_rng(42)))
    assert not np.array_equal(a, aug(x, np.random.default_rng(43)))
    clone = pickle.loads(pickle.dumps(aug))  # DataLoader workers receive a copy
    np.testing.assert_array_equal(clone(x, np.random.default_rng(42)), a)


def test_config_validation_names_the_field():
    with pytest.raises(pydantic.ValidationError, match="p_flip"):
        AugmentConfig(p_flip=1.5)
    with pytest.raises(pydantic.ValidationError, match="low_hz_range, high_hz_range"):
        AugmentConfig(low_hz_range=(0.5, 20.0), high_hz_range=(10.0, 30.0))
    with pytest.raises(ValueError, match=r"x_ref: expected shape \(20, n_times\)"):
        build_augment()(np.zeros((2, 20, 100)), np.random.default_rng(0))


@pytest.mark.parametrize(
    "make_rng", [np.random.default_rng, lambda s: torch.Generator().manual_seed(s)]
)
def test_mixup_mixes_inputs_and_targets_with_the_same_weights(make_rng):
    x = torch.randn(8, 3, 50)
    y = torch.softmax(torch.randn(8, 6), dim=1)
    xm, ym = mixup(x, y, alpha=0.4, rng=make_rng(0))
    assert xm.shape == x.shape and ym.shape == y.shape
    torch.testing.assert_close(ym.sum(dim=1), torch.ones(8))
    lam, perm = mixup_params(8, 0.4, _after_p_draw(make_rng(0)))
    torch.testing.assert_close(xm, mix(x, lam, perm))
    torch.testing.assert_close(ym, lam[:, None] * y + (1 - lam[:, None]) * y[perm])
    assert ((lam >= 0) & (lam <= 1)).all() and sorted(perm.tolist()) == list(range(8))
    xm2, _ = mixup(x, y, alpha=0.4, rng=make_rng(0))
    torch.testing.assert_close(xm2, xm)  # seeded → reproducible
    same_x, same_y = mixup(x, y, alpha=0.4, rng=make_rng(0), p=0.0)
    assert same_x is x and same_y is y


def _after_p_draw(rng):
    """The generator state mixup sees after its probability draw."""
    if isinstance(rng, torch.Generator):
        torch.rand(1, generator=rng)
    else:
        rng.random()
    return rng
