"""``iiic validate`` on Kaggle-layout directories assembled from the real files (real CLI)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from iiic.cli import app
from iiic.data.validate import validate_data_dir
from iiic.data.writers import write_eeg, write_spectrogram

EEG_ID, SPEC_ID = 1628180742, 353733
runner = CliRunner()


def _kaggle_dir(shared_data: Path, root: Path) -> Path:
    """train.csv with the 9 real rows + 2 rows of an absent EEG; the real files + an
    unreferenced NaN-holding spectrogram; test.csv with one 50-s / 600-s pair."""
    signals = shared_data / "hms-train-signals"
    for folder in ("train_eegs", "train_spectrograms", "test_eegs", "test_spectrograms"):
        (root / folder).mkdir(parents=True)
    shutil.copy(signals / "train_eegs" / f"{EEG_ID}.parquet", root / "train_eegs")
    shutil.copy(signals / "train_spectrograms" / f"{SPEC_ID}.parquet", root / "train_spectrograms")
    unid = signals / "unidentified"
    shutil.copy(unid / "lxfted73_train_eeg_50s.parquet", root / "test_eegs" / "11.parquet")
    nan_spec = unid / "lxfted73_train_spectrogram_600s.parquet"
    shutil.copy(nan_spec, root / "test_spectrograms" / "22.parquet")
    shutil.copy(nan_spec, root / "train_spectrograms" / "5.parquet")  # referenced by no row
    train = pd.read_csv(shared_data / "hms-train-labels-reconstructed" / "train.csv.gz", nrows=11)
    train.to_csv(root / "train.csv", index=False)  # rows 9, 10: EEG 2277392603 (absent)
    pd.DataFrame({"spectrogram_id": [22], "eeg_id": [11], "patient_id": [7]}).to_csv(
        root / "test.csv", index=False
    )
    return root


def test_cli_on_real_files(shared_data: Path, tmp_path: Path) -> None:
    root = _kaggle_dir(shared_data, tmp_path / "data")
    result = runner.invoke(app, ["validate", str(root), "--json", "--workers", "2"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    c = report["counts"]
    assert (c["train_rows"], c["test_rows"], c["eegs"], c["spectrograms"], c["patients"]) == (
        11, 1, 3, 3, 3,
    )  # fmt: skip
    assert c["rows_ge_10_votes"] == 2 and c["files_read"] == 4
    assert report["class_distribution"]["Seizure"] == 9 and report["class_distribution"]["GPD"] == 2
    assert report["quality"] == {"<3": 0, "3-9": 9, ">=10": 2}
    assert report["agreement"] == {"idealized": 9, "proto": 2, "edge": 0, "other": 0}
    errors = report["errors"]
    assert len(errors) == 2 and all("file not found" in e for e in errors)
    assert any("train_eegs/2277392603.parquet" in e and "eeg_sub_id=1" in e for e in errors)
    nan_file = str(root / "test_spectrograms" / "22.parquet")
    assert report["nan_share"][nan_file] == pytest.approx(26 / 300)
    assert any("26 all-NaN rows" in w for w in report["warnings"])
    assert any("1 file(s) not referenced" in w for w in report["warnings"])
    # once the two rows of the absent EEG are gone, the directory is valid: exit 0
    pd.read_csv(root / "train.csv").head(9).to_csv(root / "train.csv", index=False)
    result = runner.invoke(app, ["validate", str(root)])
    assert result.exit_code == 0, result.output
    assert "0 error(s)" in result.stdout and "train_rows=9" in result.stdout


def test_iiic_segments_need_eeg_only(shared_data: Path) -> None:
    seg = shared_data / "iiic-real-segments"
    full = validate_data_dir(seg, workers=1, progress=False)
    assert len(full.errors) == 12 and all("train_spectrograms" in e for e in full.errors)
    report = validate_data_dir(seg, workers=1, eeg_only=True, progress=False)
    assert report.ok and report.counts["files_read"] == 12 and report.counts["train_rows"] == 12
    assert sum(report.class_distribution.values()) == 12


def _tiny_dir(root: Path, n_seconds: int = 60) -> Path:
    """One EEG (60 s) + one spectrogram (700 s) + a 2-row train.csv."""
    rng = np.random.default_rng(0)
    write_eeg(root / "train_eegs" / "1.parquet", rng.normal(0, 20, (20, n_seconds * 200)))
    times = np.arange(1, 700, 2)
    write_spectrogram(root / "train_spectrograms" / "2.parquet", times, rng.random((350, 4, 100)))
    row = {"eeg_id": 1, "eeg_sub_id": 0, "eeg_label_offset_seconds": 0.0, "spectrogram_id": 2,
           "spectrogram_sub_id": 0, "spectrogram_label_offset_seconds": 0.0, "label_id": 1,
           "patient_id": 3, "expert_consensus": "LPD", "seizure_vote": 0, "lpd_vote": 2,
           "gpd_vote": 0, "lrda_vote": 0, "grda_vote": 0, "other_vote": 1}  # fmt: skip
    second = {**row, "eeg_sub_id": 1, "eeg_label_offset_seconds": 10.0,
              "spectrogram_label_offset_seconds": 10.0}  # fmt: skip
    pd.DataFrame([row, second]).to_csv(root / "train.csv", index=False)
    return root


def test_bad_inputs_each_reported(tmp_path: Path) -> None:
    root = _tiny_dir(tmp_path)
    assert validate_data_dir(root, workers=1).ok
    df = pd.read_csv(root / "train.csv")
    df.loc[1, "eeg_label_offset_seconds"] = 20.0  # [20, 70) s > 60 s
    df.loc[0, "spectrogram_label_offset_seconds"] = 150.0  # [150, 750) s > 700 s
    df.loc[1, "other_vote"] = -1
    df.to_csv(root / "train.csv", index=False)
    errors = validate_data_dir(root, workers=1).errors
    assert len(errors) == 2
    assert "row 1 (eeg_id=1, eeg_sub_id=1): negative votes" in errors[0]
    assert errors[1].startswith(
        f"{root / 'train_spectrograms' / '2.parquet'}: eeg_id=1, eeg_sub_id=0"
    )
    df.loc[1, "other_vote"] = 1
    df.to_csv(root / "train.csv", index=False)
    errors = validate_data_dir(root, workers=1).errors
    assert any("EEG window [20, 70) s runs past the file (0 .. 60 s" in e for e in errors)
    eeg = root / "train_eegs" / "1.parquet"
    eeg.write_bytes(eeg.read_bytes()[:1000])  # truncated
    errors = validate_data_dir(root, workers=1).errors
    assert any(e.startswith(f"{eeg}: not a parquet file or truncated") for e in errors)


def test_empty_or_missing_tables(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text("")
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 1 and "empty file" in result.output
    (tmp_path / "train.csv").unlink()
    report = validate_data_dir(tmp_path, workers=1)
    assert report.errors == [f"{tmp_path}: neither train.csv nor test.csv found"]
    assert not validate_data_dir(tmp_path / "nope").ok
