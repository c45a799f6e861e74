"""iiic.train — k-fold, two-stage training with checkpoints and resume.

``train_kfold(cfg, data, out, folds=..., resume=...)`` is what ``iiic train`` runs;
``load_config(path)`` reads a YAML TrainConfig; ``checkpoint.load_fold_model(fold_dir)`` and
``checkpoint.load_run(run_dir)`` rebuild trained models from a run directory alone.
Heavy modules (torch) are imported on first use of these names.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TrainConfig", "load_config", "load_fold_model", "load_run", "train_kfold"]


def __getattr__(name: str) -> Any:
    if name in ("TrainConfig", "load_config"):
        from iiic.train import config

        return getattr(config, name)
    if name in ("load_fold_model", "load_run"):
        from iiic.train import checkpoint

        return getattr(checkpoint, name)
    if name == "train_kfold":
        from iiic.train.kfold import train_kfold

        return train_kfold
    raise AttributeError(f"module 'iiic.train' has no attribute {name!r}")
