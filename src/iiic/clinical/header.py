"""Parse and check the fixed-size header of an EDF/EDF+/BDF file before MNE opens it.

MNE trusts the header; a truncated file or a file that is not an EDF at all gives confusing
errors deep inside it. :func:`read_header` reads the 256 + 256 × ns header bytes, checks that
they parse and that the file holds as many data records as announced, and keeps what the
analysis needs: labels, sampling rates, physical ranges (for the saturation flag), duration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from iiic.constants import EEG_CHANNELS

MIN_SFREQ_HZ = 100.0
"""Lowest sampling rate accepted, Hz (the models see 0.5-20 Hz patterns at 200 Hz)."""
ANNOTATION_LABELS = ("EDF Annotations", "BDF Annotations")
"""Labels of EDF+/BDF+ annotation-only signals (not EEG; MNE turns them into annotations)."""
BDF_MAGIC = b"\xffBIOSEMI"
FIXED_HEADER_BYTES = 256
SIGNAL_HEADER_BYTES = 256
UNIT_TO_UV = {"UV": 1.0, "µV": 1.0, "MV": 1e3, "V": 1e6, "NV": 1e-3}
"""Physical dimension (upper case) → factor to µV."""

# per-signal fields: (name, width in bytes), in header order
_SIGNAL_FIELDS = (
    ("label", 16), ("transducer", 80), ("dimension", 8), ("physical_min", 8),
    ("physical_max", 8), ("digital_min", 8), ("digital_max", 8), ("prefilter", 80),
    ("samples_per_record", 8), ("reserved", 32),
)  # fmt: skip


class RecordingError(ValueError):
    """A recording cannot be analysed; the message starts with the file."""


@dataclass(frozen=True)
class EdfHeader:
    """What the analysis needs from an EDF/BDF header (signal lists in file order)."""

    path: Path
    is_bdf: bool
    n_records: int
    record_s: float
    labels: tuple[str, ...]
    dimensions: tuple[str, ...]
    physical_min: tuple[float, ...]
    physical_max: tuple[float, ...]
    samples_per_record: tuple[int, ...]
    discontinuous: bool = False
    """EDF+D / BDF+D: data records may be separated by gaps (their onsets: :func:`record_onsets`)."""
    header_bytes: int = 0

    @property
    def duration_s(self) -> float:
        """Recording length, s."""
        return self.n_records * self.record_s

    def sfreq_hz(self, index: int) -> float:
        """Sampling rate of signal ``index``, Hz."""
        return self.samples_per_record[index] / self.record_s

    def index_of(self, label: str) -> int | None:
        """Index of the first signal whose stripped label is ``label`` (MNE's channel name)."""
        for i, name in enumerate(self.labels):
            if name == label:
                return i
        return None

    def rails_uv_for(self, names: list[str], chosen: dict[str, int]) -> np.ndarray | None:
        """Physical (min, max) in µV of each target channel, shape (20, 2); NaN where unknown."""
        rails = np.full((len(EEG_CHANNELS), 2), np.nan)
        for target, pick in chosen.items():
            i = self.index_of(names[pick])
            factor = UNIT_TO_UV.get(self.dimensions[i].upper()) if i is not None else None
            if i is not None and factor is not None:
                rails[EEG_CHANNELS.index(target)] = (
                    self.physical_min[i] * factor,
                    self.physical_max[i] * factor,
                )
        return rails


def _field(raw: bytes, start: int, width: int) -> str:
    return raw[start : start + width].decode("latin1").strip()


def _number(path: Path, text: str, what: str, kind: type) -> float | int:
    try:
        return kind(float(text)) if kind is int else float(text)
    except ValueError:
        raise RecordingError(f"{path}: corrupt header: {what} is {text!r}, not a number") from None


def _signal_fields(raw: bytes, ns: int) -> dict[str, list[str]]:
    fields, offset = {}, FIXED_HEADER_BYTES
    for name, width in _SIGNAL_FIELDS:
        fields[name] = [_field(raw, offset + k * width, width) for k in range(ns)]
        offset += width * ns
    return fields


def read_header(path: str | Path) -> EdfHeader:
    """Read and check the header of an EDF/EDF+/BDF file.

    Raises
    ------
    RecordingError
        The file is missing, is not an EDF/BDF, has a corrupt or truncated header, holds fewer
        data records than announced, or has no signal sampled at ``MIN_SFREQ_HZ`` or more.
    """
    path = Path(path)
    if not path.is_file():
        raise RecordingError(f"{path}: no such file")
    size = path.stat().st_size
    with path.open("rb") as f:
        fixed = f.read(FIXED_HEADER_BYTES)
        is_bdf = fixed[:8] == BDF_MAGIC
        if len(fixed) < FIXED_HEADER_BYTES or not (is_bdf or fixed[:8] == b"0       "):
            raise RecordingError(f"{path}: not an EDF/EDF+/BDF file (no EDF header)")
        ns = _number(path, _field(fixed, 252, 4), "the number of signals", int)
        raw = fixed + f.read(SIGNAL_HEADER_BYTES * ns)
    if ns <= 0 or len(raw) < FIXED_HEADER_BYTES + SIGNAL_HEADER_BYTES * ns:
        raise RecordingError(f"{path}: truncated header ({len(raw)} bytes for {ns} signals)")
    n_records = _number(path, _field(fixed, 236, 8), "the number of data records", int)
    record_s = _number(path, _field(fixed, 244, 8), "the data record duration", float)
    fields = _signal_fields(raw, ns)
    spr = [_number(path, v, "samples per record", int) for v in fields["samples_per_record"]]
    record_bytes = sum(spr) * (3 if is_bdf else 2)
    data_bytes = size - len(raw)
    if record_s <= 0 or record_bytes <= 0:
        raise RecordingError(
            f"{path}: corrupt header: record duration {record_s} s, {sum(spr)} samples"
        )
    if n_records < 0:  # -1: unknown (recording not closed); count the complete records
        n_records = data_bytes // record_bytes
    elif data_bytes < n_records * record_bytes:
        raise RecordingError(
            f"{path}: truncated file: the header announces {n_records} data records "
            f"({n_records * record_s:g} s) but only {data_bytes // record_bytes} are complete "
            f"({size} bytes, expected {len(raw) + n_records * record_bytes})"
        )
    header = EdfHeader(
        path=path,
        is_bdf=is_bdf,
        n_records=int(n_records),
        record_s=float(record_s),
        labels=tuple(fields["label"]),
        dimensions=tuple(fields["dimension"]),
        physical_min=tuple(
            _number(path, v, "physical minimum", float) for v in fields["physical_min"]
        ),
        physical_max=tuple(
            _number(path, v, "physical maximum", float) for v in fields["physical_max"]
        ),
        samples_per_record=tuple(int(v) for v in spr),
        discontinuous=_field(fixed, 192, 44).upper().startswith(("EDF+D", "BDF+D")),
        header_bytes=len(raw),
    )
    rates = [
        header.sfreq_hz(i) for i, lab in enumerate(header.labels) if lab not in ANNOTATION_LABELS
    ]
    if not rates:
        raise RecordingError(f"{path}: the file holds only annotations, no signals")
    if max(rates) < MIN_SFREQ_HZ:
        raise RecordingError(
            f"{path}: sampling rate {max(rates):g} Hz is below the {MIN_SFREQ_HZ:g} Hz iiic needs"
        )
    return header


_TAL_ONSET = re.compile(rb"^([+-]\d+(?:\.\d*)?)\x14\x14")
"""The time-keeping annotation that opens each data record of an EDF+/BDF+ file: '+onset' s."""


def record_onsets(header: EdfHeader) -> np.ndarray:
    """Onset of each data record, s from the file's start time (EDF+ time-keeping annotations),
    shape (n_records,).

    Raises RecordingError naming the file when there is no annotation signal, a record lacks its
    time-keeping annotation, or the records are not in time order.
    """
    index = next((i for i, lab in enumerate(header.labels) if lab in ANNOTATION_LABELS), None)
    if index is None:
        raise RecordingError(f"{header.path}: EDF+D file without an annotation signal (the "
                             "record times are unknown)")  # fmt: skip
    width = 3 if header.is_bdf else 2
    record_bytes = sum(header.samples_per_record) * width
    skip = sum(header.samples_per_record[:index]) * width
    size = header.samples_per_record[index] * width
    onsets = np.empty(header.n_records)
    with header.path.open("rb") as f:
        for r in range(header.n_records):
            f.seek(header.header_bytes + r * record_bytes + skip)
            match = _TAL_ONSET.match(f.read(size))
            if match is None:
                raise RecordingError(f"{header.path}: data record {r} has no time-keeping "
                                     "annotation (corrupt EDF+D file)")  # fmt: skip
            onsets[r] = float(match.group(1))
    if (np.diff(onsets) < header.record_s - GAP_TOLERANCE_S).any():
        r = int(np.flatnonzero(np.diff(onsets) < header.record_s - GAP_TOLERANCE_S)[0]) + 1
        raise RecordingError(f"{header.path}: data record {r} starts at {onsets[r]:g} s, before "
                             f"the end of the record before it (corrupt EDF+D file)")  # fmt: skip
    return onsets


GAP_TOLERANCE_S = 1e-3
"""Record onsets closer than this to the end of the record before them are contiguous, s."""
