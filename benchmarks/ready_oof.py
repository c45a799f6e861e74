"""Does training on per-recording model-ready inputs learn the same as per-row inputs?

On the demo's twin (standalone, ``--patients`` patients, seed 0, ``--folds`` patient folds) the
model-ready inputs of each preset are built once (``iiic prepare --preset``) and every preset is
trained ``--seeds`` times with ``model_ready="require"``; the OOF KL (nats) of each run is
recorded. Run it once with the code that stores inputs per labelled row and once with the code
that stores them per recording (``--label``), then compare the two files' means.

Writes benchmarks/results/ready_oof_<label>.json.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from iiic.utils import machine_info, write_json_atomic

RESULTS = Path(__file__).resolve().parent / "results"
PRESETS = ("eeg1d_cpu", "morph_cpu")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--label", required=True, help="name of this variant (per_row, per_recording)")
    ap.add_argument(
        "--work", type=Path, required=True, help="scratch directory (twin, cache, runs)"
    )
    ap.add_argument("--patients", type=int, default=24)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--presets", default=",".join(PRESETS), help="comma-separated presets")
    ap.add_argument("--filter-method", choices=("iir", "fft"),
                    help="override each preset's preprocess.filter_method")  # fmt: skip
    args = ap.parse_args()

    import torch

    from iiic.data.cache import build_cache
    from iiic.synth import generate_twin
    from iiic.train.config import load_config
    from iiic.train.kfold import train_kfold
    from iiic.train.ready import build_ready

    torch.set_num_threads(1)
    twin = args.work / "twin"
    if not (twin / "train.csv").exists():
        generate_twin(twin, n_patients=args.patients, seed=0, progress=False)
    cache = args.work / f"cache_{args.label}"
    if not cache.exists():
        build_cache(twin, cache, n_folds=args.folds, seed=0, workers=1, progress=False)
    result: dict = {"label": args.label, "patients": args.patients, "folds": args.folds,
                    "filter_method": args.filter_method or "as the preset", "presets": {}}  # fmt: skip

    def config(name: str, **kw):
        cfg = load_config(name, n_folds=args.folds, model_ready="require", **kw)
        if args.filter_method is None:
            return cfg
        pre = cfg.preprocess.model_copy(update={"filter_method": args.filter_method})
        return cfg.model_copy(update={"preprocess": pre})

    for name in args.presets.split(","):
        cfg0 = config(name)
        build_ready(cache, cfg0.preprocess, workers=1, progress=False)
        kls, secs = [], []
        for seed in range(args.seeds):
            cfg = config(name, seed=seed)
            t0 = time.process_time()
            summary = train_kfold(cfg, cache, args.work / "runs" / f"{args.label}_{name}_{seed}",
                                  device="cpu", progress_bar=False)  # fmt: skip
            secs.append(time.process_time() - t0)
            kls.append(float(summary["oof_kl"]))
            print(f"{args.label} {name} seed {seed}: OOF KL {kls[-1]:.4f}", flush=True)
        result["presets"][name] = {"oof_kl": kls, "mean": statistics.mean(kls),
                                   "sd": statistics.stdev(kls) if len(kls) > 1 else 0.0,
                                   "cpu_s": secs}  # fmt: skip
    result["machine"] = machine_info()
    write_json_atomic(RESULTS / f"ready_oof_{args.label}.json", result)


if __name__ == "__main__":
    main()
