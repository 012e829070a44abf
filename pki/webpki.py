"""The checks WebPKI-grade verifiers make on a chain that cryptography's verifier does not.

rustls-webpki, Go's crypto/x509, BoringSSL and the CA/Browser Forum Baseline Requirements (BR)
refuse chains that `cryptography.x509.verification` accepts. :func:`chain_problem` checks a
path cryptography already validated (leaf first, trust anchor last) and names the first
problem with the RFC 5280 or BR section it breaks:

- every certificate: a positive serial of at most 20 octets (RFC 5280 4.1.2.2); no weak key
  (DSA, an elliptic curve under 256 bits such as P-192, RSA under 2048 bits or with a modulus
  length not a multiple of 8: BR 6.1.5); name and policy constraints marked critical (RFC 5280
  4.2.1.10, 4.2.1.11); a CA certificate has a subject key identifier (RFC 5280 4.2.1.2); a
  certificate that is not self-signed has an authority key identifier with a keyIdentifier
  (RFC 5280 4.2.1.1), trust anchors included;
- a self-signed trust anchor: its AKI, when present, holds only a keyIdentifier equal to its
  SKI (BR 7.1.2.1.3), and it has no extended key usage (BR 7.1.2.1.2);
- the leaf: no wildcard directly over a public suffix (BR 3.2.2.6; the Public Suffix List,
  private section included, through the `publicsuffixlist` package); for purpose server or
  client the EKU extension is present and names the purpose (anyExtendedKeyUsage is not enough;
  in a server certificate it is not allowed: BR 7.1.2.7.10); a server certificate (purpose
  server, or a name checked) has SANs (BR 7.1.2.7.12) and every subject CN is one of them,
  character for character (an IP address in its canonical text form, a DNS name as its xn--
  A-label: BR 7.1.4.3).

:func:`name_problem` says why a name to check is not a DNS name or IP address.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pki.terminal import printable

if TYPE_CHECKING:
    from publicsuffixlist import PublicSuffixList

_PURPOSE_EKU = {"server": ExtendedKeyUsageOID.SERVER_AUTH, "client": ExtendedKeyUsageOID.CLIENT_AUTH}
_EKU_NAME = {"server": "serverAuth", "client": "clientAuth"}
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
MAX_SERIAL_OCTETS = 20


def name_problem(name: str) -> str | None:
    """Why `name` (to be matched against a server certificate) is neither an IP address nor a
    DNS name in the preferred name syntax, or None."""
    try:
        ipaddress.ip_address(name)
        return None
    except ValueError:
        pass
    shown = printable(name[:300])
    if not name.isascii():
        return (f"'{shown}' is not a valid DNS name: give an internationalised name as its xn-- A-label "
                "(RFC 5280 4.2.1.6, RFC 5890)")
    host = name[:-1] if name.endswith(".") else name
    labels = host.split(".")
    if not host or len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        return (f"'{shown}' is not a valid DNS name: labels of letters, digits and inner hyphens, "
                "at most 63 characters each (RFC 1034 3.5, RFC 5280 4.2.1.6)")
    return None


def chain_problem(path: Sequence[x509.Certificate], *, purpose: str, server: bool) -> str | None:
    """The first problem of `path` (leaf first, trust anchor last), or None.

    `purpose` is "server", "client" or "any"; `server` says the leaf is checked as a server
    certificate (purpose server, or a name to match)."""
    last = len(path) - 1
    for i, cert in enumerate(path):
        role = "the certificate" if i == 0 else "the trust anchor" if i == last else "an intermediate"
        try:
            cert.extensions  # noqa: B018 (parsed here once: a malformed extension is a problem, not a crash)
        except ValueError as exc:
            return f"{role} '{cert.subject.rfc4514_string()}': an extension cannot be parsed: {exc} (RFC 5280 4.2)"
        self_signed = _self_signed(cert, path[i + 1] if i < last else None)
        problem = _every_certificate(cert, self_signed) or (_anchor(cert) if i == last and i > 0 and self_signed else None)
        if problem:
            return f"{role} '{cert.subject.rfc4514_string()}': {problem}"
    leaf = path[0]
    return _wildcards(leaf) or _eku(leaf, purpose) or (_cn_in_sans(leaf) if server else None)


def _ext(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.Extension[x509.ExtensionType] | None:
    try:
        return cert.extensions.get_extension_for_class(kind)
    except x509.ExtensionNotFound:
        return None


def _self_signed(cert: x509.Certificate, issuer: x509.Certificate | None) -> bool:
    """Signed by its own key. Below the anchor cryptography checked the signature with `issuer`'s
    key, so comparing keys is enough; the anchor's own signature is checked here (once)."""
    if cert.subject != cert.issuer:
        return False
    if issuer is not None:
        return cert.public_key() == issuer.public_key()
    return _signs_itself(cert)


@functools.lru_cache(maxsize=256)
def _signs_itself(cert: x509.Certificate) -> bool:
    """A trust anchor's self-signature, checked once per anchor (a scan checks many chains against few)."""
    try:
        cert.verify_directly_issued_by(cert)
    except Exception:  # InvalidSignature, an unsupported key type: not self-signed
        return False
    return True


def _every_certificate(cert: x509.Certificate, self_signed: bool) -> str | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography warns about the very serials refused here
        serial = cert.serial_number
    if serial <= 0:
        return f"serial number {serial} is not positive (RFC 5280 4.1.2.2)"
    if (serial.bit_length() + 8) // 8 > MAX_SERIAL_OCTETS:
        return f"serial number longer than {MAX_SERIAL_OCTETS} octets (RFC 5280 4.1.2.2)"
    problem = _weak_key(cert)
    if problem:
        return problem
    for kind, section, what in ((x509.NameConstraints, "4.2.1.10", "name constraints"),
                                (x509.PolicyConstraints, "4.2.1.11", "policy constraints")):
        ext = _ext(cert, kind)
        if ext is not None and not ext.critical:
            return f"its {what} extension is not marked critical (RFC 5280 {section})"
    basic = _ext(cert, x509.BasicConstraints)
    is_ca = basic is not None and isinstance(basic.value, x509.BasicConstraints) and basic.value.ca
    if is_ca and _ext(cert, x509.SubjectKeyIdentifier) is None:
        return "a CA certificate without a subject key identifier (RFC 5280 4.2.1.2)"
    if not self_signed:
        aki = _ext(cert, x509.AuthorityKeyIdentifier)
        if aki is None or not isinstance(aki.value, x509.AuthorityKeyIdentifier) or aki.value.key_identifier is None:
            return ("no authority key identifier with a keyIdentifier, which every certificate but a "
                    "self-signed one must carry (RFC 5280 4.2.1.1)")
    return None


def _weak_key(cert: x509.Certificate) -> str | None:
    try:
        key = cert.public_key()
    except Exception:  # an algorithm cryptography does not know: cryptography's verifier judged it
        return None
    if isinstance(key, dsa.DSAPublicKey):
        return "a DSA key, which WebPKI verifiers refuse (CA/B BR 6.1.5)"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < 256:
        return f"a weak elliptic curve key ({key.curve.name}, {key.curve.key_size} bits; CA/B BR 6.1.5: P-256 or larger)"
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            return f"a weak RSA key ({key.key_size} bits; CA/B BR 6.1.5: at least 2048)"
        if key.key_size % 8:
            return f"an RSA modulus of {key.key_size} bits, not a multiple of 8 (CA/B BR 6.1.5)"
    return None


def _anchor(cert: x509.Certificate) -> str | None:
    """A self-signed trust anchor (a root): AKI consistent with its SKI, no EKU."""
    aki = _ext(cert, x509.AuthorityKeyIdentifier)
    if aki is not None and isinstance(aki.value, x509.AuthorityKeyIdentifier):
        value = aki.value
        if value.authority_cert_issuer is not None or value.authority_cert_serial_number is not None:
            return ("a root whose authority key identifier names an issuer or serial: only a keyIdentifier "
                    "is allowed (CA/B BR 7.1.2.1.3)")
        ski = _ext(cert, x509.SubjectKeyIdentifier)
        own = ski.value.digest if ski is not None and isinstance(ski.value, x509.SubjectKeyIdentifier) else None
        if value.key_identifier is None or value.key_identifier != own:
            return ("a root whose authority key identifier is not its own subject key identifier "
                    "(CA/B BR 7.1.2.1.3)")
    if _ext(cert, x509.ExtendedKeyUsage) is not None:
        return "a root with an extended key usage extension, which a root must not carry (CA/B BR 7.1.2.1.2)"
    return None


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()  # the list bundled with the package: ICANN and private sections


def _sans(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    ext = _ext(cert, x509.SubjectAlternativeName)
    return ext.value if ext is not None and isinstance(ext.value, x509.SubjectAlternativeName) else None


def _wildcards(leaf: x509.Certificate) -> str | None:
    sans = _sans(leaf)
    for dns in sans.get_values_for_type(x509.DNSName) if sans is not None else []:
        if dns.startswith("*.") and _public_suffixes().is_public(dns[2:].rstrip(".").lower()):
            return (f"the wildcard name '{dns}' covers a whole public suffix, which no CA may certify "
                    "(CA/B BR 3.2.2.6)")
    return None


def _eku(leaf: x509.Certificate, wanted: str) -> str | None:
    if wanted not in _PURPOSE_EKU:
        return None
    name = _EKU_NAME[wanted]
    ext = _ext(leaf, x509.ExtendedKeyUsage)
    usages = list(ext.value) if ext is not None and isinstance(ext.value, x509.ExtendedKeyUsage) else None
    if usages is None:
        return (f"the certificate has no extended key usage: a {wanted} certificate must name {name} "
                "(CA/B BR 7.1.2.7.10, RFC 5280 4.2.1.12)")
    if _PURPOSE_EKU[wanted] not in usages:
        return f"the certificate's extended key usage does not allow {name}"
    if wanted == "server" and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usages:
        return "a server certificate must not carry anyExtendedKeyUsage (CA/B BR 7.1.2.7.10)"
    return None


def _cn_in_sans(leaf: x509.Certificate) -> str | None:
    sans = _sans(leaf)
    if sans is None:
        return "a server certificate without subject alternative names (CA/B BR 7.1.2.7.12, RFC 6125 6.4.4)"
    names = set(sans.get_values_for_type(x509.DNSName))
    names |= {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    for attr in leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        cn = attr.value if isinstance(attr.value, str) else attr.value.decode("utf-8", "replace")
        if cn not in names:
            return (f"the subject CN '{cn}' is not one of the certificate's subject alternative names in the same "
                    "form (an IP address in canonical text, a DNS name as its A-label: CA/B BR 7.1.4.3)")
    return None
