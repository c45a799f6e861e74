"""Analyse one recording end to end and write every output into one folder.

``OUT_DIR/timeline.parquet`` and ``timeline.csv`` (one row per window), ``summary.json`` (summary
numbers, events, settings, channel mapping), ``events.csv``, ``annotations/`` (events and timeline
as EDF+ and MNE annotation files, :mod:`iiic.clinical.annotations`; with ``annotated_copy`` also
``<recording>.annotated.edf``), ``figures/iiicgram.png``, ``figures/page_*.png`` and the
self-contained ``report.html``. All files are written atomically; page images of an earlier
analysis in the same folder are removed (the folder's pages are always this recording's).
Used by ``iiic analyze`` and ``benchmarks/analyze.py``; the stage timings are returned.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from iiic.clinical.edf import Recording, read_recording
from iiic.clinical.scoring import Scorer
from iiic.clinical.timeline import Timeline, analyze_recording
from iiic.clinical.windows import QualityConfig
from iiic.constants import (
    ANALYZE_BATCH_SIZE,
    ANALYZE_STRIDE_S,
    ANALYZE_THRESHOLD,
    CLASS_LABELS,
    CLASSES,
)
from iiic.predict.card import NO_CHECK
from iiic.utils import atomic_path, timed, write_json_atomic

log = logging.getLogger(__name__)


class AnalyzeConfig(BaseModel):
    """Settings of ``iiic analyze`` (written into summary.json and the report)."""

    model_config = ConfigDict(extra="forbid")
    stride_s: float = Field(ANALYZE_STRIDE_S, gt=0, description="distance between window starts, s")
    threshold: float = Field(
        ANALYZE_THRESHOLD, gt=0, le=1, description="probability for a window to count"
    )
    allow_missing: int = Field(0, ge=0, le=4, description="electrodes that may be interpolated")
    max_pages: int = Field(2, ge=0, description="EEG pages per pattern")
    batch_size: int = Field(ANALYZE_BATCH_SIZE, ge=1, description="windows per model call")
    fft_workers: int = Field(1, ge=1, description="FFT threads (spectrogram, continuous path)")
    annotated_copy: bool = Field(
        False, description="also write a copy of the EDF/BDF with the annotations added"
    )
    review_eeg_min: float = Field(
        30.0, ge=0, description="minutes of EEG embedded in the report's review (2.4 kB/s)"
    )
    quality: QualityConfig = Field(default_factory=QualityConfig)


@dataclass
class AnalysisResult:
    """What :func:`analyze_file` produced: the timeline, summary, files and stage timings (s)."""

    timeline: Timeline
    summary: dict[str, Any]
    files: dict[str, Path]
    timings_s: dict[str, float] = field(default_factory=dict)


def _write_tables(timeline: Timeline, events, out_dir: Path) -> dict[str, Path]:
    files = {
        "timeline_parquet": out_dir / "timeline.parquet",
        "timeline_csv": out_dir / "timeline.csv",
        "events_csv": out_dir / "events.csv",
    }
    with atomic_path(files["timeline_parquet"]) as tmp:
        timeline.table.to_parquet(tmp, index=False)
    with atomic_path(files["timeline_csv"]) as tmp:
        timeline.table.to_csv(tmp, index=False, float_format="%.4f")
    with atomic_path(files["events_csv"]) as tmp:
        events.to_csv(tmp, index=False, float_format="%.4f")
    return files


def _write_annotations(recording: Recording, timeline: Timeline, events, cfg: AnalyzeConfig,
                       out_dir: Path) -> dict[str, Path]:  # fmt: skip
    from iiic.clinical.annotations import (
        annotation_sets,
        write_annotated_copy,
        write_annotation_files,
    )

    sets = annotation_sets(timeline, events)
    files = write_annotation_files(sets, out_dir / "annotations", recording.start)
    if cfg.annotated_copy:
        if recording.source is None:
            raise ValueError("annotated_copy: the recording was not read from a file")
        suffix = recording.source.suffix.lower()
        path = out_dir / f"{recording.source.stem}.annotated{suffix}"
        files["annotated_copy"] = write_annotated_copy(recording.source, list(sets.values()), path)
    return files


def _figures(recording: Recording, timeline: Timeline, cfg: AnalyzeConfig, out_dir: Path):
    from iiic.clinical.figures import plot_eeg_page, plot_iiicgram, top_windows

    fig_dir = out_dir / "figures"
    gram = plot_iiicgram(timeline, fig_dir / "iiicgram.png", title=f"IIIC-gram: {recording.name}")
    pages = []
    for rank, (name, w, p) in enumerate(top_windows(timeline, cfg.threshold, cfg.max_pages)):
        row = timeline.table.iloc[w]
        label = CLASS_LABELS[CLASSES.index(name)]
        below = "" if p >= cfg.threshold else " (below threshold: best window of any pattern)"
        when = row["center_time"] if recording.start else f"{row['center_s']:.0f} s"
        caption = f"{label}  P = {p:.2f}{below} — window {w}, centre {when}"
        path = fig_dir / f"page_{rank:02d}_{name}.png"
        start = round(row["start_s"] * recording.sfreq_hz)
        pages.append((caption, plot_eeg_page(recording, start, path, title=caption)))
    written = {p for _, p in pages}
    for stale in fig_dir.glob("page_*.png"):  # pages of an earlier analysis in this folder
        if stale not in written:
            stale.unlink()
    return gram, pages


def analyze_file(
    path: str | Path | Recording,
    scorer: Scorer,
    out_dir: str | Path,
    *,
    config: AnalyzeConfig | None = None,
) -> AnalysisResult:
    """Read (or take) a recording, score it window by window, write tables, figures and report.

    Parameters
    ----------
    path : EDF/EDF+/BDF file, or an already read :class:`Recording`
    scorer : how the windows are scored (:mod:`iiic.clinical.scoring`: ``load_scorer(spec)``
        for trained runs, ``WindowScorer(fn)`` for a plain window function); its ``info``
        describes the model in summary.json and the report
    out_dir : output folder (created)
    config : analysis settings
    """
    from iiic.clinical.report import write_report
    from iiic.clinical.review import review_data
    from iiic.clinical.summary import all_events, summarize
    from iiic.clinical.timeline import display_spectrogram, recording_spectrogram

    cfg = config or AnalyzeConfig()
    out_dir = Path(out_dir)
    timings: dict[str, float] = {}
    with timed(timings, "read_resample_s"):
        recording = (
            path
            if isinstance(path, Recording)
            else read_recording(path, allow_missing=cfg.allow_missing)
        )
    with timed(timings, "spectrogram_s"):
        display = display_spectrogram(recording, workers=cfg.fft_workers)
        spectrogram = recording_spectrogram(recording) if scorer.needs_spec else None
    timeline = analyze_recording(
        recording, scorer, stride_s=cfg.stride_s, batch_size=cfg.batch_size,
        quality=cfg.quality, spectrogram=spectrogram, display=display, timings=timings,
    )  # fmt: skip
    with timed(timings, "tables_s"):
        summary = summarize(timeline, cfg.threshold)
        events = all_events(timeline, cfg.threshold)
        settings = {"recording": str(recording.source or recording.name), **scorer.info}
        settings |= cfg.model_dump(exclude={"quality"}) | {
            f"quality.{k}": v for k, v in cfg.quality.model_dump().items()
        }
        mapping = [asdict(m) for m in recording.mapping]
        notes = _notes(recording, summary)
        document = {
            "model": settings.get("model", NO_CHECK),
            **summary,
            "events": events.to_dict("records"),
            "settings": settings,
            "channel_mapping": mapping,
            "interpolated_channels": recording.interpolated,
            "ignored_channels": recording.ignored,
            "original_sfreq_hz": recording.original_sfreq_hz,
            "gaps_s": [list(g) for g in recording.gaps],
            "notes": notes,
        }
        files = _write_tables(timeline, events, out_dir)
        files |= _write_annotations(recording, timeline, events, cfg, out_dir)
        files["summary_json"] = write_json_atomic(out_dir / "summary.json", document)
    with timed(timings, "figures_report_s"):
        gram, pages = _figures(recording, timeline, cfg, out_dir)
        budget_s = 60 * cfg.review_eeg_min
        review = review_data(recording, timeline, cfg.threshold, eeg_budget_s=budget_s)
        links = [(p.relative_to(out_dir).as_posix(), p.relative_to(out_dir).as_posix())
                 for p in files.values()]  # fmt: skip
        files["report_html"] = write_report(
            out_dir / "report.html", title=f"iiic analysis: {recording.name}", summary=summary,
            model_line=document["model"],
            events=events, settings=settings, mapping=mapping, notes=notes, iiicgram=gram,
            pages=pages, annotations=recording.annotations, review=review, links=links,
        )  # fmt: skip
        files["iiicgram_png"] = gram
    log.info("analysed %s: %d windows; timings %s", recording.name, len(timeline.table), timings)
    return AnalysisResult(timeline, document, files, timings)


def _notes(recording: Recording, summary: dict[str, Any]) -> list[str]:
    notes = [
        f"{recording.name}: {recording.duration_s:.1f} s at {recording.original_sfreq_hz:g} Hz, "
        f"resampled to {recording.sfreq_hz:g} Hz; {summary['n_windows']} windows"
    ]
    notes += recording.notes
    if recording.interpolated:
        notes.append(f"interpolated electrodes: {', '.join(recording.interpolated)}")
    if recording.ignored:
        notes.append(f"channels not used: {', '.join(recording.ignored)}")
    return notes
