"""The history schema and its migrations, shared by the SQLite and PostgreSQL backends.

Each migration has a version and a list of statements; a database records the versions it
has in `schema_migrations`. Opening a history applies the missing ones in one transaction
(a PostgreSQL history shared by a fleet takes an advisory lock first, so two members never
migrate at once). A database newer than this auditor is refused, never written.

Times are RFC 3339 UTC strings, which sort as they read; JSON columns are text, but for a scan's
findings document: since version 3 it is stored zlib-compressed in `document_zlib` (findings
documents run to tens of megabytes and compress about 14 times), `document` left empty; since
version 4 a document may say once what a rule's findings share (document.py), which an auditor
of version 3 would misread, so it refuses the history instead.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]
    """SQL with `{id}` standing for the dialect's auto-increment primary key column type, `{blob}`
    for its type of bytes."""


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "scans with their findings",
        (
            """CREATE TABLE scans (
                id {id},
                target TEXT NOT NULL,
                environment TEXT NOT NULL,
                evaluated_at TEXT NOT NULL,
                stored_at TEXT NOT NULL,
                origin TEXT NOT NULL,
                exit_code INTEGER NOT NULL,
                fail_on TEXT NOT NULL,
                bundle_digest TEXT NOT NULL,
                rules_digest TEXT NOT NULL,
                tool_version TEXT NOT NULL,
                policies TEXT NOT NULL,
                summary TEXT NOT NULL,
                findings_count INTEGER NOT NULL,
                document TEXT NOT NULL
            )""",
            "CREATE INDEX scans_by_target ON scans (target, id)",
            """CREATE TABLE findings (
                scan_id BIGINT NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
                seq INTEGER NOT NULL,
                rule_id TEXT NOT NULL,
                resource TEXT NOT NULL,
                area TEXT NOT NULL,
                severity TEXT NOT NULL,
                status TEXT NOT NULL,
                evidence TEXT NOT NULL,
                PRIMARY KEY (scan_id, seq)
            )""",
            "CREATE INDEX findings_by_rule ON findings (rule_id, status)",
        ),
    ),
    Migration(
        2,
        "signed evidence behind the scans of fleet workers",
        (
            """CREATE TABLE evidence (
                bundle_digest TEXT PRIMARY KEY,
                target TEXT NOT NULL,
                collected_at TEXT NOT NULL,
                signer TEXT NOT NULL,
                request_id TEXT,
                scan_id BIGINT NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
                received_at TEXT NOT NULL
            )""",
            "CREATE INDEX evidence_by_scan ON evidence (scan_id)",
            """CREATE TABLE evidence_heads (
                target TEXT PRIMARY KEY,
                collected_at TEXT NOT NULL,
                bundle_digest TEXT NOT NULL
            )""",
        ),
    ),
    Migration(
        3,
        "scan documents stored compressed",
        ("ALTER TABLE scans ADD COLUMN document_zlib {blob}",),
    ),
    Migration(
        4,
        "scan documents say once what a rule's findings share (finding_defaults)",
        (),  # no table changes: the version keeps auditors that cannot fill them in from reading
    ),
)

ID_COLUMN = {
    "sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT",
    "postgres": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
}
BLOB_COLUMN = {"sqlite": "BLOB", "postgres": "BYTEA"}

MIGRATIONS_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied_at TEXT NOT NULL
)"""


def latest_version(migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    return max((m.version for m in migrations), default=0)
