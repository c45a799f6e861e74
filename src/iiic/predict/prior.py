"""Prior shift: re-weight class probabilities for the class prevalence a recording is expected to have.

The models learn the class prior of their training rows — the HMS windows (and the twin, which
copies their label statistics), selected for their patterns: 21 % of the real train.csv's votes
are Other (18 % of its windows have Other as consensus). A continuous monitoring recording is
mostly Other. Saerens, Latinne & Decaestecker
(2002, "Adjusting the outputs of a classifier to new a priori probabilities", Neural Computation
14:21-41) give the correction for a known change of prior, when p(x | class) stays the same::

    p'_k  ∝  p_k · π'_k / π_k

with π the training prior (``RUN_DIR/class_prior.json``; for several runs their weighted mean,
:attr:`Predictor.class_prior`) and π' the expected prior. Priors (``iiic analyze --prior``):

- ``training``: π' = π, no change: probabilities as trained (what ``iiic predict`` always uses).
- ``hms``: π' = :data:`iiic.constants.HMS_CLASS_PRIOR`, the real HMS train.csv's mean vote
  distribution: what a model trained on the twin's sampled label mix would say of HMS-source
  windows.
- ``monitoring``: Other 0.80 and the five patterns 0.20 in their HMS proportions. What is
  known of continuous ICU EEG: on routine EEG of 371 critically ill neurological patients 84 % had
  neither seizures nor rhythmic/periodic patterns (Clin Neurophysiol 2016;127:1176-1181);
  electrographic seizures were found in 19 % of 570 monitored patients (Claassen et al., Neurology
  2004;62:1743-1748); Rodriguez Ruiz et al. (JAMA Neurol 2017;74:181-188) relate the patterns to
  seizures in 4,772 monitored patients — and a patient who has a pattern has it for part of the
  recording only. No source gives the fraction of recording time per class (the real train.csv
  cannot: its windows were chosen for their patterns), so 0.80 is a conservative lower bound on
  the Other time: it lowers pattern probabilities less than the true prevalence would, and
  misses fewer events.
- a JSON file: ``{"seizure": .., "lpd": .., ...}`` or a list of six numbers in
  ``constants.CLASSES`` order (normalised; every value > 0).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from iiic.constants import ANALYZE_PRIOR, CLASSES, HMS_CLASS_PRIOR, N_CLASSES
from iiic.utils import bad_value

TRAINING, HMS, MONITORING = "training", "hms", "monitoring"
PRIOR_NAMES = (TRAINING, HMS, MONITORING)
MONITORING_OTHER = 0.80
"""P(Other) of the ``monitoring`` prior (see the module docstring for the sources)."""
DEFAULT_ANALYZE_PRIOR = ANALYZE_PRIOR
"""``iiic analyze`` scores continuous recordings, which are mostly Other: see the module docstring."""
SCORE_PRIOR = HMS
"""``iiic score`` (and the demo's and the benchmark's real-set checks) scores labelled windows of
the HMS source (the Kaggle data, the IIIC studies' segments): their prior is the HMS one. For a
model trained on the real HMS windows this is nearly its own prior (no change); for one trained
on the twin it corrects the twin's sampled label mix (issue 23: 0.01-0.03 nats better on the
50-s real segments for each of 3 recipe seeds, mixed on the 10-s ones)."""


def hms_prior() -> np.ndarray:
    """:data:`iiic.constants.HMS_CLASS_PRIOR` (6,), normalised."""
    prior = np.asarray(HMS_CLASS_PRIOR, dtype=np.float64)
    return prior / prior.sum()


def monitoring_prior() -> np.ndarray:
    """Other = :data:`MONITORING_OTHER`; the patterns share the rest in their HMS proportions."""
    other = CLASSES.index("other")
    patterns = hms_prior()
    patterns[other] = 0.0
    out = (1 - MONITORING_OTHER) * patterns / patterns.sum()
    out[other] = MONITORING_OTHER
    return out


def read_prior_file(path: str | Path) -> np.ndarray:
    """A prior (6,) from a JSON file (mapping class → value, or six numbers in CLASSES order);
    ValueError naming the file when it is unreadable, incomplete or not positive."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable prior JSON ({exc})") from exc
    if isinstance(doc, dict):
        lower = {str(k).lower().removesuffix("_vote"): v for k, v in doc.items()}
        missing = [c for c in CLASSES if c not in lower]
        if missing:
            raise ValueError(f"{path}: no value for classes {missing}; expected {list(CLASSES)}")
        doc = [lower[c] for c in CLASSES]
    try:
        prior = np.asarray(doc, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: a prior is {N_CLASSES} numbers ({exc})") from exc
    if prior.shape != (N_CLASSES,) or not np.isfinite(prior).all() or (prior <= 0).any():
        raise ValueError(
            bad_value(
                str(path), f"a prior of {N_CLASSES} positive numbers in {list(CLASSES)} order", doc
            )
        )
    return prior / prior.sum()


def resolve_prior(spec: str | Path) -> np.ndarray | None:
    """π' of ``--prior``: None for ``training`` (no shift), :func:`hms_prior`,
    :func:`monitoring_prior`, or a JSON file's."""
    if str(spec) == TRAINING:
        return None
    if str(spec) == HMS:
        return hms_prior()
    if str(spec) == MONITORING:
        return monitoring_prior()
    if not Path(spec).is_file():
        raise ValueError(
            bad_value(
                "--prior",
                f"one of {list(PRIOR_NAMES)} or a JSON file",
                f"{str(spec)!r} (no such file)",
            )
        )
    return read_prior_file(spec)


def shift_prior(probs: np.ndarray, train_prior: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Saerens et al. (2002): probabilities (n, 6) under ``train_prior`` → under ``target`` (6,)."""
    w = np.asarray(target, dtype=np.float64) / np.asarray(train_prior, dtype=np.float64)
    out = probs * w
    return out / out.sum(axis=1, keepdims=True)
