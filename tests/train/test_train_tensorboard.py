"""TensorBoard scalars of a fold: written next to metrics.jsonl, read back with tensorboard's
own EventAccumulator; resumed folds log each epoch once; without tensorboard training goes on."""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from pathlib import Path

import pytest

from iiic.train.config import TrainConfig
from iiic.train.kfold import train_kfold
from iiic.train.loop import TrainingInterrupted
from iiic.train.tblog import SCALARS, TB_SUBDIR, ScalarLog

pytest.importorskip("tensorboard", reason="tensorboard is not installed (pip install iiic[dev])")
from tensorboard.backend.event_processing.event_accumulator import (
    EventAccumulator,
)


def _scalars(fold_dir: Path) -> dict[str, list[tuple[int, float]]]:
    acc = EventAccumulator(str(fold_dir / TB_SUBDIR))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def _next_second() -> None:
    """Wait for the wall clock's next whole second. TensorBoard reads a log directory's event
    files in name order, and a name is ``events.out.tfevents.<second>.<host>.<pid>.<counter>``:
    two writers of one process within one second can sort in the wrong order once the counter
    passes 9. Real resumes start later and in a new process; the test resumes at once."""
    time.sleep(1.0 - time.time() % 1.0 + 0.01)


def _history(fold_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (fold_dir / "metrics.jsonl").read_text().splitlines()]


def test_fold_run_writes_loss_kl_and_lr_scalars(
    tiny_twin: Path, tiny_config: dict, tmp_path: Path
) -> None:
    cfg = TrainConfig.model_validate(tiny_config)
    train_kfold(cfg, tiny_twin, tmp_path / "run", device="cpu", progress_bar=False)
    fold = tmp_path / "run" / "fold_0"
    assert list((fold / TB_SUBDIR).glob("events.out.tfevents.*"))
    scalars = _scalars(fold)
    assert {"train/loss", "val/kl", "lr"} <= set(scalars)
    history = _history(fold)
    for key, tag in SCALARS.items():
        assert [s for s, _ in scalars[tag]] == [h["epoch"] for h in history] == [1, 2, 3], tag
        for (_, value), h in zip(scalars[tag], history, strict=True):
            assert value == pytest.approx(h[key], rel=1e-6), (tag, h)  # float32 in the event file
    lrs = [v for _, v in scalars["lr"]]
    assert lrs[1] < lrs[0]  # cosine decay within stage 1


def test_resumed_fold_logs_every_epoch_once(
    tiny_twin: Path, tiny_config: dict, tmp_path: Path
) -> None:
    cfg = TrainConfig.model_validate(tiny_config)
    run = tmp_path / "cut"
    fold = run / "fold_0"
    with pytest.raises(TrainingInterrupted):
        train_kfold(cfg, tiny_twin, run, device="cpu", progress_bar=False, stop_after_epochs=1)
    shutil.copytree(fold / "state", tmp_path / "state_after_epoch_1")
    _next_second()
    with pytest.raises(TrainingInterrupted):
        train_kfold(None, tiny_twin, run, device="cpu", progress_bar=False, resume=True,
                    stop_after_epochs=1)  # fmt: skip
    assert [s for s, _ in _scalars(fold)["val/kl"]] == [1, 2]
    # a kill after epoch 2's scalars but before its state: the resume trains epoch 2 again
    shutil.rmtree(fold / "state")
    shutil.copytree(tmp_path / "state_after_epoch_1", fold / "state")
    _next_second()
    train_kfold(None, tiny_twin, run, device="cpu", progress_bar=False, resume=True)
    assert len(list((fold / TB_SUBDIR).glob("events.out.tfevents.*"))) == 3  # one per training call
    kl = _scalars(fold)["val/kl"]
    assert [s for s, _ in kl] == [1, 2, 3]  # epoch 2's first point purged
    assert [v for _, v in kl] == pytest.approx([h["val_kl"] for h in _history(fold)], rel=1e-6)


def test_without_tensorboard_one_info_line_and_no_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails like absent
    log = ScalarLog(tmp_path, enabled=True)
    with caplog.at_level(logging.INFO, logger="iiic.train.tblog"):
        for epoch in (1, 2):
            log.epoch({"epoch": epoch, "train_loss": 1.0, "val_kl": 0.9, "lr": 1e-3})
        log.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "iiic.train.tblog"]
    assert len(lines) == 1 and "tensorboard is not installed" in lines[0]
    assert not (tmp_path / TB_SUBDIR).exists()


def test_other_ranks_write_nothing(tmp_path: Path) -> None:
    log = ScalarLog(tmp_path, enabled=False)
    log.epoch({"epoch": 1, "train_loss": 1.0, "val_kl": 0.9, "lr": 1e-3})
    log.close()
    assert not (tmp_path / TB_SUBDIR).exists()
