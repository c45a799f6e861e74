"""Read out-of-fold (OOF) prediction tables into the project's OOF contract.

The contract (docs/architecture.md): ``eeg_id, eeg_sub_id, patient_id, fold`` +
``constants.VOTE_COLUMNS`` (raw vote counts) + ``constants.PRED_COLUMNS`` (probabilities).

Two formats are read:

- ``iiic``: the contract itself (parquet or CSV), as ``iiic train`` writes ``RUN_DIR/oof.parquet``.
- ``gunesevitan``: the public HMS OOF files of gunesevitan's solution (CSV, optionally gzipped):
  ``*_vote`` hold vote **fractions** and ``*_vote_prediction`` the probabilities; there is no
  patient_id and no fold. With ``labels`` (a train.csv with raw counts) the raw votes and the
  patient_id are joined in on (eeg_id, eeg_sub_id), and the fractions are checked against them.
  Rows missing from the labels (and every row without ``labels``) keep the fractions as votes
  (KL is the same; their vote-quality bin is reported as ``"unknown"``), counted in a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from iiic.constants import PRED_COLUMNS, VOTE_COLUMNS

logger = logging.getLogger(__name__)

KEY_COLUMNS: tuple[str, ...] = ("eeg_id", "eeg_sub_id")
"""The unique row key of train.csv and of every OOF table."""
GUNESEVITAN_PRED_COLUMNS: tuple[str, ...] = tuple(f"{c}_prediction" for c in VOTE_COLUMNS)
"""Probability columns of the gunesevitan OOF format (``seizure_vote_prediction`` ...)."""
FRACTION_TOLERANCE = 1e-6
"""Largest allowed difference between a file's vote fractions and the joined raw votes' fractions."""
RAW_VOTES_COLUMN = "raw_votes"
"""Optional bool column: True where the vote columns hold raw counts (False: fractions only)."""
NO_FOLD = -1
"""Fold value of rows whose fold is unknown (formats without a fold column)."""


class OOFError(ValueError):
    """An OOF table that cannot be read; the message starts with the file."""


def _read_table(path: Path) -> pd.DataFrame:
    """Parquet or CSV (``.csv``, ``.csv.gz``) → DataFrame; errors name the file."""
    if not path.is_file():
        raise OOFError(f"{path}: no such file")
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except (OSError, ValueError) as exc:  # pyarrow/pandas parse errors are ValueError/OSError
        raise OOFError(f"{path}: not a readable parquet/CSV table ({exc})") from exc


def detect_format(df: pd.DataFrame) -> str:
    """``"iiic"`` (the contract) or ``"gunesevitan"``; raises OOFError otherwise."""
    cols = set(df.columns)
    if set(PRED_COLUMNS) <= cols and set(VOTE_COLUMNS) <= cols:
        return "iiic"
    if set(GUNESEVITAN_PRED_COLUMNS) <= cols and set(VOTE_COLUMNS) <= cols:
        return "gunesevitan"
    missing = sorted(set(VOTE_COLUMNS) - cols) or sorted(set(PRED_COLUMNS) - cols)
    raise OOFError(
        f"unknown OOF format: need {list(VOTE_COLUMNS)} and either {list(PRED_COLUMNS)} "
        f"or {list(GUNESEVITAN_PRED_COLUMNS)}; missing e.g. {missing[:3]}"
    )


def read_labels(path: str | Path) -> pd.DataFrame:
    """A train.csv (or a directory holding ``train.csv``/``train.csv.gz``) → its label columns.

    Returns eeg_id, eeg_sub_id, patient_id and the raw vote counts.
    """
    path = Path(path)
    if path.is_dir():
        found = [p for p in (path / "train.csv", path / "train.csv.gz") if p.is_file()]
        if not found:
            raise OOFError(f"{path}: no train.csv or train.csv.gz in this directory")
        path = found[0]
    df = _read_table(path)
    need = [*KEY_COLUMNS, "patient_id", *VOTE_COLUMNS]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise OOFError(f"{path}: missing columns {missing}")
    return df[need]


def _from_gunesevitan(df: pd.DataFrame, labels: pd.DataFrame | None, path: Path) -> pd.DataFrame:
    """Rename the gunesevitan columns; join raw votes + patient_id when ``labels`` is given."""
    out = df[list(KEY_COLUMNS)].copy()
    fractions = df[list(VOTE_COLUMNS)].to_numpy(np.float64)
    for pred, src in zip(PRED_COLUMNS, GUNESEVITAN_PRED_COLUMNS, strict=True):
        out[pred] = df[src].to_numpy(np.float64)
    if labels is None:
        out[list(VOTE_COLUMNS)] = fractions
        out["patient_id"] = pd.NA
        out[RAW_VOTES_COLUMN] = False
    else:
        merged = out.merge(labels, on=list(KEY_COLUMNS), how="left", validate="one_to_one")
        found = merged["patient_id"].notna().to_numpy()
        if not found.any():
            raise OOFError(f"{path}: no (eeg_id, eeg_sub_id) of this file is in the labels")
        raw = merged[list(VOTE_COLUMNS)].to_numpy(np.float64)[found]
        diff = np.abs(raw / raw.sum(axis=1, keepdims=True) - fractions[found]).max(axis=1)
        if (diff > FRACTION_TOLERANCE).any():
            raise OOFError(
                f"{path}: vote fractions of {int((diff > FRACTION_TOLERANCE).sum())} rows "
                "disagree with the joined raw votes"
            )
        if not found.all():
            logger.warning(
                "%s: %d rows are not in the labels; their vote fractions are kept as votes "
                "(quality bin 'unknown')",
                path,
                int((~found).sum()),
            )
            merged.loc[~found, list(VOTE_COLUMNS)] = fractions[~found]
        merged[RAW_VOTES_COLUMN] = found
        out = merged
    out["fold"] = NO_FOLD
    return out


def read_oof(path: str | Path, labels: str | Path | None = None) -> pd.DataFrame:
    """Read an OOF table (any supported format) into the contract's columns.

    Parameters
    ----------
    path : path
        ``.parquet`` or ``.csv[.gz]`` OOF table.
    labels : path, optional
        train.csv (or its directory) with raw vote counts; joined for formats without them.

    Returns
    -------
    DataFrame
        ``eeg_id, eeg_sub_id, patient_id, fold`` + VOTE_COLUMNS + PRED_COLUMNS, one row per
        (eeg_id, eeg_sub_id), and a bool column ``raw_votes`` (False where the votes are only
        fractions, so the row's vote-quality bin is unknown). ``df.attrs`` holds ``format`` and
        ``source``.
    """
    path = Path(path)
    df = _read_table(path)
    fmt = detect_format(df)
    missing = [c for c in KEY_COLUMNS if c not in df.columns]
    if missing:
        raise OOFError(f"{path}: missing key columns {missing}")
    if fmt == "gunesevitan":
        df = _from_gunesevitan(df, read_labels(labels) if labels is not None else None, path)
    else:
        for col in ("patient_id", "fold"):
            if col not in df.columns:
                df[col] = pd.NA if col == "patient_id" else NO_FOLD
    if df.duplicated(list(KEY_COLUMNS)).any():
        raise OOFError(f"{path}: {int(df.duplicated(list(KEY_COLUMNS)).sum())} duplicate keys")
    _check_values(df, path)
    if RAW_VOTES_COLUMN not in df.columns:
        df[RAW_VOTES_COLUMN] = True
    columns = [*KEY_COLUMNS, "patient_id", "fold", *VOTE_COLUMNS, *PRED_COLUMNS, RAW_VOTES_COLUMN]
    out = df[columns].reset_index(drop=True)
    out.attrs.update(format=fmt, source=str(path))
    logger.info("read %d OOF rows from %s (format %s)", len(out), path, fmt)
    return out


def _check_values(df: pd.DataFrame, path: Path) -> None:
    """Votes ≥ 0 with a positive total; predictions finite and ≥ 0."""
    votes = df[list(VOTE_COLUMNS)].to_numpy(np.float64)
    preds = df[list(PRED_COLUMNS)].to_numpy(np.float64)
    if (votes < 0).any() or (votes.sum(axis=1) <= 0).any():
        raise OOFError(f"{path}: votes must be >= 0 with at least one vote per row")
    if not np.isfinite(preds).all() or (preds < 0).any():
        raise OOFError(f"{path}: predictions must be finite and >= 0")
