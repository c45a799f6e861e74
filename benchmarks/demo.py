"""``iiic demo`` end to end: wall time per stage and the KL figures it prints.

Runs :func:`iiic.demo.run_demo` with its defaults (the README's first command) in a temporary
folder and writes ``benchmarks/results/demo.json``: stage timings (s), out-of-fold KL of each
preset next to the twin's oracle KL and the class prior, the blend, the test-set KL next to the
uniform prediction, how many windows of the synthetic recording got the right top class, and the
twin-trained models on the 12 real IIIC segments shipped with iiic (next to SPaRCNet and uniform).
``--quick`` (12 patients, 1 epoch per stage, 15-min recording) checks the code path in ~3 min and
writes ``demo_quick.json``. Figures are wall times on this machine; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from iiic.demo import DemoConfig, run_demo
from iiic.utils import write_json_atomic

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="12 patients, 1 epoch, 15-min EDF")
    ap.add_argument("--keep", type=Path, help="write the demo here instead of a temp folder")
    args = ap.parse_args()
    cfg = DemoConfig(patients=12, epochs=1, edf_hours=0.25) if args.quick else DemoConfig()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp) / "demo"
        summary = run_demo(out, cfg, overwrite=True)
    rec = {k: v for k, v in summary["recording"].items() if k != "episodes"}
    result = {
        "benchmark": "demo",
        "quick": args.quick,
        "command": "iiic demo --out DIR" + (" (quick settings)" if args.quick else ""),
        "config": summary["config"],
        "twin": {
            k: summary["twin"][k]
            for k in (
                "n_patients",
                "n_eegs",
                "n_rows",
                "eeg_hours",
                "oracle_kl",
                "oracle_kl_ge10_votes",
            )
        },  # fmt: skip
        "class_prior": summary["class_prior"],
        "oof": {
            name: {k: ev[k] for k in ("kl", "kl_high_votes", "accuracy")}
            for name, ev in summary["oof"].items()
        },  # fmt: skip
        "blend": summary["blend"],
        "test": summary["test"],
        "recording": rec,
        "real_segments": summary.get("real_segments"),
        "timings_s": summary["timings_s"],
        "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
        "machine": summary["machine"],
    }
    path = RESULTS_DIR / ("demo_quick.json" if args.quick else "demo.json")
    write_json_atomic(path, result)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
