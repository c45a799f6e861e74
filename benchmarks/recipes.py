"""Same-fold comparison of the four top-solution recipes against today's best model on the twin.

One twin (the demo-scale standalone twin by default: 24 patients), one patient-grouped fold
split shared by every run (same cache, ``n_folds``, ``fold_seed``), one torch thread:

- ``eeg1d`` (CPU preset): today's best single model, the baseline of every row;
- ``squeezeformer1d`` (CPU preset): the Squeezeformer-style 1-D encoder;
- ``eeg1d + pseudo-labels``: eeg1d retrained with rows of < 10 votes trained towards their votes
  mixed (``--pseudo-weight``, default 0.5) with the first-stage ensemble's OOF prediction
  (the mean of eeg1d and squeezeformer1d above);
- ``spec2d`` (mel, CPU preset) and ``spec2d_cwt`` (the same with the Morlet CWT tile);
- blends of the trained runs' OOF tables: log-space weights vs the blend net (per-class weights),
  each scored on the same patient-grouped held-out folds (``iiic blend --method auto``).

Every figure is the OOF KL on the ≥ 10-vote rows and on all rows, with the oracle (the twin's true
distributions) and the held-out class prior beside; with ``--train-seeds 0 1`` every run is
repeated per training seed (same twin, same folds) and the figures are the means, each seed's
beside (the blends use the first seed's runs). Writes benchmarks/results/recipes.json.
Usage: ``python benchmarks/recipes.py --work /tmp/recipes --reuse --train-seeds 0 1`` (about
40 CPU-minutes on one thread).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from iiic.constants import HIGH_QUALITY_VOTES, PRED_COLUMNS, VOTE_COLUMNS
from iiic.ensemble.blend import blend_oof
from iiic.evaluate.metric import kl_divergence
from iiic.evaluate.oof import read_oof
from iiic.train.config import TrainConfig, load_config, with_epochs
from iiic.train.kfold import open_data, train_kfold
from iiic.utils import machine_info, write_json_atomic
from readme_table import Load, Rows, num, pair
from train import _kl, baselines, make_twin

RESULTS = Path(__file__).resolve().parent / "results" / "recipes.json"
BASELINE = "eeg1d"


def _config(preset: str, args: argparse.Namespace, **update) -> TrainConfig:
    cfg = load_config(preset)
    upd: dict = {"n_folds": args.folds, "val_min_rows": 4, "seed": args.seed, **update}
    if args.epochs:
        upd["stages"] = with_epochs(cfg, args.epochs).stages
    return TrainConfig.model_validate(cfg.to_json_dict() | upd)


def train_run(label: str, cfg: TrainConfig, twin: Path, work: Path, reuse: bool) -> dict:
    """Train (or reuse) one run; its OOF KL (≥ 10 votes, all rows), minutes and epochs."""
    run = work / f"run_{label}"
    timing = run / "bench_train_s.json"
    if not (reuse and timing.is_file() and (run / "oof.parquet").is_file()):
        shutil.rmtree(run, ignore_errors=True)
        t0 = time.perf_counter()
        train_kfold(cfg, twin, run, device="cpu", progress_bar=False)
        write_json_atomic(timing, {"train_s": time.perf_counter() - t0})
    oof = pd.read_parquet(run / "oof.parquet")
    kl_high, kl_all = _kl(oof, list(PRED_COLUMNS))
    print(f"{label:<24} KL >=10 votes {kl_high:.4f}  all rows {kl_all:.4f}", flush=True)
    return {"kl_high_votes": kl_high, "kl_all": kl_all, "model": cfg.model,
            "train_min": json.loads(timing.read_text())["train_s"] / 60,
            "epochs": [s.epochs for s in cfg.stages], "run": run.name}  # fmt: skip


def _same_folds(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Both OOF tables hold the same rows, each in the same fold."""
    keys = ["eeg_id", "eeg_sub_id"]
    m = a[[*keys, "fold"]].merge(b[[*keys, "fold"]], on=keys, how="outer")
    return bool(len(m) == len(a) == len(b) and (m["fold_x"] == m["fold_y"]).all())


def blend_rows(
    work: Path, dirs: dict[str, str], labels: list[str], name: str, cv_folds: int
) -> dict:
    """Weights vs blend net on the runs' OOF tables, the same patient-grouped held-out folds."""
    labels = [lab for lab in labels if lab in dirs]
    tables = [read_oof(work / dirs[lab] / "oof.parquet") for lab in labels]
    res = blend_oof(tables, labels, n_splits=cv_folds, method="auto")
    votes = res.rows[list(VOTE_COLUMNS)].to_numpy()
    high = votes.sum(axis=1) >= HIGH_QUALITY_VOTES
    out = {"runs": labels, "kept": res.method, "cv_folds": cv_folds, "n_rows": res.n_rows}
    for m, p in res.cv_probs.items():
        out[m] = {"kl_high_votes": kl_divergence(votes[high], p[high]),
                  "kl_all": kl_divergence(votes, p)}  # fmt: skip
        print(f"{name + ' ' + m:<24} KL >=10 votes {out[m]['kl_high_votes']:.4f}  all rows "
              f"{out[m]['kl_all']:.4f}{'  (kept)' if m == res.method else ''}", flush=True)  # fmt: skip
    out["plain_average_kl_all"] = res.mean_kl
    return out


def train_seed(twin: Path, work: Path, args: argparse.Namespace, seed: int) -> dict[str, dict]:
    """Every run of one training seed (the twin and the folds stay fixed)."""
    skip, sfx = set(filter(None, args.skip.split(","))), "" if seed == args.seed else f"_seed{seed}"

    def run(label: str, preset: str, **update) -> dict:
        cfg = _config(preset, args, seed=seed, **update)
        return train_run(label + sfx, cfg, twin, work, args.reuse)

    runs = {BASELINE: run(BASELINE, "eeg1d_cpu")}
    first_stage = [BASELINE]
    if "squeezeformer1d" not in skip:
        runs["squeezeformer1d"] = run("squeezeformer1d", "squeezeformer1d_cpu")
        first_stage.append("squeezeformer1d")
    if "pseudo" not in skip:
        pl = {"oof": [str(work / f"run_{r}{sfx}" / "oof.parquet") for r in first_stage],
              "weight": args.pseudo_weight}  # fmt: skip
        runs["eeg1d_pseudo"] = run("eeg1d_pseudo", "eeg1d_cpu", pseudo_labels=pl)
        runs["eeg1d_pseudo"] |= {"first_stage": first_stage, "pseudo_weight": args.pseudo_weight}
    if "cwt" not in skip:
        for label, preset in (("spec2d", "spec2d_cpu"), ("spec2d_cwt", "spec2d_cwt_cpu")):
            runs[label] = run(label, preset)
    return runs


def _pool(per_seed: dict[int, dict[str, dict]]) -> dict[str, dict]:
    """Per run: the mean over training seeds of the KLs and minutes, with each seed's figures."""
    out = {}
    for label in next(iter(per_seed.values())):
        figs = [per_seed[s][label] for s in per_seed]
        out[label] = {**figs[0], "seeds": {s: {k: per_seed[s][label][k] for k in
                                               ("kl_high_votes", "kl_all", "train_min", "run")}
                                           for s in per_seed}}  # fmt: skip
        for key in ("kl_high_votes", "kl_all", "train_min"):
            out[label][key] = float(np.mean([f[key] for f in figs]))
        out[label].pop("run")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=24)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--epochs", type=int, nargs="+", default=None,
                    help="epochs per stage (default: each preset's)")  # fmt: skip
    ap.add_argument("--seed", type=int, default=0, help="twin seed (and first training seed)")
    ap.add_argument("--train-seeds", type=int, nargs="+", default=None,
                    help="training seeds, each a full set of runs on the same twin and folds "
                    "(default: --seed); figures are their means")  # fmt: skip
    ap.add_argument("--pseudo-weight", type=float, default=0.5)
    ap.add_argument("--skip", default="", help="comma-separated recipes to leave out: "
                    "squeezeformer1d, pseudo, cwt")  # fmt: skip
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--work", type=Path, default=None, help="keep the twin and runs here")
    ap.add_argument("--reuse", action="store_true", help="with --work: reuse finished runs")
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args()
    args.standalone = True  # the demo's twin (make_twin reads it)
    seeds = args.train_seeds or [args.seed]
    torch.set_num_threads(args.threads)
    work = args.work or Path(tempfile.mkdtemp(prefix="iiic_bench_recipes_"))
    t0 = time.perf_counter()
    try:
        twin = make_twin(work, args)
        open_data(twin, workers=args.workers)
        per_seed = {s: train_seed(twin, work, args, s) for s in seeds}
        runs = _pool(per_seed)
        first = {label: fig["run"] for label, fig in per_seed[seeds[0]].items()}
        blends = {"today": blend_rows(work, first, [BASELINE, "spec2d"], "blend eeg1d+spec2d",
                                      args.folds)}  # fmt: skip
        blends["all"] = blend_rows(work, first, list(first), "blend all", args.folds)
        ref = pd.read_parquet(work / first[BASELINE] / "oof.parquet")
        same_folds = all(_same_folds(ref, pd.read_parquet(work / f["run"] / "oof.parquet"))
                         for r in per_seed.values() for f in r.values())  # fmt: skip
        base = baselines(ref, pd.read_parquet(twin / "truth.parquet"))
        summary = json.loads((twin / "synth_summary.json").read_text())
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    write_json_atomic(args.results, {
        "benchmark": "recipes", "machine": machine_info(),
        "settings": {"patients": args.patients, "folds": args.folds, "epochs": args.epochs,
                     "twin_seed": args.seed, "train_seeds": seeds, "standalone": True,
                     "torch_threads": torch.get_num_threads(), "pseudo_weight": args.pseudo_weight,
                     "baseline": BASELINE},
        "twin": summary, "n_oof_rows": len(ref),
        "n_oof_high_vote_rows": int((ref[list(VOTE_COLUMNS)].sum(axis=1) >= HIGH_QUALITY_VOTES).sum()),
        "same_folds": same_folds, "baselines": base, "runs": runs, "blends": blends,
        "wall_min": (time.perf_counter() - t0) / 60,
    })  # fmt: skip
    print(f"wrote {args.results}")


RECIPE_ROWS = (
    ("squeezeformer1d", "squeezeformer1d (Squeezeformer-style 1-D encoder)", "eeg1d"),
    ("eeg1d_pseudo", "eeg1d + pseudo-labels on < 10-vote rows", "eeg1d"),
    ("spec2d_cwt", "spec2d with the Morlet CWT tile", "spec2d"),
)
"""(run, its figure in the results table, the run it is compared with)."""


def readme_rows(load: Load) -> Rows:
    """Result rows of recipes.json: each recipe vs today's model on the same folds (≥10 votes /
    all rows), and the blends."""
    rec = load("recipes")
    if not rec:
        return {}
    st, runs, base = rec["settings"], rec["runs"], rec["baselines"]
    floor = f"oracle {pair(base.get('oracle'))}, class prior {pair(base.get('class prior'))}"
    seeds = st.get("train_seeds", [st.get("seed")])
    how = (f"`benchmarks/recipes.py`: {st['patients']}-patient standalone twin, {st['folds']} "
           f"patient folds shared by every run, CPU presets, {st['torch_threads']} thread")  # fmt: skip
    mean = f", mean of {len(seeds)} training seeds" if len(seeds) > 1 else ""
    rows = []
    for run, figure, ref in RECIPE_ROWS:
        if run in runs:
            per_seed = ", ".join(f"{num(a['kl_high_votes'], '.3f')} vs {num(b['kl_high_votes'], '.3f')}"
                                 for a, b in zip(runs[run].get("seeds", {}).values(),
                                                 runs[ref].get("seeds", {}).values(), strict=True))  # fmt: skip
            detail = f"; ≥10-vote KL per seed {per_seed}" if len(seeds) > 1 else ""
            minutes = f"; {runs[run]['train_min']:.0f} vs {runs[ref]['train_min']:.0f} min a run"
            rows.append((f"recipes: {figure}, OOF KL ≥10-vote / all rows{mean}", pair(runs[run]),
                         f"{ref} {pair(runs[ref])}; {floor}", how + detail + minutes))  # fmt: skip
    for blend in rec.get("blends", {}).values():
        if "net" in blend and "weights" in blend:
            rows.append((f"recipes: blend net of {', '.join(blend['runs'])} (held-out, "
                         f"kept: {blend['kept']})", pair(blend["net"]),
                         f"log-space weights {pair(blend['weights'])}",
                         f"{how}; first seed's runs; blend CV: {blend['cv_folds']} "
                         "patient-grouped folds"))  # fmt: skip
    return {"quality": rows}


if __name__ == "__main__":
    main()
