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

DEFAULT_PRESETS = ("morph_cpu", "eeg1d_cpu")
"""Model presets the demo trains (the CPU presets also run on a GPU when one is there): the two
that read the EEG itself. spec2d_cpu (``--presets morph_cpu,eeg1d_cpu,spec2d_cpu``) reads Kaggle
spectrograms, which real EDF and IIIC data lack: trained on the demo's twin it scored worse than
a uniform guess on the real segments (KL 1.67, 0 of 12; README, real-segment revisions)."""


class DemoConfig(BaseModel):
    """Settings of ``iiic demo`` (written into summary.json)."""

    model_config = ConfigDict(extra="forbid")
    patients: int = Field(24, ge=8, description="patients of the standalone twin")
    folds: int = Field(3, ge=2, le=10, description="patient-grouped cross-validation folds")
    epochs: int | None = Field(None, ge=1, description="epochs of every stage (preset if None)")
    presets: tuple[str, ...] = Field(DEFAULT_PRESETS, min_length=1, description="model presets")
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
    evals = st.run("evaluate", "out-of-fold reports", lambda: _evaluate(runs, out / "reports"))
    prior = _prior_kl(cache)
    predictor = Predictor.from_runs(list(runs.values()), device=cfg.device,
                                    blend=None if blend is None else out / "blend.json")  # fmt: skip
    test = st.run(
        "predict", "test set → submission.csv",
        lambda: _predict(predictor, twin, out / "submission.csv"),
    )  # fmt: skip
    real, section = st.run(
        "real segments", "12 real IIIC segments (ODC-By) scored against their expert votes",
        lambda: _real_segments(predictor, out / "real_segments"),
    )  # fmt: skip
    predictor.card = _write_card(out, cfg, list(runs.values()), blend is not None, section)
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
        "test": test,
        "recording": clinical,
        "real_segments": real,
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
    """synth → prepare → train each preset → blend (several presets): the twin, the cache, the
    runs (preset → ``out/runs/<preset>``) and the blend's JSON (``out/blend.json``) or None."""
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
            lambda name=name: _train(name, cfg, cache, out / "runs" / name, bars),
        )  # fmt: skip
    blend = None
    if len(runs) > 1:
        blend = st.run(
            "blend", "log-space blend, patient-grouped CV", lambda: _blend(runs, out, cfg.folds)
        )
    return twin, cache, runs, blend


def train_models(
    out: str | Path, cfg: DemoConfig | None = None, *, say: Callable[[str], None] = _print
) -> tuple[list[Path], Path | None]:
    """The demo's models alone (what ``benchmarks/default_model.py`` ships): the twin, cache,
    runs (``out/runs/<preset>``) and blend (``out/blend.json``) exactly as :func:`run_demo` makes
    them. Returns the run directories and the blend.json (None with one preset).
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
    twin revision, patients, seed, folds, presets and each run's epochs per stage."""
    from iiic.synth import TWIN_REVISION
    from iiic.train.rundir import read_config

    epochs = {Path(r).name: [s.epochs for s in read_config(r).stages] for r in run_dirs}
    return {
        "data": "synthetic twin (standalone, label statistics of the real HMS train.csv)",
        "twin_revision": TWIN_REVISION, "patients": cfg.patients, "seed": cfg.seed,
        "folds": cfg.folds, "presets": list(cfg.presets), "epochs_per_stage": epochs,
        "recipe": "iiic.demo.train_models (the demo's training: each preset over patient folds, "
                  "two stages, then a log-space blend fit on the out-of-fold predictions)",
    }  # fmt: skip


def _train(name: str, cfg: DemoConfig, cache: Path, run_dir: Path, bars: bool) -> Path:
    from iiic.train.config import load_config, with_epochs
    from iiic.train.kfold import train_kfold

    tcfg = load_config(name, n_folds=cfg.folds, seed=cfg.seed)
    if cfg.epochs is not None:
        tcfg = with_epochs(tcfg, cfg.epochs)
    train_kfold(tcfg, cache, run_dir, device=cfg.device, progress_bar=bars)
    return run_dir


def _evaluate(runs: dict[str, Path], out: Path) -> dict[str, dict]:
    from iiic.evaluate.oof import read_oof
    from iiic.evaluate.report import write_report
    from iiic.train.rundir import OOF_FILE, preprocessing_of

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
    """Synthesise an EDF, analyse it like ``iiic analyze --fast`` and score it per window."""
    from iiic.clinical.edf import read_recording
    from iiic.clinical.pipeline import analyze_file
    from iiic.synth.recording import episode_scores, write_recording

    edf, episodes = write_recording(out / "synthetic.edf", cfg.edf_hours, seed=cfg.seed)
    result = analyze_file(
        read_recording(edf), None, out / "analysis", needs_spec=predictor.needs_spec,
        model_info={"models": ", ".join(names), "filtering": "continuous (--fast)",
                    **predictor.report_info()},
        continuous_predictor=predictor,
    )  # fmt: skip
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
                section: dict) -> dict:  # fmt: skip
    """The demo model's card (``model_card.json`` beside blend.json, or in the single run):
    training + the real segments' section; returns it."""
    from iiic.predict.card import CARD_FILE, card_dir

    card = {"card_version": CARD_VERSION, "name": "iiic demo model",
            "training": training_section(cfg, runs),
            "real_sets": {"iiic-real-segments": section}}  # fmt: skip
    folder = card_dir(runs, out / "blend.json" if blended else None) or out
    write_json_atomic(folder / CARD_FILE, card)
    return card


def _real_segments(predictor: Predictor, out: Path) -> tuple[dict, dict]:
    """Score the demo's models on the 12 real IIIC segments shipped with iiic (what
    ``iiic score`` does), next to SPaRCNet (trained on real data), uniform and the class prior.
    Returns the summary's entry and the model card's section."""
    from iiic.data.real_segments import ATTRIBUTION, write_layout
    from iiic.predict.card import real_set_section
    from iiic.predict.score import MODEL, score_data_dir, write_score

    data = write_layout(out / "data")
    result = score_data_dir(predictor, data, baseline=data / "sparcnet_predictions.csv")
    files = write_score(result, out)
    return {
        "n_segments": result.info["n_rows"],
        "predictors": {name: {"kl": s["kl"], "accuracy": s["accuracy"],
                              "n_right": round(s["accuracy"] * result.info["n_rows"])}
                       for name, s in result.summary.items()},
        "model": MODEL, "score": str(files["md"].relative_to(out.parent)),
        "attribution": ATTRIBUTION,
    }, real_set_section(result, attribution=ATTRIBUTION)  # fmt: skip


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
    real = summary.get("real_segments")
    if real is not None:
        p = real["predictors"]
        lines.append(
            f"real IIIC segments ({real['n_segments']}, twin-trained models): KL "
            f"{p[real['model']]['kl']:.3f}, top class right {p[real['model']]['n_right']}/"
            f"{real['n_segments']} (uniform {p['uniform']['kl']:.3f}, SPaRCNet "
            f"{p['sparcnet']['kl']:.3f})"
        )
    lines.append(f"open {out / 'index.html'}")
    return lines


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def _real_section(real: dict | None) -> str:
    """Section 4 of the index: the real-segment check (empty when it did not run)."""
    if real is None:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{_fmt(v['kl'])}</td>"
        f"<td>{v['n_right']}/{real['n_segments']}</td></tr>"
        for name, v in real["predictors"].items()
    )
    return f"""<h2>4. Real EEG: {real["n_segments"]} IIIC segments with expert votes</h2>
<p class="note">The demo's models were trained on the synthetic twin only. Here they predict
{real["n_segments"]} real 50-s segments (two per class) and are scored against the experts' votes,
next to SPaRCNet (trained on real IIIC data: a ceiling, not a peer), a uniform guess and the
class prior. With 12 segments, differences under ~0.4 nats are noise.
<a href="{real["score"]}">Per-segment table</a>. {html.escape(real["attribution"])}</p>
<table><tr><th>predictor</th><th>KL (nats)</th><th>top class right</th></tr>{rows}</table>"""


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
        episodes=episodes, real_section=_real_section(summary.get("real_segments")),
        model_line=html.escape(summary.get("model", NO_CHECK)),
        timings=timings,
    )  # fmt: skip
