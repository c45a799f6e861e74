"""Training of one fold: two stages, AdamW + warm-up/cosine, EMA, early stopping, resume.

A plain PyTorch loop (nanoGPT-style). :class:`FoldTrainer` owns the model, its EMA and the
progress counters; after every epoch it validates, updates early stopping, and writes the
resume state (``fold_k/state/``), ``fold_k/metrics.jsonl`` and TensorBoard scalars
(``fold_k/tensorboard/``, :mod:`iiic.train.tblog`). Each stage gets a fresh optimiser
and schedule and starts from the best weights so far.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler
from torch.utils.data.distributed import DistributedSampler
from tqdm.auto import tqdm

from iiic.evaluate.metric import kl_divergence
from iiic.runs.rundir import METRICS_LOG, STATE_DIR
from iiic.train import state as state_io
from iiic.train.augment import mix, mixup_params
from iiic.train.config import StageConfig, TrainConfig, build_model
from iiic.train.dataset import WindowDataset
from iiic.train.ema import EMA
from iiic.train.inputs import choose_inputs, window_augment
from iiic.train.loss import kl_loss
from iiic.train.pseudo import TARGET_COLUMNS
from iiic.train.rows import stage_rows
from iiic.train.runtime import Runtime, all_reduce_mean, from_main, seed_from
from iiic.train.tblog import ScalarLog
from iiic.utils import write_text_atomic

logger = logging.getLogger(__name__)


class TrainingInterrupted(RuntimeError):
    """Raised after ``stop_after_epochs`` epochs (a simulated kill); ``--resume`` continues."""


@dataclasses.dataclass
class Progress:
    """Counters and early-stopping state (saved as JSON with every resume state)."""

    stage: int = 0
    epoch_in_stage: int = 0
    global_epoch: int = 0
    best_kl: float = math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def lr_factor(step: int, *, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warm-up to 1 over ``warmup`` steps, then cosine decay to ``min_ratio``."""
    if step < warmup:
        return (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t))


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


class FoldTrainer:
    """Trains fold ``fold`` of ``rows`` and writes into ``fold_dir`` (see module docstring)."""

    def __init__(
        self, cfg: TrainConfig, cache: Any, rows: pd.DataFrame, val_rows: pd.DataFrame,
        fold: int, fold_dir: Path, rt: Runtime, *, progress_bar: bool = True,
    ) -> None:  # fmt: skip
        self.cfg, self.cache, self.fold, self.fold_dir, self.rt = cfg, cache, fold, fold_dir, rt
        self.train_rows = rows[rows["fold"] != fold]
        self.val_rows = val_rows
        self.progress_bar = progress_bar and rt.is_main
        torch.manual_seed(seed_from(cfg.seed, fold))
        self.model = build_model(cfg).to(rt.device)
        self.ema = EMA(self.model, cfg.ema_decay) if cfg.ema_decay else None
        self.best_state = self.eval_model().state_dict()
        self.best_state = {k: v.detach().clone() for k, v in self.best_state.items()}
        self.p = Progress()
        self._opt_state: dict | None = None
        # the flip is drawn by the dataset (EEG and spectrogram together), mixup by the loop
        self.ready = choose_inputs(cache, cfg)
        self.augment = window_augment(cfg.augment, self.ready)
        self.val_ds = self.dataset(val_rows, train=False)
        self.tb = ScalarLog(fold_dir, enabled=rt.is_main)

    # --- pieces -----------------------------------------------------------------------------
    def dataset(self, rows: pd.DataFrame, *, train: bool, weighting: str = "none") -> WindowDataset:
        """Rows as a WindowDataset: training (sampling, augmentation, flip) or evaluation (as is)."""
        aug = self.cfg.augment
        targets = TARGET_COLUMNS if train and TARGET_COLUMNS[0] in rows.columns else None
        return WindowDataset(
            self.cache, rows, preprocess=self.cfg.preprocess, with_spec=self.model.needs_spec,
            augment=self.augment if train else None, sampling=self.cfg.sampling if train else "all",
            seed=seed_from(self.cfg.seed, self.fold), vote_weighting=weighting,
            p_flip=aug.p_flip if train else 0.0, ready=self.ready, target_columns=targets,
        )  # fmt: skip

    def eval_model(self) -> nn.Module:
        """The model validation and checkpoints use: the EMA copy when there is one, unwrapped."""
        return self.ema.module if self.ema is not None else _unwrap(self.model)

    def train_loader(self, ds: WindowDataset, epoch: int) -> DataLoader:
        """The training DataLoader of ``ds`` for ``epoch`` (shuffled per epoch; per rank in DDP)."""
        if self.rt.distributed:
            sampler = DistributedSampler(ds, self.rt.world_size, self.rt.rank, seed=self.cfg.seed)
            sampler.set_epoch(epoch)
        else:
            gen = torch.Generator().manual_seed(seed_from(self.cfg.seed, self.fold, epoch))
            sampler = RandomSampler(ds, generator=gen)
        per_rank = math.ceil(len(ds) / self.rt.world_size)  # a rank's share, as in _steps_per_epoch
        return DataLoader(
            ds, batch_size=self.cfg.batch_size, sampler=sampler, drop_last=per_rank > self.cfg.batch_size,
            num_workers=self.cfg.num_workers, pin_memory=self.rt.device.type == "cuda",
        )  # fmt: skip

    def _steps_per_epoch(self, ds: WindowDataset) -> int:
        per_rank = math.ceil(len(ds) / self.rt.world_size)
        n = per_rank // self.cfg.batch_size if per_rank > self.cfg.batch_size else 1
        return min(n, self.cfg.max_steps_per_epoch or n)

    def _optimizer(self, stage: StageConfig, steps_per_epoch: int):
        params = [p for p in self.model.parameters() if p.requires_grad]
        decay = [p for p in params if p.ndim > 1]
        no_decay = [p for p in params if p.ndim <= 1]
        opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.cfg.weight_decay},
             {"params": no_decay, "weight_decay": 0.0}], lr=stage.lr,
        )  # fmt: skip
        total = max(1, stage.epochs * steps_per_epoch)
        fn = functools.partial(
            lr_factor, warmup=round(self.cfg.warmup_fraction * total), total=total,
            min_ratio=self.cfg.min_lr_ratio,
        )  # fmt: skip
        sched = torch.optim.lr_scheduler.LambdaLR(opt, fn)
        scaler = torch.amp.GradScaler("cuda", enabled=self.rt.amp_dtype == torch.float16)
        return opt, sched, scaler

    def _batch(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor | None]:
        eeg = batch["eeg"].to(self.rt.device, non_blocking=True)
        spec = batch["spec"].to(self.rt.device, non_blocking=True) if "spec" in batch else None
        return eeg, spec

    def stage_setup(self, index: int, steps_per_epoch: int | None = None) -> tuple:
        """``(dataset, optimiser, schedule, grad scaler)`` of stage ``index``: its training rows
        and a fresh AdamW whose schedule spans the stage's epochs of ``steps_per_epoch`` steps
        (default: the dataset's)."""
        stage = self.cfg.stages[index]
        rows = stage_rows(self.train_rows, stage.min_votes, index)
        ds = self.dataset(rows, train=True, weighting=stage.vote_weighting)
        return ds, *self._optimizer(stage, steps_per_epoch or self._steps_per_epoch(ds))

    # --- epochs -----------------------------------------------------------------------------
    def train_step(
        self, batch: dict, opt, sched, scaler, model: nn.Module, step: int
    ) -> tuple[float, int]:
        """One optimiser step on ``batch`` (mixup drawn from the step's own seed, autocast, KL
        loss, gradient clipping, schedule, EMA); returns (weighted loss, windows)."""
        eeg, spec = self._batch(batch)
        target = batch["target"].to(self.rt.device)
        weight = batch["weight"].to(self.rt.device)
        aug = self.cfg.augment
        rng = np.random.default_rng([self.cfg.seed, self.fold, self.p.global_epoch, step])
        if aug.p_mixup > 0 and rng.random() < aug.p_mixup:
            lam, perm = mixup_params(eeg.shape[0], aug.mixup_alpha, rng)
            eeg, target, weight = (
                mix(eeg, lam, perm),
                mix(target, lam, perm),
                mix(weight, lam, perm),
            )
            spec = mix(spec, lam, perm) if spec is not None else None
        with self.rt.autocast():
            logits = model(eeg, spec)
        loss = kl_loss(logits, target, weight)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if self.cfg.grad_clip:
            scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(model.parameters(), self.cfg.grad_clip)
        scaler.step(opt)
        scaler.update()
        sched.step()
        if self.ema is not None:
            self.ema.update(_unwrap(model))
        return loss.item(), eeg.shape[0]

    def train_epoch(
        self, ds: WindowDataset, opt, sched, scaler, model: nn.Module
    ) -> tuple[float, float]:
        """One epoch; returns (mean weighted loss, windows/s)."""
        ds.set_epoch(self.p.global_epoch)
        n_steps = self._steps_per_epoch(ds)
        model.train()
        total, count, n_windows, t0 = 0.0, 0, 0, time.perf_counter()
        bar = tqdm(total=n_steps, disable=not self.progress_bar, leave=False,
                   desc=f"fold {self.fold} stage {self.p.stage + 1} epoch {self.p.global_epoch + 1}")  # fmt: skip
        for step, batch in enumerate(self.train_loader(ds, self.p.global_epoch)):
            if step >= n_steps:
                break
            loss, n = self.train_step(batch, opt, sched, scaler, model, step)
            total, count, n_windows = total + loss, count + 1, n_windows + n
            bar.set_postfix(loss=f"{total / count:.4f}", val_kl=f"{self.p.best_kl:.4f}")
            bar.update()
        bar.close()
        rate = n_windows * self.rt.world_size / max(time.perf_counter() - t0, 1e-9)
        return all_reduce_mean(total / max(count, 1), self.rt), rate

    @torch.no_grad()
    def predict(self, ds: WindowDataset, model: nn.Module | None = None) -> np.ndarray:
        """Softmax probabilities over ``ds`` in row order, shape (len(ds), 6), float64."""
        model = model or self.eval_model()
        model.eval()
        loader = DataLoader(ds, batch_size=self.cfg.eval_batch_size, shuffle=False,
                            num_workers=self.cfg.num_workers)  # fmt: skip
        out = []
        for batch in loader:
            eeg, spec = self._batch(batch)
            with self.rt.autocast():
                logits = model(eeg, spec)
            out.append(torch.softmax(logits.float(), dim=1).cpu().double().numpy())
        return np.concatenate(out)

    def validate(self) -> float:
        """KL of the (EMA) model on the validation rows, nats."""
        probs = self.predict(self.val_ds)
        return from_main(kl_divergence(self.val_ds.targets, probs), self.rt)

    # --- progress and state ---------------------------------------------------------------
    def _end_epoch(self, loss: float, val_kl: float, rate: float, lr: float) -> None:
        p = self.p
        p.global_epoch += 1
        p.epoch_in_stage += 1
        if val_kl < p.best_kl:
            p.best_kl, p.best_epoch, p.bad_epochs = val_kl, p.global_epoch, 0
            self.best_state = {
                k: v.detach().clone() for k, v in self.eval_model().state_dict().items()
            }
        else:
            p.bad_epochs += 1
        p.history.append({
            "epoch": p.global_epoch, "stage": p.stage + 1, "train_loss": loss, "val_kl": val_kl,
            "lr": lr, "windows_per_s": rate,
        })  # fmt: skip
        self.tb.epoch(p.history[-1])
        logger.info("fold %d epoch %d (stage %d): train loss %.4f, val KL %.4f, %.1f windows/s",
                    self.fold, p.global_epoch, p.stage + 1, loss, val_kl, rate)  # fmt: skip

    def _next_stage(self) -> None:
        """Advance to the next stage, starting it from the best weights so far."""
        self.p.stage += 1
        self.p.epoch_in_stage = self.p.bad_epochs = 0
        _unwrap(self.model).load_state_dict(self.best_state)
        if self.ema is not None:
            self.ema.reset(_unwrap(self.model))

    def save_state(self, opt, sched, scaler) -> None:
        """Write the resume state and metrics.jsonl (rank 0 only)."""
        if not self.rt.is_main:
            return
        groups = {"model": _unwrap(self.model).state_dict(), "best": self.best_state,
                  "rng": state_io.rng_tensors()}  # fmt: skip
        meta: dict[str, Any] = {"progress": dataclasses.asdict(self.p), "optimizer": None}
        if self.ema is not None:
            groups["ema"] = self.ema.module.state_dict()
            meta["ema_updates"] = self.ema.updates
        if opt is not None:
            groups["optimizer"], meta["optimizer"] = state_io.flatten_optimizer(opt.state_dict())
            meta["scheduler"], meta["scaler"] = sched.state_dict(), scaler.state_dict()
        state_io.save_state(self.fold_dir / STATE_DIR, groups, meta)
        lines = "".join(json.dumps(h) + "\n" for h in self.p.history)
        write_text_atomic(self.fold_dir / METRICS_LOG, lines)

    def load_state(self) -> bool:
        """Restore the last saved state of this fold; False when there is none."""
        loaded = state_io.load_state(
            self.fold_dir / STATE_DIR, ["model", "best", "rng", "ema", "optimizer"]
        )
        if loaded is None:
            return False
        groups, meta = loaded
        dev = self.rt.device
        _unwrap(self.model).load_state_dict(groups["model"])
        self.best_state = {k: v.to(dev) for k, v in groups["best"].items()}
        if self.ema is not None:
            self.ema.module.load_state_dict(groups["ema"])
            self.ema.updates = meta["ema_updates"]
        self.p = Progress(**meta["progress"])
        if meta["optimizer"] is not None:
            self._opt_state = {**meta, "tensors": groups["optimizer"]}
        state_io.restore_rng(groups["rng"])
        logger.info("fold %d: resumed after epoch %d", self.fold, self.p.global_epoch)
        return True

    def _restore_optimizer(self, opt, sched, scaler) -> None:
        if self._opt_state is None:
            return
        s = self._opt_state
        opt.load_state_dict(state_io.unflatten_optimizer(s["tensors"], s["optimizer"]))
        sched.load_state_dict(s["scheduler"])
        scaler.load_state_dict(s["scaler"])
        self._opt_state = None

    # --- the run ----------------------------------------------------------------------------
    def _train_model(self) -> nn.Module:
        if not self.rt.distributed:
            return self.model
        if not hasattr(self, "_ddp"):
            ids = [self.rt.device.index] if self.rt.device.type == "cuda" else None
            self._ddp = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        return self._ddp

    def _stage_done(self, stage: StageConfig) -> bool:
        patience = self.cfg.patience
        return self.p.epoch_in_stage >= stage.epochs or (
            patience is not None and self.p.bad_epochs >= patience
        )

    def run(self, stop_after_epochs: int | None = None) -> None:
        """Train every remaining stage (resuming from ``fold_dir/state`` when present).

        Raises :class:`TrainingInterrupted` after ``stop_after_epochs`` epochs of this call
        unless training finished.
        """
        try:
            self._run(stop_after_epochs)
        finally:
            self.tb.close()

    def _run(self, stop_after_epochs: int | None) -> None:
        self.load_state()
        n_stages, epochs_here = len(self.cfg.stages), 0
        while self.p.stage < n_stages:
            stage = self.cfg.stages[self.p.stage]
            if stage.epochs == 0:
                self._next_stage()
                continue
            ds, opt, sched, scaler = self.stage_setup(self.p.stage)
            self._restore_optimizer(opt, sched, scaler)
            done = False
            while not done:
                loss, rate = self.train_epoch(ds, opt, sched, scaler, self._train_model())
                self._end_epoch(loss, self.validate(), rate, sched.get_last_lr()[0])
                done = self._stage_done(stage)
                if done:
                    self._next_stage()
                self.save_state(None if done else opt, sched, scaler)
                epochs_here += 1
                if (
                    stop_after_epochs
                    and epochs_here >= stop_after_epochs
                    and self.p.stage < n_stages
                ):
                    raise TrainingInterrupted(
                        f"fold {self.fold}: stopped after {epochs_here} epoch(s) as asked; "
                        "continue with --resume"
                    )

    def final_model(self) -> nn.Module:
        """The evaluation model carrying the best weights (eval mode)."""
        model = self.eval_model()
        model.load_state_dict(self.best_state)
        return model.eval()
