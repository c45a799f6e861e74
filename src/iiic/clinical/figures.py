"""Figures of a whole-recording analysis (matplotlib, Agg backend, PNG).

- :func:`plot_iiicgram`: the six probabilities over the whole recording as a stacked area (fixed
  class colours), a strip marking windows with quality flags, and below it, on the same time
  axis, the log-power spectrogram (0-20 Hz) of the four chains LL, RL, LP, RP.
- :func:`plot_eeg_page`: one window drawn the way an EEG reader shows it: the 18-channel
  longitudinal bipolar ("double banana") montage (LL, RL, LP, RP chains + Fz-Cz, Cz-Pz) with
  gaps between chains, labels on the left, :data:`PAGE_S` seconds centred on the labelled centre
  (shaded), a grid line every second, a µV scale bar and a 1-s time bar, and a
  :data:`DISPLAY_BAND_HZ` display filter stated in the caption.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter, MultipleLocator

from iiic.clinical.edf import Recording
from iiic.clinical.timeline import Timeline
from iiic.constants import (
    BIPOLAR_PAIRS,
    CENTRAL_PAIRS,
    CLASS_LABELS,
    CLASSES,
    EEG_WINDOW_SAMPLES,
    SFREQ_HZ,
    SPEC_CHAINS,
)
from iiic.utils import atomic_path

log = logging.getLogger(__name__)

CLASS_COLORS: dict[str, str] = {
    "Seizure": "#d62728", "LPD": "#ff7f0e", "GPD": "#9467bd",
    "LRDA": "#1f77b4", "GRDA": "#2ca02c", "Other": "#d9d9d9",
}  # fmt: skip
"""Fixed colour of each class (display label → colour) in every figure."""
PAGE_S = 15.0
"""Seconds of EEG on one page (centred on the labelled 10-s centre)."""
DISPLAY_BAND_HZ = (0.5, 40.0)
"""Display filter of the EEG pages, Hz (zero-phase Butterworth)."""
DISPLAY_PAD_S = 10.0
"""Recording filtered on each side of a displayed span (keeps filter transients off the page), s."""
NICE_SPACINGS_UV = (20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1000, 2000, 5000)
"""Candidate distances between traces, µV (the page picks one from the signal's amplitude)."""
MAX_SPEC_COLUMNS = 3000
"""The spectrogram is averaged down to at most this many time columns before drawing."""
POWER_FLOOR = 1e-6
"""Smallest power drawn (log scale), µV²/Hz."""
DPI = 100
TICK_STEPS_S = (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)
"""Candidate time-axis tick steps, s (5 s .. 12 h)."""
MAX_TICKS = 12
SECONDS_SPAN_S = 2 * 3600.0
"""Time axes shorter than this show seconds in their tick labels."""
LABEL_S = 10.0
IIICGRAM_AXES = {"left": 0.07, "right": 0.9, "top": 0.95, "bottom": 0.07}
"""Where the IIIC-gram's axes sit in the figure (fractions; the time axis spans left → right from
0 to the recording's duration): the interactive review maps clicks on the image with them."""


def _time_formatter(start: datetime | None, span_s: float) -> FuncFormatter:
    """Tick labels for an axis in seconds: clock time if ``start`` is known, else time from start.

    Seconds are shown when the axis spans less than :data:`SECONDS_SPAN_S`.
    """
    with_seconds = span_s < SECONDS_SPAN_S

    def fmt(x: float, _pos: int) -> str:
        if start is not None:
            clock = start + timedelta(seconds=float(x))
            return clock.strftime("%H:%M:%S" if with_seconds else "%H:%M")
        sec = int(round(x))
        hours, minutes = sec // 3600, sec % 3600 // 60
        return f"{hours}:{minutes:02d}:{sec % 60:02d}" if with_seconds else f"{hours}:{minutes:02d}"

    return FuncFormatter(fmt)


def _downsample_columns(times: np.ndarray, values: np.ndarray, n_max: int):
    """Average consecutive rows so that at most ``n_max`` remain: (n, ...) → (≤ n_max, ...)."""
    factor = int(np.ceil(len(times) / n_max)) if len(times) > n_max else 1
    n = len(times) // factor * factor
    if factor == 1:
        return times, values
    t = times[:n].reshape(-1, factor).mean(axis=1)
    v = np.nanmean(values[:n].reshape(-1, factor, *values.shape[1:]), axis=1)
    return t, v


def _draw_probabilities(ax, timeline: Timeline) -> None:
    table = timeline.table
    t = table["center_s"].to_numpy()
    probs = timeline.probabilities.T  # (6, n)
    colors = [CLASS_COLORS[label] for label in CLASS_LABELS]
    ax.stackplot(t, probs, colors=colors, labels=CLASS_LABELS, step="mid", linewidth=0)
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=9, frameon=False)


def _draw_flags(ax, timeline: Timeline) -> None:
    """A strip marking windows with any quality flag (black) over their labelled 10 s."""
    table = timeline.table
    flagged = table[[c for c in table if c.startswith("flag_")]].any(axis=1).to_numpy()
    half = max(timeline.stride_s, LABEL_S) / 2
    for c in table["center_s"].to_numpy()[flagged]:
        ax.axvspan(c - half, c + half, color="k", lw=0)
    ax.set_yticks([])
    ax.set_ylabel("flags", rotation=0, ha="right", va="center", fontsize=9)


def _tick_step_s(span_s: float) -> float:
    """The smallest of TICK_STEPS_S giving at most MAX_TICKS ticks over ``span_s``."""
    return next((s for s in TICK_STEPS_S if span_s / s <= MAX_TICKS), TICK_STEPS_S[-1])


def _clock_locator(start: datetime | None, span_s: float) -> MultipleLocator:
    """Ticks every nice step, on round clock times when the start time is known."""
    step = _tick_step_s(span_s)
    if start is None:
        return MultipleLocator(step)
    of_day = start.hour * 3600 + start.minute * 60 + start.second + start.microsecond / 1e6
    return MultipleLocator(step, offset=(-of_day) % step)


def _draw_spectrogram(axes, timeline: Timeline):
    times, spec = _downsample_columns(timeline.spec_times_s, timeline.spec, MAX_SPEC_COLUMNS)
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = np.log10(np.maximum(spec, POWER_FLOOR))  # (n, 4, n_freqs)
    finite = logp[np.isfinite(logp)]
    vmin, vmax = np.percentile(finite, [2, 98]) if finite.size else (0.0, 1.0)
    f = np.asarray(timeline.spec_freqs_hz)
    half = (times[1] - times[0]) / 2 if len(times) > 1 else 1.0
    image = None
    for k, (ax, chain) in enumerate(zip(axes, SPEC_CHAINS, strict=True)):
        extent = (times[0] - half, times[-1] + half, f[0], f[-1]) if len(times) else None
        image = ax.imshow(
            logp[:, k, :].T, origin="lower", aspect="auto", extent=extent, cmap="magma",
            vmin=vmin, vmax=vmax, interpolation="nearest",
        )  # fmt: skip
        ax.set_ylabel(f"{chain}\nHz")
        ax.set_yticks([0, 5, 10, 15, 20])
        ax.set_ylim(0, 20)
    return image


def plot_iiicgram(timeline: Timeline, path: str | Path, *, title: str = "") -> Path:
    """Probabilities (stacked area) above the four-chain spectrogram, sharing the time axis.

    Parameters
    ----------
    timeline : the analysed recording (with its spectrogram)
    path : PNG file to write (atomically)
    title : figure title (e.g. the file name)
    """
    fig, axes = plt.subplots(
        6, 1, figsize=(14, 9), sharex=True,
        gridspec_kw={"height_ratios": [2.2, 0.12, 1, 1, 1, 1]},
    )  # fmt: skip
    _draw_probabilities(axes[0], timeline)
    _draw_flags(axes[1], timeline)
    image = _draw_spectrogram(axes[2:], timeline)
    cax = fig.add_axes((0.915, 0.11, 0.01, 0.42))
    fig.colorbar(image, cax=cax, label="log10 power, µV²/Hz")
    axes[-1].xaxis.set_major_formatter(_time_formatter(timeline.start, timeline.duration_s))
    axes[-1].xaxis.set_major_locator(_clock_locator(timeline.start, timeline.duration_s))
    start = timeline.start.strftime("%Y-%m-%d %H:%M:%S") if timeline.start else None
    axes[-1].set_xlabel(
        f"clock time (recording starts {start})" if start else "time from the start (h:mm)"
    )
    axes[0].set_xlim(0, timeline.duration_s)
    axes[0].set_title(title or "IIIC-gram", loc="left", fontsize=12)
    fig.subplots_adjust(**IIICGRAM_AXES, hspace=0.08)
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    plt.close(fig)
    return path


def page_montage() -> tuple[list[tuple[str, str]], list[int]]:
    """The 18 pairs of a page and the index of the group (chain) of each pair."""
    pairs = [*BIPOLAR_PAIRS, *CENTRAL_PAIRS]
    groups = [i // 4 for i in range(len(BIPOLAR_PAIRS))] + [len(SPEC_CHAINS)] * len(CENTRAL_PAIRS)
    return pairs, groups


def display_bipolar(data: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Display-filtered EEG of samples ``[start, stop)`` in the page montage, (18, stop - start) µV.

    ``data`` is the recording (20, n_times) µV at 200 Hz. NaN → 0; the :data:`DISPLAY_BAND_HZ`
    band-pass runs over the span plus :data:`DISPLAY_PAD_S` of the recording on each side (where
    there is recording), so the span's ends show no filter transient.
    """
    from iiic.signal.filters import bandpass
    from iiic.signal.montage import bipolar, montage_matrix

    pad = round(DISPLAY_PAD_S * SFREQ_HZ)
    lo, hi = max(0, start - pad), min(data.shape[1], stop + pad)
    x = np.nan_to_num(data[:, lo:hi].astype(np.float32))
    bip = bandpass(bipolar(x, montage_matrix(central=True)), SFREQ_HZ, *DISPLAY_BAND_HZ)
    return bip[:, start - lo : stop - lo]


def _page_signal(recording: Recording, start_sample: int) -> np.ndarray:
    """Display-filtered bipolar EEG of the page: (18, PAGE_S * 200) µV."""
    n_page = round(PAGE_S * SFREQ_HZ)
    a = start_sample + (EEG_WINDOW_SAMPLES - n_page) // 2
    return display_bipolar(recording.data, a, a + n_page)


def _spacing(sig: np.ndarray) -> float:
    amp = float(np.median(np.percentile(np.abs(sig), 99, axis=1)))
    return next((s for s in NICE_SPACINGS_UV if s >= 1.2 * amp), NICE_SPACINGS_UV[-1])


TRACE_CLIP = 1.5
"""A page's traces are clipped at ± this many trace spacings (as EEG viewers do), so that a
filter transient or artifact cannot draw across every other trace."""


def page_traces(recording: Recording, start_sample: int) -> tuple[np.ndarray, float]:
    """The page's display signal, clipped at ±``TRACE_CLIP`` spacings, (18, n_page) µV, and the
    trace spacing, µV."""
    sig = _page_signal(recording, start_sample)  # (18, n_page)
    spacing = _spacing(sig)
    return np.clip(sig, -TRACE_CLIP * spacing, TRACE_CLIP * spacing), spacing


def plot_eeg_page(
    recording: Recording, start_sample: int, path: str | Path, *, title: str, note: str = ""
) -> Path:
    """Draw the 50-s window starting at ``start_sample`` as one EEG page (PAGE_S s, bipolar).

    Parameters
    ----------
    recording : the recording at 200 Hz
    start_sample : first sample of the 50-s window (the page shows its middle ``PAGE_S`` s)
    path : PNG file to write (atomically)
    title : first line of the title (pattern, probability, time)
    note : appended to the caption
    """
    sig, spacing = page_traces(recording, start_sample)  # (18, n_page) µV, clipped
    pairs, groups = page_montage()
    offsets = -(np.arange(len(pairs)) + np.asarray(groups) * 0.8) * spacing
    t = np.arange(sig.shape[1]) / SFREQ_HZ
    fig, ax = plt.subplots(figsize=(17, 10))
    lo = (PAGE_S - LABEL_S) / 2
    ax.axvspan(lo, lo + LABEL_S, color="#fff8dc", zorder=0)
    for s in range(int(PAGE_S) + 1):
        ax.axvline(s, color="#bbbbbb", lw=0.6, zorder=1)
    for k in range(len(pairs)):
        ax.plot(t, sig[k] + offsets[k], color="k", lw=0.6, zorder=2)
    ax.set_yticks(offsets, [f"{a}-{b}" for a, b in pairs], fontsize=10)
    ax.set_xticks(range(int(PAGE_S) + 1))
    ax.set_xlim(0, PAGE_S)
    ax.set_ylim(offsets[-1] - 2.6 * spacing, offsets[0] + 1.2 * spacing)
    _scale_bars(ax, spacing, offsets[-1] - 2.0 * spacing)
    center_s = (start_sample + EEG_WINDOW_SAMPLES / 2) / SFREQ_HZ
    page_start_s = center_s - PAGE_S / 2
    ax.set_xlabel(f"seconds from {_clock_label(recording, page_start_s)}")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.set_title(title, loc="left", fontsize=13)
    caption = (
        f"Longitudinal bipolar (double banana) montage; display filter "
        f"{DISPLAY_BAND_HZ[0]:g}-{DISPLAY_BAND_HZ[1]:g} Hz (zero-phase Butterworth); "
        f"trace spacing {spacing:g} µV, traces clipped at ±{TRACE_CLIP:g}×; shaded: the 10-s "
        f"centre the model scored. {note}"
    )
    fig.text(0.01, 0.01, caption, fontsize=9, color="#333333")
    fig.subplots_adjust(left=0.07, right=0.99, top=0.94, bottom=0.09)
    return _save(fig, path)


def _scale_bars(ax, spacing: float, y0: float) -> None:
    """A vertical µV bar (``spacing`` µV) and a horizontal 1-s bar at the lower right."""
    x0 = PAGE_S - 1.3
    ax.plot([x0, x0 + 1], [y0, y0], color="#0050a0", lw=2.5, clip_on=False)
    ax.plot([x0, x0], [y0, y0 + spacing], color="#0050a0", lw=2.5, clip_on=False)
    ax.text(
        x0 + 0.5, y0 - 0.12 * spacing, "1 s", ha="center", va="top", color="#0050a0", fontsize=10
    )
    ax.text(x0 - 0.05, y0 + spacing / 2, f"{spacing:g} µV", ha="right", va="center",
            color="#0050a0", fontsize=10)  # fmt: skip


def _clock_label(recording: Recording, seconds: float) -> str:
    rel = f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{seconds % 60:04.1f}"
    if recording.start is None:
        return f"{rel} after the start"
    clock = recording.start + timedelta(seconds=seconds)
    tenths = clock.microsecond // 100_000
    return f"{clock.strftime('%Y-%m-%d %H:%M:%S')}.{tenths} ({rel} after the start)"


def top_windows(
    timeline: Timeline, threshold: float, max_pages: int
) -> list[tuple[str, int, float]]:
    """Windows to draw: per pattern (not Other) up to ``max_pages`` best windows ≥ ``threshold``.

    Windows of one pattern are at least one window length apart. When no window of any pattern
    reaches the threshold, the single window with the highest pattern probability is returned.

    Returns
    -------
    list of (class name, window index, probability)
    """
    table = timeline.table
    chosen: list[tuple[str, int, float]] = []
    min_gap_s = EEG_WINDOW_SAMPLES / SFREQ_HZ
    for name in CLASSES[:-1]:
        order = np.argsort(-table[name].to_numpy(), kind="stable")
        taken: list[float] = []
        for w in order:
            p = float(table[name].iloc[w])
            if p < threshold or len(taken) >= max_pages:
                break
            c = float(table["center_s"].iloc[w])
            if all(abs(c - o) >= min_gap_s for o in taken):
                taken.append(c)
                chosen.append((name, int(w), p))
    if not chosen and len(table) and max_pages > 0:
        probs = timeline.probabilities[:, :-1]
        w, k = np.unravel_index(np.argmax(probs), probs.shape)
        chosen.append((CLASSES[k], int(w), float(probs[w, k])))
    return chosen
