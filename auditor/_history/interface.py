"""The history seam: where scans are stored, and the values read back from it.

One abstract :class:`Store` with two backends: SQLite (the default, one file per user) and
PostgreSQL (a history shared by a fleet). Both keep the same schema (see schema.py); every
scan is written in one transaction, so a reader or a crash never sees half a scan.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

from auditor._exitcodes import ExitCode
from auditor._history.document import document_rest, packed_ahead
from auditor._models import RedactedResult
from auditor._timeutil import rfc3339, utcnow
from auditor.errors import AuditorError


class HistoryError(AuditorError):
    """The history database cannot be opened, read or written (exit 2)."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class ScanEntry:
    """One stored scan as the history lists it (without its findings)."""

    id: int
    target: str
    environment: str
    evaluated_at: str
    stored_at: str
    origin: str
    """What stored it: scan, evaluate, fleet or serve."""
    exit_code: int
    fail_on: str
    bundle_digest: str
    rules_digest: str
    tool_version: str
    policies: tuple[str, ...]
    summary: Mapping[str, Any]
    """Summary.to_dict() of the scan's findings."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "target": self.target,
            "environment": self.environment,
            "evaluated_at": self.evaluated_at,
            "stored_at": self.stored_at,
            "origin": self.origin,
            "exit_code": self.exit_code,
            "fail_on": self.fail_on,
            "bundle_digest": self.bundle_digest,
            "rules_digest": self.rules_digest,
            "tool_version": self.tool_version,
            "policies": list(self.policies),
            "summary": dict(self.summary),
        }


ENTRY_COLUMNS = (
    "id, target, environment, evaluated_at, stored_at, origin, exit_code, fail_on, "
    "bundle_digest, rules_digest, tool_version, policies, summary"
)


def entry_from_row(row: Sequence[Any]) -> ScanEntry:
    """A ScanEntry from a row selected with ENTRY_COLUMNS."""
    return ScanEntry(
        id=int(row[0]),
        target=row[1],
        environment=row[2],
        evaluated_at=row[3],
        stored_at=row[4],
        origin=row[5],
        exit_code=int(row[6]),
        fail_on=row[7],
        bundle_digest=row[8],
        rules_digest=row[9],
        tool_version=row[10],
        policies=tuple(json.loads(row[11])),
        summary=json.loads(row[12]),
    )


def scan_row(result: RedactedResult, *, origin: str, exit_code: int) -> tuple[dict[str, Any], bytes]:
    """The values of a scans row for `result` (everything but the id): the redacted result,
    so this row and the findings rows hold what is printed. The row's `document_zlib` is left
    None: it is document.packed_document(result, rest), with `rest` returned beside the row (the
    document's problems, summary... encoded; empty when the document was packed ahead), so a
    store can pack it while it writes the rows."""
    rest = b"" if packed_ahead(result) else document_rest(result)
    row = {
        "target": str(result.target.get("name", "")),
        "environment": str(result.target.get("environment", "")),
        "evaluated_at": result.evaluated_at,
        "stored_at": rfc3339(utcnow()),
        "origin": origin,
        "exit_code": int(exit_code),
        "fail_on": result.fail_on.value,
        "bundle_digest": result.bundle_digest,
        "rules_digest": str(result.tool.get("rules_digest", "")),
        "tool_version": str(result.tool.get("version", "")),
        "policies": json.dumps(list(result.policies)),
        "summary": json.dumps(result.summary.to_dict(), sort_keys=True),
        "findings_count": len(result.findings),
        "document": "",
        "document_zlib": None,
    }
    return row, rest


@dataclass(frozen=True)
class Provenance:
    """Where a worker's scan came from: signed evidence that passed verification."""

    bundle_digest: str
    target: str
    collected_at: str
    """The bundle's created_at (RFC 3339 UTC), as signed."""
    signer: str
    """The signing certificate's subject."""
    request_id: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What storing a worker's scan did: `stored` a new scan, found it `duplicate` (stored
    before, e.g. a redelivery), or refused it as `replayed` (older than the target's last one)."""

    status: str
    scan_id: int | None
    reason: str = ""


def finding_rows(result: RedactedResult, scan_id: int) -> Iterator[tuple[Any, ...]]:
    """(scan_id, seq, rule_id, resource, area, severity, status, evidence ids as JSON) per
    finding, made as they are stored."""
    from auditor._render.json import ids_json

    return (
        (
            scan_id,
            seq,
            f.rule_id,
            f.resource,
            f.area,
            f.severity._value_,  # the enum's value without its descriptor: a sixth of this per row
            f.status._value_,
            ids_json(f.evidence),
        )
        for seq, f in enumerate(result.findings)
    )


class Store(abc.ABC):
    """A history of scans. Methods raise HistoryError with a message for the user."""

    location: str
    """Where the history lives, fit to show (a path, or a URL without its password)."""

    @abc.abstractmethod
    def save(self, result: RedactedResult, *, origin: str, exit_code: int,
             before_commit: Callable[[], object] | None = None) -> int:
        """Store `result` (redacted: nothing else may be stored) with its findings in one
        transaction; return the new scan id. `before_commit` is called once everything is
        written, before the commit: if it raises, nothing is stored (the command line waits
        there until its output is written, see auditor._cli._history.Storing)."""

    @abc.abstractmethod
    def save_signed(self, result: RedactedResult, *, origin: str, exit_code: int, provenance: Provenance) -> Outcome:
        """Store a scan of signed evidence once: a bundle already stored is a `duplicate` (its
        scan id returned, nothing written); one collected before the last accepted bundle of its
        target is `replayed` (nothing written). The check and the write are one transaction."""

    @abc.abstractmethod
    def entries(self, target: str | None = None, *, limit: int = 20) -> list[ScanEntry]:
        """The newest `limit` scans (of `target`, or of every target), newest first."""

    @abc.abstractmethod
    def entry(self, scan_id: int) -> ScanEntry:
        """One scan's entry; HistoryError if there is no such scan."""

    @abc.abstractmethod
    def result(self, scan_id: int) -> RedactedResult:
        """One scan's full result, findings included (redacted again as it is read back: the
        database is a file others may write to)."""

    @abc.abstractmethod
    def targets(self) -> list[str]:
        """The names of the targets that have stored scans."""

    @abc.abstractmethod
    def check(self) -> list[str]:
        """Consistency problems (empty when the history is sound): every scan's findings rows
        match its document, and the database's own integrity check passes."""

    @property
    @abc.abstractmethod
    def schema_version(self) -> int:
        """The schema version the database is at."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection (and, for SQLite, fold the WAL back into the file)."""

    @abc.abstractmethod
    def previous(self, scan_id: int) -> ScanEntry | None:
        """The scan of the same target stored just before `scan_id`, if any."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
