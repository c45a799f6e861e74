"""Label structure: shipped statistics, standalone plans, labels-driven twins, simulated raters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from iiic import constants
from iiic.synth import TRUE_COLUMNS, generate_twin
from iiic.synth.labels import RaterPool, plan_standalone
from iiic.synth.stats import compute_label_stats, load_label_stats

REAL_TRAIN = "hms-train-labels-reconstructed/train.csv.gz"


def test_shipped_stats_describe_the_real_vote_mix() -> None:
    stats = load_label_stats()
    assert stats["n_patients"] == 1945 and stats["n_eegs"] == 17001
    assert 0.4 < stats["share_rows_3_votes"] < 0.6
    assert 0.3 < stats["share_rows_ge10_votes"] < 0.45
    totals = stats["vote_totals_rows"]
    assert min(totals["values"]) == 1 and max(totals["values"]) == 28
    assert sum(stats["class_mix_periods"].values()) == pytest.approx(1.0)


def test_standalone_plans_follow_the_stats() -> None:
    stats = load_label_stats()
    plans = plan_standalone(120, 0, stats)
    rows = [(e.totals, e.p_signal) for p in plans for e in p.eegs]
    totals = np.concatenate([t for t, _ in rows])
    assert (totals >= 1).all() and (totals <= 28).all()
    share3 = (totals == 3).mean()
    share10 = (totals >= constants.HIGH_QUALITY_VOTES).mean()
    assert 0.4 < share3 < 0.6 and 0.3 < share10 < 0.45  # real: 0.49 and 0.37
    top = np.concatenate([p.argmax(axis=1) for _, p in rows])
    assert set(top) == set(range(constants.N_CLASSES))
    # the vote total follows the class: real share of >= 10-vote rows is 3 % for Seizure and
    # 29-60 % for the others (an independent draw would give every class the same share)
    high = totals >= constants.HIGH_QUALITY_VOTES
    share = {c: high[top == k].mean() for k, c in enumerate(constants.CLASSES)}
    assert share["seizure"] < 0.12
    assert min(share[c] for c in ("lpd", "gpd", "other")) > 0.35
    offsets = [e.offsets_s for p in plans for e in p.eegs]
    assert all(o[0] == 0 and (np.diff(o) > 0).all() for o in offsets)
    assert len({p.patient_id for p in plans}) == 120


def test_votes_are_a_plausible_draw_from_the_truth() -> None:
    raters = RaterPool(seed=3)
    p = np.array([0.55, 0.05, 0.05, 0.05, 0.05, 0.25])
    truth = raters.truth(p[None])[0]
    rng = np.random.default_rng(0)
    votes = raters.votes(np.tile(p, (4000, 1)), np.full(4000, 12), rng)
    assert (votes.sum(axis=1) == 12).all()
    counts = votes.sum(axis=0)
    chi2 = scipy.stats.chisquare(counts, truth * counts.sum())
    assert chi2.pvalue > 1e-3  # pooled votes agree with the truth distribution
    # raters differ: their biases move the truth away from p, but not far
    assert 0 < np.abs(truth - p).max() < 0.15


def test_rater_votes_respect_large_totals() -> None:
    raters = RaterPool(seed=1)
    votes = raters.votes(np.full((3, 6), 1 / 6), np.array([1, 28, 40]), np.random.default_rng(1))
    assert votes.sum(axis=1).tolist() == [1, 28, 40]


@pytest.mark.real_data
def test_labels_driven_twin_reproduces_structure(shared_data: Path, tmp_path: Path) -> None:
    real = pd.read_csv(shared_data / REAL_TRAIN)
    out = generate_twin(tmp_path / "driven", labels=shared_data / REAL_TRAIN, n_patients=3, seed=2)
    syn = pd.read_csv(out / "train.csv")
    assert syn["patient_id"].nunique() == 3
    keys = ["eeg_id", "eeg_sub_id"]
    same = ["eeg_label_offset_seconds", "spectrogram_id", "spectrogram_sub_id",
            "spectrogram_label_offset_seconds", "patient_id"]  # fmt: skip
    ref = real[real["patient_id"].isin(syn["patient_id"].unique())]
    merged = syn.merge(ref, on=keys, suffixes=("", "_real"), validate="one_to_one")
    assert len(merged) == len(syn) == len(ref)
    for col in same:
        np.testing.assert_array_equal(merged[col], merged[f"{col}_real"], err_msg=col)
    vote_cols = list(constants.VOTE_COLUMNS)
    np.testing.assert_array_equal(
        merged[vote_cols].sum(axis=1), merged[[f"{c}_real" for c in vote_cols]].sum(axis=1)
    )
    truth = pd.read_parquet(out / "truth.parquet").merge(merged, on=keys)
    real_frac = truth[[f"{c}_real" for c in vote_cols]].to_numpy(float)
    real_frac /= real_frac.sum(axis=1, keepdims=True)
    # the truth follows the real votes (same top class for clear-cut rows)
    clear = real_frac.max(axis=1) >= 0.75
    top_truth = truth[list(TRUE_COLUMNS)].to_numpy().argmax(axis=1)
    assert (top_truth[clear] == real_frac[clear].argmax(axis=1)).mean() > 0.95


@pytest.mark.real_data
def test_compute_label_stats_matches_shipped(shared_data: Path) -> None:
    stats = compute_label_stats(shared_data / REAL_TRAIN)
    shipped = load_label_stats()
    assert stats["vote_totals_rows"] == shipped["vote_totals_rows"]
    assert stats["class_mix_periods"] == pytest.approx(shipped["class_mix_periods"])
