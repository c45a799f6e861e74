"""Real-data check: the demo's twin-trained ensemble scored on every shared labelled real set.

The project's real-data yardstick. ``../shared/data`` (or ``$IIIC_SHARED_DATA``) holds three
labelled real sets, all scored here with :func:`iiic.predict.score.score_data_dir` (what
``iiic score`` does):

- ``50s``: ``iiic-real-segments``, 12 real 50-s IIIC segments (two per class, SPaRCNet paper
  figures) with expert votes and SPaRCNet's published probabilities;
- ``10s``: ``iiic-real-segments-10s``, 10 real 10-s segments (inter-rater reliability study;
  12-29 raters, mostly split votes), scored by the runs that read a central 10 s (no padding);
- ``hms``: the labelled windows of the real HMS train EEGs in ``hms-train-signals`` (their rows
  of the reconstructed train.csv).

Each set gets, per predictor (the ensemble, each run, SPaRCNet where published, uniform, the
runs' class prior): mean KL with a bootstrap 90 % interval over segments, median, the worst
segment (all and >= 10 votes), top-class count — with ``iiic score``'s default class prior
(``--prior hms``). Then the healthy check: the same models over a
healthy volunteer's EDF (``eeg-edf-samples/eegmmidb_S001R03.edf``, 125 s, 50-s windows every
10 s, as ``iiic analyze --fast`` cuts them): a transferring model calls every window Other.

The models are the demo's (``iiic.demo.run_demo`` with its defaults: the presets trained on
``--twin-seeds`` standalone twins, averaged with equal weights), or ``--models`` run
directories. ``--demo-seeds 0,10,20`` rebuilds the recipe from three seed sets and reports the
spread of each figure (the variance goal). ``--revision NAME --change TEXT`` appends one row to
``results/real_segments_revisions.json``: the table of every twin/recipe revision tried, good or
bad (docs/results.md says how many).

Writes benchmarks/results/real_segments.json (``real_segments_quick.json`` with ``--quick``: a
tiny demo, 1 epoch, for the tests) and the per-segment tables of the first seed next to it.
With 10-12 segments per set, one segment moves a mean by up to ~0.3: read the intervals.
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
from iiic.evaluate.metric import kl_divergence
from iiic.predict.predictor import Predictor
from iiic.predict.prior import SCORE_PRIOR
from iiic.predict.score import MODEL, ScoreResult, render_markdown, score_data_dir
from iiic.utils import machine_info, write_json_atomic, write_text_atomic
from readme_table import Load, Rows, num, stale

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"
SHARED = Path(os.environ.get("IIIC_SHARED_DATA", REPO.parent / "shared" / "data"))
SEGMENTS = SHARED / "iiic-real-segments"
SEGMENTS_10S = SHARED / "iiic-real-segments-10s"
HMS_SIGNALS = SHARED / "hms-train-signals" / "train_eegs"
REAL_LABELS = SHARED / "hms-train-labels-reconstructed" / "train.csv.gz"
HEALTHY_EDF = SHARED / "eeg-edf-samples" / "eegmmidb_S001R03.edf"
REVISIONS = RESULTS_DIR / "real_segments_revisions.json"
HEALTHY_STRIDE_S = 10.0
QUICK = {"patients": 8, "folds": 2, "epochs": 1, "twin_seeds": 2, "edf_hours": 0.2}
"""A tiny demo for the tests: every code path, no meaningful figure."""


def demo_runs(work: Path, seed: int, args: argparse.Namespace) -> tuple[list[Path], dict]:
    """The demo's ensemble for ``seed`` (built in ``work/demo_seed<seed>``, reused when there):
    its run directories, in the demo's order, and the demo's summary."""
    from iiic.demo import DemoConfig, run_demo

    out = work / f"demo_seed{seed}"
    if not (out / "summary.json").is_file():
        cfg = DemoConfig(seed=seed, device=args.device, **{k: getattr(args, k) for k in QUICK
                                                           if getattr(args, k) is not None})  # fmt: skip
        if args.presets:
            cfg = cfg.model_copy(update={"presets": tuple(args.presets.split(","))})
        run_demo(out, cfg, overwrite=True, say=lambda m: print(m, flush=True))
    summary = json.loads((out / "summary.json").read_text())
    return [out / "runs" / r for r in summary["ensemble"]["runs"]], summary


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
    name_col = "source_name" if "source_name" in rows.columns else "eeg_sub_id"
    out = []
    for i, r in enumerate(rows.to_dict("records")):
        out.append({"eeg_id": int(r["eeg_id"]), "source_name": str(r.get(name_col)),
                    "consensus": r["expert_consensus"],
                    "votes": [int(r[c]) for c in VOTE_COLUMNS],
                    "model_probs": [round(float(v), 4) for v in result.probs[MODEL][i]],
                    "kl": {c[3:]: round(float(r[c]), 4) for c in kl_cols}})  # fmt: skip
    return out


def hms_layout(out: Path) -> Path | None:
    """The labelled windows of the real HMS train EEGs in ``hms-train-signals`` as a Kaggle
    layout (their rows of the reconstructed train.csv, files linked), or None without them."""
    files = sorted(HMS_SIGNALS.glob("*.parquet")) if HMS_SIGNALS.is_dir() else []
    if not files or not REAL_LABELS.is_file():
        return None
    labels = pd.read_csv(REAL_LABELS)
    rows = labels[labels["eeg_id"].isin([int(p.stem) for p in files])]
    (out / "train_eegs").mkdir(parents=True, exist_ok=True)
    for p in files:
        if int(p.stem) in set(rows["eeg_id"]) and not (out / "train_eegs" / p.name).exists():
            (out / "train_eegs" / p.name).symlink_to(p.resolve())
    rows.to_csv(out / "train.csv", index=False)
    return out


def real_sets(work: Path) -> dict[str, tuple[Path, Path | None]]:
    """Every shared labelled real set: name → (Kaggle-layout folder, published baseline CSV)."""
    sets: dict[str, tuple[Path, Path | None]] = {}
    if (SEGMENTS / "train.csv").is_file():
        sets["50s"] = (SEGMENTS, SEGMENTS / "sparcnet_predictions.csv")
    if (SEGMENTS_10S / "train.csv").is_file():
        sets["10s"] = (SEGMENTS_10S, None)
    hms = hms_layout(work / "hms_windows")
    if hms is not None:
        sets["hms"] = (hms, None)
    return sets


def score_sets(predictor: Predictor, work: Path) -> dict[str, dict]:
    """Score the predictor on every shared set (short segments: :func:`score_data_dir` narrows it
    to the runs that read them; a set none reads is "not scored")."""
    from iiic.predict.score import ScoreError

    out = {}
    for name, (data, baseline) in real_sets(work).items():
        try:
            result = score_data_dir(predictor, data, baseline=baseline)
        except ScoreError as exc:
            why = str(exc).splitlines()[0].replace(str(SHARED), "$IIIC_SHARED_DATA")
            out[name] = {"scored": False, "why": why.replace(str(work), "<work>")}  # no paths
            continue
        high = result.rows["n_votes"] >= HIGH_QUALITY_VOTES
        out[name] = {"scored": True, "data": data.name,
                     "runs": [Path(r).name for r in result.info["runs"]],
                     "n_segments": result.info["n_rows"], "n_high_votes": int(high.sum()),
                     "summary": result.summary, "segments": segments(result),
                     "markdown": render_markdown(result)}  # fmt: skip
    return out


def healthy_check(predictor: Predictor) -> dict | None:
    """Top class of each 50-s window (10-s stride) of the healthy volunteer's EDF as
    ``iiic analyze`` scores it by default (:func:`iiic.api.predict_recording`, the continuous
    path, the ``monitoring`` prior), or None."""
    if not HEALTHY_EDF.is_file():
        return None
    from iiic.api import predict_recording
    from iiic.predict.prior import DEFAULT_ANALYZE_PRIOR

    model = predictor.with_prior(DEFAULT_ANALYZE_PRIOR)  # what iiic analyze applies by default
    timeline = predict_recording(model, HEALTHY_EDF, stride_s=HEALTHY_STRIDE_S)
    probs = timeline.probabilities
    top = [CLASS_LABELS[i] for i in probs.argmax(axis=1)]
    return {"file": HEALTHY_EDF.name, "n_windows": len(top), "top": top,
            "n_other_top": top.count("Other"),
            "min_other": round(float(probs[:, CLASS_LABELS.index("Other")].min()), 4),
            "mean_probs": [round(float(v), 4) for v in probs.mean(axis=0)]}  # fmt: skip


def headline(sets: dict[str, dict]) -> dict[str, dict]:
    """Per set: the ensemble's KL, interval, worst segments and top-class count, and the
    baselines' KL (what docs/results.md and the revisions table show)."""
    out = {}
    for name, res in sets.items():
        if not res["scored"]:
            continue
        m = res["summary"][MODEL]
        out[name] = {"n": res["n_segments"], "kl": round(m["kl"], 4),
                     "kl_ci90": [round(v, 4) for v in m["kl_ci90"]], "kl_max": round(m["kl_max"], 4),
                     "kl_max_ge10": None if m["kl_max_high_votes"] is None
                     else round(m["kl_max_high_votes"], 4),
                     "n_right": m["n_right"],
                     **{k: round(v["kl"], 4) for k, v in res["summary"].items()
                        if k in ("uniform", "class prior", "sparcnet")}}  # fmt: skip
    return out


def append_revision(name: str, change: str, record: dict) -> None:
    """Add (or replace, same name) one row of the revisions table."""
    doc = json.loads(REVISIONS.read_text()) if REVISIONS.is_file() else {"revisions": []}
    first = record["seeds"][0]
    sets, healthy = first["headline"], first["healthy"]
    row = {
        "revision": name, "change": change, "date": time.strftime("%Y-%m-%d"),
        "commit": record["machine"].get("commit"), "harness": "benchmarks/real_segments.py",
        "runs": first["runs"], "minutes": first["minutes"],
        "real_kl": sets.get("50s", {}).get("kl"), "real_right": sets.get("50s", {}).get("n_right"),
        "real_sets": sets, "demo_seeds": [x["seed"] for x in record["seeds"]],
        "spread_50s": record.get("spread", {}).get("50s"),
        "healthy_other_top": None if healthy is None
        else f"{healthy['n_other_top']}/{healthy['n_windows']}",
        "twin_oof_ge10": first.get("twin_oof_ge10"),
    }  # fmt: skip
    doc["revisions"] = [r for r in doc["revisions"] if r["revision"] != name] + [row]
    write_json_atomic(REVISIONS, doc)


def print_sets(seed: int, sets: dict[str, dict], healthy: dict | None) -> None:
    for name, res in sets.items():
        if not res["scored"]:
            print(f"[seed {seed}] {name}: not scored ({res['why']})")
            continue
        print(f"[seed {seed}] {name}: {res['n_segments']} segments ({res['data']})")
        print(f"  {'predictor':<28} {'KL':>7} {'90 % interval':>15} {'worst':>6} {'right':>6}")
        for pred, v in res["summary"].items():
            lo, hi = v["kl_ci90"]
            print(f"  {pred:<28} {v['kl']:7.3f} {lo:7.3f}-{hi:<7.3f} {v['kl_max']:6.2f} "
                  f"{v['n_right']:>3}/{res['n_segments']}")  # fmt: skip
    if healthy is not None:
        print(f"[seed {seed}] healthy volunteer: Other on top in {healthy['n_other_top']}/"
              f"{healthy['n_windows']} windows (least Other {healthy['min_other']:.2f})")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help=f"tiny demo: {QUICK}")
    ap.add_argument("--models", default=None, help="score these run directories (comma-separated, "
                    "equal weights) instead of building the demo's ensemble")  # fmt: skip
    ap.add_argument("--demo-seeds", default="0", help="seeds of the demo ensembles to build and "
                    "score, comma-separated (e.g. 0,10,20 for the variance figure)")  # fmt: skip
    ap.add_argument("--presets", default=None, help="the demo's --presets (default: its own)")
    ap.add_argument("--patients", type=int, default=None, help="patients per twin (demo default)")
    ap.add_argument("--folds", type=int, default=None, help="patient folds (demo default)")
    ap.add_argument("--epochs", type=int, default=None, help="epochs per stage (presets')")
    ap.add_argument("--twin-seeds", type=int, default=None, help="twins per ensemble (demo's)")
    ap.add_argument("--edf-hours", type=float, default=None, help="the demo's synthetic EDF, h")
    ap.add_argument("--prior", default=SCORE_PRIOR, help="class prior of the real-set scores "
                    "(iiic score's --prior; the healthy check uses analyze's default)")  # fmt: skip
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--work", type=Path, default=None, help="keep the demos here (reused)")
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
    seeds = [int(x) for x in args.demo_seeds.split(",")] if not args.models else [None]
    per_seed = []
    try:
        for seed in seeds:
            t0 = time.perf_counter()
            if args.models:
                runs, demo = [Path(p) for p in args.models.split(",")], None
            else:
                runs, demo = demo_runs(work, seed, args)
            predictor = Predictor.from_runs(runs, device=args.device).with_prior(args.prior)
            sets = score_sets(predictor, work)
            healthy = healthy_check(predictor)
            oof = [o["kl_high_votes"] for o in (twin_oof_kl(r) for r in runs) if o]
            per_seed.append({
                "seed": seed, "runs": [r.name for r in runs],
                "demo_minutes": None if demo is None else round(demo["timings_s"]["total"] / 60, 1),
                "minutes": round((time.perf_counter() - t0) / 60, 1),
                "twin_oof_ge10": round(sum(oof) / len(oof), 4) if oof else None,
                "headline": headline(sets), "healthy": healthy,
                "sets": {k: {kk: vv for kk, vv in v.items() if kk != "markdown"}
                         for k, v in sets.items()},
            })  # fmt: skip
            print_sets(seed, sets, healthy)
            if len(per_seed) == 1:
                name = "real_segments_quick" if args.quick else "real_segments"
                results = args.results or RESULTS_DIR / f"{name}.json"
                for set_name, res in sets.items():
                    if res["scored"]:
                        suffix = "" if set_name == "50s" else f"_{set_name}"
                        path = results.with_name(results.stem + suffix + ".md")
                        text = res["markdown"].replace(str(SHARED), "$IIIC_SHARED_DATA")
                        write_text_atomic(
                            path, text.replace(str(work), "<work>")
                        )  # no machine paths
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    spread = {}
    for set_name in per_seed[0]["headline"]:
        kls = [x["headline"][set_name]["kl"] for x in per_seed if set_name in x["headline"]]
        spread[set_name] = {"kl": kls, "range": round(max(kls) - min(kls), 4),
                            "mean": round(sum(kls) / len(kls), 4)}  # fmt: skip
    record = {
        "benchmark": "real_segments", "quick": args.quick, "machine": machine_info(),
        "settings": {k: v for k, v in vars(args).items() if k not in ("work", "results", "models")}
        | {"models": None if not args.models else [Path(p).name for p in args.models.split(",")]},
        "seeds": per_seed, "spread": spread,
    }  # fmt: skip
    write_json_atomic(results, record)
    if len(per_seed) > 1:
        print("spread over demo seeds: " + ", ".join(
            f"{k} KL {v['kl']} (range {v['range']:.3f})" for k, v in spread.items()))  # fmt: skip
    if args.revision:
        append_revision(args.revision, args.change, record)
    print(f"wrote {results}")


def readme_rows(load: Load) -> Rows:
    """Result rows (real): real_segments.json's first seed set per real set, the spread over seed
    sets, the healthy volunteer, and real_segments_revisions.json."""
    rows = []
    real = load("real_segments")
    if real and "seeds" in real:
        first = real["seeds"][0]
        for name, h in first["headline"].items():
            base = ", ".join(f"{k} {num(h[k], '.3f')}" for k in ("sparcnet", "uniform",
                                                                 "class prior") if k in h)  # fmt: skip
            worst = h["kl_max_ge10"]
            rows.append((f"real set `{name}` (n={h['n']}): KL [90 % interval] / top class right / "
                         "worst segment (>=10 votes)",
                         f"{num(h['kl'], '.3f')} [{num(h['kl_ci90'][0], '.2f')}–"
                         f"{num(h['kl_ci90'][1], '.2f')}] / {h['n_right']} of {h['n']} / "
                         f"{num(h['kl_max'], '.2f')} ({'n/a' if worst is None else num(worst, '.2f')})",
                         base, f"`benchmarks/real_segments.py`: the demo's ensemble "
                         f"({len(first['runs'])} runs), {first.get('demo_minutes')} min"
                         + stale(real)))  # fmt: skip
        spread = real.get("spread", {}).get("50s")
        if spread and len(spread["kl"]) > 1:
            rows.append(("demo recipe rebuilt from other seeds: 50-s KL per seed set (range)",
                         ", ".join(num(v, ".3f") for v in spread["kl"])
                         + f" ({num(spread['range'], '.3f')})", "goal: range <= 0.05",
                         f"`benchmarks/real_segments.py --demo-seeds "
                         f"{','.join(str(x['seed']) for x in real['seeds'])}`"))  # fmt: skip
        healthy = first.get("healthy")
        if healthy:
            rows.append(("healthy volunteer's EDF (`eegmmidb_S001R03`): windows with Other on top",
                         f"{healthy['n_other_top']} of {healthy['n_windows']}",
                         f"least Other probability {num(healthy.get('min_other'), '.2f')}; goal: "
                         "all, >= 0.5", "`benchmarks/real_segments.py`, the same models through "
                         "`iiic.api.predict_recording` (analyze --fast)"))  # fmt: skip
    revs = load("real_segments_revisions")
    if revs:
        table = [x for x in revs["revisions"] if x.get("real_kl") is not None]
        best = min(table, key=lambda x: x["real_kl"])
        rows.append(("twin/recipe revisions tried against the real segments (all kept)",
                     f"{len(revs['revisions'])}", f"best 50-s KL {best['real_kl']:.3f} "
                     f"({best['revision']}, {best['real_right']} of 12); worst "
                     f"{max(x['real_kl'] for x in table):.3f}",
                     "`benchmarks/results/real_segments_revisions.json`"))  # fmt: skip
    return {"real": rows}


if __name__ == "__main__":
    main()
