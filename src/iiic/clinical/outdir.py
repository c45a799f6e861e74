"""Output folders of ``iiic analyze``: iiic never deletes or overwrites a file it did not write.

Every folder ``analyze`` writes holds a manifest, :data:`MANIFEST` (``.iiic-output.json``): its
kind (``recording``: one analysis; ``batch``: many recordings, ``recordings.csv``, ``index.html``)
and the files iiic wrote there. The rules:

- an existing ``--out`` is used only when it is empty or carries a manifest of the same kind;
- a recording folder is replaced only when every file in it is listed in its manifest (a file
  the user added, e.g. ``notes.txt``, is never deleted: the folder is refused);
- a recording folder is written as a hidden sibling and published by rename, so a folder is
  always either the complete earlier analysis or the complete new one;
- folders with a manifest (and ``*.annotated.edf``/``.bdf`` copies) are iiic's outputs and are
  never read back as inputs (:func:`is_output`).

Concurrent writers are kept apart by ``flock`` lock files (:func:`iiic.utils.exclusive_lock`:
released when the holder dies, even by SIGKILL).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from iiic.utils import exclusive_lock, fsync_path, write_json_atomic

MANIFEST = ".iiic-output.json"
"""File that marks a folder as written by iiic and lists what iiic wrote there."""
RECORDING, BATCH = "recording", "batch"
"""Kinds of output folder: one recording's analysis; many recordings (+ index and table)."""
ANNOTATED_SUFFIXES = (".annotated.edf", ".annotated.bdf")
"""Names of the annotated copies ``analyze --annotated-copy`` writes (never inputs)."""
TRANSIENT = f".{MANIFEST}."
"""Start of the temporary file of a manifest being written (another process claiming the folder)."""
MAX_NAMED = 3
"""Foreign files named in an error message (the rest are counted)."""


class OutputError(ValueError):
    """An output folder iiic may not write into; the message names it and why."""


def read_manifest(folder: Path) -> dict | None:
    """The manifest of ``folder`` (kind, files), or None when it has none (or it is unreadable)."""
    try:
        doc = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("files"), list) else None


def is_output(path: Path) -> bool:
    """Whether ``path`` is an output of iiic: an annotated copy, or a folder with a manifest."""
    if path.name.lower().endswith(ANNOTATED_SUFFIXES):
        return True
    return path.is_dir() and (path / MANIFEST).is_file()


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if not p.is_dir() and p.name != MANIFEST)  # fmt: skip


def foreign_files(folder: Path, kind: str) -> list[str]:
    """Files in ``folder`` that iiic did not write (relative paths): every file when the folder
    has no manifest of ``kind``; for a batch folder, only its top level is iiic's to judge
    (each recording folder has its own manifest)."""
    doc = read_manifest(folder)
    if doc is None or doc.get("kind") != kind:
        if not folder.is_dir():
            return []
        # a batch folder another run is claiming right now: its manifest's temporary file and
        # its run lock do not count
        own = (TRANSIENT, ".analyze") if kind == BATCH else ()
        return [p.name for p in folder.iterdir() if not (own and p.name.startswith(own))]
    if kind == BATCH:
        return []
    listed = set(doc["files"])
    return [f for f in _files(folder) if f not in listed]


def check_writable(folder: Path, kind: str) -> None:
    """Raise :class:`OutputError` unless ``folder`` is absent, empty, or iiic's own of ``kind``
    holding only files iiic wrote."""
    if not folder.exists():
        return
    if not folder.is_dir():
        raise OutputError(f"{folder}: exists and is not a folder")
    doc = read_manifest(folder)
    if doc is not None and doc.get("kind") != kind:
        other = "many recordings" if doc.get("kind") == BATCH else "one recording"
        raise OutputError(f"{folder}: holds iiic's analysis of {other}; choose another folder")
    foreign = foreign_files(folder, kind)
    if foreign:
        named = ", ".join(foreign[:MAX_NAMED]) + (
            f" and {len(foreign) - MAX_NAMED} more" if len(foreign) > MAX_NAMED else ""
        )
        why = "is not an iiic output folder" if doc is None else "holds files iiic did not write"
        raise OutputError(f"{folder}: {why} ({named}); iiic never deletes or overwrites a file "
                          "it did not write: choose an empty or new folder")  # fmt: skip


def write_manifest(folder: Path, kind: str) -> Path:
    """Write ``folder``'s manifest listing every file now in it (atomically)."""
    return write_json_atomic(folder / MANIFEST, {"kind": kind, "files": _files(folder)})


def claim_batch(folder: Path) -> None:
    """Create (or reuse) a batch output folder: OutputError when it is not iiic's."""
    check_writable(folder, BATCH)
    folder.mkdir(parents=True, exist_ok=True)
    if read_manifest(folder) is None:
        write_json_atomic(folder / MANIFEST, {"kind": BATCH, "files": []})


def _prefixes(final: Path) -> tuple[str, str]:
    return f".{final.name}.partial-", f".{final.name}.old-"


def _ours(path: Path, prefix: str) -> bool:
    """``path`` is a temporary folder of mkdtemp with ``prefix`` (8 random characters after it)."""
    rest = path.name[len(prefix) :]
    return path.name.startswith(prefix) and len(rest) == 8 and "." not in rest


def lock_path(final: Path) -> Path:
    """The lock file of output folder ``final`` (hidden, next to it)."""
    return final.parent / f".{final.name}.lock"


@contextlib.contextmanager
def replacing(final: Path) -> Iterator[Path]:
    """Write the output folder ``final`` safely: yield a hidden partial folder to write into;
    when the block ends without error, publish it in place of ``final``.

    Holds ``final``'s lock file for the whole block (:class:`iiic.utils.LockError` when another
    process holds it), cleans up after a killed writer, refuses a ``final`` that holds files iiic
    did not write (:class:`OutputError`) before anything is written. On error or kill ``final``
    is left as it was.
    """
    final = Path(os.path.abspath(final))  # "." or "out/" name their folder
    final.parent.mkdir(parents=True, exist_ok=True)
    partial_prefix, old_prefix = _prefixes(final)
    with exclusive_lock(lock_path(final), f"--out {final}"):
        _recover(final, partial_prefix, old_prefix)
        check_writable(final, RECORDING)
        partial = Path(tempfile.mkdtemp(dir=final.parent, prefix=partial_prefix))
        try:
            yield partial
            _publish(partial, final, old_prefix)
        finally:
            shutil.rmtree(partial, ignore_errors=True)


def _publish(partial: Path, final: Path, old_prefix: str) -> None:
    """Write ``partial``'s manifest and put it in place of ``final`` by renames: an absent or
    empty ``final`` is replaced by one rename; iiic's own is moved aside, the new folder renamed
    in, the old one deleted."""
    write_manifest(partial, RECORDING)
    if final.exists() and any(final.iterdir()):
        old = Path(tempfile.mkdtemp(dir=final.parent, prefix=old_prefix))
        os.replace(final, old)  # replaces the empty folder mkdtemp made
        os.replace(partial, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(partial, final)  # rename(2) replaces an empty folder
    fsync_path(final.parent)


def _recover(final: Path, partial_prefix: str, old_prefix: str) -> None:
    """After a killed writer (called under the lock): remove its partial folder; when the kill
    fell between the two renames of :func:`_publish`, put the old folder back."""
    parent = final.parent
    for stale in (p for p in parent.glob(f"{partial_prefix}*") if _ours(p, partial_prefix)):
        shutil.rmtree(stale, ignore_errors=True)
    olds = sorted((p for p in parent.glob(f"{old_prefix}*") if _ours(p, old_prefix)),
                  key=lambda p: p.stat().st_mtime)  # fmt: skip
    if olds and not final.exists() and read_manifest(olds[-1]) is not None:
        os.replace(olds.pop(), final)
    for stale in olds:
        shutil.rmtree(stale, ignore_errors=True)
