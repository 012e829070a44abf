"""The CA folder: a root, its intermediates, the inventory, the issuance log and the CRLs.

Layout (documented for readers in docs/pki.md)::

    CA/
      ca.json               what the CA is: names, certificates and key references
      certs/root.pem        the root certificate (the trust anchor)
      certs/intermediate-<serial>.pem   every intermediate, current and retired
      certs/intermediate.pem            the current (issuing) intermediate
      certs/chain.pem       current intermediate + root (what leaves send)
      certs/ca-bundle.pem   overlap bundle: every usable intermediate, newest first, + root
      private/*.key.pem     file-backend keys: encrypted PKCS#8, mode 0600
      attestation/          YubiKey attestation certificates of hardware-generated keys
      crl/<serial>.pem      the CRL of each CA certificate, by the CA's serial
      inventory.sqlite      every certificate issued (pki.inventory)
      log.jsonl             the hash-chained issuance log (pki.log)
      profiles/NAME.yaml    optional: this CA's own profiles, replacing shipped ones
      .lock                 held while the CA changes anything

Every change happens under the lock; files are written atomically and a failed operation
leaves nothing half-made.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from pki import keys
from pki import log as issuance_log
from pki.backends.interface import KeyBackend
from pki.build import build_certificate, parse_sans, subject_name
from pki.crl import DEFAULT_DAYS, ROOT_DAYS, Revoked, build_crl, check_reason
from pki.errors import CAError, KeyAccessError, NoCA, NoIntermediate
from pki.fsutil import atomic_write, write_files
from pki.inventory import Entry, Inventory, entry_for, rfc3339, serial_hex
from pki.profiles import Profile, load_profile

FORMAT = "auditor-pki-ca"
FORMAT_VERSION = 1
LOCK_TIMEOUT = 30.0
CLOCK_SKEW = dt.timedelta(minutes=5)
_NODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,252}$")

KeyOpener = Callable[[dict[str, Any]], CertificateIssuerPrivateKeyTypes]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def normalise_serial(text: str) -> str:
    """A serial as the inventory keeps it: lower-case hex without leading zeros."""
    raw = text.strip().lower().removeprefix("0x").replace(":", "")
    if not raw or not re.fullmatch(r"[0-9a-f]+", raw):
        raise CAError(f"serial '{text}' is not a hexadecimal serial number")
    return serial_hex(int(raw, 16))


@dataclass(frozen=True)
class Issued:
    """A certificate just issued and the files written for it."""

    certificate: x509.Certificate
    entry: Entry
    files: tuple[Path, ...]


@dataclass(frozen=True)
class CACert:
    """A CA certificate of this CA (the root or an intermediate) and its key reference."""

    serial: str
    name: str
    certificate_path: str
    key: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"serial": self.serial, "name": self.name, "certificate": self.certificate_path, "key": self.key}


class CA:
    """A CA folder. Open one with :meth:`open`, make one with :meth:`init`."""

    def __init__(self, folder: Path, config: dict[str, Any]) -> None:
        self.folder = folder
        self.config = config
        try:
            self.name = str(config["name"])
            self.organization: str | None = config.get("organization")
            self.root = _ca_cert(config["root"])
            self.intermediates = [_ca_cert(i) for i in config.get("intermediates", [])]
            self.current_serial: str | None = config.get("current_intermediate")
        except (KeyError, TypeError, ValueError) as exc:
            raise CAError(f"{folder / 'ca.json'}: malformed ({exc})") from None
        self._certs: dict[str, x509.Certificate] = {}

    # -- opening and making ------------------------------------------------------------------

    @classmethod
    def open(cls, folder: Path) -> CA:
        folder = Path(folder)
        if not folder.exists():
            raise NoCA(f"{folder}: no such CA folder", folder)
        if not folder.is_dir():
            raise CAError(f"{folder}: not a folder")
        path = folder / "ca.json"
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NoCA(f"{folder}: not a CA folder (no ca.json)", folder) from None
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise CAError(f"{path}: unreadable ({exc})") from None
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            raise CAError(f"{path}: not an auditor PKI CA description")
        if config.get("version") != FORMAT_VERSION:
            raise CAError(f"{path}: format version {config.get('version')}; this tool reads {FORMAT_VERSION}")
        return cls(folder, config)

    @classmethod
    def init(
        cls,
        folder: Path,
        name: str,
        backend: KeyBackend,
        *,
        key_type: str | None = None,
        organization: str | None = None,
        lifetime_days: int | None = None,
        not_before: dt.datetime | None = None,
        now: dt.datetime | None = None,
    ) -> CA:
        """Make a new CA folder with a self-signed root. The folder must not exist or be empty."""
        folder = Path(folder)
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise CAError(f"{folder}: already exists and is not empty; refusing to overwrite a CA")
        if not folder.parent.is_dir():
            raise CAError(f"{folder.parent}: folder does not exist")
        now = now or _utcnow()
        profile = load_profile("root")
        key_type = keys.check_key_type(key_type or profile.key_type)
        work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.init-", dir=folder.parent))
        try:
            os.chmod(work, 0o700)
            for sub in ("certs", "private", "crl"):
                (work / sub).mkdir(mode=0o700 if sub == "private" else 0o755)
            generated = backend.generate(key_type, "root")
            cert = build_certificate(
                profile=profile, subject=subject_name(name, organization),
                public_key=generated.signer.public_key(), issuer=None, signer=generated.signer,
                not_before=not_before or now - CLOCK_SKEW, lifetime_days=lifetime_days,
            )
            serial = serial_hex(cert.serial_number)
            for rel, (data, mode) in generated.files.items():
                (work / rel).parent.mkdir(exist_ok=True)
                atomic_write(work / rel, data, mode=mode)
            atomic_write(work / "certs/root.pem", pem(cert))
            config = {
                "format": FORMAT, "version": FORMAT_VERSION, "name": name, "organization": organization,
                "created": rfc3339(now),
                "root": CACert(serial, name, "certs/root.pem", generated.ref).to_json(),
                "intermediates": [], "current_intermediate": None,
            }
            atomic_write(work / "ca.json", (json.dumps(config, indent=2) + "\n").encode())
            ca = cls(work, config)
            with Inventory(work / "inventory.sqlite", create=True) as inv, inv.transaction():
                entry = entry_for(cert, node=name, profile="root", issuer_serial=None, issued_at=now)
                inv.add(entry)
                ca._log(inv, "init", entry, {"key_backend": generated.ref.get("backend"), "key_type": key_type})
                ca._write_crl(inv, serial, generated.signer, now, ROOT_DAYS)
            if folder.exists():
                folder.rmdir()
            work.rename(folder)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        finally:
            backend.close()
        return cls.open(folder)

    # -- reading -----------------------------------------------------------------------------

    def certificate(self, serial: str) -> x509.Certificate:
        if serial not in self._certs:
            record = self._record(serial)
            path = self.folder / record.certificate_path
            try:
                self._certs[serial] = x509.load_pem_x509_certificate(path.read_bytes())
            except (OSError, ValueError) as exc:
                raise CAError(f"{path}: cannot read the CA certificate ({exc})") from None
        return self._certs[serial]

    @property
    def root_certificate(self) -> x509.Certificate:
        return self.certificate(self.root.serial)

    def _record(self, serial: str) -> CACert:
        for record in (self.root, *self.intermediates):
            if record.serial == serial:
                return record
        raise CAError(f"serial {serial} is not a CA certificate of {self.folder}")

    def current_intermediate(self) -> CACert:
        if self.current_serial is None:
            raise NoIntermediate(f"{self.folder}: has no intermediate CA yet", self.folder)
        return self._record(self.current_serial)

    def inventory(self) -> Inventory:
        return Inventory(self.folder / "inventory.sqlite")

    def intermediate_certificates(self) -> list[x509.Certificate]:
        return [self.certificate(i.serial) for i in self.intermediates]

    def crls(self) -> list[x509.CertificateRevocationList]:
        out = []
        for record in (self.root, *self.intermediates):
            path = self.folder / "crl" / f"{record.serial}.pem"
            if path.is_file():
                with contextlib.suppress(ValueError):
                    out.append(x509.load_pem_x509_crl(path.read_bytes()))
        return out

    # -- locking -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
        """Hold the CA lock; wait up to `timeout` seconds for another process to finish."""
        path = self.folder / ".lock"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise CAError(f"{path}: cannot open the lock file: {exc.strerror or exc}") from None
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise CAError(f"{path}: cannot lock: {exc.strerror}") from None
                    if time.monotonic() >= deadline:
                        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                        raise CAError(
                            f"{self.folder}: the CA folder is locked by another process (pid {holder}); "
                            f"waited {timeout:g} s"
                        ) from None
                    time.sleep(0.05)
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)

    # -- changing ----------------------------------------------------------------------------

    def _log(self, inv: Inventory, event: str, entry: Entry | None, details: dict[str, Any],
             node: str | None = None) -> None:
        written = issuance_log.append(
            self.folder / "log.jsonl", event=event,
            serial=entry.serial if entry else None,
            node=entry.node if entry else node,
            profile=entry.profile if entry else None,
            subject=entry.subject if entry else None,
            details=details,
        )
        inv.set_meta("log_count", str(written["seq"]))
        inv.set_meta("log_head", str(written["hash"]))

    def _save_config(self) -> None:
        self.config["intermediates"] = [i.to_json() for i in self.intermediates]
        self.config["current_intermediate"] = self.current_serial
        atomic_write(self.folder / "ca.json", (json.dumps(self.config, indent=2) + "\n").encode())

    def create_intermediate(
        self,
        name: str,
        open_key: KeyOpener,
        backend: KeyBackend,
        *,
        key_type: str | None = None,
        permitted_dns: Sequence[str] = (),
        lifetime_days: int | None = None,
        not_before: dt.datetime | None = None,
        now: dt.datetime | None = None,
        lock_timeout: float = LOCK_TIMEOUT,
    ) -> x509.Certificate:
        """Make a new intermediate signed by the root and make it the issuing CA.

        An existing intermediate is retired, not removed: its certificates stay valid, and
        `certs/ca-bundle.pem` (the overlap bundle) carries old and new so nodes see no gap.
        """
        now = now or _utcnow()
        profile = load_profile("intermediate", self.folder)
        key_type = keys.check_key_type(key_type or profile.key_type)
        constraints = [n.value for n in parse_sans(permitted_dns, ()) if isinstance(n, x509.DNSName)]
        root_signer = self._signer(self.root, open_key)
        with self.lock(lock_timeout), self.inventory() as inv:
            generated = backend.generate(key_type, f"intermediate-{len(self.intermediates) + 1}")
            try:
                cert = build_certificate(
                    profile=profile, subject=subject_name(name, self.organization),
                    public_key=generated.signer.public_key(), issuer=self.root_certificate,
                    signer=root_signer, not_before=not_before or now - CLOCK_SKEW,
                    lifetime_days=lifetime_days, permitted_dns=constraints,
                )
                serial = serial_hex(cert.serial_number)
                rel = f"certs/intermediate-{serial}.pem"
                files = {self.folder / r: content for r, content in generated.files.items()}
                files[self.folder / rel] = (pem(cert), 0o644)
                for path in files:
                    path.parent.mkdir(mode=0o700 if path.parent.name == "private" else 0o755, exist_ok=True)
                write_files(files)
                created = list(files)
            finally:
                backend.close()
            previous = self.current_serial
            saved = (list(self.intermediates), self.current_serial)
            try:
                with inv.transaction():
                    entry = entry_for(cert, node=name, profile="intermediate", issuer_serial=self.root.serial, issued_at=now)
                    inv.add(entry)
                    self.intermediates.append(CACert(serial, name, rel, generated.ref))
                    self.current_serial = serial
                    self._cert_cache_add(serial, cert)
                    self._write_crl(inv, serial, generated.signer, now, DEFAULT_DAYS)
                    self._write_bundles(inv, now)
                    self._log(inv, "intermediate", entry, {
                        "key_backend": generated.ref.get("backend"), "key_type": key_type,
                        "permitted_dns": constraints, "replaces": previous,
                    })
                    self._save_config()
            except BaseException:
                self.intermediates, self.current_serial = saved
                for path in created:
                    with contextlib.suppress(OSError):
                        path.unlink()
                raise
        return cert

    def _cert_cache_add(self, serial: str, cert: x509.Certificate) -> None:
        self._certs[serial] = cert

    def _write_bundles(self, inv: Inventory, now: dt.datetime) -> None:
        current = self.certificate(self.current_intermediate().serial)
        root = self.root_certificate
        usable = []
        for record in reversed(self.intermediates):
            entry = inv.get(record.serial)
            cert = self.certificate(record.serial)
            if entry is not None and entry.status == "valid" and cert.not_valid_after_utc > now:
                usable.append(cert)
        atomic_write(self.folder / "certs/intermediate.pem", pem(current))
        atomic_write(self.folder / "certs/chain.pem", pem(current) + pem(root))
        atomic_write(self.folder / "certs/ca-bundle.pem", b"".join(pem(c) for c in usable) + pem(root))

    def _signer(self, record: CACert, open_key: KeyOpener) -> CertificateIssuerPrivateKeyTypes:
        signer = open_key(record.key)
        cert = self.certificate(record.serial)
        if not keys.public_equal(signer.public_key(), cert.public_key()):
            raise KeyAccessError(f"the key for '{record.name}' does not match its certificate (serial {record.serial})")
        return signer

    def issue(
        self,
        node: str,
        profile_name: str,
        open_key: KeyOpener,
        out_dir: Path,
        *,
        dns: Sequence[str] = (),
        ips: Sequence[str] = (),
        key_type: str | None = None,
        lifetime_days: int | None = None,
        not_before: dt.datetime | None = None,
        now: dt.datetime | None = None,
        lock_timeout: float = LOCK_TIMEOUT,
        signer: CertificateIssuerPrivateKeyTypes | None = None,
    ) -> Issued:
        """Issue a certificate for `node` and write `cert.pem`, `key.pem` (0600) and
        `chain.pem` (intermediate + root) into `out_dir`.

        Refused when the node already holds a valid certificate of this profile (renew or
        revoke it instead) and when any of the three files already exists.
        """
        return self._issue(node, profile_name, open_key, out_dir, dns=dns, ips=ips, key_type=key_type,
                           lifetime_days=lifetime_days, not_before=not_before, now=now,
                           lock_timeout=lock_timeout, signer=signer)

    def renew(
        self,
        serial: str,
        open_key: KeyOpener,
        out_dir: Path,
        *,
        reuse_key: Path | None = None,
        lifetime_days: int | None = None,
        now: dt.datetime | None = None,
        lock_timeout: float = LOCK_TIMEOUT,
    ) -> Issued:
        """A new certificate for the same node, profile and names; the old one is marked
        superseded. A new key unless `reuse_key` (the old key file, checked against the old
        certificate). The files in `out_dir` are replaced."""
        serial = normalise_serial(serial)
        with self.inventory() as inv:
            old = inv.get(serial)
        if old is None:
            raise CAError(f"serial {serial} is not in the inventory of {self.folder}")
        if old.profile in ("root", "intermediate"):
            raise CAError("renew is for node certificates; an intermediate is rotated by creating a new one")
        if old.status != "valid":
            raise CAError(f"serial {serial} is {old.status}; issue a new certificate instead")
        key = None
        if reuse_key is not None:
            key = _load_plain_key(reuse_key)
            if not keys.public_equal(key.public_key(), old.certificate().public_key()):
                raise CAError(f"{reuse_key}: this key does not belong to certificate {serial}")
        return self._issue(
            old.node, old.profile, open_key, out_dir, dns=old.sans["dns"], ips=old.sans["ip"],
            key_type=old.key_type, lifetime_days=lifetime_days, now=now, lock_timeout=lock_timeout,
            replaces=old, reuse=key,
        )

    def _issue(
        self, node: str, profile_name: str, open_key: KeyOpener, out_dir: Path, *,
        dns: Sequence[str], ips: Sequence[str], key_type: str | None, lifetime_days: int | None,
        now: dt.datetime | None, lock_timeout: float, not_before: dt.datetime | None = None,
        signer: CertificateIssuerPrivateKeyTypes | None = None,
        replaces: Entry | None = None, reuse: CertificateIssuerPrivateKeyTypes | None = None,
    ) -> Issued:
        now = now or _utcnow()
        if not _NODE.match(node):
            raise CAError(f"node name '{node}' may hold letters, digits and . _ @ - only")
        profile = load_profile(profile_name, self.folder)
        if profile.kind != "leaf":
            raise CAError(f"profile '{profile.name}' is a CA profile, not a node certificate's")
        key_type = keys.check_key_type(key_type or profile.key_type)
        sans = parse_sans(dns, ips)
        out_dir = Path(out_dir)
        if not out_dir.exists():
            if not out_dir.parent.is_dir():
                raise CAError(f"{out_dir.parent}: folder does not exist")
        elif not out_dir.is_dir():
            raise CAError(f"{out_dir}: not a folder")
        targets = {name: out_dir / f"{name}.pem" for name in ("cert", "key", "chain")}
        if replaces is None:
            for path in targets.values():
                if path.exists():
                    raise CAError(f"{path}: already exists; refusing to overwrite it (choose another folder)")
        record = self.current_intermediate()
        issuer = self.certificate(record.serial)
        signer = signer or self._signer(record, open_key)
        with self.lock(lock_timeout), self.inventory() as inv:
            state = inv.get(record.serial)
            if state is not None and state.status == "revoked":
                raise CAError(f"the current intermediate (serial {record.serial}) is revoked; create a new one")
            if replaces is None:
                existing = inv.current(node, profile.name, now)
                if existing:
                    e = existing[0]
                    raise CAError(
                        f"node '{node}' already has a valid {profile.name} certificate (serial {e.serial}, "
                        f"until {e.not_after}); renew it or revoke it first"
                    )
            key = reuse or keys.generate(key_type)
            cert = self._sign_leaf(profile, node, key, issuer, signer, sans, not_before or now - CLOCK_SKEW, lifetime_days)
            entry = entry_for(cert, node=node, profile=profile.name, issuer_serial=record.serial, issued_at=now,
                              replaces=replaces.serial if replaces else None)
            key_pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            files = {
                targets["cert"]: (pem(cert), 0o644),
                targets["key"]: (key_pem, 0o600),
                targets["chain"]: (pem(issuer) + pem(self.root_certificate), 0o644),
            }
            with inv.transaction():
                inv.add(entry)
                if replaces is not None:
                    inv.set_status(replaces.serial, "superseded")
                out_dir.mkdir(exist_ok=True)
                write_files(files, overwrite=replaces is not None)
                try:
                    details: dict[str, Any] = {"not_after": entry.not_after, "sans": entry.sans,
                                               "key_fingerprint": entry.key_fingerprint}
                    if replaces is not None:
                        details.update({"replaces": replaces.serial, "reused_key": reuse is not None})
                    self._log(inv, "renew" if replaces else "issue", entry, details)
                except BaseException:
                    if replaces is None:
                        for path in files:
                            with contextlib.suppress(OSError):
                                path.unlink()
                    raise
        return Issued(cert, entry, tuple(files))

    def _sign_leaf(self, profile: Profile, node: str, key: CertificateIssuerPrivateKeyTypes,
                   issuer: x509.Certificate, signer: CertificateIssuerPrivateKeyTypes,
                   sans: list[x509.GeneralName], not_before: dt.datetime, lifetime_days: int | None) -> x509.Certificate:
        common_name = node
        if "serverAuth" in profile.extended_key_usage and sans:
            # a server certificate's CN must be one of its SANs (CA/B BR 7.1.4.3; pki.webpki refuses it otherwise)
            values = [str(n.value) for n in sans]
            common_name = node if node in values else values[0]
        return build_certificate(
            profile=profile, subject=subject_name(common_name, self.organization, profile.organizational_unit),
            public_key=key.public_key(), issuer=issuer, signer=signer, not_before=not_before,
            lifetime_days=lifetime_days, sans=sans,
        )

    def revoke(
        self,
        serial: str,
        open_key: KeyOpener,
        *,
        reason: str = "unspecified",
        now: dt.datetime | None = None,
        lock_timeout: float = LOCK_TIMEOUT,
    ) -> Entry:
        """Mark `serial` revoked and publish its issuer's new CRL."""
        now = now or _utcnow()
        check_reason(reason)
        serial = normalise_serial(serial)
        with self.inventory() as inv:
            entry = inv.get(serial)
        if entry is None:
            raise CAError(f"serial {serial} is not in the inventory of {self.folder}")
        if entry.issuer_serial is None:
            raise CAError("the root cannot be revoked; retire the whole CA instead")
        if entry.status == "revoked":
            raise CAError(f"serial {serial} was already revoked on {entry.revoked_at}")
        issuer_record = self._record(entry.issuer_serial)
        signer = self._signer(issuer_record, open_key)
        with self.lock(lock_timeout), self.inventory() as inv, inv.transaction():
            inv.set_status(serial, "revoked", reason=reason, at=now)
            days = ROOT_DAYS if issuer_record.serial == self.root.serial else DEFAULT_DAYS
            self._write_crl(inv, issuer_record.serial, signer, now, days)
            if entry.profile == "intermediate" and self.current_serial:
                self._write_bundles(inv, now)
            self._log(inv, "revoke", entry, {"reason": reason, "revoked_at": rfc3339(now)})
            revoked = inv.get(serial)
        assert revoked is not None
        return revoked

    def crl(
        self,
        open_key: KeyOpener,
        *,
        issuer: str = "intermediate",
        days: int | None = None,
        now: dt.datetime | None = None,
        lock_timeout: float = LOCK_TIMEOUT,
    ) -> bytes:
        """Sign a fresh CRL for the current intermediate ("intermediate"), the root ("root")
        or the CA certificate with that serial; returns its PEM. `days` defaults to 30 for
        intermediates and 365 for the root."""
        now = now or _utcnow()
        record = (
            self.current_intermediate() if issuer == "intermediate"
            else self.root if issuer == "root" else self._record(normalise_serial(issuer))
        )
        if days is None:
            days = ROOT_DAYS if record.serial == self.root.serial else DEFAULT_DAYS
        if days < 1:
            raise CAError("a CRL must be valid for at least one day")
        signer = self._signer(record, open_key)
        with self.lock(lock_timeout), self.inventory() as inv, inv.transaction():
            data = self._write_crl(inv, record.serial, signer, now, days)
            self._log(inv, "crl", None, {"issuer_serial": record.serial, "days": days}, node=record.name)
        return data

    def _write_crl(self, inv: Inventory, issuer_serial: str, signer: CertificateIssuerPrivateKeyTypes,
                   now: dt.datetime, days: int) -> bytes:
        number = int(inv.get_meta(f"crl_number:{issuer_serial}") or "0") + 1
        revoked = [
            Revoked(int(e.serial, 16), _parse_time(e.revoked_at or rfc3339(now)), e.revocation_reason or "unspecified")
            for e in inv.revoked_by(issuer_serial)
        ]
        crl = build_crl(self.certificate(issuer_serial), signer, revoked, number=number, now=now - CLOCK_SKEW, days=days)
        data = crl.public_bytes(serialization.Encoding.PEM)
        (self.folder / "crl").mkdir(exist_ok=True)
        atomic_write(self.folder / "crl" / f"{issuer_serial}.pem", data)
        inv.set_meta(f"crl_number:{issuer_serial}", str(number))
        return data

    # -- listing -----------------------------------------------------------------------------

    def list(self, *, expiring: dt.timedelta | None = None, now: dt.datetime | None = None) -> Iterator[Entry]:
        now = now or _utcnow()
        with self.inventory() as inv:
            if expiring is None:
                yield from inv.entries()
            else:
                yield from inv.entries(expiring_before=now + expiring, now=now)

    def verify_log(self) -> issuance_log.LogReport:
        with self.inventory() as inv:
            count = inv.get_meta("log_count")
            head = inv.get_meta("log_head")
            serials = inv.serials()
        return issuance_log.verify(
            self.folder / "log.jsonl", expected_count=int(count) if count else 0,
            expected_head=head, issued_serials=serials,
        )


def _ca_cert(data: dict[str, Any]) -> CACert:
    return CACert(str(data["serial"]), str(data["name"]), str(data["certificate"]), dict(data["key"]))


def _parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _load_plain_key(path: Path) -> CertificateIssuerPrivateKeyTypes:
    return keys.load_key_file(path)
