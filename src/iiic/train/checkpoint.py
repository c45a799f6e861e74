"""Self-describing model checkpoints: rebuild a fold's model from its run directory alone.

``fold_k/model.safetensors`` holds the final weights (EMA when enabled) with the model's
``get_config()`` in its metadata; ``RUN_DIR/config.json`` holds the resolved TrainConfig.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from iiic import __version__
from iiic.constants import CLASSES
from iiic.models import create_model, get_model_class
from iiic.train.config import TrainConfig
from iiic.train.state import read_checked, write_checked
from iiic.utils import write_json_atomic

logger = logging.getLogger(__name__)

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
FOLD_PREFIX = "fold_"


def build_model(cfg: TrainConfig) -> nn.Module:
    """The model of ``cfg`` with fresh weights, sized by its PreprocessConfig."""
    pp = cfg.preprocess
    return create_model(
        cfg.model, n_chans=pp.n_chans, n_times=pp.n_times(), sfreq_hz=pp.sfreq_out_hz,
        **cfg.model_options,
    )  # fmt: skip


def save_config(run_dir: Path, cfg: TrainConfig) -> Path:
    """Write ``RUN_DIR/config.json`` (atomically)."""
    return write_json_atomic(Path(run_dir) / CONFIG_FILE, cfg.to_json_dict())


def read_config(run_dir: Path) -> TrainConfig:
    """Read ``RUN_DIR/config.json``; ValueError naming the file when missing or invalid."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise ValueError(f"{path}: missing (not a training run directory?)")
    try:
        return TrainConfig.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except ValueError as exc:
        raise ValueError(f"{path}: invalid TrainConfig: {exc}") from exc


def save_fold_model(fold_dir: Path, model: nn.Module, fold: int, extra: dict[str, Any]) -> Path:
    """Write ``fold_dir/model.safetensors`` with the model config, classes and version."""
    meta = {
        "model_config": json.dumps(model.get_config()),
        "classes": json.dumps(list(CLASSES)),
        "iiic_version": __version__,
        "fold": str(fold),
        **{k: json.dumps(v) for k, v in extra.items()},
    }
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return write_checked(Path(fold_dir) / MODEL_FILE, tensors, meta)


def _without_weight_files(options: Any) -> Any:
    """Options with every ``weights`` entry set to None (the checkpoint replaces them)."""
    if isinstance(options, dict):
        return {k: None if k == "weights" else _without_weight_files(v) for k, v in options.items()}
    return options


def load_fold_model(
    fold_dir: str | Path, device: str | torch.device = "cpu"
) -> tuple[nn.Module, TrainConfig]:
    """Rebuild a fold's model (eval mode) and the run's TrainConfig from the directory alone."""
    fold_dir = Path(fold_dir)
    path = fold_dir / MODEL_FILE
    if not path.is_file():
        raise ValueError(f"{path}: missing (fold not finished?)")
    cfg = read_config(fold_dir.parent)
    hint = (
        f"retrain this fold (delete {fold_dir}, then iiic train --resume --out {fold_dir.parent})"
    )
    tensors, meta = read_checked(path, hint)
    try:
        model_cfg = json.loads(meta["model_config"])
        model_cfg["options"] = _without_weight_files(model_cfg.get("options", {}))
        model = get_model_class(model_cfg["name"]).from_config(model_cfg)
        model.load_state_dict(tensors)
    except (KeyError, TypeError, json.JSONDecodeError, RuntimeError) as exc:
        raise ValueError(f"{path}: not a model checkpoint of iiic ({type(exc).__name__}: "
                         f"{exc}); {hint}") from None  # fmt: skip
    return model.to(device).eval(), cfg


def fold_dirs(run_dir: str | Path) -> list[Path]:
    """The finished fold directories of a run, by fold number."""
    dirs = [d for d in Path(run_dir).glob(f"{FOLD_PREFIX}*") if (d / MODEL_FILE).is_file()]
    return sorted(dirs, key=lambda d: int(d.name[len(FOLD_PREFIX) :]))


def load_run(
    run_dir: str | Path, device: str | torch.device = "cpu"
) -> list[tuple[nn.Module, TrainConfig]]:
    """``[(model, cfg)]`` of every finished fold of ``run_dir``."""
    dirs = fold_dirs(run_dir)
    if not dirs:
        raise ValueError(f"{run_dir}: no fold_*/{MODEL_FILE} found")
    return [load_fold_model(d, device) for d in dirs]
