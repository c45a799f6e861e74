"""Learning curve of eeg1d on the labels-driven twin, with the oracle, the achievable floor and
the class prior at each point (issue 16).

One twin is built once (driven by the real train.csv: 1,945 patients, 106,519 rows; EEG only),
cached once, and its eeg1d_cpu model-ready inputs prepared once. Each point is a nested random
subset of whole patients (the first N of one fixed permutation), served to ``train_kfold`` as a
view of that cache (its rows.parquet filtered; the arrays and model-ready inputs linked), with
folds assigned within the subset (patient-grouped, seed 42):

- points with fewer than ``--one-fold-from`` patients: 3 folds, all trained (OOF on every row);
- larger points: fold 0 of 5 trained (OOF on a fifth of the rows, ~21,000 at full scale);
- every point trains the eeg1d_cpu schedule (2 epochs of every row at lr 3e-3 + 1 epoch of the
  >= 10-vote rows at 1e-3, EMA, early stopping) with at most ``--max-steps`` steps of 16 windows
  per epoch (a random subset of the rows each epoch; binds only at the largest points).
- ``sparcnet`` (the clinical baseline preset: its own schedule, 5 epochs of at most 40 steps of
  32 windows, per-window inputs) at ``--sparcnet-points``, on the same folds.

At each point, on the same OOF rows:

- ``oracle``: KL(votes || the twin's true distribution) — the floor with finitely many votes;
- ``floor``: the achievable floor — a gradient-boosted classifier given what the signal shows
  of each class (``truth.parquet`` ``seen_*``: the realised pattern amplitude over the central
  10 s and the 50 s, before background and artifacts), trained on the same folds. Its excess
  over the oracle is the part no model of the signal can recover (the share of a class below the
  twin's 5 % trace threshold, saturation above 85 %, intermittency);
- ``prior``: the training folds' mean vote distribution.

Writes benchmarks/results/learning_curve.json (rows: patients, folds, epochs, minutes, kl_ge10,
kl_all, oracle_ge10, prior_ge10, model, ...) and docs/img/learning_curve.png.
``--quick`` (a 10-patient standalone twin, points 5 and 10, a few steps) is what the test suite
runs; it writes learning_curve_quick.json and no figure unless asked.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from iiic.constants import CLASSES, HIGH_QUALITY_VOTES, PRED_COLUMNS, VOTE_COLUMNS
from iiic.data.cache import EEG_FILE, EEG_INDEX, MANIFEST_FILE, REPORT_FILE, ROWS_FILE, Cache
from iiic.evaluate.metric import kl_divergence
from iiic.synth.twin import SEEN_COLUMNS, TRUE_COLUMNS
from iiic.train.config import TrainConfig, load_config, with_epochs
from iiic.train.kfold import CACHE_SUBDIR, train_kfold
from iiic.train.ready import READY_DIR, build_ready
from iiic.train.rows import prepare_rows
from iiic.utils import machine_info, write_json_atomic
from readme_table import Load, Rows

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"
FIGURE = REPO / "docs" / "img" / "learning_curve.png"
SHARED = Path(os.environ.get("IIIC_SHARED_DATA", REPO.parent / "shared" / "data"))
REAL_LABELS = SHARED / "hms-train-labels-reconstructed" / "train.csv.gz"
MODEL_PRESET = "eeg1d_cpu"
PERMUTATION_SEED = 16
"""Seed of the patient permutation whose prefixes are the points (nested subsets)."""


# --- data --------------------------------------------------------------------------------------
def build_data(twin: Path, args: argparse.Namespace) -> tuple[Path, dict]:
    """The twin (built when absent), its EEG-only cache and the eeg1d_cpu model-ready inputs."""
    from iiic.data.cache import build_cache
    from iiic.synth.twin import generate_twin

    timings: dict = {}
    if not (twin / "synth_summary.json").is_file():
        t0 = time.perf_counter()
        labels = None if args.quick or not REAL_LABELS.is_file() else REAL_LABELS
        generate_twin(twin, n_patients=10 if args.quick else None, seed=args.seed, labels=labels,
                      workers=args.workers, spectrograms=False, n_test=2)  # fmt: skip
        timings["twin_min"] = (time.perf_counter() - t0) / 60
    cache_dir = twin / CACHE_SUBDIR
    if not (cache_dir / MANIFEST_FILE).is_file():
        t0 = time.perf_counter()
        build_cache(twin, cache_dir, workers=args.workers, eeg_only=True, progress=False)
        timings["cache_min"] = (time.perf_counter() - t0) / 60
    t0 = time.perf_counter()
    build_ready(
        cache_dir, load_config(MODEL_PRESET).preprocess, workers=args.workers, progress=False
    )
    timings["ready_min"] = (time.perf_counter() - t0) / 60
    return cache_dir, timings


def patient_order(cache_dir: Path) -> np.ndarray:
    """All patients of the cache in one fixed random order (points take its prefixes)."""
    patients = np.sort(
        pd.read_parquet(cache_dir / ROWS_FILE, columns=["patient_id"])["patient_id"].unique()
    )
    return np.random.default_rng(PERMUTATION_SEED).permutation(patients)


def subset_view(cache_dir: Path, patients: np.ndarray, out: Path) -> Path:
    """A cache directory holding only ``patients``' rows; arrays and model-ready inputs linked."""
    out.mkdir(parents=True, exist_ok=True)
    for name in (EEG_FILE, EEG_INDEX, MANIFEST_FILE, REPORT_FILE, READY_DIR):
        link = out / name
        if not link.exists():
            link.symlink_to((cache_dir / name).resolve())
    rows = pd.read_parquet(cache_dir / ROWS_FILE)
    rows = rows[rows["patient_id"].isin(patients)].drop(columns="fold")  # folds: within the subset
    rows.to_parquet(out / ROWS_FILE, index=False)
    return out


# --- configs -----------------------------------------------------------------------------------
def point_config(base: TrainConfig, patients: int, args: argparse.Namespace) -> TrainConfig:
    """The preset on this point's folds, with at most ``--max-steps`` steps per epoch (or the
    preset's own cap when smaller: sparcnet_cpu's 40)."""
    one_fold = patients >= args.one_fold_from
    steps = min(args.max_steps, base.max_steps_per_epoch or args.max_steps)
    update: dict = {"n_folds": 5 if one_fold else 3, "folds": [0] if one_fold else None,
                    "seed": args.seed, "val_min_rows": 4, "fold_seed": 42,
                    "max_steps_per_epoch": steps}  # fmt: skip
    cfg = base.model_copy(update=update)
    return with_epochs(cfg, args.epochs) if args.epochs else cfg


# --- scores ------------------------------------------------------------------------------------
def _kl_pair(votes: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    high = votes.sum(axis=1) >= HIGH_QUALITY_VOTES
    return kl_divergence(votes[high], pred[high]), kl_divergence(votes, pred)


def floor_predictions(rows: pd.DataFrame, oof: pd.DataFrame) -> np.ndarray:
    """The achievable floor's predictions for the OOF rows: a gradient-boosted classifier of the
    ``seen_*`` amplitudes, trained on the other folds' rows with soft labels (each row's vote
    shares as sample weights: the weighted log loss is the KL up to a constant)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    out = np.empty((len(oof), len(CLASSES)))
    for fold in np.unique(oof["fold"]):
        train = rows[rows["fold"] != fold]
        votes = train[list(VOTE_COLUMNS)].to_numpy(float)
        share = votes / votes.sum(axis=1, keepdims=True)
        i, k = np.nonzero(share)
        x = train[list(SEEN_COLUMNS)].to_numpy(np.float32)
        clf = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, max_leaf_nodes=31,
                                             l2_regularization=1.0, random_state=0)  # fmt: skip
        clf.fit(x[i], k, sample_weight=share[i, k])
        sel = (oof["fold"] == fold).to_numpy()
        prob = np.full((sel.sum(), len(CLASSES)), 1e-6)
        prob[:, clf.classes_] = clf.predict_proba(
            oof.loc[sel, list(SEEN_COLUMNS)].to_numpy(np.float32)
        )
        out[sel] = prob / prob.sum(axis=1, keepdims=True)
    return out


def baselines(
    rows: pd.DataFrame, oof: pd.DataFrame, floor: bool = True
) -> dict[str, tuple[float | None, float | None]]:
    """Oracle, achievable floor (unless not ``floor``) and class prior on the OOF rows (KL on
    >= 10 votes, all rows)."""
    votes = oof[list(VOTE_COLUMNS)].to_numpy(float)
    prior = np.empty_like(votes)
    for fold in np.unique(oof["fold"]):
        v = rows.loc[rows["fold"] != fold, list(VOTE_COLUMNS)].to_numpy(float)
        prior[(oof["fold"] == fold).to_numpy()] = (v / v.sum(axis=1, keepdims=True)).mean(axis=0)
    return {"oracle": _kl_pair(votes, oof[list(TRUE_COLUMNS)].to_numpy()),
            "floor": _kl_pair(votes, floor_predictions(rows, oof)) if floor else (None, None),
            "prior": _kl_pair(votes, prior)}  # fmt: skip


def run_point(name: str, cfg: TrainConfig, view: Path, run: Path, truth: pd.DataFrame) -> dict:
    """Train ``cfg`` on the view; its OOF table (with truth and the training rows' folds)."""
    shutil.rmtree(run, ignore_errors=True)
    t0 = time.perf_counter()
    train_kfold(cfg, view, run, device="cpu", progress_bar=False)
    minutes = (time.perf_counter() - t0) / 60
    oof = pd.read_parquet(run / "oof.parquet").merge(truth, on=["eeg_id", "eeg_sub_id"], how="left")
    history = [h for f in sorted(run.glob("fold_*/metrics.json"))
               for h in json.loads(f.read_text())["history"]]  # fmt: skip
    kl_ge10, kl_all = _kl_pair(
        oof[list(VOTE_COLUMNS)].to_numpy(float), oof[list(PRED_COLUMNS)].to_numpy()
    )
    return {"model": name, "minutes": minutes, "kl_ge10": kl_ge10, "kl_all": kl_all,
            "epochs": [s.epochs for s in cfg.stages], "epochs_run": len(history),
            "train_windows_per_s": float(np.mean([h["windows_per_s"] for h in history])),
            "oof": oof}  # fmt: skip


def point_rows(cache_dir: Path, patients: np.ndarray, work: Path, truth: pd.DataFrame,
               args: argparse.Namespace, with_sparcnet: bool) -> list[dict]:  # fmt: skip
    """Every model's row of one point (eeg1d first; baselines on eeg1d's OOF rows)."""
    n = len(patients)
    view = subset_view(cache_dir, patients, work / f"view_{n}")
    base = point_config(load_config(MODEL_PRESET), n, args)
    models = [("eeg1d", base)]
    if with_sparcnet:
        models.append(("sparcnet", point_config(load_config("sparcnet_cpu"), n, args)))
    rows_cache = Cache.open(view).rows
    out = []
    for name, cfg in models:
        r = run_point(name, cfg, view, work / f"run_{name}_{n}", truth)
        if name == "eeg1d":  # baselines on the folds train_kfold assigned, eeg1d's OOF rows
            rows = prepare_rows(rows_cache, cfg).merge(
                truth, on=["eeg_id", "eeg_sub_id"], how="left"
            )
            base_kl = baselines(rows, r["oof"], floor=not args.no_floor)
        oof = r.pop("oof")
        high = oof[list(VOTE_COLUMNS)].sum(axis=1) >= HIGH_QUALITY_VOTES
        out.append({"patients": n, "rows": len(rows_cache), "folds": f"{len(cfg.fold_list())} of {cfg.n_folds}",
                    "max_steps_per_epoch": cfg.max_steps_per_epoch, "oof_rows": len(oof),
                    "oof_rows_ge10": int(high.sum()), **r,
                    "oracle_ge10": base_kl["oracle"][0], "oracle_all": base_kl["oracle"][1],
                    "floor_ge10": base_kl["floor"][0], "floor_all": base_kl["floor"][1],
                    "prior_ge10": base_kl["prior"][0], "prior_all": base_kl["prior"][1]})  # fmt: skip
        o = out[-1]
        print(f"{n:>5} patients {o['model']:<9} KL>=10 {o['kl_ge10']:.3f} (oracle {o['oracle_ge10']:.3f}, "
              f"floor {o['floor_ge10'] or float('nan'):.3f}, prior {o['prior_ge10']:.3f}); all rows {o['kl_all']:.3f}; "
              f"{o['folds']} folds, {o['epochs_run']} epochs, {o['minutes']:.1f} min", flush=True)  # fmt: skip
    return out


def figure(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    e = df[df["model"] == "eeg1d"].sort_values("patients")
    for col, label, style in (("kl_ge10", "eeg1d (OOF)", "o-"), ("prior_ge10", "class prior", "k:"),
                              ("floor_ge10", "achievable floor", "g--"), ("oracle_ge10", "oracle", "b--")):  # fmt: skip
        ax.plot(e["patients"], e[col], style, label=label)
    s = df[df["model"] == "sparcnet"].sort_values("patients")
    if len(s):
        ax.plot(s["patients"], s["kl_ge10"], "s-", color="tab:orange", label="sparcnet (OOF)")
    ax.set_xscale("log")
    ax.set_xlabel("patients in the twin (log)")
    ax.set_ylabel("KL on rows with >= 10 votes (nats)")
    ax.set_ylim(0, None)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Learning curve on the labels-driven twin (CPU)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--twin", type=Path, default=None, help="the twin folder (built when absent)")
    ap.add_argument("--work", type=Path, default=None, help="views and runs (default: a temp dir)")
    ap.add_argument("--points", default="24,96,384,1945", help="patients per point")
    ap.add_argument("--sparcnet-points", default="24,96,1945")
    ap.add_argument("--one-fold-from", type=int, default=384,
                    help="points with at least this many patients train fold 0 of 5")  # fmt: skip
    ap.add_argument("--max-steps", type=int, default=2500, help="max steps per epoch")
    ap.add_argument("--epochs", type=int, nargs="+", default=None, help="epochs per stage")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-floor", action="store_true", help="skip the achievable floor (minutes)")
    ap.add_argument("--quick", action="store_true", help="tiny standalone twin (the test suite)")
    ap.add_argument("--results", type=Path, default=None)
    ap.add_argument("--figure", type=Path, default=None)
    args = ap.parse_args()
    if args.quick:
        args.points, args.sparcnet_points, args.one_fold_from = "5,10", "10", 10
        args.max_steps, args.epochs = 3, args.epochs or [1, 1]
    work = args.work or Path(tempfile.mkdtemp(prefix="iiic_learning_curve_"))
    twin = args.twin or work / "twin"
    try:
        t0 = time.perf_counter()
        cache_dir, timings = build_data(twin, args)
        truth = pd.read_parquet(twin / "truth.parquet")
        order = patient_order(cache_dir)
        sparc = {int(p) for p in args.sparcnet_points.split(",") if p}
        rows: list[dict] = []
        for n in sorted({min(int(p), len(order)) for p in args.points.split(",")}):
            rows += point_rows(cache_dir, order[:n], work, truth, args, n in sparc)
        summary = json.loads((twin / "synth_summary.json").read_text())
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    path = args.results or RESULTS_DIR / (
        "learning_curve_quick.json" if args.quick else "learning_curve.json"
    )
    write_json_atomic(path, {
        "benchmark": "learning_curve", "quick": args.quick, "machine": machine_info(),
        "settings": {"points": args.points, "sparcnet_points": args.sparcnet_points,
                     "one_fold_from": args.one_fold_from, "max_steps_per_epoch": args.max_steps,
                     "epochs": args.epochs, "seed": args.seed, "permutation_seed": PERMUTATION_SEED,
                     "torch_threads": torch.get_num_threads()},
        "twin": summary, "data_minutes": timings, "total_minutes": (time.perf_counter() - t0) / 60,
        "rows": rows,
    })  # fmt: skip
    print(f"wrote {path}")
    fig_path = args.figure or (None if args.quick else FIGURE)
    if fig_path is not None:
        figure(rows, fig_path)
        print(f"wrote {fig_path}")


def _per_fold(x: dict) -> str:
    """Epochs run per trained fold (``folds`` reads 'K of N')."""
    return f"{x['epochs_run'] / int(x['folds'].split()[0]):g}"


def readme_rows(load: Load) -> Rows:
    """Result rows: one per point of learning_curve.json (eeg1d, with sparcnet where it ran) and
    of learning_curve_long.json."""
    lc = load("learning_curve")
    if not lc:
        return {}
    long = load("learning_curve_long")
    rows, by = [], {(x["patients"], x["model"]): x for x in lc["rows"]}
    for (n, model), x in sorted(by.items()):
        if model != "eeg1d":
            continue
        sp = by.get((n, "sparcnet"))
        rows.append((f"learning curve, {n} patients: eeg1d OOF KL, ≥10-vote rows (all rows)",
                     f"{x['kl_ge10']:.3f} ({x['kl_all']:.3f})",
                     f"oracle {x['oracle_ge10']:.3f}, achievable floor {x['floor_ge10']:.3f}, "
                     f"class prior {x['prior_ge10']:.3f}"
                     + (f", sparcnet {sp['kl_ge10']:.3f} ({sp['minutes']:.0f} min)" if sp else ""),
                     f"`benchmarks/learning_curve.py`: labels-driven twin, {x['rows']:,} rows, "
                     f"fold(s) {x['folds']}, {_per_fold(x)} epochs per fold of ≤ "
                     f"{x['max_steps_per_epoch']} steps, {x['oof_rows']:,} OOF rows, "
                     f"{x['minutes']:.0f} min, CPU"))  # fmt: skip
    for x in (long or {}).get("rows", []):
        base = by.get((x["patients"], x["model"]))
        rows.append((f"learning curve, {x['patients']} patients, longer schedule "
                     f"({' + '.join(map(str, x['epochs']))} epochs): eeg1d OOF KL, ≥10-vote rows "
                     "(all rows)", f"{x['kl_ge10']:.3f} ({x['kl_all']:.3f})",
                     f"oracle {x['oracle_ge10']:.3f}; the preset's 2 + 1 epochs: "
                     + (f"{base['kl_ge10']:.3f}" if base else "-"),
                     f"`benchmarks/learning_curve.py --points {x['patients']} --epochs "
                     f"{' '.join(map(str, x['epochs']))}`: same fold, {_per_fold(x)} epochs of ≤ "
                     f"{x['max_steps_per_epoch']} steps, {x['minutes']:.0f} min, CPU"))  # fmt: skip
    return {"quality": rows}


if __name__ == "__main__":
    main()
