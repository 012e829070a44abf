"""The scan history: every scan stored with its findings; listing and diffing them.

`open_store()` picks the backend: `--db PATH` or `AUDITOR_DB` (a file path, or a
postgresql:// URL for a history shared by a fleet), else `history.sqlite` in the per-user
data folder ($XDG_DATA_HOME/auditor, else ~/.local/share/auditor).
"""

from __future__ import annotations

import os
from pathlib import Path

from auditor._history.interface import HistoryError, Outcome, Provenance, ScanEntry, Store

__all__ = [
    "HistoryError", "Outcome", "Provenance", "ScanEntry", "Store", "default_db_path", "open_store", "resolve_db",
]

ENV = "AUDITOR_DB"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def default_db_path() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "auditor" / "history.sqlite"


def resolve_db(explicit: str | None = None) -> str:
    """The history the user meant: `--db`, then AUDITOR_DB, then the per-user default."""
    return explicit or os.environ.get(ENV) or str(default_db_path())


def open_store(explicit: str | None = None, *, create: bool = True) -> Store:
    """The history `explicit` (or AUDITOR_DB, or the default) names. Without `create`, a missing
    SQLite file is an error (reading commands never create one)."""
    where = resolve_db(explicit)
    if where.startswith(POSTGRES_SCHEMES):
        from auditor._history.postgres import PostgresStore

        return PostgresStore(where)
    from auditor._history.sqlite import SQLiteStore

    return SQLiteStore(Path(where), create=create)
