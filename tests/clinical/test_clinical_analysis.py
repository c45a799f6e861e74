"""Windowing, quality flags, timeline, summary and the written outputs of a whole-recording run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iiic.clinical.edf import Recording, read_recording
from iiic.clinical.pipeline import AnalyzeConfig, analyze_file
from iiic.clinical.scoring import WindowScorer
from iiic.clinical.summary import find_events, summarize
from iiic.clinical.timeline import Timeline, analyze_recording, timeline_table
from iiic.clinical.windows import FLAG_NAMES, quality_flags, window_starts
from iiic.constants import CLASS_LABELS, CLASSES, EEG_CHANNELS, EEG_WINDOW_SAMPLES, ELECTRODES

FS = 200


def test_window_grid() -> None:
    assert window_starts(125 * FS, 10.0).tolist() == [i * 10 * FS for i in range(8)]
    assert len(window_starts(49 * FS, 10.0)) == 0
    assert window_starts(60 * FS, 2.5)[-1] == 10 * FS
    with pytest.raises(ValueError, match="stride_s: expected a positive"):
        window_starts(60 * FS, 0.0)


@pytest.mark.parametrize("stride_s", [10.0, 2.5, 7.0])
def test_block_statistics_match_direct_computation(stride_s: float, make_background) -> None:
    data = make_background(20, 300 * FS, seed=1).astype(np.float32)
    data[3, 100 * FS : 200 * FS] = 5.0  # flat P3 for 100 s
    data[7, 20 * FS : 21 * FS] += 4000.0  # artifact on O1
    data[12, 250 * FS] = np.nan
    starts = window_starts(data.shape[1], stride_s)
    flags = quality_flags(data, starts, stride_s)
    windows = np.stack([data[:19, s : s + EEG_WINDOW_SAMPLES] for s in starts])
    np.testing.assert_array_equal(flags["flat"], windows.std(axis=2) < 0.5)
    np.testing.assert_array_equal(flags["nan"], np.isnan(windows).any(axis=2))
    ptp = windows.max(axis=2) - windows.min(axis=2)
    np.testing.assert_array_equal(flags["artifact"], ptp > 2000.0)
    assert flags["flat"][:, 3].any() and flags["artifact"][:, 7].any() and flags["nan"][:, 12].any()


def test_flat_and_saturated_channels_are_flagged(
    tmp_path: Path, edf_writer, make_background, tuh_labels, stand_in_scorer
) -> None:
    data = make_background(21, 180 * 256, seed=2)
    o2 = tuh_labels.index("EEG O2-REF")
    t4 = tuh_labels.index("EEG T4-REF")
    data[o2, 60 * 256 : 130 * 256] = 0.0  # O2 disconnected from 60 to 130 s
    t = np.arange(10 * 256) / 256
    data[t4, 10 * 256 : 20 * 256] = 5000.0 * np.sin(2 * np.pi * 0.5 * t)  # clipped at ±3000 µV
    path = edf_writer(tmp_path / "flags.edf", data, 256.0, tuh_labels)
    timeline = analyze_recording(read_recording(path), stand_in_scorer)
    table = timeline.table
    inside = (table["start_s"] >= 60) & (table["end_s"] <= 130)
    assert inside.sum() == 3
    assert table.loc[inside, "flag_flat"].all()
    assert not table.loc[table["end_s"] <= 60, "flag_flat"].any()
    assert all("flat: O2" in text for text in table.loc[inside, "flags"])
    assert table.loc[table["start_s"] <= 10, "flag_saturated"].all()
    assert "saturated: T4" in table["flags"].iloc[0]
    assert not table.loc[table["start_s"] > 20, "flag_saturated"].any()


def _timeline(probs: np.ndarray, stride_s: float = 10.0) -> Timeline:
    starts = np.arange(len(probs)) * int(stride_s * FS)
    flags = {n: np.zeros((len(probs), len(ELECTRODES)), bool) for n in FLAG_NAMES}
    table = timeline_table(starts, probs, flags, None)
    return Timeline(table, stride_s, duration_s=(len(probs) - 1) * stride_s + 50)


def test_events_summary_and_burden() -> None:
    probs = np.tile([0, 0, 0, 0, 0, 1.0], (400, 1))
    probs[10:16] = [0.9, 0, 0, 0, 0, 0.1]  # 6 windows: 60 s
    probs[100:130] = [0.6, 0, 0, 0, 0, 0.4]  # 30 windows: 300 s (longest)
    probs[200:203] = [0, 0.3, 0, 0.7, 0, 0]  # LRDA 3 windows
    timeline = _timeline(probs)
    events = find_events(timeline, "seizure", 0.5)
    assert events["n_windows"].tolist() == [6, 30]
    assert events["start_s"].iloc[0] == pytest.approx(10 * 10 + 25 - 5)
    assert events["duration_s"].tolist() == [60.0, 300.0]
    summary = summarize(timeline, 0.5)
    seizure = summary["patterns"]["Seizure"]
    assert seizure["minutes"] == pytest.approx(6.0) and seizure["n_events"] == 2
    assert seizure["longest_event"]["duration_s"] == 300.0
    assert summary["patterns"]["LRDA"]["windows_top_class"] == 3
    hours = 400 * 10 / 3600
    assert summary["seizure_burden_min_per_hour"] == pytest.approx(6.0 / hours)
    assert summary["seizure_burden_hourly"][0]["minutes"] == pytest.approx(6.0)
    assert summary["seizure_burden_hourly"][1]["minutes"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="threshold: expected a probability in"):
        summarize(timeline, 1.5)


def test_scorer_output_is_checked(make_background) -> None:
    rec = Recording.from_array(make_background(20, 60 * FS), 200.0)
    with pytest.raises(ValueError, match=r"shape \(2, 6\); received \(2, 5\)"):
        analyze_recording(rec, WindowScorer(lambda x, s: np.ones((len(x), 5)) / 5))
    with pytest.raises(ValueError, match="rows summing to 1"):
        analyze_recording(rec, WindowScorer(lambda x, s: np.ones((len(x), 6))))


def test_batches_stream_and_spec_is_passed(make_background) -> None:
    rec = Recording.from_array(make_background(20, 200 * FS), 200.0)
    seen = []

    def fn(eeg: np.ndarray, spec: np.ndarray | None) -> np.ndarray:
        seen.append((eeg.shape, None if spec is None else spec.shape))
        return np.full((len(eeg), 6), 1 / 6)

    timeline = analyze_recording(rec, WindowScorer(fn, needs_spec=True), batch_size=4)
    assert len(timeline.table) == 16
    assert [s[0][0] for s in seen] == [4, 4, 4, 4]
    assert seen[0] == ((4, 20, 10000), (4, 300, 4, 100))


def test_analyze_file_writes_every_output(
    shared_data: Path, tmp_path: Path, stand_in_scorer
) -> None:
    path = shared_data / "eeg-edf-samples" / "eegmmidb_S001R03.edf"
    out = tmp_path / "out"
    cfg = AnalyzeConfig(threshold=0.3, max_pages=1)
    result = analyze_file(path, stand_in_scorer, out, config=cfg)
    table = pd.read_parquet(out / "timeline.parquet")
    assert len(table) == 8
    assert list(table.columns[5:11]) == list(CLASSES)
    np.testing.assert_allclose(table[list(CLASSES)].sum(axis=1), 1.0)
    assert set(table["top_class"]) <= set(CLASS_LABELS)
    assert str(table["center_time"].iloc[0]) == "2009-08-12 16:15:25"
    csv = pd.read_csv(out / "timeline.csv")
    assert len(csv) == 8 and "flag_flat" in csv
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_windows"] == 8 and summary["settings"]["threshold"] == 0.3
    assert summary["channel_mapping"][5] == {"target": "T3", "source": "T7..", "how": "alias"}
    assert summary["original_sfreq_hz"] == 160.0
    assert (out / "figures" / "iiicgram.png").stat().st_size > 10_000
    assert list((out / "figures").glob("page_*.png"))
    html = (out / "report.html").read_text()
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:|//)", html)
    assert html.count("data:image/png;base64,") >= 2
    assert "T7.." in html and "Seizure" in html
    assert "30 annotation(s)" in html and "<td>T2</td>" in html
    assert set(result.timings_s) >= {"read_resample_s", "inference_s", "figures_report_s"}


def test_recording_order_is_eeg_channels(make_background) -> None:
    rec = Recording.from_array(make_background(20, 60 * FS), 200.0)
    assert [m.target for m in rec.mapping] == list(EEG_CHANNELS)


def test_report_lists_the_longest_events_and_escapes_text(tmp_path: Path) -> None:
    from iiic.clinical.report import MAX_EVENT_ROWS, write_report

    png = tmp_path / "x.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    n = MAX_EVENT_ROWS + 10
    events = pd.DataFrame(
        {
            "pattern": ["LPD"] * n,
            "start_s": np.arange(n) * 100.0,
            "end_s": np.arange(n) * 100.0 + np.arange(n) + 10,
            "duration_s": np.arange(n) + 10.0,
            "n_windows": np.ones(n, int),
            "max_prob": np.full(n, 0.9),
            "mean_prob": np.full(n, 0.8),
            "start_time": [None] * n,
        }
    )
    summary = summarize(_timeline(np.tile([0, 0, 0, 0, 0, 1.0], (20, 1))), 0.5)
    path = write_report(
        tmp_path / "r.html", title="<script>x</script>", summary=summary, events=events,
        settings={"models": "a&b"}, mapping=[], notes=["<b>note</b>"], iiicgram=png,
        pages=[("LPD <1>", png)],
    )  # fmt: skip
    html = path.read_text()
    assert f"The {MAX_EVENT_ROWS} longest of {n} events" in html
    assert html.count("<tr><td>LPD</td>") == MAX_EVENT_ROWS + 1  # + the summary table row
    assert "<script>" not in html and "&lt;script&gt;" in html and "a&amp;b" in html


def test_in_memory_recording_without_start_time(tmp_path: Path, make_background) -> None:
    data = make_background(20, 130 * FS, seed=8)
    data[:8, 60 * FS : 90 * FS] *= 6  # a left-sided high-amplitude stretch: the rule says seizure
    rec = Recording.from_array(data, 200.0)

    def rule(eeg: np.ndarray, spec: np.ndarray | None) -> np.ndarray:
        amp = eeg[:, :8, 4000:6000].std(axis=(1, 2)) / eeg[:, 11:19, 4000:6000].std(axis=(1, 2))
        p_seizure = np.clip((amp - 1) / 4, 0, 1)
        return np.stack([p_seizure, *[np.zeros_like(amp)] * 4, 1 - p_seizure], axis=1)

    result = analyze_file(
        rec, WindowScorer(rule), tmp_path / "out", config=AnalyzeConfig(max_pages=1)
    )
    table = result.timeline.table
    assert table["center_time"].isna().all()
    assert result.summary["start_time"] is None
    seizure = result.summary["patterns"]["Seizure"]
    assert seizure["n_events"] == 1 and seizure["first_event"]["start_time"] is None
    assert (tmp_path / "out" / "figures" / "page_00_seizure.png").is_file()
    assert "in-memory recording" in (tmp_path / "out" / "report.html").read_text()


def test_saturation_is_checked_per_channel_with_known_rails(make_background) -> None:
    data = make_background(20, 100 * FS, seed=9).astype(np.float32)
    t4 = EEG_CHANNELS.index("T4")
    data[t4, 10 * FS : 20 * FS] = 500.0  # sits on the +500 µV rail for 10 s
    rails = np.tile([-500.0, 500.0], (20, 1))
    rails[EEG_CHANNELS.index("O2")] = np.nan  # unknown range (e.g. an interpolated channel)
    starts = window_starts(data.shape[1], 10.0)
    flags = quality_flags(data, starts, 10.0, rails)
    assert flags["saturated"][:2, ELECTRODES.index("T4")].all()
    assert not flags["saturated"][:, ELECTRODES.index("O2")].any()
    assert not flags["saturated"][2:].any()


def test_page_traces_are_clipped_so_a_transient_cannot_cross_the_page(make_background) -> None:
    """Issue 26: a filter transient (a 5-mV step in one electrode) was drawn unclipped across
    every trace of the EEG page."""
    from iiic.clinical.figures import TRACE_CLIP, _page_signal, page_traces

    data = make_background(20, EEG_WINDOW_SAMPLES, seed=4).astype(np.float32)
    data[EEG_CHANNELS.index("C3"), EEG_WINDOW_SAMPLES // 2 :] += 5000.0
    rec = Recording.from_array(data, 200.0)
    raw = _page_signal(rec, 0)
    sig, spacing = page_traces(rec, 0)
    assert np.abs(raw).max() > 10 * spacing  # the transient spans many traces unclipped
    assert np.abs(sig).max() <= TRACE_CLIP * spacing
    inside = np.abs(raw) < TRACE_CLIP * spacing
    np.testing.assert_array_equal(sig[inside], raw[inside])  # the rest is untouched
