"""Check a submission the way Kaggle does, and score it against a solution table.

A submission is ``eeg_id`` + the six ``*_vote`` columns holding probabilities. It is rejected
(:class:`SubmissionError`) when columns are missing or extra, ids are missing, extra or duplicated,
a value is NaN/inf or negative, or a row does not sum to 1 within ``ROW_SUM_TOLERANCE``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from iiic.constants import VOTE_COLUMNS
from iiic.evaluate.metric import kl_divergence

ID_COLUMN = "eeg_id"
ROW_SUM_TOLERANCE = 1e-6
"""Largest accepted |row sum − 1| of a submission's probabilities."""


class SubmissionError(ValueError):
    """The submission would be rejected; the message says which rows/columns and why."""


def _ids(expected: pd.DataFrame | Iterable[int]) -> np.ndarray:
    if isinstance(expected, pd.DataFrame):
        return expected[ID_COLUMN].to_numpy()
    return np.asarray(list(expected))


def _check_columns(sub: pd.DataFrame) -> None:
    required = (ID_COLUMN, *VOTE_COLUMNS)
    missing = [c for c in required if c not in sub.columns]
    extra = [c for c in sub.columns if c not in required]
    if missing or extra:
        raise SubmissionError(f"submission: columns must be {list(required)}; "
                              f"missing {missing}, unexpected {extra}")  # fmt: skip


def _check_ids(sub: pd.DataFrame, ids: np.ndarray) -> None:
    got = sub[ID_COLUMN]
    dup = got[got.duplicated()].unique()
    if len(dup):
        raise SubmissionError(
            f"submission: {len(dup)} duplicated eeg_id(s), e.g. {[int(i) for i in dup[:5]]}"
        )
    missing = np.setdiff1d(ids, got.to_numpy())
    extra = np.setdiff1d(got.to_numpy(), ids)
    if len(missing) or len(extra):
        raise SubmissionError(f"submission: {len(missing)} eeg_id(s) missing (e.g. "
                              f"{missing[:5].tolist()}), {len(extra)} unexpected (e.g. "
                              f"{extra[:5].tolist()})")  # fmt: skip


def _check_values(sub: pd.DataFrame) -> None:
    try:
        p = sub[list(VOTE_COLUMNS)].to_numpy(np.float64)
    except (TypeError, ValueError) as exc:
        raise SubmissionError(f"submission: probability columns must be numeric ({exc})") from None
    for name, bad in (("NaN or infinite", ~np.isfinite(p)), ("negative", p < 0)):
        rows = np.flatnonzero(bad.any(axis=1))
        if len(rows):
            raise SubmissionError(f"submission: {len(rows)} row(s) with {name} probabilities, "
                                  f"e.g. eeg_id {sub[ID_COLUMN].iloc[rows[:5]].tolist()}")  # fmt: skip
    off = np.abs(p.sum(axis=1) - 1.0)
    rows = np.flatnonzero(off > ROW_SUM_TOLERANCE)
    if len(rows):
        raise SubmissionError(f"submission: {len(rows)} row(s) do not sum to 1 (tolerance "
                              f"{ROW_SUM_TOLERANCE:g}; worst |sum-1| = {off.max():.3g}), e.g. "
                              f"eeg_id {sub[ID_COLUMN].iloc[rows[:5]].tolist()}")  # fmt: skip


def validate_submission(sub: pd.DataFrame, expected: pd.DataFrame | Iterable[int]) -> None:
    """Raise :class:`SubmissionError` where Kaggle would reject ``sub``.

    Parameters
    ----------
    sub : DataFrame
        ``eeg_id`` + ``constants.VOTE_COLUMNS`` (probabilities).
    expected : DataFrame with ``eeg_id`` (test.csv or a solution) or an iterable of eeg ids
    """
    _check_columns(sub)
    _check_ids(sub, _ids(expected))
    _check_values(sub)


def score_submission(solution: pd.DataFrame, submission: pd.DataFrame) -> float:
    """Kaggle's KL divergence of ``submission`` against ``solution`` (eeg_id + vote counts), nats.

    The submission is validated first and aligned to the solution by ``eeg_id``.
    """
    validate_submission(submission, solution)
    aligned = submission.set_index(ID_COLUMN).loc[solution[ID_COLUMN]]
    return kl_divergence(solution[list(VOTE_COLUMNS)].to_numpy(np.float64),
                         aligned[list(VOTE_COLUMNS)].to_numpy(np.float64))  # fmt: skip
