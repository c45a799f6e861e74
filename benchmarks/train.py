"""Out-of-fold quality and CPU training throughput of each model family on a synthetic twin.

One run, on one twin (driven by the real train.csv for a subset of patients when
``../shared/data`` is present, standalone otherwise), patient-grouped k-fold:

- ``eeg1d``, ``spec2d``, ``multimodal`` (CPU-sized options) and ``sparcnet`` (the clinical
  baseline) trained with ``iiic.train.train_kfold``;
- ``oracle``: KL(votes ‖ the twin's true distribution) — the floor no model can beat with
  finitely many votes;
- ``class prior``: each held-out fold predicted by the mean vote distribution of the other folds.

All KL figures are on the out-of-fold rows with >= ``HIGH_QUALITY_VOTES`` votes (plus all rows).
Throughput: training windows/s on the CPU (data loading, preprocessing, forward, backward),
mean over epochs. Prints a table and writes benchmarks/results/train.json (train_quick.json with ``--quick``).
Each family trains its CPU preset's own schedule (``--epochs`` / ``--max-steps`` override it).

``--throughput``: training windows/s only, per-window preprocessing against the cache's
model-ready inputs (``iiic prepare --preset``), interleaved in one run: fold 0, one epoch of
``--max-steps`` (default 30) steps of each preset's first stage, ``--repeats`` times (median);
writes benchmarks/results/train_throughput.json.
``--efficiency``: eeg1d_cpu's full training loop against a plain PyTorch loop of the same model,
batch and model-ready dataset, interleaved in one run, plus what was tried (threads,
torch.compile, inference-mode validation); writes benchmarks/results/train_efficiency.json.
``--quick`` (12 patients, 2 folds, 2+1 epochs of at most 10 steps) takes about 5 CPU-minutes.
The demo-like setting behind results/train.json: ``--standalone --patients 24 --models
eeg1d,spec2d,sparcnet`` (the twin ``iiic demo`` trains on, 3 folds), one thread.
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
import torch

from iiic.constants import CLASSES, HIGH_QUALITY_VOTES, PRED_COLUMNS, VOTE_COLUMNS
from iiic.evaluate.metric import held_out_prior, kl_divergence
from iiic.train.config import TrainConfig, load_config, with_epochs
from iiic.train.kfold import open_data, train_kfold
from iiic.utils import machine_info, write_json_atomic
from readme_table import Load, Row, Rows, get, num, stale

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"
SHARED = Path(os.environ.get("IIIC_SHARED_DATA", REPO.parent / "shared" / "data"))
REAL_LABELS = SHARED / "hms-train-labels-reconstructed" / "train.csv.gz"
TRUE_COLUMNS = [f"true_{c}" for c in CLASSES]
FAMILIES = ("eeg1d", "spec2d", "multimodal", "sparcnet")


def family_config(name: str) -> TrainConfig:
    """The CPU preset of a family (multimodal: the eeg1d and spec2d CPU options fused)."""
    if name == "multimodal":
        eeg, spec = (
            load_config("eeg1d_cpu"),
            load_config("spec2d_cpu"),
        )
        options = {"eeg": eeg.model_options, "spec": spec.model_options, "drop_rate": 0.2}
        return spec.model_copy(update={"model": "multimodal", "model_options": options})
    return load_config(f"{name}_cpu")


def schedule(cfg: TrainConfig, args: argparse.Namespace) -> TrainConfig:
    """The preset with this run's folds and seed (and ``--epochs`` / ``--max-steps`` if given)."""
    update: dict = {"n_folds": args.folds, "val_min_rows": 4, "seed": args.seed}
    if args.epochs:
        update["stages"] = with_epochs(cfg, args.epochs).stages
    if args.max_steps:
        update["max_steps_per_epoch"] = args.max_steps
    return cfg.model_copy(update=update)


def make_twin(work: Path, args: argparse.Namespace) -> Path:
    from iiic.synth.twin import generate_twin

    if (work / "twin" / "synth_summary.json").is_file():  # --work reuse
        return work / "twin"
    labels = REAL_LABELS if REAL_LABELS.is_file() and not args.standalone else None
    return generate_twin(work / "twin", n_patients=args.patients, seed=args.seed, labels=labels,
                         n_test=2, workers=args.workers)  # fmt: skip


def _kl(df: pd.DataFrame, cols: list[str]) -> tuple[float, float]:
    votes = df[list(VOTE_COLUMNS)].to_numpy()
    high = votes.sum(axis=1) >= HIGH_QUALITY_VOTES
    return kl_divergence(votes[high], df.loc[high, cols].to_numpy()), kl_divergence(
        votes, df[cols].to_numpy()
    )


def baselines(oof: pd.DataFrame, truth: pd.DataFrame) -> dict[str, dict]:
    """Oracle and class-prior KL on the OOF rows."""
    df = oof.merge(truth, on=["eeg_id", "eeg_sub_id"], how="left")
    out = {"oracle": dict(zip(("kl_high_votes", "kl_all"), _kl(df, TRUE_COLUMNS), strict=True))}
    df[list(PRED_COLUMNS)] = held_out_prior(
        df[list(VOTE_COLUMNS)].to_numpy(), df["fold"].to_numpy()
    )
    out["class prior"] = dict(
        zip(("kl_high_votes", "kl_all"), _kl(df, list(PRED_COLUMNS)), strict=True)
    )
    return out


def run_family(name: str, twin: Path, work: Path, args: argparse.Namespace) -> dict:
    cfg = schedule(family_config(name), args)
    run = work / f"run_{name}"
    timing = run / "bench_train_s.json"
    if args.reuse and timing.is_file() and (run / "oof.parquet").is_file():
        seconds = json.loads(timing.read_text())["train_s"]
    else:
        shutil.rmtree(run, ignore_errors=True)
        t0 = time.perf_counter()
        train_kfold(cfg, twin, run, device="cpu", progress_bar=False)
        seconds = time.perf_counter() - t0
        write_json_atomic(timing, {"train_s": seconds})
    oof = pd.read_parquet(run / "oof.parquet")
    kl_high, kl_all = _kl(oof, list(PRED_COLUMNS))
    rates = [h["windows_per_s"] for f in sorted(run.glob("fold_*/metrics.json"))
             for h in json.loads(f.read_text())["history"]]  # fmt: skip
    return {"kl_high_votes": kl_high, "kl_all": kl_all, "train_windows_per_s": float(np.mean(rates)),
            "train_s": seconds, "epochs": [s.epochs for s in cfg.stages], "oof": oof}  # fmt: skip


def throughput(twin: Path, work: Path, args: argparse.Namespace) -> dict:
    """Median training windows/s of each family, per-window vs model-ready inputs, same run."""
    from iiic.train.ready import build_ready

    cache_dir = open_data(twin, workers=args.workers)[1]
    out: dict = {}
    for name in args.models.split(","):
        cfg = schedule(family_config(name), args)
        stage = cfg.stages[0].model_copy(update={"epochs": 1})
        cfg = cfg.model_copy(update={"folds": [0], "stages": [stage], "patience": None,
                                     "max_steps_per_epoch": args.max_steps or 30})  # fmt: skip
        t0 = time.perf_counter()
        build_ready(cache_dir, cfg.preprocess, workers=args.workers, progress=False)
        rates: dict[str, list[float]] = {"per_window": [], "model_ready": []}
        for _ in range(args.repeats):
            for path, mode in (("per_window", "off"), ("model_ready", "require")):
                run = work / f"throughput_{name}_{path}"
                shutil.rmtree(run, ignore_errors=True)
                train_kfold(cfg.model_copy(update={"model_ready": mode}), cache_dir, run,
                            device="cpu", progress_bar=False)  # fmt: skip
                history = json.loads((run / "fold_0" / "metrics.json").read_text())["history"]
                rates[path].append(history[0]["windows_per_s"])
        med = {k: float(np.median(v)) for k, v in rates.items()}
        out[name] = {"windows_per_s": med, "runs": rates, "ready_build_s": time.perf_counter() - t0,
                     "speedup": med["model_ready"] / med["per_window"],
                     "steps": cfg.max_steps_per_epoch, "batch_size": cfg.batch_size}  # fmt: skip
        print(f"{name:<10} per-window {med['per_window']:7.1f} windows/s, model-ready "
              f"{med['model_ready']:7.1f} windows/s ({out[name]['speedup']:.2f}x)", flush=True)  # fmt: skip
    return out


def _plain_rate(model: torch.nn.Module, ds, steps: int, cfg: TrainConfig, epoch: int) -> float:
    """Windows/s of a plain PyTorch loop: shuffled DataLoader, forward, KL loss, AdamW step."""
    from torch.utils.data import DataLoader

    from iiic.train.loss import kl_loss

    ds.set_epoch(epoch)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.stages[0].lr)
    loader = DataLoader(ds, batch_size=cfg.batch_size, shuffle=True)
    model.train()
    n, t0 = 0, time.perf_counter()
    for step, batch in enumerate(loader):
        if step >= steps:
            break
        loss = kl_loss(model(batch["eeg"], None), batch["target"], batch["weight"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        n += batch["eeg"].shape[0]
    return n / (time.perf_counter() - t0)


def _predict_s(trainer, ds, inference_mode: bool) -> float:
    """Seconds to predict ``ds`` with the trainer's eval model under no_grad or inference_mode."""
    from torch.utils.data import DataLoader

    model = trainer.eval_model().eval()
    ctx = torch.inference_mode if inference_mode else torch.no_grad
    t0 = time.perf_counter()
    with ctx():
        for batch in DataLoader(ds, batch_size=trainer.cfg.eval_batch_size):
            model(batch["eeg"], None)
    return time.perf_counter() - t0


def efficiency(twin: Path, work: Path, args: argparse.Namespace) -> dict:
    """eeg1d_cpu: the full training loop (``FoldTrainer.train_epoch``: EMA, grad clipping, the
    schedule, progress) against a plain PyTorch loop of the same model, batch and dataset
    (model-ready inputs), interleaved ``--repeats`` times in one run; then what was tried on top
    (threads, torch.compile, inference-mode validation)."""
    from iiic.data.cache import Cache
    from iiic.train.config import build_model
    from iiic.train.loop import FoldTrainer
    from iiic.train.ready import build_ready
    from iiic.train.rows import prepare_rows, validation_rows
    from iiic.train.runtime import setup_runtime

    steps = args.max_steps or 40
    cache_dir = open_data(twin, workers=args.workers)[1]
    cfg = schedule(load_config("eeg1d_cpu"), args).model_copy(
        update={"model_ready": "require", "max_steps_per_epoch": steps})  # fmt: skip
    build_ready(cache_dir, cfg.preprocess, workers=args.workers, progress=False)
    cache = Cache.open(cache_dir)
    rows = prepare_rows(cache.rows, cfg)
    val, _ = validation_rows(rows[rows["fold"] == 0], cfg)
    trainer = FoldTrainer(cfg, cache, rows, val, 0, work / "efficiency", setup_runtime("cpu", "off"),
                          progress_bar=False)  # fmt: skip
    ds, opt, sched, scaler = trainer.stage_setup(0, steps * (2 * args.repeats + 2))
    plain_model = build_model(cfg)

    def full() -> float:
        rate = trainer.train_epoch(ds, opt, sched, scaler, trainer.model)[1]
        trainer.p.global_epoch += 1
        return rate

    full(), _plain_rate(plain_model, ds, steps, cfg, 0)  # warm-up (allocator, first batches)
    rates: dict[str, list[float]] = {"full": [], "plain": []}
    for r in range(args.repeats):
        rates["full"].append(full())
        rates["plain"].append(_plain_rate(plain_model, ds, steps, cfg, r + 1))
    med = {k: float(np.median(v)) for k, v in rates.items()}
    out: dict = {"steps": steps, "batch_size": cfg.batch_size, "windows_per_s": med, "runs": rates,
                 "full_over_plain_time": med["plain"] / med["full"], "tried": {}}  # fmt: skip
    print(f"eeg1d_cpu full loop {med['full']:.1f} windows/s, plain loop {med['plain']:.1f} "
          f"(full takes {out['full_over_plain_time']:.3f}x the plain loop's time)", flush=True)  # fmt: skip
    threads = torch.get_num_threads()
    for n in sorted({1, threads}):
        torch.set_num_threads(n)
        out["tried"][f"full, {n} torch thread(s)"] = float(np.median([full() for _ in range(2)]))
    torch.set_num_threads(threads)
    compiled = torch.compile(plain_model)
    t0 = time.perf_counter()
    _plain_rate(compiled, ds, 2, cfg, 0)
    out["compile_s"] = time.perf_counter() - t0
    out["tried"]["plain, torch.compile"] = float(
        np.median([_plain_rate(compiled, ds, steps, cfg, e) for e in range(2)]))  # fmt: skip
    out["tried"]["plain, eager (same run)"] = float(
        np.median([_plain_rate(plain_model, ds, steps, cfg, e) for e in range(2)]))  # fmt: skip
    val_ds = trainer.dataset(rows[rows["fold"] == 0], train=False)  # every held-out row
    t_ng = np.median([_predict_s(trainer, val_ds, False) for _ in range(3)])
    t_im = np.median([_predict_s(trainer, val_ds, True) for _ in range(3)])
    out["validation"] = {
        "windows": len(val_ds),
        "no_grad_s": float(t_ng),
        "inference_mode_s": float(t_im),
    }
    for k, v in out["tried"].items():
        print(f"  {k:<28} {v:7.1f} windows/s", flush=True)
    print(
        f"  validation of {len(val_ds)} windows: no_grad {t_ng:.2f} s, inference_mode {t_im:.2f} s"
    )
    return out


def _secs(t: float | None) -> str:
    return "reused" if t is None else f"{t:.0f} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--quick", action="store_true", help="12 patients, 2 folds, 2+1 epochs of <= 10 steps"
    )
    ap.add_argument("--patients", type=int, default=60)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--epochs", type=int, nargs="+", default=None,
                    help="epochs per stage (default: the preset's)")  # fmt: skip
    ap.add_argument("--max-steps", type=int, default=None,
                    help="max steps per epoch (default: the preset's)")  # fmt: skip
    ap.add_argument("--standalone", action="store_true",
                    help="standalone twin (as `iiic demo`), even when the real train.csv is there")  # fmt: skip
    ap.add_argument("--models", default=",".join(FAMILIES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2, help="twin / cache worker processes")
    ap.add_argument("--work", type=Path, default=None, help="keep the twin and runs here")
    ap.add_argument("--reuse", action="store_true", help="with --work: reuse finished runs")
    ap.add_argument("--results", type=Path, default=None,
                    help="JSON to write (default results/train.json, train_quick.json with --quick)")  # fmt: skip
    ap.add_argument("--throughput", action="store_true",
                    help="windows/s only: per-window vs model-ready inputs (train_throughput.json)")  # fmt: skip
    ap.add_argument("--repeats", type=int, default=3,
                    help="--throughput / --efficiency: interleaved runs")  # fmt: skip
    ap.add_argument("--efficiency", action="store_true",
                    help="eeg1d_cpu: full training loop vs a plain PyTorch loop (train_efficiency.json)")  # fmt: skip
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.patients, args.folds, args.epochs, args.max_steps = 12, 2, [2, 1], 10
    work = args.work or Path(tempfile.mkdtemp(prefix="iiic_bench_train_"))
    if args.efficiency or args.throughput:
        mode, measure = (
            ("efficiency", efficiency) if args.efficiency else ("throughput", throughput)
        )
        try:
            load = {"before": os.getloadavg()[0]}
            results = measure(make_twin(work, args), work, args)
            load["after"] = os.getloadavg()[0]
        finally:
            if args.work is None:
                shutil.rmtree(work, ignore_errors=True)
        path = args.results or RESULTS_DIR / f"train_{mode}.json"
        write_json_atomic(path, {
            "benchmark": f"train --{mode}", "machine": machine_info(), "load_avg_1min": load,
            "settings": {"patients": args.patients, "standalone": args.standalone, "seed": args.seed,
                         "repeats": args.repeats, "torch_threads": torch.get_num_threads()},
            "results": results,
        })  # fmt: skip
        print(f"wrote {path}")
        return
    try:
        t0 = time.perf_counter()
        reused = (work / "twin" / "synth_summary.json").is_file()
        twin = make_twin(work, args)
        t_twin = None if reused else time.perf_counter() - t0
        t1 = time.perf_counter()
        open_data(twin, workers=args.workers)
        t_cache = None if reused else time.perf_counter() - t1
        results = {name: run_family(name, twin, work, args) for name in args.models.split(",")}
        truth = pd.read_parquet(twin / "truth.parquet")
        ref = next(iter(results.values()))["oof"]
        rows = {**baselines(ref, truth), **{k: {kk: vv for kk, vv in v.items() if kk != "oof"}
                                            for k, v in results.items()}}  # fmt: skip
        summary = json.loads((twin / "synth_summary.json").read_text())
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"twin: {summary['n_patients']} patients, {summary['n_rows']} rows, {summary['n_eegs']} EEGs "
          f"({summary['mode']}); twin {_secs(t_twin)}, cache {_secs(t_cache)}; {args.folds} folds")  # fmt: skip
    print(
        f"{'model':<12} {'KL >=10 votes':>14} {'KL all rows':>12} {'windows/s':>10} {'train s':>8}"
    )
    for name, r in rows.items():
        rate = f"{r['train_windows_per_s']:.1f}" if "train_windows_per_s" in r else "-"
        secs = f"{r['train_s']:.0f}" if "train_s" in r else "-"
        print(f"{name:<12} {r['kl_high_votes']:>14.4f} {r['kl_all']:>12.4f} {rate:>10} {secs:>8}")
    results_path = args.results or RESULTS_DIR / (
        "train_quick.json" if args.quick else "train.json"
    )
    write_json_atomic(results_path, {
        "benchmark": "train", "quick": args.quick, "machine": machine_info(),
        "settings": {"patients": args.patients, "folds": args.folds, "epochs": args.epochs,
                     "max_steps_per_epoch": args.max_steps, "seed": args.seed,
                     "standalone": args.standalone, "torch_threads": torch.get_num_threads(),
                     "threads": os.environ.get("OMP_NUM_THREADS")},
        "twin": summary, "twin_s": t_twin, "cache_s": t_cache,
        "n_oof_rows": len(ref), "n_oof_high_vote_rows": int((ref[list(VOTE_COLUMNS)].sum(axis=1) >= HIGH_QUALITY_VOTES).sum()),
        "results": rows,
    })  # fmt: skip
    print(f"wrote {results_path}")


def _train_rows(train: dict, suffix: str, how: str) -> list[Row]:
    """One result row per model family of a train.json result, next to its baselines."""
    res = train["results"]
    base = ", ".join(f"{b} {num(get(res, f'{b}.kl_high_votes'), '.3f')}"
                     for b in ("oracle", "class prior", "sparcnet") if b in res)  # fmt: skip
    return [(f"{name} OOF KL, ≥10-vote rows{suffix}", num(fig.get("kl_high_votes"), ".3f"), base, how)
            for name, fig in res.items() if name not in ("oracle", "class prior", "sparcnet")]  # fmt: skip


def readme_rows(load: Load) -> Rows:
    """Result rows of train.json and train_96patients.json (quality), train_throughput.json (or
    train.json's windows/s) and train_efficiency.json (speed)."""
    quality, speed = [], []
    train = load("train")
    if train:
        st = train.get("settings", {})
        quality += _train_rows(train, "", f"`benchmarks/train.py`: {st.get('patients')}-patient twin "
                               f"({train['twin'].get('mode')}), {st.get('folds')} folds, CPU presets"
                               + stale(train))  # fmt: skip
    big = load("train_96patients")
    if big:
        n = big.get("settings", {}).get("patients")
        quality += _train_rows(big, f", {n}-patient twin",
                               f"`benchmarks/train.py --standalone --patients {n} --models eeg1d`: "
                               "4× the demo's data, same preset" + stale(big))  # fmt: skip
    throughput = load("train_throughput")
    if throughput:
        lavg = get(throughput, "load_avg_1min.before")
        for name, fig in throughput["results"].items():
            wps = fig["windows_per_s"]
            speed.append((f"training throughput, {name} CPU preset, model-ready inputs",
                          f"{wps['model_ready']:.0f} windows/s",
                          f"per-window preprocessing: {wps['per_window']:.0f} windows/s "
                          f"({fig['speedup']:.1f}×)",
                          f"`benchmarks/train.py --throughput`: {get(throughput, 'settings.patients')}"
                          f"-patient twin, fold 0, {fig['steps']} steps of {fig['batch_size']}, "
                          f"{get(throughput, 'settings.torch_threads')} torch thread(s), median of "
                          f"{get(throughput, 'settings.repeats')}; 1-min load {num(lavg, '.1f')}"))  # fmt: skip
    elif train:
        for name in ("eeg1d", "spec2d", "sparcnet"):
            wps = get(train, f"results.{name}.train_windows_per_s")
            if wps is not None:
                speed.append((f"training throughput, {name} CPU preset", f"{wps:.0f} windows/s",
                              "", f"{get(train, 'settings.torch_threads') or 1} torch thread(s)"))  # fmt: skip
    eff = load("train_efficiency")
    if eff:
        e = eff["results"]
        tried = "; ".join(f"{k} {v:.0f}" for k, v in e["tried"].items())
        speed.append(("training loop, eeg1d_cpu: time of the full loop (EMA, clipping, schedule, "
                      "progress) over a plain PyTorch loop", f"{e['full_over_plain_time']:.2f}×",
                      f"plain loop {e['windows_per_s']['plain']:.0f} windows/s, full "
                      f"{e['windows_per_s']['full']:.0f}; goal ≤ 1.1×",
                      f"`benchmarks/train.py --efficiency`: same model, batch {e['batch_size']} and "
                      f"model-ready dataset, {e['steps']} steps, median of "
                      f"{get(eff, 'settings.repeats')} interleaved; also tried (windows/s): {tried}"))  # fmt: skip
    return {"quality": quality, "speed": speed}


if __name__ == "__main__":
    main()
