"""Write the synthetic twin: the Kaggle HMS layout + the true distributions (``generate_twin``).

Work is split by patient (all EEGs and spectrograms of one patient), so workers run in parallel
with bounded memory: each EEG is synthesised, written, and reduced to its spectrogram rows before
the next one. Every patient has its own random stream (``seed`` + patient id), so the output does
not depend on the number of workers.
"""

from __future__ import annotations

import logging
import multiprocessing
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from iiic import constants
from iiic.data.writers import write_eeg, write_spectrogram
from iiic.evaluate.metric import kl_divergence
from iiic.signal.kaggle_spec import kaggle_style_spectrogram
from iiic.synth import labels as L
from iiic.synth.generator import seen_strengths, synth_eeg
from iiic.synth.signals import sample_traits
from iiic.synth.spectro import TEST_EEG_START_S, assemble_spectrogram
from iiic.synth.stats import load_label_stats
from iiic.utils import atomic_path, bad_value, die_with_parent, write_json_atomic

logger = logging.getLogger(__name__)
SFREQ = constants.SFREQ_HZ
TWIN_REVISION = "v9"
"""The generator's revision (docs/results.md, "real-segment revisions"; v10 was tried and reverted): bump it
with every change to what the twin draws; model cards record it (``iiic.predict.card``)."""
TEST_SIGNAL_S = 120.0
"""Signal synthesised per test EEG (the 50-s file is its middle), s."""
MIN_TEST_EEGS = 2
MAX_DEFAULT_TEST_EEGS = 200
"""Default number of test EEGs: a quarter of the patients, within these bounds."""
TRUE_COLUMNS = tuple(f"true_{c}" for c in constants.CLASSES)
"""Columns of truth.parquet / test_truth.parquet holding the true vote distribution."""
SEEN_COLUMNS = (*(f"seen_{c}" for c in constants.CLASSES),
                *(f"seen50_{c}" for c in constants.CLASSES))  # fmt: skip
"""Columns of truth.parquet holding what the signal shows of each class: the mean realised
pattern amplitude (0..1, ``generator.seen_strengths``) over the central 10 s, then the 50 s."""
TRAIN_COLUMNS = (
    "eeg_id", "eeg_sub_id", "eeg_label_offset_seconds", "spectrogram_id", "spectrogram_sub_id",
    "spectrogram_label_offset_seconds", "label_id", "patient_id", "expert_consensus",
    *constants.VOTE_COLUMNS,
)  # fmt: skip


@dataclass(frozen=True)
class TwinSettings:
    """What a worker needs besides the patient plan."""

    out_dir: str
    seed: int
    spectrograms: bool = True


def _consensus(votes: np.ndarray) -> list[str]:
    return [constants.CLASS_LABELS[i] for i in votes.argmax(axis=1)]


def _patient_rows(
    plan: L.PatientPlan, raters: L.RaterPool, seen: list[np.ndarray], rng
) -> pd.DataFrame:
    """train.csv rows + truth of one patient (votes drawn with each row's real total)."""
    parts = []
    for eeg, eeg_seen in zip(plan.eegs, seen, strict=True):
        votes = raters.votes(eeg.p_signal, eeg.totals, rng)
        truth = raters.truth(eeg.p_signal)
        spec_off = eeg.offsets_s + eeg.spec_start_s - L.EEG_START_IN_SPEC_S
        df = pd.DataFrame({
            "eeg_id": eeg.eeg_id, "eeg_sub_id": np.arange(len(eeg.offsets_s)),
            "eeg_label_offset_seconds": eeg.offsets_s, "spectrogram_id": eeg.spectrogram_id,
            "spectrogram_label_offset_seconds": spec_off, "label_id": pd.array(eeg.label_ids, dtype="Int64"),
            "patient_id": plan.patient_id, "expert_consensus": _consensus(votes),
        })  # fmt: skip
        for j, col in enumerate(constants.VOTE_COLUMNS):
            df[col] = votes[:, j]
        for j, col in enumerate(TRUE_COLUMNS):
            df[col] = truth[:, j]
        for j, col in enumerate(SEEN_COLUMNS):
            df[col] = eeg_seen[:, j]
        parts.append(df)
    return pd.concat(parts, ignore_index=True)


def run_patient(plan: L.PatientPlan, settings: TwinSettings) -> tuple[pd.DataFrame, float]:
    """Synthesise and write one patient's EEGs and spectrograms; its rows and EEG hours."""
    out = Path(settings.out_dir)
    rng = np.random.default_rng([settings.seed, 3, plan.patient_id])
    traits = sample_traits(rng)
    spec_parts: dict[int, list[tuple[float, np.ndarray, np.ndarray]]] = {}
    seen = []
    for eeg in plan.eegs:
        n_times = round(eeg.duration_s * SFREQ)
        x, info = synth_eeg(eeg.offsets_s, eeg.p_signal, n_times, traits, rng)
        seen.append(seen_strengths(info["env"], eeg.offsets_s))
        write_eeg(out / "train_eegs" / f"{eeg.eeg_id}.parquet", x)
        if settings.spectrograms:
            times, rows = kaggle_style_spectrogram(x, SFREQ)
            spec_parts.setdefault(eeg.spectrogram_id, []).append((eeg.spec_start_s, times, rows))
    rows_df = _patient_rows(plan, L.RaterPool(settings.seed), seen, rng)
    for spec_id, parts in spec_parts.items():
        sel = rows_df["spectrogram_id"] == spec_id
        end_s = float(rows_df.loc[sel, "spectrogram_label_offset_seconds"].max())
        end_s += constants.SPEC_WINDOW_S
        times, spec = assemble_spectrogram(parts, end_s, rng)
        write_spectrogram(out / "train_spectrograms" / f"{spec_id}.parquet", times, spec, "int64")
    return rows_df, plan.eeg_hours


def _run_star(args: tuple[L.PatientPlan, TwinSettings]) -> tuple[pd.DataFrame, float]:
    return run_patient(*args)


def _finish_train(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sort like Kaggle, number spectrogram sub-windows; split train.csv and truth."""
    df = df.sort_values(["spectrogram_id", "spectrogram_label_offset_seconds", "eeg_id"])
    df["spectrogram_sub_id"] = df.groupby("spectrogram_id").cumcount()
    df = df.reset_index(drop=True)
    truth = df[["eeg_id", "eeg_sub_id", "patient_id", *TRUE_COLUMNS, *SEEN_COLUMNS]]
    return df[list(TRAIN_COLUMNS)], truth


def write_test(out: Path, n_test: int, seed: int, stats: dict) -> pd.DataFrame:
    """Test split: ``n_test`` EEGs of new patients, 50 s EEG + 600 s spectrogram each."""
    rng = np.random.default_rng([seed, 4])
    raters = L.RaterPool(seed)
    rows = []
    for _ in range(n_test):
        total, p = L.sample_period(stats, rng)
        # synthesise TEST_SIGNAL_S around the labelled window; the rest of the 600-s
        # spectrogram is filled from those rows (as for train spectrograms)
        n_sig = round(TEST_SIGNAL_S * SFREQ)
        eeg_start_s = (TEST_SIGNAL_S - constants.EEG_WINDOW_S) / 2
        x, _ = synth_eeg(np.array([eeg_start_s]), p[None], n_sig, sample_traits(rng), rng)
        times, rows_spec = kaggle_style_spectrogram(x, SFREQ)
        parts = [(TEST_EEG_START_S - eeg_start_s, times, rows_spec)]
        times, spec = assemble_spectrogram(parts, constants.SPEC_WINDOW_S, rng)
        eeg_id, spec_id = int(rng.integers(10**6, 2**32 - 1)), int(rng.integers(1000, 2**31 - 1))
        start = round(eeg_start_s * SFREQ)
        write_eeg(out / "test_eegs" / f"{eeg_id}.parquet",
                          x[:, start : start + constants.EEG_WINDOW_SAMPLES])  # fmt: skip
        write_spectrogram(out / "test_spectrograms" / f"{spec_id}.parquet", times, spec, "int16")
        votes = raters.votes(p[None], np.array([total]), rng)[0]
        rows.append({"spectrogram_id": spec_id, "eeg_id": eeg_id,
                     "patient_id": int(rng.integers(1000, 65536)),
                     **dict(zip(TRUE_COLUMNS, raters.truth(p[None])[0], strict=True)),
                     **dict(zip(constants.VOTE_COLUMNS, votes, strict=True))})  # fmt: skip
    return pd.DataFrame(rows)


def _write_csv(path: Path, df: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def _write_parquet(path: Path, df: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def select_patients(
    df: pd.DataFrame, *, fraction: float | None, n_patients: int | None, seed: int
) -> pd.DataFrame:
    """Rows of a random subset of whole patients (``fraction`` of them or ``n_patients``)."""
    patients = np.sort(df["patient_id"].unique())
    if fraction is not None and not 0 < fraction <= 1:
        raise ValueError(bad_value("fraction", "a share in (0, 1]", fraction))
    if n_patients is not None and n_patients < 1:
        raise ValueError(bad_value("n_patients", ">= 1", n_patients))
    n = len(patients)
    if fraction is not None:
        n = max(1, round(fraction * n))
    if n_patients is not None:
        n = min(n, n_patients)
    chosen = np.random.default_rng([seed, 5]).choice(patients, size=n, replace=False)
    return df[df["patient_id"].isin(chosen)]


def _plans(labels, n_patients, fraction, seed, stats, caps: dict) -> list[L.PatientPlan]:
    if labels is None:
        return L.plan_standalone(n_patients or 20, seed, stats, **caps)
    path = Path(labels)
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: cannot read labels ({err})") from err
    missing = {"eeg_id", "eeg_label_offset_seconds", "spectrogram_id", "patient_id",
               "spectrogram_label_offset_seconds", *constants.VOTE_COLUMNS} - set(df.columns)  # fmt: skip
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")
    df = select_patients(df, fraction=fraction, n_patients=n_patients, seed=seed)
    return L.plan_from_labels(df, seed)


def generate_twin(
    out_dir: str | Path,
    *,
    n_patients: int | None = 20,
    seed: int = 0,
    labels: str | Path | None = None,
    fraction: float | None = None,
    n_test: int | None = None,
    workers: int = 1,
    progress: bool = False,
    max_eegs_per_patient: int | None = None,
    max_rows_per_eeg: int | None = None,
    overwrite: bool = False,
    spectrograms: bool = True,
) -> Path:
    """Write a synthetic twin of the HMS dataset into ``out_dir`` and return it.

    Parameters
    ----------
    out_dir : path
        Output folder (created): train.csv, train_eegs/, train_spectrograms/, test.csv,
        test_eegs/, test_spectrograms/, sample_submission.csv, truth.parquet,
        test_truth.parquet, synth_summary.json.
    n_patients : int or None
        Standalone: number of patients (default 20). With ``labels``: at most this many patients.
    seed : int
        Everything is deterministic for a seed (whatever ``workers``).
    labels : path or None
        A real train.csv: reproduce its ids, offsets, patients and vote totals.
    fraction : float or None
        With ``labels``: the share of whole patients to keep, (0, 1].
    n_test : int or None
        Number of test EEGs (default: a quarter of the patients, within 2..200).
    workers : int
        Parallel worker processes.
    progress : bool
        Show a progress bar (EEG hours).
    max_eegs_per_patient, max_rows_per_eeg : int or None
        Standalone only: caps on the sampled structure, for small, fast fixtures (e.g. 2 and 4
        give a 4-patient twin of a few MB in about a second).
    overwrite : bool
        Replace a twin already in ``out_dir`` (its layout files and folders only); without it an
        existing layout raises ``ValueError`` (stale files would mix with the new twin).
    spectrograms : bool
        Write the train spectrograms (default True). False: EEG only (train_spectrograms/ stays
        empty; cache it with ``eeg_only``) — for EEG models at scale, in a third less time.
    """
    out = Path(out_dir)
    _prepare_out_dir(out, overwrite)
    stats = load_label_stats()
    caps = {"max_eegs_per_patient": max_eegs_per_patient, "max_rows_per_eeg": max_rows_per_eeg}
    plans = _plans(labels, n_patients, fraction, seed, stats, caps)
    settings = TwinSettings(str(out), seed, spectrograms)
    for sub in LAYOUT_DIRS:
        (out / sub).mkdir(parents=True, exist_ok=True)
    plans.sort(key=lambda p: -p.eeg_hours)  # big patients first: better load balance
    results = _run_all(plans, settings, workers, progress)
    train, truth = _finish_train(pd.concat([r[0] for r in results], ignore_index=True))
    if n_test is None:
        n_test = int(np.clip(len(plans) // 4, MIN_TEST_EEGS, MAX_DEFAULT_TEST_EEGS))
    test = write_test(out, n_test, seed, stats)
    _write_csv(out / "train.csv", train)
    _write_parquet(out / "truth.parquet", truth)
    _write_csv(out / "test.csv", test[["spectrogram_id", "eeg_id", "patient_id"]])
    _write_parquet(out / "test_truth.parquet", test[["eeg_id", *TRUE_COLUMNS,
                                                      *constants.VOTE_COLUMNS]])  # fmt: skip
    sub = pd.DataFrame({"eeg_id": test["eeg_id"]})
    for col in constants.VOTE_COLUMNS:
        sub[col] = 1 / constants.N_CLASSES
    _write_csv(out / "sample_submission.csv", sub)
    votes = train[list(constants.VOTE_COLUMNS)].to_numpy()
    summary = {
        "seed": seed, "mode": "labels" if labels else "standalone",
        "labels": Path(labels).name if labels else None,  # no machine paths in summaries
        "n_patients": len(plans),
        "n_eegs": int(train["eeg_id"].nunique()), "n_rows": len(train),
        "n_spectrograms": int(train["spectrogram_id"].nunique()), "n_test": n_test,
        "eeg_hours": float(sum(r[1] for r in results)), "spectrograms": spectrograms,
        "oracle_kl": kl_divergence(votes, truth[list(TRUE_COLUMNS)].to_numpy()),
        "oracle_kl_ge10_votes": _oracle_ge10(votes, truth),
    }  # fmt: skip
    write_json_atomic(out / "synth_summary.json", summary)
    logger.info("synthetic twin in %s: %s", out, summary)
    return out


LAYOUT_DIRS = ("train_eegs", "train_spectrograms", "test_eegs", "test_spectrograms")
LAYOUT_FILES = ("train.csv", "test.csv", "sample_submission.csv", "truth.parquet",
                "test_truth.parquet", "synth_summary.json")  # fmt: skip


def _prepare_out_dir(out: Path, overwrite: bool) -> None:
    """Refuse to mix with an existing layout unless ``overwrite``; then remove it."""
    existing = [n for n in (*LAYOUT_DIRS, *LAYOUT_FILES) if (out / n).exists()]
    if not existing:
        return
    if not overwrite:
        raise ValueError(
            f"{out}: already holds a dataset layout ({', '.join(existing[:3])}, ...); "
            "choose an empty folder or pass overwrite=True (CLI: --overwrite)"
        )
    for name in existing:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def _oracle_ge10(votes: np.ndarray, truth: pd.DataFrame) -> float | None:
    sel = votes.sum(axis=1) >= constants.HIGH_QUALITY_VOTES
    if not sel.any():
        return None
    return kl_divergence(votes[sel], truth[list(TRUE_COLUMNS)].to_numpy()[sel])


def _run_all(plans, settings: TwinSettings, workers: int, progress: bool) -> list:
    from tqdm import tqdm

    total_h = sum(p.eeg_hours for p in plans)
    bar = tqdm(total=round(total_h, 1), unit="EEG-h", disable=not progress, desc="synth",
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} EEG-h "
                          "[{elapsed}<{remaining}, {rate_fmt}]")  # fmt: skip
    results = []
    tasks = [(p, settings) for p in plans]
    if workers <= 1:
        iterator = map(_run_star, tasks)
        for res in iterator:
            results.append(res)
            bar.update(res[1])
    else:
        with multiprocessing.get_context("fork").Pool(workers, die_with_parent) as pool:
            for res in pool.imap_unordered(_run_star, tasks):
                results.append(res)
                bar.update(res[1])
    bar.close()
    return results
