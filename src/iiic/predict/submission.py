"""Kaggle test directory → ``submission.csv``, never losing a row.

Reads ``test.csv`` (row order kept), ``test_eegs/<eeg_id>.parquet`` (the first 50 s) and, when a
model reads them, ``test_spectrograms/<spectrogram_id>.parquet`` (the first 600 s). A row without
a usable spectrogram file gets the Kaggle-style spectrogram computed from its EEG
(:mod:`iiic.predict.spec_source`), listed in :class:`PredictSummary`. A row whose EEG
file is missing, unreadable or too short gets the **fallback** prediction — the class prior stored
with the models (``RUN_DIR/class_prior.json``, weighted over runs) — and is listed in a warning
and in :class:`PredictSummary`. The CSV has exactly sample_submission's columns
(``eeg_id`` + ``constants.VOTE_COLUMNS`` holding probabilities), is validated with
:func:`iiic.evaluate.submission.validate_submission` and written atomically.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from iiic.constants import VOTE_COLUMNS
from iiic.data.errors import DataError
from iiic.data.layout import DataDir, read_test_csv
from iiic.data.readers import read_eeg
from iiic.data.windows import eeg_window, spectrogram_window
from iiic.evaluate.submission import validate_submission
from iiic.predict.predictor import Predictor
from iiic.predict.spec_source import RowSpectrograms
from iiic.utils import atomic_path

logger = logging.getLogger(__name__)

TEST_OFFSET_S = 0.0
"""Test windows start at the beginning of their files (test EEG 50 s, spectrogram 600 s)."""
SUBMISSION_COLUMNS: tuple[str, ...] = ("eeg_id", *VOTE_COLUMNS)


@dataclass
class PredictSummary:
    """What ``predict_test_dir`` did: rows written and the rows that got the fallback."""

    out: Path
    n_rows: int
    fallback: dict[int, str] = field(default_factory=dict)
    """eeg_id → why it got the class-prior fallback."""
    spec_from_eeg: dict[int, str] = field(default_factory=dict)
    """eeg_id → why its spectrogram was computed from the EEG (no usable Kaggle file)."""


def _load_row(row, data: DataDir, specs: RowSpectrograms | None,
              spec_from_eeg: dict[int, str]) -> tuple[np.ndarray, np.ndarray | None]:  # fmt: skip
    """(eeg (20, 10000) µV, spec (300, 4, 100) or None) of one test.csv row; DataError if not."""
    label = f"eeg_id={int(row.eeg_id)}"
    eeg_file = read_eeg(data.eeg_path(row.eeg_id, "test"))
    eeg = eeg_window(eeg_file, TEST_OFFSET_S, row=label)
    if specs is None:
        return eeg, None
    spec, why = specs.window(row.spectrogram_id,
                             lambda s: spectrogram_window(s, TEST_OFFSET_S, row=label),
                             eeg_file, TEST_OFFSET_S)  # fmt: skip
    if why is not None:
        spec_from_eeg[int(row.eeg_id)] = why
    return eeg, spec


def _read_chunk(rows: pd.DataFrame, data: DataDir, need_spec: bool, fallback: dict[int, str],
                spec_from_eeg: dict[int, str]):  # fmt: skip
    """Load a chunk of test rows; failures go to ``fallback``. Returns (positions, eeg, spec)."""
    keep, eegs, specs = [], [], []
    row_specs = RowSpectrograms(lambda i: data.spectrogram_path(i, "test")) if need_spec else None
    for pos, row in enumerate(rows.itertuples(index=False)):
        try:
            eeg, spec = _load_row(row, data, row_specs, spec_from_eeg)
        except (DataError, OSError) as exc:
            fallback[int(row.eeg_id)] = str(exc)
            continue
        keep.append(pos)
        eegs.append(eeg)
        specs.append(spec)
    if not keep:
        return keep, None, None
    return keep, np.stack(eegs), (np.stack(specs) if need_spec else None)


def _predict_chunk(predictor, rows, keep, eeg, spec, fallback) -> np.ndarray:
    """Predict a chunk; when it fails (e.g. ±inf samples), retry row by row, failures → fallback."""
    try:
        return predictor.predict(eeg, spec)
    except ValueError:
        out = np.tile(predictor.class_prior, (len(keep), 1))
        for i, pos in enumerate(keep):
            one_spec = None if spec is None else spec[i : i + 1]
            try:
                out[i] = predictor.predict(eeg[i : i + 1], one_spec)[0]
            except ValueError as exc:
                fallback[int(rows.iloc[pos]["eeg_id"])] = f"prediction failed: {exc}"
        return out


def predict_frame(predictor: Predictor, test: pd.DataFrame, data: DataDir, *,
                  progress: bool = True) -> tuple[pd.DataFrame, dict[int, str], dict[int, str]]:  # fmt: skip
    """Predictions for every row of ``test`` (order kept), the fallback rows and the rows whose
    spectrogram was computed from the EEG (eeg_id → why)."""
    probs = np.tile(predictor.class_prior, (len(test), 1))
    fallback: dict[int, str] = {}
    spec_from_eeg: dict[int, str] = {}
    chunk = predictor.batch_size
    for start in tqdm(
        range(0, len(test), chunk), desc="predict", unit="batch", disable=not progress
    ):
        rows = test.iloc[start : start + chunk]
        keep, eeg, spec = _read_chunk(rows, data, predictor.needs_spec, fallback, spec_from_eeg)
        if keep:
            probs[start + np.asarray(keep)] = _predict_chunk(
                predictor, rows, keep, eeg, spec, fallback
            )
    sub = pd.DataFrame(probs, columns=list(VOTE_COLUMNS))
    sub.insert(0, "eeg_id", test["eeg_id"].to_numpy())
    return sub, fallback, {k: v for k, v in spec_from_eeg.items() if k not in fallback}


def write_submission(sub: pd.DataFrame, expected: pd.DataFrame, out: str | Path) -> Path:
    """Validate ``sub`` against test.csv's ids and write it atomically as CSV."""
    sub = sub[list(SUBMISSION_COLUMNS)]
    validate_submission(sub, expected)
    with atomic_path(out) as tmp:
        sub.to_csv(tmp, index=False)
    return Path(out)


def predict_test_dir(predictor: Predictor, data_dir: str | Path, out: str | Path, *,
                     progress: bool = True) -> PredictSummary:  # fmt: skip
    """Write ``out`` (submission.csv) for the Kaggle-layout test directory ``data_dir``.

    Raises DataError when test.csv itself is missing or malformed (nothing to predict).
    """
    data = DataDir(Path(data_dir))
    test = read_test_csv(data.test_csv)
    sub, fallback, spec_from_eeg = predict_frame(predictor, test, data, progress=progress)
    write_submission(sub, test, out)
    if fallback:
        listed = "; ".join(f"{k}: {v}" for k, v in list(fallback.items())[:20])
        logger.warning("%d of %d rows got the class-prior fallback: %s%s", len(fallback),
                       len(test), listed, " ..." if len(fallback) > 20 else "")  # fmt: skip
    if spec_from_eeg:
        logger.warning("%d of %d rows: no usable Kaggle spectrogram, computed from the EEG",
                       len(spec_from_eeg), len(test))  # fmt: skip
    return PredictSummary(Path(out), len(test), fallback, spec_from_eeg)
