"""The fleet PKI's own records: a CA folder made by `auditor pki`, read as evidence, never written.

For each CA folder (docs/pki.md describes the format): one `pki.ca` record (root and
intermediates with their key backends, intermediate rotation and the overlap bundle, the
issuance log verified (its hash chain, and the inventory compared row by row with what the
log replays to), each CA certificate's CRL with its freshness, counts) and one
`pki.certificate` record per certificate the log records (status and state, expiry,
revocation, profile, key fingerprint, whether a renewal reused the key): the log is the
CA's source of truth, the inventory a cache opened with SQLite read-only (`mode=ro`).

With `deployed` (the node's certificate files or folders), each certificate also lists where
it is deployed on the node, matched by issuer and serial: that is how a certificate the CA
revoked but the node still presents is found. And each deployed certificate becomes a
`pki.deployed` record saying whether one of the CA's keys signed it and whether the log
records its serial: a certificate signed by the CA's key that the log does not know was
issued outside the CA's records (a misused CA key).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from auditor import _limits as limits
from auditor._collectors._files import Unreadable, read_bounded
from auditor._collectors._untrusted import UnexpectedValue, text_or_none
from auditor._collectors.certificates import certificate_files, read_certificate_file
from auditor._collectors.interface import Collector
from auditor._timeutil import rfc3339
from auditor.evidence.kinds.pki import (
    CaCertificate,
    CaKey,
    Counts,
    Crl,
    IssuanceLog,
    PkiCa,
    PkiCertificate,
    PkiDeployed,
    Rotation,
)
from auditor.evidence.record import Record
from pki import log as issuance_log
from pki import records as ca_records
from pki.ca import CA, CACert
from pki.crl import load_crls
from pki.errors import PKIError
from pki.facts import signed_by
from pki.inventory import Inventory, serial_hex

CA_KIND, CERT_KIND, DEPLOYED_KIND = "pki.ca", "pki.certificate", "pki.deployed"


@dataclass(frozen=True)
class _Deployed:
    path: str
    resource: str
    cert: x509.Certificate


_STATUS: dict[str, Literal["valid", "revoked", "superseded"]] = {
    "valid": "valid", "revoked": "revoked", "superseded": "superseded"}
_STATE: dict[str, Literal["valid", "expired", "revoked", "superseded"]] = {**_STATUS, "expired": "expired"}


def _days(delta: dt.timedelta) -> float:
    """Days, unrounded: rules compare them with thresholds and print them with wholeDays, as they
    do the days they compute from timestamps (rounding here made 7.9999 days print as 8)."""
    return delta.total_seconds() / 86400


class PkiInventoryCollector(Collector):
    name = "pki-inventory"
    kinds = (CA_KIND, CERT_KIND, DEPLOYED_KIND)

    def collect(self) -> Iterator[Record]:
        ctx = self.context
        deployed: dict[tuple[str, str], list[str]] = {}
        items: list[_Deployed] = []
        for path in ctx.source.path_option(ctx.root, "deployed"):
            real = ctx.real(path)
            if not real.exists():
                yield from ctx.errors((CERT_KIND, DEPLOYED_KIND), ctx.display(path), "no such file or folder (deployed)")
                continue
            explicit = not real.is_dir()
            for file in certificate_files(path):
                found, _errors = read_certificate_file(file, explicit=explicit)
                for item in found:
                    key = (item.cert.issuer.rfc4514_string(), serial_hex(item.cert.serial_number))
                    deployed.setdefault(key, []).append(ctx.display(file))
                    shown = ctx.display(file)
                    items.append(_Deployed(shown, shown if item.count == 1 else f"{shown}#{item.index}", item.cert))
        for folder in ctx.source.path_option(ctx.root, "folders"):
            try:
                yield from self._folder(folder, deployed, items)
            except PKIError as exc:  # the folder's certificates and deployments are unknown too
                yield from ctx.errors(self.kinds, ctx.display(folder), str(exc))

    def _folder(self, folder: Path, deployed: dict[tuple[str, str], list[str]],
                items: list[_Deployed]) -> Iterator[Record]:
        ctx = self.context
        shown = ctx.display(folder)
        ca = CA.open(folder)
        now = ctx.now
        with Inventory(folder / "inventory.sqlite", readonly=True) as inv:
            logged = ca_records.replay(folder / "log.jsonl", snapshot_at=ca_records.inventory_count(inv))
            problems, notes = ca_records.audit(logged, inv)
        unread: list[tuple[Path, str]] = []
        entries = sorted(logged.entries.values(), key=lambda e: (e.not_after, e.serial))
        counts = {"total": len(entries), "valid": 0, "expired": 0, "revoked": 0, "superseded": 0}
        fingerprints = {e.serial: e.key_fingerprint for e in entries}
        valid_key_types: dict[str, int] = {}
        records = []
        for entry in entries:
            state = entry.state(now)
            counts[state] += 1
            if state == "valid":
                valid_key_types[entry.key_type] = valid_key_types.get(entry.key_type, 0) + 1
            data = PkiCertificate(
                serial=entry.serial, node=entry.node, profile=entry.profile, subject=entry.subject,
                sans={k: tuple(v) for k, v in entry.sans.items()}, issuer=entry.issuer,
                issuer_serial=entry.issuer_serial, not_before=entry.not_before, not_after=entry.not_after,
                key_type=entry.key_type, key_fingerprint=entry.key_fingerprint, status=_STATUS[entry.status],
                state=_STATE[state], revocation_reason=entry.revocation_reason, revoked_at=entry.revoked_at,
                issued_at=entry.issued_at, replaces=entry.replaces, ca=ca.name,
                days_left=_days(dt.datetime.fromisoformat(entry.not_after.replace("Z", "+00:00")) - now),
                reused_key=(fingerprints.get(entry.replaces) == entry.key_fingerprint) if entry.replaces else None,
                deployed=tuple(sorted(deployed.get((entry.issuer, entry.serial), []))),
            )
            records.append(ctx.record(f"{shown}#{entry.serial}", data))
        events, last_event = self._events(folder / "log.jsonl")
        try:
            root = self._ca_cert(ca, ca.root, "root")
            intermediates = tuple(self._ca_cert(ca, i, f"intermediates[{n}]") for n, i in enumerate(ca.intermediates))
        except UnexpectedValue as exc:  # a key reference in ca.json of the wrong type
            yield ctx.error(CA_KIND, shown, str(exc))
        else:
            yield ctx.record(shown, PkiCa(
                folder=shown,
                name=ca.name,
                root=root,
                intermediates=intermediates,
                current_intermediate=ca.current_serial,
                rotation=self._rotation(ca, unread),
                log=IssuanceLog(entries=logged.count, verified=not problems, problems=tuple(problems),
                                notes=tuple(notes), events=events, last_event=last_event),
                crls=tuple(self._crl(ca, record, unread) for record in (ca.root, *ca.intermediates)),
                certificates=Counts(**counts),
                valid_key_types=valid_key_types,
            ))
        for path, problem in unread:  # not evaluated, rather than judged on what was not read
            yield ctx.error(CA_KIND, ctx.display(path), problem)
        yield from records
        yield from self._deployed(ca, shown, logged, items)

    def _deployed(self, ca: CA, shown: str, logged: ca_records.Records,
                  items: list[_Deployed]) -> Iterator[Record]:
        """Each deployed certificate: which of the CA's keys signed it, if any, and whether
        the log records it (by serial, and the same certificate)."""
        keys = [(serial, cert) for serial, cert in ca.ca_certificates()]
        for item in items:
            serial = serial_hex(item.cert.serial_number)
            signer = next(((s, c) for s, c in keys if signed_by(item.cert, c.public_key())), None)
            row = logged.entries.get(serial)
            same = row is not None and row.pem.encode() == item.cert.public_bytes(serialization.Encoding.PEM)
            yield self.context.record(f"{item.resource}@{shown}", PkiDeployed(
                path=item.path, ca=shown, serial=serial, subject=item.cert.subject.rfc4514_string(),
                issuer=item.cert.issuer.rfc4514_string(), not_after=rfc3339(item.cert.not_valid_after_utc),
                signed_by=signer[0] if signer else None,
                signed_by_subject=signer[1].subject.rfc4514_string() if signer else None,
                in_log=same, status=_STATUS[row.status] if same and row else None,
            ))

    def _ca_cert(self, ca: CA, record: CACert, where: str) -> CaCertificate:
        cert = ca.certificate(record.serial)
        return CaCertificate(
            serial=record.serial, subject=cert.subject.rfc4514_string(),
            not_before=rfc3339(cert.not_valid_before_utc), not_after=rfc3339(cert.not_valid_after_utc),
            days_left=_days(cert.not_valid_after_utc - self.context.now),
            current=record.serial == ca.current_serial, key=_key(record.key, f"{where}.key"),
        )

    def _rotation(self, ca: CA, unread: list[tuple[Path, str]]) -> Rotation:
        now = self.context.now
        bundle_path = ca.folder / "certs/ca-bundle.pem"
        bundle: set[str] = set()
        try:
            data = read_bounded(bundle_path)
            blocks = data.count(b"-----BEGIN")
            if blocks > limits.get("pem-certificates"):
                raise Unreadable(limits.exceeded("pem-certificates", f"holds {blocks:,} PEM blocks"), "too-large")
            bundle = {serial_hex(c.serial_number) for c in x509.load_pem_x509_certificates(data)}
        except Unreadable as exc:
            if exc.why != "missing":  # a missing bundle is judged incomplete
                unread.append((bundle_path, str(exc)))
        except ValueError:
            pass
        usable = [i.serial for i in ca.intermediates if ca.certificate(i.serial).not_valid_after_utc > now]
        current = ca.current_serial
        previous = None
        if current is not None:
            older = [i for i in ca.intermediates if i.serial != current]
            if older:
                previous = max(older, key=lambda i: ca.certificate(i.serial).not_valid_before_utc)
        overlap = None
        if previous is not None and current is not None:
            overlap = _days(ca.certificate(previous.serial).not_valid_after_utc
                            - ca.certificate(current).not_valid_before_utc)
        return Rotation(
            previous=previous.serial if previous else None,
            overlap_days=overlap,
            bundle_complete=bool(usable) and all(s in bundle for s in usable) and ca.root.serial in bundle,
            bundle_missing=tuple(sorted(s for s in usable if s not in bundle)),
        )

    def _events(self, path: Path) -> tuple[dict[str, int], dict[str, str]]:
        """Entries per event, and the time of the last entry per event."""
        counts: dict[str, int] = {}
        last: dict[str, str] = {}
        try:
            for _number, entry, _problem in issuance_log.read(path):
                if entry is None:
                    continue
                event = str(entry["event"])
                counts[event] = counts.get(event, 0) + 1
                last[event] = max(last.get(event, ""), str(entry["time"]))
        except PKIError:
            pass  # a missing log is reported by the verification
        return counts, last

    def _crl(self, ca: CA, record: CACert, unread: list[tuple[Path, str]]) -> Crl:
        issuer = ca.certificate(record.serial)
        path = ca.folder / "crl" / f"{record.serial}.pem"

        def absent(problem: str) -> Crl:
            return Crl(issuer_serial=record.serial, issuer=issuer.subject.rfc4514_string(),
                       issuer_expired=issuer.not_valid_after_utc <= self.context.now,
                       present=False, signature_valid=False, number=None, this_update=None,
                       next_update=None, hours_left=None, revoked=0, problem=problem)

        try:
            crls = [c for c in load_crls(read_bounded(path), str(path)) if c.issuer == issuer.subject]
        except Unreadable as exc:
            if exc.why == "missing":
                return absent("no CRL")
            unread.append((path, str(exc)))
            return absent(str(exc))
        except PKIError as exc:
            return absent(str(exc))
        if not crls:
            return absent("the file holds no CRL of this CA")
        crl = max(crls, key=lambda c: c.last_update_utc)
        try:
            number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        except x509.ExtensionNotFound:
            number = None
        next_update = crl.next_update_utc
        return Crl(
            issuer_serial=record.serial, issuer=issuer.subject.rfc4514_string(),
            issuer_expired=issuer.not_valid_after_utc <= self.context.now,
            present=True,
            signature_valid=crl.is_signature_valid(issuer.public_key()),  # type: ignore[arg-type]
            number=number,
            this_update=rfc3339(crl.last_update_utc),
            next_update=rfc3339(next_update) if next_update else None,
            hours_left=round((next_update - self.context.now).total_seconds() / 3600, 2) if next_update else None,
            revoked=len(crl),
            problem=None,
        )


def _key(key: Mapping[str, Any], where: str) -> CaKey:
    """A CA key's reference in ca.json (backend, key type, a YubiKey's serial and slot), without secrets."""
    serial = key.get("serial")
    if serial is not None and (isinstance(serial, bool) or not isinstance(serial, int | str)):
        raise UnexpectedValue("int | str | null", serial, f"{where}.serial")
    return CaKey(backend=text_or_none(key.get("backend"), f"{where}.backend"),
                 key_type=text_or_none(key.get("key_type"), f"{where}.key_type"),
                 serial=serial, slot=text_or_none(key.get("slot"), f"{where}.slot"))
