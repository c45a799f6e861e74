"""Kaggle test directory → ``submission.csv``, never losing a row.

Reads ``test.csv`` (row order kept), ``test_eegs/<eeg_id>.parquet`` (the first 50 s) and, when a
model reads them, ``test_spectrograms/<spectrogram_id>.parquet`` (the first 600 s). A row without
a usable spectrogram file gets the Kaggle-style spectrogram computed from its EEG
(:mod:`iiic.predict.spec_source`), listed in :class:`PredictSummary`. A row gets the **fallback**
prediction — the class prior stored with the models (``RUN_DIR/class_prior.json``, weighted over
runs) — and is listed in a warning and in :class:`PredictSummary` when its EEG file is missing,
unreadable or too short, when its EEG holds no data or non-physical values
(:mod:`iiic.data.plausibility`), or when the models fail on it or return anything but finite
numbers, whatever the cause. An eeg_id listed twice in test.csv is predicted once (a submission
holds one row per eeg_id) and named in a warning; unknown test.csv columns are ignored and named.
The CSV has exactly sample_submission's columns (``eeg_id`` + ``constants.VOTE_COLUMNS`` holding
probabilities), is validated with
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
from iiic.data.layout import TEST_COLUMNS, DataDir, read_test_csv, unexpected_columns
from iiic.data.plausibility import window_problem
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
PREDICT_ERRORS = (ValueError, RuntimeError, ArithmeticError)
"""What a model or preprocessing step raises on one bad window (torch and onnxruntime raise
RuntimeError); such a row gets the fallback instead of ending the run."""


@dataclass
class PredictSummary:
    """What ``predict_test_dir`` did: rows written and the rows that got the fallback."""

    out: Path
    n_rows: int
    fallback: dict[int, str] = field(default_factory=dict)
    """eeg_id → why it got the class-prior fallback."""
    spec_from_eeg: dict[int, str] = field(default_factory=dict)
    """eeg_id → why its spectrogram was computed from the EEG (no usable Kaggle file)."""
    warnings: list[str] = field(default_factory=list)
    """Things done to test.csv on the way (duplicated eeg_ids predicted once, ignored columns)."""


def _load_row(row, data: DataDir, specs: RowSpectrograms | None,
              spec_from_eeg: dict[int, str]) -> tuple[np.ndarray, np.ndarray | None]:  # fmt: skip
    """(eeg (20, 10000) µV, spec (300, 4, 100) or None) of one test.csv row; DataError if not."""
    label = f"eeg_id={int(row.eeg_id)}"
    path = data.eeg_path(row.eeg_id, "test")
    eeg_file = read_eeg(path)
    eeg = eeg_window(eeg_file, TEST_OFFSET_S, row=label)
    problem = window_problem(eeg)
    if problem:
        raise DataError(f"{path}: {label}: {problem}")
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
    """Predict a chunk; when it fails, retry row by row. A row that fails or whose prediction is
    not finite gets the class prior and goes to ``fallback``, whatever the cause."""
    ids = rows["eeg_id"].to_numpy()[keep]
    try:
        out = predictor.predict(eeg, spec)
    except PREDICT_ERRORS:
        out = np.full((len(keep), len(VOTE_COLUMNS)), np.nan)
        for i in range(len(keep)):
            one_spec = None if spec is None else spec[i : i + 1]
            try:
                out[i] = predictor.predict(eeg[i : i + 1], one_spec)[0]
            except PREDICT_ERRORS as exc:
                fallback[int(ids[i])] = f"prediction failed ({type(exc).__name__}: {exc})"
    for i in np.flatnonzero(~np.isfinite(out).all(axis=1)):
        fallback.setdefault(int(ids[i]), "prediction is not finite (NaN or inf from the models)")
        out[i] = predictor.class_prior
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


def _one_row_per_id(test: pd.DataFrame, path: Path) -> tuple[pd.DataFrame, list[str]]:
    """test.csv with each eeg_id once (its first row) and a warning naming the repeated ids."""
    dup = test["eeg_id"].duplicated()
    if not dup.any():
        return test, []
    ids = list(dict.fromkeys(int(i) for i in test.loc[dup, "eeg_id"]))
    lines = [int(i) + 2 for i in np.flatnonzero(dup)[:5]]  # CSV line numbers (line 1: header)
    n_spec = test[test["eeg_id"].isin(ids)].groupby("eeg_id")["spectrogram_id"].nunique()
    differ = [int(i) for i in n_spec.index[n_spec > 1]]
    note = (f"; their rows name different spectrogram_ids for {differ[:5]}: the first row's is "
            "used" if differ else "")  # fmt: skip
    return test[~dup].reset_index(drop=True), [
        f"{path}: {len(ids)} eeg_id(s) listed more than once, e.g. {ids[:5]} (lines {lines}); "
        f"each is predicted once from its first row (a submission holds one row per eeg_id){note}"
    ]


def predict_test_dir(predictor: Predictor, data_dir: str | Path, out: str | Path, *,
                     progress: bool = True) -> PredictSummary:  # fmt: skip
    """Write ``out`` (submission.csv) for the Kaggle-layout test directory ``data_dir``.

    Raises DataError when test.csv itself is missing or malformed (nothing to predict).
    """
    data = DataDir(Path(data_dir))
    test = read_test_csv(data.test_csv)
    extra = unexpected_columns(test, data.test_csv, TEST_COLUMNS)
    test, warnings = _one_row_per_id(test, data.test_csv)
    warnings += [extra] if extra else []
    sub, fallback, spec_from_eeg = predict_frame(predictor, test, data, progress=progress)
    write_submission(sub, test, out)
    for line in warnings:
        logger.warning("%s", line)
    if fallback:  # PredictSummary.fallback lists them; iiic predict prints one line per row
        listed = "; ".join(f"{k}: {v}" for k, v in list(fallback.items())[:20])
        logger.info("%d of %d rows got the class-prior fallback: %s%s", len(fallback),
                    len(test), listed, " ..." if len(fallback) > 20 else "")  # fmt: skip
    if spec_from_eeg:
        logger.info("%d of %d rows: no usable Kaggle spectrogram, computed from the EEG",
                    len(spec_from_eeg), len(test))  # fmt: skip
    return PredictSummary(Path(out), len(test), fallback, spec_from_eeg, warnings)
