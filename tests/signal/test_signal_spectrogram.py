"""Spectrograms against independent computations: tone peaks, numpy STFT, Parseval, ONNX runtime."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from scipy.signal import windows as sps_windows

from iiic import constants as C
from iiic.signal import montage
from iiic.signal.spectrogram import (
    MelSpectrogram,
    StftSpectrogram,
    hz_to_mel,
    kaggle_spec_features,
    mel_filterbank,
    mel_to_hz,
    multitaper_spectrogram,
)

FS = C.SFREQ_HZ
N = C.EEG_WINDOW_SAMPLES
RNG = np.random.default_rng(2)


def _tone(freq_hz: float, n: int = N, amp: float = 50.0) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq_hz * np.arange(n) / FS)).astype(np.float32)


def test_mel_scale_is_htk_and_invertible():
    assert float(hz_to_mel(1000.0)) == pytest.approx(1000.0, abs=0.1)  # HTK: 1000 Hz ≈ 1000 mel
    f = np.array([0.5, 7.0, 20.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(f)), f)


@pytest.mark.parametrize("fmin_hz,fmax_hz", [(0.5, 20.0), (4.0, 30.0)])
def test_filterbank_covers_the_band_without_empty_filters(fmin_hz, fmax_hz):
    fbank, centers = mel_filterbank(
        n_freqs=129, sfreq_hz=FS, n_mels=64, fmin_hz=fmin_hz, fmax_hz=fmax_hz
    )
    assert fbank.shape == (64, 129)
    assert (fbank.max(axis=1) > 0).all() and fbank.max() <= 1.0
    assert np.all(np.diff(centers) > 0) and fmin_hz < centers[0] and centers[-1] < fmax_hz
    bin_hz = FS / 256
    freqs = np.arange(129) * bin_hz
    outside = (freqs < fmin_hz - bin_hz) | (freqs > fmax_hz + bin_hz)
    assert not fbank[:, outside].any()  # at most one bin spacing beyond the band


@pytest.mark.parametrize("impl", ["torch", "conv"])
def test_tone_on_fp1_peaks_at_its_frequency_in_fp1_chains_only(impl):
    freq_hz = 7.0
    x_ref = np.zeros((len(C.EEG_CHANNELS), N), dtype=np.float32)
    x_ref[C.EEG_CHANNELS.index("Fp1")] = _tone(freq_hz)
    x = torch.from_numpy(montage.bipolar(x_ref))[None]  # (1, 16, T)
    mel = MelSpectrogram(sfreq_hz=FS, stft_impl=impl)
    out = mel(x)
    assert out.shape == (1, 16, 64, mel.n_frames(N)) and mel.n_frames(N) == 1 + N // 64
    profile = out[0].mean(dim=-1)  # (16, n_mels)
    names = montage.channel_names()
    peak_bin = int(profile[names.index("Fp1-F7")].argmax())
    assert abs(mel.centers_hz[peak_bin] - freq_hz) <= FS / 256  # within one FFT bin
    with_fp1 = [names.index("Fp1-F7"), names.index("Fp1-F3")]
    without = [i for i in range(16) if i not in with_fp1]
    assert profile[with_fp1].max(dim=-1).values.min() > 3.0  # log10 power
    assert profile[without].max() < -9.0  # silence: log10(0 + 1e-10)


def test_linear_stft_equals_a_numpy_periodogram():
    n_fft, hop = 128, 32
    x = RNG.normal(0, 10, (2, 3, 1000)).astype(np.float32)
    stft = StftSpectrogram(sfreq_hz=FS, n_fft=n_fft, hop_length=hop, log=False)
    out = stft(torch.from_numpy(x)).numpy()  # (2, 3, n_freqs, n_frames)
    padded = np.pad(x.astype(np.float64), [(0, 0), (0, 0), (n_fft // 2, n_fft // 2)], "reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[..., ::hop, :]
    power = np.abs(np.fft.rfft(frames * sps_windows.hann(n_fft, sym=False), axis=-1)) ** 2
    freqs = np.fft.rfftfreq(n_fft, 1 / FS)
    keep = (freqs >= 0.5) & (freqs <= 20.0)
    np.testing.assert_allclose(stft.freqs_hz, freqs[keep])
    expected = np.swapaxes(power[..., keep], -1, -2)
    np.testing.assert_allclose(out, expected, rtol=1e-3, atol=1e-3 * expected.max())


def test_conv_and_torch_stft_agree_and_top_db_floors():
    x = torch.from_numpy(RNG.normal(0, 20, (2, 4, 2000)).astype(np.float32))
    a = MelSpectrogram(sfreq_hz=FS, n_mels=32, stft_impl="torch", log=False)(x)
    b = MelSpectrogram(sfreq_hz=FS, n_mels=32, stft_impl="conv", log=False)(x)
    torch.testing.assert_close(b, a, rtol=1e-3, atol=1e-3 * float(a.max()))
    db = MelSpectrogram(sfreq_hz=FS, n_mels=32, top_db=40.0)(x)
    peak = db.amax(dim=(-2, -1), keepdim=True)
    assert torch.all(db >= peak - 40.0 - 1e-4)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_conv_spectrogram_exports_to_onnx_and_runs_in_onnxruntime():
    ort = pytest.importorskip("onnxruntime")
    mel = MelSpectrogram(sfreq_hz=FS, n_mels=16, stft_impl="conv").eval()
    x = torch.from_numpy(RNG.normal(0, 20, (2, 3, 2000)).astype(np.float32))
    buf = io.BytesIO()
    torch.onnx.export(
        mel, (x,), buf, dynamo=False, opset_version=17, input_names=["x"],
        dynamic_axes={"x": {0: "batch"}},
    )  # fmt: skip
    session = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    x3 = x.repeat(2, 1, 1)  # a different batch size than the export
    (got,) = session.run(None, {"x": x3.numpy()})
    np.testing.assert_allclose(got, mel(x3).detach().numpy(), atol=1e-3)


def test_gradients_flow_and_parameters_are_errors():
    x = torch.randn(1, 2, 1000, requires_grad=True)
    MelSpectrogram(sfreq_hz=FS, n_mels=16)(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    with pytest.raises(ValueError, match="stft_impl"):
        MelSpectrogram(stft_impl="fft")
    with pytest.raises(ValueError, match="fmin_hz, fmax_hz"):
        MelSpectrogram(fmax_hz=150.0)
    with pytest.raises(ValueError, match=r"x: expected shape \(batch, channels, n_times\)"):
        MelSpectrogram()(torch.zeros(10, 1000))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_mel_on_cuda_matches_cpu():
    x = torch.from_numpy(RNG.normal(0, 20, (2, 4, 2000)).astype(np.float32))
    for impl in ("torch", "conv"):
        mel = MelSpectrogram(sfreq_hz=FS, stft_impl=impl)
        torch.testing.assert_close(mel.cuda()(x.cuda()).cpu(), mel.cpu()(x), rtol=0, atol=1e-3)


def test_multitaper_peak_and_parseval():
    amp, freq_hz = 30.0, 7.0
    x = np.stack([_tone(freq_hz, 4000, amp), RNG.normal(0, 5, 4000)])  # (2, T)
    freqs, times, psd = multitaper_spectrogram(x, FS, fmin_hz=0.0, fmax_hz=FS / 2)
    assert psd.shape == (2, freqs.size, times.size) and psd.dtype == np.float32
    np.testing.assert_allclose(times[:3], [2.0, 4.0, 6.0])  # 4-s windows every 2 s
    assert freqs[psd[0].mean(axis=-1).argmax()] == pytest.approx(freq_hz)
    df = freqs[1] - freqs[0]
    assert psd[0].sum(axis=0).mean() * df == pytest.approx(amp**2 / 2, rel=0.02)  # tone power
    assert psd[1].sum(axis=0).mean() * df == pytest.approx(25.0, rel=0.1)  # noise variance
    f_band, _, band = multitaper_spectrogram(x, FS)
    assert f_band.min() >= 0.5 and f_band.max() <= 20.0 and band.shape[-2] == f_band.size


def test_kaggle_spec_features_layout_and_normalisation():
    spec = np.exp(RNG.normal(0, 2, (2, 300, 4, 100))).astype(np.float32)
    spec[0, 5, 2, 10] = 1e6  # a marked cell: time 5, chain LP, frequency bin 10
    out = kaggle_spec_features(spec)
    assert out.shape == (2, 4, 100, 300) and out.dtype == np.float32
    assert out[0, 2, 10, 5] == out[0, 2].max()  # (t, chain, f) → (chain, f, t)
    np.testing.assert_allclose(out[1].mean(axis=(-2, -1)), 0.0, atol=0.01)
    np.testing.assert_allclose(out[1].std(axis=(-2, -1)), 1.0, atol=0.01)
    z = np.log(spec[1, :, 0, :].T)  # chain LL, (100, 300), all above the 1e-4 floor
    np.testing.assert_allclose(out[1, 0], (z - z.mean()) / z.std(), atol=1e-3)


def test_kaggle_spec_features_nan_rows_and_chains():
    spec = np.exp(RNG.normal(0, 1, (300, 4, 100))).astype(np.float32)
    spec[:20] = np.nan  # missing rows at the start, as in real files
    spec[:, 3] = np.nan  # a whole chain missing
    spec[50, 0, 0] = 0.0  # zero power: floored at 1e-4 before the log
    out = kaggle_spec_features(spec)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[:, :, :20], 0.0)
    np.testing.assert_array_equal(out[3], 0.0)
    assert np.abs(out).max() <= 6.0 and out[0, 0, 50] == out[0].min()
    with pytest.raises(ValueError, match=r"spec: expected shape \(\.\.\., n_rows, 4, 100\)"):
        kaggle_spec_features(np.zeros((300, 100, 4)))


@pytest.mark.parametrize("impl", ["torch", "conv"])
def test_autocast_does_not_lower_precision(impl):
    x = torch.from_numpy(RNG.normal(0, 500, (1, 2, 2000)).astype(np.float32))  # large power
    mel = MelSpectrogram(sfreq_hz=FS, n_mels=16, stft_impl=impl)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        low = mel(x)
    assert low.dtype == torch.float32
    torch.testing.assert_close(low, mel(x))
