"""Synthetic long recordings: EDF+ round trip through MNE, episodes, CLI."""

from __future__ import annotations

from pathlib import Path

import mne
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from iiic import constants
from iiic.cli import app
from iiic.synth.recording import (
    PHYS_RANGE_UV,
    default_episodes,
    episodes_path,
    regular_episodes,
    synth_recording,
    write_edf,
    write_recording,
)


def test_default_episodes_do_not_overlap() -> None:
    ep = default_episodes(24, seed=0)
    assert set(ep["pattern"]) == {"seizure", "lpd", "gpd", "lrda", "grda"}
    assert (ep["end_s"] > ep["start_s"]).all()
    assert (ep["start_s"].iloc[1:].to_numpy() >= ep["end_s"].iloc[:-1].to_numpy()).all()
    assert ep["end_s"].max() <= 24 * 3600


def test_regular_episodes_follow_the_schedule() -> None:
    ep = regular_episodes(["lrda", "seizure"], 240.0, 180.0)
    assert ep["pattern"].tolist() == ["lrda", "seizure"]
    assert ep["start_s"].tolist() == [180.0, 600.0] and ep["end_s"].tolist() == [420.0, 840.0]


def test_edf_round_trip_with_annotations(tmp_path: Path) -> None:
    episodes = pd.DataFrame({"start_s": [100.0, 400.0], "end_s": [220.0, 520.0],
                             "pattern": ["seizure", "lpd"]})  # fmt: skip
    data, sfreq, ep = synth_recording(0.2, seed=3, episodes=episodes)
    assert data.shape == (20, round(0.2 * 3600 * sfreq)) and np.isfinite(data).all()
    path = write_edf(tmp_path / "rec.edf", data, sfreq, constants.EEG_CHANNELS, ep)
    raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
    assert raw.ch_names == list(constants.EEG_CHANNELS)
    assert raw.info["sfreq"] == sfreq and raw.n_times == data.shape[1]
    back = raw.get_data() * 1e6  # V -> µV
    inside = np.abs(data) < 5000
    step_uv = 2 * PHYS_RANGE_UV / 65535  # 16-bit resolution over ±5000 µV
    assert np.abs(back - data)[inside].max() <= 0.5 * step_uv + 1e-3  # rounding only
    ann = [(a["onset"], a["duration"], a["description"]) for a in raw.annotations]
    assert ann == [(100.0, 120.0, "seizure"), (400.0, 120.0, "lpd")]


def test_episodes_change_the_signal() -> None:
    episodes = pd.DataFrame({"start_s": [120.0], "end_s": [300.0], "pattern": ["grda"]})
    data, sfreq, _ = synth_recording(0.12, seed=4, episodes=episodes)
    from scipy.signal import butter, sosfiltfilt

    sos = butter(4, [0.5, 4], btype="band", fs=sfreq, output="sos")
    low = sosfiltfilt(sos, data[:19], axis=1)
    inside = low[:, round(150 * sfreq) : round(280 * sfreq)].std()
    outside = low[:, round(330 * sfreq) : round(430 * sfreq)].std()
    assert inside > 1.5 * outside


def test_cli_edf_writes_recording_and_episodes(tmp_path: Path) -> None:
    out = tmp_path / "night.edf"
    # issue 26: "--out night" wrote an EDF named "night"; the extension is added
    result = CliRunner().invoke(app, ["synth", "--edf", "0.1", "--out", str(tmp_path / "night"),
                                      "--seed", "2"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "night").exists() and str(out) in result.output
    raw = mne.io.read_raw_edf(out, preload=False, verbose="error")
    assert raw.n_times == round(0.1 * 3600 * constants.SFREQ_HZ)
    ep = pd.read_csv(episodes_path(out))
    assert list(ep.columns) == ["start_s", "end_s", "pattern"]


def test_cli_twin_and_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["synth", "--out", str(tmp_path / "t"), "--patients", "2"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "t" / "train.csv").is_file()
    again = runner.invoke(app, ["synth", "--out", str(tmp_path / "t"), "--patients", "2"])
    assert again.exit_code == 2 and "already holds" in again.output
    forced = runner.invoke(app, ["synth", "--out", str(tmp_path / "t"), "--patients", "2",
                                 "--seed", "5", "--overwrite"])  # fmt: skip
    assert forced.exit_code == 0, forced.output
    bad = runner.invoke(app, ["synth", "--edf", "0.001", "--out", str(tmp_path / "x.edf")])
    assert bad.exit_code == 2 and "hours: expected >=" in bad.output
    missing = runner.invoke(app, ["synth", "--out", str(tmp_path / "u"),
                                  "--labels", str(tmp_path / "nope.csv")])  # fmt: skip
    assert missing.exit_code == 2 and "nope.csv" in missing.output


def test_write_recording_streams_in_chunks(tmp_path: Path) -> None:
    path, ep = write_recording(tmp_path / "r.edf", 0.25, seed=5)
    raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
    x = raw.get_data() * 1e6
    # continuous through the 600-s chunk joins: no jump larger than elsewhere
    join = round(600 * constants.SFREQ_HZ)
    jumps = np.abs(np.diff(x[:19], axis=1))
    assert jumps[:, join - 2 : join + 2].max() < 5 * np.percentile(jumps, 99.9) + 1
    assert len(ep) == len(raw.annotations)


@pytest.mark.real_data
def test_realism_report_writes_figures_and_numbers(shared_data: Path, tmp_path: Path) -> None:
    from iiic.synth import generate_twin
    from iiic.synth.realism import realism_report

    twin = generate_twin(
        tmp_path / "twin", n_patients=6, seed=1, max_eegs_per_patient=2, max_rows_per_eeg=2
    )
    png, js = realism_report(twin, shared_data, tmp_path / "report")
    assert png.stat().st_size > 10_000 and (tmp_path / "report" / "realism_traces.png").is_file()
    import json

    result = json.loads(js.read_text())
    assert set(result["by_class"]["lpd"]) >= {"rms_uv", "asymmetry", "acf_peak", "n_real"}
    assert result["by_class"]["lpd"]["n_real"] == 2


def test_write_edf_consumes_chunks_lazily(tmp_path: Path) -> None:
    import tracemalloc

    sf, chunk_s, n_chunks = constants.SFREQ_HZ, 60, 30  # 30 min: 29 MB as float32
    rng = np.random.default_rng(0)

    def chunks():
        for _ in range(n_chunks):
            yield rng.normal(0, 30, (20, round(chunk_s * sf))).astype(np.float32)

    tracemalloc.start()
    write_edf(tmp_path / "lazy.edf", chunks(), sf, n_times=round(n_chunks * chunk_s * sf))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 8e6  # a few chunks at most, never the whole recording
    raw = mne.io.read_raw_edf(tmp_path / "lazy.edf", preload=False, verbose="error")
    assert raw.n_times == round(n_chunks * chunk_s * sf)


def test_episode_scores_count_inside_windows_and_clean_background() -> None:
    """One rule: the labelled 10 s inside the episode counts for it, a 50-s window touching no
    episode is background, windows at the edges count in neither."""
    from iiic.synth.recording import episode_scores

    centre = np.arange(25.0, 1000.0, 10.0)
    table = pd.DataFrame({"center_s": centre, "top_class": "Other"})
    for c in constants.CLASSES:
        table[c] = 0.0
    episodes = pd.DataFrame({"start_s": [300.0], "end_s": [540.0], "pattern": ["seizure"]})
    inside = (centre - 5 >= 300) & (centre + 5 <= 540)
    table.loc[inside, "top_class"] = "Seizure"
    scores = episode_scores(table, episodes)
    assert scores["in_episodes"] == 1.0 and scores["background"] == 1.0
    assert scores["n_in_episodes"] == inside.sum() == scores["per_pattern"]["seizure"]["windows"]
    touching = (centre + 25 > 300) & (centre - 25 < 540)
    assert scores["n_background"] == (~touching).sum() < len(table) - inside.sum()
    table.loc[np.flatnonzero(inside)[:6], "top_class"] = "LRDA"  # six wrong episode windows
    table.loc[0, "top_class"] = "GPD"  # one wrong background window
    scores = episode_scores(table, episodes)
    assert scores["in_episodes"] == pytest.approx(1 - 6 / inside.sum())
    assert scores["background"] == pytest.approx(1 - 1 / (~touching).sum())
