"""Certificate revocation lists: made from the inventory, checked during verification."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from pki.errors import LoadError, PKIError
from pki.keys import signing_hash

REASONS = {
    "unspecified": x509.ReasonFlags.unspecified,
    "keyCompromise": x509.ReasonFlags.key_compromise,
    "cACompromise": x509.ReasonFlags.ca_compromise,
    "affiliationChanged": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
    "privilegeWithdrawn": x509.ReasonFlags.privilege_withdrawn,
}
DEFAULT_DAYS = 30
ROOT_DAYS = 365
"""The root signs CRLs rarely (its key is offline), so its CRLs are valid for longer."""


@dataclass(frozen=True)
class Revoked:
    serial: int
    revoked_at: dt.datetime
    reason: str


def check_reason(reason: str) -> str:
    if reason not in REASONS:
        raise PKIError(f"unknown revocation reason '{reason}' (choose one of: {', '.join(REASONS)})")
    return reason


def build_crl(
    issuer: x509.Certificate,
    signer: CertificateIssuerPrivateKeyTypes,
    revoked: Sequence[Revoked],
    *,
    number: int,
    now: dt.datetime,
    days: int = DEFAULT_DAYS,
) -> x509.CertificateRevocationList:
    b = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(now)
        .next_update(now + dt.timedelta(days=days))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()), critical=False)  # type: ignore[arg-type]
    )
    for r in revoked:
        rb = x509.RevokedCertificateBuilder().serial_number(r.serial).revocation_date(r.revoked_at)
        if r.reason != "unspecified":
            rb = rb.add_extension(x509.CRLReason(REASONS[r.reason]), critical=False)
        b = b.add_revoked_certificate(rb.build())
    return b.sign(signer, signing_hash(signer.public_key()))


def load_crls(data: bytes, source: str) -> list[x509.CertificateRevocationList]:
    """Every CRL in a PEM file (or one DER CRL)."""
    out = []
    if b"-----BEGIN X509 CRL-----" in data:
        for block in data.split(b"-----END X509 CRL-----")[:-1]:
            start = block.find(b"-----BEGIN X509 CRL-----")
            pem = block[start:] + b"-----END X509 CRL-----\n"
            try:
                out.append(x509.load_pem_x509_crl(pem))
            except ValueError as exc:
                raise LoadError(f"{source}: unreadable CRL: {' '.join(str(exc).split())[:120]}") from None
        return out
    try:
        return [x509.load_der_x509_crl(data)]
    except ValueError:
        raise LoadError(f"{source}: neither a PEM nor a DER CRL") from None


def revocation_problem(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    crls: Sequence[x509.CertificateRevocationList],
    at: dt.datetime,
) -> str | None:
    """Why `cert` fails the CRL check against `issuer`, or None when it passes.

    Like `openssl verify -crl_check`: a CRL signed by the issuer must be at hand and current;
    the certificate must not be on it. The issuer's key usage, when present, must allow CRL
    signing (RFC 5280 4.2.1.3), and a CRL counts only with a non-critical CRL number (RFC 5280
    5.2.3); a revocation listed on any current CRL signed by the issuer counts.
    """
    name = issuer.subject.rfc4514_string()
    try:
        usage: x509.KeyUsage | None = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not usage.crl_sign:
        return f"the key usage of '{name}' does not allow signing CRLs (RFC 5280 4.2.1.3): revocation cannot be checked"
    candidates = [c for c in crls if c.issuer == issuer.subject]
    signed = [c for c in candidates if c.is_signature_valid(issuer.public_key())]  # type: ignore[arg-type]
    if not signed:
        if candidates:
            return f"the CRL of '{issuer.subject.rfc4514_string()}' has a bad signature"
        return f"no CRL of '{issuer.subject.rfc4514_string()}' to check revocation against"
    current = [c for c in signed if c.last_update_utc <= at and (c.next_update_utc is None or at <= c.next_update_utc)]
    if not current:
        latest = max(signed, key=lambda c: c.last_update_utc)
        if latest.last_update_utc > at:
            return f"the CRL of '{name}' is not valid yet at {at:%Y-%m-%d %H:%M}"
        return (f"the CRL of '{name}' expired on {latest.next_update_utc:%Y-%m-%d %H:%M}: "
                "sign a fresh one (auditor pki crl)")
    for crl in current:
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is not None:
            reason = ""
            try:
                reason = f" ({entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.name})"
            except x509.ExtensionNotFound:
                pass
            return f"certificate revoked on {entry.revocation_date_utc:%Y-%m-%d}{reason}"
    defects = [_crl_defect(c) for c in current]
    if all(defects):
        return f"the CRL of '{name}' {defects[0]}: revocation cannot be checked"
    return None


def _crl_defect(crl: x509.CertificateRevocationList) -> str | None:
    """Why a CRL cannot be relied on although its signature holds, or None."""
    try:
        number = crl.extensions.get_extension_for_class(x509.CRLNumber)
    except x509.ExtensionNotFound:
        return "has no CRL number (RFC 5280 5.2.3)"
    if number.critical:
        return "marks its CRL number critical (RFC 5280 5.2.3: non-critical)"
    return None
