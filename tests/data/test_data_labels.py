"""Votes → targets, quality bins, agreement rules, stationary periods, per-EEG sums, folds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iiic.constants import VOTE_COLUMNS
from iiic.data import labels
from iiic.data.errors import DataError
from iiic.data.folds import assign_folds, check_folds, read_folds, write_folds
from iiic.data.layout import read_train_csv


def _table(vote_rows: list[list[int]], eeg_ids: list[int], patients=None) -> pd.DataFrame:
    df = pd.DataFrame(vote_rows, columns=list(VOTE_COLUMNS))
    df.insert(0, "eeg_id", eeg_ids)
    df.insert(1, "eeg_sub_id", df.groupby("eeg_id").cumcount())
    df.insert(2, "patient_id", patients if patients is not None else eeg_ids)
    return df


def test_targets_total_quality() -> None:
    df = _table([[3, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 1], [0, 0, 5, 0, 5, 5]], [1, 1, 2])
    np.testing.assert_allclose(labels.targets(df)[1], [0, 0.5, 0, 0, 0, 0.5])
    assert labels.total_votes(df).tolist() == [3, 2, 15]
    assert [labels.quality_bin(t) for t in (0, 2, 3, 9, 10, 28)] == ["<3"] * 2 + ["3-9"] * 2 + [
        ">=10"
    ] * 2
    assert labels.quality_bins(np.array([2, 3, 10])).tolist() == ["<3", "3-9", ">=10"]
    with pytest.raises(ValueError, match="no votes"):
        labels.targets(_table([[0] * 6], [1]))


@pytest.mark.parametrize(
    ("votes", "expected"),
    [
        ([3, 0, 0, 0, 0, 0], "idealized"),  # unanimous
        ([0, 12, 0, 0, 0, 4], "idealized"),  # 0.75 exactly
        ([0, 2, 0, 0, 0, 1], "proto"),  # pattern vs Other
        ([0, 5, 0, 0, 0, 5], "proto"),  # tie pattern/Other: top is the pattern (first)
        ([0, 0, 6, 0, 4, 0], "edge"),  # pattern vs pattern
        ([4, 3, 0, 0, 0, 3], "proto"),  # Other ties the runner-up pattern: proto
        ([1, 0, 0, 0, 0, 2], "other"),
        ([0, 0, 0, 0, 0, 7], "other"),
    ],
)
def test_agreement_rules(votes: list[int], expected: str) -> None:
    assert labels.agreement(np.array([votes])).tolist() == [expected]


def test_stationary_periods_and_representatives() -> None:
    a, b = [3, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 2]
    df = _table([a, a, a, b, a, b, b], [7, 7, 7, 7, 7, 9, 9])
    shuffled = df.sample(frac=1, random_state=3)
    period = labels.stationary_periods(shuffled)
    assert period.loc[df.index].tolist() == [0, 0, 0, 1, 2, 3, 3]  # same for any row order
    reps = labels.period_representatives(shuffled, period)
    assert sorted(reps) == [1, 3, 4, 6]  # middle rows: position n // 2


def test_aggregate_by_eeg() -> None:
    df = _table(
        [[1, 0, 0, 0, 0, 2], [0, 0, 0, 0, 0, 1], [0, 2, 0, 0, 0, 0]], [5, 5, 4], [50, 50, 40]
    )
    agg = labels.aggregate_by_eeg(df)
    assert agg.eeg_id.tolist() == [4, 5] and agg.n_rows.tolist() == [1, 2]
    assert agg.other_vote.tolist() == [0, 3] and agg.total_votes.tolist() == [2, 4]
    assert agg.expert_consensus.tolist() == ["LPD", "Other"]


def test_annotate_real_train_csv(shared_data: Path) -> None:
    df = read_train_csv(shared_data / "hms-train-labels-reconstructed" / "train.csv.gz")
    ann = labels.annotate(df)
    assert len(ann) == 106_519
    assert (ann.total_votes >= 10).sum() == 39_845  # PROVENANCE.md
    assert set(ann.agreement) == set(labels.AGREEMENT_CATEGORIES)
    # consensus rule of train.csv (argmax, ties to the first class) holds for every row
    assert (labels.consensus(df) == df.expert_consensus.to_numpy()).all()
    assert (ann.agreement == "other").sum() == (df.expert_consensus == "Other").sum()
    # a period never spans two EEGs, and every row of a period has the same votes
    assert (ann.groupby("period_id").eeg_id.nunique() == 1).all()
    assert (ann.groupby("period_id")[list(VOTE_COLUMNS)].nunique() == 1).all().all()
    folds = assign_folds(df.head(20_000), n_folds=5, seed=1)
    check_folds(df.head(20_000).assign(fold=folds))
    assert sorted(folds.unique()) == [0, 1, 2, 3, 4]


def _fold_table(n_patients: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    patients = np.repeat(np.arange(n_patients), 3)
    v = rng.integers(0, 4, size=(len(patients), 6))
    v[:, 5] += 1
    df = _table(v.tolist(), list(range(len(patients))), patients)
    df["expert_consensus"] = labels.consensus(df)
    return df


def test_folds_deterministic_grouped(tmp_path: Path) -> None:
    df = _fold_table()
    f1 = assign_folds(df, n_folds=4, seed=7)
    assert f1.equals(assign_folds(df.iloc[::-1], n_folds=4, seed=7).loc[df.index])
    assert not f1.equals(assign_folds(df, n_folds=4, seed=8))
    assert (df.assign(fold=f1).groupby("patient_id").fold.nunique() == 1).all()
    path = write_folds(df.assign(fold=f1), tmp_path / "folds.csv")
    assert read_folds(path).fold.tolist() == f1.tolist()


def test_check_folds_catches_leak() -> None:
    df = _fold_table().assign(fold=0)
    df.loc[df.index[1], "fold"] = 1  # patient 0 now in two folds
    with pytest.raises(DataError, match=r"1 patient\(s\) in more than one fold, e.g. \[0\]"):
        check_folds(df)
    with pytest.raises(ValueError, match="n_folds: expected 2..40"):
        assign_folds(_fold_table(), n_folds=41)
