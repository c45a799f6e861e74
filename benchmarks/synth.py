"""Synthetic twin generation speed (EEG-hours per second) and its extrapolation to full scale.

Times, in one run:

- ``twin (w workers)``: :func:`iiic.synth.generate_twin` end to end (signals, artifacts,
  spectrograms, parquet writes, labels) with 1 and 2 workers; driven by the real train.csv
  (a fraction of its patients) when ../shared/data is present, else standalone;
- per-stage costs on the same EEGs: signal synthesis, Kaggle-style spectrogram, parquet write;
- baseline: the same EEGs written with pandas' default ``to_parquet`` (dictionary encoding on),
  the naive writer, next to the twin's writer.

The full-scale figure extrapolates each measured rate to the rebuilt real train.csv (17,001 EEGs,
379.3 EEG-hours). Prints a table and writes benchmarks/results/synth.json (+ a realism report in
benchmarks/results/synth_realism/ unless --quick). ``--quick`` finishes in < 60 s.
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

from iiic import constants
from iiic.data.writers import write_eeg
from iiic.signal.kaggle_spec import kaggle_style_spectrogram
from iiic.synth import generate_twin
from iiic.synth.generator import synth_eeg
from iiic.synth.signals import sample_traits
from iiic.utils import machine_info, write_json_atomic
from readme_table import Load, Rows, num

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("IIIC_SHARED_DATA", REPO.parent / "shared" / "data"))
LABELS = SHARED / "hms-train-labels-reconstructed" / "train.csv.gz"
RESULTS = REPO / "benchmarks" / "results"
REALISM_PATIENTS = 60
"""Patients of the standalone twin used for the realism report."""
FULL_SCALE_EEG_HOURS = 379.3
"""EEG-hours of the rebuilt real train.csv (17,001 EEGs, each max offset + 50 s long)."""


def time_twin(out: Path, workers: int, **kwargs) -> dict:
    """Generate a twin; its EEG-hours, wall time and rate."""
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    generate_twin(out, workers=workers, **kwargs)
    wall = time.perf_counter() - start
    summary = json.loads((out / "synth_summary.json").read_text())
    hours = summary["eeg_hours"]
    return {"workers": workers, "eeg_hours": round(hours, 3), "n_eegs": summary["n_eegs"],
            "wall_s": round(wall, 2), "eeg_hours_per_s": round(hours / wall, 4),
            "oracle_kl": summary["oracle_kl"]}  # fmt: skip


def time_stages(tmp: Path, n_eegs: int, seconds: float) -> dict:
    """Per-stage seconds per EEG-hour on ``n_eegs`` synthetic EEGs of ``seconds`` s."""
    rng = np.random.default_rng(0)
    n = round(seconds * constants.SFREQ_HZ)
    offsets = np.arange(0, seconds - constants.EEG_WINDOW_S + 1, 10.0)
    t = dict.fromkeys(("synthesis", "spectrogram", "write_twin", "write_pandas_default"), 0.0)
    for i in range(n_eegs):
        p = rng.dirichlet(np.ones(constants.N_CLASSES), len(offsets))
        s = time.perf_counter()
        x, _ = synth_eeg(offsets, p, n, sample_traits(rng), rng)
        t["synthesis"] += time.perf_counter() - s
        s = time.perf_counter()
        kaggle_style_spectrogram(x, constants.SFREQ_HZ)
        t["spectrogram"] += time.perf_counter() - s
        s = time.perf_counter()
        write_eeg(tmp / f"{i}.parquet", x)
        t["write_twin"] += time.perf_counter() - s
        s = time.perf_counter()
        pd.DataFrame(x.T, columns=list(constants.EEG_CHANNELS)).to_parquet(tmp / f"{i}_pd.parquet")
        t["write_pandas_default"] += time.perf_counter() - s
    hours = n_eegs * seconds / 3600
    return {k: round(v / hours, 2) for k, v in t.items()} | {"eeg_hours": round(hours, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small twin (< 60 s)")
    parser.add_argument("--fraction", type=float, default=0.02,
                        help="share of real patients for the labels-driven run (default 0.02)")  # fmt: skip
    args = parser.parse_args()
    driven = LABELS.exists() and not args.quick
    kwargs = ({"labels": LABELS, "fraction": args.fraction, "n_patients": None} if driven
              else {"n_patients": 10 if args.quick else 60})  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory(prefix="iiic-synth-bench-") as tmp_s:
        tmp = Path(tmp_s)
        for workers in (1, 2):
            rows.append(time_twin(tmp / f"twin{workers}", workers, seed=0, **kwargs))
            print(f"twin, {workers} worker(s): {rows[-1]}", flush=True)
        stages = time_stages(tmp, 3 if args.quick else 8, 300.0)
        if not args.quick and (SHARED / "iiic-real-segments").exists():
            from iiic.synth.realism import realism_report

            # a standalone twin has windows of every class (a small real fraction may not)
            generate_twin(tmp / "realism", n_patients=REALISM_PATIENTS, seed=0, workers=2)
            realism_report(tmp / "realism", SHARED, RESULTS / "synth_realism")
    best = max(r["eeg_hours_per_s"] for r in rows)
    result = {
        "quick": args.quick, "mode": "labels" if driven else "standalone",
        "fraction": args.fraction if driven else None, "twin": rows,
        "stage_s_per_eeg_hour": stages,
        "full_scale_eeg_hours": FULL_SCALE_EEG_HOURS,
        "full_scale_minutes": {f"{r['workers']}_workers": round(
            FULL_SCALE_EEG_HOURS / r["eeg_hours_per_s"] / 60, 1) for r in rows},
        "full_scale_minutes_best": round(FULL_SCALE_EEG_HOURS / best / 60, 1),
        "load_average": os.getloadavg(), "machine": machine_info(),
    }  # fmt: skip
    print(f"\n{'workers':>8} {'EEG-h':>8} {'wall s':>8} {'EEG-h/s':>8}")
    for r in rows:
        print(f"{r['workers']:>8} {r['eeg_hours']:>8} {r['wall_s']:>8} {r['eeg_hours_per_s']:>8}")
    print(f"stages (s per EEG-hour): {stages}")
    print(f"full scale ({FULL_SCALE_EEG_HOURS} EEG-h): {result['full_scale_minutes']} min "
          f"(load average {result['load_average'][0]:.1f} on {os.cpu_count()} cores)")  # fmt: skip
    write_json_atomic(RESULTS / "synth.json", result)


def readme_rows(load: Load) -> Rows:
    """Result rows of synth_realism/realism.json (quality) and synth.json (speed)."""
    out: Rows = {}
    realism = load("synth_realism/realism")
    if realism:
        share = realism["by_class"]
        out["quality"] = [("twin realism: per-class feature medians inside the real segments' range "
                           "of their class", f"{share['share_inside_class_range']:.0%}",
                           f"inside the range of any class: {share['share_inside_any_class_range']:.0%}; "
                           "real values inside the twin's 5-95 % range of their class: "
                           f"{share.get('share_real_inside_synth_p5_p95', float('nan')):.0%}",
                           f"`iiic synth --report` (benchmarks/synth.py): {len(realism['metrics'])} features × 6 classes vs "
                           "the real segments")]  # fmt: skip
    syn = load("synth")
    if syn:
        out["speed"] = [("`iiic synth`", f"{num(syn['twin'][0]['eeg_hours_per_s'], '.2f')} EEG-h/s",
                         f"full scale ({syn['full_scale_eeg_hours']:.0f} EEG-h): "
                         f"{syn['full_scale_minutes_best']:.0f} min extrapolated",
                         f"{syn['fraction']:.0%} of the real label table, 1 worker")]  # fmt: skip
    return out


if __name__ == "__main__":
    main()
