"""Model cards: what a model is, in one JSON file beside it (``model_card.json``).

A card lives in the folder that defines a model (:func:`card_dir`): the blend's folder when runs
are blended (the default model: ``iiic/resources/default_model/``), else the single run directory
(or the common parent of several runs averaged without a blend). Sections:

- ``training``: what it was trained on (twin revision, patients, seeds, presets, epochs) and how;
- ``selection``: how it was chosen; ``twin_oof``: its out-of-fold figures on the twin;
- ``real_sets``: per real data set, :func:`real_set_section` of an ``iiic score`` result — KL with
  a bootstrap 90 % interval over segments, top-class count, worst segment, the same for uniform,
  the class prior and a published baseline (SPaRCNet), and the classes it confuses;
- ``healthy_check``: top class per window of a healthy volunteer's recording;
- ``intended_use``, ``data_licences``.

``iiic score --write-card`` writes the ``real_sets`` section of any model; the default model's
whole card is written by ``benchmarks/default_model.py``. :func:`headline` is the one line every
report shows; a model without a card reads :data:`NO_CHECK`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from iiic.constants import CLASS_LABELS
from iiic.predict.score import MODEL, UNIFORM, ScoreResult, baseline_name
from iiic.utils import bad_value, write_json_atomic

CARD_FILE = "model_card.json"
CARD_VERSION = 1
NO_CHECK = "no real-data check recorded"
"""The headline of a model without a card (or a card without a real-data section)."""
N_BOOT = 2000
"""Bootstrap resamples of the segments for the KL interval."""
INTERVAL = 0.9
HEADLINE_SET = "iiic-real-segments"
"""The real set the headline quotes first (12 real 50-s IIIC segments, the one every model can
be scored on)."""


class CardError(ValueError):
    """A card that cannot be read or written (the message names the file)."""


def card_dir(run_dirs: list[str | Path], blend: str | Path | None) -> Path | None:
    """Where the card of ``run_dirs`` (+ ``blend``) lives: the blend's folder, the run directory
    of a single run, the common parent of several runs averaged without a blend (the default
    model when its recipe has no blend), or None when they have none."""
    if blend is not None:
        return Path(blend).parent
    if len(run_dirs) == 1:
        return Path(run_dirs[0])
    parents = {Path(r).parent for r in run_dirs}
    return parents.pop() if len(parents) == 1 else None


def read_card(folder: str | Path | None) -> dict[str, Any] | None:
    """The card in ``folder`` (None when there is none); CardError naming the file when it is
    not a JSON object."""
    if folder is None:
        return None
    path = Path(folder) / CARD_FILE
    if not path.is_file():
        return None
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CardError(f"{path}: not a readable model card ({exc})") from exc
    if not isinstance(card, dict):
        raise CardError(bad_value(str(path), "a model card (a JSON object)", type(card).__name__))
    return card


def bootstrap_interval(values: np.ndarray, *, n_boot: int = N_BOOT, level: float = INTERVAL,
                       seed: int = 0) -> tuple[float, float]:  # fmt: skip
    """Percentile bootstrap interval (low, high) of the mean of ``values`` (n,) over rows."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))
    means = values[idx].mean(axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def _confusions(result: ScoreResult) -> list[dict[str, Any]]:
    """The model's wrong top classes: (expert consensus → model top class, rows), most first."""
    truth = result.rows["expert_consensus"].to_numpy()
    top = np.array(CLASS_LABELS)[result.probs[MODEL].argmax(axis=1)]
    pairs: dict[tuple[str, str], int] = {}
    for t, p in zip(truth, top, strict=True):
        if t != p:
            pairs[(t, p)] = pairs.get((t, p), 0) + 1
    ranked = sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
    return [{"experts": t, "model": p, "n": n} for (t, p), n in ranked]


def real_set_section(result: ScoreResult, *, attribution: str | None = None,
                     seed: int = 0) -> dict[str, Any]:  # fmt: skip
    """The card's entry for one scored real set (``iiic score`` → :class:`ScoreResult`).

    Per predictor (the model, ``uniform``, ``class prior``, a baseline such as ``sparcnet``):
    mean KL (nats) with its bootstrap 90 % interval over rows, top class right (count), and the
    worst row (its name, expert consensus and KL). Then the model's confusions.
    """
    rows = result.rows
    name_col = "source_name" if "source_name" in rows.columns else "eeg_id"
    predictors = {}
    for name in result.summary:
        if name.startswith("run "):
            continue  # the card describes the model as a whole
        kl = rows[f"kl:{name}"].to_numpy(np.float64)
        worst = int(kl.argmax())
        low, high = bootstrap_interval(kl, seed=seed)
        predictors[name] = {
            "kl": float(kl.mean()), "kl_interval_90": [low, high],
            "n_right": round(result.summary[name]["accuracy"] * len(rows)),
            "worst": {"row": str(rows[name_col].iloc[worst]),
                      "consensus": str(rows["expert_consensus"].iloc[worst]),
                      "kl": float(kl[worst])},
        }  # fmt: skip
    return {
        "n_rows": len(rows), "n_votes_total": int(rows["n_votes"].sum()),
        "predictors": predictors, "confusions": _confusions(result),
        "baseline": None if result.info.get("baseline") is None
        else baseline_name(result.info["baseline"]),
        "attribution": attribution,
    }  # fmt: skip


def write_real_set(folder: str | Path, set_name: str, section: dict[str, Any]) -> Path:
    """Put ``section`` under ``real_sets[set_name]`` of the card in ``folder`` (created when
    absent, other sections kept); returns the card's path."""
    card = read_card(folder) or {"card_version": CARD_VERSION}
    card.setdefault("real_sets", {})[set_name] = section
    return write_json_atomic(Path(folder) / CARD_FILE, card)


def _kl_text(p: dict[str, Any]) -> str:
    low, high = p["kl_interval_90"]
    return f"{p['kl']:.2f} [{low:.2f}, {high:.2f}]"


def headline(card: dict[str, Any] | None) -> str:
    """One line: what the model was trained on and its KL on real IIIC segments, e.g.
    ``trained on: synthetic twin v10; real IIIC segments (12): KL 1.06 [0.80, 1.35] (uniform 1.21,
    SPaRCNet 0.54), top class right 6/12``; :data:`NO_CHECK` without a real-data section."""
    if not card:
        return NO_CHECK
    training = card.get("training") or {}
    twin = training.get("twin_revision")
    trained = f"trained on: synthetic twin {twin}" if twin else "trained on: not recorded"
    sets = {k: v for k, v in (card.get("real_sets") or {}).items() if "predictors" in v}
    if not sets:
        return f"{trained}; {NO_CHECK}"
    name = HEADLINE_SET if HEADLINE_SET in sets else next(iter(sets))
    s = sets[name]
    p = s["predictors"]
    others = [f"{label} {p[key]['kl']:.2f}" for key, label in
              ((UNIFORM, "uniform"), (s.get("baseline"), "SPaRCNet" if s.get("baseline") ==
                                      "sparcnet" else s.get("baseline"))) if key in p]  # fmt: skip
    what = "real IIIC segments" if name == HEADLINE_SET else f"real set {name}"
    return (f"{trained}; {what} ({s['n_rows']}): KL {_kl_text(p[MODEL])} ("
            f"{', '.join(others)}), top class right {p[MODEL]['n_right']}/{s['n_rows']}")  # fmt: skip


def render_markdown(card: dict[str, Any], title: str = "Model card") -> str:
    """The card as Markdown (``docs/default_model.md``): every section, real sets as tables."""
    lines = [f"# {title}", "", f"**{headline(card)}**", ""]
    for key in ("name", "intended_use", "selection"):
        if card.get(key):
            lines += [f"**{key.replace('_', ' ').capitalize()}.** {card[key]}", ""]
    training = card.get("training") or {}
    if training:
        lines += ["## Training", "", *(f"- {k}: {_plain(v)}" for k, v in training.items()), ""]
    if card.get("twin_oof"):
        lines += ["## Out-of-fold figures on the twin (KL, nats)", "",
                  "| model | KL, all rows | KL, >= 10 votes | rows |", "|---|---|---|---|"]  # fmt: skip
        for name, v in card["twin_oof"].items():
            lines.append(f"| {name} | {_num(v.get('kl'))} | {_num(v.get('kl_high_votes'))} | "
                         f"{v.get('n_rows', '')} |")  # fmt: skip
        lines.append("")
    for name, s in (card.get("real_sets") or {}).items():
        lines += _set_lines(name, s)
    if card.get("healthy_check"):
        h = card["healthy_check"]
        lines += ["## Healthy check", "", f"{h.get('file')}: Other on top in "
                  f"{h.get('n_other_top')}/{h.get('n_windows')} windows "
                  f"({h.get('settings', 'iiic analyze defaults')}).", ""]  # fmt: skip
    if card.get("data_licences"):
        lines += ["## Data used to check it", "", *(f"- {d}" for d in card["data_licences"]), ""]
    return "\n".join(lines)


def _set_lines(name: str, s: dict[str, Any]) -> list[str]:
    lines = [f"## Real set: {name}", ""]
    if "predictors" not in s:
        return [*lines, f"Not scored: {s.get('why', 'no reason recorded')}", ""]
    lines += [f"{s['n_rows']} rows, {s['n_votes_total']} expert votes. KL = Kaggle's "
              "KL(votes ‖ prediction), nats, mean over rows, with a bootstrap 90 % interval.", "",
              "| predictor | KL [90 % interval] | top class right | worst row (consensus, KL) |",
              "|---|---|---|---|"]  # fmt: skip
    for pname, p in s["predictors"].items():
        w = p["worst"]
        lines.append(f"| {pname} | {_kl_text(p)} | {p['n_right']}/{s['n_rows']} | "
                     f"{w['row']} ({w['consensus']}, {w['kl']:.2f}) |")  # fmt: skip
    conf = s.get("confusions") or []
    if conf:
        lines += ["", "Confused (expert consensus → model's top class): "
                  + "; ".join(f"{c['experts']} → {c['model']} ×{c['n']}" for c in conf)]  # fmt: skip
    if s.get("attribution"):
        lines += ["", s["attribution"]]
    return [*lines, ""]


def _num(v: Any) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _plain(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else str(v)
