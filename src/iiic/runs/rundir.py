"""The run directory: its file names, and how each file is written and read (the one owner).

::

    RUN_DIR/config.json                 resolved TrainConfig (model name + options, preprocess)
    RUN_DIR/class_prior.json            mean vote distribution of the training rows (fallback)
    RUN_DIR/oof.parquet                 all finished folds' OOF predictions (OOF contract)
    RUN_DIR/fold_k/model.safetensors    final weights (EMA when enabled) + the model's get_config()
    RUN_DIR/fold_k/model.onnx           written by ``iiic export RUN_DIR --onnx``
    RUN_DIR/fold_k/metrics.json         per-epoch history, best epoch, validation details
    RUN_DIR/fold_k/metrics.jsonl        one JSON line per epoch (epoch, stage, train_loss, ...)
    RUN_DIR/fold_k/oof.parquet          this fold's out-of-fold predictions
    RUN_DIR/fold_k/state/               resume state (:mod:`iiic.train.state`)
    RUN_DIR/fold_k/tensorboard/         TensorBoard scalars (:mod:`iiic.train.tblog`)

``iiic train`` writes it (:mod:`iiic.train.kfold`, :mod:`iiic.train.loop`); ``iiic predict``,
``score``, ``analyze`` and ``export`` read it through :mod:`iiic.predict.runs`, which needs no
training code: config.json reads as a :class:`RunConfig` (the model and its inputs; training
reads it as its subclass ``TrainConfig``). Models are rebuilt from the directory alone
(safetensors + JSON, never pickle).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from iiic import __version__
from iiic.constants import CLASS_LABELS, CLASSES, N_CLASSES, VOTE_COLUMNS
from iiic.runs.config import RunConfig
from iiic.signal.preprocess import PreprocessConfig
from iiic.utils import atomic_path, bad_value, write_json_atomic

if TYPE_CHECKING:  # torch is imported by the functions that need it (iiic evaluate does not)
    import torch
    from torch import nn

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
PRIOR_FILE = "class_prior.json"
OOF_FILE = "oof.parquet"
FOLD_PREFIX = "fold_"
MODEL_FILE = "model.safetensors"
ONNX_FILE = "model.onnx"
ONNX_CHECK_FILE = "model.onnx.json"
"""Beside model.onnx: the SHA-256 of its bytes and of the weights it was exported from."""
METRICS_FILE = "metrics.json"
METRICS_LOG = "metrics.jsonl"
STATE_DIR = "state"
Config = TypeVar("Config", bound=RunConfig)


class RunError(ValueError):
    """A run directory that cannot be used; the message starts with the path."""


def fold_dir(run_dir: str | Path, fold: int) -> Path:
    """``RUN_DIR/fold_{fold}``."""
    return Path(run_dir) / f"{FOLD_PREFIX}{fold}"


def fold_number(path: Path) -> int:
    """The fold number of a ``fold_k`` directory."""
    return int(path.name[len(FOLD_PREFIX) :])


def fold_dirs(run_dir: str | Path) -> list[Path]:
    """The finished fold directories of a run (those with a model), by fold number."""
    dirs = [d for d in Path(run_dir).glob(f"{FOLD_PREFIX}*") if (d / MODEL_FILE).is_file()]
    return sorted(dirs, key=fold_number)


def save_config(run_dir: str | Path, cfg: RunConfig) -> Path:
    """Write ``RUN_DIR/config.json`` (atomically)."""
    return write_json_atomic(Path(run_dir) / CONFIG_FILE, cfg.to_json_dict())


def read_config(run_dir: str | Path, schema: type[Config] = RunConfig) -> Config:
    """Read ``RUN_DIR/config.json`` as ``schema`` (training passes ``TrainConfig``, which checks
    every field; ``RunConfig`` ignores the training fields); RunError naming the file when
    missing or invalid."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise RunError(f"{path}: missing (not a training run directory?)")
    try:
        return schema.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except ValueError as exc:
        raise RunError(f"{path}: invalid {schema.__name__}: {exc}") from exc


def preprocessing_of(path: str | Path) -> str | None:
    """:meth:`PreprocessConfig.describe` of the run that ``path`` is (or holds, e.g. its
    oof.parquet); None when it is not in a run directory. Reads config.json's ``preprocess`` only."""
    path = Path(path)
    config = (path if path.is_dir() else path.parent) / CONFIG_FILE
    if not config.is_file():
        return None
    try:
        doc = json.loads(config.read_text(encoding="utf-8"))["preprocess"]
        return PreprocessConfig.model_validate(doc).describe()
    except (KeyError, TypeError, ValueError) as exc:
        raise RunError(f"{config}: invalid preprocess settings: {exc}") from exc


def fold_status(run_dir: str | Path) -> tuple[list[int], list[int]]:
    """``(expected, finished)``: the folds the run's config trains, the folds with a model."""
    return read_config(run_dir).fold_list(), [fold_number(d) for d in fold_dirs(run_dir)]


def write_class_prior(run_dir: str | Path, prior: np.ndarray, n_rows: int) -> Path:
    """Write ``RUN_DIR/class_prior.json``: the prior (6,) in ``constants.CLASSES`` order."""
    doc = {"classes": list(CLASSES), "prior": np.asarray(prior).tolist(), "n_rows": n_rows}
    return write_json_atomic(Path(run_dir) / PRIOR_FILE, doc)


def read_class_prior(run_dir: str | Path) -> np.ndarray:
    """Class prior (6,) from ``RUN_DIR/class_prior.json`` (uniform with a warning when absent).

    Accepted forms: a list of 6 numbers in ``constants.CLASSES`` order, a mapping from class
    names (``seizure`` / ``Seizure`` / ``seizure_vote``) to numbers, or either under a ``prior`` key
    (with an optional ``classes`` list, which must equal ``constants.CLASSES``) as
    :func:`write_class_prior` writes it.
    """
    path = Path(run_dir) / PRIOR_FILE
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
        raise RunError(bad_value(str(path), f"6 numbers for classes {list(CLASSES)}", repr(doc)))
    prior = np.asarray(values, dtype=np.float64)
    if (prior < 0).any() or prior.sum() <= 0:
        raise RunError(
            bad_value(f"{path}: prior", "non-negative numbers with a positive sum", values)
        )
    return prior / prior.sum()


def save_fold_model(fold_dir: Path, model: nn.Module, fold: int, extra: dict[str, Any]) -> Path:
    """Write ``fold_dir/model.safetensors`` with the model config, classes and version."""
    from iiic.runs.checked import write_checked

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
) -> tuple[nn.Module, RunConfig]:
    """Rebuild a fold's model (eval mode) and the run's RunConfig from the directory alone."""
    from iiic.models import get_model_class
    from iiic.runs.checked import read_checked

    fold_dir = Path(fold_dir)
    path = fold_dir / MODEL_FILE
    if not path.is_file():
        raise RunError(f"{path}: missing (fold not finished?)")
    cfg = read_config(fold_dir.parent)
    hint = (
        f"retrain this fold (delete {fold_dir}, then iiic train --resume --out {fold_dir.parent})"
    )
    try:
        tensors, meta = read_checked(path, hint)
        model_cfg = json.loads(meta["model_config"])
        model_cfg["options"] = _without_weight_files(model_cfg.get("options", {}))
        model = get_model_class(model_cfg["name"]).from_config(model_cfg)
        model.load_state_dict(tensors)
    except (KeyError, TypeError, json.JSONDecodeError, RuntimeError) as exc:
        raise RunError(f"{path}: not a model checkpoint of iiic ({type(exc).__name__}: "
                       f"{exc}); {hint}") from None  # fmt: skip
    except ValueError as exc:  # a corrupt or truncated file (read_checked), invalid options
        raise RunError(str(exc)) from exc
    return model.to(device).eval(), cfg


def weights_digest(fold_dir: str | Path) -> str | None:
    """The SHA-256 recorded in a fold's model.safetensors (None when absent or unreadable)."""
    from safetensors import SafetensorError, safe_open

    from iiic.runs.checked import DIGEST_KEY

    try:
        with safe_open(str(Path(fold_dir) / MODEL_FILE), framework="pt") as f:
            return (f.metadata() or {}).get(DIGEST_KEY)
    except (SafetensorError, OSError):
        return None


def write_parquet(df: pd.DataFrame, path: Path) -> Path:
    """Write a table atomically (the fold and run OOF tables)."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return path


def write_fold_results(fold_dir: Path, oof: pd.DataFrame, metrics: dict[str, Any]) -> None:
    """Write ``fold_k/oof.parquet`` and ``fold_k/metrics.json`` (the fold is then finished)."""
    write_parquet(oof, Path(fold_dir) / OOF_FILE)
    write_json_atomic(Path(fold_dir) / METRICS_FILE, metrics)


def fold_finished(fold_dir: Path) -> bool:
    """True once a fold's ``metrics.json`` is written (its model and OOF table came first)."""
    return (Path(fold_dir) / METRICS_FILE).is_file()


def collect_oof(run_dir: str | Path) -> pd.DataFrame | None:
    """Concatenate every finished fold's OOF table into ``RUN_DIR/oof.parquet``."""
    run_dir = Path(run_dir)
    parts = [pd.read_parquet(p) for p in sorted(run_dir.glob(f"{FOLD_PREFIX}*/{OOF_FILE}"))]
    if not parts:
        return None
    oof = pd.concat(parts, ignore_index=True).sort_values(["eeg_id", "eeg_sub_id"], kind="stable")
    write_parquet(oof, run_dir / OOF_FILE)
    return oof
