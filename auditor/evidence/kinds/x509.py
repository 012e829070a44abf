"""x509.certificate, and the certificate facts other kinds embed (tls, vault, yubikey)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from msgspec import Meta

from auditor.evidence.contract import Facts, NonNegative, Part, Timestamp

Hex = Annotated[str, Meta(pattern=r"^-?[0-9a-f]+$")]


KeyType = Literal["rsa", "ec", "ed25519", "ed448", "dsa", "unknown"]


class PublicKey(Part, frozen=True, kw_only=True):
    type: KeyType
    size: Annotated[int, Meta(description="bits (0 when unknown)")]
    curve: Annotated[str | None, Meta(description="EC curve name, e.g. secp256r1")]
    spki_sha256: Annotated[str, Meta(description="SHA-256 of the SubjectPublicKeyInfo, hex ('' when unreadable)")]


class Signature(Part, frozen=True, kw_only=True):
    algorithm: Annotated[str, Meta(description="e.g. sha256WithRSAEncryption, ecdsa-with-SHA256, ed25519")]
    oid: str
    hash: Annotated[str | None, Meta(description="md5, sha1, sha256, ... (null for ed25519/ed448)")]


class SubjectAltNames(Part, frozen=True, kw_only=True):
    dns: tuple[str, ...]
    ip: tuple[str, ...]
    email: tuple[str, ...]
    uri: Annotated[tuple[str, ...], Meta(description="without user-info: a user name, password or token before @ is removed where it is read")]
    uri_credentials: Annotated[NonNegative, Meta(description="URI names that held user-info (removed from `uri`): credentials the certificate shows every peer")] = 0


class NameConstraints(Part, frozen=True, kw_only=True):
    critical: bool
    permitted_dns: tuple[str, ...]
    excluded_dns: tuple[str, ...]
    permitted_ip: tuple[str, ...]
    excluded_ip: tuple[str, ...]


class Extension(Part, frozen=True, kw_only=True):
    oid: str
    name: str
    critical: bool


class Certificate(Part, frozen=True, kw_only=True):
    """The facts of one certificate (pki.facts), as every kind that holds a certificate records them."""

    subject: Annotated[str, Meta(description="RFC 4514 distinguished name")]
    subject_cn: str | None = None
    issuer: str
    serial: Annotated[Hex, Meta(description="serial number, hex")]
    serial_bits: int = 0
    version: int = 3
    not_before: Timestamp
    not_after: Timestamp
    lifetime_days: float
    fingerprint_sha256: Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")]
    self_issued: Annotated[bool, Meta(description="issuer equals subject")]
    self_signed: Annotated[bool, Meta(description="self-issued and its own key verifies its signature")]
    key: PublicKey
    signature: Signature
    is_ca: Annotated[bool, Meta(description="basicConstraints cA")]
    path_length: int | None
    basic_constraints_critical: bool | None = None
    key_usage: Annotated[tuple[str, ...], Meta(description="digitalSignature, keyCertSign, ... (RFC 5280 names)")]
    extended_key_usage: Annotated[tuple[str, ...], Meta(description="serverAuth, clientAuth, ... or dotted OIDs")]
    san: SubjectAltNames
    name_constraints: NameConstraints | None
    subject_key_id: str | None = None
    authority_key_id: str | None = None
    extensions: tuple[Extension, ...]


class Chain(Part, frozen=True, kw_only=True):
    status: Annotated[Literal["valid", "invalid", "no-anchors"], Meta(description="validated with cryptography.x509.verification against the target's trust anchors")]
    error: str | None
    path: Annotated[tuple[str, ...], Meta(description="subjects from the certificate to the anchor")]
    anchor: str | None
    is_anchor: Annotated[bool, Meta(description="the certificate is itself one of the trust anchors")] = False


class Lint(Part, frozen=True, kw_only=True):
    linter: Annotated[str, Meta(description="e.g. pkilint 0.13.3")]
    errors: Annotated[tuple[str, ...], Meta(description="fatal and error level findings, as 'code (message)'")]
    warnings: Annotated[tuple[str, ...], Meta(description="warning codes")]
    notices: Annotated[tuple[str, ...], Meta(description="notice codes")]


CertificateEncoding = Literal["pem", "der", "pkcs7", "pkcs12"]
"""How a certificate was read: a PEM or DER file of its own, or one of a container's."""


class X509Certificate(Certificate, Facts, frozen=True, kw_only=True):
    """One X.509 certificate read from a file, with its chain validated against the target's trust anchors and its pkilint findings."""

    KIND: ClassVar[str] = "x509.certificate"
    IDENTITY: ClassVar[tuple[str, ...]] = ("path", "fingerprint_sha256")

    path: str
    index: Annotated[NonNegative, Meta(description="position in the file (bundles hold several)")]
    encoding: Annotated[CertificateEncoding, Meta(
        description="pem or der: a certificate file; pkcs7: one of a PKCS#7 chain's (.p7b, PEM PKCS7 block); "
                    "pkcs12: one of a PKCS#12 file's (.p12, .pfx) that opens without a password")]
    chain: Chain
    lint: Annotated[Lint, Meta(description="pkilint's RFC 5280 findings (the linter the CA runs before it signs)")]
