"""Kaggle's KL divergence between expert vote distributions and predicted probabilities.

Per row, KL(y‖p) = Σ_k y_k · log(y_k / p_k) with y = votes / total votes and p clipped to
[1e-15, 1 − 1e-15]; classes with y_k = 0 contribute 0. The score is the mean over rows.
"""

from __future__ import annotations

import numpy as np

from iiic.data.labels import normalize_votes

EPS = 1e-15
"""Kaggle's clipping bound for predicted probabilities."""


def kl_per_row(y_true: np.ndarray, y_pred: np.ndarray, *, renormalize: bool = False) -> np.ndarray:
    """KL(y_true ‖ y_pred) per row, nats, shape (n,).

    Parameters
    ----------
    y_true : ndarray, shape (n, k)
        Vote counts or fractions; each row is normalised to sum to 1.
    y_pred : ndarray, shape (n, k)
        Predicted probabilities; clipped to [1e-15, 1 - 1e-15] as Kaggle does.
    renormalize : bool
        Divide the clipped predictions by their row sum (the convention of some OOF files).
    """
    y = normalize_votes(y_true)
    p = np.clip(np.asarray(y_pred, dtype=np.float64), EPS, 1 - EPS)
    if p.shape != y.shape:
        raise ValueError(f"y_pred has shape {p.shape}, y_true has shape {y.shape}")
    if renormalize:
        p = p / p.sum(axis=1, keepdims=True)
    safe_y = np.where(y > 0, y, 1.0)
    return np.sum(np.where(y > 0, y * np.log(safe_y / p), 0.0), axis=1)


def kl_divergence(y_true: np.ndarray, y_pred: np.ndarray, *, renormalize: bool = False) -> float:
    """Kaggle's score: the mean over rows of :func:`kl_per_row`, nats."""
    return float(kl_per_row(y_true, y_pred, renormalize=renormalize).mean())


def held_out_prior(votes: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """The class-prior baseline (n, k): each fold's rows get the mean vote distribution of the
    other folds' rows (of all rows when there is a single fold). A model that learned nothing
    scores this."""
    dist = normalize_votes(votes)
    folds = np.asarray(folds)
    prior = np.empty_like(dist)
    for fold in np.unique(folds):
        held = folds == fold
        prior[held] = dist[~held].mean(axis=0) if (~held).any() else dist.mean(axis=0)
    return prior
