"""The data of the interactive review in ``report.html``: timeline, events and embedded EEG.

The review (``resources/review.js``, inlined in the report) shows the IIIC-gram as the overview;
a click on it or the arrow keys select a window, whose class probabilities and double-banana EEG
page (:data:`~iiic.clinical.figures.PAGE_S` s centred on the labelled 10 s, the montage and
display filter of the PNG pages) are drawn; a threshold per pattern re-marks the windows at or
above it and recomputes the events with :func:`iiic.clinical.summary.find_events`'s rule (runs of
consecutive windows), each event a jump link. Everything is in the one HTML file.

Size: the EEG of a whole day cannot travel in a page, so EEG is embedded for the windows that
matter, up to ``eeg_budget_s`` seconds of unique EEG (default 30 min): windows in an event first
(at the analysis threshold), then the rest by their highest pattern probability. It is stored at
:data:`EEG_SFREQ_HZ` as int8 per channel and segment (scale = 99.9th percentile of |x| / 100; the
rare larger samples are clipped at ±127 steps), base64: 2.4 kB per second of EEG. Probabilities
are rounded to 1e-4. Selecting a window without embedded EEG shows its probabilities and a link to
the nearest embedded one.
"""

from __future__ import annotations

import base64
import bisect
import math
from importlib import resources
from typing import Any

import numpy as np
from scipy.signal import resample_poly

from iiic.clinical.edf import Recording
from iiic.clinical.figures import (
    CLASS_COLORS,
    DISPLAY_BAND_HZ,
    IIICGRAM_AXES,
    PAGE_S,
    display_bipolar,
    page_montage,
)
from iiic.clinical.summary import OTHER
from iiic.clinical.timeline import Timeline
from iiic.clinical.windows import FLAG_NAMES
from iiic.constants import CLASS_LABELS, CLASSES, LABEL_WINDOW_S, SFREQ_HZ

EEG_SFREQ_HZ = 100.0
"""Sampling rate of the embedded EEG, Hz (above twice the 40-Hz display band edge)."""
EEG_BUDGET_S = 1800.0
"""Default seconds of unique EEG embedded (2.4 kB/s: about 4.3 MB)."""
QUANT_STEPS = 100
"""The 99.9th percentile of |x| of a channel maps to this many int8 steps."""
PROB_DECIMALS = 4


def _span(center_s: float, duration_s: float) -> tuple[float, float]:
    return max(0.0, center_s - PAGE_S / 2), min(duration_s, center_s + PAGE_S / 2)


def choose_eeg_windows(timeline: Timeline, threshold: float, budget_s: float) -> list[int]:
    """Indices of the windows whose EEG page is embedded (sorted), at most ``budget_s`` of EEG.

    Priority: windows with a pattern probability >= ``threshold`` (in an event), then the rest,
    each group by its highest pattern probability. A window costs the seconds of its page not yet
    covered by chosen neighbours (10 s next to a chosen window at the default stride, 15 s alone).
    """
    table = timeline.table
    centers = table["center_s"].to_numpy(float)
    pattern = table[[c for c in CLASSES if c != OTHER]].to_numpy().max(axis=1)
    order = np.lexsort((-pattern, pattern < threshold))  # events first, then by probability
    chosen: list[float] = []  # sorted centres
    picked, used = [], 0.0
    for k in order:
        a, b = _span(centers[k], timeline.duration_s)
        i = bisect.bisect(chosen, centers[k])
        left = _span(chosen[i - 1], timeline.duration_s)[1] if i > 0 else -math.inf
        right = _span(chosen[i], timeline.duration_s)[0] if i < len(chosen) else math.inf
        cost = max(0.0, min(b, right) - max(a, left))
        if used + cost > budget_s:
            continue
        used += cost
        chosen.insert(i, centers[k])
        picked.append(int(k))
    return sorted(picked)


def _segments(timeline: Timeline, windows: list[int]) -> list[tuple[float, float]]:
    """Merged page spans (start s, end s) of ``windows``."""
    merged: list[list[float]] = []
    for k in windows:
        a, b = _span(float(timeline.table["center_s"].iloc[k]), timeline.duration_s)
        if merged and a <= merged[-1][1] + 1 / EEG_SFREQ_HZ:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def encode_segment(recording: Recording, start_s: float, end_s: float) -> dict[str, Any]:
    """One embedded EEG segment: display-filtered bipolar EEG at 100 Hz as int8, base64.

    Returns ``{"start_s", "n", "scale_uv": [18], "data": base64 of int8 (18, n) channel-major}``;
    sample ``j`` of channel ``c`` is ``data[c, j] * scale_uv[c]`` µV at ``start_s + j / 100`` s.
    """
    a = round(start_s * SFREQ_HZ)
    b = min(recording.data.shape[1], round(end_s * SFREQ_HZ))
    x = display_bipolar(recording.data, a, b)  # (18, n) µV at 200 Hz
    y = resample_poly(x, 1, round(SFREQ_HZ / EEG_SFREQ_HZ), axis=1)
    scale = np.maximum(np.percentile(np.abs(y), 99.9, axis=1) / QUANT_STEPS, 1e-3)  # µV/step
    q = np.clip(np.round(y / scale[:, None]), -127, 127).astype(np.int8)
    return {"start_s": a / SFREQ_HZ, "n": int(q.shape[1]),
            "scale_uv": [float(f"{s:.4g}") for s in scale],
            "data": base64.b64encode(q.tobytes()).decode("ascii")}  # fmt: skip


def review_data(
    recording: Recording, timeline: Timeline, threshold: float, *,
    eeg_budget_s: float = EEG_BUDGET_S,
) -> dict[str, Any]:  # fmt: skip
    """Everything the review script reads (JSON-ready; see the module docstring)."""
    table = timeline.table
    probs = np.round(timeline.probabilities, PROB_DECIMALS)
    flags = np.stack([table[f"flag_{n}"].to_numpy(bool) for n in FLAG_NAMES], axis=1)
    bits = (flags * (1 << np.arange(len(FLAG_NAMES)))).sum(axis=1)
    windows = choose_eeg_windows(timeline, threshold, eeg_budget_s)
    segments = [encode_segment(recording, a, b) for a, b in _segments(timeline, windows)]
    pairs, groups = page_montage()
    return {
        "name": recording.name,
        "start": timeline.start.isoformat() if timeline.start else None,
        "duration_s": timeline.duration_s,
        "stride_s": timeline.stride_s,
        "first_center_s": float(table["center_s"].iloc[0]) if len(table) else 0.0,
        # window centres, s, only where they are not a regular grid (EDF+D gaps); else None
        "centers_s": table["center_s"].round(3).tolist() if recording.gaps else None,
        "n_windows": len(table),
        "label_s": LABEL_WINDOW_S,
        "page_s": PAGE_S,
        "threshold": threshold,
        "classes": list(CLASS_LABELS),
        "patterns": [CLASS_LABELS[i] for i, c in enumerate(CLASSES) if c != OTHER],
        "colors": [CLASS_COLORS[c] for c in CLASS_LABELS],
        "probs": probs.ravel().tolist(),
        "flag_names": list(FLAG_NAMES),
        "flag_bits": bits.astype(int).tolist(),
        "flag_text": {int(k): str(t) for k, t in enumerate(table["flags"]) if t},
        "axes": IIICGRAM_AXES,
        "eeg": {
            "sfreq_hz": EEG_SFREQ_HZ,
            "band_hz": list(DISPLAY_BAND_HZ),
            "channels": [f"{a}-{b}" for a, b in pairs],
            "groups": groups,
            "budget_s": eeg_budget_s,
            "windows": windows,
            "segments": segments,
        },  # fmt: skip
    }


def review_script() -> str:
    """The review's JavaScript (package resource ``iiic/resources/review.js``)."""
    return resources.files("iiic").joinpath("resources/review.js").read_text(encoding="utf-8")
