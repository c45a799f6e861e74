"""``iiic validate``: check a whole Kaggle-layout directory and report every problem.

Each referenced parquet file is read exactly once (a process pool over files; a progress bar on
stderr), which gives its length, its 'time' column and its NaN share. Then every row's windows
are checked against those sizes with the rules of :mod:`iiic.data.windows`.

Errors (``iiic validate`` exits 1): unreadable CSV or missing columns, bad ids/offsets/votes,
a referenced file that is missing or unreadable, an EEG holding non-physical values (beyond
±1 V or ±inf: a corrupt file, :mod:`iiic.data.plausibility`), a window out of range or without
data (every electrode NaN), a test file that is not exactly 50 s / 600 s, no train.csv and no
test.csv. Warnings (exit 0): NaN in a file (with its share), all-NaN spectrogram rows, files in
the folders that no row references, an eeg_id listed twice in test.csv, CSV columns iiic does
not read.

``eeg_only=True`` (``--eeg-only``) skips spectrograms: for EEG-only sets such as the 12 real IIIC
segments, which come without spectrogram files. Without it, their absence is reported as errors.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, computed_field
from tqdm import tqdm

from iiic.constants import (
    CLASS_LABELS,
    EEG_WINDOW_S,
    EEG_WINDOW_SAMPLES,
    HIGH_QUALITY_VOTES,
    QUALITY_BINS,
    SFREQ_HZ,
    SPEC_STEP_S,
    SPEC_WINDOW_ROWS,
    SPEC_WINDOW_S,
    VOTE_COLUMNS,
)
from iiic.data import labels
from iiic.data.errors import DataError
from iiic.data.layout import (
    TEST_COLUMNS,
    TRAIN_COLUMNS,
    TRAIN_OPTIONAL_COLUMNS,
    DataDir,
    load_csv,
    problems_test_csv,
    problems_train_csv,
    unexpected_columns,
)
from iiic.data.plausibility import N_ELECTRODES, describe_nonphysical, nonphysical
from iiic.data.readers import read_eeg, read_spectrogram
from iiic.data.windows import eeg_window_slice, row_label, spectrogram_window_slice
from iiic.utils import die_with_parent, process_pool

log = logging.getLogger(__name__)

MAX_EXAMPLES = 3
"""Row examples named in a 'missing file' message."""


class ValidationReport(BaseModel):
    """What ``iiic validate`` found (``model_dump_json`` is the ``--json`` output)."""

    data_dir: str
    counts: dict[str, int] = {}
    class_distribution: dict[str, int] = {}
    quality: dict[str, int] = {}
    agreement: dict[str, int] = {}
    nan_share: dict[str, float] = {}
    """Share of NaN values per file, for files with any NaN."""
    errors: list[str] = []
    warnings: list[str] = []

    @computed_field
    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class FileInfo:
    """What one read of one parquet file tells: size, times, NaN share, or the error."""

    kind: str
    path: str
    n_rows: int = 0
    nan_share: float = 0.0
    nan_rows: int = 0
    times_s: np.ndarray | None = None
    error: str | None = None
    no_data: np.ndarray | None = None
    """EEG: (n_runs, 2) sample [start, stop) of the stretches where every electrode is NaN."""


def _no_data_runs(data: np.ndarray) -> np.ndarray:
    """(n_runs, 2) [start, stop) samples where every electrode of (20, T) ``data`` is NaN."""
    empty = np.isnan(data[:N_ELECTRODES]).all(axis=0).astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], empty, [0]])))
    return edges.reshape(-1, 2)


def _inspect_eeg(path: str) -> FileInfo:
    eeg = read_eeg(path)
    mask = nonphysical(eeg.data)
    if mask.any():
        return FileInfo("eeg", path, error=f"{path}: {describe_nonphysical(eeg.data, mask)}")
    nan_share = np.count_nonzero(np.isnan(eeg.data)) / eeg.data.size
    return FileInfo("eeg", path, eeg.n_times, nan_share, no_data=_no_data_runs(eeg.data))


def inspect_file(kind: str, path: str) -> FileInfo:
    """Read one EEG ("eeg") or spectrogram ("spectrogram") file; errors are returned, not raised."""
    try:
        if kind == "eeg":
            return _inspect_eeg(path)
        spec = read_spectrogram(path)
        nan = np.isnan(spec.data)
        return FileInfo(kind, path, len(spec.times_s), float(nan.mean()),
                        int(nan.all(axis=(1, 2)).sum()), spec.times_s)  # fmt: skip
    except DataError as exc:
        return FileInfo(kind, path, error=str(exc))


def _inspect_star(args: tuple[str, str]) -> FileInfo:
    return inspect_file(*args)


def inspect_files(
    tasks: list[tuple[str, str]], workers: int = 2, progress: bool = True
) -> Iterator[FileInfo]:
    """Read each (kind, path) once, in ``workers`` processes (1: in this process), in order."""
    bar = {"total": len(tasks), "desc": "validate", "unit": "file", "file": sys.stderr,
           "disable": None if progress else True}  # fmt: skip
    if workers <= 1 or len(tasks) < 2:
        yield from tqdm(map(_inspect_star, tasks), **bar)
        return
    chunk = max(1, min(64, len(tasks) // (workers * 8)))
    with process_pool(workers, initializer=die_with_parent) as pool:
        yield from tqdm(pool.map(_inspect_star, tasks, chunksize=chunk), **bar)


def valid_rows(df: pd.DataFrame) -> np.ndarray:
    """Mask of rows with usable votes (non-negative integers, total > 0) and offsets."""
    v = df[list(VOTE_COLUMNS)].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    ok = np.isfinite(v).all(axis=1) & (v >= 0).all(axis=1) & (v == np.round(v)).all(axis=1)
    ok &= np.nan_to_num(v).sum(axis=1) > 0
    for col in ("eeg_label_offset_seconds", "spectrogram_label_offset_seconds"):
        off = pd.to_numeric(df[col], errors="coerce").to_numpy(np.float64)
        ok &= np.isfinite(off) & (off >= 0)
    for col in ("eeg_id", "spectrogram_id", "patient_id"):
        ok &= pd.to_numeric(df[col], errors="coerce").notna().to_numpy()
    return ok


def _load(path: Path, check: Callable, report: ValidationReport) -> pd.DataFrame | None:
    try:
        df = load_csv(path)
    except DataError as exc:
        report.errors.append(str(exc))
        return None
    problems = check(df, path)
    report.errors.extend(problems)
    if any("missing column" in p for p in problems):
        return None
    return df


def _window_errors(
    df: pd.DataFrame, kind: str, infos: dict[str, FileInfo], data: DataDir, split: str
) -> list[str]:
    """Messages for rows whose window does not fit in their (readable) file (vectorised per file;
    messages come from :mod:`iiic.data.windows`, so they match the readers' errors)."""
    id_col, off_col = (("eeg_id", "eeg_label_offset_seconds") if kind == "eeg"
                       else ("spectrogram_id", "spectrogram_label_offset_seconds"))  # fmt: skip
    folder = data.folder(kind, split)
    ids = df[id_col].to_numpy(np.int64)
    offsets = pd.to_numeric(df[off_col]).to_numpy(np.float64)
    errors = []
    for file_id, pos in _groups(ids).items():
        info = infos.get(f"{folder}/{file_id}.parquet")
        if info is None or info.error:
            continue
        if kind == "eeg":
            start = np.round(offsets[pos] * SFREQ_HZ)
            bad = pos[start + EEG_WINDOW_SAMPLES > info.n_rows]
            errors += _no_data_errors(df, pos[start + EEG_WINDOW_SAMPLES <= info.n_rows], info)
        else:
            bad = pos[~_spec_windows_ok(info.times_s, offsets[pos])]
        for i in bad:
            label = row_label(
                {"eeg_id": df["eeg_id"].iat[i], "eeg_sub_id": df["eeg_sub_id"].iat[i]}
            )
            try:
                if kind == "eeg":
                    eeg_window_slice(info.n_rows, offsets[i], source=info.path, row=label)
                else:
                    spectrogram_window_slice(info.times_s, offsets[i], source=info.path, row=label)
            except DataError as exc:
                errors.append(str(exc))
    return errors


def _no_data_errors(df: pd.DataFrame, pos: np.ndarray, info: FileInfo) -> list[str]:
    """Messages for the rows at ``pos`` whose 50-s window lies inside a stretch without data."""
    if info.no_data is None or not len(info.no_data) or not len(pos):
        return []
    offsets = pd.to_numeric(df["eeg_label_offset_seconds"]).to_numpy(np.float64)[pos]
    start = np.round(offsets * SFREQ_HZ)[:, None]
    runs = info.no_data[None, :, :]
    inside = ((runs[..., 0] <= start) & (start + EEG_WINDOW_SAMPLES <= runs[..., 1])).any(axis=1)
    errors = []
    for k in np.flatnonzero(inside):
        label = row_label({key: df[key].iat[pos[k]] for key in ("eeg_id", "eeg_sub_id")})
        errors.append(f"{info.path}: {label}: EEG window [{offsets[k]:g}, "
                      f"{offsets[k] + EEG_WINDOW_S:g}) s has no data (every electrode is NaN)")  # fmt: skip
    return errors


def _spec_windows_ok(times_s: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Vectorised :func:`spectrogram_window_slice` check: True where the window is valid."""
    half = SPEC_STEP_S / 2
    inside = (offsets >= times_s[0] - half) & (offsets + SPEC_WINDOW_S <= times_s[-1] + half)
    n = np.searchsorted(times_s, offsets + SPEC_WINDOW_S) - np.searchsorted(times_s, offsets)
    return inside & (n == SPEC_WINDOW_ROWS)


def _groups(ids: np.ndarray) -> dict[int, np.ndarray]:
    """id → positions of the rows holding it (positions in ascending order)."""
    order = np.argsort(ids, kind="stable")
    uniq, first = np.unique(ids[order], return_index=True)
    return {int(u): p for u, p in zip(uniq, np.split(order, first[1:]), strict=True)}


def _test_errors(df: pd.DataFrame, infos: dict[str, FileInfo], data: DataDir) -> Iterable[str]:
    """Test files must hold exactly one window: 50 s of EEG, 600 s of spectrogram."""
    for row in df[["eeg_id", "spectrogram_id"]].itertuples(index=False):
        label = f"eeg_id={row.eeg_id}"
        eeg = infos.get(str(data.eeg_path(row.eeg_id, "test")))
        if eeg is not None and not eeg.error and eeg.n_rows != EEG_WINDOW_SAMPLES:
            yield (f"{eeg.path}: {label}: a test EEG must hold exactly {EEG_WINDOW_S:g} s, "
                   f"it has {eeg.n_rows} samples")  # fmt: skip
        elif eeg is not None and not eeg.error and [0, eeg.n_rows] in eeg.no_data.tolist():
            yield f"{eeg.path}: {label}: no data (every electrode is NaN)"
        spec = infos.get(str(data.spectrogram_path(row.spectrogram_id, "test")))
        if spec is not None and not spec.error:
            try:
                sl = spectrogram_window_slice(spec.times_s, 0.0, source=spec.path, row=label)
                if sl.stop - sl.start != spec.n_rows:
                    yield f"{spec.path}: {label}: a test spectrogram must hold exactly 600 s"
            except DataError as exc:
                yield str(exc)


@dataclass
class _Refs:
    """The rows of one table that reference one file (count + a few examples for messages)."""

    kind: str
    split: str
    count: int
    examples: list[str]

    def describe(self) -> str:
        return f"referenced by {self.count} row(s) of {self.split}.csv ({'; '.join(self.examples)})"


def _file_tasks(tables: dict[str, pd.DataFrame], data: DataDir, eeg_only: bool) -> dict[str, _Refs]:
    """path → the rows referencing it, for every file the tables reference."""
    tasks: dict[str, _Refs] = {}
    for split, df in tables.items():
        kinds = ("eeg",) if eeg_only else ("eeg", "spectrogram")
        eeg_ids = df["eeg_id"].to_numpy(np.int64)
        sub_ids = df["eeg_sub_id"].to_numpy() if "eeg_sub_id" in df.columns else None
        for kind in kinds:
            folder = data.folder(kind, split)
            col = "eeg_id" if kind == "eeg" else "spectrogram_id"
            for file_id, pos in _groups(df[col].to_numpy(np.int64)).items():
                examples = [f"eeg_id={eeg_ids[i]}" + (f", eeg_sub_id={sub_ids[i]}"
                            if sub_ids is not None else "") for i in pos[:MAX_EXAMPLES]]  # fmt: skip
                tasks[f"{folder}/{file_id}.parquet"] = _Refs(kind, split, len(pos), examples)
    return tasks


def _record_file(info: FileInfo, refs: _Refs, report: ValidationReport) -> None:
    if info.error:
        report.errors.append(f"{info.error} [{refs.describe()}]")
        return
    if info.nan_share > 0:
        report.nan_share[info.path] = info.nan_share
        extra = f", {info.nan_rows} all-NaN rows" if info.kind == "spectrogram" else ""
        report.warnings.append(f"{info.path}: {info.nan_share:.2%} of values are NaN{extra}")


def _unreferenced(data: DataDir, tasks: dict, eeg_only: bool, report: ValidationReport) -> None:
    for split in ("train", "test"):
        for kind in ("eeg",) if eeg_only else ("eeg", "spectrogram"):
            folder = data.folder(kind, split)
            if not folder.is_dir():
                continue
            extra = [p for p in folder.glob("*.parquet") if str(p) not in tasks]
            if extra:
                report.warnings.append(f"{folder}: {len(extra)} file(s) not referenced by "
                                       f"{split}.csv, e.g. {extra[0].name}")  # fmt: skip


def _summarise(train: pd.DataFrame | None, test: pd.DataFrame | None, report: ValidationReport):
    counts = report.counts
    counts["train_rows"] = 0 if train is None else len(train)
    counts["test_rows"] = 0 if test is None else len(test)
    frames = [f for f in (train, test) if f is not None]
    for name, col in (("eegs", "eeg_id"), ("spectrograms", "spectrogram_id"),
                      ("patients", "patient_id")):  # fmt: skip
        counts[name] = int(pd.concat([f[col] for f in frames]).nunique()) if frames else 0
    if train is None:
        return
    good = train[valid_rows(train)].astype({c: np.int64 for c in VOTE_COLUMNS})
    counts["train_rows_valid"] = len(good)
    if good.empty:
        return
    ann = labels.annotate(good)
    counts[f"rows_ge_{HIGH_QUALITY_VOTES}_votes"] = int(
        (ann.total_votes >= HIGH_QUALITY_VOTES).sum()
    )
    counts["stationary_periods"] = int(ann.period_id.nunique())
    cons = pd.Series(labels.consensus(good)).value_counts()
    report.class_distribution = {c: int(cons.get(c, 0)) for c in CLASS_LABELS}
    report.quality = {name: int((ann.quality == name).sum()) for name, _, _ in QUALITY_BINS}
    report.agreement = {c: int((ann.agreement == c).sum()) for c in labels.AGREEMENT_CATEGORIES}


def _csv_warnings(raw: dict[str, pd.DataFrame], data: DataDir, report: ValidationReport) -> None:
    """Columns iiic does not read; eeg_ids listed twice in test.csv (predicted once)."""
    known = {"train": (*TRAIN_COLUMNS, *TRAIN_OPTIONAL_COLUMNS), "test": TEST_COLUMNS}
    for split, df in raw.items():
        extra = unexpected_columns(df, data.root / f"{split}.csv", known[split])
        report.warnings += [extra] if extra else []
    if "test" in raw:
        ids = pd.to_numeric(raw["test"]["eeg_id"], errors="coerce")
        dup = sorted({int(i) for i in ids[ids.duplicated()].dropna()})
        if dup:
            report.warnings.append(f"{data.test_csv}: {len(dup)} eeg_id(s) listed more than once, "
                                   f"e.g. {dup[:5]}; iiic predict writes one row per eeg_id")  # fmt: skip


def validate_data_dir(
    root: str | Path, *, workers: int = 2, eeg_only: bool = False, progress: bool = True
) -> ValidationReport:
    """Validate a Kaggle-layout directory; never raises for bad data (all goes in the report).

    Parameters
    ----------
    root : path of the directory (train.csv and/or test.csv + the parquet folders)
    workers : processes reading files (1: read in this process)
    eeg_only : skip spectrogram files (EEG-only data sets)
    progress : show a progress bar on stderr (only when stderr is a terminal)
    """
    data = DataDir(Path(root))
    report = ValidationReport(data_dir=str(data.root))
    if not data.root.is_dir():
        report.errors.append(f"{data.root}: not a directory")
        return report
    raw: dict[str, pd.DataFrame] = {}
    for split, path, check in (("train", data.train_csv, problems_train_csv),
                               ("test", data.test_csv, problems_test_csv)):  # fmt: skip
        if path.exists():
            df = _load(path, check, report)
            if df is not None:
                raw[split] = df
    _csv_warnings(raw, data, report)
    tables = {k: df[valid_rows(df)] if k == "train" else df for k, df in raw.items()}
    if not data.train_csv.exists() and not data.test_csv.exists():
        report.errors.append(f"{data.root}: neither train.csv nor test.csv found")
    tasks = _file_tasks(tables, data, eeg_only)
    infos: dict[str, FileInfo] = {}
    for info in inspect_files([(v.kind, p) for p, v in tasks.items()], workers, progress):
        infos[info.path] = info
        _record_file(info, tasks[info.path], report)
    counts = report.counts
    counts["files_read"] = sum(not i.error for i in infos.values())
    counts["files_unreadable_or_missing"] = sum(bool(i.error) for i in infos.values())
    if "train" in tables:
        report.errors.extend(_window_errors(tables["train"], "eeg", infos, data, "train"))
        if not eeg_only:
            report.errors.extend(
                _window_errors(tables["train"], "spectrogram", infos, data, "train")
            )
    if "test" in tables:
        report.errors.extend(_test_errors(tables["test"], infos, data))
    _unreferenced(data, tasks, eeg_only, report)
    _summarise(raw.get("train"), raw.get("test"), report)
    return report
