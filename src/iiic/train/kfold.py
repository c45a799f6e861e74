"""The k-fold driver behind ``iiic train``: data → folds → one FoldTrainer per fold → run dir.

Writes (rank 0 only, every file atomically) the run directory of :mod:`iiic.runs.rundir`.

``--data`` may be a cache directory (``iiic prepare``) or a Kaggle layout directory (it has
train.csv); a layout is cached first into ``DATA/.iiic_cache`` (reused when present).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from iiic.constants import PRED_COLUMNS, VOTE_COLUMNS
from iiic.data.folds import resolve_n_folds
from iiic.evaluate.metric import kl_divergence
from iiic.runs import rundir
from iiic.train.config import TrainConfig
from iiic.train.loop import FoldTrainer
from iiic.train.rows import class_prior, prepare_rows, validation_rows
from iiic.train.runtime import Runtime, resolve_amp, setup_runtime
from iiic.train.state import STATE_FILE

logger = logging.getLogger(__name__)

CACHE_SUBDIR = ".iiic_cache"
OOF_KEYS = ("eeg_id", "eeg_sub_id", "patient_id", "fold")


def open_data(data: str | Path, workers: int = 1) -> tuple[Any, Path]:
    """``(cache, cache_dir)`` for a cache directory or a Kaggle layout directory (cached first)."""
    from iiic.data.cache import Cache, build_cache

    data = Path(data)
    if not data.is_dir():
        raise ValueError(f"{data}: --data must be a Kaggle layout directory or an iiic cache")
    if (data / "train.csv").is_file():
        cache_dir = data / CACHE_SUBDIR
        try:
            return Cache.open(cache_dir), cache_dir
        except (OSError, ValueError):
            logger.info("building the cache of %s into %s", data, cache_dir)
            build_cache(data, cache_dir, workers=workers)
    else:
        cache_dir = data
    return Cache.open(cache_dir), cache_dir


def _oof_table(rows: pd.DataFrame, probs: np.ndarray) -> pd.DataFrame:
    out = rows[list(OOF_KEYS)].reset_index(drop=True).copy()
    for col in VOTE_COLUMNS:
        out[col] = rows[col].to_numpy().astype(np.int64)
    for i, col in enumerate(PRED_COLUMNS):
        out[col] = probs[:, i]
    return out


def _finish_fold(trainer: FoldTrainer, fold_rows: pd.DataFrame, fell_back: bool) -> dict:
    """Save the best model, the fold's OOF table and metrics.json; return the metrics."""
    cfg, p = trainer.cfg, trainer.p
    model = trainer.final_model()
    oof_rows = fold_rows if cfg.oof_rows == "all" else trainer.val_rows
    ds = trainer.dataset(oof_rows, train=False)
    oof = _oof_table(ds.rows, trainer.predict(ds, model))
    votes, preds = oof[list(VOTE_COLUMNS)].to_numpy(), oof[list(PRED_COLUMNS)].to_numpy()
    high = votes.sum(axis=1) >= cfg.val_min_votes
    metrics = {
        "fold": trainer.fold, "best_epoch": p.best_epoch, "best_val_kl": p.best_kl,
        "epochs_run": p.global_epoch, "val_rows": len(trainer.val_rows), "val_fallback": fell_back,
        "val_per": cfg.val_per, "oof_rows": len(oof), "oof_kl": kl_divergence(votes, preds),
        "oof_kl_high_votes": kl_divergence(votes[high], preds[high]) if high.any() else None,
        "windows_per_s": float(np.mean([h["windows_per_s"] for h in p.history])) if p.history else None,
        "device": str(trainer.rt.device), "torch_threads": torch.get_num_threads(),
        "history": p.history,
    }  # fmt: skip
    if trainer.rt.is_main:
        rundir.save_fold_model(trainer.fold_dir, model, trainer.fold, {"best_val_kl": p.best_kl})
        rundir.write_fold_results(trainer.fold_dir, oof, metrics)
    return metrics


def has_started(out: Path) -> bool:
    """True once a fold of the run in ``out`` has saved an epoch (resume state or a model)."""
    return any(
        (d / rundir.STATE_DIR / STATE_FILE).is_file() or (d / rundir.MODEL_FILE).is_file()
        for d in out.glob(f"{rundir.FOLD_PREFIX}*")
    )


def _resolve_config(
    cfg: TrainConfig | None, out: Path, resume: bool, folds: list[int] | None
) -> TrainConfig:
    """The config to train: the given one, or the saved one of a run that already trained.

    A run becomes resumable only once it has trained an epoch: before that (e.g. its backbone
    weights failed to load) its config.json is simply replaced by the given config.
    """
    saved = out / rundir.CONFIG_FILE
    if saved.is_file() and not has_started(out):
        if cfg is not None:
            logger.warning("%s: replacing the %s of a run that never trained an epoch", out,
                           rundir.CONFIG_FILE)  # fmt: skip
            return cfg.model_copy(update={"folds": folds}) if folds is not None else cfg
        if not resume:
            raise ValueError(f"{out}: no --config given")
    if saved.is_file() and not resume:
        raise ValueError(
            f"{out}: already holds a run that trained ({rundir.CONFIG_FILE}, fold_k/); pass "
            "--resume to continue it, or another --out"
        )
    if saved.is_file():
        old = rundir.read_config(out, TrainConfig)
        if cfg is not None and cfg.to_json_dict() | {"folds": None} != old.to_json_dict() | {
            "folds": None
        }:
            logger.warning(
                "--resume: using the saved %s of %s, not the given config", rundir.CONFIG_FILE, out
            )
        cfg = old
    if cfg is None:
        raise ValueError(f"{out}: no {rundir.CONFIG_FILE} to resume and no --config given")
    return cfg.model_copy(update={"folds": folds}) if folds is not None else cfg


def _fit_n_folds(cfg: TrainConfig, n_patients: int) -> TrainConfig:
    """``cfg`` with at most one fold per patient (the rule of ``iiic prepare``); the folds to
    train must exist."""
    n = resolve_n_folds(cfg.n_folds, n_patients)
    if n == cfg.n_folds:
        return cfg
    return TrainConfig.model_validate(cfg.to_json_dict() | {"n_folds": n})


def train_kfold(
    cfg: TrainConfig | None,
    data: str | Path,
    out: str | Path,
    *,
    folds: list[int] | None = None,
    resume: bool = False,
    device: str = "auto",
    stop_after_epochs: int | None = None,
    progress_bar: bool = True,
    cache_workers: int = 1,
) -> dict[str, Any]:
    """Train the folds of ``cfg`` on ``data`` into run directory ``out``; returns a summary.

    ``resume`` continues the run in ``out`` (its saved config, finished folds skipped, the
    running fold restarted from its last epoch). ``stop_after_epochs`` simulates a kill (raises
    :class:`iiic.train.loop.TrainingInterrupted`).
    """
    out = Path(out)
    rt: Runtime = setup_runtime(device, "off")  # joins the DDP group first (torchrun)
    cfg = _resolve_config(cfg, out, resume, folds)
    rt = dataclasses.replace(rt, amp_dtype=resolve_amp(cfg.amp, rt.device))
    cache, _ = open_data(data, cache_workers) if rt.is_main else (None, None)
    rt.barrier()  # rank 0 built the cache and read the config before anyone writes
    if cache is None:
        cache, _ = open_data(data, cache_workers)
    cfg = _fit_n_folds(cfg, cache.rows["patient_id"].nunique())
    rows = prepare_rows(cache.rows, cfg)
    if cfg.pseudo_labels is not None:
        from iiic.train.pseudo import mix_targets

        rows = mix_targets(rows, cfg.pseudo_labels)
    if rt.is_main:
        rundir.save_config(out, cfg)
        rundir.write_class_prior(out, class_prior(rows), len(rows))
    summary: dict[str, Any] = {"run_dir": str(out), "folds": {}}
    for fold in cfg.fold_list():
        fold_dir = rundir.fold_dir(out, fold)
        if rundir.fold_finished(fold_dir):
            logger.info("fold %d already finished in %s: skipped", fold, fold_dir)
            continue
        fold_rows = rows[rows["fold"] == fold]
        val, fell_back = validation_rows(fold_rows, cfg)
        trainer = FoldTrainer(cfg, cache, rows, val, fold, fold_dir, rt, progress_bar=progress_bar)
        trainer.run(stop_after_epochs)
        m = _finish_fold(trainer, fold_rows, fell_back)
        summary["folds"][fold] = {k: m[k] for k in ("best_val_kl", "oof_kl", "oof_kl_high_votes")}
        rt.barrier()
    if rt.is_main:
        oof = rundir.collect_oof(out)
        if oof is not None:
            summary["oof_kl"] = kl_divergence(
                oof[list(VOTE_COLUMNS)].to_numpy(), oof[list(PRED_COLUMNS)].to_numpy()
            )
    return summary
