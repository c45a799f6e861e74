"""iiic.train — k-fold, two-stage training with checkpoints and resume.

``train_kfold(cfg, data, out, folds=..., resume=...)`` is what ``iiic train`` runs;
``load_config(path)`` reads a YAML TrainConfig. The run directory it writes is
:mod:`iiic.runs.rundir`'s format (``load_fold_model(fold_dir)`` rebuilds a trained model from it
alone; inference imports that layer, never this package).
Heavy modules (torch) are imported on first use of these names.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TrainConfig", "load_config", "train_kfold"]


def __getattr__(name: str) -> Any:
    if name in ("TrainConfig", "load_config"):
        from iiic.train import config

        return getattr(config, name)
    if name == "train_kfold":
        from iiic.train.kfold import train_kfold

        return train_kfold
    raise AttributeError(f"module 'iiic.train' has no attribute {name!r}")
