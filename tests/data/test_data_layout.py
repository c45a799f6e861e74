"""train.csv / test.csv schema checks and the Kaggle path layout."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from iiic.data.errors import DataError
from iiic.data.layout import DataDir, read_test_csv, read_train_csv


def test_paths(tmp_path: Path) -> None:
    d = DataDir(tmp_path)
    assert d.eeg_path(12, "train") == tmp_path / "train_eegs" / "12.parquet"
    assert d.spectrogram_path(3, "test") == tmp_path / "test_spectrograms" / "3.parquet"
    assert d.train_csv.name == "train.csv" and d.sample_submission_csv.parent == tmp_path
    with pytest.raises(ValueError, match=r"split: expected 'train' or 'test'; received 'val'"):
        d.eeg_path(1, "val")


def _segments(shared_data: Path) -> pd.DataFrame:
    return pd.read_csv(shared_data / "iiic-real-segments" / "train.csv")


def test_read_real_train_csvs(shared_data: Path) -> None:
    df = read_train_csv(shared_data / "iiic-real-segments" / "train.csv")
    assert len(df) == 12 and df.seizure_vote.dtype == "int64"


def _write(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path, index=False)
    return path


def test_negative_votes(shared_data: Path, tmp_path: Path) -> None:
    df = _segments(shared_data)
    df.loc[4, "lpd_vote"] = -1
    path = _write(df, tmp_path / "train.csv")
    with pytest.raises(DataError, match=rf"^{path}: row 4 \(eeg_id=\d+, eeg_sub_id=0\): negative"):
        read_train_csv(path)


def test_missing_column_and_bad_values(shared_data: Path, tmp_path: Path) -> None:
    path = _write(_segments(shared_data).drop(columns=["patient_id"]), tmp_path / "a.csv")
    with pytest.raises(DataError, match=r"missing column\(s\) \['patient_id'\]"):
        read_train_csv(path)
    df = _segments(shared_data)
    df.loc[0, "expert_consensus"] = "Spike"
    with pytest.raises(DataError, match="'expert_consensus': 1 values not in"):
        read_train_csv(_write(df, tmp_path / "b.csv"))
    df = _segments(shared_data)
    df.loc[2, "eeg_label_offset_seconds"] = -2
    with pytest.raises(DataError, match="missing or negative offsets"):
        read_train_csv(_write(df, tmp_path / "c.csv"))
    df = pd.concat([_segments(shared_data)] * 2)
    with pytest.raises(DataError, match=r"12 duplicate \(eeg_id, eeg_sub_id\) keys"):
        read_train_csv(_write(df, tmp_path / "d.csv"))


def test_empty_csv(tmp_path: Path) -> None:
    empty = tmp_path / "train.csv"
    empty.write_text("")
    with pytest.raises(DataError, match=rf"^{empty}: empty file"):
        read_train_csv(empty)
    header = tmp_path / "test.csv"
    header.write_text("spectrogram_id,eeg_id,patient_id\n")
    with pytest.raises(DataError, match=r"no rows \(header only\)"):
        read_test_csv(header)
    with pytest.raises(DataError, match="file not found"):
        read_train_csv(tmp_path / "absent.csv")


def test_test_csv(tmp_path: Path) -> None:
    path = tmp_path / "test.csv"
    path.write_text("spectrogram_id,eeg_id,patient_id\n853520,3911565283,6885\n")
    assert read_test_csv(path).eeg_id.tolist() == [3911565283]
