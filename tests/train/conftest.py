"""Fixtures shared by the training tests: a tiny twin (cached) and a tiny eeg1d config."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

TINY_EEG1D: dict[str, Any] = {
    "model": "eeg1d",
    "model_options": {"widths": [6, 8], "kernel_sizes": [3, 5], "gru_hidden": 4},
    "preprocess": {"downsample": 10, "bandpass_hz": [0.5, 9.0]},
    "augment": {"p_flip": 0.5, "p_time_shift": 0.5, "p_mixup": 0.5},
    "n_folds": 2,
    "folds": [0],
    "batch_size": 4,
    "eval_batch_size": 8,
    "stages": [
        {"epochs": 2, "lr": 3e-3, "vote_weighting": "sqrt"},
        {"epochs": 1, "lr": 1e-3, "min_votes": 2},
    ],
    "ema_decay": 0.9,
    "val_min_rows": 4,
    "patience": None,
}


@pytest.fixture(scope="session")
def tiny_config() -> dict[str, Any]:
    """A one-fold (fold 0 of 2), three-epoch eeg1d config that trains in seconds on a CPU."""
    return copy.deepcopy(TINY_EEG1D)


@pytest.fixture(scope="session")
def tiny_twin(tmp_path_factory) -> Path:
    """A 6-patient Kaggle-layout twin (about 20 rows) with its cache in ``.iiic_cache``."""
    from iiic.synth.twin import generate_twin
    from iiic.train.kfold import open_data

    out = generate_twin(tmp_path_factory.mktemp("tiny_twin"), n_patients=6, seed=1,
                        max_eegs_per_patient=2, max_rows_per_eeg=4)  # fmt: skip
    open_data(out)
    return out
