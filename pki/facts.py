"""Facts about a certificate, as typed values: pki's own results, for whoever reads certificates."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import warnings
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, SignatureAlgorithmOID

from pki.errors import LoadError, one_line

_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "anyExtendedKeyUsage",
}
_KEY_USAGE_FIELDS = (
    ("digital_signature", "digitalSignature"),
    ("content_commitment", "nonRepudiation"),
    ("key_encipherment", "keyEncipherment"),
    ("data_encipherment", "dataEncipherment"),
    ("key_agreement", "keyAgreement"),
    ("key_cert_sign", "keyCertSign"),
    ("crl_sign", "cRLSign"),
)
_SIG_NAMES = {
    SignatureAlgorithmOID.RSA_WITH_MD5: "md5WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA1: "sha1WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA224: "sha224WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA256: "sha256WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA384: "sha384WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA512: "sha512WithRSAEncryption",
    SignatureAlgorithmOID.RSASSA_PSS: "rsassaPss",
    SignatureAlgorithmOID.ECDSA_WITH_SHA1: "ecdsa-with-SHA1",
    SignatureAlgorithmOID.ECDSA_WITH_SHA224: "ecdsa-with-SHA224",
    SignatureAlgorithmOID.ECDSA_WITH_SHA256: "ecdsa-with-SHA256",
    SignatureAlgorithmOID.ECDSA_WITH_SHA384: "ecdsa-with-SHA384",
    SignatureAlgorithmOID.ECDSA_WITH_SHA512: "ecdsa-with-SHA512",
    SignatureAlgorithmOID.DSA_WITH_SHA1: "dsa-with-sha1",
    SignatureAlgorithmOID.DSA_WITH_SHA256: "dsa-with-sha256",
    SignatureAlgorithmOID.ED25519: "ed25519",
    SignatureAlgorithmOID.ED448: "ed448",
}
_HASH_BY_SIG_NAME = {
    "md5": "md5",
    "sha1": "sha1",
    "SHA1": "sha1",
    "sha224": "sha224",
    "SHA224": "sha224",
    "sha256": "sha256",
    "SHA256": "sha256",
    "sha384": "sha384",
    "SHA384": "sha384",
    "sha512": "sha512",
    "SHA512": "sha512",
}


@dataclass(frozen=True)
class KeyFacts:
    type: str
    """rsa, ec, ed25519, ed448, dsa or unknown."""
    size: int
    curve: str | None
    spki_sha256: str = ""


@dataclass(frozen=True)
class SignatureFacts:
    algorithm: str
    oid: str
    hash: str | None


@dataclass(frozen=True)
class SanFacts:
    dns: tuple[str, ...] = ()
    ip: tuple[str, ...] = ()
    email: tuple[str, ...] = ()
    uri: tuple[str, ...] = ()


@dataclass(frozen=True)
class NameConstraintFacts:
    critical: bool
    permitted_dns: tuple[str, ...]
    excluded_dns: tuple[str, ...]
    permitted_ip: tuple[str, ...]
    excluded_ip: tuple[str, ...]


@dataclass(frozen=True)
class ExtensionFacts:
    oid: str
    name: str
    critical: bool


@dataclass(frozen=True)
class CertificateFacts:
    """What an audit looks at in one certificate."""

    subject: str
    subject_cn: str | None
    issuer: str
    serial: str
    """Hex, lower case."""
    serial_bits: int
    version: int
    not_before: str
    """RFC 3339, UTC."""
    not_after: str
    lifetime_days: float
    fingerprint_sha256: str
    self_issued: bool
    self_signed: bool
    key: KeyFacts
    signature: SignatureFacts
    is_ca: bool
    path_length: int | None
    basic_constraints_critical: bool | None
    key_usage: tuple[str, ...]
    extended_key_usage: tuple[str, ...]
    san: SanFacts
    name_constraints: NameConstraintFacts | None
    subject_key_id: str | None
    authority_key_id: str | None
    extensions: tuple[ExtensionFacts, ...]

    def to_dict(self) -> dict[str, Any]:
        """As plain data (lists for tuples)."""
        plain: dict[str, Any] = dataclasses.asdict(self, dict_factory=lambda items: {k: list(v) if isinstance(v, tuple) else v for k, v in items})
        plain["extensions"] = [dict(e) for e in plain["extensions"]]
        return plain


def rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def key_facts(key: Any, spki_sha256: str = "") -> KeyFacts:
    """Type, size in bits and curve of a public key."""
    if isinstance(key, rsa.RSAPublicKey):
        return KeyFacts("rsa", key.key_size, None, spki_sha256)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return KeyFacts("ec", key.curve.key_size, key.curve.name, spki_sha256)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return KeyFacts("ed25519", 256, None, spki_sha256)
    if isinstance(key, ed448.Ed448PublicKey):
        return KeyFacts("ed448", 456, None, spki_sha256)
    if isinstance(key, dsa.DSAPublicKey):
        return KeyFacts("dsa", key.key_size, None, spki_sha256)
    return KeyFacts("unknown", 0, None, spki_sha256)


def spki_sha256(cert: x509.Certificate) -> str:
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return ""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def signature_facts(cert: x509.Certificate) -> SignatureFacts:
    oid = cert.signature_algorithm_oid
    name = _SIG_NAMES.get(oid, oid._name if oid._name != "Unknown OID" else oid.dotted_string)
    try:
        algo = cert.signature_hash_algorithm
        hash_name = algo.name.lower() if algo is not None else None
    except UnsupportedAlgorithm:
        hash_name = next((v for k, v in _HASH_BY_SIG_NAME.items() if k in name), "unknown")
    return SignatureFacts(name, oid.dotted_string, hash_name)


def _ext(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> x509.Extension[Any] | None:
    try:
        return cert.extensions.get_extension_for_oid(oid)
    except (x509.ExtensionNotFound, ValueError):
        return None


# Only used to recognise who signed a legacy certificate, never to trust it.
_LEGACY_HASHES: dict[str, hashes.HashAlgorithm] = {
    "md5": hashes.MD5(),  # noqa: S303
    "sha1": hashes.SHA1(),  # noqa: S303
}


def _legacy_signature_ok(cert: x509.Certificate, issuer_key: Any) -> bool:
    """Check an MD5 or SHA-1 signature, which cryptography's x509 layer refuses to verify.

    Auditing needs to know that such a certificate is self-signed even though it must not be
    trusted; this uses the primitives directly and only answers the question "who signed it".
    """
    chosen = _LEGACY_HASHES.get(signature_facts(cert).hash or "")
    return chosen is not None and _verified(cert, issuer_key, chosen, None)


def _verified(cert: x509.Certificate, public: Any, algorithm: Any, params: Any) -> bool:
    try:
        if isinstance(public, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            public.verify(cert.signature, cert.tbs_certificate_bytes)
        elif isinstance(public, ec.EllipticCurvePublicKey) and algorithm is not None:
            ecdsa = params if isinstance(params, ec.ECDSA) else ec.ECDSA(algorithm)
            public.verify(cert.signature, cert.tbs_certificate_bytes, ecdsa)
        elif isinstance(public, rsa.RSAPublicKey) and algorithm is not None:
            pad = params if isinstance(params, padding.PKCS1v15 | padding.PSS) else padding.PKCS1v15()
            public.verify(cert.signature, cert.tbs_certificate_bytes, pad, algorithm)
        elif isinstance(public, dsa.DSAPublicKey) and algorithm is not None:
            public.verify(cert.signature, cert.tbs_certificate_bytes, algorithm)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def signed_by(cert: x509.Certificate, public: Any) -> bool:
    """Whether the key `public` made the certificate's signature, whatever its names say
    (MD5 and SHA-1 signatures included: who signed is a fact, trust is another question)."""
    try:
        params, algorithm = cert.signature_algorithm_parameters, cert.signature_hash_algorithm
    except (UnsupportedAlgorithm, ValueError):
        return _legacy_signature_ok(cert, public)
    return _verified(cert, public, algorithm, params) or _legacy_signature_ok(cert, public)


def is_self_signed(cert: x509.Certificate) -> bool:
    """Issuer equals subject and the certificate's own key verifies its signature."""
    if cert.issuer != cert.subject:
        return False
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except InvalidSignature:
        return False
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return _legacy_signature_ok(cert, key)
    return True


# What cryptography's lazy parsing raises for a certificate whose fields are malformed.
_MALFORMED = (ValueError, TypeError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType)


def _public_key_facts(cert: x509.Certificate) -> KeyFacts:
    spki = spki_sha256(cert)
    try:
        return key_facts(cert.public_key(), spki)
    except (ValueError, UnsupportedAlgorithm):
        return KeyFacts("unknown", 0, None, spki)


def certificate_facts(cert: x509.Certificate) -> CertificateFacts:
    """What an audit looks at in one certificate.

    cryptography parses fields lazily, so a malformed field surfaces only here: that is a
    LoadError naming the problem, never a crash.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # odd-but-parseable certificates are audited, not refused
        try:
            return _facts(cert)
        except _MALFORMED as exc:
            raise LoadError(f"malformed certificate: {one_line(exc)}") from None


def _facts(cert: x509.Certificate) -> CertificateFacts:
    try:
        extensions = list(cert.extensions)
    except ValueError:
        extensions = []
    bc = _ext(cert, ExtensionOID.BASIC_CONSTRAINTS)
    ku = _ext(cert, ExtensionOID.KEY_USAGE)
    eku = _ext(cert, ExtensionOID.EXTENDED_KEY_USAGE)
    san = _ext(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    nc = _ext(cert, ExtensionOID.NAME_CONSTRAINTS)
    ski = _ext(cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    aki = _ext(cert, ExtensionOID.AUTHORITY_KEY_IDENTIFIER)

    key_usage: list[str] = []
    if ku is not None:
        value: x509.KeyUsage = ku.value
        key_usage = [label for attr, label in _KEY_USAGE_FIELDS if getattr(value, attr)]
        if value.key_agreement:
            if value.encipher_only:
                key_usage.append("encipherOnly")
            if value.decipher_only:
                key_usage.append("decipherOnly")
    eku_names = tuple(_EKU_NAMES.get(o, o.dotted_string) for o in eku.value) if eku is not None else ()
    san_facts = SanFacts()
    if san is not None:
        names: x509.SubjectAlternativeName = san.value
        san_facts = SanFacts(
            dns=tuple(str(n) for n in names.get_values_for_type(x509.DNSName)),
            ip=tuple(str(n) for n in names.get_values_for_type(x509.IPAddress)),
            email=tuple(str(n) for n in names.get_values_for_type(x509.RFC822Name)),
            uri=tuple(str(n) for n in names.get_values_for_type(x509.UniformResourceIdentifier)),
        )
    constraints = None
    if nc is not None:
        ncv: x509.NameConstraints = nc.value

        def pick(subtrees: list[x509.GeneralName] | None, kind: type) -> tuple[str, ...]:
            return tuple(str(s.value) for s in (subtrees or []) if isinstance(s, kind))

        constraints = NameConstraintFacts(
            critical=nc.critical,
            permitted_dns=pick(ncv.permitted_subtrees, x509.DNSName),
            excluded_dns=pick(ncv.excluded_subtrees, x509.DNSName),
            permitted_ip=pick(ncv.permitted_subtrees, x509.IPAddress),
            excluded_ip=pick(ncv.excluded_subtrees, x509.IPAddress),
        )
    cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    not_before = cert.not_valid_before_utc
    not_after = cert.not_valid_after_utc
    return CertificateFacts(
        subject=cert.subject.rfc4514_string(),
        subject_cn=str(cn[0].value) if cn else None,
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        serial_bits=cert.serial_number.bit_length(),
        version=cert.version.value + 1,
        not_before=rfc3339(not_before),
        not_after=rfc3339(not_after),
        lifetime_days=round((not_after - not_before).total_seconds() / 86400, 3),
        fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(),
        self_issued=cert.issuer == cert.subject,
        self_signed=is_self_signed(cert),
        key=_public_key_facts(cert),
        signature=signature_facts(cert),
        is_ca=bool(bc is not None and bc.value.ca),
        path_length=bc.value.path_length if bc is not None else None,
        basic_constraints_critical=bc.critical if bc is not None else None,
        key_usage=tuple(key_usage),
        extended_key_usage=eku_names,
        san=san_facts,
        name_constraints=constraints,
        subject_key_id=ski.value.digest.hex() if ski is not None else None,
        authority_key_id=(
            aki.value.key_identifier.hex() if aki is not None and aki.value.key_identifier else None
        ),
        extensions=tuple(ExtensionFacts(e.oid.dotted_string, str(e.oid._name), e.critical) for e in extensions),
    )
