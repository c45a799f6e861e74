"""Label-structure statistics of a real HMS train.csv, shipped as a small JSON for the twin.

``compute_label_stats(train_csv)`` summarises how the real labels are organised: EEGs per
patient, sub-windows per EEG, the steps between sub-window offsets, stationary-period lengths,
vote totals (1..28, with the real mix of 3-vote and >=10-vote rows), the class mix of the
expert consensus, agreement categories, EEGs per spectrogram and EEG positions within
spectrograms. The standalone twin samples its label structure from these numbers, so the package
never ships the Kaggle rows themselves. Regenerate with ``python -m iiic.synth.stats TRAIN_CSV``.
"""

from __future__ import annotations

import argparse
import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from iiic import constants
from iiic.utils import write_json_atomic

STATS_RESOURCE = "hms_label_stats.json"
MAX_HIST_VALUE = 64
"""Histograms of counts are cut at this value (larger values are pooled into it)."""
TOTAL_GROUPS = {"1-2": (1, 2), "3": (3, 3), "4-9": (4, 9), "10-28": (10, 28)}
"""Vote-total groups with their own rows-per-period histogram (3-vote periods last longest)."""
PROTO_MAX_TOP_SHARE = 0.75
"""A row whose top class has at most this share of the votes is a disagreement row."""


def _hist(values: pd.Series | np.ndarray, cap: int = MAX_HIST_VALUE) -> dict[str, list[int]]:
    """Histogram of integer values, values above ``cap`` pooled into ``cap``."""
    v = np.minimum(np.asarray(values, dtype=np.int64), cap)
    uniq, counts = np.unique(v, return_counts=True)
    return {"values": uniq.tolist(), "counts": counts.tolist()}


def _period_ids(df: pd.DataFrame) -> np.ndarray:
    """Stationary-period id per row (consecutive rows of one EEG with identical votes)."""
    votes = df[list(constants.VOTE_COLUMNS)].to_numpy()
    new = np.ones(len(df), dtype=bool)
    same_eeg = df["eeg_id"].to_numpy()[1:] == df["eeg_id"].to_numpy()[:-1]
    same_votes = (votes[1:] == votes[:-1]).all(axis=1)
    new[1:] = ~(same_eeg & same_votes)
    return np.cumsum(new) - 1


def _agreement_by_class(df: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per consensus class: share of rows that are unanimous-ish, proto (vs Other) or edge.

    Few-vote and many-vote rows agree very differently (a 3-vote Seizure row is unanimous 90 % of
    the time, a >=10-vote one 21 %), so the caller computes this per vote group.
    """
    votes = df[list(constants.VOTE_COLUMNS)].to_numpy(float)
    frac = votes / votes.sum(axis=1, keepdims=True)
    top = frac.argmax(axis=1)
    order = np.argsort(-frac, axis=1)
    second = order[:, 1]
    top_share = frac.max(axis=1)
    other = constants.CLASSES.index("other")
    out: dict[str, dict[str, float]] = {}
    for k, name in enumerate(constants.CLASSES):
        sel = top == k
        split = sel & (top_share <= PROTO_MAX_TOP_SHARE)
        proto = split & ((second == other) | (top == other))
        n = max(int(sel.sum()), 1)
        out[name] = {
            "idealized": float((sel & ~split).sum() / n),
            "proto": float(proto.sum() / n),
            "edge": float((split & ~proto).sum() / n),
            "second_class_counts": np.bincount(second[split & ~proto], minlength=6).tolist(),
            "mean_top_share_split": float(top_share[split].mean()) if split.any() else 0.5,
        }
    return out


def compute_label_stats(train_csv: str | Path) -> dict[str, Any]:
    """Summarise the label structure of a real train.csv (see the module docstring)."""
    df = pd.read_csv(train_csv).sort_values(["eeg_id", "eeg_label_offset_seconds"])
    df = df.reset_index(drop=True)
    votes = df[list(constants.VOTE_COLUMNS)].to_numpy()
    totals = votes.sum(axis=1)
    periods = _period_ids(df)
    per_period = pd.DataFrame({"eeg": df["eeg_id"], "p": periods, "total": totals})
    period_len = per_period.groupby("p").size()
    periods_per_eeg = per_period.groupby("eeg")["p"].nunique()
    steps = np.diff(df["eeg_label_offset_seconds"].to_numpy())
    same = df["eeg_id"].to_numpy()[1:] == df["eeg_id"].to_numpy()[:-1]
    by_eeg = df.groupby("eeg_id")
    first = by_eeg.first()
    shift = first["spectrogram_label_offset_seconds"] - first["eeg_label_offset_seconds"]
    consensus = pd.Series(votes.argmax(axis=1)).map(dict(enumerate(constants.CLASSES)))
    period_first = per_period.groupby("p").first()
    period_class = consensus.groupby(periods).first()
    high = totals >= constants.HIGH_QUALITY_VOTES
    return {
        "source": Path(train_csv).name,
        "n_rows": len(df),
        "n_eegs": int(df["eeg_id"].nunique()),
        "n_patients": int(df["patient_id"].nunique()),
        "n_spectrograms": int(df["spectrogram_id"].nunique()),
        "eegs_per_patient": _hist(df.groupby("patient_id")["eeg_id"].nunique()),
        "rows_per_period": _hist(period_len),
        "rows_per_period_by_total": {
            name: _hist(period_len[period_first["total"].between(lo, hi)])
            for name, (lo, hi) in TOTAL_GROUPS.items()
        },
        "periods_per_eeg": _hist(periods_per_eeg),
        "offset_step_s": _hist(steps[same & (periods[1:] == periods[:-1])]),
        "offset_step_between_periods_s": _hist(steps[same & (periods[1:] != periods[:-1])]),
        "vote_totals_per_period": _hist(period_first["total"], cap=28),
        # the vote total depends on the class (real: 3 % of Seizure rows have >= 10 votes,
        # 60 % of GPD rows), so the twin draws it given the period's consensus class
        "vote_totals_per_period_by_class": {
            name: _hist(period_first["total"][period_class == name], cap=28)
            for name in constants.CLASSES
        },
        "vote_totals_rows": _hist(totals, cap=28),
        "class_mix_periods": period_class.value_counts(normalize=True)
        .reindex(list(constants.CLASSES), fill_value=0.0)
        .to_dict(),
        "class_mix_rows": consensus.value_counts(normalize=True)
        .reindex(list(constants.CLASSES), fill_value=0.0)
        .to_dict(),
        "agreement_by_class": _agreement_by_class(df[high]),
        "agreement_by_class_few_votes": _agreement_by_class(df[~high]),
        "eegs_per_spectrogram": _hist(df.groupby("spectrogram_id")["eeg_id"].nunique()),
        "spec_shift_s_quantiles": np.quantile(shift, np.linspace(0, 1, 21)).tolist(),
        "share_rows_3_votes": float((totals == 3).mean()),
        "share_rows_ge10_votes": float((totals >= constants.HIGH_QUALITY_VOTES).mean()),
    }


def total_group(total: int) -> str:
    """The ``TOTAL_GROUPS`` key of a vote total (totals above 28 count as 10-28)."""
    return next((k for k, (lo, hi) in TOTAL_GROUPS.items() if lo <= total <= hi), "10-28")


def load_label_stats() -> dict[str, Any]:
    """The statistics shipped in ``iiic/resources/hms_label_stats.json``."""
    text = resources.files("iiic.resources").joinpath(STATS_RESOURCE).read_text("utf-8")
    return json.loads(text)


def main(argv: list[str] | None = None) -> None:
    """Recompute the shipped statistics from a real train.csv."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("train_csv", type=Path)
    default_out = Path(__file__).resolve().parents[1] / "resources" / STATS_RESOURCE
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args(argv)
    write_json_atomic(args.out, compute_label_stats(args.train_csv))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
