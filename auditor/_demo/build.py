"""Issues the demo node's certificates through auditor's own PKI, with dates relative to now.

The fleet's CA folder is materialised beside the node (`<demo root>/pki-ca/`, see docs/pki.md)
with its inventory, issuance log and CRLs. Its keys are encrypted files protected by
:data:`DEMO_PASSPHRASE`; a real root key would be offline (or on a token), the demo keeps it
there so that `auditor pki` commands can be tried on it.

The chain: CIM Root CA (ECDSA P-384, 20 years, pathlen 1, issued 400 days ago) -> CIM
Intermediate CA G1 (P-384, 3 years, made 390 days ago, rotated 200 days ago: retired but valid,
still in the overlap bundle, its CRL refreshed) -> CIM Intermediate CA G2 (P-384, 3 years,
pathlen 0, name constraints example.com and 10.0.0.0/8, 200 days ago, the issuing CA) -> the NATS server
certificate (profile nats-server, P-256, 90 days; issued 70 days ago and renewed with a new key
5 days ago: the renewal the rotation rules look for), the leafnode client certificate
(profile nats-leaf, issued 82 days ago, so it expires within the 30-day warning window: a
planted problem), the node's event-signing certificate (the CA folder's own profile
`event-signing`, Ed25519, one year), and a backup client certificate (nats-client) revoked for
keyCompromise 3 days ago but still on the node in etc/nats/certs (a planted problem). The
inventory also holds a decommissioned node's certificate, revoked. And etc/nats/certs holds
ops-client-cert.pem, a client certificate G2's key signed 6 days ago outside the CA's log (a
misused CA key: a planted problem).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes

from auditor._fsutil import atomic_write
from pki.backends import key_opener
from pki.backends.file import FileBackend
from pki.ca import CA

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

    from pki.backends.interface import GeneratedKey

ORG = "CIM"
DEMO_PASSPHRASE = "cim-demo-root-passphrase"  # noqa: S105 - demo material, documented
"""Protects the demo CA's keys. Demo material only: `--passphrase-env` takes a variable holding it."""
CA_FOLDER = "pki-ca"
MAX_PEM_BYTES = 1 << 20
"""The most read of one of the demo's PEM files when linting them ahead (lint_ahead)."""
EVENT_SIGNING_PROFILE = """# The node signs the events it publishes (CIM event store) with an Ed25519 key.
name: event-signing
kind: leaf
description: Event signing (Ed25519)
lifetime_days: 365
key_type: ed25519
key_usage: [digitalSignature]
organizational_unit: Event Signing
require_san: false
"""


def _secrets(kind: str, what: str) -> str:
    return DEMO_PASSPHRASE


DEMO_ITERATIONS = 2048
"""PBKDF2 iterations of the demo CA's key files (a real CA's: 600,000). The demo's passphrase
is published (above, and in docs/pki.md), so stretching it protects nothing; 2,048 is what
OpenSSL and cryptography use for PKCS#8 by default, and spares the demo's first use three
600,000-round derivations (about 0.3 s)."""


class _KeptKeys(FileBackend):
    """The file backend (the keys are written encrypted, at DEMO_ITERATIONS), remembering each
    key it makes so the build signs with it without decrypting its file again."""

    iterations = DEMO_ITERATIONS

    def __init__(self, ca_dir: Path, kept: dict[str, CertificateIssuerPrivateKeyTypes]) -> None:
        super().__init__(ca_dir, _secrets)
        self.kept = kept

    def generate(self, key_type: str, label: str) -> GeneratedKey:
        made = super().generate(key_type, label)
        self.kept[str(made.ref["path"])] = made.signer
        return made


def _opener(folder: Path, kept: dict[str, CertificateIssuerPrivateKeyTypes]) -> Callable[[dict[str, Any]], CertificateIssuerPrivateKeyTypes]:
    """Opens a key reference of the demo CA: a key this build made from memory, else from its file."""
    read = key_opener(folder, _secrets)

    def open_key(ref: dict[str, Any]) -> CertificateIssuerPrivateKeyTypes:
        path = str(ref.get("path", ""))
        if ref.get("backend") == "file" and path not in kept:
            kept[path] = read(ref)
        return kept[path] if ref.get("backend") == "file" else read(ref)

    return open_key


def build_node(node: Path, now: dt.datetime | None = None) -> None:
    """Write the demo node's PKI material under `node` and the CA folder beside it, and its
    other live evidence (the GnuPG keyring is made by gpg meanwhile, in a thread)."""
    now = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    from auditor._demo.gnupg import build_demo_keyring

    with ThreadPoolExecutor(max_workers=1) as pool:
        keyring = pool.submit(build_demo_keyring, node, now)
        _build_pki(node, now)
        keyring.result()
    from auditor._demo.nats_demo import build_nats

    build_nats(node, now)


def lint_ahead(node: Path) -> None:
    """Remember pkilint's findings on the node's certificates (its `*.pem` files) in the lint
    cache the certificates collector reads (auditor._cache.LintResults, keyed by certificate
    digest and pkilint version): the process building the demo has pkilint loaded already
    (the CA lints before it signs), so a scan of the demo need not import it (0.2 s or more)."""
    from auditor._cache import LintResults
    from pki.errors import LoadError
    from pki.fsutil import ReadError, read_regular
    from pki.load import load_certificates
    from pki.versions import linter_name

    results = LintResults(linter_name())
    for path in sorted(node.rglob("*.pem")):
        try:
            loaded = load_certificates(read_regular(path, MAX_PEM_BYTES))
        except (ReadError, LoadError):
            continue
        for item in loaded:
            if item.certificate is not None:
                fingerprint = item.certificate.fingerprint(hashes.SHA256()).hex()
                if results.get(fingerprint) is None:
                    results.lint(item.certificate, fingerprint)
    results.save()


def _build_pki(node: Path, now: dt.datetime) -> None:
    days = dt.timedelta(days=1)
    pki_dir = node / "var/lib/cim/pki"
    certs = node / "etc/nats/certs"
    pki_dir.mkdir(parents=True, exist_ok=True)
    certs.mkdir(parents=True, exist_ok=True)
    folder = node.parent / CA_FOLDER
    if folder.exists():
        shutil.rmtree(folder)

    kept: dict[str, CertificateIssuerPrivateKeyTypes] = {}
    ca = CA.init(folder, "CIM Root CA", _KeptKeys(folder, kept), key_type="ecdsa-p384",
                 organization=ORG, not_before=now - 400 * days, now=now - 400 * days)
    opener = _opener(ca.folder, kept)
    ca.create_intermediate("CIM Intermediate CA G1", opener, _KeptKeys(ca.folder, kept), key_type="ecdsa-p384",
                           permitted_dns=["example.com"], permitted_ip=["10.0.0.0/8"], not_before=now - 390 * days, now=now - 390 * days)
    retired = ca.current_serial
    ca.create_intermediate("CIM Intermediate CA G2", opener, _KeptKeys(ca.folder, kept), key_type="ecdsa-p384",
                           permitted_dns=["example.com"], permitted_ip=["10.0.0.0/8"], not_before=now - 200 * days, now=now - 200 * days)
    signer = opener(ca.current_intermediate().key)
    (folder / "profiles").mkdir(exist_ok=True)
    atomic_write(folder / "profiles/event-signing.yaml", EVENT_SIGNING_PROFILE.encode(), mode=0o644)

    work = Path(tempfile.mkdtemp(prefix=".issue-", dir=node.parent))
    try:
        first = ca.issue("cim-001.example.com", "nats-server", opener, work / "server",
                         dns=["cim-001.example.com", "cim-prod-001.cim.example.com"], ips=["10.0.3.21"],
                         not_before=now - 70 * days, now=now - 70 * days, signer=signer)
        ca.renew(first.entry.serial, opener, work / "server", now=now - 5 * days)
        ca.issue("cim-prod-001-leaf.cim.example.com", "nats-leaf", opener, work / "leaf",
                        dns=["cim-prod-001-leaf.cim.example.com"],
                        not_before=now - 82 * days, now=now - 82 * days, signer=signer)
        ca.issue("cim-001.example.com", "event-signing", opener, work / "signing",
                 not_before=now - 30 * days, now=now - 30 * days, signer=signer)
        backup = ca.issue("cim-001.example.com", "nats-client", opener, work / "backup",
                          not_before=now - 20 * days, now=now - 20 * days, signer=signer)
        old = ca.issue("cim-legacy-002.example.com", "nats-server", opener, work / "legacy",
                       dns=["cim-legacy-002.example.com"], not_before=now - 40 * days, now=now - 40 * days,
                       signer=signer)
        ca.revoke(old.entry.serial, opener, reason="cessationOfOperation", now=now - 10 * days)
        ca.revoke(backup.entry.serial, opener, reason="keyCompromise", now=now - 3 * days)
        assert retired is not None
        ca.crl(opener, issuer=retired, now=now - 2 * days)  # the retired intermediate's CRL stays fresh
        ca.crl(opener, issuer="root", now=now - days)  # the offline root's periodic CRL
        rogue = _signed_outside_the_log(ca, signer, now - 6 * days)
        copies = {
            pki_dir / "root-ca.pem": (folder / "certs/root.pem", 0o644),
            pki_dir / "intermediate-ca.pem": (folder / "certs/intermediate.pem", 0o644),
            certs / "ca.pem": (folder / "certs/chain.pem", 0o644),
            certs / "server-cert.pem": (work / "server/cert.pem", 0o644),
            certs / "server-key.pem": (work / "server/key.pem", 0o600),
            certs / "leaf-client-cert.pem": (work / "leaf/cert.pem", 0o644),
            certs / "leaf-client-key.pem": (work / "leaf/key.pem", 0o600),
            certs / "backup-client-cert.pem": (work / "backup/cert.pem", 0o644),  # revoked: planted
            certs / "backup-client-key.pem": (work / "backup/key.pem", 0o600),
            node / "var/lib/cim/signing/event-signing-cert.pem": (work / "signing/cert.pem", 0o644),
            node / "var/lib/cim/signing/event-signing-key.pem": (work / "signing/key.pem", 0o600),
        }
        atomic_write(certs / "ops-client-cert.pem", rogue, mode=0o644)  # planted: PKI-006
        for target, (source, mode) in copies.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(target, source.read_bytes(), mode=mode)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    os.chmod(folder, 0o700)


def _signed_outside_the_log(ca: CA, signer: Any, when: dt.datetime) -> bytes:
    """What a misused intermediate key makes: a well-formed client certificate, checked and
    linted like any other, but signed without the CA's log ever hearing of it (PKI-006)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from pki.build import subject_name
    from pki.issuance import Request, prepare, sign
    from pki.profiles import load_profile

    profile = load_profile("nats-client")
    issuers = [ca.certificate(ca.current_intermediate().serial), ca.root_certificate]
    request = Request(profile=profile, subject=subject_name("ops.cim.example.com", ORG, profile.organizational_unit),
                      public_key=ec.generate_private_key(ec.SECP256R1()).public_key(), not_before=when)
    cert = sign(prepare(request, issuers=issuers, now=when), signer)
    return cert.public_bytes(serialization.Encoding.PEM)

