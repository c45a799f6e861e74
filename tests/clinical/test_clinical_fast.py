"""The continuous fast path agrees with the exact per-window path (``preprocess``/``Predictor``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from iiic.clinical.edf import Recording
from iiic.clinical.fast import ContinuousScorer
from iiic.clinical.timeline import analyze_recording
from iiic.clinical.windows import window_starts
from iiic.signal.preprocess import PreprocessConfig, preprocess, preprocess_recording

FS = 200


@pytest.mark.parametrize(
    "cfg",
    [
        PreprocessConfig(),
        PreprocessConfig(downsample=5),
        PreprocessConfig(notch_hz=60.0, downsample=4),
    ],
)
def test_continuous_windows_equal_exact_windows_away_from_edges(cfg, make_background) -> None:
    data = make_background(20, 1500 * FS, seed=5).astype(np.float32)  # 25 min: 3 blocks
    data[2, 700 * FS : 701 * FS] += 3000.0  # a clipped artifact
    data[4, 100 * FS : 102 * FS] = np.nan
    cont = preprocess_recording(data, cfg.model_copy(update={"filter_method": "fft"}))
    assert cont.shape == (cfg.n_chans, data.shape[1] // cfg.downsample)
    starts = window_starts(data.shape[1], 10.0)[::7]
    exact = preprocess(np.stack([data[:, s : s + 10_000] for s in starts]), cfg)
    ds, n_t = cfg.downsample, cfg.n_times()
    fast = np.stack([cont[:, s // ds : s // ds + n_t] for s in starts])
    middle = slice(n_t // 5, 4 * n_t // 5)  # the central 30 s of each 50-s window
    np.testing.assert_allclose(fast[..., middle], exact[..., middle], atol=1e-3)
    assert np.abs(fast - exact).mean() < 0.02 * exact.std()


def test_scorer_probabilities_match_the_predictor(random_run_dir: Path, make_background) -> None:
    from iiic.predict.predictor import Predictor

    predictor = Predictor.from_runs([random_run_dir], device="cpu")
    rec = Recording.from_array(make_background(20, 400 * FS, seed=6), 200.0)
    exact = analyze_recording(rec, predictor.predict).probabilities
    fast = analyze_recording(rec, ContinuousScorer(predictor, rec.data)).probabilities
    assert exact.shape == fast.shape == (36, 6)
    assert np.abs(exact - fast).max() < 0.02
    with pytest.raises(ValueError, match="multiples of 5 samples"):
        analyze_recording(rec, ContinuousScorer(predictor, rec.data), stride_s=10.01)


def test_scorer_runs_the_predictors_own_sessions_and_steps(random_run_dir: Path, make_background):
    """analyze --fast with ONNX Runtime: the scorer runs the predictor's sessions (opened with its
    thread setting, --threads), no second set, and combines the folds as before: the mean of the
    folds' softmax on the continuous path's model input."""
    import torch
    from scipy.special import softmax

    from iiic.predict.predictor import Predictor

    predictor = Predictor.from_runs([random_run_dir], backend="auto", device="cpu", onnx_threads=1)
    folds = predictor.sessions[0]
    assert predictor.backend == "onnx" and len(folds) == 2
    assert all(f.session.get_session_options().intra_op_num_threads == 1 for f in folds)
    used = []
    for fold in folds:  # record each call, then run the real session
        fold.logits = lambda eeg, spec, f=fold, run=fold.logits: used.append(f) or run(eeg, spec)
    rec = Recording.from_array(make_background(20, 120 * FS, seed=7), 200.0)
    scorer = ContinuousScorer(predictor, rec.data)
    starts = window_starts(rec.data.shape[1], 10.0)
    got = scorer(starts, None)
    assert used == folds  # one call of each of the predictor's sessions for the batch
    cfg = predictor.runs[0].preprocess
    fft = cfg.model_copy(update={"filter_method": "fft"})  # --fast: the one function, on the FFT
    np.testing.assert_array_equal(scorer.features[cfg], preprocess_recording(rec.data, fft))
    eeg = torch.from_numpy(scorer._eeg(cfg, starts))
    with torch.inference_mode():
        logits = np.stack([m(eeg).numpy() for m in predictor.runs[0].models])  # (folds, B, 6)
    np.testing.assert_allclose(got, softmax(logits, axis=-1).mean(axis=0), atol=1e-5)
    torch_predictor = Predictor.from_runs([random_run_dir], backend="torch", device="cpu")
    np.testing.assert_allclose(ContinuousScorer(torch_predictor, rec.data)(starts, None), got,
                               atol=1e-5)  # fmt: skip


def test_the_fast_path_slices_a_runs_central_crop(make_background) -> None:
    """A run that reads the central 10 s (``crop_s``) gets, on the fast path, the central 10 s of
    each window sliced from the recording filtered whole: equal to the exact path (the crop
    filtered alone) away from the crop's ends."""
    cfg = PreprocessConfig(downsample=5, crop_s=10.0)
    data = make_background(20, 300 * FS, seed=2).astype(np.float32)
    whole = preprocess_recording(data, cfg)
    assert whole.shape == (cfg.n_chans, data.shape[1] // 5)  # the recording is not cropped
    starts = window_starts(data.shape[1], 10.0)
    exact = preprocess(np.stack([data[:, s : s + 10_000] for s in starts]), cfg)
    assert exact.shape[-1] == cfg.n_times() == 400
    lead = cfg.crop_start() // 5
    fast = np.stack([whole[:, s // 5 + lead : s // 5 + lead + 400] for s in starts])
    np.testing.assert_allclose(fast[..., 150:250], exact[..., 150:250], atol=0.05 * exact.std())
