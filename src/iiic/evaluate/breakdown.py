"""Numbers of an OOF evaluation: KL overall and by group, accuracy, calibration, confusion.

Everything here is computed from one OOF table (see :mod:`iiic.evaluate.oof`) with the single KL
implementation of :mod:`iiic.evaluate.metric`. Figures and text live in
:mod:`iiic.evaluate.figures` and :mod:`iiic.evaluate.report`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from iiic.constants import (
    CLASS_LABELS,
    HIGH_QUALITY_VOTES,
    N_CLASSES,
    PRED_COLUMNS,
    QUALITY_BINS,
    VOTE_COLUMNS,
)
from iiic.data.labels import AGREEMENT_CATEGORIES, agreement, normalize_votes, quality_bins
from iiic.evaluate.metric import kl_per_row

N_CALIBRATION_BINS = 10
"""Equal-width bins of predicted probability in the reliability diagrams."""
UNKNOWN = "unknown"
"""Group name where the raw vote counts (hence the quality bin) are unknown."""

AGREEMENT_ORDER: tuple[str, ...] = AGREEMENT_CATEGORIES
"""Agreement categories of :func:`iiic.data.labels.agreement` (thresholds documented there)."""


@dataclass
class Evaluation:
    """All numbers of one OOF evaluation (KL in nats)."""

    n_rows: int
    renormalize: bool
    raw_votes: bool
    kl: float
    kl_kaggle: float
    kl_renormalized: float
    kl_high_quality: float | None
    n_high_quality: int
    accuracy: float
    by_quality: pd.DataFrame
    by_agreement: pd.DataFrame
    by_class: pd.DataFrame
    confusion: np.ndarray
    calibration: pd.DataFrame
    ece: dict[str, float] = field(default_factory=dict)
    by_fold: pd.DataFrame | None = None

    def summary(self) -> dict:
        """JSON-ready headline numbers."""
        return {
            "n_rows": self.n_rows,
            "renormalize": self.renormalize,
            "raw_votes": self.raw_votes,
            "kl": self.kl,
            "kl_kaggle": self.kl_kaggle,
            "kl_renormalized": self.kl_renormalized,
            "kl_high_quality": self.kl_high_quality,
            "n_high_quality": self.n_high_quality,
            "accuracy": self.accuracy,
            "ece": self.ece,
            "by_quality": self.by_quality.to_dict(orient="records"),
            "by_agreement": self.by_agreement.to_dict(orient="records"),
            "by_class": self.by_class.to_dict(orient="records"),
            "by_fold": None if self.by_fold is None else self.by_fold.to_dict(orient="records"),
            "confusion": self.confusion.tolist(),
        }


def _group_table(kl: np.ndarray, groups: np.ndarray, order: list[str]) -> pd.DataFrame:
    """Rows, share of rows, mean KL and share of the total KL per group (order kept)."""
    total = kl.sum()
    rows = []
    for name in order:
        mask = groups == name
        if not mask.any():
            continue
        rows.append(
            {
                "group": name,
                "n": int(mask.sum()),
                "share_rows": float(mask.mean()),
                "kl": float(kl[mask].mean()),
                "share_kl": float(kl[mask].sum() / total) if total > 0 else 0.0,
            }
        )
    return pd.DataFrame(rows, columns=["group", "n", "share_rows", "kl", "share_kl"])


def calibration_table(y: np.ndarray, p: np.ndarray, n_bins: int = N_CALIBRATION_BINS):
    """Reliability bins per class and per-class expected calibration error.

    Parameters
    ----------
    y : ndarray, shape (n, 6)
        Vote fractions (the target distribution).
    p : ndarray, shape (n, 6)
        Predicted probabilities.
    n_bins : int
        Equal-width bins of the predicted probability.

    Returns
    -------
    table : DataFrame
        class, bin, lo, hi, n, mean_pred, mean_true (empty bins kept with n = 0, NaN means).
    ece : dict
        class label → Σ_bins (n_b / n) · |mean_pred_b − mean_true_b|; key "mean" averages classes.
    """
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    rows, ece = [], {}
    for k, label in enumerate(CLASS_LABELS):
        idx = np.clip(np.digitize(p[:, k], edges[1:-1]), 0, n_bins - 1)
        err = 0.0
        for b in range(n_bins):
            mask = idx == b
            n_b = int(mask.sum())
            mp = float(p[mask, k].mean()) if n_b else np.nan
            mt = float(y[mask, k].mean()) if n_b else np.nan
            if n_b:
                err += n_b / len(p) * abs(mp - mt)
            rows.append(
                dict(
                    class_=label,
                    bin=b,
                    lo=edges[b],
                    hi=edges[b + 1],
                    n=n_b,
                    mean_pred=mp,
                    mean_true=mt,
                )
            )
        ece[label] = float(err)
    ece["mean"] = float(np.mean([ece[c] for c in CLASS_LABELS]))
    return pd.DataFrame(rows).rename(columns={"class_": "class"}), ece


def evaluate_oof(oof: pd.DataFrame, *, renormalize: bool = False) -> Evaluation:
    """Evaluate an OOF table (contract columns) against its votes.

    Parameters
    ----------
    oof : DataFrame
        OOF contract table; an optional bool column ``raw_votes`` marks rows whose votes are
        fractions only (their quality bin reads "unknown").
    renormalize : bool
        Divide clipped predictions by their row sum before KL (Kaggle does not; some OOF files do).
    """
    votes = oof[list(VOTE_COLUMNS)].to_numpy(np.float64)
    p = oof[list(PRED_COLUMNS)].to_numpy(np.float64)
    y = normalize_votes(votes)
    kl = kl_per_row(votes, p, renormalize=renormalize)
    raw = oof["raw_votes"].to_numpy(bool) if "raw_votes" in oof else np.ones(len(oof), bool)
    total = votes.sum(axis=1)
    quality = np.where(raw, quality_bins(total), UNKNOWN)
    high = raw & (total >= HIGH_QUALITY_VOTES)
    true_cls = np.argmax(votes, axis=1)  # ties → first class, as expert_consensus
    pred_cls = np.argmax(p, axis=1)
    confusion = np.zeros((N_CLASSES, N_CLASSES), dtype=np.int64)
    np.add.at(confusion, (true_cls, pred_cls), 1)
    calib, ece = calibration_table(y, p)
    by_fold = None
    folds = oof["fold"].to_numpy()
    if (folds >= 0).any():
        by_fold = _group_table(kl, folds.astype(object), sorted(set(folds.tolist())))
    return Evaluation(
        n_rows=len(oof),
        renormalize=renormalize,
        raw_votes=bool(raw.all()),
        kl=float(kl.mean()),
        kl_kaggle=float(kl_per_row(votes, p).mean()),
        kl_renormalized=float(kl_per_row(votes, p, renormalize=True).mean()),
        kl_high_quality=float(kl[high].mean()) if high.any() else None,
        n_high_quality=int(high.sum()),
        accuracy=float((true_cls == pred_cls).mean()),
        by_quality=_group_table(kl, quality, [b[0] for b in QUALITY_BINS] + [UNKNOWN]),
        by_agreement=_group_table(kl, agreement(y), list(AGREEMENT_ORDER)),
        by_class=_group_table(
            kl, np.asarray(CLASS_LABELS, dtype=object)[true_cls], list(CLASS_LABELS)
        ),
        confusion=confusion,
        calibration=calib,
        ece=ece,
        by_fold=by_fold,
    )
