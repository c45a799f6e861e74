"""Synthetic EDF with known episodes → ``analyze_file`` with a model trained on the synthetic twin.

Needs a trained run directory: set ``IIIC_ANALYZE_RUNS`` to one or more run directories
(comma-separated; e.g. ``iiic train`` on ``iiic synth`` output). Without it the test is skipped
with that reason: a randomly initialised model cannot find the episodes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

RUNS_ENV = "IIIC_ANALYZE_RUNS"
EPISODE_S = 240.0
GAP_S = 180.0
MOST = 0.5
"""Share of an episode's windows whose top class must be the inserted pattern."""


@pytest.fixture(scope="module")
def trained_runs() -> list[Path]:
    value = os.environ.get(RUNS_ENV, "")
    runs = [Path(p) for p in value.split(",") if p.strip()]
    if not runs or not all((r / "config.json").is_file() for r in runs):
        pytest.skip(f"set {RUNS_ENV} to trained run directories (got {value!r})")
    return runs


@pytest.mark.slow
def test_analysis_finds_the_inserted_episodes(trained_runs: list[Path], tmp_path: Path) -> None:
    from iiic.clinical.pipeline import AnalyzeConfig, analyze_file
    from iiic.clinical.scoring import scorer_for
    from iiic.predict.predictor import Predictor
    from iiic.synth.recording import episode_scores, regular_episodes, write_recording

    episodes = regular_episodes(["lrda", "seizure", "gpd", "grda", "lpd"], EPISODE_S, GAP_S)
    hours = (episodes["end_s"].iloc[-1] + GAP_S) / 3600
    edf, _ = write_recording(tmp_path / "synthetic.edf", hours, seed=2024, episodes=episodes)
    predictor = Predictor.from_runs(trained_runs, backend="torch", device="cpu")
    scorer = scorer_for(predictor, prior="training")
    result = analyze_file(edf, scorer, tmp_path / "out", config=AnalyzeConfig(max_pages=1))
    scores = episode_scores(result.timeline.table, episodes)
    for pattern, score in scores["per_pattern"].items():
        assert score["windows"] >= EPISODE_S / 10 - 2
        assert score["top_class_right"] >= MOST, (
            f"{pattern} episode: {score['top_class_right']:.0%}"
        )
    assert scores["background"] >= MOST
