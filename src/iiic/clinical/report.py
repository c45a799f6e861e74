"""A self-contained HTML report of a whole-recording analysis, with the interactive review.

Everything is inside one file: the PNG figures are embedded as base64 ``data:`` URIs, the style
sheet, the review's data (:mod:`iiic.clinical.review`) and its script are inline, and nothing is
fetched from the network, so the report opens offline and can be attached to a message as it is.
Without JavaScript the review shows the IIIC-gram and a static events table.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import pandas as pd

from iiic.clinical.summary import SECONDS_PER_HOUR
from iiic.predict.card import NO_CHECK
from iiic.utils import write_text_atomic

MAX_EVENT_ROWS = 30
"""The report lists at most this many events (the longest); events.csv has them all."""
EVENT_COLUMNS = [
    "pattern",
    "start_time",
    "start_s",
    "duration_s",
    "n_windows",
    "max_prob",
    "mean_prob",
]

_STYLE = """
body { font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; border: 1px solid #eee; } .note { color: #555; font-size: 0.9em; }
#overview { position: relative; } #overview img { width: 100%; display: block; cursor: crosshair; }
#cursor { position: absolute; background: rgba(0, 0, 0, 0.18); border-left: 2px solid #000;
          pointer-events: none; }
#strip { width: 100%; display: block; cursor: crosshair; } #eeg { width: 100%; display: block; }
#thresholds { margin: 0.6em 0; } #thresholds label { margin-right: 1.2em; white-space: nowrap; }
#thresholds input { width: 110px; vertical-align: middle; }
#selected { font-weight: bold; margin: 0.8em 0 0.3em; } #probs td.bar { width: 260px; }
#probs td.bar div { height: 12px; } #probs tr.top td { font-weight: bold; }
button { font: inherit; margin: 0.3em 0; }
.model { background: #fff8e1; border-left: 4px solid #f0b400; padding: 0.4em 0.8em; }
"""


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return (
            f'<td class="num">{value:.3g}</td>'
            if abs(value) < 1000
            else f'<td class="num">{value:.0f}</td>'
        )
    if isinstance(value, int):
        return f'<td class="num">{value}</td>'
    return f"<td>{html.escape('' if value is None else str(value))}</td>"


def html_table(rows: list[dict[str, Any]] | pd.DataFrame, columns: list[str] | None = None) -> str:
    """An HTML table of ``rows`` (list of dicts or DataFrame); values escaped."""
    if isinstance(rows, pd.DataFrame):
        rows = rows.to_dict("records")
    if not rows:
        return '<p class="note">(none)</p>'
    columns = columns or list(rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_cell(r.get(c)) for c in columns) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _events_section(events: pd.DataFrame) -> str:
    if len(events) <= MAX_EVENT_ROWS:
        note = f"{len(events)} event(s)."
        shown = events
    else:
        note = f"The {MAX_EVENT_ROWS} longest of {len(events)} events (all of them: events.csv)."
        shown = events.nlargest(MAX_EVENT_ROWS, "duration_s").sort_values("start_s")
    columns = [c for c in EVENT_COLUMNS if c in shown and shown[c].notna().any()]
    return f'<p class="note">{html.escape(note)}</p>' + html_table(shown, columns)


def _annotations_section(annotations: pd.DataFrame | None) -> str:
    if annotations is None or not len(annotations):
        return '<p class="note">(none)</p>'
    shown = annotations.head(MAX_EVENT_ROWS)
    note = f"{len(annotations)} annotation(s)" + (
        f"; the first {MAX_EVENT_ROWS} shown." if len(annotations) > MAX_EVENT_ROWS else "."
    )
    return f'<p class="note">{note}</p>' + html_table(shown)


def _pattern_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for label, p in summary["patterns"].items():
        longest = p["longest_event"] or {}
        first = p["first_event"] or {}
        rows.append(
            {
                "pattern": label,
                "minutes ≥ threshold": p["minutes"],
                "% of analysed": p["percent_of_analysed"],
                "windows as top class": p["windows_top_class"],
                "events": p["n_events"],
                "first event at (s)": first.get("start_s"),
                "longest event (s)": longest.get("duration_s"),
            }
        )
    return rows


def _links(links: list[tuple[str, str]]) -> str:
    items = "".join(f'<li><a href="{html.escape(path)}">{html.escape(label)}</a></li>'
                    for label, path in links)  # fmt: skip
    return f"<ul>{items}</ul>"


def _review_section(review: dict[str, Any], iiicgram: Path, events: pd.DataFrame) -> list[str]:
    """The interactive review: IIIC-gram overview, strip, thresholds, window, EEG page, events."""
    from iiic.clinical.review import review_script

    # every "<" escaped: "</script" and "<!--<script" (which would swallow the review script)
    # cannot occur inside the data, whatever a file name or annotation holds
    data = json.dumps(review, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
    return [
        '<section id="review"><h2>Review</h2>',
        '<p class="note">Click the IIIC-gram or the strip below it to show that moment; ← → step '
        "one window, Shift+← → or PageUp/PageDown jump to the previous/next event, Home/End. The "
        "sliders set a threshold per pattern: the strip marks the windows at or above it and the "
        "events below are recomputed (each start links to its first window).</p>",
        f'<div id="overview">{_img(iiicgram, "IIIC-gram")}<div id="cursor"></div></div>'.replace(
            "<img ", '<img id="overview-img" ', 1
        ),
        '<canvas id="strip" height="76"></canvas>',
        '<div id="thresholds"></div>',
        '<div id="selected"><span id="sel-title"></span></div>',
        '<table id="probs"></table><p id="sel-flags" class="note"></p>',
        '<canvas id="eeg" height="620"></canvas>',
        '<p id="eeg-note" class="note"></p><button id="eeg-nearest" hidden></button>',
        "<h3>Events</h3>",
        '<p id="event-count" class="note"></p><table id="events"></table>',
        "<h3>Time at or above the thresholds</h3>",
        '<table id="minutes"></table>',
        f"<noscript>{_events_section(events)}</noscript>",
        f'<script type="application/json" id="iiic-review-data">{data}</script>',
        f"<script>{review_script()}</script>",
        "</section>",
    ]


def write_report(
    path: str | Path,
    *,
    title: str,
    summary: dict[str, Any],
    events: pd.DataFrame,
    settings: dict[str, Any],
    mapping: list[dict[str, Any]],
    notes: list[str],
    iiicgram: Path,
    pages: list[tuple[str, Path]],
    annotations: pd.DataFrame | None = None,
    review: dict[str, Any] | None = None,
    links: list[tuple[str, str]] | None = None,
    model_line: str = NO_CHECK,
) -> Path:
    """Write the self-contained HTML report (atomically) and return its path.

    Parameters
    ----------
    path : the report.html to write
    title : the page title (the recording's name)
    summary : from :func:`iiic.clinical.summary.summarize`
    events : from :func:`iiic.clinical.summary.all_events`
    settings : the analysis settings (models, stride, threshold, ...)
    mapping : one dict per channel: target, source, how
    notes : remarks on the input (EKG absent, interpolated channels, flags)
    iiicgram : the IIIC-gram PNG
    pages : (caption, PNG) of the EEG pages
    annotations : the file's own annotations (onset_s, duration_s, description), if any
    review : :func:`iiic.clinical.review.review_data`; None gives a static page
    links : (label, path relative to the report) of the other outputs
    model_line : what the model is (its card's headline, :func:`iiic.predict.card.headline`)
    """
    burden = [
        {"": "seizure burden, minutes per hour (whole recording)", "value": summary["seizure_burden_min_per_hour"]},
        {"": "highest hourly seizure burden, minutes", "value": summary["seizure_burden_max_hourly_min"]},
        {"": "recording length, h", "value": summary["duration_s"] / SECONDS_PER_HOUR},
        {"": "analysed (windows × stride), h", "value": summary["analysed_s"] / SECONDS_PER_HOUR},
        {"": "windows", "value": summary["n_windows"]},
        {"": "windows with a quality flag", "value": summary["flagged_windows_any"]},
    ]  # fmt: skip
    flags = [{"flag": k, "windows": v} for k, v in summary["flagged_windows"].items()]
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        '<p class="note">Automated IIIC classification (research tool, not a diagnosis). '
        f"Threshold {summary['threshold']:g}: a window counts for a pattern when its probability "
        "is at least the threshold; each window stands for one stride of recording.</p>",
        f'<p id="model-card" class="model"><strong>Model:</strong> {html.escape(model_line)}</p>',
        "<h2>Summary</h2>",
        html_table(burden),
        html_table(_pattern_rows(summary)),
        *(
            _review_section(review, iiicgram, events)
            if review is not None
            else [
                "<h2>IIIC-gram</h2>",
                _img(iiicgram, "IIIC-gram"),
                "<h2>Events</h2>",
                _events_section(events),
            ]
        ),
        "<h2>Top-scoring windows</h2>",
        *[f"<h3>{html.escape(cap)}</h3>{_img(p, cap)}" for cap, p in pages],
        "<h2>Annotations in the file</h2>",
        _annotations_section(annotations),
        "<h2>Signal quality</h2>",
        html_table(flags),
        "<h2>Input and channel mapping</h2>",
        "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>",
        html_table(mapping),
        "<h2>Settings</h2>",
        html_table([{"setting": k, "value": v} for k, v in settings.items()]),
        *(["<h2>Files</h2>", _links(links)] if links else []),
    ]
    doc = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        + "\n".join(parts)
        + "</body></html>\n"
    )
    return write_text_atomic(path, doc)
