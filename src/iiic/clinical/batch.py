"""Analyse many recordings in one call: files and folders, parallel workers, resumable.

``iiic analyze A.edf B.bdf archive/ --models RUN --out OUT --workers 2`` analyses every EDF/BDF
file given or found under the folders (recursively, sorted) into ``OUT/<name>/`` — exactly what
:func:`iiic.clinical.pipeline.analyze_file` writes for one recording — and then writes:

- ``OUT/recordings.csv``: one row per recording (see :data:`TABLE_COLUMNS`): status, hours,
  windows, windows with a quality flag, minutes per class at or above the threshold, events,
  seizure burden, or the error that stopped it;
- ``OUT/index.html``: the same table, each name linking to its ``report.html``.

Resumable: a recording is analysed into a hidden ``OUT/.<name>.partial-*`` folder that is
renamed to ``OUT/<name>`` only when complete (:func:`iiic.clinical.outdir.replacing`), so after a
kill the next run skips every complete folder whose settings (models, stride, threshold, ...)
match this run's and redoes the rest; leftover partial folders are removed.

Safe outputs (:mod:`iiic.clinical.outdir`): ``OUT`` must be new, empty or an earlier batch
output of iiic (its manifest ``.iiic-output.json``); a recording folder holding a file iiic did
not write is never replaced (that recording fails, naming the file); a second ``analyze`` into the
same ``OUT`` is refused while the first runs (lock file ``OUT/.analyze.lock``). Folders iiic wrote
(they carry a manifest: ``OUT`` itself when it lies inside an input folder) and annotated copies
are never taken as inputs. A broken symbolic link named ``*.edf`` is listed as failed.

Shards (:class:`Shard`, ``--shard I/N``): a stable 1/N of the recordings (by a hash of each
file's path under the folder given), so N processes or cluster jobs can share an archive and one
``OUT``; each recording is written under its own lock and published by rename, each shard writes
``OUT/shards/I-of-N.csv``, and :func:`collect` (run by every shard when it ends, and by
``iiic collect OUT``) builds ``recordings.csv`` and ``index.html`` across the finished shards.

Workers are separate processes (``spawn``), each loading the models once; a recording that
cannot be read or analysed is reported in the table (``status = failed``) and the others go on.
``<name>`` is the file's stem, or its path under the folder given (``/`` → ``__``) when stems
collide.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from iiic.clinical.outdir import OutputError, claim_batch, is_output, replacing
from iiic.clinical.pipeline import AnalyzeConfig
from iiic.clinical.scoring import ModelScorer, ScorerSpec, load_scorer
from iiic.constants import CLASS_LABELS
from iiic.predict.card import NO_CHECK, card_dir, headline, read_card
from iiic.utils import atomic_path, bad_value, die_with_parent, exclusive_lock, write_text_atomic

log = logging.getLogger(__name__)

RECORDING_SUFFIXES = (".edf", ".bdf")
"""File endings (any case) collected from folders."""
RUN_LOCK = ".analyze.lock"
"""Lock file inside ``OUT`` held by the ``analyze`` run writing it."""
DONE, SKIPPED, FAILED = "done", "skipped", "failed"
PATTERNS = tuple(label for label in CLASS_LABELS if label != "Other")
TABLE_COLUMNS: tuple[str, ...] = (
    "name", "file", "status", "hours", "windows", "flagged_windows",
    *(f"{p}_min" for p in PATTERNS), "events", "seizure_burden_min_per_hour", "report", "error",
)  # fmt: skip
"""Columns of ``recordings.csv``: ``<pattern>_min`` = minutes with P(pattern) >= threshold."""
RESUME_KEYS = ("models", "blend", "prior", "backend", "filtering", "stride_s", "threshold",
               "allow_missing", "max_pages", "annotated_copy", "review_eeg_min")  # fmt: skip
"""Settings that must match for a finished recording to be skipped."""


class BatchError(ValueError):
    """Input that cannot be analysed at all (no recordings, a path that does not exist)."""


def _search(folder: Path, exclude: Path | None, skipped: list[Path]) -> list[Path]:
    """Recording files under ``folder`` (sorted), skipping hidden entries and iiic's outputs."""
    found = []
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        keep = []
        for d in sorted(dirs):
            sub = here / d
            if d.startswith("."):
                continue
            if is_output(sub) or (exclude is not None and sub.resolve() == exclude):
                skipped.append(sub)
            else:
                keep.append(d)
        dirs[:] = keep
        for f in sorted(files):
            path = here / f
            if f.startswith(".") or path.suffix.lower() not in RECORDING_SUFFIXES:
                continue
            if is_output(path):
                skipped.append(path)
            elif path.is_file() or path.is_symlink():  # a broken link fails, listed
                found.append(path)
    return sorted(found)


def collect_recordings(paths: Sequence[str | Path], *, exclude: str | Path | None = None,
                       say: Callable[[str], None] = log.info) -> list[tuple[Path, str]]:  # fmt: skip
    """``(file, name)`` of every recording: the files given, and EDF/BDF files under folders.

    ``name`` is the file's stem; when stems collide, the path relative to the folder common to
    all recordings, ``/`` → ``__`` (and the suffix kept when even that collides).
    Raises BatchError naming a path that does not exist, or when nothing was found.
    Under folders, hidden entries, iiic's own outputs (folders with a manifest, annotated
    copies: :func:`iiic.clinical.outdir.is_output`) and ``exclude`` are skipped (``say`` tells
    how many); a broken symbolic link with a recording suffix is kept (it fails, listed).
    """
    found: list[Path] = []
    skipped: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += _search(p, exclude, skipped)
        elif p.is_file():
            found.append(p)
        else:
            raise BatchError(f"{p}: no such file or folder")
    if skipped:
        say(f"not taken as inputs (iiic's own outputs): {', '.join(map(str, skipped[:3]))}"
            + (f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""))  # fmt: skip
    if not found:
        raise BatchError(f"{', '.join(map(str, paths))}: no EDF/BDF recordings found")
    found = list({_real(f): f for f in found}.values())  # each file once, first order kept
    root = Path(os.path.commonpath([_real(f).parent for f in found]))
    rel = [_real(f).relative_to(root) for f in found]
    stems = [f.stem for f in found]
    names = [s if stems.count(s) == 1 else "__".join(r.with_suffix("").parts)
             for s, r in zip(stems, rel, strict=True)]  # fmt: skip
    names = [n if names.count(n) == 1 else "__".join(r.parts).replace(".", "_")
             for n, r in zip(names, rel, strict=True)]  # fmt: skip
    return list(zip(found, names, strict=True))


def _real(f: Path) -> Path:
    """Absolute path of ``f`` with its folders resolved (a broken link itself kept)."""
    return f.parent.resolve() / f.name


def _resume_key(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: settings.get(k) for k in RESUME_KEYS}


def _finished(folder: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """The summary of a complete analysis in ``folder`` made with the same settings, else None."""
    path = folder / "summary.json"
    if not (folder / "report.html").is_file() or not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return summary if _resume_key(summary.get("settings", {})) == key else None


def table_row(name: str, file: Path, status: str, summary: dict[str, Any] | None,
              error: str = "") -> dict[str, Any]:  # fmt: skip
    """One row of ``recordings.csv`` from a recording's summary (None when it failed)."""
    row: dict[str, Any] = dict.fromkeys(TABLE_COLUMNS)
    row |= {"name": name, "file": str(file), "status": status, "error": error}
    if summary is not None:
        patterns = summary["patterns"]
        row |= {
            "hours": summary["duration_s"] / 3600.0, "windows": summary["n_windows"],
            "flagged_windows": summary["flagged_windows_any"],
            **{f"{p}_min": patterns[p]["minutes"] for p in PATTERNS},
            "events": sum(patterns[p]["n_events"] for p in PATTERNS),
            "seizure_burden_min_per_hour": summary["seizure_burden_min_per_hour"],
            "report": f"{name}/report.html",
        }  # fmt: skip
    return row


# --- worker side --------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _init_pool_worker(spec: ScorerSpec) -> None:
    """A worker process: ends with its parent (even after SIGKILL), then loads the models."""
    die_with_parent()
    _WORKER["scorer"] = load_scorer(spec)


def _analyze_one(file: Path, name: str, out: Path, cfg: AnalyzeConfig) -> dict[str, Any]:
    """Analyse one recording into a partial folder, publish it as ``out/name``; return its row."""
    from iiic.clinical.pipeline import analyze_file

    if file.is_symlink() and not file.exists():
        return table_row(name, file, FAILED, None,
                         f"broken symbolic link (its target {os.readlink(file)} does not exist)")  # fmt: skip
    try:
        with replacing(out / name) as partial:  # a stale analysis (other settings) is replaced
            result = analyze_file(file, _WORKER["scorer"], partial, config=cfg)
        return table_row(name, file, DONE, result.summary)
    except (ValueError, OSError, RuntimeError) as err:  # RecordingError is a ValueError
        return table_row(name, file, FAILED, None, str(err).splitlines()[0])


# --- driver -------------------------------------------------------------------------------
def analyze_many(
    paths: Sequence[str | Path],
    spec: ScorerSpec,
    out: str | Path,
    *,
    config: AnalyzeConfig | None = None,
    workers: int = 1,
    say: Callable[[str], None] = log.info,
    shard: Shard | None = None,
    scorer: ModelScorer | None = None,
) -> pd.DataFrame:
    """Analyse every recording of ``paths`` into ``out`` (see the module docstring), or with
    ``shard`` only that shard's recordings (:class:`Shard`): several shards may run at once into
    one ``out``; each writes ``out/shards/I-of-N.csv`` and rebuilds ``recordings.csv`` and
    ``index.html`` from every shard's table (:func:`collect`).

    ``spec``: the models every worker loads (:func:`iiic.clinical.scoring.load_scorer`);
    ``scorer``: the same already loaded, used when the recordings are analysed in this process
    (``workers`` 1). Returns this run's table (in input order).
    """
    cfg = config or AnalyzeConfig()
    out = Path(out)
    try:
        claim_batch(out)
    except OutputError as err:
        raise BatchError(str(err)) from None
    lock = RUN_LOCK if shard is None else f".analyze-shard-{shard.index}-of-{shard.count}.lock"
    with exclusive_lock(out / lock, f"--out {out}" + (f" (shard {shard})" if shard else "")):
        table = _analyze_locked(paths, spec, out, cfg, workers, say, shard, scorer)
    if shard is not None:
        collect(out, count=shard.count, say=say)
    return table


def _analyze_locked(paths, spec: ScorerSpec, out: Path, cfg: AnalyzeConfig, workers: int,
                    say: Callable[[str], None], shard: Shard | None,
                    scorer: ModelScorer | None) -> pd.DataFrame:  # fmt: skip
    jobs = collect_recordings(paths, exclude=out.resolve(), say=say)
    order = {name: i for i, (_, name) in enumerate(jobs)}
    if shard is not None:
        mine = [(f, n) for f, n in jobs if shard.owns(shard_key(f, paths))]
        say(f"shard {shard}: {len(mine)} of the {len(jobs)} recordings")
        jobs = mine
    key = _resume_key(spec.info() | cfg.model_dump())
    rows: dict[str, dict[str, Any]] = {}
    todo = []
    for file, name in jobs:
        summary = _finished(out / name, key)
        if summary is not None:
            rows[name] = table_row(name, file, SKIPPED, summary)
        else:
            todo.append((file, name))
    say(f"{len(jobs)} recordings: {len(rows)} already analysed (skipped), {len(todo)} to do, "
        f"{min(workers, max(len(todo), 1))} worker(s)")  # fmt: skip
    t0 = time.perf_counter()
    for i, row in enumerate(_run(todo, spec, out, cfg, workers, scorer), start=1):
        rows[row["name"]] = row
        what = (f"{row['hours']:.2f} h, {row['windows']} windows, {row['events']} events"
                if row["status"] == DONE else row["error"])  # fmt: skip
        say(f"[{i}/{len(todo)}, {time.perf_counter() - t0:.0f} s] {row['name']}: "
            f"{row['status']} ({what})")  # fmt: skip
    table = pd.DataFrame([rows[name] for _, name in jobs], columns=list(TABLE_COLUMNS))
    model_line = headline(read_card(card_dir(list(spec.run_dirs), spec.blend)))
    if shard is None:
        write_summary(table, out, cfg.threshold, model_line)
    else:  # this shard's table; the index across shards is built by collect()
        part = table.assign(order=[order[n] for n in table["name"]], threshold=cfg.threshold,
                            model=model_line)  # fmt: skip
        path = out / SHARD_DIR / shard.table_name
        path.parent.mkdir(exist_ok=True)
        with atomic_path(path) as tmp:
            part.to_csv(tmp, index=False)  # full precision: collect rounds once, as a run does
    return table


# --- shards: one archive over several processes or machines --------------------------------
SHARD_DIR = "shards"
"""Folder of ``OUT`` with each shard's table, ``I-of-N.csv``."""
COLLECT_LOCK = ".collect.lock"
"""Lock file inside ``OUT`` held (blocking) while recordings.csv and index.html are rebuilt."""


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based): the recordings whose :func:`shard_key` hashes to
    ``index`` modulo ``count`` (a stable 1/count of the archive)."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"I/N"`` (0 <= I < N) → Shard; BatchError naming ``--shard`` otherwise."""
        try:
            i, n = (int(v) for v in text.split("/"))
        except ValueError:
            raise BatchError(bad_value("--shard", "I/N (e.g. 0/4)", repr(text))) from None
        if not 0 <= i < n:
            raise BatchError(bad_value("--shard", "0 <= I < N", repr(text)))
        return cls(i, n)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def table_name(self) -> str:
        return f"{self.index}-of-{self.count}.csv"

    def owns(self, key: str) -> bool:
        """Whether the recording with :func:`shard_key` ``key`` belongs to this shard."""
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return int(digest[:16], 16) % self.count == self.index


def shard_key(file: Path, paths: Sequence[str | Path]) -> str:
    """What decides a recording's shard: its path relative to the folder given that holds it
    (stable when files are added elsewhere in the archive), or the name of a file given."""
    real = _real(file)
    for p in map(Path, paths):
        if p.is_dir() and real.is_relative_to(p.resolve()):
            return real.relative_to(p.resolve()).as_posix()
    return file.name


@contextlib.contextmanager
def _waiting_lock(path: Path) -> Iterator[None]:
    """Hold ``path`` (flock, waiting for it; the file stays so waiters share one inode)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - POSIX only
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def collect(out: str | Path, *, count: int | None = None,
            say: Callable[[str], None] = log.info) -> pd.DataFrame:  # fmt: skip
    """Build ``recordings.csv`` and ``index.html`` of ``out`` from its shards' tables (those of
    ``count`` shards; None: the count of the newest table). Shards not finished yet are named
    (``say``). Returns the table across shards (in input order)."""
    out = Path(out)
    tables = sorted((out / SHARD_DIR).glob("*-of-*.csv"), key=lambda p: p.stat().st_mtime)
    if not tables:
        raise BatchError(f"{out}: no shard tables ({SHARD_DIR}/I-of-N.csv); run analyze --shard")
    count = count or int(tables[-1].stem.split("-of-")[1])
    with _waiting_lock(out / COLLECT_LOCK):
        parts = {i: out / SHARD_DIR / f"{i}-of-{count}.csv" for i in range(count)}
        missing = [i for i, p in parts.items() if not p.is_file()]
        found = [pd.read_csv(p, keep_default_na=False, na_values=[""]) for p in parts.values()
                 if p.is_file()]  # fmt: skip
        table = pd.concat(found).sort_values("order", kind="stable")
        threshold = float(table["threshold"].iloc[0]) if len(table) else 0.5
        model_line = str(table["model"].iloc[0]) if "model" in table and len(table) else NO_CHECK
        table = table[list(TABLE_COLUMNS)].reset_index(drop=True)
        table["error"] = table["error"].fillna("")
        write_summary(table, out, threshold, model_line)
    if missing:
        say(f"{out}: shard(s) {missing} of {count} not finished yet: the index lists "
            f"{count - len(missing)} of {count} shards")  # fmt: skip
    return table


def _run(todo, spec: ScorerSpec, out: Path, cfg: AnalyzeConfig, workers: int,
         scorer: ModelScorer | None):  # fmt: skip
    """Rows of the analysed recordings, in completion order."""
    if not todo:
        return
    if workers <= 1 or len(todo) == 1:
        _WORKER["scorer"] = scorer or load_scorer(spec)
        for file, name in todo:
            yield _analyze_one(file, name, out, cfg)
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(workers, len(todo)), mp_context=ctx, initializer=_init_pool_worker,
                             initargs=(spec,)) as pool:  # fmt: skip
        futures = [pool.submit(_analyze_one, f, n, out, cfg) for f, n in todo]
        for fut in as_completed(futures):
            yield fut.result()


def write_summary(table: pd.DataFrame, out: Path, threshold: float,
                  model_line: str = NO_CHECK) -> dict[str, Path]:  # fmt: skip
    """``recordings.csv`` and ``index.html`` of a batch (atomically); ``model_line``: what the
    model is (its card's headline)."""
    csv = out / "recordings.csv"
    with atomic_path(csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4g")
    index = write_text_atomic(out / "index.html", render_index(table, threshold, model_line))
    return {"csv": csv, "index": index}


def _num(v: Any, fmt: str) -> str:
    if v is None or pd.isna(v):
        return ""
    return format(int(v), fmt) if fmt == "d" else format(float(v), fmt)


def render_index(table: pd.DataFrame, threshold: float, model_line: str = NO_CHECK) -> str:
    """A self-contained page: what the model is, then the recordings table, each name linking to
    its report."""
    head = ["recording", "status", "hours", "windows", "flagged", *(f"{p} min" for p in PATTERNS),
            "events", "seizure burden, min/h"]  # fmt: skip
    body = []
    for r in table.astype(object).where(table.notna(), None).to_dict("records"):
        name = html.escape(r["name"])
        link = f'<a href="{html.escape(r["report"])}">{name}</a>' if r["report"] else name
        if r["status"] == FAILED:
            cells = [link, f'<span class="failed">failed</span>: {html.escape(r["error"] or "")}']
            body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells)
                        + f'<td colspan="{len(head) - 2}"></td></tr>')  # fmt: skip
            continue
        nums = [_num(r["hours"], ".2f"), _num(r["windows"], "d"), _num(r["flagged_windows"], "d"),
                *(_num(r[f"{p}_min"], ".1f") for p in PATTERNS), _num(r["events"], "d"),
                _num(r["seizure_burden_min_per_hour"], ".2f")]  # fmt: skip
        body.append(f"<tr><td>{link}</td><td>{r['status']}</td>"
                    + "".join(f'<td class="num">{n}</td>' for n in nums) + "</tr>")  # fmt: skip
    n_failed = int((table["status"] == FAILED).sum())
    hours = table["hours"].fillna(0).sum()
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>iiic: {len(table)} recordings</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
td, th {{ border: 1px solid #ddd; padding: 3px 8px; text-align: left; }}
th {{ background: #f3f3f3; }} td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
.failed {{ color: #b00020; font-weight: bold; }} .note {{ color: #555; font-size: 0.9em; }}
</style></head><body>
<h1>iiic: {len(table)} recordings, {hours:.1f} h</h1>
<p class="note">Automated IIIC classification (research tool, not a diagnosis). Minutes per
pattern count windows with a probability of at least {threshold:g}; each name links to its
report. {n_failed} recording(s) failed. The same table: <a href="recordings.csv">recordings.csv</a>.</p>
<p id="model-card"><strong>Model:</strong> {html.escape(model_line)}</p>
<table><tr>{"".join(f"<th>{html.escape(h)}</th>" for h in head)}</tr>
{"".join(body)}</table>
</body></html>
"""
