"""Which rows each stage trains on and which rows validate a fold.

- stage rows: training-fold rows with ``total_votes >= stage.min_votes``;
- validation rows: held-out rows with ``total_votes >= val_min_votes``, one per EEG (or per
  stationary period) — the middle row of the group. If a fold has fewer than ``val_min_rows``
  such groups (tiny twins), validation falls back to one row per group over **all** rows of
  the held-out patients; the fallback is logged and recorded in ``metrics.json``.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from iiic.data.folds import assign_folds
from iiic.data.labels import stationary_periods, total_votes
from iiic.train.config import TrainConfig

logger = logging.getLogger(__name__)


def prepare_rows(rows: pd.DataFrame, cfg: TrainConfig) -> pd.DataFrame:
    """Copy of the cache table with ``total_votes``, ``period_id`` and ``cfg.n_folds`` folds."""
    out = rows.reset_index(drop=True).copy()
    if "total_votes" not in out.columns:
        out["total_votes"] = total_votes(out)
    if "period_id" not in out.columns:
        out["period_id"] = stationary_periods(out)
    if "fold" not in out.columns or out["fold"].nunique() != cfg.n_folds:
        logger.info("assigning %d patient-grouped folds (seed %d)", cfg.n_folds, cfg.fold_seed)
        out["fold"] = assign_folds(out, n_folds=cfg.n_folds, seed=cfg.fold_seed)
    return out


def stage_rows(train_rows: pd.DataFrame, min_votes: int, stage: int) -> pd.DataFrame:
    """Rows with at least ``min_votes`` votes; ValueError when none remain."""
    out = train_rows[train_rows["total_votes"] >= min_votes]
    if out.empty:
        raise ValueError(
            f"stage {stage}: no training rows with >= {min_votes} votes "
            f"(of {len(train_rows)}); lower stages[{stage}].min_votes"
        )
    return out


def _middle_per_group(rows: pd.DataFrame, key: str) -> pd.DataFrame:
    ordered = rows.sort_values(["eeg_id", "eeg_sub_id"], kind="stable")
    pos = ordered.groupby(key).cumcount().to_numpy()
    size = ordered.groupby(key)[key].transform("size").to_numpy()
    return ordered[pos == size // 2]


def validation_rows(fold_rows: pd.DataFrame, cfg: TrainConfig) -> tuple[pd.DataFrame, bool]:
    """``(rows, fell_back)``: the validation rows of a held-out fold (see module docstring)."""
    key = "eeg_id" if cfg.val_per == "eeg" else "period_id"
    high = fold_rows[fold_rows["total_votes"] >= cfg.val_min_votes]
    chosen = _middle_per_group(high, key) if len(high) else high
    if len(chosen) >= cfg.val_min_rows:
        return chosen, False
    logger.warning(
        "only %d validation %s(s) with >= %d votes (< val_min_rows=%d): validating on one row "
        "per %s of all %d rows of the held-out patients instead",
        len(chosen), cfg.val_per, cfg.val_min_votes, cfg.val_min_rows, cfg.val_per, len(fold_rows),
    )  # fmt: skip
    return _middle_per_group(fold_rows, key), True


def class_prior(rows: pd.DataFrame) -> np.ndarray:
    """Mean vote distribution of ``rows``, shape (6,): the fallback prediction."""
    from iiic.constants import VOTE_COLUMNS

    v = rows[list(VOTE_COLUMNS)].to_numpy(dtype=np.float64)
    return (v / v.sum(axis=1, keepdims=True)).mean(axis=0)
