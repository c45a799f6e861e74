"""Read a clinical EDF/EDF+/BDF recording into the 20 channels of ``constants.EEG_CHANNELS`` at 200 Hz.

:func:`read_recording` checks the header itself first (not an EDF, truncated file, too low a
sampling rate, too short), opens the file with MNE without loading it (``preload=False``), maps
the channel names (:mod:`iiic.clinical.channels`), and reads + resamples in blocks of
:data:`BLOCK_S` seconds with :data:`PAD_S` seconds of overlap on each side, so that only the
200-Hz result (20 × n float32, ~1.4 GB for 24 h) is held in memory, never the raw file.
Annotation channels ('EDF Annotations') become ``Recording.annotations``; other unmapped
channels (A1, ROC, PHOTIC, ...) are ignored and listed in ``Recording.ignored``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import resample_poly

from iiic.clinical import channels as ch
from iiic.clinical.header import (
    GAP_TOLERANCE_S,
    EdfHeader,
    RecordingError,
    read_header,
    record_onsets,
)
from iiic.constants import EEG_CHANNELS, EEG_WINDOW_S, SFREQ_HZ
from iiic.utils import bad_value

log = logging.getLogger(__name__)

__all__ = ["Recording", "RecordingError", "read_recording", "resample_blocks"]

BLOCK_S = 600.0
"""Length of one read/resample block, s (10 min)."""
PAD_S = 5.0
"""Overlap read on each side of a block so the resampling filter has no edge effect, s."""
VOLT_TO_UV = 1e6
"""MNE returns volts; iiic works in µV."""
MAX_RATIO_DENOMINATOR = 1000
"""Largest up/down factor of the rational resampling ratio (200 / sfreq)."""


@dataclass
class Recording:
    """A whole recording in the 20 channels of ``constants.EEG_CHANNELS``.

    Attributes
    ----------
    data : ndarray, shape (20, n_times), float32, µV, at ``sfreq_hz`` (= ``constants.SFREQ_HZ``)
    sfreq_hz : sampling rate of ``data``, Hz
    original_sfreq_hz : sampling rate of the file, Hz
    start : clock time of the first sample (from the EDF header) or None
    source : the file, or None for an in-memory recording
    mapping : one ChannelMatch per target channel (source label and how it matched)
    interpolated : electrodes filled from their neighbours (``allow_missing``)
    rails_uv : shape (20, 2) physical min/max of each channel, µV (saturation check), or None
    annotations : DataFrame[onset_s, duration_s, description]
    ignored : labels of the file that were not used
    notes : human-readable remarks (EKG absent, interpolation, ...)
    gaps : (start, end) s of each stretch without data (EDF+D); ``data`` is NaN there
    """

    data: np.ndarray
    sfreq_hz: float = SFREQ_HZ
    original_sfreq_hz: float = SFREQ_HZ
    start: datetime | None = None
    source: Path | None = None
    mapping: list[ch.ChannelMatch] = field(default_factory=list)
    interpolated: list[str] = field(default_factory=list)
    rails_uv: np.ndarray | None = None
    annotations: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["onset_s", "duration_s", "description"])
    )
    ignored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    gaps: list[tuple[float, float]] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        """Length of the recording, s."""
        return self.data.shape[1] / self.sfreq_hz

    @property
    def name(self) -> str:
        """The file name, or 'in-memory recording'."""
        return self.source.name if self.source else "in-memory recording"

    @classmethod
    def from_array(
        cls, data: np.ndarray, sfreq_hz: float, *, start: datetime | None = None
    ) -> Recording:
        """Wrap a referential array (20, n_times) µV in ``EEG_CHANNELS`` order; resample to 200 Hz."""
        data = np.asarray(data)
        if data.ndim != 2 or data.shape[0] != len(EEG_CHANNELS):
            raise ValueError(bad_value("data", "shape (20, n_times)", data.shape))
        _check_length("in-memory recording", data.shape[1] / sfreq_hz)
        out = resample_blocks(lambda a, b: data[:, a:b].astype(np.float64), data.shape[1], sfreq_hz)
        mapping = [ch.ChannelMatch(t, t, "exact") for t in EEG_CHANNELS]
        return cls(data=out, original_sfreq_hz=sfreq_hz, start=start, mapping=mapping)


def _check_length(name: str, duration_s: float) -> None:
    if duration_s < EEG_WINDOW_S:
        raise RecordingError(
            f"{name}: recording is {duration_s:.1f} s long; iiic needs at least "
            f"{EEG_WINDOW_S:g} s (one analysis window)"
        )


def resample_ratio(sfreq_hz: float) -> tuple[int, int]:
    """(up, down) with ``sfreq_hz * up / down ≈ constants.SFREQ_HZ``."""
    ratio = (Fraction(SFREQ_HZ) / Fraction(sfreq_hz)).limit_denominator(MAX_RATIO_DENOMINATOR)
    return ratio.numerator, ratio.denominator


def resample_blocks(
    read_block: Callable[[int, int], np.ndarray], n_in: int, sfreq_hz: float
) -> np.ndarray:
    """Resample a long signal to ``SFREQ_HZ`` block by block (polyphase, overlapping blocks).

    Parameters
    ----------
    read_block : callable (start, stop) → ndarray (n_channels, stop - start), float64
        Reads input samples ``start:stop``.
    n_in : number of input samples
    sfreq_hz : input sampling rate, Hz

    Returns
    -------
    ndarray, shape (n_channels, floor(n_in * up / down)), float32; NaN samples are kept at
    200 Hz input and read as 0 when resampling.
    """
    up, down = resample_ratio(sfreq_hz)
    same_rate = (up, down) == (1, 1)
    block = math.ceil(BLOCK_S * sfreq_hz / down) * down
    pad = 0 if same_rate else math.ceil(PAD_S * sfreq_hz / down) * down
    n_out = n_in * up // down
    n_channels = read_block(0, 1).shape[0]
    out = np.empty((n_channels, n_out), dtype=np.float32)
    for start in range(0, n_in, block):
        stop = min(n_in, start + block)
        lo, hi = max(0, start - pad), min(n_in, stop + pad)
        chunk = read_block(lo, hi)
        if not same_rate:  # NaN would spread through the filter: resample zeros instead
            chunk = np.nan_to_num(chunk, nan=0.0) if np.isnan(chunk).any() else chunk
            chunk = resample_poly(chunk, up, down, axis=1, padtype="line")
        o_start, o_stop = start * up // down, min(n_out, stop * up // down)
        skip = (start - lo) * up // down
        out[:, o_start:o_stop] = chunk[:, skip : skip + o_stop - o_start]
    return out


def _open_raw(path: Path, header: EdfHeader):
    """Open with MNE (no preload); retry with latin1 when the header is not UTF-8."""
    import mne

    reader = mne.io.read_raw_bdf if header.is_bdf else mne.io.read_raw_edf
    try:
        return reader(path, preload=False, verbose="error")
    except UnicodeDecodeError:
        log.info("%s: header is not UTF-8; reading with encoding='latin1'", path)
        return reader(path, preload=False, verbose="error", encoding="latin1")
    except (ValueError, RuntimeError, OSError) as err:
        raise RecordingError(f"{path}: MNE cannot read this file: {err}") from err


def _resolve_channels(
    path: Path, names: list[str], allow_missing: int
) -> tuple[dict[str, int], list[ch.ChannelMatch], list[str], list[str]]:
    chosen, matches = ch.map_channels(names)
    missing = ch.missing_electrodes(chosen)
    notes: list[str] = []
    if len(missing) > allow_missing:
        hint = " (the labels look bipolar; iiic needs a referential recording)"
        raise RecordingError(
            f"{path}: missing electrode(s) {missing}; found channels {names}"
            + (hint if ch.looks_bipolar(names) else "")
            + f"; allow_missing={allow_missing} (pass --allow-missing {len(missing)} to "
            "interpolate them from their neighbours)"
        )
    for name in missing:
        matches.append(ch.ChannelMatch(name, None, "interpolated"))
        notes.append(f"{name} is absent: interpolated as the mean of {ch.NEIGHBOURS[name]}")
    if "EKG" not in chosen:
        matches.append(ch.ChannelMatch("EKG", None, "zeros"))
        notes.append("no EKG/ECG channel: the EKG input is zeros")
    order = {name: i for i, name in enumerate(EEG_CHANNELS)}
    matches.sort(key=lambda m: order[m.target])
    return chosen, matches, missing, notes


def read_recording(path: str | Path, *, allow_missing: int = 0) -> Recording:
    """Read an EDF/EDF+/BDF file into a :class:`Recording` at ``constants.SFREQ_HZ``.

    Parameters
    ----------
    path : EDF (.edf), EDF+ or BDF (.bdf) file with a referential montage
    allow_missing : how many of the 19 electrodes may be absent and interpolated (default 0)

    Raises
    ------
    RecordingError
        Not an EDF/BDF, truncated, sampling rate below ``MIN_SFREQ_HZ``, shorter than one window,
        or missing electrodes beyond ``allow_missing``; the message starts with the path.
    """
    path = Path(path)
    header = read_header(path)
    _check_length(str(path), header.duration_s)
    raw = _open_raw(path, header)
    return recording_from_raw(raw, allow_missing=allow_missing, source=path, header=header)


def recording_from_raw(
    raw, *, allow_missing: int = 0, source: Path | None = None, header: EdfHeader | None = None
) -> Recording:
    """An ``mne.io.Raw`` (referential 10-20 channels, volts) as a :class:`Recording` at 200 Hz.

    Channel names are matched like an EDF's (``EEG Fp1-REF``, ``FP1``, T7 ≙ T3 ...), missing
    electrodes refused or interpolated (``allow_missing``), the data resampled block by block.
    ``header`` (an EDF's) gives the physical ranges for the saturation flag; without it (a Raw
    built in memory) no channel is checked for saturation. ``raw`` may be preloaded or not.

    Raises
    ------
    RecordingError
        Shorter than one window, or missing electrodes beyond ``allow_missing``; the message
        starts with the file (or ``mne.io.Raw``).
    """
    sfreq = float(raw.info["sfreq"])
    where = source or (Path(raw.filenames[0]) if raw.filenames and raw.filenames[0] else None)
    _check_length(str(where or "mne.io.Raw"), raw.n_times / sfreq)
    names = list(raw.ch_names)
    chosen, mapping, missing, notes = _resolve_channels(where or Path("mne.io.Raw"), names,
                                                        allow_missing)  # fmt: skip
    rows = [EEG_CHANNELS.index(t) for t in chosen]
    picks = [chosen[t] for t in chosen]
    weights = ch.interpolation_matrix(missing) if missing else None

    def read_block(a: int, b: int) -> np.ndarray:
        x = np.zeros((len(EEG_CHANNELS), b - a))
        x[rows] = raw.get_data(picks=picks, start=a, stop=b) * VOLT_TO_UV
        return weights @ x if weights is not None else x

    if header is not None and header.discontinuous:
        data, gaps = _place_records(read_block, raw.n_times, sfreq, header)
    else:
        data, gaps = resample_blocks(read_block, raw.n_times, sfreq), []
    if gaps:
        spans = ", ".join(f"{a:.1f}-{b:.1f} s" for a, b in gaps[:5])
        more = f" and {len(gaps) - 5} more" if len(gaps) > 5 else ""
        notes = [*notes, f"EDF+D: {len(gaps)} gap(s) without data ({spans}{more}, "
                 f"{sum(b - a for a, b in gaps):.1f} s in all); no window overlaps a gap"]  # fmt: skip
    rails = header.rails_uv_for(names, chosen) if header is not None else None
    first_s = raw.first_samp / sfreq  # a cropped Raw starts after its meas_date
    start = raw.info["meas_date"]
    ann = raw.annotations
    onset = np.asarray(ann.onset, dtype=float) - (first_s if ann.orig_time is not None else 0.0)
    return Recording(
        data=data,
        original_sfreq_hz=sfreq,
        start=(start + timedelta(seconds=first_s)).replace(tzinfo=None) if start else None,
        source=source,
        mapping=mapping,
        interpolated=missing,
        rails_uv=rails,
        annotations=pd.DataFrame(
            {
                "onset_s": onset,
                "duration_s": np.asarray(ann.duration, dtype=float),
                "description": [str(d) for d in ann.description],
            }
        ),
        ignored=[n for i, n in enumerate(names) if i not in set(picks)],
        notes=notes,
        gaps=gaps,
    )


def _place_records(read_block: Callable[[int, int], np.ndarray], n_in: int, sfreq_hz: float,
                   header: EdfHeader) -> tuple[np.ndarray, list[tuple[float, float]]]:  # fmt: skip
    """An EDF+D file's data on its true time axis: each run of contiguous records resampled on
    its own and placed at its onset; NaN in the gaps. Returns (data (20, n) µV at 200 Hz,
    gaps [(start, end) s])."""
    onsets = record_onsets(header)
    per_record = n_in // header.n_records  # MNE's samples per record (its highest rate)
    breaks = np.flatnonzero(np.diff(onsets) > header.record_s + GAP_TOLERANCE_S) + 1
    bounds = [0, *breaks.tolist(), header.n_records]
    n_out = round((onsets[-1] + header.record_s) * SFREQ_HZ)
    out = np.full((len(EEG_CHANNELS), n_out), np.nan, dtype=np.float32)
    gaps, end_s = [], 0.0
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        first = a * per_record
        part = resample_blocks(lambda i, j, first=first: read_block(first + i, first + j),
                               (b - a) * per_record, sfreq_hz)  # fmt: skip
        o = round(onsets[a] * SFREQ_HZ)
        out[:, o : o + part.shape[1]] = part[:, : n_out - o]
        if onsets[a] > end_s + GAP_TOLERANCE_S:
            gaps.append((end_s, float(onsets[a])))
        end_s = float(onsets[a]) + (b - a) * header.record_s
    return out, gaps
