"""The continuous fast path agrees with the exact per-window path (``preprocess``/``Predictor``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from iiic.clinical.edf import Recording
from iiic.clinical.fast import ContinuousScorer, preprocess_continuous
from iiic.clinical.timeline import analyze_recording
from iiic.clinical.windows import window_starts
from iiic.signal.preprocess import PreprocessConfig, preprocess

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
    cont = preprocess_continuous(data, cfg)
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
