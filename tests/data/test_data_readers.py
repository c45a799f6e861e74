"""Readers on the real HMS files and on every kind of broken file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from iiic.constants import EEG_CHANNELS, SFREQ_HZ, SPEC_COLUMNS, SPEC_FREQS_HZ
from iiic.data.errors import DataError
from iiic.data.readers import eeg_n_times, read_eeg, read_spectrogram
from iiic.data.writers import write_eeg, write_spectrogram

SIGNALS = "hms-train-signals"


def test_real_eeg(shared_data: Path) -> None:
    path = shared_data / SIGNALS / "train_eegs" / "1628180742.parquet"
    eeg = read_eeg(path)
    assert eeg.data.shape == (20, 18000) and eeg.data.dtype == np.float32
    assert eeg.channels == EEG_CHANNELS and eeg.sfreq_hz == SFREQ_HZ and eeg.source == path
    assert eeg.duration_s == 90.0 and eeg_n_times(path) == 18000
    table = pq.read_table(path)
    np.testing.assert_array_equal(eeg.data[EEG_CHANNELS.index("O2")], table["O2"].to_numpy())
    # real µV amplitudes, not volts or raw ADC counts
    assert 1 < np.nanstd(eeg.data[:19]) < 1000


def test_real_spectrogram(shared_data: Path) -> None:
    spec = read_spectrogram(shared_data / SIGNALS / "train_spectrograms" / "353733.parquet")
    assert spec.data.shape == (320, 4, 100) and spec.data.dtype == np.float32
    np.testing.assert_array_equal(spec.times_s, np.arange(1, 640, 2))
    np.testing.assert_allclose(spec.freqs_hz, SPEC_FREQS_HZ)
    table = pq.read_table(spec.source)
    # chain-major columns: [row, chain, freq] is column chain*100 + freq
    np.testing.assert_array_equal(spec.data[:, 2, 7], table[SPEC_COLUMNS[2 * 100 + 7]].to_numpy())
    assert SPEC_COLUMNS[207].startswith("LP_")


def test_unlabelled_real_files(shared_data: Path) -> None:
    folder = shared_data / SIGNALS / "unidentified"
    spec = read_spectrogram(folder / "lxfted73_train_spectrogram_600s.parquet")
    all_nan = np.isnan(spec.data).all(axis=(1, 2))
    assert spec.data.shape == (300, 4, 100) and all_nan.sum() == 26
    assert read_eeg(folder / "lxfted73_train_eeg_50s.parquet").n_times == 10_000
    assert read_eeg(folder / "anikaitlakhotia_sample_eeg_66s.parquet").n_times == 13_200


def test_iiic_segments_read(shared_data: Path) -> None:
    files = sorted((shared_data / "iiic-real-segments" / "train_eegs").glob("*.parquet"))
    assert len(files) == 12
    for f in files:
        assert read_eeg(f).data.shape == (20, 10_000)


@pytest.mark.parametrize("dtype", ["int16", "int32", "int64"])
def test_spectrogram_time_dtypes(tmp_path: Path, dtype: str) -> None:
    data = np.random.default_rng(0).random((5, 4, 100), dtype=np.float32)
    data[2] = np.nan
    path = write_spectrogram(tmp_path / "s.parquet", np.arange(1, 10, 2), data, time_dtype=dtype)
    spec = read_spectrogram(path)
    assert spec.times_s.dtype == np.float64 and spec.times_s.tolist() == [1, 3, 5, 7, 9]
    np.testing.assert_array_equal(spec.data, data)  # NaN rows kept, positions preserved


def _eeg(tmp_path: Path, n: int = 400) -> Path:
    return write_eeg(tmp_path / "e.parquet", np.zeros((20, n), np.float32))


def test_truncated_parquet(tmp_path: Path) -> None:
    path = _eeg(tmp_path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match=rf"^{path}: not a parquet file or truncated"):
        read_eeg(path)


def test_empty_and_non_parquet_and_missing(tmp_path: Path) -> None:
    empty = tmp_path / "empty.parquet"
    empty.touch()
    with pytest.raises(DataError, match=r"empty file \(0 bytes\)"):
        read_eeg(empty)
    text = tmp_path / "text.parquet"
    text.write_text("eeg_id,Fp1\n1,2\n")
    with pytest.raises(DataError, match=rf"^{text}: not a parquet file"):
        read_spectrogram(text)
    with pytest.raises(DataError, match="file not found"):
        read_eeg(tmp_path / "absent.parquet")


def test_zero_rows(tmp_path: Path) -> None:
    path = write_eeg(tmp_path / "z.parquet", np.zeros((20, 0), np.float32))
    with pytest.raises(DataError, match=rf"^{path}: no rows"):
        read_eeg(path)


def test_missing_and_extra_columns(tmp_path: Path) -> None:
    table = pq.read_table(_eeg(tmp_path))
    pq.write_table(table.drop(["Cz"]), tmp_path / "m.parquet")
    with pytest.raises(DataError, match=r"missing column\(s\) \['Cz'\]"):
        read_eeg(tmp_path / "m.parquet")
    pq.write_table(table.append_column("X1", table["Cz"]), tmp_path / "x.parquet")
    with pytest.raises(DataError, match=r"unexpected column\(s\) \['X1'\]"):
        read_eeg(tmp_path / "x.parquet")


def test_wrong_dtype(tmp_path: Path) -> None:
    table = pq.read_table(_eeg(tmp_path))
    i = table.schema.get_field_index("Fp1")
    table = table.set_column(i, "Fp1", pa.array(np.zeros(table.num_rows, dtype=np.int32)))
    pq.write_table(table, tmp_path / "w.parquet")
    with pytest.raises(DataError, match="column 'Fp1' has dtype int32, expected float32"):
        read_eeg(tmp_path / "w.parquet")
    spec = write_spectrogram(tmp_path / "s.parquet", np.arange(1, 5, 2), np.zeros((2, 4, 100)))
    t = pq.read_table(spec)
    t = t.set_column(0, "time", pa.array(["1", "3"]))
    pq.write_table(t, tmp_path / "s2.parquet")
    with pytest.raises(DataError, match="column 'time' has dtype string"):
        read_spectrogram(tmp_path / "s2.parquet")


def test_time_not_increasing(tmp_path: Path) -> None:
    path = write_spectrogram(tmp_path / "s.parquet", np.array([1, 5, 3]), np.zeros((3, 4, 100)))
    with pytest.raises(DataError, match="not strictly increasing"):
        read_spectrogram(path)
