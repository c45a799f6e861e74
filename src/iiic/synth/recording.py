"""Long synthetic recordings with known pattern episodes, written as EDF+ (``iiic synth --edf``).

``synth_recording(hours, seed=...)`` returns a continuous 20-channel recording (19 electrodes +
EKG, µV, 200 Hz) of one synthetic patient: background with artifacts, and inserted episodes of
seizure, LPD, GPD, LRDA and GRDA whose times are known (``episodes``: start_s, end_s, pattern).
``iter_recording`` yields the same signal in chunks (joined by a cross-fade), and ``write_edf``
streams chunks into an EDF+ file with the episodes as annotations, so a 24-h recording is
written in bounded memory (a small streaming writer: MNE's and edfio's writers need the whole
signal in memory).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from iiic import constants
from iiic.synth.generator import synth_eeg
from iiic.synth.signals import PATTERN_SNR, sample_traits
from iiic.utils import atomic_path, bad_value

SFREQ = constants.SFREQ_HZ
CHUNK_S = 600.0
"""Recording generated in chunks of this length, s."""
CROSSFADE_S = 2.0
"""Overlap between consecutive chunks, s."""
STATE_STEP_S = 10.0
"""Grid of pseudo-windows that carry the state (pattern or background), s."""
EPISODE_PATTERNS = ("seizure", "lpd", "gpd", "lrda", "grda")
EPISODE_MINUTES: dict[str, tuple[float, float]] = {
    "seizure": (1.5, 4.0), "lpd": (5.0, 15.0), "gpd": (5.0, 12.0),
    "lrda": (4.0, 10.0), "grda": (4.0, 10.0),
}  # fmt: skip
"""Range of episode lengths per pattern, minutes."""
EPISODES_PER_HOUR = 2.0
"""Mean number of inserted episodes per hour."""
MIN_GAP_S = 300.0
"""Minimum background between episodes, s."""
EPISODE_SHARE = 0.95
"""Pattern share of the state inside an episode (the rest is Other)."""
PHYS_RANGE_UV = 5000.0
"""EDF physical range ±this, µV (values beyond are clipped); 0.15 µV resolution."""
EDF_RECORD_S = 1
"""Duration of one EDF data record, s."""
ANNOT_BYTES = 120
"""Bytes of the 'EDF Annotations' signal per data record."""


def regular_episodes(patterns: list[str], episode_s: float, gap_s: float) -> pd.DataFrame:
    """One ``episode_s``-long episode per pattern, in order, ``gap_s`` of background before each
    (columns start_s, end_s, pattern); the recording should last ``gap_s`` past the last one."""
    starts = gap_s + np.arange(len(patterns)) * (episode_s + gap_s)
    return pd.DataFrame({"start_s": starts, "end_s": starts + episode_s, "pattern": list(patterns)})


def default_episodes(hours: float, seed: int) -> pd.DataFrame:
    """Random, non-overlapping pattern episodes over ``hours`` (columns start_s, end_s, pattern)."""
    rng = np.random.default_rng([seed, 7])
    total_s = hours * 3600
    rows, t = [], MIN_GAP_S * rng.uniform(0.5, 1.5)
    mean_gap = max(MIN_GAP_S, 3600 / EPISODES_PER_HOUR)
    i = 0
    while True:
        pattern = (
            EPISODE_PATTERNS[i % len(EPISODE_PATTERNS)]
            if i < 5
            else str(rng.choice(EPISODE_PATTERNS))
        )
        dur = 60 * rng.uniform(*EPISODE_MINUTES[pattern])
        if t + dur > total_s - 60:
            break
        rows.append({"start_s": round(t, 1), "end_s": round(t + dur, 1), "pattern": pattern})
        t += dur + MIN_GAP_S + rng.exponential(mean_gap - MIN_GAP_S + 1)
        i += 1
    return pd.DataFrame(rows, columns=["start_s", "end_s", "pattern"])


def _state_grid(t0_s: float, n_times: int, episodes: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Pseudo-window offsets (relative to the chunk) and their distributions (n, 6)."""
    centers = np.arange(0, n_times / SFREQ + STATE_STEP_S, STATE_STEP_S)
    p = np.full((len(centers), constants.N_CLASSES), 0.01)
    p[:, constants.CLASSES.index("other")] = 0.95
    for ep in episodes.itertuples():
        inside = (centers + t0_s >= ep.start_s) & (centers + t0_s < ep.end_s)
        p[inside] = (1 - EPISODE_SHARE) / (constants.N_CLASSES - 1)
        p[inside, constants.CLASSES.index(ep.pattern)] = EPISODE_SHARE
    return centers - constants.EEG_WINDOW_S / 2, p


def iter_recording(
    hours: float, *, seed: int, episodes: pd.DataFrame, chunk_s: float = CHUNK_S
) -> Iterator[np.ndarray]:
    """Yield consecutive chunks (20, m) float32 µV of the recording (no NaN)."""
    rng = np.random.default_rng([seed, 8])
    traits = sample_traits(rng)
    # episodes of typical salience (the twin's median pattern-to-background ratio): the
    # recording shows what the patterns look like; the twin's rows carry the weak and strong ones
    traits = dataclasses.replace(traits, pattern_uv=traits.bg_rms_uv * PATTERN_SNR)
    n_total = round(hours * 3600 * SFREQ)
    chunk, fade = round(chunk_s * SFREQ), round(CROSSFADE_S * SFREQ)
    ramp = (np.sin(np.linspace(0, np.pi / 2, fade)) ** 2).astype(np.float32)
    pos, tail = 0, None
    while pos < n_total:
        take = min(chunk, n_total - pos)
        n = take + fade
        offsets, p = _state_grid(pos / SFREQ, n, episodes)
        x, _ = synth_eeg(
            offsets, p, n, traits, rng, nan_stretches=False, side=traits.side, restyle=False
        )
        if tail is not None:
            x[:, :fade] = np.sqrt(ramp) * x[:, :fade] + np.sqrt(1 - ramp) * tail
        tail = x[:, take:].copy()
        yield x[:, :take]
        pos += take


def synth_recording(
    hours: float, *, seed: int = 0, episodes: pd.DataFrame | None = None
) -> tuple[np.ndarray, float, pd.DataFrame]:
    """A whole synthetic recording in memory (use ``iter_recording`` + ``write_edf`` for long ones).

    Returns
    -------
    data : ndarray, shape (20, n_times), float32, µV  (``constants.EEG_CHANNELS`` order)
    sfreq_hz : float
    episodes : DataFrame with columns start_s, end_s (s from the start) and pattern
    """
    _check_hours(hours)
    episodes = default_episodes(hours, seed) if episodes is None else episodes
    data = np.concatenate(list(iter_recording(hours, seed=seed, episodes=episodes)), axis=1)
    return data, SFREQ, episodes


def _check_hours(hours: float) -> None:
    min_h = constants.EEG_WINDOW_S / 3600
    if not hours >= min_h:
        raise ValueError(bad_value("hours", f">= {min_h:.4f} (one 50-s window)", hours))


def _field(value: object, width: int) -> bytes:
    text = str(value)
    if len(text) > width:
        raise ValueError(f"EDF header field {text!r} is longer than {width} characters")
    return text.ljust(width).encode("ascii")


def _num(value: float, width: int = 8) -> str:
    text = f"{value:g}" if float(value) != int(value) else str(int(value))
    return text[:width]


def _edf_header(labels: list[str], n_records: int, samples: int, start: dt.datetime) -> bytes:
    ns = len(labels) + 1
    h = b"".join([
        _field(0, 8), _field("X X X X", 80),
        _field(f"Startdate {start.strftime('%d-%b-%Y').upper()} X X iiic.synth", 80),
        _field(start.strftime("%d.%m.%y"), 8), _field(start.strftime("%H.%M.%S"), 8),
        _field(256 * (ns + 1), 8), _field("EDF+C", 44), _field(n_records, 8),
        _field(EDF_RECORD_S, 8), _field(ns, 4),
    ])  # fmt: skip
    sig = [*labels, "EDF Annotations"]
    eeg = [True] * len(labels) + [False]
    cols = [
        [_field(s, 16) for s in sig],
        [_field("AgAgCl electrode" if e else "", 80) for e in eeg],
        [_field("uV" if e else "", 8) for e in eeg],
        [_field(_num(-PHYS_RANGE_UV) if e else -1, 8) for e in eeg],
        [_field(_num(PHYS_RANGE_UV) if e else 1, 8) for e in eeg],
        [_field(-32768, 8) for _ in eeg],
        [_field(32767, 8) for _ in eeg],
        [_field("", 80) for _ in eeg],
        [_field(samples if e else ANNOT_BYTES // 2, 8) for e in eeg],
        [_field("", 32) for _ in eeg],
    ]
    return h + b"".join(b"".join(c) for c in cols)


def _annotation_block(onset_s: int, pending: list[tuple[float, float, str]]) -> bytes:
    """Time-keeping TAL + as many pending annotations as fit (consumed from ``pending``)."""
    block = f"+{onset_s}\x14\x14\x00".encode()
    while pending:
        on, dur, text = pending[0]
        tal = f"+{on:g}\x15{dur:g}\x14{text}\x14\x00".encode()
        if len(block) + len(tal) > ANNOT_BYTES:
            break
        block += tal
        pending.pop(0)
    return block.ljust(ANNOT_BYTES, b"\x00")


def write_edf(
    path: str | Path,
    data: np.ndarray | Iterable[np.ndarray],
    sfreq_hz: float,
    channel_names: list[str] | tuple[str, ...] = constants.EEG_CHANNELS,
    annotations: pd.DataFrame | None = None,
    *,
    n_times: int | None = None,
    start: dt.datetime | None = None,
) -> Path:
    """Write an EDF+ file (16-bit, ±PHYS_RANGE_UV µV), streaming chunk by chunk.

    Parameters
    ----------
    path : path
        Output .edf file (written atomically).
    data : ndarray (n_channels, n_times) or iterable of (n_channels, m) chunks, µV
        With an iterable, ``n_times`` (the total) is required.
    sfreq_hz : float
        Sampling rate, Hz (integer number of samples per second).
    channel_names : sequence of str
        Signal labels (plain 10-20 names + 'EKG' by default).
    annotations : DataFrame or None
        Columns start_s, end_s, pattern: written as EDF+ annotations (onset, duration, text).
    n_times : int, optional
        Total samples per channel (required when ``data`` is an iterable of chunks).
    start : datetime, optional
        Recording start written in the header (default 2000-01-01 00:00:00).
    """
    if isinstance(data, np.ndarray):
        n_times, chunks = data.shape[1], [data]
    elif n_times is None:
        raise ValueError("n_times is required when data is an iterable of chunks")
    else:
        chunks = data
    samples = round(sfreq_hz * EDF_RECORD_S)
    if abs(samples - sfreq_hz * EDF_RECORD_S) > 1e-9:
        raise ValueError(bad_value("sfreq_hz", "a whole number of samples per second", sfreq_hz))
    n_records = int(np.ceil(n_times / samples))
    pending = [] if annotations is None else [
        (float(a.start_s), float(a.end_s - a.start_s), str(a.pattern)) for a in annotations.itertuples()
    ]  # fmt: skip
    # the EDF mapping of the header: physical -PHYS..+PHYS <-> digital -32768..32767
    scale = 65535 / (2 * PHYS_RANGE_UV)
    start = start or dt.datetime(2000, 1, 1)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(_edf_header(list(channel_names), n_records, samples, start))
        buf, record = np.zeros((len(channel_names), 0), np.float32), 0
        for chunk in itertools.chain(chunks, [None]):  # lazily: bounded memory
            if chunk is not None:
                buf = np.concatenate([buf, np.asarray(chunk, np.float32)], axis=1)
            n_full = buf.shape[1] // samples if chunk is not None else n_records - record
            if n_full <= 0:
                continue
            need = n_full * samples
            part = np.pad(buf[:, :need], ((0, 0), (0, max(0, need - buf.shape[1]))))
            buf = buf[:, need:]
            dig = np.round((np.nan_to_num(part) + PHYS_RANGE_UV) * scale - 32768)
            dig = np.clip(dig, -32768, 32767).astype("<i2")
            dig = dig.reshape(len(channel_names), n_full, samples).transpose(1, 0, 2)
            for r in range(n_full):
                fh.write(dig[r].tobytes())
                fh.write(_annotation_block(record, pending))
                record += 1
    return Path(path)


def episode_scores(table: pd.DataFrame, episodes: pd.DataFrame) -> dict:
    """How well an analysis of a synthetic recording finds its inserted episodes (one rule for
    ``iiic demo``, ``benchmarks/episodes.py`` and the clinical end-to-end test).

    A window (``table``: the timeline, ``center_s`` and ``top_class`` per window) belongs to an
    episode (``episodes``: start_s, end_s, pattern) when its labelled centre
    (``constants.LABEL_WINDOW_S``, the 10 s experts vote on) lies wholly inside it; it is
    background when its whole 50-s EEG window overlaps no episode; windows at an episode's edges
    count in neither. Returns the share of windows whose top class is right — per pattern, over
    all episode windows and over the background (None where there are no windows) — and counts.
    """
    centre, half, full = table["center_s"], constants.LABEL_WINDOW_S / 2, constants.EEG_WINDOW_S / 2
    truth = pd.Series(None, index=table.index, dtype=object)
    near = pd.Series(False, index=table.index)
    for ep in episodes.itertuples():
        near |= (centre + full > ep.start_s) & (centre - full < ep.end_s)
        truth[(centre - half >= ep.start_s) & (centre + half <= ep.end_s)] = ep.pattern
    truth[~near] = "other"
    labels = {c: constants.CLASS_LABELS[i] for i, c in enumerate(constants.CLASSES)}
    right = table["top_class"] == truth.map(labels)

    def share(mask: pd.Series) -> float | None:
        return float(right[mask].mean()) if mask.any() else None

    in_episode = truth.notna() & (truth != "other")
    per_pattern = {
        str(p): {"windows": int((truth == p).sum()), "top_class_right": share(truth == p),
                 "mean_probabilities": table.loc[truth == p, list(constants.CLASSES)]
                 .mean().round(3).to_dict()}
        for p in episodes["pattern"].unique()
    }  # fmt: skip
    return {"per_pattern": per_pattern, "in_episodes": share(in_episode),
            "background": share(truth == "other"), "n_in_episodes": int(in_episode.sum()),
            "n_background": int((truth == "other").sum())}  # fmt: skip


def episodes_path(edf_path: str | Path) -> Path:
    """The CSV of inserted episodes written next to a synthetic EDF (``X.edf`` -> ``X.episodes.csv``)."""
    return Path(edf_path).with_suffix(".episodes.csv")


def write_recording(
    path: str | Path,
    hours: float,
    *,
    seed: int = 0,
    episodes: pd.DataFrame | None = None,
    progress: bool = False,
) -> tuple[Path, pd.DataFrame]:
    """Synthesise ``hours`` of recording and write it as EDF+ with an episodes CSV next to it.

    Memory stays bounded (chunks of ``CHUNK_S``). Returns the EDF path and the episodes.
    """
    from tqdm import tqdm

    _check_hours(hours)
    path = Path(path)
    episodes = default_episodes(hours, seed) if episodes is None else episodes
    n_times = round(hours * 3600 * SFREQ)
    bar = tqdm(total=round(hours * 60), unit="min", disable=not progress, desc="recording")

    def chunks() -> Iterator[np.ndarray]:
        for x in iter_recording(hours, seed=seed, episodes=episodes):
            bar.update(round(x.shape[1] / SFREQ / 60))
            yield x

    write_edf(path, chunks(), SFREQ, constants.EEG_CHANNELS, episodes, n_times=n_times)
    bar.close()
    with atomic_path(episodes_path(path)) as tmp:
        episodes.to_csv(tmp, index=False)
    return path, episodes
