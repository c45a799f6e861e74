"""Windows of the 9 real train rows of EEG 1628180742 / spectrogram 353733, and edge cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iiic.constants import EEG_WINDOW_SAMPLES, SPEC_WINDOW_ROWS
from iiic.data.errors import WindowError
from iiic.data.layout import DataDir, read_train_csv
from iiic.data.readers import read_eeg, read_spectrogram
from iiic.data.windows import (
    eeg_window,
    spectrogram_window,
    spectrogram_window_slice,
    train_row_windows,
    whole_test_eeg,
    whole_test_spectrogram,
)
from iiic.data.writers import write_eeg, write_spectrogram

EEG_ID, SPEC_ID = 1628180742, 353733


@pytest.fixture(scope="module")
def real(shared_data: Path):
    signals = shared_data / "hms-train-signals"
    train = read_train_csv(shared_data / "hms-train-labels-reconstructed" / "train.csv.gz")
    rows = train[train.eeg_id == EEG_ID].sort_values("eeg_sub_id")
    eeg = read_eeg(signals / "train_eegs" / f"{EEG_ID}.parquet")
    spec = read_spectrogram(signals / "train_spectrograms" / f"{SPEC_ID}.parquet")
    return rows, eeg, spec


def test_nine_real_windows(real) -> None:
    rows, eeg, spec = real
    assert len(rows) == 9 and (rows.spectrogram_id == SPEC_ID).all()
    assert rows.eeg_label_offset_seconds.tolist() == [0, 6, 8, 18, 24, 26, 30, 36, 40]
    for row in rows.itertuples():
        x = eeg_window(eeg, row.eeg_label_offset_seconds)
        assert x.shape == (20, EEG_WINDOW_SAMPLES) and x.dtype == np.float32
        start = int(row.eeg_label_offset_seconds * 200)
        np.testing.assert_array_equal(x, eeg.data[:, start : start + EEG_WINDOW_SAMPLES])
        s = spectrogram_window(spec, row.spectrogram_label_offset_seconds)
        assert s.shape == (SPEC_WINDOW_ROWS, 4, 100)
        first = int(row.spectrogram_label_offset_seconds) // 2  # times 1, 3, 5, ...
        np.testing.assert_array_equal(s, spec.data[first : first + SPEC_WINDOW_ROWS])
    x6 = eeg_window(eeg, 6.0)
    np.testing.assert_array_equal(x6, eeg.data[:, 1200:11200])
    # the last window (offset 40 s) ends exactly at the last spectrogram row, time 639 s
    sl = spectrogram_window_slice(spec.times_s, 40.0)
    assert spec.times_s[sl][[0, -1]].tolist() == [41.0, 639.0]


def test_train_row_windows_reads_files(real, shared_data: Path) -> None:
    rows, eeg, _ = real
    data = DataDir(shared_data / "hms-train-signals")
    x, s = train_row_windows(rows.iloc[3], data)  # offset 18 s
    np.testing.assert_array_equal(x, eeg.data[:, 3600:13600])
    assert s.shape == (300, 4, 100)


def test_past_the_end_names_row_and_file(real) -> None:
    _, eeg, spec = real
    with pytest.raises(WindowError, match=rf"^{eeg.source}: eeg_id=1, eeg_sub_id=9: EEG window"):
        eeg_window(eeg, 40.5, row="eeg_id=1, eeg_sub_id=9")
    with pytest.raises(WindowError, match="runs past the file"):
        spectrogram_window(spec, 42.0)
    with pytest.raises(WindowError, match="runs past"):
        eeg_window(eeg, -1.0)


def test_gap_in_spectrogram_time() -> None:
    times = np.delete(np.arange(1, 700, 2, dtype=float), 10)
    with pytest.raises(WindowError, match="holds 299 rows, expected 300"):
        spectrogram_window_slice(times, 0.0)


def test_whole_test_files(tmp_path: Path) -> None:
    eeg = read_eeg(write_eeg(tmp_path / "t.parquet", np.ones((20, EEG_WINDOW_SAMPLES))))
    assert whole_test_eeg(eeg).shape == (20, EEG_WINDOW_SAMPLES)
    longer = read_eeg(write_eeg(tmp_path / "l.parquet", np.ones((20, EEG_WINDOW_SAMPLES + 200))))
    with pytest.raises(WindowError, match="must hold exactly 50 s"):
        whole_test_eeg(longer, row="eeg_id=5")
    times = np.arange(1, 600, 2)
    spec = read_spectrogram(
        write_spectrogram(tmp_path / "s.parquet", times, np.ones((300, 4, 100)), "int16")
    )
    assert whole_test_spectrogram(spec).shape == (300, 4, 100)


def test_rows_are_the_first_of_train_csv(shared_data: Path) -> None:
    head = pd.read_csv(shared_data / "hms-train-labels-reconstructed" / "train.csv.gz", nrows=9)
    assert (head.eeg_id == EEG_ID).all() and (head.seizure_vote == 3).all()
