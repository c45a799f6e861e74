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
from readme_table import Load, Rows, get, num

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


def readme_rows(load: Load) -> Rows:
    """Result rows of ``results/demo.json``: the demo's twin figures (quality), its ensemble on
    the real segments (real) and its wall time (speed)."""
    demo = load("demo")
    if not demo:
        return {}
    t, quality = demo["twin"], []
    for name, ev in demo["oof"].items():
        quality.append((f"demo: {name} OOF KL, ≥10-vote rows", num(ev["kl_high_votes"], ".3f"),
                        f"oracle {num(t['oracle_kl_ge10_votes'], '.3f')}, class prior "
                        f"{num(get(demo, 'class_prior.kl_high_votes'), '.3f')}",
                        f"`iiic demo` defaults: {t['n_patients']}-patient standalone twin, "
                        f"{demo['config']['folds']} patient folds"))  # fmt: skip
    if demo.get("blend"):
        quality.append(("demo: blend OOF KL (all rows, patient-grouped CV)",
                        num(demo["blend"]["blend_cv"], ".3f"),
                        f"plain average {num(demo['blend']['plain_average'], '.3f')}",
                        "`iiic blend` on the demo's OOF tables"))  # fmt: skip
    quality.append(("demo: test-set KL (hidden votes)", num(get(demo, "test.kl"), ".3f"),
                    f"uniform {num(get(demo, 'test.kl_uniform'), '.3f')}, oracle "
                    f"{num(get(demo, 'test.kl_oracle'), '.3f')}",
                    f"{get(demo, 'test.n_rows')} test EEGs of the demo twin"))  # fmt: skip
    acc = get(demo, "recording.window_accuracy_in_episodes")
    quality.append(("demo: windows inside inserted EDF episodes with the right top class",
                    "not measured" if acc is None else f"{acc:.0%}",
                    f"background windows right: {num(get(demo, 'recording.window_accuracy_background'), '.0%')}",
                    f"`analyze --fast` of a {get(demo, 'recording.hours')}-h synthetic EDF"))  # fmt: skip
    real = []
    for key in ("real_segments", "real_segments_10s"):
        seg = get(demo, key)
        if not seg:
            continue
        p, n = seg["predictors"], seg["n_segments"]
        m, secs = p[seg["model"]], seg.get("segments", "50s").removesuffix("s")
        if "kl_ci90" not in m:  # written before issue 23's yardstick: re-run benchmarks/demo.py
            continue
        base = (
            f"SPaRCNet {num(p['sparcnet']['kl'], '.3f')} / {p['sparcnet']['n_right']}, "
            if ("sparcnet" in p)
            else ""
        )
        real.append((f"demo: real {secs}-s IIIC segments (n={n}), KL [90 % interval] / top class "
                     "right / worst segment",
                     f"{num(m['kl'], '.3f')} [{num(m['kl_ci90'][0], '.2f')}–"
                     f"{num(m['kl_ci90'][1], '.2f')}] / {m['n_right']} of {n} / "
                     f"{num(m['kl_max'], '.2f')}",
                     base + f"uniform {num(p['uniform']['kl'], '.3f')}, class prior "
                     f"{num(p['class prior']['kl'], '.3f')}",
                     f"`iiic demo` defaults: the equal-weight ensemble of {len(seg['runs'])} "
                     "twin-trained runs, `iiic score`"))  # fmt: skip
    speed = [("`iiic demo` end to end", f"{demo['timings_s']['total'] / 60:.1f} min",
              "goal ≤ 10 min", "defaults, wall time; stages in demo.json")]  # fmt: skip
    return {"quality": quality, "real": real, "speed": speed}


if __name__ == "__main__":
    main()
