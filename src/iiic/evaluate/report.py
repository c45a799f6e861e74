"""OOF evaluation report: ``metrics.json``, ``report.md``, a self-contained ``report.html`` and PNGs.

``iiic evaluate OOF --out DIR`` calls :func:`write_report`. The report states whether predictions
were renormalised before the KL (Kaggle's metric clips but does not renormalise).
"""

from __future__ import annotations

import base64
import html
import logging
from pathlib import Path

import pandas as pd

from iiic.evaluate.breakdown import Evaluation, evaluate_oof
from iiic.evaluate.figures import write_figures
from iiic.utils import write_json_atomic, write_text_atomic

logger = logging.getLogger(__name__)

FIGURE_CAPTIONS: dict[str, str] = {
    "kl_breakdown": "Mean KL per group; the red line is the overall KL. The share of KL says "
    "how much of the total loss each group carries.",
    "confusion": "Argmax of the prediction against the expert consensus, row-normalised.",
    "calibration": "Reliability per class: for rows binned by predicted probability, the mean "
    "vote fraction of that class. Grey bars: share of rows per bin. ECE = expected calibration "
    "error (row-weighted |predicted − observed|).",
}


def _fmt_table(df: pd.DataFrame) -> pd.DataFrame:
    """Readable copy: shares as %, KL with 4 decimals."""
    out = df.copy()
    for col in ("share_rows", "share_kl"):
        if col in out:
            out[col] = out[col].map(lambda v: f"{v:.1%}")
    if "kl" in out:
        out["kl"] = out["kl"].map(lambda v: f"{v:.4f}")
    return out.rename(
        columns={"share_rows": "% rows", "share_kl": "% of total KL", "kl": "mean KL"}
    )


def _md_table(df: pd.DataFrame) -> str:
    """DataFrame → GitHub markdown table (no tabulate dependency)."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def _headline(ev: Evaluation, source: str, preprocessing: str | None) -> list[tuple[str, str]]:
    hq = (
        "n/a (raw vote counts unknown)"
        if ev.kl_high_quality is None
        else f"{ev.kl_high_quality:.4f}"
    )
    norm = (
        "yes — clipped predictions divided by their row sum"
        if ev.renormalize
        else "no — Kaggle's metric (clip to [1e-15, 1-1e-15], no renormalisation)"
    )
    return [
        ("OOF table", source),
        *([("Preprocessing", preprocessing)] if preprocessing else []),
        ("rows", f"{ev.n_rows:,}"),
        ("renormalised", norm),
        ("KL (this report)", f"{ev.kl:.4f}"),
        ("KL, Kaggle exact", f"{ev.kl_kaggle:.10f}"),
        ("KL, renormalised", f"{ev.kl_renormalized:.10f}"),
        (f"KL on rows with ≥ 10 votes (n={ev.n_high_quality:,})", hq),
        ("accuracy (argmax vs consensus)", f"{ev.accuracy:.2%}"),
        ("mean ECE over classes", f"{ev.ece['mean']:.4f}"),
    ]


def _sections(ev: Evaluation) -> list[tuple[str, pd.DataFrame]]:
    ece = pd.DataFrame({"class": list(ev.ece), "ECE": [f"{v:.4f}" for v in ev.ece.values()]})
    sections = [
        ("KL by vote-quality bin (total votes)", _fmt_table(ev.by_quality)),
        ("KL by expert agreement", _fmt_table(ev.by_agreement)),
        ("KL by expert consensus (true class)", _fmt_table(ev.by_class)),
        ("Expected calibration error per class", ece),
    ]
    if ev.by_fold is not None:
        sections.append(("KL by fold", _fmt_table(ev.by_fold)))
    return sections


def render_markdown(ev: Evaluation, source: str, figures: dict[str, Path],
                    preprocessing: str | None = None) -> str:  # fmt: skip
    """The report as markdown (figures linked as relative PNG paths)."""
    parts = ["# OOF evaluation", "", "| | |", "|---|---|"]
    parts += [f"| {k} | {v} |" for k, v in _headline(ev, source, preprocessing)]
    for title, table in _sections(ev):
        parts += ["", f"## {title}", "", _md_table(table)]
    parts += ["", "## Figures"]
    for name, path in figures.items():
        parts += ["", f"![{name}]({Path(path).name})", "", FIGURE_CAPTIONS.get(name, "")]
    return "\n".join(parts) + "\n"


def render_html(ev: Evaluation, source: str, figures: dict[str, Path],
                preprocessing: str | None = None) -> str:  # fmt: skip
    """The report as one self-contained HTML page (PNGs embedded as base64)."""
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
        for k, v in _headline(ev, source, preprocessing)
    )
    body = [f"<h1>OOF evaluation</h1><table class='head'>{rows}</table>"]
    for title, table in _sections(ev):
        body.append(f"<h2>{html.escape(title)}</h2>" + table.to_html(index=False, border=0))
    for name, path in figures.items():
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        caption = html.escape(FIGURE_CAPTIONS.get(name, ""))
        body.append(
            f"<figure><img alt='{name}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{caption}</figcaption></figure>"
        )
    style = (
        "body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{padding:3px 10px;border-bottom:1px solid #ddd;"
        "text-align:left}img{max-width:100%}figcaption{color:#555;font-size:90%}"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>OOF evaluation</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )


def write_report(
    oof: pd.DataFrame, out_dir: str | Path, *, renormalize: bool = False,
    preprocessing: str | None = None,
) -> Evaluation:  # fmt: skip
    """Evaluate ``oof`` and write metrics.json, report.md, report.html and PNG figures to ``out_dir``.

    Parameters
    ----------
    oof : DataFrame
        OOF contract table (from :func:`iiic.evaluate.oof.read_oof`).
    out_dir : path
        Report directory (created).
    renormalize : bool
        Renormalise clipped predictions before the KL (stated in the report).
    preprocessing : str, optional
        The run's ``PreprocessConfig.describe()`` (:func:`iiic.runs.rundir.preprocessing_of`),
        shown as the report's "Preprocessing" line and kept in metrics.json.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ev = evaluate_oof(oof, renormalize=renormalize)
    source = str(oof.attrs.get("source", "<in memory>"))
    figures = write_figures(ev, out_dir)
    summary = {"source": source, "format": oof.attrs.get("format", "iiic"), **ev.summary()}
    if preprocessing:
        summary["preprocessing"] = preprocessing
    write_json_atomic(out_dir / "metrics.json", summary)
    write_text_atomic(out_dir / "report.md", render_markdown(ev, source, figures, preprocessing))
    write_text_atomic(out_dir / "report.html", render_html(ev, source, figures, preprocessing))
    logger.info("wrote report to %s (KL %.4f)", out_dir, ev.kl)
    return ev
