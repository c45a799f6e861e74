"""Trained run directories for inference: every fold's model, the preprocessing, the class prior.

The directory's format belongs to :mod:`iiic.runs.rundir` (file names, writing and reading); this
module gathers what inference needs from it. An unfinished run — a fold its config.json trains
has no model yet — is refused unless ``allow_partial`` (``--allow-partial``), which predicts from
the finished folds and logs which.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch import nn

from iiic.constants import N_CLASSES
from iiic.runs.rundir import (
    MODEL_FILE,
    RunError,
    fold_dirs,
    fold_status,
    load_fold_model,
    read_class_prior,
)
from iiic.signal.preprocess import PreprocessConfig

logger = logging.getLogger(__name__)


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


def _check_complete(run_dir: Path, allow_partial: bool) -> list[int]:
    """Folds of the run's config.json without a model; RunError unless ``allow_partial``."""
    expected, have = fold_status(run_dir)
    missing = [k for k in expected if k not in have]
    if missing and not allow_partial:
        raise RunError(f"{run_dir}: unfinished run: fold(s) {missing} of {expected} have no "
                       f"{MODEL_FILE}; finish it with `iiic train --resume --out {run_dir}`, "
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
    dirs = fold_dirs(run_dir)
    if not dirs:
        raise RunError(f"{run_dir}: no fold_<k>/{MODEL_FILE} (is this a run directory?)")
    missing = _check_complete(run_dir, allow_partial)
    loaded = [load_fold_model(d) for d in (dirs if with_torch else dirs[:1])]
    models, configs = [m for m, _ in loaded], [cfg.preprocess for _, cfg in loaded]
    if any(c != configs[0] for c in configs):
        raise RunError(f"{run_dir}: folds use different preprocessing configs")
    prior = read_class_prior(run_dir) if with_prior else np.full(N_CLASSES, 1.0 / N_CLASSES)
    run = Run(run_dir, dirs, configs[0], prior, models if with_torch else [], missing_folds=missing)
    run.needs_eeg = bool(getattr(models[0], "needs_eeg", True))
    run.needs_spec = bool(getattr(models[0], "needs_spec", False))
    logger.info("run %s: %d folds, model %s", run_dir, len(dirs), type(models[0]).__name__)
    return run
