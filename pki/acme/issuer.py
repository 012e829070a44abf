"""The ACME server's one door into the CA: every call it makes into `pki.ca` is here.

Every certificate is made by `CA.issue_from_csr`, the CA's one issuance path: the
pre-issuance checks and pkilint of `pki.issuance`, the log's intent before the signature
and completion after it (the log is the source of truth; the inventory read here is its
cache). The CA folder is reopened for each operation, so a rotated
intermediate is used from the next issuance on; the keys it unlocks are kept in memory for
the server's life (a file key's passphrase is asked once).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from pki.acme.policy import Constraints
from pki.backends import key_opener
from pki.backends.interface import SecretSource
from pki.ca import CA, LOCK_TIMEOUT, normalise_serial
from pki.errors import PKIError
from pki.inventory import Entry
from pki.keys import spki_sha256
from pki.profiles import load_profile, shipped_names

# RFC 5280 CRLReason codes the ACME client may give -> the CA's reason names
REASONS = {0: "unspecified", 1: "keyCompromise", 3: "affiliationChanged", 4: "superseded",
           5: "cessationOfOperation", 9: "privilegeWithdrawn"}


@dataclass(frozen=True)
class IssuedCert:
    serial: str
    not_after: str
    chain: bytes
    """The certificate and its issuing intermediate (PEM), as ACME hands it out."""


class Issuer:
    """Issue from a CSR, revoke and look up certificates in one CA folder."""

    def __init__(self, folder: Path, secrets: SecretSource, *, lock_timeout: float = LOCK_TIMEOUT) -> None:
        self.folder = Path(folder)
        self.lock_timeout = lock_timeout
        self._open = key_opener(self.folder, secrets)
        self._keys: dict[str, CertificateIssuerPrivateKeyTypes] = {}
        self._keys_lock = threading.Lock()
        self._issue_lock = threading.Lock()

    def _key(self, ref: dict[str, Any]) -> CertificateIssuerPrivateKeyTypes:
        token = json.dumps(ref, sort_keys=True)
        with self._keys_lock:
            if token not in self._keys:
                self._keys[token] = self._open(ref)
            return self._keys[token]

    def ca(self) -> CA:
        return CA.open(self.folder)

    def check(self) -> str:
        """Open the CA and unlock the current intermediate's key now (a wrong passphrase fails
        at start, not at the first order); returns the intermediate's name."""
        ca = self.ca()
        record = ca.current_intermediate()
        self._key(record.key)
        return record.name

    def constraints(self) -> Constraints:
        """The current intermediate's DNS name constraints."""
        ca = self.ca()
        cert = ca.certificate(ca.current_intermediate().serial)
        try:
            nc = cert.extensions.get_extension_for_class(x509.NameConstraints).value
        except x509.ExtensionNotFound:
            return Constraints()
        permitted = tuple(str(n.value).lower() for n in nc.permitted_subtrees or () if isinstance(n, x509.DNSName))
        excluded = tuple(str(n.value).lower() for n in nc.excluded_subtrees or () if isinstance(n, x509.DNSName))
        return Constraints(permitted, excluded)

    def leaf_profiles(self) -> dict[str, int]:
        """The CA's leaf profiles (shipped and its own) and their lifetimes in days."""
        names = set(shipped_names())
        own = self.folder / "profiles"
        if own.is_dir():
            names |= {p.stem for p in own.glob("*.yaml")}
        out = {}
        for name in sorted(names):
            profile = load_profile(name, self.folder)
            if profile.kind == "leaf":
                out[name] = profile.lifetime_days
        return out

    def issue(self, csr: x509.CertificateSigningRequest, *, node: str, profile: str, dns: Sequence[str],
              lifetime_days: int, details: dict[str, Any]) -> IssuedCert:
        """Sign `csr`'s key for `dns` under the current intermediate. The node's previous valid
        certificate of this profile is superseded (ACME renewal); logged as issue or renew."""
        with self._issue_lock:
            ca = self.ca()
            signer = self._key(ca.current_intermediate().key)
            issued = ca.issue_from_csr(csr, profile, self._key, node=node, dns=dns, lifetime_days=lifetime_days,
                                       supersede=True, details=details, lock_timeout=self.lock_timeout,
                                       signer=signer)
        chain = self.chain(issued.entry.serial)
        assert chain is not None
        return IssuedCert(issued.entry.serial, issued.entry.not_after, chain)

    def entry(self, serial: str) -> Entry | None:
        try:
            serial = normalise_serial(serial)
        except PKIError:
            return None
        with self.ca().inventory() as inv:
            return inv.get(serial)

    def chain(self, serial: str) -> bytes | None:
        """The certificate and its issuer (PEM); None if the CA has no such certificate."""
        entry = self.entry(serial)
        if entry is None or entry.issuer_serial is None:
            return None
        issuer = self.ca().certificate(entry.issuer_serial)
        return entry.pem.encode() + issuer.public_bytes(serialization.Encoding.PEM)

    def revoke(self, serial: str, reason_code: int) -> Entry:
        reason = REASONS[reason_code]
        with self._issue_lock:
            return self.ca().revoke(serial, self._key, reason=reason, lock_timeout=self.lock_timeout)

    def find_issued(self, node: str, key_fingerprint: str, since: float) -> str | None:
        """A certificate for `node` with this key issued at or after `since` (epoch seconds):
        how an order interrupted between signing and recording finds its certificate."""
        after = dt.datetime.fromtimestamp(since - 1, dt.UTC).replace(microsecond=0)
        ca = self.ca()
        ca.refresh(self.lock_timeout)  # the inventory follows the log, also after a stop mid-change
        with ca.inventory() as inv:
            for entry in inv.for_node(node):
                issued = dt.datetime.fromisoformat(entry.issued_at.replace("Z", "+00:00"))
                if entry.key_fingerprint == key_fingerprint and issued >= after:
                    return entry.serial
        return None


def key_fingerprint(csr: x509.CertificateSigningRequest) -> str:
    return spki_sha256(csr.public_key())
