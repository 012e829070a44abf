"""Building certificates from profiles: one place that turns a profile into extensions.

:func:`certificate_builder` makes the unsigned certificate; :mod:`pki.issuance` checks it,
lints it and signs it. Names given by users are parsed here (`parse_names`,
`parse_constraints`); an invalid one is an :class:`~pki.errors.InvalidName` saying which
kind of name it was given as.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
import urllib.parse
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPublicKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.x509.oid import NameOID

from pki.errors import InvalidName, PKIError
from pki.profiles import EKUS, Profile

CLOCK_SKEW = dt.timedelta(minutes=5)
"""How far before now a certificate's validity starts (clocks that lag a little still accept it)."""

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


def subject_name(common_name: str | None, organization: str | None = None, unit: str | None = None) -> x509.Name:
    """O=, OU=, CN=; `common_name` None leaves the CN out (then O or OU must be given)."""
    if common_name is not None and not common_name.strip():
        raise PKIError("a certificate needs a non-empty name")
    attrs = []
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    if common_name is not None:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    if not attrs:
        raise PKIError("a certificate needs a non-empty subject")
    return x509.Name(attrs)


def key_usage(names: Sequence[str], public: CertificatePublicKeyTypes) -> x509.KeyUsage:
    """The KeyUsage a profile gives a key (RSA signing keys also get keyEncipherment)."""
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


def _dns(value: str, kind: str, *, constraint: bool = False) -> str:
    d = value.strip().lower().rstrip(".")
    body = d.removeprefix(".") if constraint else d.removeprefix("*.")
    labels = body.split(".")
    if not body or len(body) > 253 or not all(
        lab and len(lab) <= 63 and lab.replace("-", "").isalnum() and lab.isascii()
        and not lab.startswith("-") and not lab.endswith("-") for lab in labels
    ):
        raise InvalidName(f"'{value}' is not a DNS name", kind)
    return d


def _email(value: str, kind: str, *, constraint: bool = False) -> str:
    v = value.strip()
    local, at, host = v.rpartition("@")
    if constraint and not at:
        return _dns(v, kind, constraint=True)  # a host or .domain: every mailbox there
    if not at or not local or not v.isascii() or any(c.isspace() for c in v):
        raise InvalidName(f"'{value}' is not an email address", kind)
    return f"{local}@{_dns(host, kind)}"


def _uri(value: str, kind: str) -> str:
    v = value.strip()
    try:
        parts = urllib.parse.urlsplit(v)
    except ValueError:
        parts = None
    if parts is None or not parts.scheme or not v.isascii() or any(c.isspace() for c in v):
        raise InvalidName(f"'{value}' is not a URI", kind)
    if "@" in parts.netloc:  # named without it: the refusal must not print the credential either
        raise InvalidName(f"'{without_userinfo(v)}' is given with user information (user:password@ before the "
                          "host), which a certificate would publish to every peer: give the URI without it", kind)
    return v


def without_userinfo(uri: str) -> str:
    """`uri` without the user information before its host (`https://user:pw@host/p` is
    `https://host/p`); as it is when it has none, or cannot be parsed (_uri refuses it then)."""
    try:
        parts = urllib.parse.urlsplit(uri)
    except ValueError:
        return uri
    if "@" not in parts.netloc:
        return uri
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _ip(value: str, kind: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        raise InvalidName(f"'{value}' is not an IP address", kind) from None


def parse_names(dns: Sequence[str] = (), ips: Sequence[str] = (), emails: Sequence[str] = (),
                uris: Sequence[str] = ()) -> list[x509.GeneralName]:
    """Subject alternative names: DNS names, IP addresses, email addresses and URIs, each once
    (`--dns a.example --dns A.example.` is one name, as a verifier compares them)."""
    names: list[x509.GeneralName] = [x509.DNSName(_dns(d, "dns")) for d in dns]
    names += [x509.IPAddress(_ip(i, "ip")) for i in ips]
    names += [x509.RFC822Name(_email(e, "email")) for e in emails]
    names += [x509.UniformResourceIdentifier(_uri(u, "uri")) for u in uris]
    return list(dict.fromkeys(names))


def parse_constraints(dns: Sequence[str] = (), ips: Sequence[str] = (), emails: Sequence[str] = (),
                      uris: Sequence[str] = (), *, prefix: str = "permitted") -> list[x509.GeneralName]:
    """Name-constraint subtrees: DNS domains, IP ranges (CIDR; a bare address is one host),
    email hosts or mailboxes, and URI hosts (`.example.com`: its subdomains only)."""
    subtrees: list[x509.GeneralName] = [x509.DNSName(_dns(d, f"{prefix}-dns", constraint=True)) for d in dns]
    for value in ips:
        try:
            subtrees.append(x509.IPAddress(ipaddress.ip_network(value.strip(), strict=True)))
        except ValueError:
            raise InvalidName(f"'{value}' is not an IP range such as 10.0.0.0/8 (host bits must be zero)",
                              f"{prefix}-ip") from None
    subtrees += [x509.RFC822Name(_email(e, f"{prefix}-email", constraint=True)) for e in emails]
    subtrees += [x509.UniformResourceIdentifier(_dns(u, f"{prefix}-uri", constraint=True)) for u in uris]
    return subtrees


def certificate_builder(
    *,
    profile: Profile,
    subject: x509.Name,
    public_key: CertificatePublicKeyTypes,
    issuer_name: x509.Name,
    issuer_public: CertificateIssuerPublicKeyTypes,
    serial: int,
    not_before: dt.datetime,
    not_after: dt.datetime,
    names: Sequence[x509.GeneralName] = (),
    permitted: Sequence[x509.GeneralName] = (),
    excluded: Sequence[x509.GeneralName] = (),
    path_length: int | None = None,
) -> x509.CertificateBuilder:
    """The unsigned certificate of `profile`: basic constraints, key usage, key identifiers
    (the AKI from the issuer's key, whoever signs), EKU, SANs and name constraints."""
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.BasicConstraints(
                ca=profile.is_ca,
                path_length=(profile.path_length if path_length is None else path_length) if profile.is_ca else None,
            ),
            critical=True,
        )
        .add_extension(key_usage(profile.key_usage, public_key), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False)
    )
    if profile.extended_key_usage:
        b = b.add_extension(
            x509.ExtendedKeyUsage([EKUS[e] for e in profile.extended_key_usage]), critical=False
        )
    if names:
        b = b.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
    if permitted or excluded:
        b = b.add_extension(x509.NameConstraints(list(permitted) or None, list(excluded) or None), critical=True)
    return b
