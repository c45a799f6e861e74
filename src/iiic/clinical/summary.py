"""Summary numbers of a timeline: time in each pattern, events, seizure burden per hour.

Conventions (stated in the report):
- a window is *in* a pattern when that pattern's probability is at least ``threshold``;
- each window stands for ``stride_s`` seconds of recording around its centre, so the time in a
  pattern is ``n_windows_in_pattern × stride_s`` (with the default 10-s stride the labelled
  10-s centres tile the recording exactly);
- an *event* is a run of consecutive windows in the same pattern; it spans from half a stride
  before the first centre to half a stride after the last one;
- seizure burden = minutes of seizure per hour of analysed recording, overall and per clock hour
  of the recording (hour 0 = the first hour after the start).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from iiic.clinical.timeline import Timeline
from iiic.constants import CLASS_LABELS, CLASSES
from iiic.utils import bad_value

SECONDS_PER_MINUTE = 60.0
SECONDS_PER_HOUR = 3600.0
OTHER = "other"
"""The class that is not a pattern (no events, no pages)."""


def _clock(start: datetime | None, seconds: float) -> str | None:
    return (start + timedelta(seconds=seconds)).isoformat(sep=" ") if start else None


def find_events(timeline: Timeline, pattern: str, threshold: float) -> pd.DataFrame:
    """Runs of consecutive windows with ``P(pattern) >= threshold``.

    Returns
    -------
    DataFrame[pattern, start_s, end_s, duration_s, n_windows, max_prob, mean_prob, start_time]
    """
    table = timeline.table
    above = table[pattern].to_numpy() >= threshold
    idx = np.flatnonzero(above)
    half = timeline.stride_s / 2
    rows = []
    if idx.size:
        centers = table["center_s"].to_numpy()[idx]  # windows are missing over EDF+D gaps
        breaks = np.flatnonzero((np.diff(idx) > 1) | (np.diff(centers) > 1.5 * timeline.stride_s))
        for run in np.split(idx, breaks + 1):
            probs = table[pattern].to_numpy()[run]
            start = max(0.0, float(table["center_s"].iloc[run[0]]) - half)
            end = min(timeline.duration_s, float(table["center_s"].iloc[run[-1]]) + half)
            rows.append(
                {
                    "pattern": CLASS_LABELS[CLASSES.index(pattern)],
                    "start_s": start,
                    "end_s": end,
                    "duration_s": end - start,
                    "n_windows": len(run),
                    "max_prob": float(probs.max()),
                    "mean_prob": float(probs.mean()),
                    "start_time": _clock(timeline.start, start),
                }
            )
    columns = ["pattern", "start_s", "end_s", "duration_s", "n_windows", "max_prob", "mean_prob"]
    return pd.DataFrame(rows, columns=[*columns, "start_time"])


def hourly_burden(timeline: Timeline, threshold: float) -> list[dict[str, float]]:
    """Minutes of seizure in each hour of the recording (hour index from the start)."""
    table = timeline.table
    n_hours = max(1, int(np.ceil(timeline.duration_s / SECONDS_PER_HOUR)))
    hour = (table["center_s"].to_numpy() // SECONDS_PER_HOUR).astype(int)
    seizure = table["seizure"].to_numpy() >= threshold
    minutes = np.bincount(hour[seizure], minlength=n_hours) * timeline.stride_s / SECONDS_PER_MINUTE
    return [
        {"hour": h, "start_time": _clock(timeline.start, h * SECONDS_PER_HOUR), "minutes": float(m)}
        for h, m in enumerate(minutes[:n_hours])
    ]


def _event_dict(row: pd.Series | None) -> dict[str, Any] | None:
    return (
        None
        if row is None
        else {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
    )


def summarize(timeline: Timeline, threshold: float) -> dict[str, Any]:
    """Summary numbers of ``timeline`` (JSON-ready dict; see the module docstring)."""
    if not 0 < threshold <= 1:
        raise ValueError(bad_value("threshold", "a probability in (0, 1]", threshold))
    table = timeline.table
    analysed_s = len(table) * timeline.stride_s
    patterns: dict[str, Any] = {}
    for name, label in zip(CLASSES, CLASS_LABELS, strict=True):
        events = find_events(timeline, name, threshold) if name != OTHER else pd.DataFrame()
        n_in = int((table[name] >= threshold).sum())
        patterns[label] = {
            "windows_above_threshold": n_in,
            "minutes": n_in * timeline.stride_s / SECONDS_PER_MINUTE,
            "percent_of_analysed": 100.0 * n_in * timeline.stride_s / analysed_s
            if analysed_s
            else 0.0,
            "windows_top_class": int((table["top_class"] == label).sum()),
            "n_events": len(events),
            "first_event": _event_dict(events.iloc[0] if len(events) else None),
            "longest_event": _event_dict(
                events.loc[events["duration_s"].idxmax()] if len(events) else None
            ),
        }
    seizure_min = patterns[CLASS_LABELS[CLASSES.index("seizure")]]["minutes"]
    hours = analysed_s / SECONDS_PER_HOUR
    hourly = hourly_burden(timeline, threshold)
    flags = {c.removeprefix("flag_"): int(table[c].sum()) for c in table if c.startswith("flag_")}
    return {
        "duration_s": timeline.duration_s,
        "analysed_s": analysed_s,
        "n_windows": len(table),
        "stride_s": timeline.stride_s,
        "threshold": threshold,
        "start_time": timeline.start.isoformat(sep=" ") if timeline.start else None,
        "patterns": patterns,
        "seizure_burden_min_per_hour": seizure_min / hours if hours else 0.0,
        "seizure_burden_max_hourly_min": max((h["minutes"] for h in hourly), default=0.0),
        "seizure_burden_hourly": hourly,
        "flagged_windows": flags,
        "flagged_windows_any": int(table[[f"flag_{k}" for k in flags]].any(axis=1).sum()),
    }


def all_events(timeline: Timeline, threshold: float) -> pd.DataFrame:
    """Events of every pattern but Other, sorted by start time."""
    frames = [find_events(timeline, name, threshold) for name in CLASSES if name != OTHER]
    frames = [f for f in frames if len(f)]
    if not frames:
        return find_events(timeline, CLASSES[0], np.inf)
    return pd.concat(frames, ignore_index=True).sort_values("start_s", ignore_index=True)
