"""The training cache: windows equal the parquet files, NaN filling, exclusions, resumption."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from iiic.cli import app
from iiic.constants import EEG_WINDOW_SAMPLES, SFREQ_HZ, VOTE_COLUMNS
from iiic.data.cache import Cache, build_cache
from iiic.data.errors import DataError, WindowError
from iiic.data.folds import read_folds
from iiic.data.plausibility import fill_nan
from iiic.data.readers import read_eeg, read_spectrogram
from iiic.data.writers import write_eeg, write_spectrogram

EEG_ID, SPEC_ID = 1628180742, 353733
FS = int(SFREQ_HZ)


def _row(eeg_id, sub, off, spec_id, spec_off, patient, votes=(0, 2, 0, 0, 0, 1)) -> dict:
    return {"eeg_id": eeg_id, "eeg_sub_id": sub, "eeg_label_offset_seconds": off,
            "spectrogram_id": spec_id, "spectrogram_sub_id": sub,
            "spectrogram_label_offset_seconds": spec_off, "label_id": 0, "patient_id": patient,
            "expert_consensus": "LPD", **dict(zip(VOTE_COLUMNS, votes, strict=True))}  # fmt: skip


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """3 EEGs (60 s, one with a NaN stretch and an all-NaN channel, one truncated file),
    2 spectrograms (700 s, one with 3 NaN rows), 7 rows (one window past the end)."""
    root = tmp_path / "data"
    rng = np.random.default_rng(1)
    x = rng.normal(0, 30, (3, 20, 60 * FS)).astype(np.float32)
    x[0, 3, 1000:1400] = np.nan  # 400 samples in channel Fz... (index 3: P3)
    x[0, 19] = np.nan  # EKG missing entirely
    for i in range(3):
        write_eeg(root / "train_eegs" / f"{i + 1}.parquet", x[i])
    bad = root / "train_eegs" / "3.parquet"
    bad.write_bytes(bad.read_bytes()[:2000])
    s = rng.random((2, 350, 4, 100)).astype(np.float32)
    s[1, 100:103] = np.nan
    for j in range(2):
        write_spectrogram(
            root / "train_spectrograms" / f"{10 + j}.parquet", np.arange(1, 700, 2), s[j]
        )
    rows = [_row(1, 0, 0.0, 10, 0.0, 100), _row(1, 1, 8.0, 10, 8.0, 100),
            _row(2, 0, 10.0, 11, 90.0, 200, (3, 0, 0, 0, 0, 0)), _row(2, 1, 4.0, 11, 92.0, 200),
            _row(2, 2, 20.0, 11, 100.0, 200),  # EEG window [20, 70) s: past the 60-s end
            _row(3, 0, 0.0, 10, 0.0, 300), _row(1, 2, 2.0, 10, 2.0, 100)]  # fmt: skip
    pd.DataFrame(rows).to_csv(root / "train.csv", index=False)
    return root


def test_tiny_cache(tiny: Path, tmp_path: Path) -> None:
    cache = Cache.open(
        build_cache(tiny, tmp_path / "c", workers=1, dtype="float32", progress=False)
    )
    report = json.loads((cache.root / "cache_report.json").read_text())
    assert [(f["kind"], f["id"]) for f in report["files_excluded"]] == [("eeg", 3)]
    assert "3.parquet: not a parquet file or truncated" in report["files_excluded"][0]["error"]
    assert report["rows_dropped"] == {"bad_votes_or_offsets": 0, "eeg_file_excluded": 1,
                                      "eeg_window": 1}  # fmt: skip
    assert len(cache.rows) == 5 and set(cache.eeg_index.index) == {1, 2}
    folds = read_folds(cache.root / "folds.csv")  # the same split as rows.parquet, as CSV
    pd.testing.assert_frame_equal(folds, cache.rows[list(folds.columns)], check_dtype=False)
    # NaN filled: linear over time, 0 for the all-NaN channel; fractions recorded
    raw = read_eeg(tiny / "train_eegs" / "1.parquet").data
    rec = cache.eeg_record(1)
    assert not np.isnan(rec).any() and (rec[19] == 0).all()
    np.testing.assert_allclose(rec[3, 1000:1400], np.linspace(raw[3, 999], raw[3, 1400], 402)[1:-1],
                               rtol=1e-5, atol=1e-4)  # fmt: skip
    assert cache.eeg_index.loc[1, "nan_fraction"] == pytest.approx((400 + 12000) / 240000)
    by_key = cache.rows.set_index(["eeg_id", "eeg_sub_id"])
    assert by_key.loc[(1, 0), "eeg_nan_fraction"] == pytest.approx((400 + 10000) / 200000)
    assert by_key.loc[(2, 0), "eeg_nan_fraction"] == 0
    assert by_key.loc[(2, 0), "spec_nan_fraction"] == pytest.approx(3 / 300)  # rows 100..102
    # windows: cache == parquet, and the stored starts point at the same slice
    for r in cache.rows.itertuples():
        eeg = read_eeg(tiny / "train_eegs" / f"{r.eeg_id}.parquet").data
        start = round(r.eeg_label_offset_seconds * FS)
        want = fill_nan(eeg[:, start : start + EEG_WINDOW_SAMPLES])[0] if r.eeg_id == 2 else None
        got = cache.eeg(r.eeg_id, r.eeg_label_offset_seconds)
        assert got.shape == (20, EEG_WINDOW_SAMPLES) and got.dtype == np.float32
        if want is not None:
            np.testing.assert_array_equal(got, want)
        mm = np.load(cache.root / "eeg.npy", mmap_mode="r")
        np.testing.assert_array_equal(got, mm[r.eeg_start : r.eeg_start + EEG_WINDOW_SAMPLES].T)
        spec = read_spectrogram(tiny / "train_spectrograms" / f"{r.spectrogram_id}.parquet")
        first = int(r.spectrogram_label_offset_seconds) // 2
        np.testing.assert_array_equal(cache.spectrogram(r.spectrogram_id, r.spectrogram_label_offset_seconds),
                                      spec.data[first : first + 300])  # fmt: skip
    assert (cache.rows.total_votes > 0).all() and set(cache.rows.fold) <= {0, 1}
    with pytest.raises(WindowError, match="eeg_id=2: EEG window"):
        cache.eeg(2, 20.0)
    with pytest.raises(DataError, match="eeg_id 3 is not in the cache"):
        cache.eeg(3, 0.0)
    clone = pickle.loads(pickle.dumps(cache))  # DataLoader workers: no array contents pickled
    assert len(pickle.dumps(cache)) < 100_000
    np.testing.assert_array_equal(clone.eeg(2, 4.0), cache.eeg(2, 4.0))


def test_resume_after_kill_equals_fresh_build(tiny: Path, tmp_path: Path) -> None:
    fresh = build_cache(tiny, tmp_path / "fresh", workers=1, progress=False, shard_files=1)
    calls = []

    def kill_after_two(result: dict) -> None:
        calls.append(result["shard"])
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated kill")

    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        build_cache(tiny, out, workers=1, progress=False, shard_files=1, on_shard=kill_after_two)
    assert not out.exists()  # never half-written
    assert len(list((tmp_path / "resumed.partial" / "shards").glob("*.json"))) == 2
    later = []
    build_cache(
        tiny, out, workers=1, progress=False, shard_files=1, on_shard=lambda r: later.append(r)
    )
    assert (
        len(later) == 4 - 2 and not (tmp_path / "resumed.partial").exists()
    )  # 2 EEG + 2 spec files
    for name in ("eeg.npy", "spec.npy", "spec_times.npy"):
        np.testing.assert_array_equal(np.load(out / name), np.load(fresh / name))
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / "rows.parquet"), pd.read_parquet(fresh / "rows.parquet")
    )
    # a finished cache is reused as is; another dtype into the same folder is refused
    assert build_cache(tiny, out, workers=1, progress=False, shard_files=1) == out
    with pytest.raises(DataError, match="exists and was built from other data or options"):
        build_cache(tiny, out, workers=1, progress=False, dtype="float32")


def _real_dir(shared_data: Path, root: Path) -> Path:
    signals = shared_data / "hms-train-signals"
    for sub, name in (("train_eegs", EEG_ID), ("train_spectrograms", SPEC_ID)):
        (root / sub).mkdir(parents=True)
        shutil.copy(signals / sub / f"{name}.parquet", root / sub)
    pd.read_csv(shared_data / "hms-train-labels-reconstructed" / "train.csv.gz", nrows=9).to_csv(
        root / "train.csv", index=False
    )
    return root


def test_real_windows_float32_exact_float16_close(shared_data: Path, tmp_path: Path) -> None:
    root = _real_dir(shared_data, tmp_path / "data")
    c32 = Cache.open(
        build_cache(root, tmp_path / "c32", workers=2, dtype="float32", progress=False)
    )
    c16 = Cache.open(
        build_cache(root, tmp_path / "c16", workers=1, dtype="float16", progress=False)
    )
    eeg = read_eeg(root / "train_eegs" / f"{EEG_ID}.parquet").data
    spec = read_spectrogram(root / "train_spectrograms" / f"{SPEC_ID}.parquet").data
    assert len(c32.rows) == 9 and c32.eeg_dtype == "float32" and c16.eeg_dtype == "float16"
    for r in c32.rows.itertuples():
        start = round(r.eeg_label_offset_seconds * FS)
        want = eeg[:, start : start + EEG_WINDOW_SAMPLES]
        np.testing.assert_array_equal(c32.eeg(EEG_ID, r.eeg_label_offset_seconds), want)
        got16 = c16.eeg(EEG_ID, r.eeg_label_offset_seconds)
        assert np.all(np.abs(got16 - want) <= np.abs(want) * 2.0**-11 + 1e-7)
        first = int(r.spectrogram_label_offset_seconds) // 2
        np.testing.assert_array_equal(c16.spectrogram(SPEC_ID, r.spectrogram_label_offset_seconds),
                                      spec[first : first + 300])  # fmt: skip
    np.testing.assert_array_equal(c32.eeg_record(EEG_ID), eeg)
    assert (tmp_path / "c16" / "eeg.npy").stat().st_size < 0.51 * (
        tmp_path / "c32" / "eeg.npy"
    ).stat().st_size


def test_cli_prepare(tiny: Path, tmp_path: Path, shared_data: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cache"
    result = runner.invoke(app, ["prepare", str(tiny), "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "cache: " in result.stdout and "5 rows, 2 EEGs, 2 spectrograms, float16" in result.stdout
    assert "excluded 1 file(s)" in result.output
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("x")
    result = runner.invoke(app, ["prepare", str(tiny), "--out", str(tmp_path / "other")])
    assert result.exit_code == 2 and "is not an iiic cache" in result.output
    result = runner.invoke(app, ["prepare", str(tiny), "--out", str(out), "--dtype", "int8"])
    assert (
        result.exit_code == 2
        and "--dtype: expected 'float16' or 'float32'; received" in result.output
    )
    seg = tmp_path / "seg"
    result = runner.invoke(app, ["prepare", str(shared_data / "iiic-real-segments"), "--out",
                                 str(seg), "--eeg-only", "--workers", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    cache = Cache.open(seg)
    assert len(cache.rows) == 12 and cache.spec_index is None
    with pytest.raises(DataError, match="no spectrograms"):
        cache.spectrogram(900000001, 0.0)


def test_plan_groups_rows_by_file_in_table_order(tmp_path: Path) -> None:
    """The plan lists files by id and each file's rows and offsets in train.csv order (what a
    pandas groupby gave: the plan's fingerprint of an existing cache must not change)."""
    from iiic.data.cache_build import _plan_files
    from iiic.data.layout import DataDir

    rows = pd.DataFrame(
        {"eeg_id": [30, 10, 30, 20, 10], "eeg_label_offset_seconds": [4, 0, 2, 8, 6]}
    )
    excluded: list[dict] = []
    lengths = iter([(100, None), (0, "unreadable"), (300, None)])
    files = _plan_files(
        rows, DataDir(tmp_path), "eeg", excluded, lambda f, tasks: [next(lengths) for _ in tasks]
    )
    want = [(g, [float(v) for v in grp["eeg_label_offset_seconds"]], grp.index.tolist())
            for g, grp in rows.groupby("eeg_id", sort=True)]  # fmt: skip
    assert [(f["id"], f["offsets"], f["rows"]) for f in files] == [want[0], want[2]]
    assert [(f["start"], f["n"]) for f in files] == [(0, 100), (100, 300)]
    assert files[0]["path"].endswith("10.parquet") and excluded[0]["id"] == 20
    assert all(type(v) is float for f in files for v in f["offsets"])
