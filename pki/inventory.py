"""The CA's inventory of every certificate it issued: SQLite in `<CA>/inventory.sqlite`.

A cache of the issuance log (the source of truth, see pki.records): written only from the
records the log replays to, and compared with them by `auditor pki log verify`.

The table layout is documented in docs/pki.md (readers such as auditor's PKI collector use it
read-only). Writers hold the CA lock (see :mod:`pki.ca`), so two processes issuing at once are
serialised and no row is lost; SQLite's own locking protects readers.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pki.errors import CAError, NoInventory
from pki.fsutil import synced
from pki.keys import key_type_of, spki_sha256

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS certificates (
    serial            TEXT PRIMARY KEY,  -- lower-case hex, as `openssl x509 -serial` less zeros
    node              TEXT NOT NULL,     -- node name for leaves, the CA's name for CAs
    profile           TEXT NOT NULL,     -- root, intermediate, nats-server, ...
    subject           TEXT NOT NULL,     -- RFC 4514
    sans              TEXT NOT NULL,     -- JSON: {"dns": [...], "ip": [...]}
    issuer            TEXT NOT NULL,     -- RFC 4514 subject of the issuer
    issuer_serial     TEXT,              -- serial of the issuing CA certificate (NULL: self-signed)
    not_before        TEXT NOT NULL,     -- RFC 3339 UTC, e.g. 2026-01-31T12:00:00Z
    not_after         TEXT NOT NULL,
    key_type          TEXT NOT NULL,     -- ecdsa-p256, ecdsa-p384, ed25519, rsa-3072, ...
    key_fingerprint   TEXT NOT NULL,     -- SHA-256 of the DER SubjectPublicKeyInfo, hex
    status            TEXT NOT NULL CHECK (status IN ('valid', 'revoked', 'superseded')),
    revocation_reason TEXT,              -- CRL reason name when revoked
    revoked_at        TEXT,              -- RFC 3339 UTC when revoked
    issued_at         TEXT NOT NULL,     -- when the CA signed it (RFC 3339 UTC)
    replaces          TEXT,              -- serial of the certificate this one renewed
    pem               TEXT NOT NULL      -- the certificate
);
CREATE INDEX IF NOT EXISTS certificates_not_after ON certificates (status, not_after);
CREATE INDEX IF NOT EXISTS certificates_node ON certificates (node, profile, status);
"""
COLUMNS = (
    "serial", "node", "profile", "subject", "sans", "issuer", "issuer_serial", "not_before",
    "not_after", "key_type", "key_fingerprint", "status", "revocation_reason", "revoked_at",
    "issued_at", "replaces", "pem",
)


def rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def serial_hex(serial: int) -> str:
    return format(serial, "x")


@dataclass(frozen=True)
class Entry:
    """One inventory row."""

    serial: str
    node: str
    profile: str
    subject: str
    sans: dict[str, list[str]]
    issuer: str
    issuer_serial: str | None
    not_before: str
    not_after: str
    key_type: str
    key_fingerprint: str
    status: str
    revocation_reason: str | None
    revoked_at: str | None
    issued_at: str
    replaces: str | None
    pem: str

    def __post_init__(self) -> None:
        uris = self.sans.get("uri")
        if uris and any("@" in u for u in uris):  # signed before pki.build refused them: never shown or stored again
            # imported for such rows only: reading an inventory needs nothing else of pki.build
            from pki.build import without_userinfo

            object.__setattr__(self, "sans", {**self.sans, "uri": [without_userinfo(u) for u in uris]})

    def state(self, now: dt.datetime) -> str:
        """status, with 'expired' for a valid certificate past its notAfter."""
        if self.status == "valid" and self.not_after <= rfc3339(now):
            return "expired"
        return self.status

    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.pem.encode())

    def summary(self, now: dt.datetime) -> dict[str, Any]:
        data = {c: getattr(self, c) for c in COLUMNS if c != "pem"}
        data["state"] = self.state(now)
        return data


def entry_for(
    cert: x509.Certificate, *, node: str, profile: str, issuer_serial: str | None,
    issued_at: dt.datetime, replaces: str | None = None,
) -> Entry:
    sans: dict[str, list[str]] = {"dns": [], "ip": []}
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = {"dns": ext.get_values_for_type(x509.DNSName),
                "ip": [str(i) for i in ext.get_values_for_type(x509.IPAddress)]}
        emails = ext.get_values_for_type(x509.RFC822Name)
        uris = ext.get_values_for_type(x509.UniformResourceIdentifier)
        if emails:
            sans["email"] = emails
        if uris:
            sans["uri"] = uris
    except x509.ExtensionNotFound:
        pass
    public = cert.public_key()
    return Entry(
        serial=serial_hex(cert.serial_number), node=node, profile=profile,
        subject=cert.subject.rfc4514_string(), sans=sans, issuer=cert.issuer.rfc4514_string(),
        issuer_serial=issuer_serial, not_before=rfc3339(cert.not_valid_before_utc),
        not_after=rfc3339(cert.not_valid_after_utc), key_type=key_type_of(public),
        key_fingerprint=spki_sha256(public), status="valid", revocation_reason=None,
        revoked_at=None, issued_at=rfc3339(issued_at), replaces=replaces,
        pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
    )


class Inventory:
    """Access to `inventory.sqlite`. Use as a context manager; writes go through `transaction`."""

    def __init__(self, path: Path, *, create: bool = False, readonly: bool = False) -> None:
        """`readonly`: for readers such as auditor's pki-inventory collector (SQLite mode=ro)."""
        if not create and not path.is_file():
            raise NoInventory(f"{path}: the CA inventory is missing (it can be rebuilt from the issuance log)",
                              path.parent)
        try:
            if readonly:
                self.db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30, isolation_level=None)
            else:
                self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
            self.db.execute("PRAGMA foreign_keys = ON")
            if not readonly and not synced():  # a staging tree's (pki.fsutil.unsynced)
                self.db.execute("PRAGMA synchronous = OFF")
            if create:
                self.db.executescript(SCHEMA)
                self.db.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            version = self.get_meta("schema_version")
        except sqlite3.DatabaseError as exc:
            raise CAError(f"{path}: not a readable CA inventory ({exc})") from None
        if version != str(SCHEMA_VERSION):
            raise CAError(f"{path}: inventory schema version {version}, this tool reads {SCHEMA_VERSION}")
        self.path = path

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Inventory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self) -> _Transaction:
        return _Transaction(self.db)

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def put(self, entries: Sequence[Entry]) -> None:
        """Insert or replace rows (inside a transaction): how the cache follows the log."""
        rows = []
        for e in entries:
            values = [getattr(e, c) for c in COLUMNS]
            values[COLUMNS.index("sans")] = json.dumps(e.sans, sort_keys=True)
            rows.append(values)
        self.db.executemany(
            f"INSERT OR REPLACE INTO certificates ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",  # noqa: S608
            rows,
        )

    def get(self, serial: str) -> Entry | None:
        row = self.db.execute(
            f"SELECT {', '.join(COLUMNS)} FROM certificates WHERE serial = ?", (serial,)  # noqa: S608
        ).fetchone()
        return None if row is None else _entry(row)

    def for_node(self, node: str) -> list[Entry]:
        return list(self._select("WHERE node = ? ORDER BY issued_at DESC, serial", (node,)))

    def entries(self, *, expiring_before: dt.datetime | None = None, now: dt.datetime | None = None,
                status: str | None = None) -> Iterator[Entry]:
        """All entries by notAfter; with `expiring_before`, only valid ones not yet expired at
        `now` whose notAfter is before it."""
        if expiring_before is not None:
            assert now is not None
            yield from self._select(
                "WHERE status = 'valid' AND not_after > ? AND not_after <= ? ORDER BY not_after, serial",
                (rfc3339(now), rfc3339(expiring_before)),
            )
            return
        if status is not None:
            yield from self._select("WHERE status = ? ORDER BY not_after, serial", (status,))
            return
        yield from self._select("ORDER BY not_after, serial", ())

    def _select(self, where: str, params: tuple[Any, ...]) -> Iterator[Entry]:
        cursor = self.db.execute(f"SELECT {', '.join(COLUMNS)} FROM certificates {where}", params)  # noqa: S608
        for row in cursor:
            yield _entry(row)


def _entry(row: Sequence[Any]) -> Entry:
    data = dict(zip(COLUMNS, row, strict=True))
    data["sans"] = json.loads(data["sans"])
    return Entry(**data)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.db.execute("COMMIT")
        else:
            self.db.execute("ROLLBACK")
