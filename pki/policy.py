"""Pre-issuance checks: what a verifier would enforce, checked before a signature is released.

:func:`check` looks at the to-be-signed certificate (see :mod:`pki.issuance`) and the CA
certificates above it and raises :class:`Refused` naming the rule broken:

- ``name-constraints``: every name of the certificate (SANs of every type: DNS, IP, email,
  URI, directory names; the subject's common name when it is a host name and no DNS SAN is
  present, as OpenSSL checks it; the subject's emailAddress) lies inside the permitted and
  outside the excluded subtrees of every CA above it, as RFC 5280 4.2.1.10 defines matching.
  Stricter than RFC 5280: a CA constrained for some name types certifies no name of a type
  it has no permitted subtree for (an intermediate limited to DNS domains issues no IP SAN
  unless it was given IP ranges).
- ``validity``: the certificate's validity lies inside each issuer's.
- ``lifetime``: at most the profile's maximum (`max_lifetime_days`) unless the request says
  so explicitly (the override is logged), never more than 100 years.
- ``key``: the key type is one the profile allows (RSA with at least 2048 bits, 3072 for
  CAs, and an odd public exponent of at least 65537; ECDSA on P-256 or P-384; Ed25519).
- ``key-usage`` and ``extended-key-usage``: exactly the profile's; the issuer is a CA with
  keyCertSign, and an issuer's EKU, when it has one, allows the certificate's (as Go's
  verifier, hence nats-server, requires).
- ``path-length``: a CA certificate only under an issuer whose path length allows one more
  CA below it, and with a smaller path length than its issuer's.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pki.build import key_usage
from pki.errors import LongLifetime, NameTypeNotPermitted, NoSubjectNames, OutlivesIssuer, Refused
from pki.keys import key_type_of
from pki.profiles import EKUS, MAX_LIFETIME_DAYS, Profile

__all__ = ["RULES", "Lifetime", "Refused", "certificate_names", "check", "check_days", "describe", "lifetime_days"]
RULES = ("name-constraints", "validity", "lifetime", "key", "key-usage", "extended-key-usage", "path-length", "lint")
MIN_RSA_EXPONENT = 65537


@dataclass(frozen=True)
class Lifetime:
    """What was asked for: `days` (None: the profile's default) and whether a lifetime over
    the profile's maximum was explicitly allowed."""

    days: int | None = None
    allow_long: bool = False


def check_days(days: int | None, what: str = "the lifetime") -> None:
    """Refuse a lifetime outside 1 .. MAX_LIFETIME_DAYS days (before any date arithmetic)."""
    if days is not None and (isinstance(days, bool) or not 1 <= days <= MAX_LIFETIME_DAYS):
        raise Refused("lifetime", f"{what} must be a whole number of days from 1 to {MAX_LIFETIME_DAYS}, not {days}")


def lifetime_days(profile: Profile, asked: Lifetime) -> tuple[int, bool]:
    """The lifetime to use and whether it exceeds the profile's maximum (an override)."""
    check_days(asked.days)
    days = profile.lifetime_days if asked.days is None else asked.days
    over = days > profile.max_days
    if over and not asked.allow_long:
        raise LongLifetime(
            f"{days} days is longer than profile '{profile.name}' allows ({profile.max_days} days); "
            "ask for fewer days, or allow it explicitly (it is logged)", days)
    return days, over


def check(candidate: x509.Certificate, issuers: Sequence[x509.Certificate], profile: Profile) -> None:
    """Refuse `candidate` (the to-be-signed certificate) if a verifier would reject it below
    `issuers` (its issuer first, then that one's issuer, up to the root; empty for a root)."""
    _check_key(candidate, profile)
    _check_usage(candidate, profile, issuers[0] if issuers else None)
    _check_path_length(candidate, profile, issuers)
    for issuer in issuers:
        _check_validity(candidate, issuer)
        _check_name_constraints(candidate, issuer)


# -- key ---------------------------------------------------------------------------------------


def _check_key(cert: x509.Certificate, profile: Profile) -> None:
    public = cert.public_key()
    kind = key_type_of(public)
    allowed = profile.allowed_key_types
    if kind not in allowed:
        shown = kind if kind != "unknown" else type(public).__name__
        raise Refused("key", f"a {shown} key is not allowed for profile '{profile.name}' (allowed: {', '.join(allowed)})")
    if isinstance(public, rsa.RSAPublicKey):
        e = public.public_numbers().e
        if e % 2 == 0 or e < MIN_RSA_EXPONENT:
            raise Refused("key", f"the RSA public exponent {e} is not allowed (an odd number of at least {MIN_RSA_EXPONENT})")


# -- usage -------------------------------------------------------------------------------------


def _ext(cert: x509.Certificate, cls: type[x509.ExtensionType]) -> x509.Extension[x509.ExtensionType] | None:
    try:
        return cert.extensions.get_extension_for_class(cls)
    except x509.ExtensionNotFound:
        return None


def _check_usage(cert: x509.Certificate, profile: Profile, issuer: x509.Certificate | None) -> None:
    ku = _ext(cert, x509.KeyUsage)
    expected = key_usage(profile.key_usage, cert.public_key())
    if ku is None or not ku.critical or ku.value != expected:
        raise Refused("key-usage", f"the key usage differs from profile '{profile.name}' ({', '.join(profile.key_usage)})")
    eku = _ext(cert, x509.ExtendedKeyUsage)
    usages = list(eku.value) if eku is not None else []  # type: ignore[call-overload]
    if usages != [EKUS[e] for e in profile.extended_key_usage]:
        raise Refused("extended-key-usage", f"the extended key usage differs from profile '{profile.name}'")
    if profile.require_san and _ext(cert, x509.SubjectAlternativeName) is None:
        raise NoSubjectNames(f"profile '{profile.name}' needs at least one DNS name or IP address", profile.name)
    if issuer is None:
        return
    bc = _ext(issuer, x509.BasicConstraints)
    if bc is None or not bc.value.ca:  # type: ignore[attr-defined]
        raise Refused("path-length", f"the issuer '{issuer.subject.rfc4514_string()}' is not a CA certificate")
    issuer_ku = _ext(issuer, x509.KeyUsage)
    if issuer_ku is not None and not issuer_ku.value.key_cert_sign:  # type: ignore[attr-defined]
        raise Refused("key-usage", f"the issuer '{issuer.subject.rfc4514_string()}' may not sign certificates (no keyCertSign)")
    issuer_eku = _ext(issuer, x509.ExtendedKeyUsage)
    if issuer_eku is not None and usages:
        allowed = list(issuer_eku.value)  # type: ignore[call-overload]
        if ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in allowed:
            missing = [e for e in profile.extended_key_usage if EKUS[e] not in allowed]
            if missing:
                raise Refused("extended-key-usage",
                              f"the issuer '{issuer.subject.rfc4514_string()}' does not allow {', '.join(missing)}")


# -- path length -------------------------------------------------------------------------------


def _check_path_length(cert: x509.Certificate, profile: Profile, issuers: Sequence[x509.Certificate]) -> None:
    if not profile.is_ca or not issuers:
        return
    bc = _ext(cert, x509.BasicConstraints)
    own = bc.value.path_length if bc is not None else None  # type: ignore[attr-defined]
    # each CA above allows `path_length` more CA certificates below it
    for depth, issuer in enumerate(issuers):
        limit = _ext(issuer, x509.BasicConstraints)
        allowed = limit.value.path_length if limit is not None else None  # type: ignore[attr-defined]
        if allowed is None:
            continue
        room = allowed - depth
        name = issuer.subject.rfc4514_string()
        if room < 1:
            raise Refused("path-length", f"'{name}' has path length {allowed}: it may not have a CA certificate below it here")
        if own is None or own > room - 1:
            raise Refused("path-length",
                          f"path length {'unlimited' if own is None else own} is more than '{name}' allows below it ({room - 1})")


# -- validity ----------------------------------------------------------------------------------


def _check_validity(cert: x509.Certificate, issuer: x509.Certificate) -> None:
    name = issuer.subject.rfc4514_string()
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    if start < issuer.not_valid_before_utc:
        raise Refused("validity", f"it would be valid from {_day(start)}, before its issuer '{name}' ({_day(issuer.not_valid_before_utc)})")
    if end > issuer.not_valid_after_utc:
        left = (issuer.not_valid_after_utc - start).days
        hint = f"ask for at most {left} days" if left >= 1 else "the issuer has expired or is about to"
        raise OutlivesIssuer(
            f"it would be valid until {_day(end)}, after its issuer '{name}' ends ({_day(issuer.not_valid_after_utc)}); "
            f"{hint}, or rotate the issuing CA")


def _day(moment: dt.datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M}Z"


# -- name constraints ----------------------------------------------------------------------------


def certificate_names(cert: x509.Certificate) -> list[x509.GeneralName]:
    """The names a verifier checks against name constraints: every SAN, the subject as a
    directory name, its emailAddress attributes, and its common name as a DNS name when it
    looks like a host name and there is no DNS SAN (OpenSSL does this)."""
    names: list[x509.GeneralName] = [x509.DirectoryName(cert.subject)] if len(cert.subject) else []
    san = _ext(cert, x509.SubjectAlternativeName)
    sans: list[x509.GeneralName] = list(san.value) if san is not None else []  # type: ignore[call-overload]
    names += sans
    names += [x509.RFC822Name(str(a.value)) for a in cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)]
    if not any(isinstance(n, x509.DNSName) for n in sans):
        for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
            value = str(attr.value)
            if _hostname_like(value):
                names.append(x509.DNSName(value.lower()))
    return names


def _hostname_like(value: str) -> bool:
    """OpenSSL's test for a CN that is a DNS name: LDH labels with at least one dot."""
    labels = value.rstrip(".").split(".")
    return len(labels) > 1 and all(
        lab and lab.isascii() and lab.replace("-", "").replace("_", "").isalnum() for lab in labels
    )


def _constraint_type(name: x509.GeneralName) -> str:
    return {
        x509.DNSName: "DNS", x509.IPAddress: "IP", x509.RFC822Name: "email",
        x509.UniformResourceIdentifier: "URI", x509.DirectoryName: "directory name",
    }.get(type(name), type(name).__name__)


_NOUN = {"DNS": "DNS name", "IP": "IP address", "email": "email address", "URI": "URI"}


def _named(name: x509.GeneralName) -> str:
    kind = _constraint_type(name)
    return f"{_NOUN.get(kind, kind)} {_show(name)}"


def _show(name: x509.GeneralName) -> str:
    if isinstance(name, x509.DirectoryName):
        return name.value.rfc4514_string()
    return str(name.value)


def _check_name_constraints(cert: x509.Certificate, issuer: x509.Certificate) -> None:
    nc = _ext(issuer, x509.NameConstraints)
    if nc is None:
        return
    permitted: list[x509.GeneralName] = list(nc.value.permitted_subtrees or [])  # type: ignore[attr-defined]
    excluded: list[x509.GeneralName] = list(nc.value.excluded_subtrees or [])  # type: ignore[attr-defined]
    issuer_name = issuer.subject.rfc4514_string()
    constrained_types = {_constraint_type(p) for p in permitted}
    cn_derived = _cn_names(cert)
    for name in certificate_names(cert):
        kind = _constraint_type(name)
        if any(_matches(name, e) for e in excluded if _constraint_type(e) == kind):
            raise Refused("name-constraints", f"{_named(name)} is excluded by '{issuer_name}'")
        subtrees = [p for p in permitted if _constraint_type(p) == kind]
        if subtrees:
            if not any(_matches(name, p) for p in subtrees):
                allowed = ", ".join(_show(p) for p in subtrees)
                raise Refused("name-constraints",
                              f"{_named(name)} is outside what '{issuer_name}' may certify ({kind}: {allowed})")
        elif permitted and kind != "directory name" and name not in cn_derived:
            given = ", ".join(sorted(constrained_types))
            message = f"{_named(name)}: '{issuer_name}' is constrained to {given} names and permits no {kind} names"
            name_type = {"DNS": "dns", "IP": "ip", "email": "email", "URI": "uri"}.get(kind)
            if name_type is None:
                raise Refused("name-constraints", message)
            raise NameTypeNotPermitted(message, name_type)


def _cn_names(cert: x509.Certificate) -> list[x509.GeneralName]:
    san = _ext(cert, x509.SubjectAlternativeName)
    if san is not None and any(isinstance(n, x509.DNSName) for n in san.value):  # type: ignore[attr-defined]
        return []
    return [x509.DNSName(str(a.value).lower()) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            if _hostname_like(str(a.value))]


def _matches(name: x509.GeneralName, subtree: x509.GeneralName) -> bool:
    """RFC 5280 4.2.1.10 matching of one name against one subtree of the same type."""
    if isinstance(name, x509.DNSName) and isinstance(subtree, x509.DNSName):
        return _dns_within(name.value, subtree.value)
    if isinstance(name, x509.IPAddress) and isinstance(subtree, x509.IPAddress):
        network = subtree.value
        address = name.value
        if isinstance(address, ipaddress.IPv4Network | ipaddress.IPv6Network):
            return address.version == network.version and address.subnet_of(network)  # type: ignore[arg-type]
        return isinstance(network, ipaddress.IPv4Network | ipaddress.IPv6Network) and address in network
    if isinstance(name, x509.RFC822Name) and isinstance(subtree, x509.RFC822Name):
        return _email_within(name.value, subtree.value)
    if isinstance(name, x509.UniformResourceIdentifier) and isinstance(subtree, x509.UniformResourceIdentifier):
        return _uri_within(name.value, subtree.value)
    if isinstance(name, x509.DirectoryName) and isinstance(subtree, x509.DirectoryName):
        rdns, base = list(name.value.rdns), list(subtree.value.rdns)
        return rdns[: len(base)] == base
    return False


def _dns_within(name: str, base: str) -> bool:
    name, base = name.lower().rstrip("."), base.lower().rstrip(".")
    if not base:
        return True
    if base.startswith("."):
        return name.endswith(base)
    return name == base or name.endswith("." + base)


def _email_within(address: str, base: str) -> bool:
    local, _, host = address.rpartition("@")
    if "@" in base:
        base_local, _, base_host = base.rpartition("@")
        return local == base_local and host.lower() == base_host.lower()
    if base.startswith("."):
        return host.lower().endswith(base.lower())
    return host.lower() == base.lower()


def _uri_within(uri: str, base: str) -> bool:
    try:
        host = urllib.parse.urlsplit(uri).hostname
    except ValueError:
        return False
    if not host:
        return False  # RFC 5280: a URI without a host name is rejected under URI constraints
    try:
        ipaddress.ip_address(host)
        return False  # nor one whose host is an IP address
    except ValueError:
        pass
    host, base = host.lower(), base.lower()
    if base.startswith("."):
        return host.endswith(base)
    return host == base


def describe(subtrees: Sequence[x509.GeneralName]) -> Iterator[str]:
    """'DNS:example.com', 'IP:10.0.0.0/8', ... for logs and messages."""
    for s in subtrees:
        yield f"{_constraint_type(s)}:{_show(s)}"
