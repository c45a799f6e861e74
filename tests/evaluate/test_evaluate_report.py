"""iiic evaluate: OOF reading (both formats), the numbers of the report, the files it writes."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from iiic.cli import app
from iiic.constants import CLASS_LABELS, HIGH_QUALITY_VOTES, PRED_COLUMNS, VOTE_COLUMNS
from iiic.data.labels import agreement
from iiic.evaluate.breakdown import evaluate_oof
from iiic.evaluate.metric import kl_divergence, kl_per_row
from iiic.evaluate.oof import OOFError, read_oof

GUNESEVITAN_KL_RENORMALISED = 0.6538113301
"""The author's OOF score recomputed with renormalisation (PROVENANCE.md of the fixture)."""


def _oof(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A synthetic OOF contract table: raw votes 1..20, noisy predictions, 5 folds."""
    rng = np.random.default_rng(seed)
    truth = rng.dirichlet(np.full(6, 0.5), size=n)
    total = rng.integers(1, 21, size=n)
    votes = np.stack([rng.multinomial(t, p) for t, p in zip(total, truth, strict=True)])
    pred = rng.dirichlet(np.full(6, 1.0), size=n) * 0.5 + truth * 0.5
    df = pd.DataFrame(
        {
            "eeg_id": np.arange(n),
            "eeg_sub_id": 0,
            "patient_id": np.arange(n) // 4,
            "fold": np.arange(n) % 5,
        }
    )
    df[list(VOTE_COLUMNS)] = votes
    df[list(PRED_COLUMNS)] = pred
    return df


def test_report_numbers_match_the_metric(tmp_path):
    df = _oof()
    path = tmp_path / "oof.parquet"
    df.to_parquet(path)
    result = CliRunner().invoke(app, ["evaluate", str(path), "--out", str(tmp_path / "rep")])
    assert result.exit_code == 0, result.output
    rep = tmp_path / "rep"
    for name in ("report.md", "report.html", "metrics.json", "confusion.png", "calibration.png",
                 "kl_breakdown.png"):  # fmt: skip
        assert (rep / name).stat().st_size > 0, name
    metrics = json.loads((rep / "metrics.json").read_text())
    votes, pred = df[list(VOTE_COLUMNS)].to_numpy(), df[list(PRED_COLUMNS)].to_numpy()
    assert metrics["kl"] == pytest.approx(kl_divergence(votes, pred), abs=1e-12)
    assert metrics["renormalize"] is False
    high = votes.sum(axis=1) >= HIGH_QUALITY_VOTES
    assert metrics["kl_high_quality"] == pytest.approx(kl_divergence(votes[high], pred[high]))
    assert metrics["n_high_quality"] == int(high.sum())
    consensus = votes.argmax(axis=1)
    assert metrics["accuracy"] == pytest.approx((pred.argmax(axis=1) == consensus).mean())
    assert np.asarray(metrics["confusion"]).sum() == len(df)
    assert np.trace(np.asarray(metrics["confusion"])) == int((pred.argmax(1) == consensus).sum())
    seizure = next(r for r in metrics["by_class"] if r["group"] == CLASS_LABELS[0])
    mask = consensus == 0
    assert seizure["n"] == int(mask.sum())
    assert seizure["kl"] == pytest.approx(kl_divergence(votes[mask], pred[mask]))
    assert sum(r["n"] for r in metrics["by_quality"]) == len(df)
    assert sum(r["share_kl"] for r in metrics["by_agreement"]) == pytest.approx(1.0)
    categories = agreement(votes)
    for r in metrics["by_agreement"]:
        mask = categories == r["group"]
        assert r["n"] == int(mask.sum())
        assert r["kl"] == pytest.approx(kl_divergence(votes[mask], pred[mask]))
    assert len(metrics["by_fold"]) == 5
    assert "no — Kaggle's metric" in (rep / "report.md").read_text()
    html = (rep / "report.html").read_text()
    images = re.findall(r"src='data:image/png;base64,([^']+)'", html)
    assert len(images) == 3
    assert base64.b64decode(images[0])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "src='http" not in html and 'src="http' not in html


def test_perfect_calibration_has_zero_ece():
    df = _oof()
    votes = df[list(VOTE_COLUMNS)].to_numpy(float)
    df[list(PRED_COLUMNS)] = votes / votes.sum(axis=1, keepdims=True)
    ev = evaluate_oof(df)
    assert ev.kl == pytest.approx(0.0, abs=1e-9)
    assert ev.ece["mean"] == pytest.approx(0.0, abs=1e-12)
    assert ev.accuracy == 1.0


def test_unknown_format_names_the_file(tmp_path):
    path = tmp_path / "bad.csv"
    _oof().drop(columns=list(PRED_COLUMNS)).to_csv(path, index=False)
    with pytest.raises(OOFError, match="unknown OOF format"):
        read_oof(path)
    result = CliRunner().invoke(
        app, ["evaluate", str(tmp_path / "nope.parquet"), "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "nope.parquet: no such file" in result.output


@pytest.mark.real_data
def test_gunesevitan_oof_matches_the_published_score(shared_data, tmp_path):
    oof_path = shared_data / "hms-oof-predictions-gunesevitan" / "oof_predictions.csv.gz"
    labels = shared_data / "hms-train-labels-reconstructed" / "train.csv.gz"
    oof = read_oof(oof_path, labels=labels)
    assert oof.attrs["format"] == "gunesevitan"
    assert len(oof) == 21_490
    raw = oof["raw_votes"].to_numpy()
    assert raw.sum() == 21_490 - 109  # the 109 rows of train_incomplete_rows.csv keep fractions
    votes = oof[list(VOTE_COLUMNS)].to_numpy()
    assert np.allclose(votes[raw], np.round(votes[raw]))  # joined raw counts are integers
    ev = evaluate_oof(oof, renormalize=True)
    assert ev.kl == pytest.approx(GUNESEVITAN_KL_RENORMALISED, abs=1e-9)
    assert ev.kl_kaggle == pytest.approx(
        kl_per_row(votes, oof[list(PRED_COLUMNS)].to_numpy()).mean(), abs=1e-12
    )
    quality = ev.by_quality.set_index("group")["n"]
    assert quality["unknown"] == 109
    assert quality[">=10"] == ev.n_high_quality
    # without labels the votes are fractions: KL is the same, quality unknown everywhere
    bare = evaluate_oof(read_oof(oof_path), renormalize=True)
    assert bare.kl == pytest.approx(ev.kl, abs=1e-12)
    assert bare.kl_high_quality is None


def test_a_runs_report_says_how_its_windows_were_preprocessed(tmp_path):
    """iiic evaluate RUN/oof.parquet: the report's Preprocessing line is the run's
    PreprocessConfig.describe(); a table outside a run directory has none."""
    from iiic.runs.rundir import save_config
    from iiic.signal.preprocess import PreprocessConfig
    from iiic.train.config import TrainConfig

    run = tmp_path / "run"
    pp = PreprocessConfig(notch_hz=60.0, downsample=5)
    save_config(run, TrainConfig(preprocess=pp))
    _oof().to_parquet(run / "oof.parquet")
    result = CliRunner().invoke(
        app, ["evaluate", str(run / "oof.parquet"), "--out", str(tmp_path / "rep")]
    )
    assert result.exit_code == 0, result.output
    text = pp.describe()
    assert "notch 60 Hz" in text and "decimated to 40 Hz" in text
    assert (
        f"<tr><th>Preprocessing</th><td>{text}</td></tr>"
        in (tmp_path / "rep" / "report.html").read_text()
    )
    assert f"| Preprocessing | {text} |" in (tmp_path / "rep" / "report.md").read_text()
    assert json.loads((tmp_path / "rep" / "metrics.json").read_text())["preprocessing"] == text
    _oof().to_parquet(tmp_path / "loose.parquet")
    result = CliRunner().invoke(
        app, ["evaluate", str(tmp_path / "loose.parquet"), "--out", str(tmp_path / "r2")]
    )
    assert (
        result.exit_code == 0
        and "Preprocessing" not in (tmp_path / "r2" / "report.html").read_text()
    )
