"""The synthetic twin's Kaggle layout: files, columns, dtypes, lengths, determinism, validation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from iiic import constants
from iiic.evaluate.metric import kl_divergence
from iiic.synth import TRUE_COLUMNS, generate_twin

SMALL = {"n_patients": 4, "seed": 7, "max_eegs_per_patient": 2, "max_rows_per_eeg": 5}


@pytest.fixture(scope="module")
def twin(tmp_path_factory) -> Path:
    return generate_twin(tmp_path_factory.mktemp("twin"), **SMALL)


def test_layout_files_and_csv_columns(twin: Path) -> None:
    for name in ("train.csv", "test.csv", "sample_submission.csv", "truth.parquet",
                 "test_truth.parquet", "synth_summary.json"):  # fmt: skip
        assert (twin / name).is_file(), name
    train = pd.read_csv(twin / "train.csv")
    assert list(train.columns[:8]) == [
        "eeg_id", "eeg_sub_id", "eeg_label_offset_seconds", "spectrogram_id",
        "spectrogram_sub_id", "spectrogram_label_offset_seconds", "label_id", "patient_id",
    ]  # fmt: skip
    assert list(train.columns[8:]) == ["expert_consensus", *constants.VOTE_COLUMNS]
    votes = train[list(constants.VOTE_COLUMNS)].to_numpy()
    assert votes.dtype.kind == "i" and (votes >= 0).all()
    assert votes.sum(axis=1).min() >= 1 and votes.sum(axis=1).max() <= 28
    expected = [constants.CLASS_LABELS[i] for i in votes.argmax(axis=1)]
    assert train["expert_consensus"].tolist() == expected
    assert not train.duplicated(["eeg_id", "eeg_sub_id"]).any()
    test = pd.read_csv(twin / "test.csv")
    assert list(test.columns) == ["spectrogram_id", "eeg_id", "patient_id"]
    sub = pd.read_csv(twin / "sample_submission.csv")
    assert list(sub.columns) == ["eeg_id", *constants.VOTE_COLUMNS]
    np.testing.assert_allclose(sub[list(constants.VOTE_COLUMNS)].sum(axis=1), 1.0)


def test_train_eeg_files_cover_windows(twin: Path) -> None:
    train = pd.read_csv(twin / "train.csv")
    for eeg_id, rows in train.groupby("eeg_id"):
        pf = pq.ParquetFile(twin / "train_eegs" / f"{eeg_id}.parquet")
        assert pf.schema_arrow.names == list(constants.EEG_CHANNELS)
        assert all(str(t) == "float" for t in pf.schema_arrow.types)
        end_s = rows["eeg_label_offset_seconds"].max() + constants.EEG_WINDOW_S
        assert pf.metadata.num_rows == round(end_s * constants.SFREQ_HZ)


def test_spectrogram_files(twin: Path) -> None:
    train = pd.read_csv(twin / "train.csv")
    for spec_id, rows in train.groupby("spectrogram_id"):
        df = pd.read_parquet(twin / "train_spectrograms" / f"{spec_id}.parquet")
        assert list(df.columns) == ["time", *constants.SPEC_COLUMNS]
        assert df["time"].dtype == np.int64
        assert (df[list(constants.SPEC_COLUMNS)].dtypes == np.float32).all()
        np.testing.assert_array_equal(df["time"], 2 * np.arange(len(df)) + 1)
        assert df["time"].max() + 1 >= rows["spectrogram_label_offset_seconds"].max() + 600
        values = df[list(constants.SPEC_COLUMNS)].to_numpy()
        finite = values[np.isfinite(values)]
        assert finite.min() >= 0 and 0.05 < np.median(finite) < 100  # real files: 0.2-0.5
        assert rows["spectrogram_sub_id"].tolist() == list(range(len(rows)))


def test_test_split_exact_lengths(twin: Path) -> None:
    test = pd.read_csv(twin / "test.csv")
    assert len(test) >= 2
    for row in test.itertuples():
        eeg = pd.read_parquet(twin / "test_eegs" / f"{row.eeg_id}.parquet")
        assert eeg.shape == (constants.EEG_WINDOW_SAMPLES, 20)
        spec = pd.read_parquet(twin / "test_spectrograms" / f"{row.spectrogram_id}.parquet")
        assert spec.shape == (constants.SPEC_WINDOW_ROWS, 401)
        assert spec["time"].dtype == np.int16 and spec["time"].iloc[-1] == 599
    truth = pd.read_parquet(twin / "test_truth.parquet")
    assert truth["eeg_id"].tolist() == test["eeg_id"].tolist()
    np.testing.assert_allclose(truth[list(TRUE_COLUMNS)].sum(axis=1), 1.0)


def test_truth_and_oracle_kl(twin: Path) -> None:
    train = pd.read_csv(twin / "train.csv")
    truth = pd.read_parquet(twin / "truth.parquet")
    merged = train.merge(truth, on=["eeg_id", "eeg_sub_id"], validate="one_to_one")
    assert len(merged) == len(train)
    t = merged[list(TRUE_COLUMNS)].to_numpy()
    np.testing.assert_allclose(t.sum(axis=1), 1.0, atol=1e-9)
    votes = merged[list(constants.VOTE_COLUMNS)].to_numpy()
    oracle = kl_divergence(votes, t)
    uniform = kl_divergence(votes, np.full_like(t, 1 / 6))
    summary = json.loads((twin / "synth_summary.json").read_text())
    assert summary["oracle_kl"] == pytest.approx(oracle)
    assert 0 < oracle < 0.6 * uniform  # truth explains the votes far better than a flat guess


def test_deterministic_and_independent_of_workers(twin: Path, tmp_path: Path) -> None:
    again = generate_twin(tmp_path / "again", workers=2, **SMALL)
    pd.testing.assert_frame_equal(pd.read_csv(twin / "train.csv"), pd.read_csv(again / "train.csv"))
    eeg_id = pd.read_csv(twin / "train.csv")["eeg_id"].iloc[0]
    a = pd.read_parquet(twin / "train_eegs" / f"{eeg_id}.parquet").to_numpy()
    b = pd.read_parquet(again / "train_eegs" / f"{eeg_id}.parquet").to_numpy()
    np.testing.assert_array_equal(a, b)
    other = generate_twin(tmp_path / "other", **{**SMALL, "seed": 8})
    assert not pd.read_csv(other / "train.csv")["eeg_id"].isin([eeg_id]).any()


def test_iiic_validate_accepts_the_twin(twin: Path) -> None:
    validate = pytest.importorskip("iiic.data.validate")
    report = validate.validate_data_dir(twin, workers=1, progress=False)
    assert report.ok, report.errors
    assert report.errors == []


def _spec_with_missing_rows(twin: Path) -> Path:
    """A twin spectrogram holding missing rows (a twin with one is drawn for the test)."""
    for path in sorted((twin / "train_spectrograms").glob("*.parquet")):
        if pq.read_metadata(path).row_group(0).column(1).statistics.null_count:
            return path
    pytest.fail("no twin spectrogram with missing rows (expected ~30 % of files)")


@pytest.fixture(scope="module")
def twin_with_gaps(tmp_path_factory) -> Path:
    return generate_twin(tmp_path_factory.mktemp("gaps"), n_patients=12, seed=3,
                         max_eegs_per_patient=2, max_rows_per_eeg=3)  # fmt: skip


def test_twin_files_are_stored_like_the_real_ones(twin_with_gaps: Path, shared_data: Path) -> None:
    """Missing spectrogram rows are parquet nulls (not NaN floats), column names and types and
    their order match a real file, and the iiic reader turns both into NaN rows."""
    from iiic.data.readers import read_spectrogram

    real = shared_data / "hms-train-signals" / "unidentified" / "lxfted73_train_spectrogram_600s.parquet"  # fmt: skip
    path = _spec_with_missing_rows(twin_with_gaps)
    tables = {"real": pq.read_table(real), "twin": pq.read_table(path)}
    assert tables["twin"].schema.names == tables["real"].schema.names
    assert tables["twin"].schema.types == tables["real"].schema.types  # int64 time, float32
    for name, table in tables.items():
        col = table.column(constants.SPEC_COLUMNS[0]).combine_chunks()
        values = col.to_numpy(zero_copy_only=False)
        assert col.null_count > 0, name
        assert not np.isnan(values[col.is_valid().to_numpy(zero_copy_only=False)]).any(), name
        spec = read_spectrogram(real if name == "real" else path).data
        missing = np.isnan(spec).all(axis=(1, 2))
        assert missing.sum() == col.null_count, name  # whole rows, read back as NaN
    real_eeg = pq.read_schema(
        shared_data / "hms-train-signals" / "train_eegs" / "1000913311.parquet"
    )
    twin_eeg = pq.read_schema(next((twin_with_gaps / "train_eegs").glob("*.parquet")))
    assert twin_eeg.names == real_eeg.names and twin_eeg.types == real_eeg.types


def test_seen_strengths_average_the_envelope_over_the_window() -> None:
    from iiic.synth.generator import seen_strengths

    sfreq = round(constants.SFREQ_HZ)
    env = np.zeros((6, 120 * sfreq), np.float32)
    env[1, 40 * sfreq : 50 * sfreq] = 1.0  # LPD on for 10 s: [40, 50) s
    seen = seen_strengths(env, np.array([20.0, 0.0]))
    # window at 20 s: centre [40, 50) s fully on; 50 s window 10 of 50 s on
    np.testing.assert_allclose(seen[0, 1], 1.0)
    np.testing.assert_allclose(seen[0, 7], 0.2, atol=1e-6)
    # window at 0 s: centre [20, 30) s off; 50 s window [0, 50) holds the 10 s
    np.testing.assert_allclose(seen[1, [1, 7]], [0.0, 0.2], atol=1e-6)
    assert seen[:, [0, 2, 3, 4, 5]].max() == 0.0


def test_truth_records_what_the_signal_shows(twin: Path) -> None:
    from iiic.synth.twin import SEEN_COLUMNS

    truth = pd.read_parquet(twin / "truth.parquet")
    seen = truth[list(SEEN_COLUMNS)].to_numpy()
    assert seen.min() >= 0 and seen.max() <= 1 + 1e-6
    true = truth[list(TRUE_COLUMNS)].to_numpy()
    top = true.argmax(axis=1)
    # the dominant class of a window is what its centre shows most of, on average
    shown = seen[np.arange(len(top)), top].mean()
    others = seen[:, :6][np.arange(6)[None, :] != top[:, None]]
    assert shown > 0.4 and shown > 3 * others.mean()


def test_eeg_only_twin_has_no_train_spectrograms(tmp_path: Path) -> None:
    from iiic.data.cache import Cache, build_cache

    out = generate_twin(tmp_path / "t", spectrograms=False, n_patients=2, seed=3,
                        max_eegs_per_patient=1, max_rows_per_eeg=3)  # fmt: skip
    assert not list((out / "train_spectrograms").iterdir())
    assert json.loads((out / "synth_summary.json").read_text())["spectrograms"] is False
    cache = Cache.open(build_cache(out, tmp_path / "cache", eeg_only=True, progress=False))
    assert len(cache.rows) == len(pd.read_csv(out / "train.csv"))
