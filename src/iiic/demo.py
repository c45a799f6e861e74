"""``iiic demo``: the whole system on a synthetic twin, end to end, in minutes on a laptop.

twin (standalone) → prepare (cache) → train each preset over patient folds → OOF reports →
blend → predict the twin's test set (submission.csv, scored against its hidden votes) →
analyse a synthetic EDF recording → ``index.html`` linking everything.

Every figure is also written to ``summary.json``. KL is Kaggle's KL divergence in nats.
"""

from __future__ import annotations

import html
import json
import shutil
import string
import sys
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from iiic.constants import CLASS_LABELS, CLASSES, HIGH_QUALITY_VOTES, VOTE_COLUMNS
from iiic.evaluate.metric import held_out_prior, kl_divergence
from iiic.predict.card import CARD_VERSION, NO_CHECK, headline
from iiic.predict.predictor import Predictor
from iiic.utils import machine_info, timed, write_json_atomic, write_text_atomic

DEFAULT_PRESETS = ("morph_cpu", "morph10_cpu", "eeg1d_cpu")
"""Model presets the demo trains (the CPU presets also run on a GPU when one is there): the ones
that read the EEG itself — the morphology model on the 50-s window and on its central 10 s (which
also scores 10-s segments) and the 1-D CNN. spec2d_cpu (``--presets ...,spec2d_cpu``) reads Kaggle
spectrograms, which real EDF and IIIC data lack: trained on the demo's twin it scored worse than
a uniform guess on the real segments (KL 1.67, 0 of 12; docs/results.md, real-segment revisions)."""
DEFAULT_TWIN_SEEDS = 3
"""Twins (seeds ``seed``, ``seed + 1``, …) the presets are trained on; every run of every twin
enters the ensemble with an equal weight (docs/results.md, "Real-data check")."""


class DemoConfig(BaseModel):
    """Settings of ``iiic demo`` (written into summary.json)."""

    model_config = ConfigDict(extra="forbid")
    patients: int = Field(24, ge=8, description="patients of each standalone twin")
    folds: int = Field(3, ge=2, le=10, description="patient-grouped cross-validation folds")
    epochs: int | None = Field(None, ge=1, description="epochs of every stage (preset if None)")
    presets: tuple[str, ...] = Field(DEFAULT_PRESETS, min_length=1, description="model presets")
    twin_seeds: int = Field(
        DEFAULT_TWIN_SEEDS, ge=1, le=10,
        description="twins the presets are trained on (seeds seed, seed+1, ...); the ensemble "
        "averages every run with an equal weight",
    )  # fmt: skip
    blend: bool = Field(
        False,
        description="fit log-space blend weights on the first twin's OOF predictions and predict "
        "with them instead of the equal-weight mean (better on the twin, worse on real EEG)",
    )
    edf_hours: float = Field(1.0, gt=0, le=24, description="length of the synthetic EDF, h")
    seed: int = 0
    device: str = "auto"


class Stages:
    """Prints each stage with the elapsed time and records its duration (s)."""

    def __init__(self, say: Callable[[str], None]):
        self.say, self.t_start, self.timings_s = say, time.perf_counter(), {}

    def run(self, name: str, what: str, fn: Callable[[], Any]) -> Any:
        self.say(f"[{self.elapsed():6.1f} s] {name}: {what}")
        with timed(self.timings_s, name):
            result = fn()
        self.timings_s[name] = round(self.timings_s[name], 2)
        return result

    def elapsed(self) -> float:
        return time.perf_counter() - self.t_start


def _print(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_demo(
    out: str | Path,
    cfg: DemoConfig | None = None,
    *,
    overwrite: bool = False,
    say: Callable[[str], None] = _print,
) -> dict[str, Any]:
    """Run the demo into ``out``; return the summary (also ``out/summary.json``)."""
    from iiic.train.config import load_config

    cfg = cfg or DemoConfig()
    for name in cfg.presets:  # fail before any work on a bad preset name
        load_config(name)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out}: not empty; choose another --out or pass --overwrite")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    bars = sys.stderr.isatty()
    st = Stages(say)
    twin, cache, runs, blend = _make_models(out, cfg, st, bars)
    first = {name: runs[name] for name in cfg.presets}  # the first twin's runs: its OOF reports
    evals = st.run("evaluate", "out-of-fold reports", lambda: _evaluate(first, out / "reports"))
    prior = _prior_kl(cache)
    predictor = Predictor.from_runs(list(runs.values()), device=cfg.device,
                                    blend=None if blend is None else out / "blend.json")  # fmt: skip
    test = st.run(
        "predict", "test set → submission.csv",
        lambda: _predict(predictor, twin, out / "submission.csv"),
    )  # fmt: skip
    real, section = st.run(
        "real segments", "12 real 50-s IIIC segments (ODC-By) scored against their expert votes",
        lambda: _real_segments(predictor, out / "real_segments"),
    )  # fmt: skip
    real_10s, section_10s = st.run(
        "real segments 10s", "10 real 10-s IIIC segments (ODC-By), runs that read 10 s",
        lambda: _real_segments(predictor, out / "real_segments_10s", "10s"),
    )  # fmt: skip
    sections = {"iiic-real-segments": section, "iiic-real-segments-10s": section_10s}
    predictor.card = _write_card(out, cfg, list(runs.values()), blend is not None,
                                 {k: v for k, v in sections.items() if v is not None})  # fmt: skip
    clinical = st.run(
        "analyze", f"synthetic {cfg.edf_hours:g}-h EDF recording",
        lambda: _analyze(predictor, list(runs), out / "recording", cfg),
    )  # fmt: skip

    twin_summary = json.loads((twin / "synth_summary.json").read_text(encoding="utf-8"))
    summary = {
        "config": cfg.model_dump(mode="json"),
        "twin": twin_summary,
        "class_prior": prior,
        "oof": evals,
        "blend": None if blend is None else blend["scores"],
        "ensemble": {"runs": list(runs), "combine": "blend" if blend else "equal-weight mean"},
        "test": test,
        "recording": clinical,
        "real_segments": real,
        "real_segments_10s": real_10s,
        "model": headline(predictor.card),
        "timings_s": st.timings_s | {"total": round(st.elapsed(), 1)},
        "machine": machine_info(),
    }
    write_json_atomic(out / "summary.json", summary)
    write_text_atomic(out / "index.html", render_index(summary, out))
    for line in summary_lines(summary, out):
        say(line)
    return summary


def _make_models(out: Path, cfg: DemoConfig, st: Stages, bars: bool):
    """synth → prepare → train each preset → the same on ``cfg.twin_seeds - 1`` more twins →
    blend (``cfg.blend`` only): the first twin, its cache, the runs (name → ``out/runs/<name>``:
    ``<preset>`` on the first twin, ``<preset>_seed<k>`` on the others) and the blend's JSON
    (``out/blend.json``) or None."""
    from iiic.data.cache import build_cache
    from iiic.synth import generate_twin

    twin = st.run(
        "synth", f"synthetic twin, {cfg.patients} patients",
        lambda: generate_twin(out / "twin", n_patients=cfg.patients, seed=cfg.seed, progress=bars),
    )  # fmt: skip
    cache = st.run(
        "prepare", "memory-mapped training cache",
        lambda: build_cache(twin, out / "cache", n_folds=cfg.folds, seed=cfg.seed, progress=bars),
    )  # fmt: skip
    runs = {}
    for name in cfg.presets:
        runs[name] = st.run(
            f"train {name}", f"{cfg.folds} patient folds",
            lambda name=name: _train(name, cfg, cache, out / "runs" / name, cfg.seed, bars),
        )  # fmt: skip
    for seed in range(cfg.seed + 1, cfg.seed + cfg.twin_seeds):
        runs |= st.run(
            f"twin seed {seed}", f"another {cfg.patients}-patient twin (EEG only), the same presets",
            lambda seed=seed: _train_twin(cfg, seed, out, bars),
        )  # fmt: skip
    blend = None
    if cfg.blend and len(cfg.presets) > 1:
        if cfg.twin_seeds > 1:
            raise ValueError("blend: fit on one twin's runs; use it with twin_seeds=1")
        blend = st.run(
            "blend", "log-space blend, patient-grouped CV", lambda: _blend(runs, out, cfg.folds)
        )
    return twin, cache, runs, blend


def train_models(
    out: str | Path, cfg: DemoConfig | None = None, *, say: Callable[[str], None] = _print
) -> tuple[list[Path], Path | None]:
    """The demo's models alone (what ``benchmarks/default_model.py`` ships): the twins, caches,
    runs (``out/runs/<name>``) and blend (``out/blend.json``, ``cfg.blend`` only) exactly as
    :func:`run_demo` makes them. Returns the run directories and the blend.json (or None).
    ``out`` must be absent or empty."""
    from iiic.train.config import load_config

    cfg = cfg or DemoConfig()
    for name in cfg.presets:  # fail before any work on a bad preset name
        load_config(name)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out}: not empty; train_models writes into a new folder")
    out.mkdir(parents=True, exist_ok=True)
    _, _, runs, blend = _make_models(out, cfg, Stages(say), False)
    return list(runs.values()), None if blend is None else out / "blend.json"


def training_section(cfg: DemoConfig, run_dirs: list[Path]) -> dict[str, Any]:
    """The ``training`` section of a model card for runs made by :func:`train_models` / the demo:
    twin revision, patients, seeds, folds, presets and each run's epochs per stage."""
    from iiic.runs.rundir import read_config
    from iiic.synth import TWIN_REVISION
    from iiic.train.config import TrainConfig

    epochs = {
        Path(r).name: [s.epochs for s in read_config(r, TrainConfig).stages] for r in run_dirs
    }
    combine = ("a log-space blend fit on the out-of-fold predictions" if cfg.blend
               else "every run averaged with an equal weight")  # fmt: skip
    return {
        "data": "synthetic twins (standalone, label statistics of the real HMS train.csv)",
        "twin_revision": TWIN_REVISION, "patients": cfg.patients,
        "twin_seeds": list(range(cfg.seed, cfg.seed + cfg.twin_seeds)),
        "folds": cfg.folds, "presets": list(cfg.presets), "epochs_per_stage": epochs,
        "recipe": f"iiic.demo.train_models (the demo's training: each preset over patient folds, "
                  f"two stages, on {cfg.twin_seeds} twin(s), then {combine})",
    }  # fmt: skip


def _train(name: str, cfg: DemoConfig, cache: Path, run_dir: Path, seed: int, bars: bool) -> Path:
    """Train preset ``name`` over the cache's patient folds, on model-ready inputs when its
    augmentations allow them (each window filtered once instead of once per epoch)."""
    from iiic.train.augment import raw_only_augmentations
    from iiic.train.config import load_config, with_epochs
    from iiic.train.kfold import train_kfold
    from iiic.train.ready import build_ready

    tcfg = load_config(name, n_folds=cfg.folds, seed=seed)
    if cfg.epochs is not None:
        tcfg = with_epochs(tcfg, cfg.epochs)
    if (
        tcfg.model_ready != "off"
        and not raw_only_augmentations(tcfg.augment)
        and (
            tcfg.preprocess.crop_s is None  # a crop is taken before filtering: trains per window
        )
    ):
        build_ready(cache, tcfg.preprocess, workers=1, progress=bars)
    train_kfold(tcfg, cache, run_dir, device=cfg.device, progress_bar=bars)
    return run_dir


def _train_twin(cfg: DemoConfig, seed: int, out: Path, bars: bool) -> dict[str, Path]:
    """Another twin (EEG only, a token test set), its cache and every preset trained on it: runs
    ``out/runs/<preset>_seed<seed>``."""
    from iiic.data.cache import build_cache
    from iiic.synth import generate_twin

    root = out / "twins" / f"seed{seed}"
    twin = generate_twin(root / "twin", n_patients=cfg.patients, seed=seed, n_test=2,
                         spectrograms=False, progress=bars)  # fmt: skip
    cache = build_cache(
        twin, root / "cache", n_folds=cfg.folds, seed=seed, eeg_only=True, progress=bars
    )
    return {f"{name}_seed{seed}": _train(name, cfg, cache, out / "runs" / f"{name}_seed{seed}",
                                         seed, bars) for name in cfg.presets}  # fmt: skip


def _evaluate(runs: dict[str, Path], out: Path) -> dict[str, dict]:
    from iiic.evaluate.oof import read_oof
    from iiic.evaluate.report import write_report
    from iiic.runs.rundir import OOF_FILE, preprocessing_of

    result = {}
    for name, run_dir in runs.items():
        ev = write_report(read_oof(run_dir / OOF_FILE), out / name,
                          preprocessing=preprocessing_of(run_dir))  # fmt: skip
        result[name] = {
            "kl": ev.kl, "kl_high_votes": ev.kl_high_quality, "n_rows": ev.n_rows,
            "n_high_votes": ev.n_high_quality, "accuracy": ev.accuracy,
            "report": f"reports/{name}/report.html",
        }  # fmt: skip
    return result


def _prior_kl(cache: Path) -> dict[str, float]:
    """KL of the class-prior baseline (each fold predicted from the other folds' votes)."""
    rows = pd.read_parquet(cache / "rows.parquet")
    votes = rows[list(VOTE_COLUMNS)].to_numpy()
    prior = held_out_prior(votes, rows["fold"].to_numpy())
    high = votes.sum(axis=1) >= HIGH_QUALITY_VOTES
    return {
        "kl": kl_divergence(votes, prior),
        "kl_high_votes": kl_divergence(votes[high], prior[high]),
    }


def _blend(runs: dict[str, Path], out: Path, n_splits: int) -> dict:
    from iiic.ensemble.blend import blend_runs

    return blend_runs(list(runs.values()), out / "blend.json", n_splits=n_splits).to_json()


def _predict(predictor: Predictor, twin: Path, out: Path) -> dict:
    """Write the submission and score it against the twin's hidden test votes."""
    from iiic.predict.submission import predict_test_dir

    res = predict_test_dir(predictor, twin, out, progress=False)
    sub = pd.read_csv(out)
    truth = pd.read_parquet(twin / "test_truth.parquet")
    merged = truth.merge(sub, on="eeg_id", suffixes=("_true", ""))
    votes = merged[[f"{c}_true" for c in VOTE_COLUMNS]].to_numpy(float)
    pred = merged[list(VOTE_COLUMNS)].to_numpy(float)
    uniform = np.full_like(pred, 1 / len(CLASSES))
    oracle = merged[[f"true_{c}" for c in CLASSES]].to_numpy(float)
    return {
        "n_rows": res.n_rows, "n_fallback": len(res.fallback), "submission": out.name,
        "kl": kl_divergence(votes, pred), "kl_uniform": kl_divergence(votes, uniform),
        "kl_oracle": kl_divergence(votes, oracle),
    }  # fmt: skip


def _analyze(predictor: Predictor, names: list[str], out: Path, cfg: DemoConfig) -> dict:
    """Synthesise an EDF, analyse it like ``iiic analyze`` and score it per window."""
    from iiic.clinical.edf import read_recording
    from iiic.clinical.pipeline import analyze_file
    from iiic.clinical.scoring import scorer_for
    from iiic.synth.recording import episode_scores, write_recording

    edf, episodes = write_recording(out / "synthetic.edf", cfg.edf_hours, seed=cfg.seed)
    scorer = scorer_for(predictor, prior="training", settings={"models": ", ".join(names)})
    result = analyze_file(read_recording(edf), scorer, out / "analysis")
    scores = episode_scores(result.timeline.table, episodes)
    seizure_s = (episodes["end_s"] - episodes["start_s"])[episodes["pattern"] == "seizure"].sum()
    return {
        "edf": str(edf.relative_to(out.parent)), "hours": cfg.edf_hours,
        "n_windows": int(len(result.timeline.table)), "n_episodes": int(len(episodes)),
        "episodes": episodes.to_dict("records"),
        "window_accuracy_in_episodes": scores["in_episodes"],
        "window_accuracy_background": scores["background"],
        "episode_rule": "labelled 10 s inside an episode; background: 50-s window overlaps none",
        "seizure_burden_min_per_hour": result.summary["seizure_burden_min_per_hour"],
        "true_seizure_min_per_hour": float(seizure_s / 60 / cfg.edf_hours),
        "report": str(result.files["report_html"].relative_to(out.parent)),
        "iiicgram": str(Path(result.files["iiicgram_png"]).relative_to(out.parent)),
    }  # fmt: skip


def _write_card(out: Path, cfg: DemoConfig, runs: list[Path], blended: bool,
                sections: dict) -> dict:  # fmt: skip
    """The demo model's card (``model_card.json`` beside blend.json, or in the runs' common
    folder): training + the real sets' sections; returns it."""
    from iiic.predict.card import CARD_FILE, card_dir

    card = {"card_version": CARD_VERSION, "name": "iiic demo model",
            "training": training_section(cfg, runs), "real_sets": sections}  # fmt: skip
    folder = card_dir(runs, out / "blend.json" if blended else None) or out
    write_json_atomic(folder / CARD_FILE, card)
    return card


def _real_segments(
    predictor: Predictor, out: Path, which: str = "50s"
) -> tuple[dict | None, dict | None]:
    """Score the demo's models on a set of real IIIC segments shipped with iiic (what
    ``iiic score`` does, its HMS prior included), next to SPaRCNet where published (trained on
    real data), uniform and the class prior. 10-s segments are scored by the runs that read a
    central 10 s. Returns the summary's entry and the model card's section ((None, None): no run
    reads these segments)."""
    from iiic.data.real_segments import ATTRIBUTIONS, SPARCNET_FILE, segment_samples, write_layout
    from iiic.predict.card import real_set_section
    from iiic.predict.prior import SCORE_PRIOR
    from iiic.predict.score import MODEL, score_data_dir, write_score

    reader = predictor.reading(segment_samples(which))
    if reader is None:
        return None, None
    reader = reader.with_prior(SCORE_PRIOR)
    data = write_layout(out / "data", which)
    baseline = data / SPARCNET_FILE if (data / SPARCNET_FILE).is_file() else None
    result = score_data_dir(reader, data, baseline=baseline)
    files = write_score(result, out)
    return {
        "segments": which, "n_segments": result.info["n_rows"],
        "runs": [r.name for r in reader.runs], "prior": SCORE_PRIOR,
        "predictors": {name: {"kl": s["kl"], "kl_ci90": s["kl_ci90"], "kl_max": s["kl_max"],
                              "kl_max_high_votes": s["kl_max_high_votes"],
                              "accuracy": s["accuracy"], "n_right": s["n_right"]}
                       for name, s in result.summary.items()},
        "model": MODEL, "score": str(files["md"].relative_to(out.parent)),
        "attribution": ATTRIBUTIONS[which],
    }, real_set_section(result, attribution=ATTRIBUTIONS[which])  # fmt: skip


def summary_lines(summary: dict[str, Any], out: Path) -> list[str]:
    """The closing lines printed by ``iiic demo``: KL figures and where the outputs are."""
    tw, test, rec = summary["twin"], summary["test"], summary["recording"]
    lines = [
        f"done in {summary['timings_s']['total']:.0f} s. KL divergence (nats, lower is better):",
        f"  {'oracle (true distribution), >=10-vote rows':<46} {tw['oracle_kl_ge10_votes']:.3f}",
    ]
    for name, ev in summary["oof"].items():
        hv = ev["kl_high_votes"]
        lines.append(f"  {name + ' OOF, all rows / >=10 votes':<46} {ev['kl']:.3f} / "
                     + ("n/a" if hv is None else f"{hv:.3f}"))  # fmt: skip
    if summary["blend"] is not None:
        lines.append(f"  {'blend OOF (patient-grouped CV)':<46} {summary['blend']['blend_cv']:.3f}")
    label = f"test set ({test['n_rows']} EEGs): model / uniform / oracle"
    lines.append(
        f"  {label:<46} {test['kl']:.3f} / {test['kl_uniform']:.3f} / {test['kl_oracle']:.3f}"
    )
    acc_in, acc_bg = (_pct(rec[k]) for k in ("window_accuracy_in_episodes",
                                              "window_accuracy_background"))  # fmt: skip
    lines.append(
        f"recording: {rec['n_windows']} windows, {rec['n_episodes']} episodes; top class right in "
        f"{acc_in} of episode windows and {acc_bg} of background windows"
    )
    for key in ("real_segments", "real_segments_10s"):
        real = summary.get(key)
        if real is None:
            continue
        p = real["predictors"]
        m, seconds = p[real["model"]], real.get("segments", "50s").removesuffix("s")
        spark = f", SPaRCNet {p['sparcnet']['kl']:.3f}" if "sparcnet" in p else ""
        lines.append(
            f"real IIIC segments ({real['n_segments']} x {seconds} s, twin-trained models): KL "
            f"{m['kl']:.3f}, top class right {m['n_right']}/{real['n_segments']}, worst segment "
            f"{m['kl_max']:.2f} (uniform {p['uniform']['kl']:.3f}{spark})"
        )
    lines.append(f"open {out / 'index.html'}")
    return lines


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def _real_section(sets: list[dict]) -> str:
    """Section 4 of the index: the real-segment checks that ran (empty when none did)."""
    if not sets:
        return ""
    tables = []
    for real in sets:
        n, seconds = real["n_segments"], real.get("segments", "50s").removesuffix("s")
        rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td>{_fmt(v['kl'])}</td>"
            f"<td>{_fmt(v['kl_ci90'][0])}–{_fmt(v['kl_ci90'][1])}</td>"
            f"<td>{_fmt(v['kl_max'])}</td><td>{v['n_right']}/{n}</td></tr>"
            for name, v in real["predictors"].items()
        )
        tables.append(
            f"<h3>{n} real {seconds}-s segments (runs: {html.escape(', '.join(real['runs']))})</h3>"
            f'<p class="note"><a href="{real["score"]}">Per-segment table</a>. '
            f"{html.escape(real['attribution'])}</p><table><tr><th>predictor</th><th>KL (nats)"
            "</th><th>90 % interval</th><th>worst segment</th><th>top class right</th></tr>"
            f"{rows}</table>"
        )
    return f"""<h2>4. Real EEG: IIIC segments with expert votes</h2>
<p class="note">The demo's models were trained on the synthetic twin only. Here they predict real
segments — 50-s windows (two per class, from the SPaRCNet paper) and 10-s segments (from the
inter-rater reliability study, mostly split votes; scored by the runs that read 10 s) — scored
against the experts' votes next to SPaRCNet where published (trained on real IIIC data: a ceiling,
not a peer), a uniform guess and the class prior. The interval is a bootstrap over segments: with
10-12 segments, differences inside it are noise.</p>
{"".join(tables)}"""


def _kl_rows(summary: dict[str, Any]) -> str:
    """Rows of the index's KL table: oracle, class prior, each model out of fold, the blend."""
    tw = summary["twin"]
    rows = [("oracle (the twin's true distributions)", _fmt(tw["oracle_kl"]),
             _fmt(tw["oracle_kl_ge10_votes"]), "lower bound: vote sampling noise"),
            ("class prior (held-out folds)", _fmt(summary["class_prior"]["kl"]),
             _fmt(summary["class_prior"]["kl_high_votes"]), "a model that learned nothing")]  # fmt: skip
    for name, ev in summary["oof"].items():
        rows.append((f"{name} (out of fold)", _fmt(ev["kl"]), _fmt(ev["kl_high_votes"]),
                     f'<a href="{ev["report"]}">evaluation report</a>'))  # fmt: skip
    if summary["blend"] is not None:
        rows.append(("blend (patient-grouped CV)", _fmt(summary["blend"]["blend_cv"]), "",
                     '<a href="blend.json">blend.json</a>'))  # fmt: skip
    return "".join(f"<tr><td>{html.escape(r[0])}</td><td>{'</td><td>'.join(r[1:])}</td></tr>"
                   for r in rows)  # fmt: skip


def _figures(summary: dict[str, Any], out: Path) -> str:
    """The OOF reports' KL breakdown and confusion figures that exist, as <figure> tags."""
    figures = []
    for name in summary["oof"]:
        for png in [out / "reports" / name / f for f in ("kl_breakdown.png", "confusion.png")]:
            if png.is_file():
                caption = html.escape(f"{name}: {png.stem}")
                figures.append(f'<figure><img src="{png.relative_to(out).as_posix()}" '
                               f'alt="{caption}"><figcaption>{caption}</figcaption></figure>')  # fmt: skip
    return "".join(figures)


def render_index(summary: dict[str, Any], out: Path) -> str:
    """A self-contained index page linking every output of the demo (relative links): the
    template ``resources/demo_index.html`` (``string.Template``) filled from ``summary``."""
    tw, test, rec, m = summary["twin"], summary["test"], summary["recording"], summary["machine"]
    episodes = "".join(
        f"<tr><td>{e['start_s'] / 60:.1f}</td><td>{e['end_s'] / 60:.1f}</td>"
        f"<td>{CLASS_LABELS[CLASSES.index(e['pattern'])]}</td></tr>"
        for e in rec["episodes"]
    )
    timings = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.1f}</td></tr>"
                      for k, v in summary["timings_s"].items())  # fmt: skip
    page = resources.files("iiic").joinpath("resources/demo_index.html").read_text("utf-8")
    return string.Template(page).substitute(
        total_s=f"{summary['timings_s']['total']:.0f}", cpu_count=m.get("cpu_count"),
        torch=html.escape(str(m.get("torch"))), device=html.escape(str(m.get("cuda") or "cpu")),
        n_patients=tw["n_patients"], n_eegs=tw["n_eegs"], eeg_hours=f"{tw['eeg_hours']:.1f}",
        n_rows=tw["n_rows"], n_folds=summary["config"]["folds"], kl_rows=_kl_rows(summary),
        figures=_figures(summary, out), submission=test["submission"], test_rows=test["n_rows"],
        n_fallback=test["n_fallback"], test_kl=_fmt(test["kl"]),
        kl_uniform=_fmt(test["kl_uniform"]), kl_oracle=_fmt(test["kl_oracle"]),
        hours=f"{rec['hours']:g}", report=rec["report"], edf=html.escape(rec["edf"]),
        n_windows=rec["n_windows"], acc_in=_pct(rec["window_accuracy_in_episodes"]),
        acc_bg=_pct(rec["window_accuracy_background"]),
        burden=f"{rec['seizure_burden_min_per_hour']:.1f}",
        true_burden=f"{rec['true_seizure_min_per_hour']:.1f}", iiicgram=rec["iiicgram"],
        episodes=episodes, real_section=_real_section(
            [r for k in ("real_segments", "real_segments_10s") if (r := summary.get(k))]
        ),
        model_line=html.escape(summary.get("model", NO_CHECK)),
        timings=timings,
    )  # fmt: skip
