"""Building certificates from profiles: one place that turns a profile into extensions."""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.x509.oid import NameOID

from pki.errors import NoSubjectNames, PKIError
from pki.keys import signing_hash
from pki.profiles import EKUS, Profile

SERIAL_BITS = 127
"""Serials are random, positive and below 2**127: at least 64 bits of entropy, at most 16
octets (RFC 5280 allows 20), never zero."""

_KU_ARGS = (
    "digitalSignature", "contentCommitment", "keyEncipherment", "dataEncipherment",
    "keyAgreement", "keyCertSign", "cRLSign",
)


def random_serial() -> int:
    while True:
        value = secrets.randbits(SERIAL_BITS)
        if value.bit_length() > 64:
            return value


def subject_name(common_name: str, organization: str | None = None, unit: str | None = None) -> x509.Name:
    if not common_name.strip():
        raise PKIError("a certificate needs a non-empty name")
    attrs = []
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _key_usage(names: Sequence[str], public: CertificatePublicKeyTypes) -> x509.KeyUsage:
    chosen = set(names)
    if isinstance(public, rsa.RSAPublicKey) and "digitalSignature" in chosen and "keyCertSign" not in chosen:
        chosen.add("keyEncipherment")  # RSA key transport in TLS 1.2
    flags = {n: n in chosen for n in _KU_ARGS}
    return x509.KeyUsage(
        digital_signature=flags["digitalSignature"], content_commitment=flags["contentCommitment"],
        key_encipherment=flags["keyEncipherment"], data_encipherment=flags["dataEncipherment"],
        key_agreement=flags["keyAgreement"], key_cert_sign=flags["keyCertSign"],
        crl_sign=flags["cRLSign"], encipher_only=False, decipher_only=False,
    )


def parse_sans(dns: Sequence[str], ips: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for d in dns:
        d = d.strip().lower().rstrip(".")
        labels = d.removeprefix("*.").split(".")
        if not d or not all(lab and len(lab) <= 63 and lab.replace("-", "").isalnum() for lab in labels):
            raise PKIError(f"'{d}' is not a DNS name")
        names.append(x509.DNSName(d))
    for i in ips:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(i.strip())))
        except ValueError:
            raise PKIError(f"'{i}' is not an IP address") from None
    return names


def build_certificate(
    *,
    profile: Profile,
    subject: x509.Name,
    public_key: CertificatePublicKeyTypes,
    issuer: x509.Certificate | None,
    signer: CertificateIssuerPrivateKeyTypes,
    not_before: dt.datetime,
    lifetime_days: int | None = None,
    sans: Sequence[x509.GeneralName] = (),
    permitted_dns: Sequence[str] = (),
    serial: int | None = None,
) -> x509.Certificate:
    """Sign a certificate for `profile`. `issuer` None makes it self-signed (a root).

    A certificate never outlives its issuer: the validity is cut at the issuer's notAfter.
    """
    days = lifetime_days if lifetime_days is not None else profile.lifetime_days
    if days < 1:
        raise PKIError("the lifetime must be at least one day")
    not_after = not_before + dt.timedelta(days=days)
    issuer_name = subject if issuer is None else issuer.subject
    issuer_public = signer.public_key()
    if issuer is not None:
        not_after = min(not_after, issuer.not_valid_after_utc)
        if not_after <= not_before:
            raise PKIError(f"the issuing CA '{issuer.subject.rfc4514_string()}' has expired")
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(serial or random_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.BasicConstraints(ca=profile.is_ca, path_length=profile.path_length if profile.is_ca else None),
            critical=True,
        )
        .add_extension(_key_usage(profile.key_usage, public_key), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False)
    )
    if profile.extended_key_usage:
        b = b.add_extension(
            x509.ExtendedKeyUsage([EKUS[e] for e in profile.extended_key_usage]), critical=False
        )
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    elif profile.require_san:
        raise NoSubjectNames(f"profile '{profile.name}' needs at least one DNS name or IP address", profile.name)
    if permitted_dns:
        if profile.kind != "intermediate":
            raise PKIError("name constraints are for intermediate CAs only")
        b = b.add_extension(
            x509.NameConstraints([x509.DNSName(d) for d in permitted_dns], None), critical=True
        )
    try:
        return b.sign(signer, signing_hash(issuer_public))
    except (ValueError, TypeError) as exc:
        raise PKIError(f"signing failed: {exc}") from None
