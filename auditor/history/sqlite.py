"""The default history: one SQLite file, in WAL mode, written one transaction per scan.

WAL lets `auditor history` read while `auditor serve` writes; `synchronous=FULL` makes a
committed scan survive a crash or a power cut. The file is created with mode 0600 in a
folder of mode 0700: findings describe weaknesses and are nobody else's business.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from auditor.history.interface import HistoryError
from auditor.history.schema import MIGRATIONS, Migration
from auditor.history.sql import SQLStore, closing_cursor

BUSY_TIMEOUT_SECONDS = 15.0
"""How long a writer waits for another process's transaction before giving up."""


class SQLiteStore(SQLStore):
    dialect = "sqlite"
    marker = "?"

    def __init__(self, path: Path, *, migrations: tuple[Migration, ...] = MIGRATIONS) -> None:
        super().__init__()
        self.path = Path(path).expanduser()
        self.location = str(self.path)
        self._conn = self._open()
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self.migrate(migrations)
        except HistoryError:
            self._conn.close()
            raise
        except sqlite3.Error as exc:
            self._conn.close()
            raise self._error(exc, "cannot open") from None

    def _open(self) -> sqlite3.Connection:
        folder = self.path.parent
        try:
            if not folder.exists():
                folder.mkdir(parents=True, mode=0o700)
            if not self.path.exists():
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        except OSError as exc:
            raise HistoryError(f"cannot create the history {self.path}: {exc.strerror or exc}") from None
        if self.path.is_dir():
            raise HistoryError(f"the history {self.path} is a folder, not a file")
        try:
            return sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise self._error(exc, "cannot open") from None

    def _error(self, exc: sqlite3.Error, doing: str) -> HistoryError:
        text = str(exc)
        if "not a database" in text:
            text = "it is not an auditor history (not an SQLite database)"
        return HistoryError(f"{doing} the history {self.path}: {text}")

    @contextlib.contextmanager
    def _transaction(self, *, migrating: bool = False) -> Iterator[Any]:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._error(exc, "cannot write") from None
        try:
            with closing_cursor(self._conn) as cur:
                yield cur
            self._conn.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise self._error(exc, "cannot write") from None
            raise

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[Any]:
        try:
            with closing_cursor(self._conn) as cur:
                yield cur
        except sqlite3.Error as exc:
            raise self._error(exc, "cannot read") from None

    def _integrity(self) -> list[str]:
        rows = self._select("PRAGMA integrity_check")
        problems = [f"sqlite: {r[0]}" for r in rows if r[0] != "ok"]
        problems += [f"sqlite: foreign key: {tuple(r)}" for r in self._select("PRAGMA foreign_key_check")]
        return problems

    def close(self) -> None:
        with self._lock:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()
