"""The single preprocessing path: shapes, units, step order vs a direct scipy computation, errors."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest
from scipy import signal as sps

from iiic import constants as C
from iiic.signal.preprocess import PreprocessConfig, preprocess

FS = C.SFREQ_HZ
N = C.EEG_WINDOW_SAMPLES
RNG = np.random.default_rng(1)


def _window(batch: int = 2) -> np.ndarray:
    return RNG.normal(0, 40, (batch, len(C.EEG_CHANNELS), N)).astype(np.float32)


def test_default_config_shapes_and_properties():
    cfg = PreprocessConfig()
    assert cfg.n_chans == 18 and cfg.channel_names[-2:] == ("Fz-Cz", "Cz-Pz")
    assert cfg.sfreq_out_hz == FS and cfg.n_times() == N
    y = preprocess(_window(3), cfg)
    assert y.shape == (3, 18, N) and y.dtype == np.float32 and y.flags.c_contiguous
    single = preprocess(_window(1)[0], cfg)
    assert single.shape == (18, N)


def test_downsample_ekg_and_no_central():
    cfg = PreprocessConfig(central=False, ekg=True, downsample=4)
    assert cfg.n_chans == 17 and cfg.channel_names[-1] == "EKG"
    assert cfg.sfreq_out_hz == FS / 4 and cfg.n_times(C.EEG_WINDOW_S) == N // 4
    assert preprocess(_window(2), cfg).shape == (2, 17, N // 4)


def test_matches_a_direct_scipy_computation():
    x = _window(2)
    cfg = PreprocessConfig()
    names = cfg.channel_names
    sos = sps.butter(cfg.filter_order, cfg.bandpass_hz, btype="bandpass", fs=FS, output="sos")
    for row in (0, 9, 17):
        a, b = (C.EEG_CHANNELS.index(e) for e in names[row].split("-"))
        diff = x[:, a].astype(np.float64) - x[:, b]
        expected = np.clip(sps.sosfiltfilt(sos, diff, axis=-1), -1024, 1024) / 32
        np.testing.assert_allclose(preprocess(x, cfg)[:, row], expected, atol=2e-5)


def test_units_of_a_tone_on_fp1_only():
    amp_uv = 100.0
    x = np.zeros((len(C.EEG_CHANNELS), N), dtype=np.float32)
    x[C.EEG_CHANNELS.index("Fp1")] = amp_uv * np.sin(2 * np.pi * 5.0 * np.arange(N) / FS)
    cfg = PreprocessConfig()
    y = preprocess(x, cfg)
    mid = slice(N // 4, 3 * N // 4)
    for name in ("Fp1-F7", "Fp1-F3"):
        peak = np.abs(y[cfg.channel_names.index(name), mid]).max()
        assert peak == pytest.approx(amp_uv / cfg.divide_by, rel=0.01)
    others = [i for i, n in enumerate(cfg.channel_names) if "Fp1" not in n]
    np.testing.assert_array_equal(y[others], 0.0)


def test_clipping_bounds_large_artifacts():
    x = np.zeros((len(C.EEG_CHANNELS), N), dtype=np.float32)
    x[C.EEG_CHANNELS.index("O1"), N // 2 - 100 : N // 2 + 100] = 5000.0  # a 1-s 5 mV artifact
    y = preprocess(x, PreprocessConfig())
    assert np.abs(y).max() == pytest.approx(1024.0 / 32.0)


def test_nan_stretches_are_filled_not_propagated():
    x = _window(1)
    x[0, 3, 2000:2600] = np.nan
    x[0, 5] = np.nan  # a dead electrode
    y = preprocess(x, PreprocessConfig())
    assert np.isfinite(y).all()


def test_input_errors_name_the_parameter():
    with pytest.raises(ValueError, match=r"x_ref: expected shape \(\.\.\., 20, n_times\)"):
        preprocess(np.zeros((19, N), dtype=np.float32))
    bad = np.zeros((20, N), dtype=np.float32)
    bad[0, 10] = np.inf
    with pytest.raises(ValueError, match="x_ref: contains ±inf"):
        preprocess(bad)
    with pytest.raises(ValueError, match="sfreq_hz"):
        preprocess(np.zeros((20, N), dtype=np.float32), sfreq_hz=0.0)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"bandpass_hz": (20.0, 0.5)}, "bandpass_hz: expected low < high"),
        ({"bandpass_hz": (0.5, 120.0)}, "bandpass_hz: expected edges in"),
        ({"notch_hz": 150.0}, "notch_hz: expected a frequency in"),
        ({"clip_uv": -1.0}, "clip_uv"),
        ({"downsample": 0}, "downsample"),
        ({"bandpas_hz": (1.0, 2.0)}, "bandpas_hz"),
    ],
)
def test_config_validation(kwargs, message):
    with pytest.raises(pydantic.ValidationError, match=message):
        PreprocessConfig(**kwargs)


def test_config_is_frozen_and_round_trips_json():
    cfg = PreprocessConfig(notch_hz=60.0, bandpass_hz=(0.5, None), downsample=2)
    assert PreprocessConfig.model_validate_json(cfg.model_dump_json()) == cfg
    with pytest.raises(pydantic.ValidationError):
        cfg.central = False
    assert "high-pass 0.5 Hz" in cfg.describe() and "notch 60 Hz" in cfg.describe()
    assert preprocess(_window(1), cfg).shape == (1, 18, N // 2)


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({}, "montage: double banana + Fz-Cz, Cz-Pz (18 ch); band-pass 0.5-20 Hz (Butterworth "
         "order 4, zero-phase IIR); clip ±1024 µV; scale ÷32; 200 Hz (not decimated)"),
        ({"central": False, "ekg": True, "bandpass_hz": (None, 30.0), "notch_hz": 50.0,
          "clip_uv": None, "divide_by": 1.0, "downsample": 4},
         "montage: double banana + EKG (17 ch); low-pass 30 Hz (Butterworth order 4, zero-phase "
         "IIR); notch 50 Hz (zero-phase IIR); scale ÷1; decimated to 50 Hz"),
    ],
)  # fmt: skip
def test_describe_names_every_step_applied(kwargs: dict, text: str) -> None:
    assert PreprocessConfig(**kwargs).describe() == text


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"downsample": 5}, {"central": False, "ekg": True, "downsample": 4}, {"notch_hz": 60.0},
     {"bandpass_hz": (0.5, None)}, {"bandpass_hz": None, "downsample": 4}],
)  # fmt: skip
def test_fft_method_equals_iir_away_from_the_window_ends(kwargs):
    """filter_method="fft" applies the same |H(f)|²: equal to scipy's filters beyond ~5 s from the
    ends (float32 rounding), only the edge treatment differs."""
    x = _window(2)
    x += RNG.normal(0, 300, (2, len(C.EEG_CHANNELS), 1)).astype(np.float32)  # electrode offsets
    x[0, 3, 4000:4100] += 3000.0  # an artifact the clip acts on
    iir = preprocess(x, PreprocessConfig(**kwargs))
    fft = preprocess(x, PreprocessConfig(filter_method="fft", **kwargs))
    assert fft.shape == iir.shape and fft.dtype == np.float32
    n = iir.shape[-1]
    middle = slice(n // 5, n - n // 5)  # 10-40 s of the 50-s window
    np.testing.assert_allclose(fft[..., middle], iir[..., middle], atol=2e-4 * np.abs(iir).max())
    assert np.abs(fft).max() <= np.abs(iir).max() * 1.02  # clipped before decimation, as "iir"


def test_fft_method_clips_exactly_and_describes_itself():
    cfg = PreprocessConfig(filter_method="fft")
    x = np.zeros((len(C.EEG_CHANNELS), N), dtype=np.float32)
    x[C.EEG_CHANNELS.index("O1"), N // 2 - 100 : N // 2 + 100] = 5000.0
    assert np.abs(preprocess(x, cfg)).max() == pytest.approx(1024.0 / 32.0)
    assert "zero-phase on the FFT, 6.1 s odd extension" in cfg.describe()
    short = preprocess(_window(1)[..., :300], cfg.model_copy(update={"downsample": 4}))
    assert short.shape == (1, 18, 75) and np.isfinite(short).all()


# --- one preprocessing: every path agrees ------------------------------------------------------
def _preset_preprocessing() -> list:
    """Every preset's preprocessing that reads whole windows (a ``crop_s`` preset filters its
    10-s crop alone, as a 10-s segment is: tests/clinical/test_clinical_fast.py covers it)."""
    from iiic.train.config import load_config, preset_names

    configs: dict = {}
    for name in preset_names():
        cfg = load_config(name).preprocess
        if cfg.crop_s is None:
            configs.setdefault(cfg, name)
    return [pytest.param(cfg, id=name) for cfg, name in configs.items()]


def _recording(seconds: int) -> np.ndarray:
    """AR(1) background, 20 µV, with a 3,000 µV artifact (clipping bites) and a NaN stretch."""
    fs = int(FS)
    x = sps.lfilter([1.0], [1.0, -0.95], RNG.standard_normal((len(C.EEG_CHANNELS), seconds * fs)))
    x = (20.0 * x / x.std(axis=1, keepdims=True)).astype(np.float32)
    x[2, 60 * fs : 61 * fs] += 3000.0  # C3: clipped in the C3 chains
    x[4, 30 * fs : 32 * fs] = np.nan
    return x


@pytest.mark.parametrize("cfg", _preset_preprocessing())
def test_every_path_gives_the_same_windows_away_from_their_edges(cfg):
    """Per window (recursive filters, FFT) and per recording in blocks (both filter methods:
    the model-ready inputs, and analyze --fast with "fft") give every preset's windows to float32
    tolerance, 10 s away from the window's ends, with clipping that bites before the decimation."""
    from iiic.signal.preprocess import preprocess_recording

    x = _recording(180)
    ds, n_t = cfg.downsample, cfg.n_times()
    starts = np.arange(0, x.shape[1] - N + 1, 20 * int(FS))  # windows across block boundaries

    def sliced(rec: np.ndarray) -> np.ndarray:
        return np.stack([rec[:, s // ds : s // ds + n_t] for s in starts])

    paths = {}
    for method in ("iir", "fft"):
        c = cfg.model_copy(update={"filter_method": method})
        paths[f"window_{method}"] = preprocess(np.stack([x[:, s : s + N] for s in starts]), c)
        paths[f"recording_{method}"] = sliced(preprocess_recording(x, c, block_s=40.0))
    ref = paths.pop("window_iir")
    limit = cfg.clip_uv / cfg.divide_by
    assert np.abs(ref).max() > 0.95 * limit  # the artifact reaches the clip level
    middle = slice(n_t // 5, 4 * n_t // 5)
    for name, got in paths.items():
        err = np.abs(got - ref)[..., middle].max()
        assert err < 2e-5 * limit, f"{name}: {err:.2e} from the per-window IIR path"


@pytest.mark.parametrize("method", ["iir", "fft"])
def test_recording_of_one_window_is_one_preprocess_call(method):
    """A file of one window (a Kaggle test file) gets exactly what preprocess gives the window;
    a longer recording in blocks gets what one call on all of it gives."""
    from iiic.signal.preprocess import preprocess_recording

    cfg = PreprocessConfig(downsample=5, filter_method=method)
    x = _recording(70)
    np.testing.assert_array_equal(preprocess_recording(x[:, :N], cfg), preprocess(x[:, :N], cfg))
    whole = preprocess(x, cfg)  # NaN filled over the whole recording, here per block: the same
    limit = cfg.clip_uv / cfg.divide_by  # FFT: responses truncated at 1e-5 of their peak
    np.testing.assert_allclose(preprocess_recording(x, cfg, block_s=20.0), whole, atol=5e-5 * limit)
    with pytest.raises(ValueError, match="one recording"):
        preprocess_recording(x[None], cfg)
