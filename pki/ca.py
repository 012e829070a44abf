"""The CA folder: a root, its intermediates, the issuance log, the inventory and the CRLs.

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
      log.jsonl             the hash-chained issuance log: the source of truth (pki.log, pki.records)
      inventory.sqlite      a cache of the log: every certificate issued (pki.inventory)
      profiles/NAME.yaml    optional: this CA's own profiles, replacing shipped ones
      .lock                 held while the CA changes anything

Every change happens under the lock and starts by reconciling (an issuance a crash
interrupted is completed or closed) and checking that the log verifies against the
inventory; a change is refused while it does not. Every certificate is made by
:mod:`pki.issuance` (checked, linted, then signed) between an `intent` entry, appended
durably before the signature, and its completion, appended before the certificate leaves
the process. Files are written atomically; a failed operation leaves no partial file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from pki import keys, records
from pki import log as issuance_log
from pki.backends.interface import KeyBackend
from pki.build import CLOCK_SKEW, parse_names, random_serial, subject_name
from pki.crl import DEFAULT_DAYS, ROOT_DAYS, Revoked, build_crl, check_reason
from pki.errors import CAError, KeyAccessError, LogDoesNotVerify, NoCA, NoIntermediate
from pki.fsutil import (
    MAX_PKI_FILE,
    ReadError,
    atomic_write,
    fsync_folder,
    make_folder,
    read_regular,
    special_kind,
    write_files,
)
from pki.inventory import Entry, Inventory, entry_for, rfc3339, serial_hex
from pki.profiles import Profile, load_profile
from pki.records import Records

if TYPE_CHECKING:  # pki.issuance (the linter, the policy) is imported when something is issued
    from pki.issuance import Prepared, Request
    from pki.policy import Lifetime

FORMAT = "auditor-pki-ca"
FORMAT_VERSION = 2
LOCK_TIMEOUT = 30.0
MAX_LOCK_TIMEOUT = 3600.0
STAGING_PREFIX = ".pki-"
"""An issuance stages the node's key.pem and chain.pem in `<out>/.pki-<serial>/` (mode 0700)
and moves them into place once its completion is logged."""
_NODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,252}$")
_RESERVED_DETAILS = frozenset((*records.ROW_DETAILS, "certificate", "intent", "recovered", "csr", "reused_key",
                               "out", "staging", "overwrite"))
"""Completion details the CA writes itself; a caller's `details` may not set them."""
__all__ = ["CA", "CLOCK_SKEW", "CACert", "Issued", "KeyOpener", "normalise_serial", "pem"]

KeyOpener = Callable[[dict[str, Any]], CertificateIssuerPrivateKeyTypes]


def _leaf_targets(out_dir: Path, overwrite: bool) -> tuple[Path, dict[str, Path]]:
    """The folder for a node's files (absolute) and its three files; refused when the folder
    cannot be made or, unless `overwrite`, when a file is there already."""
    out_dir = Path(out_dir).absolute()
    if not out_dir.exists():
        if not out_dir.parent.is_dir():
            raise CAError(f"{out_dir.parent}: folder does not exist")
    elif not out_dir.is_dir():
        raise CAError(f"{out_dir}: not a folder")
    targets = {name: out_dir / f"{name}.pem" for name in ("cert", "key", "chain")}
    if not overwrite:
        for path in targets.values():
            if path.exists() or path.is_symlink():
                raise CAError(f"{path}: already exists; refusing to overwrite it (choose another folder)")
    return out_dir, targets


def check_node(node: str) -> None:
    """Refuse a node name that is not letters, digits and . _ @ - (starting with a letter or digit)."""
    if not _NODE.match(node):
        raise CAError(f"node name '{node[:80]}' may hold letters, digits and . _ @ - only")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def normalise_serial(text: str) -> str:
    """A serial as the inventory keeps it: lower-case hex without leading zeros."""
    raw = text.strip().lower().removeprefix("0x").replace(":", "")
    if not raw or len(raw) > 64 or not re.fullmatch(r"[0-9a-f]+", raw):
        raise CAError(f"serial '{text[:80]}' is not a hexadecimal serial number")
    return serial_hex(int(raw, 16))


@dataclass(frozen=True)
class LeafOrder:
    """One node certificate of a batch (`CA.issue_many`): the node, the folder for its files,
    and its names (SANs)."""

    node: str
    out_dir: Path
    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()


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
    """A CA folder. Open one with :meth:`open`, make one with :meth:`init`.

    Library API for issuance: :meth:`issue` (a new key for a node, files written),
    :meth:`renew`, :meth:`issue_from_csr` (a key the requester holds, e.g. for ACME),
    :meth:`create_intermediate`, :meth:`revoke`, :meth:`crl`; all of them reconcile, check
    the log, and certify through :mod:`pki.issuance`.
    """

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
        self._changed: set[str] = set()

    def _reload(self) -> None:
        """Read ca.json again (under the lock: another process may have changed it)."""
        fresh = CA.open(self.folder)
        self.config, self.name, self.organization = fresh.config, fresh.name, fresh.organization
        self.root, self.intermediates, self.current_serial = fresh.root, fresh.intermediates, fresh.current_serial

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
            config = json.loads(read_regular(path, MAX_PKI_FILE).decode("utf-8"))
        except ReadError as exc:
            if exc.why == "missing":
                raise NoCA(f"{folder}: not a CA folder (no ca.json)", folder) from None
            raise CAError(f"{path}: unreadable ({exc.reason})") from None
        except RecursionError:
            raise CAError(f"{path}: unreadable (nested too deep)") from None
        except (UnicodeDecodeError, ValueError) as exc:
            raise CAError(f"{path}: unreadable ({exc})") from None
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            raise CAError(f"{path}: not an auditor PKI CA description")
        if config.get("version") != FORMAT_VERSION:
            raise CAError(
                f"{path}: format version {config.get('version')}; this tool reads {FORMAT_VERSION} "
                "(version 2 keeps every certificate in the issuance log, the CA's source of truth)"
            )
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
        allow_long_lifetime: bool = False,
        path_length: int | None = None,
        not_before: dt.datetime | None = None,
        now: dt.datetime | None = None,
    ) -> CA:
        """Make a new CA folder with a self-signed root. The folder must not exist or be empty;
        it appears whole or not at all."""
        from pki import policy
        from pki.issuance import Request
        from pki.policy import Lifetime

        folder = Path(folder)
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise CAError(f"{folder}: already exists and is not empty; refusing to overwrite a CA")
        if not folder.parent.is_dir():
            raise CAError(f"{folder.parent}: folder does not exist")
        now = now or _utcnow()
        profile = load_profile("root")
        key_type = _key_type(key_type, profile)
        policy.check_days(lifetime_days)
        work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.init-", dir=folder.parent))
        try:
            os.chmod(work, 0o700)
            for sub in ("certs", "private", "crl"):
                (work / sub).mkdir(mode=0o700 if sub == "private" else 0o755)
            generated = backend.generate(key_type, "root")
            serial = serial_hex(random_serial())
            for rel, (data, mode) in generated.files.items():
                (work / rel).parent.mkdir(exist_ok=True)
                atomic_write(work / rel, data, mode=mode)
            config = {
                "format": FORMAT, "version": FORMAT_VERSION, "name": name, "organization": organization,
                "created": rfc3339(now),
                "root": CACert(serial, name, "certs/root.pem", generated.ref).to_json(),
                "intermediates": [], "current_intermediate": None,
            }
            ca = cls(work, config)
            request = Request(profile=profile, subject=subject_name(name, organization),
                              public_key=generated.signer.public_key(),
                              lifetime=Lifetime(lifetime_days, allow_long_lifetime),
                              not_before=not_before, path_length=path_length, serial=int(serial, 16))
            with Inventory(work / "inventory.sqlite", create=True) as inv:
                state = Records()
                cert, _row, _done = ca._certify(
                    state, request, event="init", node=name, issuer=None, signer=generated.signer, now=now,
                    completion={"key_backend": generated.ref.get("backend"), "key_type": key_type, "crl_number": 1},
                )
                atomic_write(work / "certs/root.pem", pem(cert))
                atomic_write(work / "ca.json", (json.dumps(config, indent=2) + "\n").encode())
                ca._cert_cache_add(serial, cert)
                ca._write_crl(state, serial, generated.signer, now, ROOT_DAYS, 1)
                records.sync(inv, state, list(state.entries))
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
                self._certs[serial] = x509.load_pem_x509_certificate(read_regular(path, MAX_PKI_FILE))
            except ReadError as exc:
                raise CAError(f"{path}: cannot read the CA certificate ({exc.reason})") from None
            except ValueError as exc:
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

    def ca_certificates(self) -> list[tuple[str, x509.Certificate]]:
        """(serial, certificate) of the root and every intermediate."""
        return [(r.serial, self.certificate(r.serial)) for r in (self.root, *self.intermediates)]

    def crls(self) -> list[x509.CertificateRevocationList]:
        out = []
        for record in (self.root, *self.intermediates):
            path = self.folder / "crl" / f"{record.serial}.pem"
            if path.is_file():
                with contextlib.suppress(ValueError, ReadError):
                    out.append(x509.load_pem_x509_crl(read_regular(path, MAX_PKI_FILE)))
        return out

    def _issuers(self, record: CACert | None) -> list[x509.Certificate]:
        """The CA certificates above a certificate `record` signs: `record`'s, then the root's."""
        if record is None:
            return []
        chain = [self.certificate(record.serial)]
        if record.serial != self.root.serial:
            chain.append(self.root_certificate)
        return chain

    # -- locking -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
        """Hold the CA lock; wait up to `timeout` seconds for another process to finish."""
        if not 0 <= timeout <= MAX_LOCK_TIMEOUT:  # also refuses NaN, which would wait forever
            raise CAError(f"the lock timeout must be from 0 to {MAX_LOCK_TIMEOUT:g} seconds")
        path = self.folder / ".lock"
        flags = os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags, 0o600)
        except OSError as exc:
            why = "it is a symbolic link" if exc.errno == errno.ELOOP else exc.strerror or str(exc)
            raise CAError(f"{path}: cannot open the lock file: {why}") from None
        kind = special_kind(os.fstat(fd).st_mode)
        if kind is not None:
            os.close(fd)
            raise CAError(f"{path}: the lock file is not a regular file ({kind}); remove it")
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

    # -- the log: reconcile, verify, append ------------------------------------------------------

    @property
    def log_path(self) -> Path:
        return self.folder / "log.jsonl"

    def _ready(self, inv: Inventory, open_key: KeyOpener | None = None, *, strict: bool = True) -> Records:
        """Under the lock, before any change: repair a torn last log line, reconcile an
        interrupted issuance, finish installing the last one, bring the inventory up to date,
        and (`strict`) refuse while the log does not verify against the inventory."""
        self._reload()
        self._changed = set()
        issuance_log.repair_tail(self.log_path)
        state = records.replay(self.log_path, snapshot_at=records.inventory_count(inv))
        if state.problems:
            if strict:
                raise self._tampered(state.problems)
            return state
        problems, _notes = records.audit(state, inv)
        if problems:
            if strict:
                raise self._tampered(problems)
            return state
        if state.open_intent is not None:
            self._reconcile(state, state.open_intent)
        self._finish(state, open_key)
        if state.count != records.inventory_count(inv):
            records.sync(inv, state)
        self._changed = set()
        return state

    def _sync(self, inv: Inventory, state: Records) -> None:
        """Write what this change did to the inventory (the cache follows the log)."""
        records.sync(inv, state, sorted(self._changed))
        self._changed = set()

    def _tampered(self, problems: Sequence[str]) -> CAError:
        return LogDoesNotVerify(
            f"refused: the issuance log does not verify ({len(problems)} problem(s), first: {problems[0]})", self.folder)

    def _append(self, state: Records, event: str, *, serial: str | None = None, node: str | None = None,
                profile: str | None = None, subject: str | None = None,
                details: dict[str, Any] | None = None) -> tuple[dict[str, Any], set[str]]:
        entry = issuance_log.append(self.log_path, event=event, serial=serial, node=node, profile=profile,
                                    subject=subject, details=details, last=state.last)
        changed = state.apply(entry)
        self._changed |= changed
        return entry, changed

    def _certify(
        self, state: Records, request: Request, *, event: str, node: str, issuer: CACert | None,
        signer: CertificateIssuerPrivateKeyTypes, now: dt.datetime, intent: dict[str, Any] | None = None,
        completion: dict[str, Any] | None = None, stage: Callable[[Prepared], None] | None = None,
        replaces: str | None = None,
    ) -> tuple[x509.Certificate, Entry, dict[str, Any]]:
        """The one way a certificate is made: check and lint (pki.issuance.prepare), log the
        intent durably, `stage` what must exist before the signature (a node's key), sign,
        log the completion with the certificate. Install steps follow in the caller."""
        from pki import issuance

        prepared = issuance.prepare(request, issuers=self._issuers(issuer),
                                    issuer_public=signer.public_key() if issuer is None else None, now=now)
        serial = serial_hex(prepared.serial)
        candidate = prepared.candidate
        row = entry_for(candidate, node=node, profile=request.profile.name,
                        issuer_serial=issuer.serial if issuer else None, issued_at=now, replaces=replaces)
        lifetime = {"days": prepared.days, "profile_max": request.profile.max_days,
                    "override": prepared.lifetime_override}
        intent_entry, _ = self._append(state, "intent", serial=serial, node=node, profile=request.profile.name,
                                       subject=row.subject, details={
                                           "for": event, "tbs_sha256": prepared.tbs_sha256,
                                           "issuer_serial": row.issuer_serial, "not_before": row.not_before,
                                           "not_after": row.not_after, "sans": row.sans,
                                           "key_fingerprint": row.key_fingerprint, "lifetime": lifetime,
                                           "lint": prepared.lint.summary().to_dict(), "replaces": replaces,
                                           "completion": completion or {}, **(intent or {}),
                                       })
        if stage is not None:
            stage(prepared)
        cert = issuance.sign(prepared, signer)
        row = entry_for(cert, node=node, profile=request.profile.name, issuer_serial=row.issuer_serial,
                        issued_at=now, replaces=replaces)
        done, _ = self._append(state, event, serial=serial, node=node, profile=request.profile.name,
                               subject=row.subject, details=records.completion_details(
                                   row, cert, intent=intent_entry["seq"], **(completion or {})))
        return cert, row, done

    def _reconcile(self, state: Records, intent: dict[str, Any]) -> None:
        """An intent without completion: record the certificate if it exists where the
        intent says it may be (with the checked to-be-signed bytes), else close the intent
        and remove what it staged."""
        details = intent["details"] if isinstance(intent["details"], dict) else {}
        serial = str(intent["serial"])
        found = None
        for place in details.get("look_for", []):
            found = _certificate_at(Path(place), serial, str(details.get("tbs_sha256")))
            if found is not None:
                break
        if found is not None:
            row = entry_for(found, node=str(intent["node"]), profile=str(intent["profile"]),
                            issuer_serial=details.get("issuer_serial"), issued_at=_utcnow(),
                            replaces=details.get("replaces"))
            self._append(state, str(details.get("for")), serial=serial, node=row.node, profile=row.profile,
                         subject=row.subject, details=records.completion_details(
                             row, found, intent=intent["seq"], recovered=True, **details.get("completion", {})))
            return
        removed = self._unstage(details, serial)
        self._append(state, "abandon", serial=serial, node=intent["node"], profile=intent["profile"],
                     subject=intent["subject"], details={
                         "intent": intent["seq"], "removed": removed,
                         "reason": "interrupted before the certificate was signed and recorded; none exists"})

    def _unstage(self, details: dict[str, Any], serial: str) -> list[str]:
        removed = []
        staging = details.get("staging")
        if isinstance(staging, str) and Path(staging).name == f"{STAGING_PREFIX}{serial}" and Path(staging).is_dir():
            shutil.rmtree(staging, ignore_errors=True)
            removed.append(staging)
        crl_file = details.get("crl_file")
        if isinstance(crl_file, str) and crl_file == f"crl/{serial}.pem" and (self.folder / crl_file).is_file():
            (self.folder / crl_file).unlink()  # the CRL of a CA certificate that was never signed
            removed.append(str(self.folder / crl_file))
        for rel, digest in (details.get("staged") or {}).items():
            path = self.folder / rel
            with contextlib.suppress(OSError, ReadError):
                if ".." not in Path(rel).parts and hashlib.sha256(read_regular(path, MAX_PKI_FILE)).hexdigest() == digest:
                    path.unlink()
                    removed.append(str(path))
        return removed

    def _finish(self, state: Records, open_key: KeyOpener | None) -> None:
        """Finish what the last change logged but a crash may have left undone: installing
        a node's files or an intermediate, writing a CRL."""
        last = state.last
        if last is None:
            return
        details = last["details"] if isinstance(last["details"], dict) else {}
        if last["event"] in ("issue", "renew") and details.get("out"):
            self._install_leaf(last)
        elif last["event"] == "intermediate" and str(last["serial"]) not in {i.serial for i in self.intermediates}:
            self._install_intermediate(state, last)
        elif last["event"] in ("revoke", "crl") and open_key is not None:
            issuer, number = details.get("issuer_serial"), details.get("crl_number")
            if isinstance(issuer, str) and isinstance(number, int) and _crl_number(self.folder / "crl" / f"{issuer}.pem") < number:
                days = details.get("days") or (ROOT_DAYS if issuer == self.root.serial else DEFAULT_DAYS)
                self._write_crl(state, issuer, self._signer(self._record(issuer), open_key), _utcnow(), int(days), number)

    # -- changing ----------------------------------------------------------------------------

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
        permitted_ip: Sequence[str] = (),
        permitted_email: Sequence[str] = (),
        permitted_uri: Sequence[str] = (),
        lifetime_days: int | None = None,
        allow_long_lifetime: bool = False,
        path_length: int | None = None,
        not_before: dt.datetime | None = None,
        now: dt.datetime | None = None,
        lock_timeout: float = LOCK_TIMEOUT,
    ) -> x509.Certificate:
        """Make a new intermediate signed by the root and make it the issuing CA.

        `permitted_*` are its name constraints: DNS domains, IP ranges (CIDR), email hosts or
        mailboxes, URI hosts. A constrained intermediate certifies only names of the types it
        was given (see pki.policy). An existing intermediate is retired, not removed: its
        certificates stay valid, and `certs/ca-bundle.pem` (the overlap bundle) carries old
        and new so nodes see no gap.
        """
        from pki import policy
        from pki.build import parse_constraints
        from pki.issuance import Request
        from pki.policy import Lifetime

        now = now or _utcnow()
        profile = load_profile("intermediate", self.folder)
        key_type = _key_type(key_type, profile)
        policy.check_days(lifetime_days)
        permitted = parse_constraints(permitted_dns, permitted_ip, permitted_email, permitted_uri)
        root_signer = self._signer(self.root, open_key)
        with self.lock(lock_timeout), self.inventory() as inv:
            state = self._ready(inv, open_key)
            generated = backend.generate(key_type, f"intermediate-{len(self.intermediates) + 1}")
            try:
                serial = random_serial()
                key_files = {self.folder / r: content for r, content in generated.files.items()}
                staged = {r: hashlib.sha256(data).hexdigest() for r, (data, _mode) in generated.files.items()}

                def stage(prepared: Prepared) -> None:
                    crl = build_crl(prepared.candidate, generated.signer, [], number=1, now=now - CLOCK_SKEW,
                                    days=DEFAULT_DAYS).public_bytes(serialization.Encoding.PEM)
                    files = {**key_files, self.folder / "crl" / f"{serial_hex(serial)}.pem": (crl, 0o644)}
                    for path in files:
                        path.parent.mkdir(mode=0o700 if path.parent.name == "private" else 0o755, exist_ok=True)
                    write_files(files)

                request = Request(profile=profile, subject=subject_name(name, self.organization),
                                  public_key=generated.signer.public_key(),
                                  lifetime=Lifetime(lifetime_days, allow_long_lifetime), not_before=not_before,
                                  permitted=tuple(permitted), path_length=path_length, serial=serial)
                staged[f"crl/{serial_hex(serial)}.pem"] = ""  # named by the new serial: removed if abandoned
                cert, _row, done = self._certify(
                    state, request, event="intermediate", node=name, issuer=self.root, signer=root_signer, now=now,
                    intent={"staged": {k: v for k, v in staged.items() if v}, "crl_file": f"crl/{serial_hex(serial)}.pem"},
                    completion={"key_backend": generated.ref.get("backend"), "key_type": key_type,
                                "key_ref": generated.ref, "permitted": list(policy.describe(permitted)),
                                "replaces": self.current_serial, "crl_number": 1},
                    stage=stage,
                )
            finally:
                backend.close()
            self._install_intermediate(state, done)
            self._sync(inv, state)
        return cert

    def _install_intermediate(self, state: Records, done: dict[str, Any]) -> None:
        cert = records.certificate_of(done)
        serial = str(done["serial"])
        rel = f"certs/intermediate-{serial}.pem"
        atomic_write(self.folder / rel, pem(cert))
        if serial not in {i.serial for i in self.intermediates}:
            self.intermediates.append(CACert(serial, str(done["node"]), rel, dict(done["details"]["key_ref"])))
        self.current_serial = serial
        self._cert_cache_add(serial, cert)
        self._save_config()
        self._write_bundles(state, _utcnow())

    def _cert_cache_add(self, serial: str, cert: x509.Certificate) -> None:
        self._certs[serial] = cert

    def _write_bundles(self, state: Records, now: dt.datetime) -> None:
        current = self.certificate(self.current_intermediate().serial)
        root = self.root_certificate
        usable = []
        for record in reversed(self.intermediates):
            entry = state.entries.get(record.serial)
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
        emails: Sequence[str] = (),
        uris: Sequence[str] = (),
        key_type: str | None = None,
        lifetime_days: int | None = None,
        allow_long_lifetime: bool = False,
        not_before: dt.datetime | None = None,
        now: dt.datetime | None = None,
        lock_timeout: float = LOCK_TIMEOUT,
        signer: CertificateIssuerPrivateKeyTypes | None = None,
    ) -> Issued:
        """Issue a certificate for `node` with a new key and write `cert.pem`, `key.pem`
        (0600) and `chain.pem` (intermediate + root) into `out_dir`.

        Refused when the node already holds a valid certificate of this profile (renew or
        revoke it instead), when any of the three files already exists, and when a
        pre-issuance check or the linter objects (pki.policy.Refused names the rule).
        """
        from pki.policy import Lifetime

        return self._issue(node, profile_name, open_key, out_dir, names=parse_names(dns, ips, emails, uris),
                           key_type=key_type, lifetime=Lifetime(lifetime_days, allow_long_lifetime),
                           not_before=not_before, now=now, lock_timeout=lock_timeout, signer=signer)

    def renew(
        self,
        serial: str,
        open_key: KeyOpener,
        out_dir: Path,
        *,
        reuse_key: Path | None = None,
        lifetime_days: int | None = None,
        allow_long_lifetime: bool = False,
        now: dt.datetime | None = None,
        lock_timeout: float = LOCK_TIMEOUT,
    ) -> Issued:
        """A new certificate for the same node, profile and names; the old one is marked
        superseded. A new key unless `reuse_key` (the old key file, checked against the old
        certificate). The files in `out_dir` are replaced."""
        from pki.policy import Lifetime

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
        names = parse_names(old.sans.get("dns", []), old.sans.get("ip", []), old.sans.get("email", []),
                            old.sans.get("uri", []))
        return self._issue(old.node, old.profile, open_key, out_dir, names=names, key_type=old.key_type,
                           lifetime=Lifetime(lifetime_days, allow_long_lifetime), now=now,
                           lock_timeout=lock_timeout, replaces=old, reuse=key)

    def issue_many(
        self,
        orders: Sequence[LeafOrder],
        profile_name: str,
        open_key: KeyOpener,
        *,
        key_type: str | None = None,
        lifetime_days: int | None = None,
        allow_long_lifetime: bool = False,
        now: dt.datetime | None = None,
        lock_timeout: float = LOCK_TIMEOUT,
        issued: Callable[[Issued], None] | None = None,
    ) -> list[Issued]:
        """`issue` for each of `orders`, in one hold of the CA lock: the issuing key is opened
        once, the log replayed and checked once, the inventory written once at the end (it
        follows the log, which each issuance appends to durably). Each certificate goes
        through the same steps as `issue`'s (pre-issuance checks, pkilint, the log's intent
        and completion, the files). The first refusal stops the run: the certificates issued
        before it stay issued (`issued` is called with each as it is made)."""
        from pki import policy
        from pki.policy import Lifetime

        lifetime = Lifetime(lifetime_days, allow_long_lifetime)
        policy.check_days(lifetime.days)
        prepared = []
        for order in orders:  # every order's input refused before the key is opened
            _key_type(key_type, self._leaf_profile(order.node, profile_name))
            prepared.append((order, parse_names(order.dns, order.ips, order.emails, order.uris)))
        record = self.current_intermediate()
        signer = self._signer(record, open_key)
        done: list[Issued] = []
        with self.lock(lock_timeout), self.inventory() as inv:
            state = self._ready(inv, open_key)
            try:
                for order, names in prepared:
                    made = self._issue_locked(state, record, signer, order.node, profile_name, order.out_dir,
                                              names=names, key_type=key_type, lifetime=lifetime, now=now)
                    done.append(made)
                    if issued is not None:
                        issued(made)
            finally:
                if state.open_intent is None:  # else left to the next change's reconciliation, as after a crash
                    self._sync(inv, state)
        return done

    def _issue(
        self, node: str, profile_name: str, open_key: KeyOpener, out_dir: Path, *,
        names: Sequence[x509.GeneralName], key_type: str | None, lifetime: Lifetime,
        now: dt.datetime | None, lock_timeout: float, not_before: dt.datetime | None = None,
        signer: CertificateIssuerPrivateKeyTypes | None = None,
        replaces: Entry | None = None, reuse: CertificateIssuerPrivateKeyTypes | None = None,
    ) -> Issued:
        from pki import policy

        profile = self._leaf_profile(node, profile_name)  # refused before the key is opened:
        _key_type(key_type, profile)  # a bad name, profile, key type, lifetime or folder
        policy.check_days(lifetime.days)
        _leaf_targets(out_dir, replaces is not None)
        record = self.current_intermediate()
        signer = signer or self._signer(record, open_key)
        with self.lock(lock_timeout), self.inventory() as inv:
            state = self._ready(inv, open_key)
            made = self._issue_locked(state, record, signer, node, profile_name, out_dir, names=names,
                                      key_type=key_type, lifetime=lifetime, now=now, not_before=not_before,
                                      replaces=replaces, reuse=reuse)
            self._sync(inv, state)
        return made

    def _issue_locked(
        self, state: Records, record: CACert, signer: CertificateIssuerPrivateKeyTypes, node: str,
        profile_name: str, out_dir: Path, *, names: Sequence[x509.GeneralName], key_type: str | None,
        lifetime: Lifetime, now: dt.datetime | None, not_before: dt.datetime | None = None,
        replaces: Entry | None = None, reuse: CertificateIssuerPrivateKeyTypes | None = None,
    ) -> Issued:
        """The one way a node certificate is made (under the lock, the log ready): checks,
        new key, `_certify` (lint, intent, signature, completion), the files installed."""
        from pki import policy
        from pki.issuance import Request

        now = now or _utcnow()
        profile = self._leaf_profile(node, profile_name)
        key_type = _key_type(key_type, profile)
        policy.check_days(lifetime.days)
        out_dir, targets = _leaf_targets(out_dir, replaces is not None)
        issuer = self.certificate(record.serial)
        self._check_issuer_and_node(state, record, node, profile, now, replaces)
        key = reuse or keys.generate(key_type)
        serial = random_serial()
        staging = out_dir / f"{STAGING_PREFIX}{serial_hex(serial)}"
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())

        def stage(_prepared: Prepared) -> None:
            make_folder(out_dir, exist_ok=True)
            staging.mkdir(mode=0o700)
            atomic_write(staging / "key.pem", key_pem, mode=0o600, sync_folder=False)
            atomic_write(staging / "chain.pem", pem(issuer) + pem(self.root_certificate), sync_folder=False)
            fsync_folder(staging)
            fsync_folder(out_dir)

        request = Request(profile=profile, subject=self._leaf_subject(node, profile, names),
                          public_key=key.public_key(), names=tuple(names), lifetime=lifetime,
                          not_before=not_before, serial=serial)
        extra: dict[str, Any] = {"out": str(out_dir), "staging": str(staging), "overwrite": replaces is not None}
        if replaces is not None:
            extra["reused_key"] = reuse is not None
        cert, row, done = self._certify(
            state, request, event="renew" if replaces else "issue", node=node, issuer=record, signer=signer,
            now=now, intent={"staging": str(staging), "look_for": [str(targets["cert"]), str(staging / "cert.pem")]},
            completion=extra, stage=stage,
            replaces=replaces.serial if replaces else None,
        )
        files = self._install_leaf(done)
        return Issued(cert, row, files)

    def _leaf_profile(self, node: str, profile_name: str) -> Profile:
        check_node(node)
        profile = load_profile(profile_name, self.folder)
        if profile.kind != "leaf":
            raise CAError(f"profile '{profile.name}' is a CA profile, not a node certificate's")
        return profile

    def _leaf_subject(self, node: str, profile: Profile, names: Sequence[x509.GeneralName]) -> x509.Name:
        """O=, OU= and CN=node. A server certificate's CN is one of its SANs (CA/B BR 7.1.4.3;
        pki.webpki refuses it otherwise): its first DNS SAN when the node name is not among
        them. With IP addresses only, the CN is left out (it is optional): OpenSSL would take
        an IP address in the CN for a DNS name and check it against DNS name constraints."""
        if "serverAuth" not in profile.extended_key_usage or not names:
            return subject_name(node, self.organization, profile.organizational_unit)
        values = [str(n.value) for n in names]
        dns = [str(n.value) for n in names if isinstance(n, x509.DNSName)]
        if node in values:
            common_name: str | None = node
        elif dns:
            common_name = dns[0]
        else:
            common_name = None if self.organization or profile.organizational_unit else values[0]
        return subject_name(common_name, self.organization, profile.organizational_unit)

    def _check_issuer_and_node(self, state: Records, record: CACert, node: str, profile: Profile,
                               now: dt.datetime, replaces: Entry | None) -> None:
        current = state.entries.get(record.serial)
        if current is not None and current.status == "revoked":
            raise CAError(f"the current intermediate (serial {record.serial}) is revoked; create a new one")
        if replaces is None:
            existing = sorted((e for e in state.entries.values() if e.node == node and e.profile == profile.name
                               and e.status == "valid" and e.not_after > rfc3339(now)),
                              key=lambda e: e.not_after, reverse=True)
            if existing:
                e = existing[0]
                raise CAError(
                    f"node '{node}' already has a valid {profile.name} certificate (serial {e.serial}, "
                    f"until {e.not_after}); renew it or revoke it first"
                )
        elif state.entries.get(replaces.serial, replaces).status != "valid":
            raise CAError(f"serial {replaces.serial} is no longer valid; issue a new certificate instead")

    def _install_leaf(self, done: dict[str, Any]) -> tuple[Path, ...]:
        """Move a completed issuance's staged key and chain into its folder and write its
        certificate (from the log); idempotent, so a crash half-way is finished later."""
        details = done["details"]
        out_dir, staging = Path(details["out"]), Path(details["staging"])
        files = (out_dir / "cert.pem", out_dir / "key.pem", out_dir / "chain.pem")
        if not staging.is_dir():
            return files
        if not (staging / "cert.pem").exists():
            atomic_write(staging / "cert.pem", pem(records.certificate_of(done)), sync_folder=False)
        for name in ("key.pem", "chain.pem", "cert.pem"):  # the certificate last: a cert.pem has its key.pem
            source = staging / name
            if not source.exists():
                continue
            if details.get("overwrite"):
                os.replace(source, out_dir / name)
                continue
            try:
                os.link(source, out_dir / name)
            except FileExistsError:
                if not _same_file(source, out_dir / name):
                    raise CAError(f"{out_dir / name}: appeared while serial {done['serial']} was issued; "
                                  f"its files are in {staging}") from None
            source.unlink()
        shutil.rmtree(staging, ignore_errors=True)
        fsync_folder(out_dir)
        return files

    def issue_from_csr(
        self,
        csr: bytes | x509.CertificateSigningRequest,
        profile_name: str,
        open_key: KeyOpener,
        *,
        node: str,
        dns: Sequence[str] = (),
        ips: Sequence[str] = (),
        emails: Sequence[str] = (),
        uris: Sequence[str] = (),
        lifetime_days: int | None = None,
        allow_long_lifetime: bool = False,
        supersede: bool = False,
        details: Mapping[str, Any] | None = None,
        now: dt.datetime | None = None,
        lock_timeout: float = LOCK_TIMEOUT,
        signer: CertificateIssuerPrivateKeyTypes | None = None,
    ) -> Issued:
        """Certify the key in a PKCS#10 `csr` (PEM or DER) for `node` with `profile_name`
        and the names given here (the CSR's own subject and extensions are ignored; its
        signature must verify). The same checks, lint and log as `issue`, and no file is
        written: the caller hands the certificate out (the ACME server). As with `issue`, a
        node's valid certificate of this profile refuses a second one, unless `supersede`:
        then the new one renews it (logged as `renew`, the old one superseded). `details`
        (e.g. the ACME account and order) are added to the completion's details. The
        certificate is returned once its completion is in the log."""
        from pki import issuance, policy
        from pki.policy import Lifetime

        now = now or _utcnow()
        profile = self._leaf_profile(node, profile_name)
        policy.check_days(lifetime_days)
        extra = dict(details or {})
        if clash := sorted(set(extra) & _RESERVED_DETAILS):
            raise CAError(f"details may not set {', '.join(clash)}")
        names = parse_names(dns, ips, emails, uris)
        request = issuance.request_from_csr(csr, profile, self._leaf_subject(node, profile, names), names=names,
                                            lifetime=Lifetime(lifetime_days, allow_long_lifetime))
        record = self.current_intermediate()
        signer = signer or self._signer(record, open_key)
        with self.lock(lock_timeout), self.inventory() as inv:
            state = self._ready(inv, open_key)
            replaces = None
            if supersede:
                replaces = max((e for e in state.entries.values() if e.node == node and e.profile == profile.name
                                and e.status == "valid" and e.not_after > rfc3339(now)),
                               key=lambda e: (e.not_after, e.serial), default=None)
            self._check_issuer_and_node(state, record, node, profile, now, replaces)
            completion: dict[str, Any] = {"csr": True, **extra}
            if replaces is not None:
                completion["reused_key"] = replaces.key_fingerprint == keys.spki_sha256(request.public_key)
            cert, row, _done = self._certify(state, request, event="renew" if replaces else "issue", node=node,
                                             issuer=record, signer=signer, now=now, completion=completion,
                                             replaces=replaces.serial if replaces else None)
            self._sync(inv, state)
        return Issued(cert, row, ())

    def revoke(
        self,
        serial: str,
        open_key: KeyOpener,
        *,
        reason: str = "unspecified",
        now: dt.datetime | None = None,
        lock_timeout: float = LOCK_TIMEOUT,
    ) -> Entry:
        """Mark `serial` revoked (in the log first) and publish its issuer's new CRL."""
        now = now or _utcnow()
        check_reason(reason)
        serial = normalise_serial(serial)
        with self.inventory() as inv:
            entry = inv.get(serial)
        if entry is None:
            raise CAError(f"serial {serial} is not in the inventory of {self.folder}")
        if entry.issuer_serial is None:
            raise CAError("the root cannot be revoked; retire the whole CA instead")
        issuer_record = self._record(entry.issuer_serial)
        signer = self._signer(issuer_record, open_key)
        with self.lock(lock_timeout), self.inventory() as inv:
            state = self._ready(inv, open_key)
            entry = state.entries.get(serial, entry)
            if entry.status == "revoked":
                raise CAError(f"serial {serial} was already revoked on {entry.revoked_at}")
            days = ROOT_DAYS if issuer_record.serial == self.root.serial else DEFAULT_DAYS
            number = state.crl_numbers.get(issuer_record.serial, 0) + 1
            self._append(state, "revoke", serial=serial, node=entry.node, profile=entry.profile,
                                      subject=entry.subject, details={
                                          "reason": reason, "revoked_at": rfc3339(now),
                                          "issuer_serial": issuer_record.serial, "crl_number": number, "days": days})
            self._write_crl(state, issuer_record.serial, signer, now, days, number)
            if entry.profile == "intermediate" and self.current_serial:
                self._write_bundles(state, now)
            self._sync(inv, state)
        return state.entries[serial]

    def crl(
        self,
        open_key: KeyOpener,
        *,
        issuer: str = "intermediate",
        days: int | None = None,
        now: dt.datetime | None = None,
        lock_timeout: float = LOCK_TIMEOUT,
    ) -> bytes:
        """Sign a fresh CRL, built from the log, for the current intermediate
        ("intermediate"), the root ("root") or the CA certificate with that serial; returns
        its PEM. `days` defaults to 30 for intermediates and 365 for the root."""
        now = now or _utcnow()
        record = (
            self.current_intermediate() if issuer == "intermediate"
            else self.root if issuer == "root" else self._record(normalise_serial(issuer))
        )
        if days is None:
            days = ROOT_DAYS if record.serial == self.root.serial else DEFAULT_DAYS
        if not 1 <= days <= 3650:
            raise CAError(f"a CRL must be valid for 1 to 3650 days, not {days}")
        signer = self._signer(record, open_key)
        with self.lock(lock_timeout), self.inventory() as inv:
            state = self._ready(inv, open_key)
            number = state.crl_numbers.get(record.serial, 0) + 1
            self._append(state, "crl", node=record.name, details={
                "issuer_serial": record.serial, "days": days, "crl_number": number})
            data = self._write_crl(state, record.serial, signer, now, days, number)
            self._sync(inv, state)
        return data

    def _write_crl(self, state: Records, issuer_serial: str, signer: CertificateIssuerPrivateKeyTypes,
                   now: dt.datetime, days: int, number: int) -> bytes:
        revoked = [
            Revoked(int(e.serial, 16), _parse_time(e.revoked_at or rfc3339(now)), e.revocation_reason or "unspecified")
            for e in state.revoked_by(issuer_serial)
        ]
        crl = build_crl(self.certificate(issuer_serial), signer, revoked, number=number, now=now - CLOCK_SKEW, days=days)
        data = crl.public_bytes(serialization.Encoding.PEM)
        (self.folder / "crl").mkdir(exist_ok=True)
        atomic_write(self.folder / "crl" / f"{issuer_serial}.pem", data)
        return data

    # -- reading the records -------------------------------------------------------------------

    def refresh(self, lock_timeout: float = LOCK_TIMEOUT) -> None:
        """Bring the inventory up to date with the log (reconciling an interrupted issuance)
        when it is behind; a folder this process may not write is left as it is."""
        with self.inventory() as inv:
            count = records.inventory_count(inv)
        last = issuance_log.last_entry(self.log_path) if self.log_path.exists() else None
        current = last is not None and last.get("seq") == count and last.get("event") != "intent"
        if current and last is not None and not _unfinished(last):
            return
        if not os.access(self.folder, os.W_OK):
            return
        with self.lock(lock_timeout), self.inventory() as inv:
            self._ready(inv, strict=False)

    def list(self, *, expiring: dt.timedelta | None = None, now: dt.datetime | None = None) -> Iterator[Entry]:
        now = now or _utcnow()
        self.refresh()
        with self.inventory() as inv:
            if expiring is None:
                yield from inv.entries()
            else:
                yield from inv.entries(expiring_before=now + expiring, now=now)

    def records(self) -> Records:
        """The CA's records as the log says them (read-only)."""
        return records.replay(self.log_path)

    def verify_log(self) -> issuance_log.LogReport:
        """Check the log's hash chain and compare the inventory with the records the log
        replays to, row by row (read-only)."""
        with self.inventory() as inv:
            state = records.replay(self.log_path, snapshot_at=records.inventory_count(inv))
            problems, notes = records.audit(state, inv)
        return issuance_log.LogReport(state.count, state.head, tuple(problems), tuple(notes))

    def rebuild_inventory(self, lock_timeout: float = LOCK_TIMEOUT) -> int:
        """Replace the inventory by one rebuilt from the log (which must verify); returns the
        number of certificates."""
        with self.lock(lock_timeout):
            issuance_log.repair_tail(self.log_path)
            state = records.replay(self.log_path)
            records.rebuild(self.folder, state)
        return len(state.entries)


def _unfinished(last: dict[str, Any]) -> bool:
    details = last.get("details")
    return bool(last.get("event") in ("issue", "renew") and isinstance(details, dict) and details.get("staging")
                and Path(str(details["staging"])).is_dir())


def _same_file(a: Path, b: Path) -> bool:
    """Both names are links to one file (a crash between link and unlink of a move), or the
    second holds the same bytes (a crash after the move, before the staging folder went: the
    certificate is then written to the staging folder again from the log)."""
    try:
        if os.path.samefile(a, b):
            return True
        sa, sb = os.lstat(a), os.lstat(b)
        return (stat.S_ISREG(sa.st_mode) and stat.S_ISREG(sb.st_mode) and sa.st_size == sb.st_size
                and read_regular(a, MAX_PKI_FILE) == read_regular(b, MAX_PKI_FILE))
    except (OSError, ReadError):
        return False


def _certificate_at(path: Path, serial: str, tbs_sha256: str) -> x509.Certificate | None:
    """The certificate with `serial` and those to-be-signed bytes in file `path`, if any."""
    try:
        if not path.is_file():
            return None
        for cert in x509.load_pem_x509_certificates(read_regular(path, MAX_PKI_FILE)):
            if serial_hex(cert.serial_number) == serial and hashlib.sha256(cert.tbs_certificate_bytes).hexdigest() == tbs_sha256:
                return cert
    except (OSError, ValueError, ReadError):
        return None
    return None


def _crl_number(path: Path) -> int:
    try:
        crl = x509.load_pem_x509_crl(read_regular(path, MAX_PKI_FILE))
        return int(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)
    except (OSError, ValueError, ReadError, x509.ExtensionNotFound):
        return 0


def _key_type(key_type: str | None, profile: Profile) -> str:
    from pki import policy

    chosen = keys.check_key_type(key_type or profile.key_type)
    if chosen not in profile.allowed_key_types:
        raise policy.Refused("key", f"a {chosen} key is not allowed for profile '{profile.name}' "
                             f"(allowed: {', '.join(profile.allowed_key_types)})")
    return chosen


def _ca_cert(data: dict[str, Any]) -> CACert:
    return CACert(str(data["serial"]), str(data["name"]), str(data["certificate"]), dict(data["key"]))


def _parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _load_plain_key(path: Path) -> CertificateIssuerPrivateKeyTypes:
    return keys.load_key_file(path)
