"""Small shared helpers: the one wording of invalid-value messages, durable atomic file writes,
output-path checks, lock files, worker processes that die with their parent, the machine
description for results, stage timings."""

from __future__ import annotations

import contextlib
import datetime
import difflib
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any


def bad_value(name: str, expected: str, received: object) -> str:
    """The message for an invalid value, in the one wording of the package (after MNE-Python's
    ``_check_option``): ``"name: expected <expected>; received <received>"``.

    ``name`` is the parameter, option (``--stride-s``) or file + field (``"blend.json: space"``);
    ``received`` is shown as ``str(received)``: pass ``repr(value)`` (``f"{value!r}"``) to quote a
    string, or a description ("none", "an empty table", a type name).
    """
    return f"{name}: expected {expected}; received {received}"


def _one_of(allowed: Iterable[object]) -> str:
    """'a' → "'a'"; 'a', 'b', 'c' → "'a', 'b' or 'c'"."""
    shown = [repr(a) for a in allowed]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"


def check_option(name: str, value: Any, allowed: Iterable[Any], extra: str = "") -> Any:
    """``value`` if it is one of ``allowed``; else ValueError in :func:`bad_value`'s wording,
    listing the allowed values (and the closest one to a mistyped string).

    ``extra`` follows the allowed values in the message (e.g. ``" (after iiic export)"``).
    Example: ``check_option("impl", "ffft", ("fft", "conv"))`` raises ``impl: expected 'fft'
    or 'conv'; received 'ffft'; did you mean 'fft'?``.
    """
    allowed = tuple(allowed)
    if value in allowed:
        return value
    message = bad_value(name, _one_of(allowed) + extra, repr(value))
    if isinstance(value, str):
        close = difflib.get_close_matches(value, [a for a in allowed if isinstance(a, str)], n=1)
        message += f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(message)


FSYNC = True
"""Flush every atomic write to the disk (the file, then its directory) before it counts as done,
as databases do: after a crash or power loss a file is either the old one or the complete new
one. ``benchmarks/durability.py`` switches it off to measure what it costs."""


def fsync_path(path: str | os.PathLike) -> None:
    """``fsync`` a file or a directory (its entries), so what was written survives a power loss.

    Directories cannot be opened on some platforms (Windows): they are skipped there.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except (IsADirectoryError, PermissionError):  # Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: str | os.PathLike) -> None:
    """``fsync`` every file under ``root``, then every directory, deepest first."""
    dirs = []
    for dirpath, _, filenames in os.walk(root):
        dirs.append(dirpath)
        for name in filenames:
            fsync_path(os.path.join(dirpath, name))
    for dirpath in reversed(dirs):
        fsync_path(dirpath)


def check_output_file(path: str | os.PathLike, option: str = "--out") -> Path:
    """``path`` if a file can be written there; ValueError naming ``option`` and the path if not.

    Refused: an existing directory, or a parent that is a file (checked before any work is done).
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{option} {path}: is a directory; give a file path")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{option} {path}: {parent} is a file, not a directory")
            break
    return path


def check_output_dir(path: str | os.PathLike, option: str = "--out") -> Path:
    """``path`` if a folder can be created or used there; ValueError naming ``option`` if not."""
    path = Path(path)
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                where = "is a file" if p == path else f"{p} is a file"
                raise ValueError(f"{option} {path}: {where}, not a directory")
            break
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, fsync: bool | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``.

    A crash leaves ``path`` as it was (never half-written). Use for any output file. With
    ``fsync`` (default :data:`FSYNC`) the file is flushed to the disk before the rename and the
    directory after it, so the rename also survives a power loss.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    durable = FSYNC if fsync is None else fsync
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp makes 0600 files; give the output the umask's mode
            umask = os.umask(0)
            os.umask(umask)
            tmp_path.chmod(0o666 & ~umask)
            if durable:
                fsync_path(tmp_path)
        os.replace(tmp_path, path)
        if durable:
            fsync_path(path.parent)
    finally:
        tmp_path.unlink(missing_ok=True)


class LockError(ValueError):
    """Another process holds the lock file; the message names it and what it protects."""


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike, what: str) -> Iterator[Path]:
    """Hold the advisory lock file ``path`` (``flock``) for the block, or raise :class:`LockError`.

    The kernel releases the lock when its holder dies (even by SIGKILL), so a stale file never
    blocks a later run. ``what`` names the protected output in the error message. The file is
    removed on exit. Without ``fcntl`` (Windows) no lock is taken.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - POSIX only
        yield Path(path)
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise LockError(f"{what}: another run (pid {holder}) is writing it (lock file "
                            f"{path}); wait for it to finish or choose another output") from None  # fmt: skip
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)  # still holding the lock: no one else can be inside
    finally:
        os.close(fd)


PARENT_POLL_S = 0.2
"""How often a worker process checks that its parent is still alive, s."""


def die_with_parent() -> None:
    """Initializer of worker processes: end this worker as soon as its parent process is gone.

    A killed ``iiic prepare`` (even SIGKILL, which runs no clean-up) must not leave workers
    reading files: a daemon thread polls the parent pid every :data:`PARENT_POLL_S` seconds and
    calls ``os._exit`` when the worker was re-parented.
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json_atomic(path: str | os.PathLike, obj: Any, *, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically (``indent=None``: one line, for bookkeeping
    files no one reads: json's C encoder, several times faster than the indented one)."""
    return write_text_atomic(path, json.dumps(obj, indent=indent, default=str) + "\n")


def store_float16(out: Any, values: Any) -> None:
    """``out[...] = values`` for a float16 ``out`` (any strides), with torch's vectorised cast
    when torch is already imported (the same bits as numpy's cast, 2.5x faster: numpy's float32
    -> float16 cast takes about 3 ns a value); callers that never import torch keep numpy's."""
    torch = sys.modules.get("torch")
    if (torch is None or (out.dtype.name, values.dtype.name) != ("float16", "float32")
            or min(out.strides + values.strides, default=0) < 0  # torch: no negative strides
            or not values.flags.writeable):  # fmt: skip
        out[...] = values
        return
    torch.from_numpy(out).copy_(torch.from_numpy(values))


def machine_info() -> dict[str, Any]:
    """Cores, Python, torch version and device, the iiic commit and the UTC date: recorded next
    to every benchmark figure."""
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": _git_commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:  # pragma: no cover - torch is a hard dependency
        info["torch"] = None
    return info


def _git_commit() -> str | None:
    """Short commit of the source tree this module runs from (None outside a git checkout)."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10, cwd=Path(__file__).resolve().parent)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


@contextlib.contextmanager
def timed(timings: dict[str, float], name: str) -> Iterator[None]:
    """Record the wall-clock seconds of the ``with`` block as ``timings[name]`` (also when it
    raises)."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = time.perf_counter() - t0


def process_pool(workers: int, initializer=None) -> ProcessPoolExecutor:
    """Worker processes started with "spawn": the parquet readers use polars, whose thread pool
    deadlocks in a forked child once the parent has used it."""
    ctx = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=initializer)
