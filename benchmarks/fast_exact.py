"""``analyze --fast`` against exact ``analyze``: the largest probability difference on the demo's
recording.

The demo's synthetic EDF (``iiic demo``: 1 h, seed 0, :func:`iiic.synth.recording.write_recording`)
is scored by trained runs (e.g. a demo's ``runs/*``) twice, with the same torch models: per window
(``Predictor.predict``: each 50-s window preprocessed on its own, as exact ``iiic analyze``) and
continuously (:class:`iiic.clinical.fast.ContinuousScorer`: the recording preprocessed once, as
``iiic analyze --fast``). Reports the largest absolute difference of the combined probabilities
(goal <= 1e-4), its quantiles and the top-class agreement; and the same for the recording
preprocessed once with the runs' own filters (``ContinuousScorer(filter_method=None)``, the
model-ready inputs' way) against ``--fast``, which isolates the FFT-vs-recursive difference from
the window-edge difference. Writes benchmarks/results/fast_exact.json (or ``--out``).
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
    from iiic.clinical.fast import ContinuousScorer
    from iiic.clinical.timeline import analyze_recording
    from iiic.predict.predictor import Predictor
    from iiic.synth.recording import write_recording

    torch.set_num_threads(1)
    predictor = Predictor.from_runs(args.runs, backend="torch", device="cpu", blend=args.blend)
    with tempfile.TemporaryDirectory() as tmp:
        rec = read_recording(write_recording(Path(tmp) / "demo.edf", args.hours, seed=0)[0])
    exact = analyze_recording(rec, predictor.predict).probabilities
    fast = analyze_recording(rec, ContinuousScorer(predictor, rec.data)).probabilities
    own = ContinuousScorer(predictor, rec.data, filter_method=None)
    recording = analyze_recording(rec, own).probabilities
    result = {
        "recording": f"demo EDF, {args.hours:g} h, seed 0", "windows": len(fast),
        "runs": [p.name for p in args.runs], "blend": args.blend is not None,
        "preprocessing": predictor.preprocessing(),
        **_compare(exact, fast),
        "recording_own_filters_vs_fast": _compare(recording, fast),
        "machine": machine_info(),
    }  # fmt: skip
    print({k: v for k, v in result.items() if k not in ("machine", "preprocessing")})
    write_json_atomic(args.out, result)


if __name__ == "__main__":
    main()
