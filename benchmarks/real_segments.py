"""Real-data check: models trained only on the synthetic twin, scored on 12 real IIIC segments.

The only real-data quality signal of the project. ``../shared/data/iiic-real-segments`` holds 12
real 50-s EEG segments (two per class, from the SPaRCNet paper's figures) with their expert votes
and SPaRCNet's published probabilities. This script

1. writes a synthetic twin (driven by the real train.csv — ids, offsets, patients, vote totals —
   when ``../shared/data/hms-train-labels-reconstructed`` is present, standalone otherwise) and
   trains the demo's presets on it (``iiic.demo.DEFAULT_PRESETS``: morph_cpu, eeg1d_cpu) with
   ``iiic.train.train_kfold`` (or reuses ``--models``), blended with weights fit on the twin's
   out-of-fold predictions as ``iiic demo`` does;
2. scores the blend and each run with :func:`iiic.predict.score.score_data_dir` — what ``iiic score`` does —
   next to SPaRCNet, the uniform prediction and the runs' class prior (the twin's label prior),
   all in the same run, on the same rows;
3. records the run's out-of-fold KL on the twin beside it: the gap between the two is the
   realism gap of the twin (a model that transfers would score alike on both);
4. runs the same models over a real recording of a healthy volunteer
   (``eeg-edf-samples/eegmmidb_S001R03.edf``, 125 s, 50-s windows every 10 s, as ``iiic analyze``
   cuts them): a transferring model calls every window Other;
5. with ``--revision NAME --change TEXT``, appends one row to
   ``results/real_segments_revisions.json``: the table of every twin/recipe revision tried, good
   or bad (the README says how many).

Writes benchmarks/results/real_segments.json (``real_segments_quick.json`` with ``--quick``) and
the per-segment tables next to it (``real_segments[_quick].md``). ``--quick`` (24 patients,
2 folds, 2+1 epochs of at most 20 steps) takes about 2-3 minutes on one core; the default
(the presets' schedules, 3 folds of a 60-patient twin) about 15-20 minutes.
With 12 segments, one segment moves the mean KL by up to ~0.4: read the figures as a coarse check.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from iiic.constants import CLASS_LABELS, HIGH_QUALITY_VOTES, PRED_COLUMNS, VOTE_COLUMNS
from iiic.demo import DEFAULT_PRESETS
from iiic.ensemble.blend import blend_runs
from iiic.evaluate.metric import kl_divergence
from iiic.predict.predictor import Predictor
from iiic.predict.score import MODEL, ScoreResult, render_markdown, score_data_dir
from iiic.train.config import TrainConfig, load_config, with_epochs
from iiic.train.kfold import open_data, train_kfold
from iiic.utils import machine_info, write_json_atomic, write_text_atomic

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"
SHARED = Path(os.environ.get("IIIC_SHARED_DATA", REPO.parent / "shared" / "data"))
SEGMENTS = SHARED / "iiic-real-segments"
REAL_LABELS = SHARED / "hms-train-labels-reconstructed" / "train.csv.gz"
HEALTHY_EDF = SHARED / "eeg-edf-samples" / "eegmmidb_S001R03.edf"
REVISIONS = RESULTS_DIR / "real_segments_revisions.json"
HEALTHY_STRIDE_S = 10.0
QUICK = {"patients": 24, "folds": 2, "epochs": [2, 1], "max_steps": 20}


def schedule(cfg: TrainConfig, args: argparse.Namespace) -> TrainConfig:
    """The preset with this run's folds, epochs and step cap (None keeps the preset's value)."""
    update: dict = {"seed": args.seed, "val_min_rows": 4}
    if args.folds is not None:
        update["n_folds"] = args.folds
    if args.max_steps is not None:
        update["max_steps_per_epoch"] = args.max_steps
    if args.epochs:
        update["stages"] = with_epochs(cfg, args.epochs).stages
    return cfg.model_copy(update=update)


def make_twin(work: Path, args: argparse.Namespace) -> Path:
    """The twin in ``work/twin`` (reused when present)."""
    from iiic.synth.twin import generate_twin

    if (work / "twin" / "synth_summary.json").is_file():
        return work / "twin"
    labels = REAL_LABELS if REAL_LABELS.is_file() else None
    return generate_twin(work / "twin", n_patients=args.patients, seed=args.seed, labels=labels,
                         n_test=2, workers=args.workers)  # fmt: skip


def train_runs(work: Path, args: argparse.Namespace) -> tuple[list[Path], dict]:
    """Train each preset of ``--presets`` on the twin; returns the runs and the timings (s)."""
    timing = work / "bench_twin_s.json"
    t0 = time.perf_counter()
    twin = make_twin(work, args)
    open_data(twin, workers=args.workers)  # the training cache
    if not timing.is_file():  # measured when the twin was made (kept with --work)
        write_json_atomic(timing, {"twin_and_cache_s": time.perf_counter() - t0})
    timings = json.loads(timing.read_text())
    runs = []
    for preset in args.presets.split(","):
        run = work / f"run_{preset}"
        timing = run / "bench_train_s.json"
        if not (run / "oof.parquet").is_file() or not timing.is_file():
            shutil.rmtree(run, ignore_errors=True)
            t1 = time.perf_counter()
            train_kfold(schedule(load_config(preset), args), twin, run, device=args.device,
                        progress_bar=False)  # fmt: skip
            write_json_atomic(timing, {"train_s": time.perf_counter() - t1})
        timings[f"train_{preset}_s"] = json.loads(timing.read_text())["train_s"]
        runs.append(run)
    timings["twin"] = json.loads((twin / "synth_summary.json").read_text())
    return runs, timings


def run_settings(run: Path) -> dict:
    """Model, folds and schedule of a run, from its ``config.json``."""
    cfg = json.loads((run / "config.json").read_text())
    return {"model": cfg["model"], "n_folds": cfg["n_folds"],
            "epochs": [s["epochs"] for s in cfg["stages"]],
            "max_steps_per_epoch": cfg.get("max_steps_per_epoch"), "seed": cfg.get("seed")}  # fmt: skip


def twin_oof_kl(run: Path) -> dict | None:
    """The run's out-of-fold KL on the twin (all rows and >= 10 votes), or None without OOF."""
    path = run / "oof.parquet"
    if not path.is_file():
        return None
    oof = pd.read_parquet(path)
    votes, preds = oof[list(VOTE_COLUMNS)].to_numpy(), oof[list(PRED_COLUMNS)].to_numpy()
    high = votes.sum(axis=1) >= HIGH_QUALITY_VOTES
    return {"n_rows": len(oof), "kl": kl_divergence(votes, preds),
            "kl_high_votes": kl_divergence(votes[high], preds[high]) if high.any() else None}  # fmt: skip


def segments(result: ScoreResult) -> list[dict]:
    """Compact per-segment records: name, votes, the model's probabilities, KL per predictor."""
    rows = result.rows
    kl_cols = [c for c in rows.columns if c.startswith("kl:")]
    out = []
    for i, r in enumerate(rows.to_dict("records")):
        out.append({"eeg_id": int(r["eeg_id"]), "source_name": r.get("source_name"),
                    "consensus": r["expert_consensus"],
                    "votes": [int(r[c]) for c in VOTE_COLUMNS],
                    "model_probs": [round(float(v), 4) for v in result.probs[MODEL][i]],
                    "kl": {c[3:]: round(float(r[c]), 4) for c in kl_cols}})  # fmt: skip
    return out


def healthy_check(predictor: Predictor) -> dict | None:
    """Top class of each 50-s window (10-s stride) of the healthy volunteer's EDF as
    ``iiic analyze --fast`` scores it (:func:`iiic.api.predict_recording`), or None."""
    if not HEALTHY_EDF.is_file():
        return None
    from iiic.api import predict_recording

    timeline = predict_recording(predictor, HEALTHY_EDF, stride_s=HEALTHY_STRIDE_S)
    probs = timeline.probabilities
    top = [CLASS_LABELS[i] for i in probs.argmax(axis=1)]
    return {"file": HEALTHY_EDF.name, "n_windows": len(top), "top": top,
            "n_other_top": top.count("Other"),
            "mean_probs": [round(float(v), 4) for v in probs.mean(axis=0)]}  # fmt: skip


def append_revision(name: str, change: str, record: dict) -> None:
    """Add (or replace, same name) one row of the revisions table."""
    doc = json.loads(REVISIONS.read_text()) if REVISIONS.is_file() else {"revisions": []}
    summary, healthy = record["summary"]["model"], record["healthy"]
    oof = next(iter(record["twin_oof"].values()), None) or {}
    row = {
        "revision": name, "change": change, "date": time.strftime("%Y-%m-%d"),
        "commit": record["machine"].get("commit"), "harness": "benchmarks/real_segments.py",
        "twin": {k: record["twin"][k] for k in ("mode", "n_patients", "n_rows")}
        if record["twin"] else None,
        "models": [t["model"] for t in record["training"].values()],
        "training": list(record["training"].values()), "minutes": record["minutes"],
        "real_kl": round(summary["kl"], 4),
        "real_right": round(summary["accuracy"] * record["n_segments"]),
        "healthy_other_top": None if healthy is None
        else f"{healthy['n_other_top']}/{healthy['n_windows']}",
        "twin_oof_ge10": oof.get("kl_high_votes"),
    }  # fmt: skip
    doc["revisions"] = [r for r in doc["revisions"] if r["revision"] != name] + [row]
    write_json_atomic(REVISIONS, doc)


def print_table(result: ScoreResult, oof: dict | None) -> None:
    print(f"{result.info['n_rows']} real segments ({SEGMENTS})")
    print(f"{'predictor':<26} {'KL':>8} {'median':>8} {'acc':>5}")
    for name, s in result.summary.items():
        print(f"{name:<26} {s['kl']:>8.4f} {s['kl_median']:>8.4f} {s['accuracy']:>5.0%}")
    if oof:
        print(f"(twin out-of-fold KL of the same run: {oof['kl']:.4f} on {oof['n_rows']} rows)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help=f"small twin and schedule: {QUICK}")
    ap.add_argument("--models", default=None, help="reuse these run directories (comma-separated)")
    ap.add_argument(
        "--presets",
        default=",".join(DEFAULT_PRESETS),
        help="presets to train, blended on the twin's OOF as iiic demo does (the demo's presets; "
        "spectrogram models read spectrograms computed from the EEG)",
    )
    ap.add_argument("--patients", type=int, default=60, help="twin patients")
    ap.add_argument("--folds", type=int, default=3, help="patient folds (None: the preset's)")
    ap.add_argument("--epochs", type=int, nargs="+", default=None, help="epochs per stage")
    ap.add_argument("--max-steps", type=int, default=None, help="max steps per epoch")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2, help="twin / cache worker processes")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--work", type=Path, default=None, help="keep the twin and runs here")
    ap.add_argument("--results", type=Path, default=None, help="JSON to write")
    ap.add_argument("--revision", default=None, help="name of this twin/recipe revision")
    ap.add_argument("--change", default="", help="what this revision changed (with --revision)")
    args = ap.parse_args()
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    if not (SEGMENTS / "train.csv").is_file():
        print(f"skipped: {SEGMENTS} is absent (set IIIC_SHARED_DATA); nothing to score")
        return
    torch.set_num_threads(args.threads)
    work = args.work or Path(tempfile.mkdtemp(prefix="iiic_bench_real_"))
    try:
        if args.models:
            runs, timings = [Path(p) for p in args.models.split(",")], {}
        else:
            runs, timings = train_runs(work, args)
        t0 = time.perf_counter()
        blend = work / "blend.json" if len(runs) > 1 else None
        if blend is not None:  # weights fit on the twin's OOF tables, as iiic demo does
            blend_runs(runs, blend)
        predictor = Predictor.from_runs(runs, device=args.device, blend=blend)
        result = score_data_dir(predictor, SEGMENTS, baseline=SEGMENTS / "sparcnet_predictions.csv")
        result.info |= {"data": SEGMENTS.name, "runs": [r.name for r in runs]}  # no machine paths
        healthy = healthy_check(predictor)
        timings["score_s"] = time.perf_counter() - t0
        oof = {r.name: twin_oof_kl(r) for r in runs}
        trained = {r.name: run_settings(r) for r in runs}
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    name = "real_segments_quick" if args.quick else "real_segments"
    results = args.results or RESULTS_DIR / f"{name}.json"
    write_text_atomic(results.with_suffix(".md"), render_markdown(result))
    print_table(result, next(iter(oof.values())))
    if healthy is not None:
        print(f"healthy volunteer: Other on top in {healthy['n_other_top']}/{healthy['n_windows']}"
              f" windows ({', '.join(healthy['top'])})")  # fmt: skip
    record = {
        "benchmark": "real_segments", "quick": args.quick, "machine": machine_info(),
        "settings": {k: v for k, v in vars(args).items() if k not in ("work", "results")}
        | {"threads_env": os.environ.get("OMP_NUM_THREADS")},
        "n_segments": result.info["n_rows"], "runs": [r.name for r in runs], "training": trained,
        "kl": {k: v["kl"] for k, v in result.summary.items()},
        "summary": result.summary, "twin_oof": oof,
        "timings": {k: v for k, v in timings.items() if k != "twin"},
        "twin": timings.get("twin"), "segments": segments(result), "healthy": healthy,
        "minutes": round(sum(v for k, v in timings.items() if k.endswith("_s")) / 60, 1),
    }  # fmt: skip
    write_json_atomic(results, record)
    if args.revision:
        append_revision(args.revision, args.change, record)
    print(f"wrote {results} and {results.with_suffix('.md')}")


if __name__ == "__main__":
    main()
