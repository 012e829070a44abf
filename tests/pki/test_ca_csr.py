"""`CA.issue_from_csr`: a certificate for a CSR's key (the ACME server's way in), no files written."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from pki.ca import CA, KeyOpener
from pki.errors import CAError
from pki.inventory import serial_hex

MakeCA = Callable[..., tuple[CA, KeyOpener]]


def csr(name: str, key: ec.EllipticCurvePrivateKey | None = None) -> x509.CertificateSigningRequest:
    key = key or ec.generate_private_key(ec.SECP256R1())
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .sign(key, hashes.SHA256()))


def test_issue_from_csr_supersedes_and_logs(make_ca: MakeCA, tmp_path: Path) -> None:
    ca, opener = make_ca()
    outside = {p for p in tmp_path.rglob("*") if ca.folder not in p.parents and p != ca.folder}
    first = ca.issue_from_csr(csr("n1.example.com"), "nats-server", opener, node="n1.example.com", dns=["n1.example.com"],
                              lifetime_days=30, details={"acme": {"order": "o1"}})
    assert first.files == ()
    assert {p for p in tmp_path.rglob("*") if ca.folder not in p.parents and p != ca.folder} == outside
    cert = first.certificate
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 30
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName) == ["n1.example.com"]
    with pytest.raises(CAError, match="already has a valid nats-server certificate"):
        ca.issue_from_csr(csr("n1.example.com"), "nats-server", opener, node="n1.example.com", dns=["n1.example.com"])
    key = ec.generate_private_key(ec.SECP256R1())
    second = ca.issue_from_csr(csr("n1.example.com", key), "nats-server", opener, node="n1.example.com",
                               dns=["n1.example.com"], supersede=True, details={"acme": {"order": "o2"}})
    with ca.inventory() as inv:
        old, new = inv.get(first.entry.serial), inv.get(second.entry.serial)
    assert old is not None and new is not None
    assert old.status == "superseded" and new.replaces == first.entry.serial
    entries = [json.loads(line) for line in (ca.folder / "log.jsonl").read_text().splitlines()]
    # the CA's one issuance path: an intent (the checked to-be-signed bytes, pkilint's outcome) before each signature
    assert [e["event"] for e in entries[-4:]] == ["intent", "issue", "intent", "renew"]
    intent = entries[-2]["details"]
    assert intent["tbs_sha256"] == hashlib.sha256(second.certificate.tbs_certificate_bytes).hexdigest()
    assert intent["lint"]["errors"] == [] and intent["lint"]["linter"].startswith("pkilint")
    assert entries[-1]["details"]["acme"] == {"order": "o2"} and entries[-1]["details"]["reused_key"] is False
    assert entries[-1]["details"]["intent"] == entries[-2]["seq"]
    assert entries[-1]["serial"] == serial_hex(second.certificate.serial_number)
    assert ca.verify_log().ok
    with pytest.raises(CAError, match="details may not set certificate"):
        ca.issue_from_csr(csr("n3.example.com"), "nats-server", opener, node="n3.example.com",
                          dns=["n3.example.com"], details={"certificate": "forged"})


def test_issue_from_csr_refuses_a_forged_csr_and_a_ca_profile(make_ca: MakeCA) -> None:
    ca, opener = make_ca()
    good = csr("n2.example.com")
    der = bytearray(good.public_bytes(Encoding.DER))
    der[-1] ^= 1  # the last byte of the ECDSA signature's s: still DER, no longer a valid signature
    forged = x509.load_der_x509_csr(bytes(der))
    with pytest.raises(CAError, match="signature does not verify"):
        ca.issue_from_csr(forged, "nats-server", opener, node="n2.example.com", dns=["n2.example.com"])
    with pytest.raises(CAError, match="is a CA profile"):
        ca.issue_from_csr(good, "intermediate", opener, node="n2.example.com")
