"""Real IIIC segments with expert votes, shipped with iiic (ODC-By; each set's ATTRIBUTION.md).

Two sets, named by their segment length:

- ``"50s"``: twelve 50-s segments, two per class, from the SPaRCNet paper's figures
  (bdsp-core/IIIC-SPaRCNet), with the raw expert votes and SPaRCNet's published probabilities;
- ``"10s"``: ten 10-s segments from the inter-rater reliability study's figures (bdsp-core/IIIC-IRR,
  12-29 raters each, mostly split votes by design); they hold only the 10 s the raters labelled
  (``segment_seconds`` = 10), so only runs that read a central 10-s crop score them.

They let every user check what a model trained on the synthetic twin does on real EEG
(``iiic demo`` does): ``write_layout`` puts a set in the Kaggle layout that ``iiic score`` reads.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from iiic.constants import EEG_CHANNELS, SFREQ_HZ, VOTE_COLUMNS
from iiic.data.writers import write_eeg
from iiic.utils import check_option

SETS: dict[str, str] = {"50s": "real_segments", "10s": "real_segments_10s"}
"""Shipped sets: name → resource folder."""
ATTRIBUTIONS: dict[str, str] = {
    "50s": "Contains information from IIIC-SPaRCNet (bdsp-core), made available under the ODC "
    "Attribution License.",
    "10s": "Contains information from IIIC-IRR (bdsp-core), made available under the ODC "
    "Attribution License.",
}
ATTRIBUTION = ATTRIBUTIONS["50s"]
SPARCNET_FILE = "sparcnet_predictions.csv"


def _files(which: str):
    check_option("which", which, sorted(SETS))
    return resources.files("iiic.resources").joinpath(SETS[which])


def load_table(which: str = "50s") -> pd.DataFrame:
    """The set's train.csv rows (HMS columns, raw votes, ``source_name``)."""
    with _files(which).joinpath("train.csv").open("r", encoding="utf-8") as f:
        return pd.read_csv(f)


def segment_samples(which: str = "50s") -> int:
    """Samples per segment at 200 Hz (10,000 for "50s", 2,000 for "10s")."""
    return round(float(which.removesuffix("s")) * SFREQ_HZ)


def load_eeg(which: str = "50s") -> np.ndarray:
    """The segments' EEG, shape (n, 20, samples) float32 µV, ``EEG_CHANNELS`` at 200 Hz, rows in
    :func:`load_table` order (stored as int16 with a per-channel step; error <= 0.69 µV)."""
    with _files(which).joinpath("eeg.npz").open("rb") as f, np.load(f, allow_pickle=False) as z:
        eeg = z["eeg"].astype(np.float32) * z["scale_uv"]
    expected = (len(load_table(which)), len(EEG_CHANNELS), segment_samples(which))
    if eeg.shape != expected:
        raise ValueError(f"{SETS[which]}/eeg.npz: expected shape {expected}, found {eeg.shape}")
    return eeg


def has_sparcnet(which: str = "50s") -> bool:
    """Whether SPaRCNet's published probabilities ship with the set."""
    return _files(which).joinpath(SPARCNET_FILE).is_file()


def load_sparcnet(which: str = "50s") -> pd.DataFrame:
    """SPaRCNet's published probabilities: ``eeg_id`` + the six ``*_vote`` columns."""
    with _files(which).joinpath(SPARCNET_FILE).open("r", encoding="utf-8") as f:
        table = pd.read_csv(f)
    return table[["eeg_id", *VOTE_COLUMNS]]


def write_layout(out_dir: str | Path, which: str = "50s") -> Path:
    """Write a set as a Kaggle-layout folder (train.csv, train_eegs/<eeg_id>.parquet,
    ATTRIBUTION.md, and sparcnet_predictions.csv where published) for ``iiic score``."""
    out = Path(out_dir)
    (out / "train_eegs").mkdir(parents=True, exist_ok=True)
    table = load_table(which)
    for eeg_id, x in zip(table["eeg_id"], load_eeg(which), strict=True):
        write_eeg(out / "train_eegs" / f"{eeg_id}.parquet", x)
    table.to_csv(out / "train.csv", index=False)
    if has_sparcnet(which):
        load_sparcnet(which).to_csv(out / SPARCNET_FILE, index=False)
    (out / "ATTRIBUTION.md").write_text(_files(which).joinpath("ATTRIBUTION.md").read_text("utf-8"))
    return out
