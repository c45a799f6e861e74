"""Label structure of the twin: patients, EEGs, sub-windows, true distributions, raters.

Two sources of structure:

- ``plan_standalone``: sampled from the real train.csv's statistics (``stats.load_label_stats``):
  EEGs per patient, stationary periods per EEG, rows per period, offset steps, the class mix,
  vote totals given the class, and the share of idealized / proto / edge periods per class and
  vote group.
- ``plan_from_labels``: taken from a real train.csv: the same ids, offsets, patients and vote
  totals; the signal distribution of each row is its vote fraction, lightly smoothed.

The signal distribution ``p_signal`` (what the synthetic EEG encodes) is turned into the TRUE
distribution by the rater pool: ``truth = mean over raters of softmax(log p_signal + bias_r)``,
and votes are drawn from a random subset of raters with the row's total, so the votes are a
draw whose expectation is the truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from iiic import constants
from iiic.synth.stats import total_group
from iiic.utils import bad_value

N_CLASSES = constants.N_CLASSES
OTHER = constants.CLASSES.index("other")
EEG_START_IN_SPEC_S = (constants.SPEC_WINDOW_S - constants.EEG_WINDOW_S) / 2
"""Spectrogram time of EEG time 0 when both windows start at offset 0 (275 s): the centres align."""
N_RATERS = 30
"""Size of the simulated expert pool (>= the largest real vote total, 28)."""
RATER_BIAS_SD = 0.3
"""Standard deviation of a rater's log-preference for each class."""
DRIVEN_SMOOTHING = 0.3
"""Pseudo-votes (spread uniformly) added to real votes to form p_signal in driven mode."""
SPEC_GAP_MEAN_S = 300.0
"""Mean gap between consecutive EEGs of one spectrogram (standalone mode), s."""


@dataclass
class EegPlan:
    """One EEG file: its rows (sub-windows) and where it sits in its spectrogram."""

    eeg_id: int
    patient_id: int
    spectrogram_id: int
    spec_start_s: float  # spectrogram time of this EEG's sample 0, s
    offsets_s: np.ndarray  # (n_rows,) eeg_label_offset_seconds
    p_signal: np.ndarray  # (n_rows, 6)
    totals: np.ndarray  # (n_rows,) vote totals
    label_ids: np.ndarray  # (n_rows,)

    @property
    def duration_s(self) -> float:
        """File length: the last window's end, s."""
        return float(self.offsets_s.max() + constants.EEG_WINDOW_S)


@dataclass
class PatientPlan:
    """All EEGs and spectrograms of one patient (the unit of parallel work)."""

    patient_id: int
    seed: int
    eegs: list[EegPlan] = field(default_factory=list)

    @property
    def eeg_hours(self) -> float:
        """Total EEG length, h."""
        return sum(e.duration_s for e in self.eegs) / 3600


def _draw(hist: dict[str, list[int]], rng: np.random.Generator, size: int | None = None) -> Any:
    p = np.asarray(hist["counts"], float)
    return rng.choice(np.asarray(hist["values"]), size=size, p=p / p.sum())


def period_distribution(cls: int, total: int, stats: dict, rng: np.random.Generator) -> np.ndarray:
    """Signal distribution (6,) of a stationary period with consensus ``cls`` and ``total`` votes.

    The mix of idealized / proto / edge periods is the real one of the period's vote group (few
    votes agree far more often than >= 10 votes).
    """
    group = "agreement_by_class" if total >= constants.HIGH_QUALITY_VOTES else (
        "agreement_by_class_few_votes")  # fmt: skip
    info = stats[group][constants.CLASSES[cls]]
    kinds = ["idealized", "proto", "edge"]
    w = np.array([info[k] for k in kinds])
    kind = kinds[rng.choice(3, p=w / w.sum())]
    p = np.zeros(N_CLASSES)
    if kind == "idealized":
        p[cls] = rng.uniform(0.8, 1.0)
        second = int(rng.integers(N_CLASSES))
    else:
        p[cls] = float(np.clip(rng.normal(info["mean_top_share_split"], 0.08), 0.45, 0.75))
        if kind == "proto":
            second = OTHER if cls != OTHER else int(rng.integers(OTHER))
        else:
            counts = np.asarray(info["second_class_counts"], float) + 1e-9
            second = int(rng.choice(N_CLASSES, p=counts / counts.sum()))
    p[second] += 1 - p.sum()
    return 0.97 * p + 0.03 * rng.dirichlet(np.ones(N_CLASSES))


def sample_period(stats: dict, rng: np.random.Generator) -> tuple[int, np.ndarray]:
    """Vote total and signal distribution (6,) of one stationary period.

    The consensus class comes from the real period class mix, the total from the real totals
    of that class, the distribution from the agreement of that class and vote group.
    """
    mix = np.asarray(list(stats["class_mix_periods"].values()), float)
    cls = int(rng.choice(N_CLASSES, p=mix / mix.sum()))
    total = int(_draw(stats["vote_totals_per_period_by_class"][constants.CLASSES[cls]], rng))
    return total, period_distribution(cls, total, stats, rng)


def _standalone_eeg(
    stats: dict, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets (n,) s, signal distributions (n, 6) and vote totals (n,) of one EEG."""
    offsets, dists, totals, pos = [], [], [], 0.0
    for i in range(int(_draw(stats["periods_per_eeg"], rng))):
        if i > 0:
            pos += float(_draw(stats["offset_step_between_periods_s"], rng))
        total, p = sample_period(stats, rng)
        n_rows = _draw(stats["rows_per_period_by_total"][total_group(total)], rng)
        for j in range(int(n_rows)):
            if j > 0:
                pos += float(_draw(stats["offset_step_s"], rng))
            offsets.append(pos)
            dists.append(p)
            totals.append(total)
    return np.asarray(offsets), np.asarray(dists), np.asarray(totals, np.int64)


def plan_standalone(
    n_patients: int,
    seed: int,
    stats: dict,
    *,
    max_eegs_per_patient: int | None = None,
    max_rows_per_eeg: int | None = None,
) -> list[PatientPlan]:
    """Sample the label structure of ``n_patients`` patients (deterministic for ``seed``).

    ``max_eegs_per_patient`` / ``max_rows_per_eeg`` cap the sampled counts (small fixtures).
    """
    if n_patients < 1:
        raise ValueError(bad_value("n_patients", ">= 1", n_patients))
    rng = np.random.default_rng([seed, 0])
    patient_ids = rng.choice(np.arange(1000, 65536), size=n_patients, replace=False)
    plans = []
    for pid in patient_ids:
        prng = np.random.default_rng([seed, 1, int(pid)])
        plan = PatientPlan(int(pid), int(prng.integers(2**31)))
        n_eegs = int(_draw(stats["eegs_per_patient"], prng))
        n_eegs = min(n_eegs, max_eegs_per_patient or n_eegs)
        spec_id, spec_left, spec_pos = 0, 0, 0.0
        for _ in range(n_eegs):
            if spec_left == 0:
                spec_id = int(prng.integers(1000, 2**31 - 1))
                spec_left = int(_draw(stats["eegs_per_spectrogram"], prng))
                spec_pos = EEG_START_IN_SPEC_S
            offsets, dists, totals = (a[:max_rows_per_eeg] for a in _standalone_eeg(stats, prng))
            eeg = EegPlan(int(prng.integers(10**6, 2**32 - 1)), int(pid), spec_id, spec_pos,
                          offsets, dists, totals, prng.integers(10**6, 2**32 - 1, len(offsets)))  # fmt: skip
            plan.eegs.append(eeg)
            spec_pos += eeg.duration_s + float(prng.exponential(SPEC_GAP_MEAN_S))
            spec_left -= 1
        plans.append(plan)
    return plans


def plan_from_labels(df: pd.DataFrame, seed: int) -> list[PatientPlan]:
    """Plans that reproduce a real train.csv's structure (``df`` already row-selected)."""
    votes = df[list(constants.VOTE_COLUMNS)].to_numpy(float)
    totals = votes.sum(axis=1)
    p = (votes + DRIVEN_SMOOTHING / N_CLASSES) / (totals[:, None] + DRIVEN_SMOOTHING)
    df = df.assign(_row=np.arange(len(df)))
    label = df["label_id"] if "label_id" in df else pd.Series(np.nan, index=df.index)
    plans = []
    for pid, pdf in df.groupby("patient_id", sort=True):
        plan = PatientPlan(
            int(pid), int(np.random.default_rng([seed, 1, int(pid)]).integers(2**31))
        )
        for eeg_id, edf in pdf.groupby("eeg_id", sort=True):
            edf = edf.sort_values("eeg_label_offset_seconds")
            rows = edf["_row"].to_numpy()
            shift = float((edf["spectrogram_label_offset_seconds"]
                           - edf["eeg_label_offset_seconds"]).iloc[0])  # fmt: skip
            lid = label.loc[edf.index].to_numpy(float)  # NaN where the real file has none
            plan.eegs.append(EegPlan(int(eeg_id), int(pid), int(edf["spectrogram_id"].iloc[0]),
                                     shift + EEG_START_IN_SPEC_S,
                                     edf["eeg_label_offset_seconds"].to_numpy(float),
                                     p[rows], totals[rows].astype(np.int64), lid))  # fmt: skip
        plans.append(plan)
    return plans


class RaterPool:
    """Simulated experts with individual class biases (log-preferences)."""

    def __init__(self, seed: int, n_raters: int = N_RATERS, bias_sd: float = RATER_BIAS_SD):
        rng = np.random.default_rng([seed, 2])
        self.bias = rng.normal(0.0, bias_sd, (n_raters, N_CLASSES))
        self.bias -= self.bias.mean(axis=0, keepdims=True)

    def _rater_probs(self, p: np.ndarray) -> np.ndarray:
        logit = np.log(np.clip(p, 1e-6, None))[..., None, :] + self.bias  # (..., R, 6)
        e = np.exp(logit - logit.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def truth(self, p_signal: np.ndarray) -> np.ndarray:
        """True vote distribution (n, 6): the pool's mean rater distribution for ``p_signal``."""
        return self._rater_probs(p_signal).mean(axis=-2)

    def votes(
        self, p_signal: np.ndarray, totals: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Integer votes (n, 6): each row's ``total`` raters (a random subset) draw one class each.

        Totals above the pool size reuse raters (the pool of N_RATERS covers the real 1..28).
        """
        probs = self._rater_probs(np.asarray(p_signal))  # (n, R, 6)
        n, n_r = probs.shape[:2]
        totals = np.asarray(totals, np.int64)
        rank = np.argsort(rng.random((n, n_r)), axis=1).argsort(axis=1)  # random rater order
        chosen = rank < np.minimum(totals, n_r)[:, None]  # (n, R)
        picks = (rng.random((n, n_r, 1)) > probs.cumsum(axis=2)).sum(axis=2)
        picks = np.minimum(picks, N_CLASSES - 1)
        onehot = np.eye(N_CLASSES, dtype=np.int64)[picks]  # (n, R, 6)
        out = (onehot * chosen[..., None]).sum(axis=1)
        for i in np.flatnonzero(totals > n_r):  # rare: more votes than raters
            who = rng.integers(0, n_r, totals[i] - n_r)
            cum = probs[i, who].cumsum(axis=1)
            more = np.minimum((rng.random((len(who), 1)) > cum).sum(axis=1), N_CLASSES - 1)
            out[i] += np.bincount(more, minlength=N_CLASSES)
        return out
