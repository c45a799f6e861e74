"""iiic predict: submission format, row order, blend weights, TTA symmetry and the fallback path."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from iiic.cli import PREDICT_EXIT_FALLBACK, app
from iiic.constants import CLASS_LABELS, EEG_CHANNELS, FLIP_PERMUTATION, VOTE_COLUMNS
from iiic.data.readers import read_eeg
from iiic.data.writers import write_eeg
from iiic.evaluate.submission import validate_submission
from iiic.predict.predictor import SPEC_FLIP, Predictor
from iiic.runs.rundir import save_config, save_fold_model
from iiic.signal.kaggle_spec import eeg_spectrogram_windows
from iiic.train.config import TrainConfig, build_model

SHORT_S_SAMPLES = 6000
"""A truncated test EEG: 30 s instead of 50 s."""


def _eegs(test_dir, test):
    return np.stack(
        [read_eeg(test_dir / "test_eegs" / f"{i}.parquet").data for i in test["eeg_id"]]
    )


def _predict(args):
    return CliRunner().invoke(app, ["predict", *map(str, args)])


def test_submission_matches_sample_and_predictor(run_dir, test_dir, tmp_path):
    out = tmp_path / "submission.csv"
    result = _predict(["--models", run_dir, "--data", test_dir, "--out", out, "--device", "cpu"])
    assert result.exit_code == 0, result.output
    sub = pd.read_csv(out)
    test = pd.read_csv(test_dir / "test.csv")
    sample = pd.read_csv(test_dir / "sample_submission.csv")
    assert list(sub.columns) == list(sample.columns)
    assert sub["eeg_id"].tolist() == test["eeg_id"].tolist()  # test.csv order, every row
    assert np.allclose(sub[list(VOTE_COLUMNS)].sum(axis=1), 1.0, atol=1e-9)
    validate_submission(sub, test)
    expected = Predictor.from_runs([run_dir], device="cpu").predict(_eegs(test_dir, test))
    assert np.allclose(sub[list(VOTE_COLUMNS)].to_numpy(), expected, atol=1e-9)
    assert not list(tmp_path.glob(".submission.csv.*"))  # atomic: no temp file left


def test_missing_and_short_files_get_the_prior(run_dir, test_dir, tmp_path, class_prior):
    test = pd.read_csv(test_dir / "test.csv")
    missing, short = int(test["eeg_id"][1]), int(test["eeg_id"][3])
    (test_dir / "test_eegs" / f"{missing}.parquet").unlink()
    write_eeg(
        test_dir / "test_eegs" / f"{short}.parquet", np.zeros((len(EEG_CHANNELS), SHORT_S_SAMPLES))
    )
    out = tmp_path / "submission.csv"
    result = _predict(["--models", run_dir, "--data", test_dir, "--out", out, "--device", "cpu"])
    assert result.exit_code == PREDICT_EXIT_FALLBACK, result.output
    assert "2 rows got the class-prior fallback" in result.output
    assert str(missing) in result.output and str(short) in result.output
    sub = pd.read_csv(out)
    assert sub["eeg_id"].tolist() == test["eeg_id"].tolist()
    probs = sub[list(VOTE_COLUMNS)].to_numpy()
    assert np.allclose(probs[[1, 3]], class_prior)
    assert not np.allclose(probs[[0, 2, 4]], class_prior, atol=1e-3)
    validate_submission(sub, test)


def test_bad_inputs_exit_2_and_write_nothing(run_dir, test_dir, tmp_path):
    out = tmp_path / "submission.csv"
    (test_dir / "test.csv").unlink()
    result = _predict(["--models", run_dir, "--data", test_dir, "--out", out])
    assert result.exit_code == 2 and "test.csv" in result.output
    result = _predict(["--models", tmp_path / "nope", "--data", test_dir, "--out", out])
    assert result.exit_code == 2 and "nope" in result.output
    assert not out.exists()


def test_tta_flip_is_mirror_invariant(run_dir):
    rng = np.random.default_rng(1)
    x = rng.normal(scale=40.0, size=(3, len(EEG_CHANNELS), 10_000)).astype(np.float32)
    pred = Predictor.from_runs([run_dir], device="cpu", tta_flip=True)
    a = pred.predict(x)
    b = pred.predict(x[:, list(FLIP_PERMUTATION)])
    assert np.allclose(a, b, atol=1e-6)
    plain = Predictor.from_runs([run_dir], device="cpu").predict(x)
    assert not np.allclose(a, plain, atol=1e-6)
    assert SPEC_FLIP == (1, 0, 3, 2)  # LL<->RL, LP<->RP


def test_blend_weights_select_runs(run_dir, test_dir, tmp_path, run_factory):
    other = run_factory(tmp_path / "other_run", seed=7)
    x = _eegs(test_dir, pd.read_csv(test_dir / "test.csv"))
    only_first = Predictor.from_runs([run_dir], device="cpu").predict(x)
    weighted = Predictor.from_runs([run_dir, other], device="cpu",
                                   weights={run_dir.name: 1.0, "other_run": 0.0}).predict(x)  # fmt: skip
    assert np.allclose(weighted, only_first, atol=1e-9)
    blend = {"space": "log", "weights": {run_dir.name: 0.0, "other_run": 1.0},
             "bias": dict.fromkeys(CLASS_LABELS, 0.0)}  # fmt: skip
    blend["bias"]["Other"] = 2.0
    (tmp_path / "blend.json").write_text(json.dumps(blend))
    out = tmp_path / "sub.csv"
    models = f"{run_dir},{other}"
    result = _predict(["--models", models, "--data", test_dir, "--out", out, "--blend",
                       tmp_path / "blend.json", "--batch-size", 2])  # fmt: skip
    assert result.exit_code == 0, result.output
    sub = pd.read_csv(out)[list(VOTE_COLUMNS)].to_numpy()
    second = Predictor.from_runs([other], device="cpu").predict(x)
    logits = np.log(second) + np.array([0, 0, 0, 0, 0, 2.0])
    assert np.allclose(sub, np.exp(logits) / np.exp(logits).sum(1, keepdims=True), atol=1e-9)
    with pytest.raises(ValueError, match="no weight for runs"):
        Predictor.from_runs([run_dir], weights={"unknown": 1.0})


def test_blend_net_class_weights_apply_per_class(run_dir, test_dir, tmp_path, run_factory):
    """A blend.json of the blend net (per-class weights): predict applies
    softmax_k(sum_m W_mk log p_mk + b_k)."""
    other = run_factory(tmp_path / "other_run", seed=7)
    x = _eegs(test_dir, pd.read_csv(test_dir / "test.csv"))
    p1 = Predictor.from_runs([run_dir], device="cpu").predict(x)
    p2 = Predictor.from_runs([other], device="cpu").predict(x)
    w1, w2 = np.array([1.0, 0, 0.5, 2.0, 0, 1.0]), np.array([0, 1.0, 0.5, -1.0, 1.0, 0])
    bias = np.array([0.1, -0.2, 0, 0.3, 0, -0.2])
    per_class = lambda v: dict(zip(CLASS_LABELS, v.tolist(), strict=True))  # noqa: E731
    blend = {"space": "log", "method": "net", "bias": per_class(bias),
             "weights": {run_dir.name: per_class(w1), "other_run": per_class(w2)}}  # fmt: skip
    (tmp_path / "blend.json").write_text(json.dumps(blend))
    got = Predictor.from_runs([run_dir, other], device="cpu", blend=tmp_path / "blend.json")
    z = w1 * np.log(p1) + w2 * np.log(p2) + bias
    expected = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert np.allclose(got.predict(x), expected, atol=1e-6)
    assert got.class_prior.shape == (6,) and np.isclose(got.class_prior.sum(), 1.0)
    blend["weights"]["other_run"] = 1.0  # numbers and tables mixed
    (tmp_path / "blend.json").write_text(json.dumps(blend))
    with pytest.raises(ValueError, match="mixes numbers and per-class tables"):
        Predictor.from_runs([run_dir, other], device="cpu", blend=tmp_path / "blend.json")


def test_spectrogram_models_compute_missing_spectrograms_from_the_eeg(
    test_dir, tmp_path, class_prior
):
    """A missing test spectrogram: computed from the row's EEG, listed, not the class prior."""
    cfg = TrainConfig(model="spec2d", model_options={"image_height": 64, "image_width": 64,
                                                    "n_mels": 16})  # fmt: skip
    save_config(tmp_path / "spec2d", cfg)
    torch.manual_seed(0)
    save_fold_model(tmp_path / "spec2d" / "fold_0", build_model(cfg), 0, {})
    (tmp_path / "spec2d" / "class_prior.json").write_text(json.dumps(class_prior))
    test = pd.read_csv(test_dir / "test.csv")
    gone = int(test["eeg_id"][2])
    (test_dir / "test_spectrograms" / f"{test['spectrogram_id'][2]}.parquet").unlink()
    out = tmp_path / "submission.csv"
    result = _predict(["--models", tmp_path / "spec2d", "--data", test_dir, "--out", out,
                       "--device", "cpu", "--allow-partial"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 rows had no usable Kaggle spectrogram" in result.output
    assert f"eeg_id {gone}: " in result.output and "file not found" in result.output
    sub = pd.read_csv(out)[list(VOTE_COLUMNS)].to_numpy()
    predictor = Predictor.from_runs([tmp_path / "spec2d"], device="cpu", allow_partial=True)
    eeg = _eegs(test_dir, test)[2:3]
    spec = eeg_spectrogram_windows(eeg[0], 200.0, [25.0])
    np.testing.assert_allclose(sub[2], predictor.predict(eeg, spec)[0], atol=1e-6)  # batch of 1
    assert not np.allclose(sub[2], predictor.class_prior, atol=1e-3)
    shutil.rmtree(test_dir / "test_spectrograms")  # EEG-only test set: every row from its EEG
    result = _predict(["--models", tmp_path / "spec2d", "--data", test_dir, "--out", out,
                       "--allow-partial"])  # fmt: skip
    assert result.exit_code == 0 and "5 rows had no usable Kaggle spectrogram" in result.output
    np.testing.assert_allclose(pd.read_csv(out)[list(VOTE_COLUMNS)].to_numpy()[2], sub[2])
