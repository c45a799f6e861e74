"""The 12 real IIIC segments shipped in the package: content, fidelity to the source, layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from iiic.constants import EEG_CHANNELS, VOTE_COLUMNS
from iiic.data import real_segments
from iiic.data.layout import DataDir, read_train_csv
from iiic.data.readers import read_eeg


def test_shipped_segments_are_two_per_class_with_votes_and_attribution() -> None:
    table = real_segments.load_table()
    votes = table[list(VOTE_COLUMNS)].to_numpy()
    assert len(table) == 12 and (votes.sum(axis=1) >= 3).all()
    names = table["source_name"].str.split("_").str[0].value_counts()
    assert sorted(names.index) == ["GPD", "GRDA", "LPD", "LRDA", "Other", "SZ"]
    assert (names == 2).all()
    eeg = real_segments.load_eeg()
    assert eeg.shape == (12, len(EEG_CHANNELS), 10_000) and eeg.dtype == np.float32
    assert np.isfinite(eeg).all() and (eeg.std(axis=2)[:, :19] > 1).all()  # real signal
    sparcnet = real_segments.load_sparcnet()
    assert sparcnet["eeg_id"].tolist() == table["eeg_id"].tolist()
    np.testing.assert_allclose(sparcnet[list(VOTE_COLUMNS)].sum(axis=1), 1.0, atol=1e-3)
    assert "ODC Attribution" in real_segments.ATTRIBUTION


def test_shipped_segments_equal_the_source_files(shared_data: Path) -> None:
    src = shared_data / "iiic-real-segments"
    table = real_segments.load_table()
    pd.testing.assert_frame_equal(table, pd.read_csv(src / "train.csv"))
    eeg = real_segments.load_eeg()
    for i, eeg_id in enumerate(table["eeg_id"]):
        x = pd.read_parquet(src / "train_eegs" / f"{eeg_id}.parquet").to_numpy().T
        np.testing.assert_allclose(eeg[i], x, atol=0.7)  # int16 storage, <= 0.69 µV off


def test_write_layout_is_a_kaggle_layout_that_reads_back(tmp_path: Path) -> None:
    out = real_segments.write_layout(tmp_path / "real")
    data = DataDir(out)
    train = read_train_csv(data.train_csv)
    assert len(train) == 12 and (out / "ATTRIBUTION.md").is_file()
    x = read_eeg(out / "train_eegs" / f"{train['eeg_id'].iloc[3]}.parquet").data
    np.testing.assert_array_equal(x, real_segments.load_eeg()[3])
    assert len(pd.read_csv(out / "sparcnet_predictions.csv")) == 12


def test_shipped_10s_segments_equal_the_source_files(shared_data: Path) -> None:
    src = shared_data / "iiic-real-segments-10s"
    table = real_segments.load_table("10s")
    pd.testing.assert_frame_equal(table, pd.read_csv(src / "train.csv"))
    assert (table["segment_seconds"] == 10).all() and (
        table[list(VOTE_COLUMNS)].sum(axis=1) >= 12
    ).all()
    eeg = real_segments.load_eeg("10s")
    assert eeg.shape == (10, len(EEG_CHANNELS), 2_000)
    for i, eeg_id in enumerate(table["eeg_id"]):
        x = pd.read_parquet(src / "train_eegs" / f"{eeg_id}.parquet").to_numpy().T
        np.testing.assert_allclose(eeg[i], x, atol=0.13)  # int16 storage, 0.25 µV step


def test_10s_layout_has_no_sparcnet_file_and_names_its_source(tmp_path: Path) -> None:
    out = real_segments.write_layout(tmp_path / "real10", "10s")
    assert not (out / "sparcnet_predictions.csv").exists()
    assert (
        "IIIC-IRR" in (out / "ATTRIBUTION.md").read_text()
        and "IIIC-IRR" in real_segments.ATTRIBUTIONS["10s"]
    )
    assert len(read_train_csv(DataDir(out).train_csv)) == 10
