"""``analyze --fast`` against exact ``analyze``: the largest probability difference on the demo's
recording (issue 25: goal <= 1e-4).

The demo's synthetic EDF (``iiic demo``: 1 h, seed 0, :func:`iiic.synth.recording.write_recording`)
is scored by trained runs (e.g. a demo's ``runs/*``) with the same torch models, as ``iiic
analyze`` does (:mod:`iiic.clinical.scoring`: each run's preprocessing applied to the recording
once, as training's model-ready inputs): exact (the runs' own filters) and ``--fast`` (the FFT
filters inside the recording). Reports the largest absolute difference of the combined
probabilities, its quantiles and the top-class agreement; and, for reference, each window
preprocessed on its own (``Predictor.predict``, as ``iiic predict`` scores a 50-s test file and
as ``analyze`` did before issue 25) against exact: the window-edge effect of the filters.
Writes benchmarks/results/fast_exact.json (or ``--out``).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from iiic.utils import machine_info, write_json_atomic

RESULTS = Path(__file__).resolve().parent / "results" / "fast_exact.json"


def _compare(a: np.ndarray, b: np.ndarray) -> dict:
    """Largest and quantiles of the per-window largest |a - b| (n_windows, 6), top-class match."""
    diff = np.abs(a - b).max(axis=1)
    return {"max_abs_prob_diff": float(diff.max()),
            "quantiles_abs_prob_diff": {q: float(np.quantile(diff, float(q))) for q in ("0.5", "0.99")},
            "windows_over_1e-4": int((diff > 1e-4).sum()),
            "top_class_agreement": float((a.argmax(1) == b.argmax(1)).mean())}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path, help="run directories (trained)")
    ap.add_argument("--blend", type=Path, help="blend.json of these runs")
    ap.add_argument("--hours", type=float, default=1.0, help="recording length (demo: 1 h)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    import torch

    from iiic.clinical.edf import read_recording
    from iiic.clinical.scoring import WindowScorer, scorer_for
    from iiic.clinical.timeline import analyze_recording
    from iiic.predict.predictor import Predictor
    from iiic.synth.recording import write_recording

    torch.set_num_threads(1)
    predictor = Predictor.from_runs(args.runs, backend="torch", device="cpu", blend=args.blend)
    with tempfile.TemporaryDirectory() as tmp:
        rec = read_recording(write_recording(Path(tmp) / "demo.edf", args.hours, seed=0)[0])
    exact = analyze_recording(rec, scorer_for(predictor, prior="training")).probabilities
    fast = analyze_recording(rec, scorer_for(predictor, fast=True, prior="training"))
    alone = analyze_recording(rec, WindowScorer(predictor.predict)).probabilities
    result = {
        "recording": f"demo EDF, {args.hours:g} h, seed 0", "windows": len(exact),
        "runs": [p.name for p in args.runs], "blend": args.blend is not None,
        "preprocessing": predictor.preprocessing(),
        **_compare(exact, fast.probabilities),
        "each_window_alone_vs_exact": _compare(alone, exact),
        "machine": machine_info(),
    }  # fmt: skip
    print({k: v for k, v in result.items() if k not in ("machine", "preprocessing")})
    write_json_atomic(args.out, result)


if __name__ == "__main__":
    main()
