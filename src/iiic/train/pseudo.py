"""Pseudo-labels for low-vote rows: targets mixed from the votes and a first-stage ensemble's OOF.

Rows with fewer than ``max_votes`` votes (their vote distributions are noisy: 1–9 experts) train
towards::

    target = (1 - weight) · votes / Σ votes + weight · mean_m p_m(row)

where ``p_m(row)`` is model m's **out-of-fold** prediction of the row: the prediction of the
first-stage model that held out the row's fold, so no model that trained on a row labels it.
The OOF tables must come from runs with this run's fold assignment (checked row by row), so the
row is held out by the same fold now. Rows with ``max_votes`` or more votes, rows the OOF tables
lack, and every validation / OOF-scoring row keep their vote distribution.

Caveat (as in the public solutions): the first-stage model that labels a fold-j row trained on
the other folds, fold k included; training fold k's second-stage model on those targets lets a
little of fold k's labels back in, so its validation KL is slightly optimistic.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from iiic.constants import CLASSES, PRED_COLUMNS, VOTE_COLUMNS
from iiic.runs.rundir import OOF_FILE
from iiic.train.config import PseudoLabelConfig

logger = logging.getLogger(__name__)

TARGET_COLUMNS = tuple(f"target_{c}" for c in CLASSES)
"""Columns of a training row's target distribution when it differs from its votes."""
KEYS = ["eeg_id", "eeg_sub_id"]


def _oof_path(path: str | Path) -> Path:
    path = Path(path)
    return path / OOF_FILE if path.is_dir() else path


def ensemble_oof(paths: list[str]) -> pd.DataFrame:
    """Mean OOF probabilities of several tables on the rows all share: keys, ``fold``, PRED_COLUMNS.

    Raises ValueError naming the table when it is unreadable, has no fold, or disagrees with the
    first table on a row's fold.
    """
    from iiic.evaluate.oof import OOFError, read_oof

    tables = []
    for p in paths:
        try:
            t = read_oof(_oof_path(p))
        except (OOFError, OSError) as exc:
            raise ValueError(f"pseudo_labels.oof: {p}: {exc}") from exc
        if (t["fold"] < 0).any():
            raise ValueError(f"pseudo_labels.oof: {p}: rows without a fold (not an iiic OOF table)")
        tables.append(t[[*KEYS, "fold", *PRED_COLUMNS]])
    merged = tables[0]
    for m, t in enumerate(tables[1:], start=1):
        merged = merged.merge(t, on=KEYS, suffixes=("", f"#{m}"), validate="one_to_one")
        if (merged["fold"] != merged[f"fold#{m}"]).any():
            raise ValueError(f"pseudo_labels.oof: {paths[m]}: folds differ from {paths[0]}'s")
    probs = np.mean(
        [
            merged[[c + ("" if m == 0 else f"#{m}") for c in PRED_COLUMNS]].to_numpy()
            for m in range(len(tables))
        ],
        axis=0,
    )  # fmt: skip  (n, 6)
    out = merged[[*KEYS, "fold"]].copy()
    out[list(PRED_COLUMNS)] = probs / probs.sum(axis=1, keepdims=True)
    return out


def mix_targets(rows: pd.DataFrame, cfg: PseudoLabelConfig) -> pd.DataFrame:
    """``rows`` with TARGET_COLUMNS: the votes, mixed with the OOF ensemble on low-vote rows.

    ``rows`` needs VOTE_COLUMNS, ``total_votes`` and ``fold`` (this run's assignment). Raises
    ValueError when a row's fold in the OOF tables is not its fold here (the OOF model would have
    trained on it).
    """
    ens = ensemble_oof(cfg.oof)
    votes = rows[list(VOTE_COLUMNS)].to_numpy(np.float64)
    target = votes / votes.sum(axis=1, keepdims=True)
    joined = rows[[*KEYS, "fold"]].merge(ens, on=KEYS, how="left", suffixes=("", "_oof"))
    have = joined["fold_oof"].notna().to_numpy()
    wrong = have & (joined["fold_oof"].to_numpy() != joined["fold"].to_numpy())
    if wrong.any():
        raise ValueError(
            f"pseudo_labels.oof: {int(wrong.sum())} rows sit in another fold there than here: train "
            "the first stage with this run's n_folds and fold_seed (same cache)"
        )
    low = have & (rows["total_votes"].to_numpy() < cfg.max_votes)
    pred = joined[list(PRED_COLUMNS)].to_numpy(np.float64)
    target[low] = (1 - cfg.weight) * target[low] + cfg.weight * pred[low]
    logger.info("pseudo-labels: %d of %d rows (< %d votes) mixed with weight %.2f; %d rows lack "
                "an OOF prediction", low.sum(), len(rows), cfg.max_votes, cfg.weight,
                (~have).sum())  # fmt: skip
    out = rows.copy()
    out[list(TARGET_COLUMNS)] = target
    return out
