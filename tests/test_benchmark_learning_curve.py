"""The learning-curve benchmark in its quick mode: nested points, baselines, figure."""

from __future__ import annotations

import json
import math
from pathlib import Path


def test_learning_curve_quick_mode(tmp_path: Path, run_benchmark) -> None:
    out, fig = tmp_path / "lc.json", tmp_path / "lc.png"
    run_benchmark(
        "learning_curve",
        "--quick",
        "--workers",
        "1",
        "--results",
        str(out),
        "--figure",
        str(fig),
        "--work",
        str(tmp_path / "work"),
    )
    result = json.loads(out.read_text())
    rows = result["rows"]
    assert [(r["patients"], r["model"]) for r in rows] == [
        (5, "eeg1d"),
        (10, "eeg1d"),
        (10, "sparcnet"),
    ]
    assert rows[0]["folds"] == "3 of 3" and rows[1]["folds"] == "1 of 5"
    for r in rows:
        for key in ("kl_ge10", "kl_all", "oracle_ge10", "floor_ge10", "prior_ge10", "minutes"):
            assert math.isfinite(r[key]) and r[key] >= 0, (r["model"], key)
        assert r["oof_rows"] > 0 and r["epochs_run"] >= 1
        # the true distribution is the best prediction of the votes; the floor sees less
        assert r["oracle_ge10"] <= r["floor_ge10"]
    # the one-fold point scores a fifth of its rows; the 3-fold point all of them
    assert rows[0]["oof_rows"] == rows[0]["rows"] and rows[1]["oof_rows"] < rows[1]["rows"]
    assert rows[1]["oracle_ge10"] == rows[2]["oracle_ge10"]  # same OOF rows for both models
    assert fig.stat().st_size > 10_000
    assert "date" in result["machine"] and str(tmp_path) not in out.read_text()
