"""Load trained run directories for inference: fold models, preprocessing config, class prior.

A run directory (docs/architecture.md)::

    RUN_DIR/config.json                   resolved TrainConfig (model name + options, preprocess)
    RUN_DIR/fold_{k}/model.safetensors    weights of fold k
    RUN_DIR/fold_{k}/model.onnx           written by ``iiic export RUN_DIR --onnx``
    RUN_DIR/class_prior.json              training class prior (the fallback prediction)

Models are rebuilt with :func:`iiic.train.checkpoint.load_fold_model` (safetensors + JSON, never
pickle). An unfinished run — a fold its config.json trains has no model yet — is refused unless
``allow_partial`` (``--allow-partial``), which predicts from the finished folds and logs which.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch import nn

from iiic.constants import CLASS_LABELS, CLASSES, N_CLASSES, VOTE_COLUMNS
from iiic.signal.preprocess import PreprocessConfig

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
ONNX_FILE = "model.onnx"
PRIOR_FILE = "class_prior.json"


class RunError(ValueError):
    """A run directory that cannot be used; the message starts with the path."""


@dataclass
class Run:
    """One trained run: its fold models (torch, loaded lazily for ONNX) and settings."""

    path: Path
    fold_dirs: list[Path]
    preprocess: PreprocessConfig
    prior: np.ndarray
    models: list[nn.Module] = field(default_factory=list)
    needs_eeg: bool = True
    needs_spec: bool = False
    missing_folds: list[int] = field(default_factory=list)
    """Folds of the run's config without a model (only with ``allow_partial``)."""

    @property
    def name(self) -> str:
        """The run's name: its directory name (what blend.json keys weights by)."""
        return self.path.name


def read_class_prior(run_dir: Path) -> np.ndarray:
    """Class prior (6,) from ``RUN_DIR/class_prior.json`` (uniform with a warning when absent).

    Accepted forms: a list of 6 numbers in ``constants.CLASSES`` order, a mapping from class
    names (``seizure`` / ``Seizure`` / ``seizure_vote``) to numbers, or either under a ``prior`` key
    (with an optional ``classes`` list, which must equal ``constants.CLASSES``) as
    ``iiic train`` writes it.
    """
    path = run_dir / PRIOR_FILE
    if not path.is_file():
        logger.warning("%s: missing; the fallback prediction is uniform", path)
        return np.full(N_CLASSES, 1.0 / N_CLASSES)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RunError(f"{path}: not readable JSON ({exc})") from exc
    if isinstance(doc, dict) and "classes" in doc and list(doc["classes"]) != list(CLASSES):
        raise RunError(f"{path}: classes {doc['classes']} differ from {list(CLASSES)}")
    doc = doc.get("prior", doc) if isinstance(doc, dict) else doc
    if isinstance(doc, dict):
        names = [(c, lbl, v) for c, lbl, v in zip(CLASSES, CLASS_LABELS, VOTE_COLUMNS, strict=True)]
        values = [next((doc[k] for k in keys if k in doc), None) for keys in names]
    else:
        values = list(doc) if isinstance(doc, list) else [None]
    if len(values) != N_CLASSES or any(not isinstance(v, int | float) for v in values):
        raise RunError(f"{path}: expected 6 numbers for classes {list(CLASSES)}, got {doc!r}")
    prior = np.asarray(values, dtype=np.float64)
    if (prior < 0).any() or prior.sum() <= 0:
        raise RunError(f"{path}: prior must be non-negative with a positive sum, got {values}")
    return prior / prior.sum()


def load_fold_model(fold_dir: Path) -> tuple[nn.Module, PreprocessConfig]:
    """(model in eval mode, its PreprocessConfig) of one fold directory."""
    from iiic.train.checkpoint import load_fold_model as train_load

    try:
        model, cfg = train_load(fold_dir)
    except ValueError as exc:
        raise RunError(str(exc)) from exc
    return model.eval(), cfg.preprocess


def _missing_folds(run_dir: Path, dirs: list[Path], allow_partial: bool) -> list[int]:
    """Folds of the run's config.json without a model; RunError unless ``allow_partial``."""
    from iiic.train.checkpoint import FOLD_PREFIX, read_config

    try:
        expected = read_config(run_dir).fold_list()
    except ValueError as exc:
        raise RunError(str(exc)) from None
    have = sorted(int(d.name[len(FOLD_PREFIX) :]) for d in dirs)
    missing = [k for k in expected if k not in have]
    if missing and not allow_partial:
        raise RunError(f"{run_dir}: unfinished run: fold(s) {missing} of {expected} have no "
                       f"{WEIGHTS_FILE}; finish it with `iiic train --resume --out {run_dir}`, "
                       f"or pass --allow-partial to predict from fold(s) {have} only")  # fmt: skip
    if missing:
        logger.warning("%s: unfinished run: predicting from fold(s) %s; fold(s) %s have no model",
                       run_dir, have, missing)  # fmt: skip
    return missing


def load_run(run_dir: str | Path, *, with_torch: bool = True, with_prior: bool = True,
             allow_partial: bool = False) -> Run:  # fmt: skip
    """Load a run directory (all folds).

    ``with_torch=False`` keeps only the first fold's torch model (for its settings; the ONNX path);
    ``with_prior=False`` skips class_prior.json (uniform placeholder; export needs no prior);
    ``allow_partial`` accepts a run whose config trains folds that have no model yet.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: not a directory")
    from iiic.train.checkpoint import fold_dirs

    dirs = fold_dirs(run_dir)
    if not dirs:
        raise RunError(f"{run_dir}: no fold_<k>/{WEIGHTS_FILE} (is this a run directory?)")
    missing = _missing_folds(run_dir, dirs, allow_partial)
    models, configs = [], []
    for d in dirs if with_torch else dirs[:1]:
        model, pp = load_fold_model(d)
        models.append(model)
        configs.append(pp)
    if any(c != configs[0] for c in configs):
        raise RunError(f"{run_dir}: folds use different preprocessing configs")
    prior = read_class_prior(run_dir) if with_prior else np.full(N_CLASSES, 1.0 / N_CLASSES)
    run = Run(run_dir, dirs, configs[0], prior, models if with_torch else [], missing_folds=missing)
    run.needs_eeg = bool(getattr(models[0], "needs_eeg", True))
    run.needs_spec = bool(getattr(models[0], "needs_spec", False))
    logger.info("run %s: %d folds, model %s", run_dir, len(dirs), type(models[0]).__name__)
    return run
