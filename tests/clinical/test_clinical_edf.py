"""Reading clinical EDF files: real PhysioNet/TUH files, edfio-written files, and broken files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample_poly

from iiic.clinical.channels import NEIGHBOURS
from iiic.clinical.edf import Recording, RecordingError, read_recording, resample_blocks
from iiic.clinical.windows import window_starts
from iiic.constants import EEG_CHANNELS, EKG_INDEX, ELECTRODES, SFREQ_HZ


def _physionet(shared_data: Path) -> Path:
    return shared_data / "eeg-edf-samples" / "eegmmidb_S001R03.edf"


def test_physionet_file_reads_maps_and_resamples(shared_data: Path) -> None:
    import mne

    path = _physionet(shared_data)
    rec = read_recording(path)
    assert rec.data.shape == (20, 125 * round(SFREQ_HZ))
    assert rec.data.dtype == np.float32
    assert rec.original_sfreq_hz == 160.0
    sources = {m.target: m.source for m in rec.mapping}
    assert sources["T3"] == "T7.." and sources["T6"] == "P8.." and sources["Fp1"] == "Fp1."
    assert sum(m.how == "alias" for m in rec.mapping) == 4
    assert [m.target for m in rec.mapping if m.source] == list(ELECTRODES)
    assert not np.any(rec.data[EKG_INDEX]) and any("EKG" in n for n in rec.notes)
    assert rec.start is not None and rec.start.year == 2009
    assert len(rec.annotations) == 30 and len(rec.ignored) == 64 - 19
    assert len(window_starts(rec.data.shape[1], 10.0)) == 8  # starts 0, 10, ..., 70 s
    # The block-wise resampling equals MNE's data resampled in one piece (µV).
    raw = mne.io.read_raw_edf(path, preload=True, verbose="error", encoding="latin1")
    fp1 = raw.get_data(picks=["Fp1."])[0] * 1e6
    whole = resample_poly(fp1, 5, 4, padtype="line")
    np.testing.assert_allclose(rec.data[0], whole, atol=1e-3 * np.abs(whole).max())


def test_tuh_clip_is_too_short(shared_data: Path) -> None:
    path = shared_data / "eeg-edf-samples" / "tuh_nedc_example_00008836_s003_5s.edf"
    with pytest.raises(RecordingError, match=r"tuh_nedc.*5\.0 s long.*at least 50 s"):
        read_recording(path)


def test_not_an_edf(tmp_path: Path) -> None:
    path = tmp_path / "notes.edf"
    path.write_text("patient notes, not a recording\n" * 20)
    with pytest.raises(RecordingError, match=r"notes\.edf: not an EDF"):
        read_recording(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="no such file"):
        read_recording(tmp_path / "absent.edf")


def test_truncated_file(shared_data: Path, tmp_path: Path) -> None:
    path = tmp_path / "cut.edf"
    shutil.copy(_physionet(shared_data), path)
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size // 2)
    with pytest.raises(RecordingError, match=r"cut\.edf: truncated file.*125 data records"):
        read_recording(path)


def test_low_sampling_rate(tmp_path: Path, edf_writer, make_background, tuh_labels) -> None:
    data = make_background(21, 60 * 64)
    path = edf_writer(tmp_path / "slow.edf", data, 64.0, tuh_labels)
    with pytest.raises(RecordingError, match=r"slow\.edf: sampling rate 64 Hz is below the 100 Hz"):
        read_recording(path)


def test_tuh_style_labels_at_256_hz(
    tmp_path: Path, edf_writer, make_background, tuh_labels
) -> None:
    n = 60 * 256
    data = make_background(21, n)
    path = edf_writer(tmp_path / "tuh.edf", data, 256.0, tuh_labels)
    rec = read_recording(path)
    assert rec.data.shape == (20, 60 * 200)
    assert rec.ignored == ["PHOTIC-REF"] and rec.interpolated == []
    expected = resample_poly(data[:20], 25, 32, axis=1, padtype="line")
    np.testing.assert_allclose(rec.data, expected, atol=0.2)  # 16-bit quantisation of ±3000 µV
    assert rec.rails_uv is not None and rec.rails_uv[0, 1] == pytest.approx(3000.0)


def test_missing_electrode_is_an_error_listing_the_channels(
    tmp_path: Path, edf_writer, make_background, tuh_labels
) -> None:
    labels = [lab for lab in tuh_labels if "O1" not in lab]
    path = edf_writer(tmp_path / "no_o1.edf", make_background(20, 60 * 200), 200.0, labels)
    with pytest.raises(RecordingError, match=r"missing electrode\(s\) \['O1'\].*EEG FP1-REF"):
        read_recording(path)
    rec = read_recording(path, allow_missing=1)
    assert rec.interpolated == ["O1"]
    o1 = rec.data[EEG_CHANNELS.index("O1")]
    neighbours = rec.data[[EEG_CHANNELS.index(n) for n in NEIGHBOURS["O1"]]].mean(axis=0)
    np.testing.assert_allclose(o1, neighbours, atol=1e-3)
    assert next(m for m in rec.mapping if m.target == "O1").how == "interpolated"


def test_resample_blocks_equals_one_piece(make_background) -> None:
    sfreq = 256.0
    x = make_background(2, int(25 * 60 * sfreq), seed=3).astype(np.float64)  # 25 min: 3 blocks
    out = resample_blocks(lambda a, b: x[:, a:b], x.shape[1], sfreq)
    whole = resample_poly(x, 25, 32, axis=1, padtype="line")
    assert out.shape == whole.shape
    np.testing.assert_allclose(out, whole, atol=1e-3)


def test_from_array_checks_length_and_shape() -> None:
    with pytest.raises(RecordingError, match="at least 50 s"):
        Recording.from_array(np.zeros((20, 200 * 10)), 200.0)
    with pytest.raises(ValueError, match=r"shape \(20, n_times\)"):
        Recording.from_array(np.zeros((19, 200 * 60)), 200.0)
    rec = Recording.from_array(np.zeros((20, 250 * 60)), 250.0)
    assert rec.data.shape == (20, 200 * 60)
