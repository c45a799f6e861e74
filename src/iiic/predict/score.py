"""Score trained runs on a labelled Kaggle-layout directory: the real-data quality check.

``iiic score DATA --models RUN[,RUN] --out DIR [--baseline CSV]`` predicts every row of
``DATA/train.csv`` — the window ``[eeg_label_offset_seconds, +50 s)`` of
``train_eegs/<eeg_id>.parquet`` (and, for models that read them, the 600-s Kaggle spectrogram
window at ``spectrogram_label_offset_seconds``), exactly as training cuts it — and scores the
probabilities against the expert votes with Kaggle's KL (:mod:`iiic.evaluate.metric`), next to:

- ``uniform``: 1/6 per class;
- ``class prior``: the prior the probabilities are for — the predictor's target prior
  (``--prior``, :mod:`iiic.predict.prior`), else the runs' training class prior
  (``RUN_DIR/class_prior.json``, weighted like the runs): the bar a trained model must clear;
- an optional published baseline (``baseline=``, e.g. ``sparcnet_predictions.csv`` of
  ``iiic-real-segments``): a CSV of ``eeg_id`` (+ optional ``eeg_sub_id``) and the six vote
  columns holding probabilities, covering every scored row;
- with several runs, each run on its own.

Short segments: a row with a ``segment_seconds`` column (e.g. 10 for the 10-s IIIC segments, which
hold only the 10 s the raters labelled), or without it a row whose file ends before its 50-s
window does, is scored on ``[eeg_label_offset_seconds, + segment)`` by runs that read a central
crop of that length (``preprocess.crop_s``): a predictor that mixes such runs with 50-s runs is
narrowed to them (:meth:`Predictor.reading`; ``info["runs"]`` names them); nothing is padded.
Runs that all read 50 s cannot score such rows: :class:`ScoreError` says so.

EEG-only data (no ``train_spectrograms/``, e.g. ``iiic-real-segments``) is scored with every
kind of run: for runs that read Kaggle spectrograms, a row without a usable spectrogram file gets
the Kaggle-style spectrogram computed from its EEG (:mod:`iiic.predict.spec_source`); the row
table says which in ``spec_source`` (``kaggle``, ``eeg``, or ``none`` when no run reads
spectrograms) and ``info["spec_from_eeg"]`` says why per row. A row whose EEG window does not fit
its file raises :class:`iiic.data.errors.WindowError`: a score never silently leaves rows out.

:func:`write_score` writes ``score.json`` (summary + per-row table), ``score.md`` (the same as
tables), ``segments.csv`` and ``predictions.parquet`` (the OOF contract, so
``iiic evaluate DIR/predictions.parquet --out REPORT`` gives the full breakdown and figures).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from iiic.constants import (
    CLASS_LABELS,
    CLASSES,
    EEG_WINDOW_S,
    HIGH_QUALITY_VOTES,
    N_CLASSES,
    PRED_COLUMNS,
    SFREQ_HZ,
    VOTE_COLUMNS,
)
from iiic.data.labels import consensus, normalize_votes
from iiic.data.layout import DataDir, read_train_csv
from iiic.data.readers import eeg_n_times, read_eeg
from iiic.data.windows import eeg_window, row_label, spectrogram_window
from iiic.evaluate.metric import kl_per_row
from iiic.predict.predictor import Predictor
from iiic.predict.spec_source import SPEC_FILE, SPEC_FROM_EEG, RowSpectrograms
from iiic.utils import atomic_path, write_json_atomic, write_text_atomic

logger = logging.getLogger(__name__)

MODEL = "model"
"""Name of the scored runs' combined prediction (all runs, weighted / blended)."""
UNIFORM = "uniform"
PRIOR = "class prior"
NO_FOLD = -1
"""Fold value of the rows of ``predictions.parquet`` (they were never a training fold)."""
ROW_COLUMNS: tuple[str, ...] = ("eeg_id", "eeg_sub_id", "patient_id")
SUM_TOLERANCE = 1e-3
"""Largest allowed |row sum - 1| of a baseline's probabilities (published files round)."""
OPTIONAL_COLUMNS: tuple[str, ...] = ("source_name",)
"""Descriptive train.csv columns carried into the per-row table when present."""
SPEC_UNUSED = "none"
"""``spec_source`` of the rows when no scored run reads spectrograms."""


class ScoreError(ValueError):
    """Models and data that cannot be scored together (the message says why and what to do)."""


@dataclass
class ScoreResult:
    """Per-row table and summary of one scoring.

    ``rows``: keys, ``expert_consensus``, ``n_votes``, the raw votes, then per predictor the six
    probabilities ``<name>:<class>`` and ``kl:<name>``. ``summary``: predictor → metrics
    (see :func:`summarize`). ``info``: data directory, runs, settings.
    """

    rows: pd.DataFrame
    probs: dict[str, np.ndarray]
    summary: dict[str, dict]
    info: dict = field(default_factory=dict)


def baseline_name(path: str | Path) -> str:
    """'sparcnet_predictions.csv' → 'sparcnet' (the file stem without a ``_predictions`` suffix)."""
    stem = Path(path).name.split(".")[0]
    return stem.removesuffix("_predictions") or stem


def read_baseline(path: str | Path, rows: pd.DataFrame) -> np.ndarray:
    """Probabilities (n, 6) of a published baseline CSV, aligned to ``rows``.

    The CSV has ``eeg_id`` (+ ``eeg_sub_id`` when it holds several rows per EEG) and the six
    ``constants.VOTE_COLUMNS`` holding probabilities. Raises ScoreError naming the file when a
    column or a row is missing or a value is negative or not finite.
    """
    path = Path(path)
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise ScoreError(f"{path}: not a readable CSV ({exc})") from exc
    keys = [k for k in ("eeg_id", "eeg_sub_id") if k in df.columns]
    missing = [c for c in ("eeg_id", *VOTE_COLUMNS) if c not in df.columns]
    if missing:
        raise ScoreError(f"{path}: missing columns {missing}; expected eeg_id + {VOTE_COLUMNS}")
    if df.duplicated(keys).any():
        raise ScoreError(f"{path}: duplicate {keys}; add eeg_sub_id to tell the rows apart")
    merged = rows[keys].merge(df[[*keys, *VOTE_COLUMNS]], on=keys, how="left")
    probs = merged[list(VOTE_COLUMNS)].to_numpy(np.float64)
    absent = np.isnan(probs).any(axis=1)
    if absent.any():
        ids = rows.loc[absent, "eeg_id"].tolist()[:5]
        raise ScoreError(f"{path}: no probabilities for {int(absent.sum())} scored rows "
                         f"(eeg_id {ids}...)")  # fmt: skip
    if not np.isfinite(probs).all() or (probs < 0).any():
        raise ScoreError(f"{path}: probabilities must be finite and >= 0")
    bad = np.abs(probs.sum(axis=1) - 1.0) > SUM_TOLERANCE
    if bad.any():
        raise ScoreError(f"{path}: {int(bad.sum())} rows do not sum to 1 (are these vote counts "
                         "rather than probabilities?)")  # fmt: skip
    return probs


def segment_seconds(rows: pd.DataFrame, data: DataDir) -> np.ndarray:
    """Length of each row's scored segment, s: its ``segment_seconds`` when the column is there,
    else 50 s, or what the file holds after the offset when that is less (a short segment)."""
    if "segment_seconds" in rows.columns:
        seconds = pd.to_numeric(rows["segment_seconds"], errors="coerce").to_numpy(float)
        bad = ~np.isfinite(seconds) | (seconds <= 0) | (seconds > EEG_WINDOW_S)
        if bad.any():
            raise ScoreError(f"{data.train_csv}: segment_seconds must lie in (0, {EEG_WINDOW_S:g}]"
                             f" s; rows {rows.index[bad].tolist()[:5]}")  # fmt: skip
        return seconds
    out = np.full(len(rows), EEG_WINDOW_S)
    lengths: dict[int, float] = {}
    keys, offsets = rows["eeg_id"], rows["eeg_label_offset_seconds"]
    for i, (key, offset) in enumerate(zip(keys, offsets, strict=True)):
        if int(key) not in lengths:
            lengths[int(key)] = eeg_n_times(data.eeg_path(int(key), "train")) / SFREQ_HZ
        left = lengths[int(key)] - float(offset)
        out[i] = left if 0 < left < EEG_WINDOW_S else EEG_WINDOW_S  # <= 0: WindowError later
    return out


def _load_chunk(rows: pd.DataFrame, data: DataDir, need_spec: bool, spec_from_eeg: dict,
                length_s: float = EEG_WINDOW_S):  # fmt: skip
    """EEG windows (n, 20, length_s · 200) µV, spectrogram windows (n, 300, 4, 100) or None, and
    the rows' ``spec_source``; rows whose spectrogram came from the EEG go to ``spec_from_eeg``."""
    eegs, specs, sources, files = [], [], [], {}
    row_specs = RowSpectrograms(lambda i: data.spectrogram_path(i, "train"))
    for row in rows.to_dict("records"):
        label = row_label(row)
        key = int(row["eeg_id"])
        if key not in files:
            files[key] = read_eeg(data.eeg_path(key, "train"))
        eeg_offset = float(row["eeg_label_offset_seconds"])
        eegs.append(eeg_window(files[key], eeg_offset, length_s, row=label))
        if not need_spec:
            sources.append(SPEC_UNUSED)
            continue
        offset = float(row["spectrogram_label_offset_seconds"])
        spec, why = row_specs.window(row["spectrogram_id"],
                                     lambda s, o=offset, lbl=label: spectrogram_window(s, o, row=lbl),
                                     files[key], eeg_offset)  # fmt: skip
        specs.append(spec)
        sources.append(SPEC_FILE if why is None else SPEC_FROM_EEG)
        if why is not None:
            spec_from_eeg[label] = why
    return np.stack(eegs), (np.stack(specs) if need_spec else None), sources


def predict_rows(predictors: dict[str, Predictor], rows: pd.DataFrame, data: DataDir, *,
                 progress: bool = False, seconds: np.ndarray | None = None,
                 ) -> tuple[dict[str, np.ndarray], list[str], dict[str, str]]:  # fmt: skip
    """Probabilities (n, 6) of every predictor for the train.csv ``rows`` (order kept).

    Rows are read in chunks of the first predictor's batch size; each file is read once per chunk.
    Also returns each row's ``spec_source`` and, per row label, why its spectrogram was computed
    from the EEG. ``seconds``: each row's segment length, s (:func:`segment_seconds` when None).
    """
    need_spec = any(p.needs_spec for p in predictors.values())
    out = {name: np.empty((len(rows), N_CLASSES)) for name in predictors}
    sources = np.empty(len(rows), dtype=object)
    spec_from_eeg: dict[str, str] = {}
    chunk = next(iter(predictors.values())).batch_size
    seconds = segment_seconds(rows, data) if seconds is None else seconds
    for length_s in np.unique(seconds):
        idx = np.flatnonzero(seconds == length_s)
        n_samples = round(length_s * SFREQ_HZ)
        for name, p in predictors.items():
            if n_samples not in p.window_samples:
                raise ScoreError(
                    f"{data.train_csv}: {len(idx)} row(s) hold {length_s:g}-s segments; {name} "
                    f"reads windows of {' or '.join(f'{n / SFREQ_HZ:g}' for n in p.window_samples)}"
                    " s. Score them with runs that read a central crop of that length "
                    "(preprocess crop_s), e.g. the morph10_cpu preset"
                )  # fmt: skip
        starts = range(0, len(idx), chunk)
        for s in tqdm(starts, desc="score", unit="batch", disable=not progress):
            part = idx[s : s + chunk]
            eeg, spec, src = _load_chunk(rows.iloc[part], data, need_spec, spec_from_eeg, length_s)
            sources[part] = src
            for name, p in predictors.items():
                out[name][part] = p.predict(eeg, spec if p.needs_spec else None)
    return out, list(sources), spec_from_eeg


BOOTSTRAP_DRAWS = 10_000
"""Resamples of the rows for the bootstrap interval of the mean KL."""


def bootstrap_interval(kl: np.ndarray, level: float = 0.9, *, seed: int = 0) -> list[float]:
    """Percentile bootstrap interval (``level``, two-sided) of the mean of per-row ``kl``, over
    resampled rows (segments): [low, high], nats. Fixed seed: the same rows give the same
    interval."""
    rng = np.random.default_rng(seed)
    means = kl[rng.integers(0, len(kl), size=(BOOTSTRAP_DRAWS, len(kl)))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return [float(v) for v in np.percentile(means, [tail, 100 - tail])]


def summarize(votes: np.ndarray, probs: dict[str, np.ndarray]) -> dict[str, dict]:
    """Metrics of each predictor against raw ``votes`` (n, 6).

    Per predictor: ``kl`` (Kaggle's mean KL, nats), ``kl_ci90`` (bootstrap 90 % interval of that
    mean over rows), ``kl_median``, ``kl_max`` (the worst row), ``kl_max_high_votes`` and
    ``kl_high_votes`` (rows with >= 10 votes; None without such rows), ``accuracy`` and
    ``n_right`` (argmax = the class with the most votes) and ``kl_by_consensus`` (mean KL over the
    rows of each consensus class present).
    """
    labels = consensus(votes)
    high = votes.sum(axis=1) >= HIGH_QUALITY_VOTES
    out = {}
    for name, p in probs.items():
        kl = kl_per_row(votes, p)
        right = p.argmax(axis=1) == votes.argmax(axis=1)
        out[name] = {
            "kl": float(kl.mean()),
            "kl_ci90": bootstrap_interval(kl),
            "kl_median": float(np.median(kl)),
            "kl_max": float(kl.max()),
            "kl_high_votes": float(kl[high].mean()) if high.any() else None,
            "kl_max_high_votes": float(kl[high].max()) if high.any() else None,
            "accuracy": float(right.mean()),
            "n_right": int(right.sum()),
            "kl_by_consensus": {
                c: float(kl[labels == c].mean()) for c in CLASS_LABELS if (labels == c).any()
            },  # fmt: skip
        }
    return out


def _row_table(
    train: pd.DataFrame, probs: dict[str, np.ndarray], sources: list[str]
) -> pd.DataFrame:
    votes = train[list(VOTE_COLUMNS)].to_numpy(np.int64)
    cols = [*ROW_COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in train.columns)]
    table = train[cols].reset_index(drop=True).copy()
    table["spec_source"] = sources
    table["expert_consensus"] = consensus(votes)
    table["n_votes"] = votes.sum(axis=1)
    table[list(VOTE_COLUMNS)] = votes
    for name, p in probs.items():
        table[[f"{name}:{c}" for c in CLASSES]] = p
    for name, p in probs.items():
        table[f"kl:{name}"] = kl_per_row(votes, p)
    return table


def score_data_dir(predictor: Predictor, data_dir: str | Path, *,
                   baseline: str | Path | None = None, progress: bool = False) -> ScoreResult:  # fmt: skip
    """Predict and score every labelled row of ``data_dir/train.csv`` (see the module docstring).

    Parameters
    ----------
    predictor : Predictor
        The runs to score (combined as ``iiic predict`` combines them).
    data_dir : path
        Kaggle layout with ``train.csv`` (raw vote counts) and ``train_eegs/``.
    baseline : path, optional
        Published probabilities for the same rows (e.g. ``sparcnet_predictions.csv``).
    progress : bool
        A progress bar on stderr.

    Raises
    ------
    DataError
        train.csv missing or malformed, or a row's file missing / its window past the file's end.
    ScoreError
        A baseline CSV without every row.
    """
    data = DataDir(Path(data_dir))
    train = read_train_csv(data.train_csv).reset_index(drop=True)
    row_seconds = segment_seconds(train, data)
    seconds = sorted(set(row_seconds.tolist()))
    reader = predictor.reading(round(seconds[0] * SFREQ_HZ))
    if reader is not None and all(round(s * SFREQ_HZ) in reader.window_samples for s in seconds):
        predictor = reader  # short segments: the runs that read them
    predictors = {MODEL: predictor}
    if len(predictor.runs) > 1:  # each run on its own too
        names = [f"run {r.name}" for r in predictor.runs]
        names = [n if names.count(n) == 1 else f"{n} #{i}" for i, n in enumerate(names)]
        for i, name in enumerate(names):
            predictors[name] = predictor.only_run(i)
    probs, sources, spec_from_eeg = predict_rows(predictors, train, data, progress=progress,
                                                 seconds=row_seconds)  # fmt: skip
    if baseline is not None:
        probs[baseline_name(baseline)] = read_baseline(baseline, train)
    probs[UNIFORM] = np.full((len(train), N_CLASSES), 1.0 / N_CLASSES)
    prior = predictor.class_prior if predictor.target_prior is None else predictor.target_prior
    probs[PRIOR] = np.tile(prior, (len(train), 1))
    votes = train[list(VOTE_COLUMNS)].to_numpy(np.int64)
    normalize_votes(votes)  # raises on rows without votes
    info = {"data": str(data.root), "n_rows": len(train),
            "n_high_vote_rows": int((votes.sum(axis=1) >= HIGH_QUALITY_VOTES).sum()),
            "runs": [str(r.path) for r in predictor.runs], "backend": predictor.backend,
            "tta_flip": predictor.tta_flip, "blended": predictor.bias is not None,
            "baseline": None if baseline is None else str(baseline),
            "class_prior": [float(v) for v in predictor.class_prior],
            "spec_from_eeg": spec_from_eeg, "segment_seconds": seconds,
            "segment_seconds_text": [f"{s:g}-s" for s in seconds]}  # fmt: skip
    if spec_from_eeg:
        logger.warning("%d of %d rows: no usable Kaggle spectrogram, computed from the EEG",
                       len(spec_from_eeg), len(train))  # fmt: skip
    return ScoreResult(_row_table(train, probs, sources), probs, summarize(votes, probs), info)


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def _md(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def render_markdown(result: ScoreResult) -> str:
    """``score.md``: the summary per predictor, then one line per scored row."""
    info, summary, rows = result.info, result.summary, result.rows
    classes = [c for c in CLASS_LABELS if any(c in s["kl_by_consensus"] for s in summary.values())]
    lines = [
        "# Real-data score", "",
        f"Data: `{info['data']}` — {info['n_rows']} rows ({info['n_high_vote_rows']} with "
        f">= {HIGH_QUALITY_VOTES} votes). Runs: {', '.join(f'`{r}`' for r in info['runs'])}.",
        "KL = Kaggle's KL(votes ‖ prediction), nats, mean over rows (lower is better); "
        "accuracy = argmax against the expert consensus.", "",
    ]  # fmt: skip
    if info.get("spec_from_eeg"):
        lines[-1:] = [f"Spectrograms: {len(info['spec_from_eeg'])} of {info['n_rows']} rows had no "
                      "usable Kaggle spectrogram file and got one computed from their EEG "
                      "(column `spectrogram` = eeg).", ""]  # fmt: skip
    table = [[n, _fmt(s["kl"]), _fmt(s["kl_median"]), _fmt(s["kl_high_votes"]),
              f"{s['accuracy']:.0%}", *(_fmt(s["kl_by_consensus"].get(c)) for c in classes)]
             for n, s in summary.items()]  # fmt: skip
    head = ["predictor", "KL", "median KL", f"KL >={HIGH_QUALITY_VOTES} votes", "accuracy"]
    lines += _md([*head, *(f"KL {c}" for c in classes)], table)
    lines += ["", "## Per row", "", "Votes and probabilities in class order "
              f"{'/'.join(CLASS_LABELS)}.", ""]  # fmt: skip
    lines += _md(*_row_lines(rows, list(summary)))
    return "\n".join(lines) + "\n"


def _row_lines(rows: pd.DataFrame, names: list[str]) -> tuple[list[str], list[list[str]]]:
    name_col = "source_name" if "source_name" in rows.columns else "eeg_sub_id"
    spec = bool((rows["spec_source"] != SPEC_UNUSED).any())
    header = ["eeg_id", name_col, "consensus", "votes", *(["spectrogram"] if spec else []),
              f"{MODEL} probabilities", *(f"KL {n}" for n in names)]  # fmt: skip
    out = []
    for r in rows.to_dict("records"):
        votes = "/".join(str(int(r[c])) for c in VOTE_COLUMNS)
        probs = " ".join(f"{r[f'{MODEL}:{c}']:.2f}" for c in CLASSES)
        out.append([str(r["eeg_id"]), str(r[name_col]), r["expert_consensus"], votes,
                    *([r["spec_source"]] if spec else []), probs,
                    *(f"{r[f'kl:{n}']:.3f}" for n in names)])  # fmt: skip
    return header, out


def oof_table(result: ScoreResult) -> pd.DataFrame:
    """The model's predictions in the OOF contract (``iiic evaluate`` reads it), fold = -1."""
    rows = result.rows
    table = rows[list(ROW_COLUMNS)].copy()
    table["fold"] = NO_FOLD
    table[list(VOTE_COLUMNS)] = rows[list(VOTE_COLUMNS)].to_numpy()
    table[list(PRED_COLUMNS)] = result.probs[MODEL]
    return table


def write_score(result: ScoreResult, out_dir: str | Path) -> dict[str, Path]:
    """Write score.json, score.md, segments.csv and predictions.parquet into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {k: out_dir / f for k, f in (("json", "score.json"), ("md", "score.md"),
                                        ("csv", "segments.csv"), ("oof", "predictions.parquet"))}  # fmt: skip
    rows = json.loads(result.rows.to_json(orient="records"))  # numpy scalars → JSON numbers
    doc = {**result.info, "summary": result.summary, "rows": rows}
    write_json_atomic(paths["json"], doc)
    write_text_atomic(paths["md"], render_markdown(result))
    with atomic_path(paths["csv"]) as tmp:
        result.rows.to_csv(tmp, index=False)
    with atomic_path(paths["oof"]) as tmp:
        oof_table(result).to_parquet(tmp, index=False)
    logger.info("wrote %s", ", ".join(str(p) for p in paths.values()))
    return paths
