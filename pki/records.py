"""The CA's records as its issuance log says them: the log is the source of truth.

:func:`replay` reads `log.jsonl` once, checking the hash chain, and rebuilds every
certificate row (status, revocation, supersession) and every CA's last CRL number. The
inventory (`inventory.sqlite`) is a cache of that: :func:`audit` compares it row by row
(edited, deleted, added and un-revoked rows, by serial) and :func:`sync` / :func:`rebuild`
write it from the records. CRLs are built from the records, never from the cache.

An `intent` entry not followed by its completion (or an `abandon`) is an issuance that was
interrupted; :attr:`Records.open_intent` names it and the CA reconciles it (pki.ca).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pki import log as issuance_log
from pki.errors import LogDoesNotVerify
from pki.fsutil import fsync
from pki.inventory import COLUMNS, Entry, Inventory

ROW_DETAILS = ("sans", "issuer", "issuer_serial", "not_before", "not_after", "key_type", "key_fingerprint",
               "issued_at", "replaces")
"""The inventory columns a completion entry's details carry (serial, node, profile and
subject are the entry's own fields; the certificate is `details.certificate`, base64 DER)."""


@dataclass
class Records:
    """Certificates by serial, last CRL number by CA serial, the log's count and head hash,
    its chain problems, and an interrupted issuance (the log's last entry, an `intent`)."""

    entries: dict[str, Entry] = field(default_factory=dict)
    crl_numbers: dict[str, int] = field(default_factory=dict)
    count: int = 0
    head: str = issuance_log.GENESIS
    problems: list[str] = field(default_factory=list)
    open_intent: dict[str, Any] | None = None
    last: dict[str, Any] | None = None
    snapshot: Records | None = None
    """The records after `snapshot_at` entries (see :func:`replay`)."""

    def copy(self) -> Records:
        return Records(dict(self.entries), dict(self.crl_numbers), self.count, self.head, list(self.problems),
                       self.open_intent, self.last)

    def revoked_by(self, issuer_serial: str) -> list[Entry]:
        return sorted((e for e in self.entries.values() if e.issuer_serial == issuer_serial and e.status == "revoked"),
                      key=lambda e: (e.revoked_at or "", e.serial))

    def apply(self, entry: dict[str, Any], where: str = "") -> set[str]:
        """Apply one log entry; returns the serials whose rows changed."""
        self.count += 1
        self.head = str(entry["hash"])
        self.last = entry
        event, serial = entry["event"], entry["serial"]
        details = entry["details"] if isinstance(entry["details"], dict) else {}
        where = where or f"seq {entry['seq']}"
        if event == "intent":
            if self.open_intent is not None:
                self.problems.append(f"{where}: an intent while serial {self.open_intent['serial']} was still open")
            self.open_intent = entry
            return set()
        if event == "abandon":
            self.open_intent = None
            return set()
        if event in issuance_log.COMPLETIONS:
            self.open_intent = None
            try:
                row = completion_entry(entry)
            except (KeyError, TypeError, ValueError):
                self.problems.append(f"{where}: a {event} entry without its certificate record")
                return set()
            changed = {row.serial}
            if row.serial in self.entries:
                self.problems.append(f"{where}: serial {row.serial} issued a second time")
            self.entries[row.serial] = row
            if event == "renew" and row.replaces in self.entries:
                self.entries[row.replaces] = dataclasses.replace(self.entries[row.replaces], status="superseded")
                changed.add(row.replaces)
            if isinstance(details.get("crl_number"), int):
                self.crl_numbers[row.serial] = details["crl_number"]
            return changed
        if event == "revoke":
            old = self.entries.get(str(serial))
            if old is None:
                self.problems.append(f"{where}: revokes serial {serial}, which the log never issued")
                return set()
            self.entries[old.serial] = dataclasses.replace(
                old, status="revoked", revocation_reason=details.get("reason"), revoked_at=details.get("revoked_at"))
            self._crl_number(details)
            return {old.serial}
        if event == "crl":
            self._crl_number(details)
        return set()

    def _crl_number(self, details: dict[str, Any]) -> None:
        issuer, number = details.get("issuer_serial"), details.get("crl_number", details.get("number"))
        if isinstance(issuer, str) and isinstance(number, int):
            self.crl_numbers[issuer] = number


def _pem(der_b64: str) -> str:
    lines = "\n".join(der_b64[i:i + 64] for i in range(0, len(der_b64), 64))
    return f"-----BEGIN CERTIFICATE-----\n{lines}\n-----END CERTIFICATE-----\n"


def certificate_b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def completion_details(row: Entry, cert: x509.Certificate, **extra: Any) -> dict[str, Any]:
    """A completion entry's details: the inventory row's fields and the certificate itself."""
    return {**{k: getattr(row, k) for k in ROW_DETAILS}, "certificate": certificate_b64(cert), **extra}


def completion_entry(entry: dict[str, Any]) -> Entry:
    """The inventory row a completion entry records."""
    d = entry["details"]
    der_b64 = d["certificate"]
    if not isinstance(der_b64, str):
        raise TypeError("certificate")
    values = {k: d[k] if k != "replaces" else d.get("replaces") for k in ROW_DETAILS}
    return Entry(serial=str(entry["serial"]), node=str(entry["node"]), profile=str(entry["profile"]),
                 subject=str(entry["subject"]), status="valid", revocation_reason=None, revoked_at=None,
                 pem=_pem(der_b64), **values)


def certificate_of(entry: dict[str, Any]) -> x509.Certificate:
    return x509.load_der_x509_certificate(base64.b64decode(entry["details"]["certificate"]))


def replay(path: Path, *, snapshot_at: int | None = None) -> Records:
    """The records the log at `path` describes, with its chain problems. With `snapshot_at`,
    `Records.snapshot` holds the records after that many entries (what an inventory that
    recorded that count should hold)."""
    records = Records()
    if snapshot_at == 0:
        records.snapshot = records.copy()
    for number, entry, problems in issuance_log.chain(path):
        if entry is None:
            records.count += 1
            records.problems += problems
        else:
            records.problems += problems
            records.apply(entry, f"line {number} (seq {entry['seq']})")
        if snapshot_at is not None and records.count == snapshot_at:
            records.snapshot = records.copy()
    return records


# -- the inventory as a cache ------------------------------------------------------------------


def _meta(inv: Inventory) -> tuple[int, str | None, dict[str, int]]:
    count = inv.get_meta("log_count")
    numbers = {}
    for key, value in inv.db.execute("SELECT key, value FROM meta WHERE key LIKE 'crl_number:%'"):
        with contextlib.suppress(ValueError):
            numbers[str(key).split(":", 1)[1]] = int(value)
    return int(count) if count and count.isdigit() else 0, inv.get_meta("log_head"), numbers


def inventory_count(inv: Inventory) -> int:
    return _meta(inv)[0]


def audit(records: Records, inv: Inventory) -> tuple[list[str], list[str]]:
    """Problems (tampering: the chain, or an inventory that differs from the log) and notes
    (an interrupted issuance; an inventory behind the log after a crash) of `records`
    (replayed with `snapshot_at` = the inventory's log_count) against the inventory."""
    problems = list(records.problems)
    notes = []
    count, head, numbers = _meta(inv)
    expected = records
    if count != records.count or head != records.head:
        snap = records.snapshot
        if count < records.count and snap is not None and snap.count == count and snap.head == (head or issuance_log.GENESIS):
            expected = snap
            behind = records.count - count
            notes.append(f"the inventory is {behind} log {'entry' if behind == 1 else 'entries'} behind (a crash "
                         "before it was updated); the next pki command brings it up to date")
        elif count != records.count:
            problems.append(f"the log has {records.count} entries but the inventory recorded {count}: "
                            "entries removed or added")
        else:
            problems.append("the last entry is not the one the inventory recorded: the log was rewritten")
    if records.open_intent is not None:
        notes.append(f"an issuance was interrupted (serial {records.open_intent['serial']}, intent seq "
                     f"{records.open_intent['seq']}); the next pki command that changes the CA reconciles it")
    rows = {e.serial: e for e in inv.entries()}
    problems += _row_problems(expected, rows)
    for issuer, number in sorted(numbers.items()):
        if expected.crl_numbers.get(issuer) != number:
            problems.append(f"CRL number of CA {issuer}: {number} in the inventory, "
                            f"{expected.crl_numbers.get(issuer)} in the log")
    return problems, notes


def _row_problems(records: Records, rows: dict[str, Entry]) -> list[str]:
    problems = []
    for serial, logged in records.entries.items():
        row = rows.get(serial)
        if row is None:
            problems.append(f"serial {serial}: deleted from the inventory (the log recorded it, issued {logged.issued_at})")
            continue
        if row == logged:
            continue
        if logged.status == "revoked" and row.status != "revoked":
            problems.append(f"serial {serial}: un-revoked in the inventory (the log revoked it on {logged.revoked_at}, "
                            f"{logged.revocation_reason}; the inventory says {row.status})")
            continue
        fields = [c for c in COLUMNS if getattr(row, c) != getattr(logged, c)]
        problems.append(f"serial {serial}: edited in the inventory ({', '.join(fields)} differ from the log)")
    for serial in sorted(set(rows) - set(records.entries)):
        problems.append(f"serial {serial}: in the inventory but not in the log (not issued through the CA's records)")
    return problems


def sync(inv: Inventory, records: Records, serials: Iterable[str] | None = None) -> None:
    """Write `serials` (None: every row that differs) and the log figures into the inventory,
    in one transaction."""
    with inv.transaction():
        if serials is None:
            rows = {e.serial: e for e in inv.entries()}
            serials = [s for s, e in records.entries.items() if rows.get(s) != e]
        inv.put([records.entries[s] for s in serials if s in records.entries])
        inv.set_meta("log_count", str(records.count))
        inv.set_meta("log_head", records.head)
        for issuer, number in records.crl_numbers.items():
            inv.set_meta(f"crl_number:{issuer}", str(number))


def rebuild(folder: Path, records: Records) -> None:
    """Write a new `inventory.sqlite` from `records` and put it in place atomically."""
    if records.problems:
        raise LogDoesNotVerify(f"{folder / 'log.jsonl'}: does not verify; the inventory is not rebuilt from it",
                               folder)
    fd, tmp = tempfile.mkstemp(prefix=".inventory.", suffix=".sqlite", dir=folder)
    os.close(fd)
    os.unlink(tmp)
    try:
        with Inventory(Path(tmp), create=True) as inv:
            sync(inv, records, list(records.entries))
        with open(tmp, "rb") as fh:
            fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, folder / "inventory.sqlite")
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
