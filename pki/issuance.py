"""One path for every certificate the CA signs: build, check, lint, then sign exactly that.

:func:`prepare` turns a :class:`Request` into the to-be-signed certificate, signs a copy with
a throwaway key of the issuer's algorithm (the way public CAs pre-lint), runs the
pre-issuance checks of :mod:`pki.policy` and pkilint on that copy, and refuses (nothing is
signed, nothing written) on a broken rule or an error-level lint finding. :func:`sign`
signs the same builder with the issuer's key and releases the certificate only if its
to-be-signed bytes are exactly the ones checked (their SHA-256 is what the issuance log's
intent records).

The CA (`pki.ca.CA`) wraps this between the log's intent and completion entries; init,
intermediate, issue, renew and CSR-based issuance (`CA.issue_from_csr`) all go through it.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificateIssuerPublicKeyTypes,
    CertificatePublicKeyTypes,
)

from pki import policy
from pki.build import CLOCK_SKEW, certificate_builder, random_serial
from pki.errors import CAError, LoadError, NoSubjectNames
from pki.facts import signed_by
from pki.keys import signing_hash
from pki.lint import LintReport, lint
from pki.policy import Lifetime, Refused
from pki.profiles import MAX_PATH_LENGTH, Profile

"""notBefore is backdated this much, for verifiers whose clocks run slow."""
MAX_CSR_BYTES = 64 * 1024


@dataclass(frozen=True)
class Request:
    """What to certify: the subject's key and names, the profile, and the lifetime asked for.

    Nothing in it is trusted: :func:`prepare` checks the certificate made from it. `names`
    become the SANs; `permitted`/`excluded` are name constraints (CA profiles only);
    `path_length` overrides a CA profile's; `not_before` defaults to now less CLOCK_SKEW.
    """

    profile: Profile
    subject: x509.Name
    public_key: CertificatePublicKeyTypes
    names: tuple[x509.GeneralName, ...] = ()
    lifetime: Lifetime = field(default_factory=Lifetime)
    not_before: dt.datetime | None = None
    permitted: tuple[x509.GeneralName, ...] = ()
    excluded: tuple[x509.GeneralName, ...] = ()
    path_length: int | None = None
    serial: int | None = None


@dataclass(frozen=True)
class Prepared:
    """A checked, linted to-be-signed certificate, waiting for the issuer's key."""

    builder: x509.CertificateBuilder
    candidate: x509.Certificate
    """The to-be-signed certificate with a throwaway signature: what was checked and linted."""
    tbs_sha256: str
    lint: LintReport
    days: int
    lifetime_override: bool
    issuer_public: CertificateIssuerPublicKeyTypes

    @property
    def serial(self) -> int:
        return self.candidate.serial_number


def request_from_csr(
    csr: bytes | x509.CertificateSigningRequest,
    profile: Profile,
    subject: x509.Name,
    *,
    names: Sequence[x509.GeneralName] = (),
    lifetime: Lifetime | None = None,
) -> Request:
    """A request for the key in a PKCS#10 CSR (PEM or DER). The CSR's signature must verify
    (proof of possession of the key); its subject and requested extensions are ignored: the
    CA decides the subject, the names (`names`, e.g. those an ACME order validated), the
    usage (the profile's) and the lifetime."""
    if isinstance(csr, bytes):
        if len(csr) > MAX_CSR_BYTES:
            raise LoadError(f"the CSR is larger than {MAX_CSR_BYTES} bytes")
        try:
            csr = (x509.load_pem_x509_csr(csr) if b"-----BEGIN" in csr else x509.load_der_x509_csr(csr))
        except ValueError as exc:
            raise LoadError(f"not a PKCS#10 certificate request: {' '.join(str(exc).split())[:120]}") from None
    try:
        signed = csr.is_signature_valid
        public = csr.public_key()
    except (ValueError, TypeError) as exc:  # unsupported key or signature algorithm
        raise Refused("key", f"the CSR's key is not usable: {' '.join(str(exc).split())[:120]}") from None
    if not signed:
        raise Refused("key", "the CSR's signature does not verify: it does not prove possession of its key")
    return Request(profile=profile, subject=subject, public_key=public, names=tuple(names),
                   lifetime=lifetime or Lifetime())


def prepare(
    request: Request,
    *,
    issuers: Sequence[x509.Certificate],
    issuer_public: CertificateIssuerPublicKeyTypes | None = None,
    now: dt.datetime,
) -> Prepared:
    """Build, check and lint the certificate `request` asks for below `issuers` (its issuer
    first, up to the root; empty for a self-signed root, which then needs no issuer_public).
    Raises policy.Refused naming the rule broken."""
    profile = request.profile
    if request.path_length is not None and not 0 <= request.path_length <= MAX_PATH_LENGTH:
        raise Refused("path-length", f"the path length must be from 0 to {MAX_PATH_LENGTH}, not {request.path_length}")
    if (request.permitted or request.excluded or request.path_length is not None) and not profile.is_ca:
        raise Refused("name-constraints", "name constraints and path lengths are for CA certificates only")
    days, over = policy.lifetime_days(profile, request.lifetime)
    not_before = (request.not_before or now - CLOCK_SKEW).astimezone(dt.UTC).replace(microsecond=0)
    try:
        not_after = not_before + dt.timedelta(days=days)
    except OverflowError:
        raise Refused("lifetime", f"{days} days from {not_before:%Y-%m-%d} is past the year 9999") from None
    if not_after.year > 9999:
        raise Refused("lifetime", f"{days} days from {not_before:%Y-%m-%d} is past the year 9999")
    if issuers:
        issuer_name = issuers[0].subject
        if issuer_public is None:
            issuer_public = issuers[0].public_key()  # type: ignore[assignment]
    else:
        issuer_name = request.subject
        issuer_public = request.public_key  # type: ignore[assignment]
    assert issuer_public is not None
    if profile.require_san and not request.names:
        raise NoSubjectNames(f"profile '{profile.name}' needs at least one DNS name or IP address", profile.name)
    try:
        builder = certificate_builder(
            profile=profile, subject=request.subject, public_key=request.public_key, issuer_name=issuer_name,
            issuer_public=issuer_public, serial=request.serial or random_serial(), not_before=not_before,
            not_after=not_after, names=request.names, permitted=request.permitted, excluded=request.excluded,
            path_length=request.path_length,
        )
        candidate = builder.sign(_throwaway(issuer_public), signing_hash(issuer_public))
    except (ValueError, TypeError) as exc:
        raise Refused("key", f"cannot build the certificate: {' '.join(str(exc).split())[:160]}") from None
    policy.check(candidate, issuers, profile)
    report = lint(candidate, issuers[0] if issuers else None)
    if not report.ok:
        raise Refused("lint", f"pkilint finds {'; '.join(str(f) for f in report.errors)}")
    return Prepared(builder, candidate, hashlib.sha256(candidate.tbs_certificate_bytes).hexdigest(),
                    report, days, over, issuer_public)


def sign(prepared: Prepared, signer: CertificateIssuerPrivateKeyTypes) -> x509.Certificate:
    """Sign the prepared certificate with the issuer's key; only the bytes that were checked."""
    try:
        cert = prepared.builder.sign(signer, signing_hash(prepared.issuer_public))
    except (ValueError, TypeError) as exc:
        raise CAError(f"signing failed: {' '.join(str(exc).split())[:160]}") from None
    if cert.tbs_certificate_bytes != prepared.candidate.tbs_certificate_bytes:
        raise CAError("the signed certificate differs from the one checked; it was not released")
    if not signed_by(cert, prepared.issuer_public):
        raise CAError("the issuer's key made a signature that does not verify; the certificate was not released")
    return cert


@functools.cache
def _throwaway_key(kind: str) -> CertificateIssuerPrivateKeyTypes:
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _throwaway(issuer_public: CertificateIssuerPublicKeyTypes) -> CertificateIssuerPrivateKeyTypes:
    """A key whose signature algorithm identifier equals the issuer's (the identifier names
    the algorithm and hash, not the curve or modulus), so the to-be-signed bytes are the same."""
    if isinstance(issuer_public, ec.EllipticCurvePublicKey):
        return _throwaway_key("ec")
    if isinstance(issuer_public, ed25519.Ed25519PublicKey):
        return _throwaway_key("ed25519")
    if isinstance(issuer_public, rsa.RSAPublicKey):
        return _throwaway_key("rsa")
    raise Refused("key", f"the issuer's {type(issuer_public).__name__} key cannot sign certificates here")
