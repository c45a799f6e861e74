"""The Kaggle HMS directory layout and the schemas of its CSV tables.

::

    DATA/train.csv, test.csv, sample_submission.csv
    DATA/train_eegs/<eeg_id>.parquet, train_spectrograms/<spectrogram_id>.parquet
    DATA/test_eegs/<eeg_id>.parquet,  test_spectrograms/<spectrogram_id>.parquet

``read_train_csv`` / ``read_test_csv`` raise :class:`DataError` naming the file, the column and the
problem; :func:`problems_train_csv` / :func:`problems_test_csv` return every problem as a list instead
(used by ``iiic validate``, which reports all of them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from iiic.constants import CLASS_LABELS, VOTE_COLUMNS
from iiic.data.errors import DataError
from iiic.utils import check_option

Split = Literal["train", "test"]
SPLITS: tuple[str, ...] = ("train", "test")

TRAIN_ID_COLUMNS: tuple[str, ...] = (
    "eeg_id", "eeg_sub_id", "spectrogram_id", "spectrogram_sub_id", "patient_id",
)  # fmt: skip
"""Integer id columns of train.csv (never missing)."""
TRAIN_OFFSET_COLUMNS: tuple[str, ...] = (
    "eeg_label_offset_seconds",
    "spectrogram_label_offset_seconds",
)
"""Window start offsets of train.csv, s (>= 0)."""
TRAIN_COLUMNS: tuple[str, ...] = (
    *TRAIN_ID_COLUMNS, *TRAIN_OFFSET_COLUMNS, "expert_consensus", *VOTE_COLUMNS,
)  # fmt: skip
"""Required columns of train.csv (``label_id`` is optional: the rebuilt train.csv lacks most)."""
TRAIN_OPTIONAL_COLUMNS: tuple[str, ...] = ("label_id",)
"""Columns of Kaggle's train.csv that iiic accepts without reading them."""
TEST_COLUMNS: tuple[str, ...] = ("spectrogram_id", "eeg_id", "patient_id")
"""Required columns of test.csv."""
SUBMISSION_COLUMNS: tuple[str, ...] = ("eeg_id", *VOTE_COLUMNS)
"""Columns of sample_submission.csv / a submission (the vote columns hold probabilities)."""

_FOLDERS = {
    ("train", "eeg"): "train_eegs",
    ("train", "spectrogram"): "train_spectrograms",
    ("test", "eeg"): "test_eegs",
    ("test", "spectrogram"): "test_spectrograms",
}


def _check_split(split: str) -> None:
    check_option("split", split, SPLITS)


@dataclass(frozen=True)
class DataDir:
    """Paths inside a Kaggle-layout data directory (nothing is read here)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def train_csv(self) -> Path:
        return self.root / "train.csv"

    @property
    def test_csv(self) -> Path:
        return self.root / "test.csv"

    @property
    def sample_submission_csv(self) -> Path:
        return self.root / "sample_submission.csv"

    def folder(self, kind: Literal["eeg", "spectrogram"], split: Split) -> Path:
        """``train_eegs``, ``train_spectrograms``, ``test_eegs`` or ``test_spectrograms``."""
        _check_split(split)
        return self.root / _FOLDERS[(split, kind)]

    def eeg_path(self, eeg_id: int, split: Split = "train") -> Path:
        """Path of ``<split>_eegs/<eeg_id>.parquet``."""
        return self.folder("eeg", split) / f"{int(eeg_id)}.parquet"

    def spectrogram_path(self, spectrogram_id: int, split: Split = "train") -> Path:
        """Path of ``<split>_spectrograms/<spectrogram_id>.parquet``."""
        return self.folder("spectrogram", split) / f"{int(spectrogram_id)}.parquet"


def load_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV table; a missing, empty or unparsable file raises :class:`DataError`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: empty file (no header, no rows)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV ({exc})") from None
    if df.empty:
        raise DataError(f"{path}: no rows (header only)")
    return df


def _missing(df: pd.DataFrame, path: Path, required: tuple[str, ...]) -> list[str]:
    missing = [c for c in required if c not in df.columns]
    return [f"{path}: missing column(s) {missing}"] if missing else []


def _integer_problems(df: pd.DataFrame, path: Path, columns: tuple[str, ...]) -> list[str]:
    problems = []
    for col in columns:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() | (values != np.round(values))
        if bad.any():
            rows = list(df.index[bad][:5])
            problems.append(f"{path}: column {col!r}: {int(bad.sum())} non-integer/missing values "
                            f"(rows {rows}...)")  # fmt: skip
    return problems


def vote_problems(df: pd.DataFrame, path: Path) -> list[str]:
    """One message per row with negative, non-integer, missing or all-zero votes."""
    votes = df[list(VOTE_COLUMNS)].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    problems = []
    negative = (votes < 0).any(axis=1)
    not_int = (np.isnan(votes) | (votes != np.round(votes))).any(axis=1)
    zero = ~negative & ~not_int & (votes.sum(axis=1) <= 0)
    for name, mask in (("negative", negative), ("non-integer or missing", not_int),
                       ("no votes (total 0)", zero)):  # fmt: skip
        for i in np.flatnonzero(mask):
            problems.append(f"{path}: row {i} ({_row_label(df, i)}): {name} votes")
    return problems


def _row_label(df: pd.DataFrame, i: int) -> str:
    """'eeg_id=…, eeg_sub_id=…' for row position ``i`` (what a user can grep for)."""
    keys = [k for k in ("eeg_id", "eeg_sub_id") if k in df.columns]
    return ", ".join(f"{k}={df[k].iloc[i]}" for k in keys)


def problems_train_csv(df: pd.DataFrame, path: str | Path) -> list[str]:
    """Every schema problem of a train.csv table (empty list when it is valid)."""
    path = Path(path)
    problems = _missing(df, path, TRAIN_COLUMNS)
    if problems:
        return problems
    problems += _integer_problems(df, path, TRAIN_ID_COLUMNS)
    for col in TRAIN_OFFSET_COLUMNS:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() | (values < 0)
        if bad.any():
            problems.append(f"{path}: column {col!r}: {int(bad.sum())} missing or negative "
                            f"offsets (rows {list(df.index[bad][:5])}...)")  # fmt: skip
    unknown = ~df["expert_consensus"].isin(CLASS_LABELS)
    if unknown.any():
        problems.append(f"{path}: column 'expert_consensus': {int(unknown.sum())} values not in "
                        f"{CLASS_LABELS}, e.g. {df['expert_consensus'][unknown].iloc[0]!r}")  # fmt: skip
    dup = df.duplicated(["eeg_id", "eeg_sub_id"])
    if dup.any():
        problems.append(f"{path}: {int(dup.sum())} duplicate (eeg_id, eeg_sub_id) keys")
    return problems + vote_problems(df, path)


def problems_test_csv(df: pd.DataFrame, path: str | Path) -> list[str]:
    """Every schema problem of a test.csv table (empty list when it is valid)."""
    path = Path(path)
    problems = _missing(df, path, TEST_COLUMNS)
    return problems or _integer_problems(df, path, TEST_COLUMNS)


def unexpected_columns(df: pd.DataFrame, path: str | Path, known: tuple[str, ...]) -> str | None:
    """A warning naming the columns of a CSV table that iiic does not read (they are ignored)."""
    extra = [str(c) for c in df.columns if c not in known]
    if not extra:
        return None
    return f"{path}: column(s) {extra[:5]}{'...' if len(extra) > 5 else ''} not used (ignored)"


def _raise_if(problems: list[str]) -> None:
    if problems:
        more = f" (+{len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise DataError(problems[0] + more)


def read_train_csv(path: str | Path) -> pd.DataFrame:
    """Read and schema-check train.csv.

    Returns
    -------
    DataFrame
        One row per labelled window; ids and votes as int64, offsets (s) as float64.

    Raises
    ------
    DataError
        Missing/empty/unparsable file, missing columns, non-integer ids, negative or missing
        offsets, unknown ``expert_consensus``, duplicate keys, negative/non-integer/zero votes.
    """
    df = load_csv(path)
    _raise_if(problems_train_csv(df, path))
    return df.astype({c: np.int64 for c in (*TRAIN_ID_COLUMNS, *VOTE_COLUMNS)}).astype(
        {c: np.float64 for c in TRAIN_OFFSET_COLUMNS}
    )


def read_test_csv(path: str | Path) -> pd.DataFrame:
    """Read and schema-check test.csv (``spectrogram_id, eeg_id, patient_id`` as int64)."""
    df = load_csv(path)
    _raise_if(problems_test_csv(df, path))
    return df.astype({c: np.int64 for c in TEST_COLUMNS})
