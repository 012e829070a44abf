"""What the SQLite and PostgreSQL stores share: the queries, the migrations and the checks.

A backend supplies a DB-API connection, its parameter marker and its dialect name, and how
to open a write transaction (`_transaction`); everything else is written once here. Calls
are serialised by a lock, so one store may be shared by the threads of `auditor serve`.
"""

from __future__ import annotations

import abc
import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from itertools import chain, islice
from typing import Any

from auditor._history.document import packed_document, stored_document
from auditor._history.interface import (
    ENTRY_COLUMNS,
    HistoryError,
    Outcome,
    Provenance,
    ScanEntry,
    Store,
    entry_from_row,
    finding_rows,
    scan_row,
)
from auditor._history.schema import (
    BLOB_COLUMN,
    ID_COLUMN,
    MIGRATIONS,
    MIGRATIONS_TABLE,
    Migration,
    latest_version,
)
from auditor._models import RedactedResult, ScanResult
from auditor._redact import redact_result
from auditor._timeutil import rfc3339, utcnow

ROWS_PER_INSERT = 250
"""Findings rows written per INSERT statement (fewer when the database takes fewer values)."""
FINDING_COLUMNS = 8

PACK_BESIDE = 5_000
"""From this many findings on, a scan's document is packed in a thread beside the writing of
its findings rows (below, a thread costs more than it saves)."""


class SQLStore(Store):
    dialect: str = ""
    marker: str = "?"
    _max_values: int = 999
    """The most values one statement may bind (SQLite's SQLITE_MAX_VARIABLE_NUMBER before 3.32)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._version = 0

    # -- what a backend provides -------------------------------------------------------------

    @abc.abstractmethod
    def _transaction(self, *, migrating: bool = False) -> contextlib.AbstractContextManager[Any]:
        """A context manager around one write transaction, yielding a cursor."""

    @abc.abstractmethod
    def _cursor(self) -> contextlib.AbstractContextManager[Any]:
        """A cursor for reads."""

    def _integrity(self) -> list[str]:
        """The database engine's own integrity problems (none known by default)."""
        return []

    # -- shared ------------------------------------------------------------------------------

    def _sql(self, text: str) -> str:
        return text.replace("?", self.marker) if self.marker != "?" else text

    def migrate(self, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
        """Bring the schema up to date; return the version it is at."""
        known = latest_version(migrations)
        with self._lock, self._transaction(migrating=True) as cur:
            cur.execute(MIGRATIONS_TABLE)
            cur.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
            current = int(cur.fetchone()[0])
            if current > known:
                raise HistoryError(
                    f"the history at {self.location} has schema version {current}, newer than "
                    f"this auditor knows ({known}); upgrade auditor to use it"
                )
            for m in sorted(migrations, key=lambda m: m.version):
                if m.version <= current:
                    continue
                for statement in m.statements:
                    cur.execute(statement.format(id=ID_COLUMN[self.dialect], blob=BLOB_COLUMN[self.dialect]))
                cur.execute(
                    self._sql("INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)"),
                    (m.version, m.description, rfc3339(utcnow())),
                )
                current = m.version
        self._version = current
        return current

    @property
    def schema_version(self) -> int:
        return self._version

    def save(self, result: RedactedResult, *, origin: str, exit_code: int,
             before_commit: Callable[[], object] | None = None) -> int:
        with self._lock, self._transaction() as cur:
            scan_id = self._insert(cur, result, origin=origin, exit_code=exit_code)
            if before_commit is not None:
                before_commit()  # raising rolls the transaction back
            return scan_id

    def _insert(self, cur: Any, result: RedactedResult, *, origin: str, exit_code: int) -> int:
        row, rest = scan_row(result, origin=origin, exit_code=exit_code)
        if len(result.findings) < PACK_BESIDE:
            row["document_zlib"] = packed_document(result, rest)
            return self._insert_rows(cur, result, row)
        # A large result's document is packed in a thread while its findings rows are written
        # (zlib and the database both let go of the interpreter while they work), then set on
        # its scans row in the same transaction: what is stored is the same, sooner.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1, thread_name_prefix="auditor-history-pack") as pool:
            packing = pool.submit(packed_document, result, rest)
            scan_id = self._insert_rows(cur, result, row)
            cur.execute(self._sql("UPDATE scans SET document_zlib = ? WHERE id = ?"), (packing.result(), scan_id))
        return scan_id

    def _insert_rows(self, cur: Any, result: RedactedResult, row: dict[str, Any]) -> int:
        """Insert the scans `row`, then the findings rows of `result`; the new scan id."""
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        cur.execute(
            self._sql(f"INSERT INTO scans ({columns}) VALUES ({marks}) RETURNING id"),  # noqa: S608 - column names are ours
            tuple(row.values()),
        )
        scan_id = int(cur.fetchone()[0])
        if result.findings:
            self._insert_findings(cur, finding_rows(result, scan_id))
        return scan_id

    def _insert_findings(self, cur: Any, rows: Iterator[tuple[Any, ...]]) -> None:
        """Insert the findings `rows` (finding_rows), ROWS_PER_INSERT rows a
        statement: one statement a row (executemany) binds as many values, but steps the
        database once a row, each step letting go of the interpreter and taking it back, which
        costs half as much again, and more while the output is written beside."""
        per = max(1, min(ROWS_PER_INSERT, self._max_values // FINDING_COLUMNS))
        full = ""
        while batch := list(islice(rows, per)):
            if len(batch) == per:
                full = full or self._findings_insert(per)
                sql = full
            else:
                sql = self._findings_insert(len(batch))
            cur.execute(sql, list(chain.from_iterable(batch)))

    def _findings_insert(self, rows: int) -> str:
        """The INSERT of `rows` findings rows."""
        values = "(" + ", ".join([self.marker] * FINDING_COLUMNS) + ")"
        return (
            "INSERT INTO findings (scan_id, seq, rule_id, resource, area, severity, status, evidence) "
            "VALUES " + ", ".join([values] * rows)
        )

    def save_signed(self, result: RedactedResult, *, origin: str, exit_code: int, provenance: Provenance) -> Outcome:
        p = provenance
        if result.target.get("name") != p.target:
            raise ValueError(f"a scan of '{result.target.get('name')}' with the provenance of '{p.target}'")
        with self._lock, self._transaction() as cur:
            # The head row of the target is taken first (in PostgreSQL the upsert locks it until
            # the commit), so two workers storing bundles of one target take turns.
            cur.execute(
                self._sql(
                    "INSERT INTO evidence_heads (target, collected_at, bundle_digest) VALUES (?, ?, ?) "
                    "ON CONFLICT (target) DO UPDATE SET collected_at = excluded.collected_at, "
                    "bundle_digest = excluded.bundle_digest WHERE evidence_heads.collected_at <= excluded.collected_at "
                    "RETURNING target"
                ),
                (p.target, p.collected_at, p.bundle_digest),
            )
            newest = cur.fetchone() is not None
            cur.execute(self._sql("SELECT scan_id FROM evidence WHERE bundle_digest = ?"), (p.bundle_digest,))
            known = cur.fetchone()
            if known is not None:
                return Outcome("duplicate", int(known[0]), f"already stored as scan {int(known[0])}")
            if not newest:
                cur.execute(self._sql("SELECT collected_at FROM evidence_heads WHERE target = ?"), (p.target,))
                last = cur.fetchone()[0]
                return Outcome("replayed", None, f"collected at {p.collected_at}, before the last accepted bundle "
                                                 f"of {p.target} (collected at {last})")
            scan_id = self._insert(cur, result, origin=origin, exit_code=exit_code)
            cur.execute(
                self._sql(
                    "INSERT INTO evidence (bundle_digest, target, collected_at, signer, request_id, scan_id, received_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)"
                ),
                (p.bundle_digest, p.target, p.collected_at, p.signer, p.request_id, scan_id, rfc3339(utcnow())),
            )
        return Outcome("stored", scan_id)

    def _select(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock, self._cursor() as cur:
            cur.execute(self._sql(sql), tuple(params))
            return list(cur.fetchall())

    def entries(self, target: str | None = None, *, limit: int = 20) -> list[ScanEntry]:
        where, params = ("WHERE target = ?", [target]) if target else ("", [])
        rows = self._select(
            f"SELECT {ENTRY_COLUMNS} FROM scans {where} ORDER BY id DESC LIMIT ?",  # noqa: S608
            [*params, int(limit)],
        )
        return [entry_from_row(r) for r in rows]

    def entry(self, scan_id: int) -> ScanEntry:
        rows = self._select(f"SELECT {ENTRY_COLUMNS} FROM scans WHERE id = ?", [int(scan_id)])  # noqa: S608
        if not rows:
            raise HistoryError(f"no scan {scan_id} in the history at {self.location}")
        return entry_from_row(rows[0])

    def previous(self, scan_id: int) -> ScanEntry | None:
        entry = self.entry(scan_id)
        rows = self._select(
            f"SELECT {ENTRY_COLUMNS} FROM scans WHERE target = ? AND id < ? ORDER BY id DESC LIMIT 1",  # noqa: S608
            [entry.target, entry.id],
        )
        return entry_from_row(rows[0]) if rows else None

    def result(self, scan_id: int) -> RedactedResult:
        rows = self._select("SELECT document, document_zlib FROM scans WHERE id = ?", [int(scan_id)])
        if not rows:
            raise HistoryError(f"no scan {scan_id} in the history at {self.location}")
        try:
            stored = ScanResult.from_dict(stored_document(rows[0][0], rows[0][1]))
        except (ValueError, KeyError, TypeError) as exc:
            raise HistoryError(f"scan {scan_id} in {self.location} is unreadable: {exc}") from None
        return redact_result(stored)

    def targets(self) -> list[str]:
        return [r[0] for r in self._select("SELECT DISTINCT target FROM scans ORDER BY target")]

    def check(self) -> list[str]:
        problems = self._integrity()
        rows = self._select(
            "SELECT s.id, s.findings_count, s.document, s.document_zlib, "
            "(SELECT COUNT(*) FROM findings f WHERE f.scan_id = s.id) FROM scans s ORDER BY s.id"
        )
        for scan_id, expected, document, packed, stored in rows:
            try:
                in_document = len(stored_document(document, packed)["findings"])
            except (ValueError, KeyError, TypeError):
                problems.append(f"scan {scan_id}: its document is not a findings document")
                continue
            if not int(expected) == int(stored) == in_document:
                problems.append(
                    f"scan {scan_id}: {stored} findings rows, {in_document} in the document, "
                    f"{expected} recorded"
                )
        return problems


@contextlib.contextmanager
def closing_cursor(conn: Any) -> Iterator[Any]:
    cur = conn.cursor()
    try:
        yield cur
    finally:
        cur.close()
