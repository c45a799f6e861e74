"""Does ``iiic analyze`` find known pattern episodes in a long recording? (issue 7's check)

Writes a synthetic EDF+ with one 240-s episode of each of LRDA, Seizure, GPD, GRDA and LPD
(180 s of background between them, seed 2024: the schedule of
tests/clinical/test_clinical_end_to_end.py), analyses it with trained runs (torch, CPU) and
reports, per episode, the share of its windows whose top class is the inserted pattern
(``iiic.synth.recording.episode_scores``: the rule shared with ``iiic demo``) and the mean
probabilities; the baseline in the same run is the background windows (top class
Other expected). Without ``--runs`` it first trains eeg1d on a 96-patient standalone twin with
``benchmarks/train.py`` (~10 min on 2 cores). Writes benchmarks/results/episodes.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from iiic.clinical.pipeline import AnalyzeConfig, analyze_file
from iiic.predict.predictor import Predictor
from iiic.synth.recording import episode_scores, regular_episodes, write_recording
from iiic.utils import machine_info, write_json_atomic
from readme_table import Load, Rows, stale

HERE = Path(__file__).resolve().parent
PATTERNS = ("lrda", "seizure", "gpd", "grda", "lpd")
EPISODE_S, GAP_S, SEED = 240.0, 180.0, 2024
TRAIN_PATIENTS = 96


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", default=None, help="trained run directories (comma-separated)")
    ap.add_argument("--describe", default="given runs", help="with --runs: how they were trained")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="iiic-episodes-"))
    if args.runs:
        runs = [Path(p) for p in args.runs.split(",")]
        trained = args.describe
    else:
        subprocess.run([sys.executable, str(HERE / "train.py"), "--standalone", "--patients",
                        str(TRAIN_PATIENTS), "--models", "eeg1d", "--work", str(work),
                        "--results", str(work / "train.json")], check=True)  # fmt: skip
        runs, trained = [work / "run_eeg1d"], f"eeg1d, {TRAIN_PATIENTS}-patient standalone twin"
    episodes = regular_episodes(list(PATTERNS), EPISODE_S, GAP_S)
    hours = (episodes["end_s"].iloc[-1] + GAP_S) / 3600
    edf, _ = write_recording(work / "synthetic.edf", hours, seed=SEED, episodes=episodes)
    predictor = Predictor.from_runs(runs, backend="torch", device="cpu")
    result = analyze_file(edf, predictor.predict, work / "out", config=AnalyzeConfig(max_pages=1),
                          needs_spec=predictor.needs_spec)  # fmt: skip
    scores = episode_scores(result.timeline.table, episodes)
    per_episode, background = scores["per_pattern"], scores["background"]
    out = {
        "machine": machine_info(), "runs": [str(r) for r in runs], "trained": trained,
        "recording_hours": round(hours, 2), "seed": SEED, "episodes": per_episode,
        "background_windows_right": background,
        "min_episode_share": min(v["top_class_right"] for v in per_episode.values()),
    }  # fmt: skip
    path = write_json_atomic(HERE / "results" / "episodes.json", out)
    for name, v in per_episode.items():
        print(f"{name:8s} top class right in {v['top_class_right']:.0%} of {v['windows']} windows")
    print(f"background: Other in {background:.0%}; wrote {path}")
    print(json.dumps({k: out[k] for k in ("trained", "min_episode_share")}))


def readme_rows(load: Load) -> Rows:
    """Result row of episodes.json: the least share of an episode's windows called right."""
    eps = load("episodes")
    if not eps:
        return {}
    shares = ", ".join(f"{k} {v['top_class_right']:.0%}" for k, v in eps["episodes"].items())
    return {"quality": [("EDF episodes (LRDA, Seizure, GPD, GRDA, LPD; 240 s each): least share of "
                         "episode windows with the right top class", f"{eps['min_episode_share']:.0%}",
                         f"background windows right: {eps['background_windows_right']:.0%}",
                         f"`benchmarks/episodes.py` ({eps['trained']}): {shares}" + stale(eps))]}  # fmt: skip


if __name__ == "__main__":
    main()
