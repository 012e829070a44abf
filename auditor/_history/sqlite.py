"""The default history: one SQLite file, in WAL mode, written one transaction per scan.

WAL lets `auditor history` read while `auditor serve` writes; `synchronous=FULL` makes a
committed scan survive a crash or a power cut. The file is created with mode 0600 in a
folder of mode 0700 (whatever the umask): findings describe weaknesses and are nobody else's
business. An existing file looser than 0600 is reported (`loose_mode`) and made 0600 by
`auditor history --fix-modes`. Only a file that is already an auditor history is opened: a
missing one is created only when a scan stores into it, anything else is refused untouched.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from auditor._history.interface import HistoryError
from auditor._history.schema import MIGRATIONS, Migration
from auditor._history.sql import SQLStore, closing_cursor
from pki.errors import PKIError
from pki.fsutil import make_folder, special_kind

BUSY_TIMEOUT_SECONDS = 15.0
"""How long a writer waits for another process's transaction before giving up."""


class SQLiteStore(SQLStore):
    dialect = "sqlite"
    marker = "?"

    def __init__(self, path: Path, *, migrations: tuple[Migration, ...] = MIGRATIONS, create: bool = True,
                 _fresh: bool = False) -> None:
        super().__init__()
        self.path = Path(path).expanduser()
        self.location = str(self.path)
        self.loose_mode: int | None = None
        """The file's mode when it lets others than its owner in (0644...): reported, fixed on request."""
        existed = not _fresh and self._check_existing(create)
        if not existed and not _fresh:
            self._create(migrations)
            existed = True
        self._conn = self._open()
        self._max_values = self._conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        try:
            if existed:
                tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if "schema_migrations" not in tables:
                    raise HistoryError(
                        f"the history {self.path} is not an auditor history "
                        f"({'an SQLite database of something else' if tables else 'an empty file'}); "
                        "give a new file's name and a scan creates it"
                    )
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

    def _check_existing(self, create: bool) -> bool:
        """Whether the file exists (a regular file, not a folder, FIFO or device); HistoryError
        when it does not and `create` is false. Notes a mode looser than 0600."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            if not create:
                raise HistoryError(
                    f"there is no history at {self.path} yet; a scan creates it "
                    f"(`auditor scan --target NAME --db {self.path}`)"
                ) from None
            return False
        except OSError as exc:
            raise HistoryError(f"cannot open the history {self.path}: {exc.strerror or exc}") from None
        if stat.S_ISDIR(st.st_mode):
            raise HistoryError(f"the history {self.path} is a folder, not a file")
        kind = special_kind(st.st_mode)
        if kind is not None:
            raise HistoryError(f"the history {self.path} is not a regular file ({kind}): not opened")
        if stat.S_IMODE(st.st_mode) & 0o077:
            self.loose_mode = stat.S_IMODE(st.st_mode)
        return True

    def fix_modes(self) -> list[Path]:
        """Make the history (and its WAL files) 0600; the files changed."""
        changed = []
        for path in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
            with contextlib.suppress(FileNotFoundError):
                if stat.S_IMODE(path.stat().st_mode) != 0o600:
                    os.chmod(path, 0o600)
                    changed.append(path)
        self.loose_mode = None
        return changed

    def _create(self, migrations: tuple[Migration, ...]) -> None:
        """Make a new history whole, or not at all: its schema is written in a temporary file
        (0600) that is then linked into place. Another process opening the same new history
        meanwhile finds either nothing or a complete history, never an empty file; if it made
        one first, that one is used."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            make_folder(self.path.parent, parents=True, exist_ok=True)
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            try:
                SQLiteStore(tmp, migrations=migrations, _fresh=True).close()
                with contextlib.suppress(FileExistsError):
                    os.link(tmp, self.path)  # never replaces a history another process just made
            finally:
                for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(leftover)
        except OSError as exc:
            raise HistoryError(f"cannot create the history {self.path}: {exc.strerror or exc}") from None
        except PKIError as exc:
            raise HistoryError(f"cannot create the history {self.path}: {exc}") from None

    def _open(self) -> sqlite3.Connection:
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
