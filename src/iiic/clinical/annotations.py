"""Events and the timeline as annotations that EEG viewers show on the raw recording.

Two annotation sets, times in seconds from the recording's first sample:

- **events** (:func:`event_annotations`): one annotation per event of
  :func:`iiic.clinical.summary.all_events` — onset = event start, its duration, description
  ``"IIIC Seizure (max 0.93)"``;
- **timeline** (:func:`timeline_annotations`): one per window — the ``stride_s`` seconds around
  its centre (with the default 10-s stride, the labelled 10-s centres, which tile the recording),
  description ``"iiic LPD 0.71"`` (top class and its probability) plus ``" flags: nan,artifact"``
  when the window has quality flags.

:func:`write_annotation_files` writes each set as an EDF+ file holding only an annotation signal
(``<name>.edf``, with the recording's start date and time, so EDFbrowser-like viewers can import
it onto the recording; an EDF+ file cannot be empty, so a set without entries is written as one
zero-length annotation :data:`NOTHING` at 0 s) and as MNE ``Annotations`` (``<name>-annot.fif`` and ``<name>-annot.csv``,
read by :func:`mne.read_annotations`; their ``orig_time`` is the recording start, so
``raw.set_annotations(mne.read_annotations(...))`` places them on the raw file).
:func:`write_annotated_copy` writes a copy of the EDF/BDF recording with both sets added to its
annotation channel (EDF+/BDF+; the file's own annotations are kept). Every file is written
atomically.
"""

from __future__ import annotations

import logging
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from iiic.clinical.timeline import Timeline
from iiic.clinical.windows import FLAG_NAMES
from iiic.utils import atomic_path

log = logging.getLogger(__name__)

EVENT_PREFIX = "IIIC"
"""First word of an event annotation (``"IIIC Seizure (max 0.93)"``)."""
TIMELINE_PREFIX = "iiic"
"""First word of a timeline annotation (``"iiic LPD 0.71"``)."""
NOTHING = f"{EVENT_PREFIX} none"
"""The only annotation of an EDF+ file written for an empty set (no events)."""


def _orig_time(start: datetime | None) -> datetime | None:
    """MNE wants an aware datetime; EDF clock times are stored as UTC by MNE's EDF reader too."""
    return None if start is None else start.replace(tzinfo=timezone.utc)


def event_annotations(events: pd.DataFrame, start: datetime | None = None):
    """One ``mne.Annotations`` entry per event (columns of :func:`~iiic.clinical.summary.find_events`)."""
    import mne

    desc = [f"{EVENT_PREFIX} {p} (max {m:.2f})" for p, m in zip(events["pattern"], events["max_prob"], strict=True)]  # fmt: skip
    return mne.Annotations(events["start_s"].to_numpy(float), events["duration_s"].to_numpy(float),
                           desc, orig_time=_orig_time(start))  # fmt: skip


def timeline_annotations(timeline: Timeline):
    """One ``mne.Annotations`` entry per window: top class, its probability, quality flags."""
    import mne

    table = timeline.table
    flagged = np.stack([table[f"flag_{n}"].to_numpy(bool) for n in FLAG_NAMES], axis=1)
    desc = []
    for top, p, flags in zip(table["top_class"], table["top_prob"], flagged, strict=True):
        names = [n for n, f in zip(FLAG_NAMES, flags, strict=True) if f]
        desc.append(
            f"{TIMELINE_PREFIX} {top} {p:.2f}" + (f" flags: {','.join(names)}" if names else "")
        )
    half = timeline.stride_s / 2
    onset = np.maximum(table["center_s"].to_numpy(float) - half, 0.0)
    end = np.minimum(table["center_s"].to_numpy(float) + half, timeline.duration_s)
    return mne.Annotations(onset, end - onset, desc, orig_time=_orig_time(timeline.start))


def _edf_annotations(annotations) -> list:
    import edfio

    return [edfio.EdfAnnotation(float(o), float(d), str(t))
            for o, d, t in zip(annotations.onset, annotations.duration, annotations.description,
                               strict=True)]  # fmt: skip


def write_edf_annotations(annotations, path: str | Path, start: datetime | None) -> Path:
    """An EDF+ file with only an annotation signal, starting at ``start`` (atomic)."""
    import edfio

    kwargs = {}
    if start is not None:
        kwargs = {"starttime": start.time().replace(microsecond=0),
                  "recording": edfio.Recording(startdate=start.date())}  # fmt: skip
    entries = _edf_annotations(annotations) or [edfio.EdfAnnotation(0.0, 0.0, NOTHING)]
    edf = edfio.Edf([], annotations=entries, **kwargs)
    with atomic_path(path) as tmp:
        edf.write(tmp)
    return Path(path)


def _save_mne(annotations, path: Path) -> Path:
    """``Annotations.save`` needs the final file name (``-annot.fif`` / ``.csv``): save in a
    temporary folder beside ``path``, then rename."""
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.") as tmp_dir:
        tmp = Path(tmp_dir) / path.name
        annotations.save(tmp, overwrite=True, verbose="error")
        os.replace(tmp, path)
    return path


def annotation_sets(timeline: Timeline, events: pd.DataFrame) -> dict:
    """``{"events": Annotations, "timeline": Annotations}`` of an analysis."""
    return {"events": event_annotations(events, timeline.start),
            "timeline": timeline_annotations(timeline)}  # fmt: skip


def write_annotation_files(
    sets: dict, out_dir: str | Path, start: datetime | None
) -> dict[str, Path]:
    """Write each annotation set as ``<set>.edf``, ``<set>-annot.fif`` and ``<set>-annot.csv``.

    Parameters
    ----------
    sets : name → ``mne.Annotations`` (:func:`annotation_sets`)
    out_dir : folder (created)
    start : the recording's start (EDF+ header of the ``.edf`` files), or None

    Returns
    -------
    dict ``"<set>_edf"`` / ``"<set>_fif"`` / ``"<set>_csv"`` → path
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, ann in sets.items():
        files[f"{name}_edf"] = write_edf_annotations(ann, out_dir / f"{name}.edf", start)
        files[f"{name}_fif"] = _save_mne(ann, out_dir / f"{name}-annot.fif")
        files[f"{name}_csv"] = _save_mne(ann, out_dir / f"{name}-annot.csv")
    return files


def write_annotated_copy(source: str | Path, annotation_sets: list, path: str | Path) -> Path:
    """A copy of the EDF/BDF file ``source`` with ``annotation_sets`` added to its annotations.

    The signals and the header's patient/recording fields are copied; the file becomes EDF+
    (BDF+) with an annotation channel holding its own annotations followed by the new ones.
    Reads the whole file into memory (about its size on disk).
    """
    import edfio

    source = Path(source)
    is_bdf = source.suffix.lower() == ".bdf"
    edf = (edfio.read_bdf if is_bdf else edfio.read_edf)(source)
    new = [a for ann in annotation_sets for a in _edf_annotations(ann)]
    try:
        ids = {"patient": edf.patient, "recording": edf.recording}
    except ValueError:  # identification fields not in EDF+ form: keep only the start date
        ids = {"recording": edfio.Recording(startdate=edf.startdate)}
    cls = edfio.Bdf if is_bdf else edfio.Edf
    copy = cls(list(edf.signals), starttime=edf.starttime, data_record_duration=edf.data_record_duration,
               annotations=[*edf.annotations, *new], **ids)  # fmt: skip
    with atomic_path(path) as tmp:
        copy.write(tmp)
    log.info("wrote %s: %s with %d annotations added", path, source.name, len(new))
    return Path(path)
