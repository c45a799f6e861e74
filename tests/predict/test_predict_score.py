"""``iiic score``: labelled rows predicted at their offsets and scored against the expert votes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from iiic.cli import app
from iiic.constants import CLASSES, PRED_COLUMNS, VOTE_COLUMNS
from iiic.data.readers import read_eeg, read_spectrogram
from iiic.data.windows import eeg_window, spectrogram_window
from iiic.evaluate.metric import kl_divergence
from iiic.evaluate.oof import read_oof
from iiic.predict.predictor import Predictor
from iiic.predict.score import MODEL, PRIOR, UNIFORM, ScoreError, score_data_dir, write_score
from iiic.runs.rundir import save_config, save_fold_model
from iiic.signal.kaggle_spec import eeg_spectrogram_windows
from iiic.synth import generate_twin
from iiic.train.config import TrainConfig, build_model

SEGMENTS = "iiic-real-segments"
SMALL_SPEC2D = {"image_height": 64, "image_width": 64, "n_mels": 16}


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    """A 4-patient twin: EEGs longer than 50 s, several rows per EEG at offsets > 0."""
    return generate_twin(tmp_path_factory.mktemp("twin"), n_patients=4, seed=0,
                         max_eegs_per_patient=2, max_rows_per_eeg=4, n_test=2)  # fmt: skip


def _spec2d_run(root):
    """A one-fold spec2d run (reads the Kaggle spectrograms), random weights."""
    cfg = TrainConfig(model="spec2d", model_options=SMALL_SPEC2D, folds=[0])  # a one-fold run
    save_config(root, cfg)
    torch.manual_seed(0)
    save_fold_model(root / "fold_0", build_model(cfg), 0, {})
    return root


def _truth_baseline(twin, path):
    """The twin's true class distributions as a baseline CSV (eeg_id, eeg_sub_id, vote columns)."""
    truth = pd.read_parquet(twin / "truth.parquet")
    base = truth[["eeg_id", "eeg_sub_id"]].copy()
    base[list(VOTE_COLUMNS)] = truth[[f"true_{c}" for c in CLASSES]].to_numpy()
    base.sample(frac=1.0, random_state=0).to_csv(path, index=False)  # order must not matter
    return path


def test_rows_are_cut_at_their_offsets(twin, run_dir):
    train = pd.read_csv(twin / "train.csv")
    assert (train["eeg_label_offset_seconds"] > 0).any()
    predictor = Predictor.from_runs([run_dir], device="cpu", batch_size=5)  # chunks split EEGs
    result = score_data_dir(predictor, twin)
    windows = np.stack([
        eeg_window(read_eeg(twin / "train_eegs" / f"{r.eeg_id}.parquet"),
                   r.eeg_label_offset_seconds)
        for r in train.itertuples()
    ])  # fmt: skip
    np.testing.assert_allclose(result.probs[MODEL], predictor.predict(windows), atol=1e-6)
    assert result.rows[["eeg_id", "eeg_sub_id"]].equals(train[["eeg_id", "eeg_sub_id"]])
    votes = train[list(VOTE_COLUMNS)].to_numpy()
    assert result.summary[MODEL]["kl"] == pytest.approx(kl_divergence(votes, result.probs[MODEL]))
    assert result.summary[UNIFORM]["kl"] == pytest.approx(
        kl_divergence(votes, np.full(votes.shape, 1 / 6))
    )
    np.testing.assert_allclose(result.probs[PRIOR][0], predictor.class_prior)


def test_spectrogram_runs_read_the_spectrogram_window(twin, tmp_path):
    run = _spec2d_run(tmp_path / "spec2d")
    predictor = Predictor.from_runs([run], device="cpu")
    train = pd.read_csv(twin / "train.csv").iloc[:3]
    result = score_data_dir(predictor, twin)
    eeg = np.stack([eeg_window(read_eeg(twin / "train_eegs" / f"{r.eeg_id}.parquet"),
                               r.eeg_label_offset_seconds) for r in train.itertuples()])  # fmt: skip
    spec = np.stack([
        spectrogram_window(read_spectrogram(twin / "train_spectrograms" /
                                            f"{r.spectrogram_id}.parquet"),
                           r.spectrogram_label_offset_seconds)
        for r in train.itertuples()
    ])  # fmt: skip
    np.testing.assert_allclose(result.probs[MODEL][:3], predictor.predict(eeg, spec), atol=1e-6)


def test_cli_scores_a_twin_with_its_truth_as_baseline(twin, run_dir, tmp_path):
    base = _truth_baseline(twin, tmp_path / "truth_predictions.csv")
    out = tmp_path / "score"
    args = ["score", str(twin), "--models", f"{run_dir},{run_dir}", "--out", str(out),
            "--baseline", str(base), "--device", "cpu"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "score.json").read_text())
    names = list(doc["summary"])
    assert names == [MODEL, f"run {run_dir.name} #0", f"run {run_dir.name} #1", "truth",
                     UNIFORM, PRIOR]  # fmt: skip
    # votes are drawn from the truth: the oracle beats the uniform and a random model
    assert doc["summary"]["truth"]["kl"] < doc["summary"][UNIFORM]["kl"]
    assert doc["summary"]["truth"]["kl"] < doc["summary"][MODEL]["kl"]
    assert len(doc["rows"]) == doc["n_rows"] == len(pd.read_csv(twin / "train.csv"))
    assert "truth" in result.output and (out / "score.md").read_text().count("\n| ") > 5
    oof = read_oof(out / "predictions.parquet")  # the OOF contract: `iiic evaluate` reads it
    np.testing.assert_allclose(oof[list(PRED_COLUMNS)].sum(axis=1), 1.0, atol=1e-6)


def test_bad_baselines_are_refused(twin, run_dir, tmp_path):
    predictor = Predictor.from_runs([run_dir], device="cpu")
    base = pd.read_csv(_truth_baseline(twin, tmp_path / "truth.csv"))
    base.iloc[1:].to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(ScoreError, match=r"short.csv: no probabilities for 1 scored rows"):
        score_data_dir(predictor, twin, baseline=tmp_path / "short.csv")
    counts = pd.read_csv(twin / "train.csv")[["eeg_id", "eeg_sub_id", *VOTE_COLUMNS]]
    counts.to_csv(tmp_path / "counts.csv", index=False)
    with pytest.raises(ScoreError, match=r"rows do not sum to 1 \(are these vote counts"):
        score_data_dir(predictor, twin, baseline=tmp_path / "counts.csv")


def test_real_segments_with_the_sparcnet_baseline(shared_data, run_dir, tmp_path):
    data = shared_data / SEGMENTS
    predictor = Predictor.from_runs([run_dir], device="cpu")
    result = score_data_dir(predictor, data, baseline=data / "sparcnet_predictions.csv")
    paths = write_score(result, tmp_path / "out")
    train = pd.read_csv(data / "train.csv")
    sparcnet = train[["eeg_id"]].merge(pd.read_csv(data / "sparcnet_predictions.csv"))
    votes = train[list(VOTE_COLUMNS)].to_numpy()
    assert result.info["n_rows"] == len(train) == 12
    assert result.summary["sparcnet"]["kl"] == pytest.approx(
        kl_divergence(votes, sparcnet[list(VOTE_COLUMNS)].to_numpy())
    )
    assert result.summary["sparcnet"]["kl"] < result.summary[UNIFORM]["kl"]
    np.testing.assert_allclose(result.probs[MODEL].sum(axis=1), 1.0, atol=1e-6)
    rows = pd.read_csv(paths["csv"])
    assert rows["source_name"].tolist() == train["source_name"].tolist()
    assert rows["kl:model"].mean() == pytest.approx(result.summary[MODEL]["kl"])
    assert "SZ_sample1" in paths["md"].read_text()


def test_rows_without_a_spectrogram_file_get_one_from_their_eeg(twin, tmp_path):
    run = _spec2d_run(tmp_path / "spec2d")
    predictor = Predictor.from_runs([run], device="cpu")
    train = pd.read_csv(twin / "train.csv")
    gone = int(train["spectrogram_id"].iloc[0])
    data = tmp_path / "data"  # the twin with one spectrogram file missing
    data.mkdir()
    for item in twin.iterdir():
        (data / item.name).symlink_to(item)
    (data / "train_spectrograms").unlink()
    (data / "train_spectrograms").mkdir()
    for f in (twin / "train_spectrograms").iterdir():
        if f.stem != str(gone):
            (data / "train_spectrograms" / f.name).symlink_to(f)
    result = score_data_dir(predictor, data)
    hit = (train["spectrogram_id"] == gone).to_numpy()
    assert result.rows["spec_source"].tolist() == ["eeg" if h else "kaggle" for h in hit]
    assert len(result.info["spec_from_eeg"]) == hit.sum()
    assert all("file not found" in why for why in result.info["spec_from_eeg"].values())
    rows = train[hit]
    eegs = [read_eeg(twin / "train_eegs" / f"{r.eeg_id}.parquet") for r in rows.itertuples()]
    x = np.stack([eeg_window(e, r.eeg_label_offset_seconds)
                  for e, r in zip(eegs, rows.itertuples(), strict=True)])  # fmt: skip
    spec = np.concatenate([
        eeg_spectrogram_windows(e.data, e.sfreq_hz, [r.eeg_label_offset_seconds + 25.0])
        for e, r in zip(eegs, rows.itertuples(), strict=True)
    ])  # fmt: skip
    np.testing.assert_allclose(result.probs[MODEL][hit], predictor.predict(x, spec), atol=1e-6)
    other = score_data_dir(predictor, twin)  # with the file: the Kaggle spectrogram is read
    assert (other.rows["spec_source"] == "kaggle").all()
    np.testing.assert_allclose(result.probs[MODEL][~hit], other.probs[MODEL][~hit], atol=1e-6)


def test_real_segments_with_spectrogram_runs(shared_data, tmp_path):
    """EEG-only real data: a spectrogram model reads spectrograms computed from each EEG."""
    run = _spec2d_run(tmp_path / "spec2d")
    predictor = Predictor.from_runs([run], device="cpu")
    data = shared_data / SEGMENTS
    result = score_data_dir(predictor, data)
    train = pd.read_csv(data / "train.csv")
    assert (result.rows["spec_source"] == "eeg").all() and len(result.rows) == len(train) == 12
    eegs = [read_eeg(data / "train_eegs" / f"{i}.parquet") for i in train["eeg_id"]]
    x = np.stack([e.data[:, :10_000] for e in eegs])
    spec = np.concatenate([eeg_spectrogram_windows(e.data, e.sfreq_hz, [25.0]) for e in eegs])
    assert (np.isfinite(spec).all(axis=(2, 3)).sum(axis=1) == 25).all()  # 50 s of EEG each
    np.testing.assert_allclose(result.probs[MODEL], predictor.predict(x, spec), atol=1e-6)
    assert not np.allclose(result.probs[MODEL], predictor.class_prior, atol=1e-3)
    out = tmp_path / "o"
    cli = CliRunner().invoke(app, ["score", str(data), "--models", str(run), "--out", str(out),
                                   "--device", "cpu"])  # fmt: skip
    assert cli.exit_code == 0, cli.output
    assert "12 rows had no usable Kaggle spectrogram" in cli.output
    assert pd.read_csv(out / "segments.csv")["spec_source"].eq("eeg").all()
    assert "12 of 12 rows had no usable Kaggle spectrogram" in (out / "score.md").read_text()


CROP_10S = {"crop_s": 10.0, "downsample": 5}


def test_ten_second_segments_are_scored_by_runs_that_read_10_s(run_factory, run_dir, tmp_path):
    """The shipped 10-s IIIC segments: a run that reads a central 10-s crop scores them, and the
    crop comes before any filter, so a 10-s segment scores exactly as a 50-s window holding it
    in its centre; a 50-s run cannot score them and says so (nothing is padded)."""
    from iiic.data.real_segments import load_eeg, write_layout

    data = write_layout(tmp_path / "real10", "10s")
    crop = run_factory(tmp_path / "crop10", preprocess=CROP_10S)
    predictor = Predictor.from_runs([crop], device="cpu")
    assert predictor.window_samples == (2_000, 10_000)
    result = score_data_dir(predictor, data)
    assert result.info["n_rows"] == 10 and result.info["segment_seconds"] == [10.0]
    assert {MODEL, UNIFORM, PRIOR} <= set(result.summary)
    assert result.summary[UNIFORM]["kl"] == pytest.approx(1.445, abs=1e-3)  # the PROVENANCE figure
    lo, hi = result.summary[MODEL]["kl_ci90"]
    assert lo <= result.summary[MODEL]["kl"] <= hi
    short = load_eeg("10s")
    wide = np.random.default_rng(0).normal(scale=30, size=(10, len(short[0]), 10_000))
    wide[:, :, 4_000:6_000] = short
    np.testing.assert_allclose(predictor.predict(wide), result.probs[MODEL], atol=1e-6)

    with pytest.raises(ScoreError, match="10-s segments.*crop"):
        score_data_dir(Predictor.from_runs([run_dir], device="cpu"), data)
    both = Predictor.from_runs([run_dir, crop], device="cpu")
    assert both.reading(10_000) is both
    sub = both.reading(2_000)
    assert [r.path for r in sub.runs] == [crop] and sub.weights.tolist() == [1.0]
    np.testing.assert_allclose(sub.predict(short), result.probs[MODEL], atol=1e-6)


def test_a_short_file_without_segment_seconds_is_scored_on_what_it_holds(run_factory, tmp_path):
    from iiic.data.real_segments import write_layout

    data = write_layout(tmp_path / "real10", "10s")
    table = pd.read_csv(data / "train.csv")
    table.drop(columns="segment_seconds").to_csv(data / "train.csv", index=False)
    predictor = Predictor.from_runs([run_factory(tmp_path / "c", preprocess=CROP_10S)],
                                    device="cpu")  # fmt: skip
    assert score_data_dir(predictor, data).info["segment_seconds"] == [10.0]
    table.assign(segment_seconds=60).to_csv(data / "train.csv", index=False)
    with pytest.raises(ScoreError, match="segment_seconds must lie in"):
        score_data_dir(predictor, data)
