"""Blend OOF predictions of several models: non-negative weights + a per-class bias, by min KL.

The blend works in **log space**::

    z = Σ_m w_m · log p_m + b        (w_m ≥ 0, Σ_m w_m = 1;  b: one bias per class)
    p = softmax(z)

i.e. a weighted geometric mean of the models' probabilities with a learned shift of each class's
log-probability (a temperature-free recalibration of the class prior). Weights are parametrised
as ``w = softmax(α)`` so they stay non-negative and sum to 1; ``α`` and ``b`` are fitted with
L-BFGS (scipy) on the analytic gradient of the mean KL. The bias is centred (mean 0): the softmax
does not see a constant shift.

**Blend net** (``method="net"``, the 3rd-place HMS combiner): a bias-free linear layer with one
weight per model *and class* on the models' log-probabilities, plus the learned class bias::

    z_k = Σ_m W_mk · log p_mk + b_k        (W: (n_models, 6), free sign; b: (6,))

fitted by L-BFGS with a small L2 pull of W towards the equal weights 1 / n_models. It can
re-weight a model class by class (trust model A on Seizure, model B on GRDA). ``method="auto"``
scores both on the same patient-grouped held-out folds and keeps the better (``chosen``).

The gain is reported honestly by a cross-validation grouped by patient: the blend is fitted on
k − 1 patient folds and scored on the held-out one; the pooled held-out KL is ``blend_cv``.
The baseline is the plain (arithmetic) average of the models' probabilities.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import log_softmax, softmax
from sklearn.model_selection import GroupKFold

from iiic.constants import CLASS_LABELS, PRED_COLUMNS, VOTE_COLUMNS
from iiic.data.labels import normalize_votes
from iiic.evaluate.metric import EPS, kl_divergence, kl_per_row
from iiic.evaluate.oof import read_oof
from iiic.runs.rundir import OOF_FILE
from iiic.utils import bad_value, check_option, write_json_atomic

logger = logging.getLogger(__name__)

BLEND_SPACE = "log"
"""Where models are combined: weighted mean of log-probabilities (see the module docstring)."""
DEFAULT_CV_FOLDS = 5
"""Patient-grouped folds of the blend's own cross-validation."""
NET_L2 = 1e-3
"""L2 strength pulling the blend net's per-class weights towards 1 / n_models."""
METHODS = ("weights", "net", "auto")
MAX_ITER = 500
"""L-BFGS iterations of one blend fit."""
KEYS = ["eeg_id", "eeg_sub_id"]


def blend_probabilities(
    probs: np.ndarray, weights: np.ndarray, bias: np.ndarray | None = None
) -> np.ndarray:
    """Combine model probabilities in log space.

    Parameters
    ----------
    probs : ndarray, shape (n_models, n, 6)
        Each model's probabilities.
    weights : ndarray, shape (n_models,) or (n_models, 6)
        Non-negative weights (normalised to sum 1 here), or the blend net's per-class weights
        (used as they are).
    bias : ndarray, shape (6,), optional
        Additive bias on the log-probabilities per class.

    Returns
    -------
    ndarray, shape (n, 6)
        Blended probabilities (rows sum to 1).
    """
    weights = np.asarray(weights, dtype=np.float64)
    logp = np.log(np.clip(np.asarray(probs, dtype=np.float64), EPS, 1.0))
    if weights.ndim == 2:  # the blend net: one free weight per model and class
        if weights.shape != (len(probs), logp.shape[2]) or not np.isfinite(weights).all():
            raise ValueError(
                bad_value(
                    "weights",
                    f"a finite ({len(probs)}, {logp.shape[2]}) table of per-class weights",
                    f"shape {weights.shape}",
                )
            )
        z = np.einsum("mk,mnk->nk", weights, logp)
        return softmax(z if bias is None else z + np.asarray(bias, dtype=np.float64), axis=1)
    if weights.ndim != 1 or len(weights) != len(probs) or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(
            bad_value("weights", f"{len(probs)} non-negative numbers with a positive sum", weights)
        )
    z = np.tensordot(weights / weights.sum(), logp, axes=1)  # (n, 6)
    if bias is not None:
        z = z + np.asarray(bias, dtype=np.float64)
    return softmax(z, axis=1)


def _minimize(loss, theta0: np.ndarray, probs: np.ndarray, votes: np.ndarray, fit_bias: bool,
              what: str) -> np.ndarray:  # fmt: skip
    """θ minimising ``loss(θ, log p, y, fit_bias)`` (value and gradient) with L-BFGS-B; a fit
    that does not converge is logged, not fatal."""
    logp = np.log(np.clip(probs, EPS, 1.0))
    res = minimize(loss, theta0, args=(logp, normalize_votes(votes), fit_bias), jac=True,
                   method="L-BFGS-B", options={"maxiter": MAX_ITER})  # fmt: skip
    if not res.success:
        logger.warning("%s did not converge: %s", what, res.message)
    return res.x


def _loss_and_grad(theta: np.ndarray, logp: np.ndarray, y: np.ndarray, fit_bias: bool):
    """Mean KL (up to the constant Σ y log y) and its gradient w.r.t. θ = (α, b)."""
    n_models = logp.shape[0]
    alpha, bias = theta[:n_models], theta[n_models:]
    w = softmax(alpha)
    z = np.tensordot(w, logp, axes=1) + (bias if fit_bias else 0.0)  # (n, 6)
    logq = log_softmax(z, axis=1)
    n = len(y)
    loss = -np.sum(y * logq) / n
    dz = (np.exp(logq) - y) / n  # (n, 6)
    g_w = np.einsum("nk,mnk->m", dz, logp)
    g_alpha = w * (g_w - np.dot(w, g_w))
    g_bias = dz.sum(axis=0) if fit_bias else np.zeros(0)
    return loss, np.concatenate([g_alpha, g_bias])


def fit_blend(
    probs: np.ndarray, votes: np.ndarray, *, fit_bias: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Weights and class bias that minimise the mean KL of the log-space blend.

    Parameters
    ----------
    probs : ndarray, shape (n_models, n, 6)
    votes : ndarray, shape (n, 6)
        Vote counts or fractions.
    fit_bias : bool
        Learn the per-class bias (else it stays 0).

    Returns
    -------
    weights : ndarray, shape (n_models,)  (≥ 0, sum 1)
    bias : ndarray, shape (6,)  (mean 0)
    """
    probs = np.asarray(probs, dtype=np.float64)
    n_models, n_classes = probs.shape[0], probs.shape[2]
    theta0 = np.zeros(n_models + (n_classes if fit_bias else 0))
    theta = _minimize(_loss_and_grad, theta0, probs, votes, fit_bias, "blend fit")
    weights = softmax(theta[:n_models])
    bias = theta[n_models:] if fit_bias else np.zeros(n_classes)
    return weights, bias - bias.mean()


def _net_loss_and_grad(theta: np.ndarray, logp: np.ndarray, y: np.ndarray, fit_bias: bool):
    """Blend-net mean KL (up to a constant) + L2 and its gradient w.r.t. θ = (W.ravel(), b)."""
    n_models, n, k = logp.shape
    w = theta[: n_models * k].reshape(n_models, k)
    z = np.einsum("mk,mnk->nk", w, logp) + (theta[n_models * k :] if fit_bias else 0.0)
    logq = log_softmax(z, axis=1)
    pull = w - 1.0 / n_models
    loss = -np.sum(y * logq) / n + NET_L2 * np.sum(pull**2)
    dz = (np.exp(logq) - y) / n  # (n, 6)
    g_w = np.einsum("nk,mnk->mk", dz, logp) + 2 * NET_L2 * pull
    g_bias = dz.sum(axis=0) if fit_bias else np.zeros(0)
    return loss, np.concatenate([g_w.ravel(), g_bias])


def fit_blend_net(
    probs: np.ndarray, votes: np.ndarray, *, fit_bias: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Per-class weights (n_models, 6) and class bias (6,) of the blend net, by min mean KL.

    Parameters and returns as :func:`fit_blend`, except that the weights are a free-sign table
    (started at, and pulled by ``NET_L2`` towards, 1 / n_models).
    """
    probs = np.asarray(probs, dtype=np.float64)
    n_models, _, k = probs.shape
    theta0 = np.concatenate([np.full(n_models * k, 1.0 / n_models), np.zeros(k if fit_bias else 0)])
    theta = _minimize(_net_loss_and_grad, theta0, probs, votes, fit_bias, "blend net fit")
    bias = theta[n_models * k :] if fit_bias else np.zeros(k)
    return theta[: n_models * k].reshape(n_models, k), bias - bias.mean()


def _fit(method: str, probs: np.ndarray, votes: np.ndarray, fit_bias: bool):
    fit = fit_blend_net if method == "net" else fit_blend
    return fit(probs, votes, fit_bias=fit_bias)


@dataclass
class BlendResult:
    """A fitted blend and its scores (KL in nats, on the rows all tables share)."""

    runs: list[str]
    weights: np.ndarray
    bias: np.ndarray
    n_rows: int
    model_kl: dict[str, float]
    mean_kl: float
    blend_kl_in_sample: float
    blend_kl_cv: float
    cv_fold_kl: list[float] = field(default_factory=list)
    cv_folds: int = DEFAULT_CV_FOLDS
    cv_group: str = "patient_id"
    sources: list[str] = field(default_factory=list)
    method: str = "weights"
    """The combiner kept: "weights" (one weight per model) or "net" (per-class weights)."""
    cv_by_method: dict[str, float] = field(default_factory=dict)
    """Held-out (patient-grouped CV) KL of every combiner tried, on the same folds."""
    cv_probs: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    """Held-out blended probabilities (n_rows, 6) of every combiner tried (not in blend.json)."""
    rows: pd.DataFrame | None = field(default=None, repr=False)
    """The shared rows scored (keys, patient_id, votes), in the order of ``cv_probs``."""

    def to_json(self) -> dict:
        """The blend.json document (weights and bias keyed by run / class)."""
        if self.weights.ndim == 2:
            formula = "p_k = softmax_k(sum_m W_mk * log(clip(p_mk, 1e-15, 1)) + bias_k)"
            weights = {r: {c: float(v) for c, v in zip(CLASS_LABELS, w, strict=True)}
                       for r, w in zip(self.runs, self.weights, strict=True)}  # fmt: skip
        else:
            formula = "p = softmax(sum_m w_m * log(clip(p_m, 1e-15, 1)) + bias)"
            weights = {r: float(w) for r, w in zip(self.runs, self.weights, strict=True)}
        return {
            "space": BLEND_SPACE,
            "method": self.method,
            "formula": formula,
            "runs": self.runs,
            "sources": self.sources,
            "weights": weights,
            "bias": {c: float(b) for c, b in zip(CLASS_LABELS, self.bias, strict=True)},
            "n_rows": self.n_rows,
            "scores": {
                "models": self.model_kl,
                "plain_average": self.mean_kl,
                "blend_in_sample": self.blend_kl_in_sample,
                "blend_cv": self.blend_kl_cv,
                "blend_cv_folds": self.cv_fold_kl,
                "cv_by_method": self.cv_by_method,
            },
            "cv": {"n_splits": self.cv_folds, "grouped_by": self.cv_group},
        }


def align_oof(tables: list[pd.DataFrame]) -> tuple[pd.DataFrame, np.ndarray]:
    """Inner-join OOF tables on (eeg_id, eeg_sub_id).

    Returns the first table's rows that every table holds (keys, patient_id, votes) and the
    stacked predictions, shape (n_models, n_shared, 6). Raises ValueError when nothing is shared
    or the tables' votes disagree.
    """
    base = tables[0][[*KEYS, "patient_id", *VOTE_COLUMNS]]
    merged = base
    for m, t in enumerate(tables):
        part = t[[*KEYS, *VOTE_COLUMNS, *PRED_COLUMNS]].rename(
            columns={c: f"{c}#{m}" for c in (*VOTE_COLUMNS, *PRED_COLUMNS)}
        )
        merged = merged.merge(part, on=KEYS, how="inner", validate="one_to_one")
    if merged.empty:
        raise ValueError("the OOF tables share no (eeg_id, eeg_sub_id) row")
    for m, t in enumerate(tables):
        if len(t) != len(merged):
            logger.warning("OOF table %d: %d of %d rows are not shared by all tables; left out",
                           m, len(t) - len(merged), len(t))  # fmt: skip
        y_m = normalize_votes(merged[[f"{c}#{m}" for c in VOTE_COLUMNS]].to_numpy())
        if not np.allclose(y_m, normalize_votes(merged[list(VOTE_COLUMNS)].to_numpy()), atol=1e-6):
            raise ValueError(f"OOF table {m}: its votes disagree with table 0 on shared rows")
    probs = np.stack(
        [
            merged[[f"{c}#{m}" for c in PRED_COLUMNS]].to_numpy(np.float64)
            for m in range(len(tables))
        ]
    )
    return merged[[*KEYS, "patient_id", *VOTE_COLUMNS]].reset_index(drop=True), probs


def _groups(rows: pd.DataFrame) -> tuple[np.ndarray, str]:
    """Patient ids for the CV (eeg_id where the patient is unknown)."""
    if rows["patient_id"].notna().all():
        return rows["patient_id"].to_numpy(), "patient_id"
    logger.warning("patient_id unknown for some rows: the blend CV groups by eeg_id instead")
    return rows["eeg_id"].to_numpy(), "eeg_id"


def blend_oof(
    tables: list[pd.DataFrame],
    runs: list[str],
    *,
    n_splits: int = DEFAULT_CV_FOLDS,
    fit_bias: bool = True,
    method: str = "weights",
) -> BlendResult:
    """Fit a blend on OOF tables and measure it with a patient-grouped cross-validation.

    Parameters
    ----------
    tables : list of DataFrame
        OOF contract tables (one per model / run).
    runs : list of str
        A name per table (stored in blend.json; ``iiic predict --blend`` matches run directory
        names against them).
    n_splits : int
        Folds of the blend's own CV (grouped by patient).
    fit_bias : bool
        Also fit a per-class bias (added to the blended log-probabilities).
    method : {"weights", "net", "auto"}
        The combiner: one weight per model, the blend net (per-class weights), or both scored on
        the same held-out folds and the better kept (``result.method`` says which).
    """
    check_option("method", method, METHODS)
    if len(tables) != len(runs) or len(set(runs)) != len(runs):
        raise ValueError(bad_value("runs", f"{len(tables)} unique names", runs))
    rows, probs = align_oof(tables)
    votes = rows[list(VOTE_COLUMNS)].to_numpy(np.float64)
    groups, group_name = _groups(rows)
    n_groups = len(np.unique(groups))
    if n_groups < n_splits:
        raise ValueError(bad_value(f"n_splits={n_splits}", "at least that many groups", n_groups))
    splits = list(GroupKFold(n_splits=n_splits).split(votes, groups=groups))
    tried = ("weights", "net") if method == "auto" else (method,)
    held: dict[str, np.ndarray] = {}
    cv_probs: dict[str, np.ndarray] = {}
    for m in tried:
        cv_probs[m] = np.zeros((len(rows), probs.shape[2]))
        for train_idx, test_idx in splits:
            w, b = _fit(m, probs[:, train_idx], votes[train_idx], fit_bias)
            cv_probs[m][test_idx] = blend_probabilities(probs[:, test_idx], w, b)
        held[m] = kl_per_row(votes, cv_probs[m])
    chosen = min(tried, key=lambda m: held[m].mean())
    held_out = held[chosen]
    fold_kl = [float(held_out[test_idx].mean()) for _, test_idx in splits]
    weights, bias = _fit(chosen, probs, votes, fit_bias)
    return BlendResult(
        runs=list(runs),
        weights=weights,
        bias=bias,
        n_rows=len(rows),
        model_kl={r: kl_divergence(votes, p) for r, p in zip(runs, probs, strict=True)},
        mean_kl=kl_divergence(votes, probs.mean(axis=0)),
        blend_kl_in_sample=kl_divergence(votes, blend_probabilities(probs, weights, bias)),
        blend_kl_cv=float(held_out.mean()),
        cv_fold_kl=fold_kl,
        cv_folds=n_splits,
        cv_group=group_name,
        method=chosen,
        cv_by_method={m: float(h.mean()) for m, h in held.items()},
        cv_probs=cv_probs,
        rows=rows,
    )


def oof_run_names(paths: list[Path]) -> list[str]:
    """The run name of each OOF table, as ``blend.json`` keys its weights: ``RUN_DIR/oof.*`` →
    RUN_DIR's name (which ``iiic predict --blend`` matches); other files → their stem before the
    first dot; a name given twice gets the table's position (``name_0``, ``name_2``)."""
    names = [p.parent.name if p.name.startswith("oof.") else p.name.split(".")[0] for p in paths]
    return [n if names.count(n) == 1 else f"{n}_{i}" for i, n in enumerate(names)]


def blend_runs(run_dirs: list[Path], out: Path, *, n_splits: int = DEFAULT_CV_FOLDS) -> BlendResult:
    """:func:`blend_oof` on the runs' ``oof.parquet`` tables (named by run directory, as
    ``iiic predict --blend`` matches them), written atomically to ``out`` (blend.json)."""
    sources = [Path(r) / OOF_FILE for r in run_dirs]
    result = blend_oof([read_oof(p) for p in sources], [Path(r).name for r in run_dirs],
                       n_splits=n_splits)  # fmt: skip
    result.sources = [str(p) for p in sources]
    write_json_atomic(out, result.to_json())
    return result


def _number(path, field: str, value) -> float:
    """A finite number of blend.json (NaN, inf, text and booleans refused naming the field)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise ValueError(bad_value(f"{path}: '{field}'", "a finite number", repr(value)))
    return float(value)


def _read_weight(path, run: str, value) -> float | np.ndarray:
    """A blend.json weight: a non-negative number, or the net's {class: weight} (6,) table."""
    if isinstance(value, dict):
        if set(value) != set(CLASS_LABELS):
            raise ValueError(
                f"{path}: 'weights.{run}' must map each of {list(CLASS_LABELS)} to a number"
            )
        return np.array([_number(path, f"weights.{run}.{c}", value[c]) for c in CLASS_LABELS])
    if _number(path, f"weights.{run}", value) < 0:
        raise ValueError(f"{path}: 'weights' must map run names to non-negative numbers")
    return float(value)


def load_blend(path) -> tuple[dict[str, float | np.ndarray], np.ndarray]:
    """Read a blend.json → ({run name: weight or (6,) per-class weights}, bias (6,)).

    Errors name the file and the field.
    """
    import json

    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable blend JSON ({exc})") from exc
    if doc.get("space") != BLEND_SPACE:
        raise ValueError(bad_value(f"{path}: 'space'", repr(BLEND_SPACE), repr(doc.get("space"))))
    weights = doc.get("weights")
    bias = doc.get("bias")
    if not isinstance(weights, dict) or not weights:
        raise ValueError(f"{path}: 'weights' must map run names to non-negative numbers")
    if not isinstance(bias, dict) or set(bias) != set(CLASS_LABELS):
        raise ValueError(f"{path}: 'bias' must map each of {list(CLASS_LABELS)} to a number")
    parsed = {k: _read_weight(path, k, v) for k, v in weights.items()}
    if len({np.ndim(v) for v in parsed.values()}) > 1:
        raise ValueError(f"{path}: 'weights' mixes numbers and per-class tables")
    return parsed, np.array([_number(path, f"bias.{c}", bias[c]) for c in CLASS_LABELS])
