"""Twelve real IIIC segments with expert votes, shipped with iiic (ODC-By; see ATTRIBUTION.md).

Two 50-s segments per class from the SPaRCNet paper's figures (bdsp-core/IIIC-SPaRCNet), with
the raw expert votes and SPaRCNet's published probabilities. They let every user check what a
model trained on the synthetic twin does on real EEG (``iiic demo`` does): ``write_layout`` puts
them in the Kaggle layout that ``iiic score`` reads.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from iiic.constants import EEG_CHANNELS, EEG_WINDOW_SAMPLES, VOTE_COLUMNS
from iiic.data.writers import write_eeg

RESOURCE = "real_segments"
ATTRIBUTION = (
    "Contains information from IIIC-SPaRCNet (bdsp-core), made available under the ODC "
    "Attribution License."
)


def _files():
    return resources.files("iiic.resources").joinpath(RESOURCE)


def load_table() -> pd.DataFrame:
    """The segments' train.csv rows (HMS columns, raw votes, ``source_name``), 12 rows."""
    with _files().joinpath("train.csv").open("r", encoding="utf-8") as f:
        return pd.read_csv(f)


def load_eeg() -> np.ndarray:
    """The segments' EEG, shape (12, 20, 10000) float32 µV, ``EEG_CHANNELS`` at 200 Hz, rows in
    :func:`load_table` order (stored as int16 with a per-channel step; error <= 0.69 µV)."""
    with _files().joinpath("eeg.npz").open("rb") as f, np.load(f, allow_pickle=False) as z:
        eeg = z["eeg"].astype(np.float32) * z["scale_uv"]
    expected = (len(load_table()), len(EEG_CHANNELS), EEG_WINDOW_SAMPLES)
    if eeg.shape != expected:
        raise ValueError(f"{RESOURCE}/eeg.npz: expected shape {expected}, found {eeg.shape}")
    return eeg


def load_sparcnet() -> pd.DataFrame:
    """SPaRCNet's published probabilities: ``eeg_id`` + the six ``*_vote`` columns (12 rows)."""
    with _files().joinpath("sparcnet_predictions.csv").open("r", encoding="utf-8") as f:
        table = pd.read_csv(f)
    return table[["eeg_id", *VOTE_COLUMNS]]


def write_layout(out_dir: str | Path) -> Path:
    """Write the segments as a Kaggle-layout folder (train.csv, train_eegs/<eeg_id>.parquet,
    sparcnet_predictions.csv, ATTRIBUTION.md) for ``iiic score``; returns ``out_dir``."""
    out = Path(out_dir)
    (out / "train_eegs").mkdir(parents=True, exist_ok=True)
    table = load_table()
    for eeg_id, x in zip(table["eeg_id"], load_eeg(), strict=True):
        write_eeg(out / "train_eegs" / f"{eeg_id}.parquet", x)
    table.to_csv(out / "train.csv", index=False)
    load_sparcnet().to_csv(out / "sparcnet_predictions.csv", index=False)
    (out / "ATTRIBUTION.md").write_text(_files().joinpath("ATTRIBUTION.md").read_text("utf-8"))
    return out
