"""A history shared by a fleet: the same schema in PostgreSQL, through psycopg 3.

Give `--db postgresql://user@host/db` (or set AUDITOR_DB); the password belongs in
~/.pgpass, PGPASSWORD or a service file rather than the URL, and is never shown: errors and
listings print the URL without it. Migrations take an advisory lock, so fleet members that
start together do not race.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from auditor.history.interface import HistoryError
from auditor.history.schema import MIGRATIONS, Migration
from auditor.history.sql import SQLStore

CONNECT_TIMEOUT_SECONDS = 10
MIGRATION_LOCK = 0x61756474  # "audt": the advisory lock key held while migrating


def safe_url(url: str) -> str:
    """`url` with any password replaced by `***`, fit to print."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


class PostgresStore(SQLStore):
    dialect = "postgres"
    marker = "%s"

    def __init__(self, url: str, *, migrations: tuple[Migration, ...] = MIGRATIONS) -> None:
        super().__init__()
        self.location = safe_url(url)
        try:
            import psycopg
        except ImportError:  # pragma: no cover - psycopg is a dependency
            raise HistoryError("a PostgreSQL history needs psycopg (pip install 'psycopg[binary]')") from None
        self._errors: type[Exception] = psycopg.Error
        try:
            self._conn = psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=True)
        except psycopg.Error as exc:
            raise self._error(exc, "cannot connect to") from None
        try:
            self.migrate(migrations)
        except BaseException:
            self._conn.close()
            raise

    def _error(self, exc: Exception, doing: str) -> HistoryError:
        message = " ".join(str(exc).split()) or type(exc).__name__
        return HistoryError(f"{doing} the history at {self.location}: {message}")

    @contextlib.contextmanager
    def _transaction(self, *, migrating: bool = False) -> Iterator[Any]:
        try:
            with self._conn.transaction(), self._conn.cursor() as cur:
                if migrating:
                    cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                yield cur
        except self._errors as exc:
            raise self._error(exc, "cannot write") from None

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[Any]:
        try:
            with self._conn.cursor() as cur:
                yield cur
        except self._errors as exc:
            raise self._error(exc, "cannot read") from None

    def close(self) -> None:
        with self._lock:
            self._conn.close()
