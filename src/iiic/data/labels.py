"""Votes → targets, vote quality, agreement categories, stationary periods, per-EEG sums.

Agreement categories (per row, from the vote shares y = votes / total, class order of
``constants.CLASSES``; the top class is the argmax with ties going to the first class, the same
rule as ``expert_consensus``):

- ``"other"`` (other-dominant): the top class is Other.
- ``"idealized"``: the top class is a pattern with share >= ``IDEALIZED_SHARE`` (0.75; e.g. 3/3,
  3/4, 12/15 votes) — near-unanimous.
- ``"proto"`` (pattern vs Other): the top class is a pattern below 0.75 and Other's share is at
  least that of every other pattern (a tie between Other and a pattern counts as proto).
- ``"edge"`` (pattern vs pattern): the top class is a pattern below 0.75 and some other pattern
  has a larger share than Other.

Stationary periods: rows of one EEG ordered by ``eeg_sub_id`` (then the offset), where each row
has exactly the votes of the previous one, form one period; its representative row is the middle
one (position ``n // 2`` in that order).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from iiic.constants import CLASS_LABELS, CLASSES, QUALITY_BINS, VOTE_COLUMNS
from iiic.utils import bad_value

IDEALIZED_SHARE = 0.75
"""Minimum vote share of the top (pattern) class for an 'idealized' row."""
AGREEMENT_CATEGORIES: tuple[str, ...] = ("idealized", "proto", "edge", "other")
OTHER_INDEX = CLASSES.index("other")


def normalize_votes(votes: np.ndarray) -> np.ndarray:
    """Vote counts (or fractions), shape (n, k) → distributions that sum to 1 per row.

    Raises ValueError on negative entries or rows without any vote.
    """
    votes = np.asarray(votes, dtype=np.float64)
    if votes.ndim != 2:
        raise ValueError(bad_value("votes", "shape (n_rows, n_classes)", votes.shape))
    if (votes < 0).any():
        raise ValueError(f"votes must be >= 0; {int((votes < 0).any(axis=1).sum())} rows are not")
    total = votes.sum(axis=1, keepdims=True)
    if (total <= 0).any():
        raise ValueError(f"{int((total[:, 0] <= 0).sum())} rows have no votes (total 0)")
    return votes / total


def votes(df: pd.DataFrame) -> np.ndarray:
    """Vote counts, shape (n, 6) int64, in ``constants.VOTE_COLUMNS`` order."""
    return df[list(VOTE_COLUMNS)].to_numpy(np.int64)


def targets(df: pd.DataFrame) -> np.ndarray:
    """Vote distributions, shape (n, 6) float64, rows sum to 1 (ValueError on 0-vote rows)."""
    return normalize_votes(votes(df))


def total_votes(df: pd.DataFrame) -> pd.Series:
    """Total votes per row (int64), named ``total_votes``."""
    return pd.Series(votes(df).sum(axis=1), index=df.index, name="total_votes")


def quality_bin(total: int) -> str:
    """Name of the ``constants.QUALITY_BINS`` bin that holds ``total`` votes ("<3", "3-9", ">=10")."""
    for name, low, high in QUALITY_BINS:
        if total >= low and (high is None or total < high):
            return name
    raise ValueError(bad_value("total votes", ">= 0", total))


def quality_bins(total: pd.Series | np.ndarray) -> np.ndarray:
    """Vectorised :func:`quality_bin`: array of bin names (object dtype)."""
    total = np.asarray(total)
    out = np.empty(total.shape, dtype=object)
    for name, low, high in QUALITY_BINS:
        out[(total >= low) & ((total < high) if high is not None else True)] = name
    return out


def agreement(data: pd.DataFrame | np.ndarray) -> np.ndarray:
    """Agreement category per row (see the module docstring), array of str (object dtype).

    Parameters
    ----------
    data : DataFrame with the vote columns, or ndarray (n, 6) of votes or shares
    """
    y = targets(data) if isinstance(data, pd.DataFrame) else normalize_votes(data)
    top = y.argmax(axis=1)
    top_share = y[np.arange(len(y)), top]
    patterns = np.delete(y, OTHER_INDEX, axis=1)
    # runner-up pattern share: the largest pattern share after removing the top one
    second_pattern = np.sort(patterns, axis=1)[:, -2]
    out = np.where(y[:, OTHER_INDEX] >= second_pattern, "proto", "edge").astype(object)
    out[top_share >= IDEALIZED_SHARE] = "idealized"
    out[top == OTHER_INDEX] = "other"
    return out


def consensus(data: pd.DataFrame | np.ndarray) -> np.ndarray:
    """Argmax class label (``constants.CLASS_LABELS``), ties to the first class, as train.csv."""
    v = votes(data) if isinstance(data, pd.DataFrame) else np.asarray(data)
    return np.asarray(CLASS_LABELS, dtype=object)[v.argmax(axis=1)]


def _period_order(df: pd.DataFrame) -> pd.Index:
    keys = [k for k in ("eeg_id", "eeg_sub_id", "eeg_label_offset_seconds") if k in df.columns]
    return df.sort_values(keys, kind="stable").index


def stationary_periods(df: pd.DataFrame) -> pd.Series:
    """Period id per row (int64, 0..n_periods-1 in (eeg_id, eeg_sub_id) order), named ``period_id``."""
    ordered = df.loc[_period_order(df)]
    v = votes(ordered)
    eeg = ordered["eeg_id"].to_numpy()
    new = np.ones(len(ordered), dtype=bool)
    new[1:] = (eeg[1:] != eeg[:-1]) | (v[1:] != v[:-1]).any(axis=1)
    ids = pd.Series(np.cumsum(new) - 1, index=ordered.index, name="period_id")
    return ids.loc[df.index]


def period_representatives(df: pd.DataFrame, period_id: pd.Series | None = None) -> pd.Index:
    """Index labels of one representative row per stationary period (the middle row)."""
    period_id = stationary_periods(df) if period_id is None else period_id
    ordered = period_id.loc[_period_order(df)]
    pos = ordered.groupby(ordered.to_numpy()).cumcount()
    size = ordered.groupby(ordered.to_numpy()).transform("size")
    return ordered.index[(pos == size // 2).to_numpy()]


def aggregate_by_eeg(df: pd.DataFrame) -> pd.DataFrame:
    """One row per eeg_id: summed votes, ``n_rows``, ``total_votes``, ``expert_consensus``.

    Returns
    -------
    DataFrame indexed 0..n_eegs-1 with ``eeg_id``, ``patient_id`` (when present), ``n_rows``,
    the vote columns (sums), ``total_votes`` and the consensus of the summed votes.
    """
    agg = {c: "sum" for c in VOTE_COLUMNS}
    if "patient_id" in df.columns:
        agg["patient_id"] = "first"
    out = df.groupby("eeg_id", sort=True).agg(agg)
    out.insert(0, "n_rows", df.groupby("eeg_id", sort=True).size())
    out["total_votes"] = votes(out).sum(axis=1)
    out["expert_consensus"] = consensus(out)
    return out.reset_index()


def annotate(df: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``df`` with ``total_votes``, ``quality``, ``agreement`` and ``period_id`` added."""
    out = df.copy()
    out["total_votes"] = total_votes(df)
    out["quality"] = quality_bins(out["total_votes"])
    out["agreement"] = agreement(df)
    out["period_id"] = stationary_periods(df)
    return out
