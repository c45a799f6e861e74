"""Errors of the data layer: every message starts with the file (or row) it is about."""

from __future__ import annotations


class DataError(ValueError):
    """A data file or table is unusable: ``f"{path}: {problem}"``."""


class WindowError(DataError):
    """A row's window does not fit in its file (past the end, before the start, or gappy)."""
