"""Events and timeline exported for EEG viewers, read back with MNE: EDF+, -annot.fif/.csv, a copy."""

from __future__ import annotations

from datetime import timedelta, timezone

import mne
import numpy as np
import pandas as pd
import pytest

from iiic.clinical.annotations import EVENT_PREFIX, NOTHING, TIMELINE_PREFIX

FORMATS = ("events.edf", "events-annot.fif", "events-annot.csv")


@pytest.mark.parametrize("name", FORMATS)
def test_events_read_back_with_mne(analysed_edf, name: str) -> None:
    _, out, result = analysed_edf
    events = pd.read_csv(out / "events.csv")
    assert len(events) == 1 and events["pattern"].iloc[0] == "Seizure"  # the left-boosted stretch
    ann = mne.read_annotations(out / "annotations" / name)
    if name.endswith(".edf"):  # EDF+ onsets count from the file start (same header start)
        np.testing.assert_allclose(ann.onset, events["start_s"], atol=1e-3)
    else:  # MNE files carry absolute times (the CSV's orig_time is its first onset)
        start = result.timeline.start.replace(tzinfo=timezone.utc)
        absolute = [ann.orig_time + timedelta(seconds=float(o)) for o in ann.onset]
        assert absolute == [start + timedelta(seconds=s) for s in events["start_s"]]
    np.testing.assert_allclose(ann.duration, events["duration_s"], atol=1e-3)
    expected = [f"{EVENT_PREFIX} Seizure (max {events['max_prob'].iloc[0]:.2f})"]
    assert list(ann.description) == expected


def test_timeline_annotations_tile_the_windows(analysed_edf) -> None:
    _, out, result = analysed_edf
    table = result.timeline.table
    for name in ("timeline.edf", "timeline-annot.fif"):
        ann = mne.read_annotations(out / "annotations" / name)
        assert len(ann) == len(table)
        np.testing.assert_allclose(ann.onset, table["center_s"] - 5.0, atol=1e-3)
        np.testing.assert_allclose(ann.duration, 10.0, atol=1e-3)
        tops = [d.split()[1] for d in ann.description]
        assert tops == table["top_class"].tolist()
        assert all(d.startswith(f"{TIMELINE_PREFIX} ") for d in ann.description)


def test_mne_places_the_annotations_on_the_raw_recording(analysed_edf) -> None:
    edf, out, _ = analysed_edf
    raw = mne.io.read_raw_edf(edf, preload=False, verbose="error")
    raw.set_annotations(mne.read_annotations(out / "annotations" / "events-annot.fif"))
    events = pd.read_csv(out / "events.csv")
    np.testing.assert_allclose(raw.annotations.onset, events["start_s"], atol=1e-3)
    assert raw.annotations.orig_time == raw.info["meas_date"]


def test_annotated_copy_keeps_signals_and_adds_annotations(analysed_edf) -> None:
    edf, out, result = analysed_edf
    copy = out / "patient one.annotated.edf"
    assert result.files["annotated_copy"] == copy
    original = mne.io.read_raw_edf(edf, preload=True, verbose="error")
    annotated = mne.io.read_raw_edf(copy, preload=True, verbose="error")
    assert annotated.ch_names == original.ch_names
    np.testing.assert_array_equal(annotated.get_data(), original.get_data())
    assert annotated.info["meas_date"] == original.info["meas_date"]
    desc = list(annotated.annotations.description)
    mine = annotated.annotations[np.flatnonzero(np.array(desc) == "eyes closed")]
    assert len(mine) == 1 and mine.onset[0] == 30.0  # the file's own annotation is kept
    assert sum(d.startswith(f"{EVENT_PREFIX} ") for d in desc) == 1
    assert sum(d.startswith(f"{TIMELINE_PREFIX} ") for d in desc) == len(result.timeline.table)


def test_no_events_still_gives_readable_files(tmp_path, make_background, stand_in_scorer) -> None:
    from iiic.clinical.edf import Recording
    from iiic.clinical.pipeline import AnalyzeConfig, analyze_file

    rec = Recording.from_array(make_background(20, 120 * 200, seed=5), 200.0)
    result = analyze_file(rec, stand_in_scorer, tmp_path, config=AnalyzeConfig(max_pages=0))
    assert result.summary["patterns"]["Seizure"]["n_events"] == 0
    assert list(mne.read_annotations(tmp_path / "annotations" / "events.edf").description) == [
        NOTHING
    ]
    assert len(mne.read_annotations(tmp_path / "annotations" / "events-annot.fif")) == 0
    assert len(mne.read_annotations(tmp_path / "annotations" / "timeline.edf")) == 8
