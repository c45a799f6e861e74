"""An analysis scores windows sliced from each run's preprocessing of the whole recording — the
way training's model-ready inputs are built — and ``--fast`` (FFT filters inside the recording)
agrees with exact to float32 rounding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from iiic.clinical.edf import Recording
from iiic.clinical.scoring import RecordingScorer, ScorerSpec, WindowScorer, load_scorer, scorer_for
from iiic.clinical.timeline import analyze_recording
from iiic.clinical.windows import window_starts
from iiic.constants import CLASSES
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
def test_fft_inside_equals_the_configs_filters(cfg, make_background) -> None:
    """``interior_method="fft"`` (``--fast``) changes nothing but float32 rounding: the blocks at
    the recording's ends are the config's own, the others agree to 1e-5 of the signal, with
    clipping that bites and NaN filled."""
    data = make_background(20, 250 * FS, seed=5).astype(np.float32)  # 60-s blocks: 5
    data[2, 100 * FS : 101 * FS] += 3000.0  # a clipped artifact in an inner block
    data[4, 10 * FS : 12 * FS] = np.nan
    exact = preprocess_recording(data, cfg, block_s=60.0)
    fast = preprocess_recording(data, cfg, block_s=60.0, interior_method="fft")
    assert fast.shape == exact.shape == (cfg.n_chans, data.shape[1] // cfg.downsample)
    assert np.abs(exact).max() >= cfg.clip_uv / cfg.divide_by * 0.999  # the clip bites
    first, last = (s * FS // cfg.downsample for s in (60, 240))  # the end blocks' kept parts
    np.testing.assert_array_equal(fast[:, :first], exact[:, :first])
    np.testing.assert_array_equal(fast[:, last:], exact[:, last:])
    assert np.abs(fast[:, first:last] - exact[:, first:last]).max() > 0  # the FFT ran inside
    np.testing.assert_allclose(fast, exact, atol=1e-5 * np.abs(exact).max())


def test_exact_windows_are_trainings_model_ready_windows(random_run_dir: Path, make_background):
    """A 50-s run reads the window sliced from its preprocessing of the whole recording (as
    ``prepare --preset`` builds training inputs), a cropping run each crop filtered alone (as it
    was trained)."""
    from iiic.predict.predictor import Predictor

    predictor = Predictor.from_runs([random_run_dir], backend="torch", device="cpu")
    data = make_background(20, 300 * FS, seed=2).astype(np.float32)
    scorer = RecordingScorer(predictor, data)
    cfg = predictor.runs[0].preprocess
    starts = window_starts(data.shape[1], 10.0)
    whole = preprocess_recording(data, cfg)
    np.testing.assert_array_equal(scorer.features[cfg], whole)
    np.testing.assert_array_equal(scorer._eeg(cfg, starts)[3], whole[:, starts[3] // 5 :][:, :2000])
    crop = PreprocessConfig(downsample=5, crop_s=10.0)
    got = scorer._eeg(crop, starts)
    want = preprocess(np.stack([data[:, s + 4000 : s + 6000] for s in starts]), crop)
    assert got.shape == (len(starts), 18, 400)
    np.testing.assert_array_equal(got, want)


def test_fast_and_exact_probabilities_agree(random_run_dir: Path, make_background) -> None:
    """Issue 25's bound: ``--fast`` and exact give the same probabilities to 1e-4 (a 25-min
    recording: three blocks, one inside); both refuse a stride off the decimation grid."""
    from iiic.predict.predictor import Predictor

    predictor = Predictor.from_runs([random_run_dir], backend="torch", device="cpu")
    rec = Recording.from_array(make_background(20, 1300 * FS, seed=6), 200.0)
    exact = analyze_recording(rec, scorer_for(predictor, prior="training")).probabilities
    fast = analyze_recording(rec, scorer_for(predictor, fast=True, prior="training"))
    assert exact.shape == fast.probabilities.shape == (126, 6)
    assert np.abs(exact - fast.probabilities).max() < 1e-4
    for is_fast in (False, True):
        with pytest.raises(ValueError, match=r"multiples of 5 samples \(0.025 s\)"):
            analyze_recording(rec, scorer_for(predictor, fast=is_fast), stride_s=10.01)


def test_stretches_between_gaps_are_preprocessed_apart(random_run_dir: Path, make_background):
    """EDF+D: each stretch of data between gaps is preprocessed as its own recording (no filter
    sees across a gap); windows never overlap a gap."""
    from iiic.predict.predictor import Predictor

    predictor = Predictor.from_runs([random_run_dir], backend="torch", device="cpu")
    data = make_background(20, 400 * FS, seed=3).astype(np.float32)
    data[:, 150 * FS : 210 * FS] = np.nan  # a gap from 150 to 210 s
    rec = Recording.from_array(data, 200.0)
    rec.gaps = [(150.0, 210.0)]
    cfg = predictor.runs[0].preprocess
    feats = RecordingScorer(predictor, data, gaps_s=rec.gaps).features[cfg]
    np.testing.assert_array_equal(
        feats[:, : 150 * FS // 5], preprocess_recording(data[:, : 150 * FS], cfg)
    )
    np.testing.assert_array_equal(
        feats[:, 210 * FS // 5 :], preprocess_recording(data[:, 210 * FS :], cfg)
    )
    table = analyze_recording(rec, scorer_for(predictor)).table
    assert ((table["end_s"] <= 150) | (table["start_s"] >= 210)).all() and len(table) == 26
    assert np.isfinite(table[list(CLASSES)].to_numpy()).all()


def test_the_scorer_runs_the_predictors_own_sessions(random_run_dir: Path, make_background):
    """``analyze`` with ONNX Runtime: the scorer runs the predictor's sessions (opened with its
    thread setting, --threads), no second set, and combines the folds as ``Predictor`` does:
    the mean of the folds' softmax; torch gives the same to 1e-5."""
    from iiic.predict.predictor import Predictor

    spec = ScorerSpec((str(random_run_dir),), backend="auto", device="cpu", threads=1,
                      prior="training")  # fmt: skip
    scorer = load_scorer(spec)
    predictor = scorer.predictor
    folds = predictor.sessions[0]
    assert predictor.backend == "onnx" and len(folds) == 2
    assert all(f.session.get_session_options().intra_op_num_threads == 1 for f in folds)
    assert scorer.info["engine"] == "onnx" and scorer.info["backend"] == "auto"
    assert (
        scorer.info["filtering"].endswith("(--exact)")
        and "preprocessing (eeg1d_random)" in scorer.info
    )
    used = []
    for fold in folds:  # record each call, then run the real session
        fold.logits = lambda eeg, spec, f=fold, run=fold.logits: used.append(f) or run(eeg, spec)
    rec = Recording.from_array(make_background(20, 120 * FS, seed=7), 200.0)
    starts = window_starts(rec.data.shape[1], 10.0)
    got = scorer.for_recording(rec)(starts, None)
    assert used == folds  # one call of each of the predictor's sessions for the batch
    torch_predictor = Predictor.from_runs([random_run_dir], backend="torch", device="cpu")
    want = RecordingScorer(torch_predictor, rec.data)(starts, None)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_a_window_scorer_gets_each_window_cut_from_the_recording(make_background) -> None:
    data = make_background(20, 100 * FS, seed=1).astype(np.float32)
    seen = []

    def fn(eeg: np.ndarray, spec: np.ndarray | None) -> np.ndarray:
        seen.append(eeg.copy())
        return np.full((len(eeg), 6), 1 / 6)

    probs = WindowScorer(fn).for_recording(Recording.from_array(data, 200.0))(
        np.array([0, 4000]), None
    )
    assert probs.shape == (2, 6)
    np.testing.assert_array_equal(seen[0][1], data[:, 4000:14000])
