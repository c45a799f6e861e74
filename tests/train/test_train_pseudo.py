"""Pseudo-labels: low-vote rows train towards votes mixed with a first-stage run's OOF prediction."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from iiic.cli import app
from iiic.constants import PRED_COLUMNS, VOTE_COLUMNS
from iiic.train.config import TrainConfig
from iiic.train.dataset import WindowDataset
from iiic.train.kfold import open_data, train_kfold
from iiic.train.pseudo import TARGET_COLUMNS, PseudoLabelConfig, mix_targets
from iiic.train.rows import prepare_rows


@pytest.fixture(scope="module")
def first_stage(tiny_twin: Path, tiny_config: dict, tmp_path_factory) -> Path:
    """A two-fold, one-epoch run of the tiny eeg1d: its oof.parquet labels the second stage."""
    cfg = TrainConfig.model_validate(
        {**tiny_config, "folds": None, "stages": [{"epochs": 1, "lr": 3e-3}]}
    )
    run = tmp_path_factory.mktemp("pseudo") / "first"
    train_kfold(cfg, tiny_twin, run, device="cpu", progress_bar=False)
    return run


def _rows(twin: Path, cfg: TrainConfig) -> pd.DataFrame:
    return prepare_rows(open_data(twin)[0].rows, cfg)


def test_low_vote_rows_get_the_mixed_target_and_the_rest_their_votes(
    tiny_twin: Path, tiny_config: dict, first_stage: Path
) -> None:
    cfg = TrainConfig.model_validate(tiny_config)
    rows = _rows(tiny_twin, cfg)
    pl = PseudoLabelConfig(oof=[str(first_stage)], weight=0.3, max_votes=4)
    out = mix_targets(rows, pl)
    oof = pd.read_parquet(first_stage / "oof.parquet")
    joined = out.merge(oof[["eeg_id", "eeg_sub_id", *PRED_COLUMNS]], on=["eeg_id", "eeg_sub_id"])
    votes = joined[list(VOTE_COLUMNS)].to_numpy(float)
    y = votes / votes.sum(axis=1, keepdims=True)
    low = joined["total_votes"].to_numpy() < 4
    assert 0 < low.sum() < len(joined)  # both kinds of row are there
    expect = np.where(low[:, None], 0.7 * y + 0.3 * joined[list(PRED_COLUMNS)].to_numpy(), y)
    np.testing.assert_allclose(joined[list(TARGET_COLUMNS)].to_numpy(), expect, atol=1e-9)
    np.testing.assert_allclose(out[list(TARGET_COLUMNS)].sum(axis=1), 1.0, atol=1e-9)


def test_an_oof_table_from_other_folds_is_refused(
    tiny_twin: Path, tiny_config: dict, first_stage: Path, tmp_path: Path
) -> None:
    oof = pd.read_parquet(first_stage / "oof.parquet")
    oof["fold"] = 1 - oof["fold"]  # its model for a row trained on that row here
    oof.to_parquet(tmp_path / "oof.parquet", index=False)
    rows = _rows(tiny_twin, TrainConfig.model_validate(tiny_config))
    with pytest.raises(ValueError, match="another fold there than here"):
        mix_targets(rows, PseudoLabelConfig(oof=[str(tmp_path / "oof.parquet")]))


def test_second_stage_trains_on_pseudo_targets_and_scores_on_votes(
    tiny_twin: Path, tiny_config: dict, first_stage: Path, tmp_path: Path
) -> None:
    cfg_path = tmp_path / "tiny.json"
    cfg_path.write_text(json.dumps(tiny_config))
    run = tmp_path / "second"
    result = CliRunner().invoke(app, [
        "train", "--config", str(cfg_path), "--data", str(tiny_twin), "--out", str(run),
        "--pseudo-labels", str(first_stage), "--pseudo-weight", "0.7", "--device", "cpu", "--quiet",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    saved = json.loads((run / "config.json").read_text())["pseudo_labels"]
    assert saved == {"oof": [str(first_stage)], "weight": 0.7, "max_votes": 10}
    oof = pd.read_parquet(run / "oof.parquet")  # scored against the raw votes
    truth = pd.read_parquet(first_stage / "oof.parquet")
    both = oof.merge(truth, on=["eeg_id", "eeg_sub_id"], suffixes=("", "_1"))
    assert len(both) == len(oof) > 0
    np.testing.assert_array_equal(both[list(VOTE_COLUMNS)].to_numpy(),
                                  both[[f"{c}_1" for c in VOTE_COLUMNS]].to_numpy())  # fmt: skip
    cfg = TrainConfig.model_validate({**tiny_config, "pseudo_labels": saved})
    rows = mix_targets(_rows(tiny_twin, cfg), cfg.pseudo_labels)
    cache = open_data(tiny_twin)[0]
    ds = WindowDataset(cache, rows, preprocess=cfg.preprocess, with_spec=False,
                       target_columns=TARGET_COLUMNS)  # fmt: skip
    low = rows["total_votes"].to_numpy() < 10
    assert low.any()
    np.testing.assert_allclose(ds.targets, rows[list(TARGET_COLUMNS)].to_numpy(), atol=1e-6)
    votes = rows[list(VOTE_COLUMNS)].to_numpy(float)
    assert not np.allclose(ds.targets[low], (votes / votes.sum(1, keepdims=True))[low], atol=1e-3)
    with pytest.raises(ValueError, match="target_columns"):
        WindowDataset(cache, rows, preprocess=cfg.preprocess, with_spec=False,
                      target_columns=list(VOTE_COLUMNS))  # fmt: skip


def test_pseudo_weight_without_tables_is_an_error(tiny_twin: Path, tiny_config, tmp_path) -> None:
    cfg_path = tmp_path / "tiny.json"
    cfg_path.write_text(json.dumps(tiny_config))
    result = CliRunner().invoke(app, ["train", "--config", str(cfg_path), "--data", str(tiny_twin),
                                      "--out", str(tmp_path / "r"), "--pseudo-weight", "0.5"])  # fmt: skip
    assert result.exit_code == 2 and "pseudo_labels.oof" in result.output
