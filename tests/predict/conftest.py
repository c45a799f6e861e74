"""Fixtures of the predict tests: a tiny trained-layout run directory and a Kaggle test directory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from iiic.constants import (
    CLASSES,
    EEG_CHANNELS,
    EEG_WINDOW_SAMPLES,
    SPEC_CHAINS,
    SPEC_FREQS_HZ,
    SPEC_STEP_S,
    SPEC_WINDOW_ROWS,
    VOTE_COLUMNS,
)
from iiic.data.writers import write_eeg, write_spectrogram
from iiic.runs.rundir import save_config, save_fold_model
from iiic.train.config import TrainConfig, build_model

TINY_EEG1D = {"widths": [8, 16], "kernel_sizes": [3, 7], "gru_hidden": 8}
"""A small eeg1d (fast on one core)."""
PRIOR = [0.2, 0.15, 0.1, 0.05, 0.1, 0.4]
N_TEST = 5


def make_run(run_dir: Path, *, options=TINY_EEG1D, n_folds: int = 2, seed: int = 0,
             preprocess: dict | None = None) -> Path:  # fmt: skip
    """A run directory written with iiic.runs.rundir (random weights, fixed seeds)."""
    cfg = TrainConfig(model="eeg1d", model_options=dict(options), n_folds=max(n_folds, 2),
                      preprocess=preprocess or {})  # fmt: skip
    save_config(run_dir, cfg)
    for k in range(n_folds):
        torch.manual_seed(seed * 100 + k)
        model = build_model(cfg)
        save_fold_model(run_dir / f"fold_{k}", model, k, {})
    prior = {"classes": list(CLASSES), "prior": PRIOR, "n_rows": 10}  # as iiic train writes it
    (run_dir / "class_prior.json").write_text(json.dumps(prior))
    return run_dir


def make_test_dir(root: Path, n: int = N_TEST, seed: int = 0) -> Path:
    """Kaggle test layout: test.csv, sample_submission.csv, 50-s EEGs, 600-s spectrograms."""
    rng = np.random.default_rng(seed)
    ids = rng.choice(10**9, size=n, replace=False) + 10**9  # unsorted: order must be kept
    spec_ids = ids + 7
    pd.DataFrame({"spectrogram_id": spec_ids, "eeg_id": ids, "patient_id": np.arange(n)}).to_csv(
        root / "test.csv", index=False
    )
    sample = pd.DataFrame({"eeg_id": ids, **{c: 1 / len(VOTE_COLUMNS) for c in VOTE_COLUMNS}})
    sample.to_csv(root / "sample_submission.csv", index=False)
    (root / "test_eegs").mkdir()
    (root / "test_spectrograms").mkdir()
    times = np.arange(SPEC_WINDOW_ROWS) * SPEC_STEP_S + SPEC_STEP_S / 2
    for eeg_id, spec_id in zip(ids, spec_ids, strict=True):
        eeg = rng.normal(scale=40.0, size=(len(EEG_CHANNELS), EEG_WINDOW_SAMPLES))
        write_eeg(root / "test_eegs" / f"{eeg_id}.parquet", eeg)
        power = rng.gamma(2.0, 3.0, size=(SPEC_WINDOW_ROWS, len(SPEC_CHAINS), len(SPEC_FREQS_HZ)))
        write_spectrogram(root / "test_spectrograms" / f"{spec_id}.parquet", times, power, "int16")
    return root


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("runs") / "eeg1d_tiny")


@pytest.fixture
def test_dir(tmp_path) -> Path:
    (tmp_path / "data").mkdir()
    return make_test_dir(tmp_path / "data")


@pytest.fixture
def run_factory():
    """``make_run`` (another run directory with other random weights)."""
    return make_run


@pytest.fixture
def class_prior() -> list[float]:
    """The class prior written into the fixture runs' class_prior.json."""
    return PRIOR
