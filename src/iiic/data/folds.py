"""Patient-grouped, consensus-stratified folds (sklearn ``StratifiedGroupKFold``).

Every row of a patient lands in the same fold; the split is a pure function of the table's
content and the seed (rows are sorted by (eeg_id, eeg_sub_id) first, so row order does not matter).
When every class has fewer rows than folds (tiny sets), sklearn cannot stratify: the split is
then ``GroupKFold`` (grouped, shuffled, not stratified) and a warning is logged.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

from iiic.data.errors import DataError
from iiic.data.labels import consensus
from iiic.utils import atomic_path, bad_value

log = logging.getLogger(__name__)

FOLD_COLUMNS: tuple[str, ...] = ("eeg_id", "eeg_sub_id", "patient_id", "fold")
"""Columns of a folds CSV."""


def assign_folds(df: pd.DataFrame, n_folds: int = 5, seed: int = 42) -> pd.Series:
    """Fold id (0..n_folds-1) per row, grouped by ``patient_id``, stratified on consensus.

    Raises
    ------
    ValueError
        ``n_folds`` < 2 or more folds than patients.
    """
    n_patients = df["patient_id"].nunique()
    if n_folds < 2 or n_folds > n_patients:
        raise ValueError(bad_value("n_folds", f"2..{n_patients} (the number of patients)", n_folds))
    keys = [k for k in ("eeg_id", "eeg_sub_id") if k in df.columns]
    ordered = df.sort_values(keys, kind="stable") if keys else df
    y = (ordered["expert_consensus"].to_numpy() if "expert_consensus" in ordered.columns
         else consensus(ordered))  # fmt: skip
    if pd.Series(y).value_counts().max() < n_folds:  # tiny sets: sklearn refuses to stratify
        log.warning(
            "every class has fewer than %d rows: folds are grouped, not stratified", n_folds
        )
        splitter = GroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    else:
        splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    fold = np.empty(len(ordered), dtype=np.int64)
    for k, (_, val) in enumerate(splitter.split(ordered, y, groups=ordered["patient_id"])):
        fold[val] = k
    return pd.Series(fold, index=ordered.index, name="fold").loc[df.index]


def resolve_n_folds(n_folds: int, n_patients: int, option: str = "--n-folds") -> int:
    """The fold count to use: ``n_folds``, or the number of patients when there are fewer.

    ``iiic prepare`` and ``iiic train`` share this rule (a fold needs a patient), and say so on
    stderr; ValueError naming ``option`` when fewer than 2 folds are possible or asked for.
    """
    if n_folds < 2:
        raise ValueError(bad_value(option, "at least 2 folds", n_folds))
    if n_patients < 2:
        raise ValueError(f"{option}: patient-grouped folds need >= 2 patients; the data has "
                         f"{n_patients}")  # fmt: skip
    if n_folds > n_patients:
        log.warning("%s %d: the data has only %d patients, so %d folds are used (pass "
                    "%s %d to choose)", option, n_folds, n_patients, n_patients, option,
                    n_patients)  # fmt: skip
        return n_patients
    return n_folds


def check_folds(df: pd.DataFrame, fold_column: str = "fold") -> None:
    """Raise :class:`DataError` naming the patients that appear in more than one fold."""
    n = df.groupby("patient_id")[fold_column].nunique()
    leaking = n.index[n > 1].tolist()
    if leaking:
        raise DataError(f"folds: {len(leaking)} patient(s) in more than one fold, e.g. "
                        f"{leaking[:5]}")  # fmt: skip


def write_folds(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``eeg_id, eeg_sub_id, patient_id, fold`` as CSV (atomically); checks first."""
    check_folds(df)
    with atomic_path(path) as tmp:
        df[list(FOLD_COLUMNS)].to_csv(tmp, index=False)
    return Path(path)


def read_folds(path: str | Path) -> pd.DataFrame:
    """Read a folds CSV written by :func:`write_folds` and check it."""
    df = pd.read_csv(path)
    missing = [c for c in FOLD_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}")
    check_folds(df)
    return df
