"""A history shared by a fleet: the same schema in PostgreSQL, through psycopg 3.

Give a postgresql:// URL (`--db` or AUDITOR_DB); the password belongs in ~/.pgpass,
PGPASSWORD or a service file rather than the URL. User-info in the URL is taken out before
the URL is used or shown (auditor._urls) and given to psycopg as the login on its own: errors
and listings print the URL without it. Migrations take an advisory lock, so fleet members
that start together do not race.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from auditor._history.interface import HistoryError
from auditor._history.schema import MIGRATIONS, Migration
from auditor._history.sql import SQLStore
from auditor._urls import split_url

CONNECT_TIMEOUT_SECONDS = 10
MIGRATION_LOCK = 0x61756474  # "audt": the advisory lock key held while migrating


class PostgresStore(SQLStore):
    dialect = "postgres"
    marker = "%s"
    _max_values = 65_535

    def __init__(self, url: str, *, migrations: tuple[Migration, ...] = MIGRATIONS) -> None:
        super().__init__()
        url, credentials = split_url(url)
        self.location = url
        login: dict[str, Any] = {}
        if credentials is not None:
            login["user"] = credentials.username
            if credentials.password is not None:
                login["password"] = credentials.password
        try:
            import psycopg
        except ImportError:  # pragma: no cover - psycopg is a dependency
            raise HistoryError("a PostgreSQL history needs psycopg (pip install 'psycopg[binary]')") from None
        self._errors: type[Exception] = psycopg.Error
        try:
            self._conn = psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=True, **login)
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
