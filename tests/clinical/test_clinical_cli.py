"""``iiic analyze`` through the real CLI: a real Predictor on a real EDF, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from iiic.cli import app

RUNNER = CliRunner()


def _one_line_error(result, pattern: str) -> None:
    assert result.exit_code != 0
    text = result.output.strip()
    assert "Traceback" not in text
    assert len(text.splitlines()) == 1, text
    assert text.startswith("error: ")
    assert pattern in text, text


@pytest.mark.parametrize("mode", ["--exact", "--fast"])
def test_analyze_physionet_with_a_real_predictor(
    shared_data: Path, random_run_dir: Path, tmp_path: Path, mode: str
) -> None:
    edf = shared_data / "eeg-edf-samples" / "eegmmidb_S001R03.edf"
    out = tmp_path / "report"
    result = RUNNER.invoke(
        app,
        ["analyze", str(edf), "--models", str(random_run_dir), "--out", str(out),
         "--stride-s", "5", "--max-pages", "1", mode],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "16 windows" in result.output  # starts 0, 5, ..., 75 s
    table = pd.read_parquet(out / "timeline.parquet")
    assert len(table) == 16 and table["start_s"].iloc[-1] == 75.0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["stride_s"] == 5.0
    assert summary["settings"]["models"] == str(random_run_dir)
    assert summary["settings"]["filtering"].endswith(f"({mode})")
    assert (out / "report.html").is_file() and (out / "figures" / "iiicgram.png").is_file()
    # the report's Preprocessing line: what the run's PreprocessConfig applied (downsample=5)
    text = summary["settings"][f"preprocessing ({random_run_dir.name})"]
    assert text.startswith("montage: double banana") and text.endswith("decimated to 40 Hz")
    assert (
        f"<td>preprocessing ({random_run_dir.name})</td><td>{text}</td>"
        in (out / "report.html").read_text()
    )


def test_not_an_edf_is_one_line(tmp_path: Path, random_run_dir: Path) -> None:
    bad = tmp_path / "scan.edf"
    bad.write_bytes(b"%PDF-1.4 not a recording" * 20)
    result = RUNNER.invoke(
        app, ["analyze", str(bad), "--models", str(random_run_dir), "--out", str(tmp_path / "o")]
    )
    _one_line_error(result, "scan.edf: not an EDF")
    assert not (tmp_path / "o").exists()


def test_short_clip_is_one_line(shared_data: Path, tmp_path: Path, random_run_dir: Path) -> None:
    edf = shared_data / "eeg-edf-samples" / "tuh_nedc_example_00008836_s003_5s.edf"
    result = RUNNER.invoke(
        app, ["analyze", str(edf), "--models", str(random_run_dir), "--out", str(tmp_path / "o")]
    )
    _one_line_error(result, "5.0 s long; iiic needs at least 50 s")


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--stride-s", "0", "--stride-s"), ("--threshold", "1.5", "--threshold")],
)
def test_bad_options_are_one_line(
    shared_data: Path, tmp_path: Path, random_run_dir: Path, option: str, value: str, message: str
) -> None:
    edf = shared_data / "eeg-edf-samples" / "eegmmidb_S001R03.edf"
    args = ["analyze", str(edf), "--models", str(random_run_dir), "--out", str(tmp_path / "o")]
    result = RUNNER.invoke(app, [*args, option, value])
    _one_line_error(result, message)


def test_missing_run_dir_is_one_line(shared_data: Path, tmp_path: Path) -> None:
    edf = shared_data / "eeg-edf-samples" / "eegmmidb_S001R03.edf"
    result = RUNNER.invoke(
        app, ["analyze", str(edf), "--models", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]
    )
    _one_line_error(result, "cannot load the models")


def test_analyze_takes_a_blend_for_one_and_many_recordings(
    shared_data: Path, random_run_dir: Path, tmp_path: Path
) -> None:
    """``--blend`` (blend.json of ``iiic blend``) reaches the analysis: its class bias moves the
    probabilities, in one recording's folder and in every recording of a batch; the summaries
    name it."""
    from iiic.constants import CLASS_LABELS
    from iiic.ensemble.blend import BLEND_SPACE

    blend = tmp_path / "blend.json"
    bias = dict.fromkeys(CLASS_LABELS, 0.0) | {"LRDA": 3.0}
    blend.write_text(json.dumps({"space": BLEND_SPACE, "weights": {random_run_dir.name: 1.0},
                                 "bias": bias}))  # fmt: skip
    edf = shared_data / "eeg-edf-samples" / "eegmmidb_S001R03.edf"
    common = ["--models", str(random_run_dir), "--max-pages", "0", "--review-eeg-min", "0",
              "--prior", "training"]  # fmt: skip
    plain, blended = tmp_path / "plain", tmp_path / "blended"
    for out, extra in ((plain, []), (blended, ["--blend", str(blend)])):
        result = RUNNER.invoke(app, ["analyze", str(edf), "--out", str(out), *common, *extra])
        assert result.exit_code == 0, result.output
    p0 = pd.read_parquet(plain / "timeline.parquet")["lrda"]
    p1 = pd.read_parquet(blended / "timeline.parquet")["lrda"]
    assert (p1 > p0 + 0.2).all()  # exp(3) times the odds of LRDA
    assert json.loads((blended / "summary.json").read_text())["settings"]["blend"] == str(blend)
    ward, many = tmp_path / "ward", tmp_path / "many"
    ward.mkdir()
    for name in ("a.edf", "b.edf"):
        (ward / name).write_bytes(edf.read_bytes())
    result = RUNNER.invoke(app, ["analyze", str(ward), "--out", str(many), *common,
                                 "--blend", str(blend)])  # fmt: skip
    assert result.exit_code == 0, result.output
    for name in ("a", "b"):
        got = pd.read_parquet(many / name / "timeline.parquet")["lrda"]
        assert got.to_numpy() == pytest.approx(p1.to_numpy(), abs=1e-6)
        summary = json.loads((many / name / "summary.json").read_text())
        assert summary["settings"]["blend"] == str(blend)
