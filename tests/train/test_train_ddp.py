"""Multi-process DDP on the CPU: ``torch.distributed.run --nproc_per_node=2 -m iiic train`` (gloo)
trains one fold of a tiny twin and leaves the same complete run directory as one process."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch.distributed as dist
import yaml

from iiic.constants import PRED_COLUMNS
from iiic.train.config import TrainConfig
from iiic.train.kfold import open_data
from iiic.train.rows import prepare_rows

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="torch built without gloo"
)


def test_torchrun_two_cpu_processes_write_a_complete_run(
    tiny_twin: Path, tiny_config: dict, tmp_path: Path
) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config))
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "iiic", "train", "--config", str(config), "--data", str(tiny_twin), "--out", str(run),
           "--device", "cpu", "--quiet"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert "DDP rank 0/2" in log and "DDP rank 1/2" in log  # really two processes in one group

    for name in ("config.json", "class_prior.json", "oof.parquet"):
        assert (run / name).is_file(), name
    fold = run / "fold_0"
    for name in ("model.safetensors", "metrics.json", "metrics.jsonl", "oof.parquet",
                 "state/state.safetensors"):  # fmt: skip
        assert (fold / name).is_file(), name
    assert not (run / "fold_1").exists()  # folds: [0]
    assert TrainConfig.model_validate(json.loads((run / "config.json").read_text())) == (
        TrainConfig.model_validate(tiny_config)
    )

    # every epoch trained on both ranks' shards (a rank with no full batch would log loss 0)
    history = [json.loads(x) for x in (fold / "metrics.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    for h in history:
        assert h["train_loss"] > 0 and math.isfinite(h["train_loss"]), h
        assert h["windows_per_s"] > 0 and math.isfinite(h["val_kl"]), h
    metrics = json.loads((fold / "metrics.json").read_text())
    assert metrics["device"] == "cpu" and metrics["best_epoch"] in (1, 2, 3)

    # the OOF table: every held-out row exactly once (no DistributedSampler padding)
    cache, _ = open_data(tiny_twin)
    rows = prepare_rows(cache.rows, TrainConfig.model_validate(tiny_config))
    held_out = rows[rows["fold"] == 0]
    oof = pd.read_parquet(run / "oof.parquet")
    keys = list(zip(oof["eeg_id"], oof["eeg_sub_id"], strict=True))
    assert len(keys) == len(set(keys)) == len(held_out)
    assert set(keys) == set(zip(held_out["eeg_id"], held_out["eeg_sub_id"], strict=True))
    assert (oof["fold"] == 0).all() and metrics["val_rows"] <= len(oof)
    assert oof[list(PRED_COLUMNS)].sum(axis=1).sub(1.0).abs().max() < 1e-6
