"""``iiic demo`` end to end on a tiny twin (one preset, one epoch): every stage runs for real."""

from __future__ import annotations

import html
import inspect
import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from iiic.cli import app
from iiic.demo import DEFAULT_PRESETS, DEFAULT_TWIN_SEEDS, DemoConfig
from iiic.predict.card import CARD_FILE, headline, read_card


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "out"
    args = ["demo", "--out", str(out), "--patients", "8", "--epochs", "1", "--folds", "2",
            "--presets", "eeg1d_cpu,morph10_cpu", "--twin-seeds", "2", "--edf-hours", "0.3",
            "--device", "cpu"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "KL divergence" in result.output and str(out / "index.html") in result.output
    return out


def test_demo_scores_every_stage(demo_dir: Path) -> None:
    s = json.loads((demo_dir / "summary.json").read_text())
    assert s["config"] == DemoConfig(
        patients=8,
        folds=2,
        epochs=1,
        presets=("eeg1d_cpu", "morph10_cpu"),
        twin_seeds=2,
        edf_hours=0.3,
        device="cpu",
    ).model_dump(mode="json")
    ev = s["oof"]["eeg1d_cpu"]
    assert ev["n_rows"] == s["twin"]["n_rows"]  # every labelled window has an OOF prediction
    assert 0 < s["twin"]["oracle_kl"] < ev["kl"] < 10
    assert s["blend"] is None  # the default ensemble: an equal-weight mean of every run
    assert s["ensemble"]["runs"] == ["eeg1d_cpu", "morph10_cpu", "eeg1d_cpu_seed1",
                                     "morph10_cpu_seed1"]  # fmt: skip
    assert all((demo_dir / "runs" / r / "oof.parquet").is_file() for r in s["ensemble"]["runs"])
    assert all(math.isfinite(s["test"][k]) for k in ("kl", "kl_uniform", "kl_oracle"))
    assert s["recording"]["n_windows"] > 0
    assert set(s["timings_s"]) >= {"synth", "prepare", "train eeg1d_cpu", "twin seed 1", "predict",
                                   "analyze", "real segments", "real segments 10s"}  # fmt: skip


def test_demo_scores_the_real_segments(demo_dir: Path) -> None:
    """Every demo scores its twin-trained models on both real sets shipped with iiic: the 12
    50-s segments next to SPaRCNet, uniform and the class prior, and the 10 10-s segments with the
    runs that read 10 s; the index page shows both."""
    s = json.loads((demo_dir / "summary.json").read_text())
    real, real10 = s["real_segments"], s["real_segments_10s"]
    assert real["n_segments"] == 12 and real10["n_segments"] == 10
    runs = {f"run {r}" for r in s["ensemble"]["runs"]}
    assert set(real["predictors"]) == {"model", "sparcnet", "uniform", "class prior"} | runs
    assert set(real10["predictors"]) == {"model", "uniform", "class prior"} | {
        f"run {r}" for r in real10["runs"]
    }
    assert real10["runs"] == ["morph10_cpu", "morph10_cpu_seed1"]
    assert real["predictors"]["uniform"]["kl"] == pytest.approx(1.6396, abs=1e-3)
    assert real["predictors"]["sparcnet"]["kl"] == pytest.approx(0.5242, abs=1e-3)
    assert real10["predictors"]["uniform"]["kl"] == pytest.approx(1.445, abs=1e-3)
    for r in (real, real10):
        m = r["predictors"]["model"]
        assert 0 < m["kl"] < 10 and 0 <= m["n_right"] <= r["n_segments"]
        assert m["kl_ci90"][0] <= m["kl"] <= m["kl_ci90"][1] and m["kl_max"] >= m["kl"]
        assert (demo_dir / r["score"]).is_file()
    page = (demo_dir / "index.html").read_text()
    assert "12 real 50-s segments" in page and "10 real 10-s segments" in page
    assert "ODC Attribution" in page and "IIIC-IRR" in page


def test_demo_submission_has_every_test_row(demo_dir: Path) -> None:
    test = pd.read_csv(demo_dir / "twin" / "test.csv")
    sub = pd.read_csv(demo_dir / "submission.csv")
    assert sub["eeg_id"].tolist() == test["eeg_id"].tolist()
    assert (sub.drop(columns="eeg_id").sum(axis=1) - 1).abs().max() < 1e-5


def test_index_links_resolve(demo_dir: Path) -> None:
    page = (demo_dir / "index.html").read_text()
    links = re.findall(r'(?:href|src)="([^"#]+)"', page)
    assert {"submission.csv", "summary.json"} <= set(links)
    assert any(link.endswith(".png") for link in links)
    missing = [link for link in links if not (demo_dir / link).is_file()]
    assert not missing


def test_demo_refuses_a_non_empty_folder(demo_dir: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--out", str(demo_dir)])
    assert result.exit_code == 2
    assert "not empty" in result.output and "--overwrite" in result.output


def test_demo_rejects_an_unknown_preset(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "x"), "--presets", "nope"])
    assert result.exit_code == 2 and "nope" in result.output
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "page", ["index.html", "reports/eeg1d_cpu/report.html", "recording/analysis/report.html"]
)
def test_pages_render_in_chromium(demo_dir: Path, open_page, page: str) -> None:
    """The demo index, the OOF report and the clinical report in headless Chromium: no console
    error, every image decoded, every local link resolves, nothing fetched from the network."""
    check = open_page(demo_dir / page)
    assert not check.errors and not check.outside, (check.errors, check.outside)
    assert check.n_images >= 1 and not check.broken_images, check.broken_images
    assert not check.broken_links, check.broken_links
    assert check.page.title()
    shot = check.screenshot.read_bytes()
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 10_000


def test_cli_and_config_train_the_same_default_presets() -> None:
    from iiic import cli

    params = inspect.signature(cli.demo).parameters
    assert (
        params["presets"].default.split(",") == list(DEFAULT_PRESETS) == list(DemoConfig().presets)
    )
    assert params["twin_seeds"].default == DEFAULT_TWIN_SEEDS == DemoConfig().twin_seeds


def test_demo_model_carries_a_card_named_on_every_page(demo_dir: Path) -> None:
    cards = list(demo_dir.rglob(CARD_FILE))  # beside the blend, in the single run, or above runs
    assert len(cards) == 1, cards
    card = read_card(cards[0].parent)
    line = headline(card)
    assert line.startswith("trained on: synthetic twin ") and "real IIIC segments (12): KL" in line
    assert json.loads((demo_dir / "summary.json").read_text())["model"] == line
    for page in (demo_dir / "index.html", demo_dir / "recording" / "analysis" / "report.html"):
        assert f"<strong>Model:</strong> {html.escape(line)}</p>" in page.read_text(), page
