"""``morph``: its fixed features measure what defines the IIIC classes, and nothing of scale."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iiic import constants
from iiic.models import create_model
from iiic.models.morph import FEATURE_NAMES, MorphologyFeatures
from iiic.signal.preprocess import PreprocessConfig, preprocess
from iiic.synth.generator import synth_eeg
from iiic.synth.signals import sample_traits

CFG = PreprocessConfig(central=True, bandpass_hz=(0.5, 20.0), downsample=5)  # 40 Hz


def _features(cls: str, seed: int, **traits) -> dict[str, float]:
    import dataclasses

    rng = np.random.default_rng(seed)
    p = np.full(constants.N_CLASSES, 0.01)
    p[constants.CLASSES.index(cls)] = 0.95
    base = dataclasses.replace(sample_traits(rng), **traits)
    x, _ = synth_eeg(np.array([0.0]), (p / p.sum())[None], constants.EEG_WINDOW_SAMPLES, base,
                     rng, with_artifacts=False, restyle=False)  # fmt: skip
    feats = MorphologyFeatures(CFG.n_times(), CFG.sfreq_out_hz)
    with torch.no_grad():
        named = feats.named(torch.from_numpy(preprocess(x[None], CFG)))
    return {k: float(v[0]) for k, v in named.items()}


def test_feature_names_match_the_output() -> None:
    feats = MorphologyFeatures(CFG.n_times(), CFG.sfreq_out_hz)
    out = feats(torch.randn(2, CFG.n_chans, CFG.n_times()))
    assert out.shape == (2, len(FEATURE_NAMES)) and torch.isfinite(out).all()
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)


def test_model_ignores_the_recording_gain_and_the_mirror() -> None:
    model = create_model("morph", n_chans=CFG.n_chans, n_times=CFG.n_times(),
                         sfreq_hz=CFG.sfreq_out_hz).eval()  # fmt: skip
    x = torch.randn(3, CFG.n_chans, CFG.n_times())
    with torch.no_grad():
        ref = model(x)
        assert torch.allclose(ref, model(0.2 * x), atol=1e-4)
        assert torch.allclose(ref, model(5.0 * x), atol=1e-4)


def test_features_see_the_definitions() -> None:
    """Lateralized vs generalized, the discharge rate, rhythmic delta, on twin windows (means
    over 4 patients: the twin draws field size, spread and waveform at random)."""

    def mean(cls: str, **traits) -> dict[str, float]:
        runs = [_features(cls, seed, **traits) for seed in range(1, 5)]
        return {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}

    lpd = mean("lpd", pd_rate_hz=1.25, lateral_spread=0.1)
    gpd = mean("gpd", pd_rate_hz=1.25)
    lrda = mean("lrda", rda_hz=1.5, lateral_spread=0.1)
    other = mean("other")
    assert lpd["lateral_mean"] > 3 * gpd["lateral_mean"]
    assert lrda["lateral_delta_mean"] > 3 * other["lateral_delta_mean"]
    for pd in (lpd, gpd):
        assert pd["periodic_rate_hz"] == pytest.approx(1.25, rel=0.15)
        assert pd["periodicity_hemisphere_max"] > other["periodicity_hemisphere_max"]
    assert lrda["delta_peak_max"] > 1.5 * other["delta_peak_max"]


def test_a_10_s_window_has_every_feature() -> None:
    """morph on the central 10 s (``crop_s: 10``, 400 samples at 40 Hz) is defined: every feature
    finite, the evolution feature comparing the first and last third."""
    cfg10 = PreprocessConfig(central=True, bandpass_hz=(0.5, 20.0), downsample=5, crop_s=10.0)
    assert cfg10.n_times() == 400
    model = create_model("morph", n_chans=18, n_times=cfg10.n_times(), sfreq_hz=40.0)
    x = np.random.default_rng(0).normal(scale=30, size=(4, 20, constants.EEG_WINDOW_SAMPLES))
    eeg = torch.from_numpy(preprocess(x, cfg10))
    assert eeg.shape == (4, 18, 400) and model.features.evo == round(400 / 3)
    assert torch.isfinite(model.features(eeg)).all() and model(eeg).shape == (4, 6)
    with pytest.raises(ValueError, match="morph: expected windows of >= 8 s"):
        create_model("morph", n_chans=18, n_times=200, sfreq_hz=40.0)
