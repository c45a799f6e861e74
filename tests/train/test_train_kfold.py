"""End to end on a tiny synthetic twin: a two-fold run through the CLI, reloadable checkpoints,
and kill + ``--resume`` reaching the same result as an uninterrupted run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import load_file
from typer.testing import CliRunner

from iiic.cli import app
from iiic.constants import PRED_COLUMNS, VOTE_COLUMNS
from iiic.predict.runs import load_run
from iiic.runs.rundir import load_fold_model, save_fold_model
from iiic.train.config import TrainConfig, build_model
from iiic.train.dataset import WindowDataset
from iiic.train.kfold import open_data, train_kfold
from iiic.train.loop import TrainingInterrupted


@pytest.fixture()
def twin(tiny_twin: Path) -> Path:
    """The session's tiny twin (tests/train/conftest.py)."""
    return tiny_twin


@pytest.fixture(scope="module")
def config_file(tmp_path_factory, tiny_config: dict) -> Path:
    """The tiny config over both of its folds."""
    path = tmp_path_factory.mktemp("cfg") / "tiny.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in tiny_config.items() if k != "folds"}))
    return path


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(app, ["train", *args, "--device", "cpu", "--quiet"])
    assert result.exit_code == 0, result.output
    return result.output


def test_two_fold_run_writes_the_run_directory_and_reloads(
    twin: Path, config_file: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    _invoke("--config", str(config_file), "--data", str(twin), "--out", str(run))
    for name in ("config.json", "class_prior.json", "oof.parquet"):
        assert (run / name).is_file()
    for k in (0, 1):
        fold = run / f"fold_{k}"
        for name in (
            "model.safetensors",
            "metrics.json",
            "metrics.jsonl",
            "oof.parquet",
            "state/state.safetensors",
        ):
            assert (fold / name).is_file(), name
        lines = [json.loads(x) for x in (fold / "metrics.jsonl").read_text().splitlines()]
        assert [x["epoch"] for x in lines] == [1, 2, 3] and [x["stage"] for x in lines] == [1, 1, 2]
        assert set(lines[0]) == {"epoch", "stage", "train_loss", "val_kl", "lr", "windows_per_s"}
    oof = pd.read_parquet(run / "oof.parquet")
    rows = pd.read_csv(twin / "train.csv")
    assert list(oof.columns) == [
        "eeg_id",
        "eeg_sub_id",
        "patient_id",
        "fold",
        *VOTE_COLUMNS,
        *PRED_COLUMNS,
    ]
    assert len(oof) == len(rows)  # every row once, predicted by the fold that held it out
    assert oof.groupby("patient_id")["fold"].nunique().max() == 1
    np.testing.assert_allclose(oof[list(PRED_COLUMNS)].sum(axis=1), 1.0, atol=1e-6)
    merged = oof.merge(rows, on=["eeg_id", "eeg_sub_id"], suffixes=("", "_csv"))
    np.testing.assert_array_equal(merged[list(VOTE_COLUMNS)].to_numpy(),
                                  merged[[f"{c}_csv" for c in VOTE_COLUMNS]].to_numpy())  # fmt: skip

    # the fold's model, rebuilt from the directory alone, reproduces its OOF predictions
    model, cfg = load_fold_model(run / "fold_1")
    cache, _ = open_data(twin)
    part = oof[oof["fold"] == 1].reset_index(drop=True)
    table = cache.rows.set_index(["eeg_id", "eeg_sub_id"]).loc[
        list(zip(part.eeg_id, part.eeg_sub_id, strict=True))
    ]
    ds = WindowDataset(cache, table.reset_index(), preprocess=cfg.preprocess, with_spec=False)
    with torch.no_grad():
        probs = torch.softmax(model(torch.stack([ds[i]["eeg"] for i in range(len(ds))])), 1).numpy()
    np.testing.assert_allclose(probs, part[list(PRED_COLUMNS)].to_numpy(), atol=1e-5)
    assert len(load_run(run).models) == 2


def test_killed_and_resumed_run_matches_an_uninterrupted_one(
    twin: Path, config_file: Path, tmp_path: Path, tiny_config: dict
) -> None:
    cfg = TrainConfig.model_validate(tiny_config)
    whole = tmp_path / "whole"
    train_kfold(cfg, twin, whole, device="cpu", progress_bar=False)

    cut = tmp_path / "cut"
    with pytest.raises(TrainingInterrupted, match="stopped after 1 epoch"):  # mid stage 1
        train_kfold(cfg, twin, cut, device="cpu", progress_bar=False, stop_after_epochs=1)
    assert not (cut / "fold_0" / "model.safetensors").exists()
    # the CLI resumes from the saved config; stop again at the stage boundary, then finish
    assert "continue with --resume" in _invoke(
        "--data", str(twin), "--out", str(cut), "--resume", "--stop-after-epochs", "1"
    )
    _invoke("--data", str(twin), "--out", str(cut), "--resume")

    a = json.loads((whole / "fold_0" / "metrics.json").read_text())
    b = json.loads((cut / "fold_0" / "metrics.json").read_text())
    assert [h["epoch"] for h in b["history"]] == [1, 2, 3]
    for ha, hb in zip(a["history"], b["history"], strict=True):
        assert abs(ha["val_kl"] - hb["val_kl"]) < 1e-5
        assert abs(ha["train_loss"] - hb["train_loss"]) < 1e-5
    assert abs(a["best_val_kl"] - b["best_val_kl"]) < 1e-5
    wa, wb = (
        load_file(str(whole / "fold_0" / "model.safetensors")),
        load_file(str(cut / "fold_0" / "model.safetensors")),
    )
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], atol=1e-5, rtol=1e-5)


def test_existing_run_needs_resume_and_bad_folds_are_rejected(
    twin: Path, config_file: Path, tmp_path: Path, tiny_config: dict
) -> None:
    run = tmp_path / "run"
    (run).mkdir()
    cfg = TrainConfig.model_validate(tiny_config)
    (run / "config.json").write_text(json.dumps(cfg.to_json_dict()))
    save_fold_model(run / "fold_0", build_model(cfg), 0, {})  # it has trained: resumable
    result = CliRunner().invoke(
        app, ["train", "--config", str(config_file), "--data", str(twin), "--out", str(run)]
    )
    assert result.exit_code == 2 and "already holds a run" in result.output
    result = CliRunner().invoke(app, ["train", "--config", str(config_file), "--data", str(twin), "--out",
                                      str(tmp_path / "x"), "--folds", "0,a"])  # fmt: skip
    assert result.exit_code == 2 and "--folds" in result.output


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_one_fold_trains_on_cuda_with_mixed_precision(
    twin: Path, tmp_path: Path, tiny_config: dict
) -> None:
    cfg = TrainConfig.model_validate({**tiny_config, "amp": "auto"})
    summary = train_kfold(cfg, twin, tmp_path / "gpu", device="cuda", progress_bar=False)
    metrics = json.loads((tmp_path / "gpu" / "fold_0" / "metrics.json").read_text())
    assert metrics["device"].startswith("cuda") and np.isfinite(summary["folds"][0]["best_val_kl"])
    model, _ = load_fold_model(tmp_path / "gpu" / "fold_0", device="cuda")
    assert next(model.parameters()).is_cuda
