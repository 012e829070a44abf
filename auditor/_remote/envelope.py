"""Signed evidence: what an agent publishes and a worker accepts, or refuses with a reason.

The standard parts: a DSSE envelope (secure-systems-lab/dsse v1: the signature covers
PAE(payloadType, payload)) whose payload is an in-toto Statement v1. The Statement's subject is
the evidence bundle, named by its SHA-256 digest; its predicate says which target it is, when it
was collected and for which request. The bundle travels beside the envelope, as in-toto
subjects do, and the node's certificate chain beside that (laid out as a Sigstore bundle's
`verificationMaterial.x509CertificateChain`, without a transparency log):

    {"format": "auditor-signed-evidence", "version": 1,
     "dsseEnvelope": {"payloadType": "application/vnd.in-toto+json", "payload": "<base64>",
                      "signatures": [{"keyid": "<SPKI SHA-256>", "sig": "<base64>"}]},
     "verificationMaterial": {"x509CertificateChain": {"certificates": [{"rawBytes": "<base64 DER>"}]}},
     "bundle": {... the evidence bundle, auditor schema bundle ...}}

A worker accepts it only when a signature verifies with the leaf certificate's key, the chain
leads to one of the target's trust anchors (now, with the WebPKI checks of pki.verify), the
certificate names the target (its name or one of its `names`, as CN or SAN), the Statement is
for this target, and the bundle is valid and is the Statement's subject. Anything else is a
:class:`Refused` whose message is the reason logged. Replays are judged by the history
(auditor._history: a bundle older than the last accepted one for its target).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from auditor.errors import ConfigError, EvidenceError
from auditor.evidence.bundle import Bundle, parse_bundle

FORMAT = "auditor-signed-evidence"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "urn:auditor:predicate:evidence-collection:v1"
BUNDLE_MEDIA_TYPE = "application/vnd.auditor.evidence-bundle+json"
MAX_CERTIFICATES = 8
MAX_SIGNATURES = 4
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class Refused(EvidenceError):
    """Signed evidence a worker does not accept; the message is the reason it logs."""


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what is signed."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


def _b64decode(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise Refused(f"{what} is not base64 text")
    try:
        return base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise Refused(f"{what} is not valid base64") from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _hash_for(public: Any) -> hashes.HashAlgorithm:
    if isinstance(public, ec.EllipticCurvePublicKey):
        return {521: hashes.SHA512(), 384: hashes.SHA384()}.get(public.curve.key_size, hashes.SHA256())
    return hashes.SHA384() if isinstance(public, rsa.RSAPublicKey) and public.key_size >= 3072 else hashes.SHA256()


def sign_bytes(key: CertificateIssuerPrivateKeyTypes, message: bytes) -> bytes:
    """Ed25519; ECDSA with the curve's hash (DER signature); RSA-PSS."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(message)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(message, ec.ECDSA(_hash_for(key.public_key())))
    if isinstance(key, rsa.RSAPrivateKey):
        algorithm = _hash_for(key.public_key())
        return key.sign(message, padding.PSS(padding.MGF1(algorithm), padding.PSS.DIGEST_LENGTH), algorithm)
    raise ConfigError(f"a {type(key).__name__} cannot sign evidence (Ed25519, ECDSA or RSA keys can)")


def verify_bytes(public: Any, signature: bytes, message: bytes) -> bool:
    try:
        if isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(signature, message)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, message, ec.ECDSA(_hash_for(public)))
        elif isinstance(public, rsa.RSAPublicKey):
            algorithm = _hash_for(public)
            public.verify(signature, message, padding.PSS(padding.MGF1(algorithm), padding.PSS.AUTO), algorithm)
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def key_id(cert: x509.Certificate) -> str:
    """The DSSE keyid: SHA-256 of the certificate's SubjectPublicKeyInfo (a hint, never trusted)."""
    from pki.keys import spki_sha256

    return spki_sha256(cert.public_key())


@dataclass(frozen=True)
class Signer:
    """The node's signing key and certificate chain (leaf first)."""

    key: CertificateIssuerPrivateKeyTypes
    chain: tuple[x509.Certificate, ...]

    @classmethod
    def load(cls, key: Path, certificate: Path, chain: Sequence[Path] = ()) -> Signer:
        """Read with pki's loaders; their errors (pki.errors.KeyAccessError) and ConfigError name
        the file when something does not fit."""
        from pki.keys import load_key_file, public_equal

        private = load_key_file(key)
        certs: list[x509.Certificate] = []
        for path in (certificate, *chain):
            certs.extend(_certificates(path))
        if not public_equal(private.public_key(), certs[0].public_key()):
            raise ConfigError("the signing key does not belong to this certificate (the first one in the file)",
                              file=certificate)
        # a root is never sent: the worker has its own
        sent = [certs[0], *(c for c in certs[1:] if c.subject != c.issuer)]
        return cls(private, tuple(dict.fromkeys(sent)))

    def sign(self, message: bytes) -> dict[str, str]:
        return {"keyid": key_id(self.chain[0]), "sig": _b64(sign_bytes(self.key, message))}


def _certificates(path: Path) -> list[x509.Certificate]:
    from pki.fsutil import read_regular_file
    from pki.load import load_certificates

    loaded = load_certificates(read_regular_file(path, 1024 * 1024, "certificate file"))  # LoadError names the file
    bad = next((c for c in loaded if c.certificate is None), None)
    if bad is not None:
        raise ConfigError(bad.error or "unparsable certificate", file=path, line=bad.line)
    return [c.certificate for c in loaded if c.certificate is not None]


def statement(bundle: Bundle, *, request_id: str | None, agent: Mapping[str, str]) -> dict[str, Any]:
    """The in-toto Statement for `bundle`."""
    name = str(bundle.target.get("name", ""))
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": f"evidence-bundle:{name}", "digest": {"sha256": bundle.digest},
                     "mediaType": BUNDLE_MEDIA_TYPE}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {"target": name, "collectedAt": bundle.created_at, "requestId": request_id,
                      "agent": dict(agent)},
    }


def seal(bundle: Bundle, signer: Signer, *, request_id: str | None = None,
         agent: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The signed-evidence document for `bundle`."""
    body = json.dumps(statement(bundle, request_id=request_id, agent=agent or {}), sort_keys=True).encode()
    return {
        "format": FORMAT,
        "version": 1,
        "dsseEnvelope": {
            "payloadType": PAYLOAD_TYPE,
            "payload": _b64(body),
            "signatures": [signer.sign(pae(PAYLOAD_TYPE, body))],
        },
        "verificationMaterial": {"x509CertificateChain": {"certificates": [
            {"rawBytes": _b64(c.public_bytes(serialization.Encoding.DER))} for c in signer.chain
        ]}},
        "bundle": bundle.to_dict(),
    }


@dataclass(frozen=True)
class Trust:
    """What a worker accepts for one target: the names its certificate may carry, and its roots."""

    target: str
    names: tuple[str, ...]
    anchors: tuple[x509.Certificate, ...]

    @classmethod
    def load(cls, target: str, names: Sequence[str], anchor_files: Sequence[Path]) -> Trust:
        anchors = [c for path in anchor_files for c in _certificates(path)]
        return cls(target, (target, *names), tuple(anchors))


@dataclass(frozen=True)
class Opened:
    """Signed evidence that passed every check."""

    bundle: Bundle
    digest: str
    target: str
    collected_at: str
    request_id: str | None
    signer: str
    """The leaf certificate's subject (RFC 4514)."""
    signer_sha256: str
    """The leaf certificate's SHA-256 fingerprint."""


def certificate_names(cert: x509.Certificate) -> set[str]:
    """The names a certificate carries: its CNs and its SAN DNS names and URIs (lower case)."""
    names = {str(a.value).lower() for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)}
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return names
    names.update(n.lower() for n in san.get_values_for_type(x509.DNSName))
    names.update(n.lower() for n in san.get_values_for_type(x509.UniformResourceIdentifier))
    return names


def _field(doc: Mapping[str, Any], key: str, kind: type, what: str) -> Any:
    value = doc.get(key)
    if not isinstance(value, kind):
        raise Refused(f"{what} has no valid '{key}'")
    return value


def _chain(doc: Mapping[str, Any]) -> list[x509.Certificate]:
    material = doc.get("verificationMaterial")
    chain = material.get("x509CertificateChain") if isinstance(material, dict) else None
    items = chain.get("certificates") if isinstance(chain, dict) else None
    if not isinstance(items, list) or not items:
        raise Refused("no certificate chain (verificationMaterial.x509CertificateChain)")
    if len(items) > MAX_CERTIFICATES:
        raise Refused(f"a chain of {len(items)} certificates (at most {MAX_CERTIFICATES})")
    certs = []
    for i, item in enumerate(items):
        raw = _b64decode(item.get("rawBytes") if isinstance(item, dict) else None, f"certificate {i}")
        try:
            certs.append(x509.load_der_x509_certificate(raw))
        except ValueError:
            raise Refused(f"certificate {i} of the chain is not a DER certificate") from None
    return certs


def open_sealed(doc: Any, trust: Trust, *, now: dt.datetime) -> Opened:
    """Verify signed evidence for `trust.target`; return what it holds or raise Refused."""
    if isinstance(doc, dict) and doc.get("format") == "auditor-evidence-bundle":
        raise Refused("unsigned: a plain evidence bundle, without a signed envelope")
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != 1:
        raise Refused(f"not signed evidence (no \"format\": \"{FORMAT}\", version 1)")
    envelope = _field(doc, "dsseEnvelope", dict, "the message")
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise Refused(f"the envelope's payloadType is not {PAYLOAD_TYPE}")
    body = _b64decode(envelope.get("payload"), "the envelope's payload")
    signatures = _field(envelope, "signatures", list, "the envelope")
    if not 0 < len(signatures) <= MAX_SIGNATURES:
        raise Refused(f"the envelope has {len(signatures)} signatures (1 to {MAX_SIGNATURES})")
    certs = _chain(doc)
    leaf = certs[0]
    signed = pae(PAYLOAD_TYPE, body)
    if not any(
        isinstance(s, dict) and verify_bytes(leaf.public_key(), _b64decode(s.get("sig"), "a signature"), signed)
        for s in signatures
    ):
        raise Refused("forged or altered: no signature verifies with the certificate's key")
    _check_certificate(leaf, certs[1:], trust, now)
    try:
        stmt = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Refused("the signed payload is not JSON") from None
    if not isinstance(stmt, dict) or stmt.get("_type") != STATEMENT_TYPE:
        raise Refused(f"the signed payload is not an in-toto Statement ({STATEMENT_TYPE})")
    if stmt.get("predicateType") != PREDICATE_TYPE:
        raise Refused(f"the Statement's predicateType is not {PREDICATE_TYPE}")
    subjects = _field(stmt, "subject", list, "the Statement")
    digests = [s.get("digest", {}).get("sha256") for s in subjects if isinstance(s, dict) and isinstance(s.get("digest"), dict)]
    if len(subjects) != 1 or len(digests) != 1 or not isinstance(digests[0], str) or not _HEX64.match(digests[0]):
        raise Refused("the Statement does not name exactly one bundle by its SHA-256 digest")
    predicate = _field(stmt, "predicate", dict, "the Statement")
    if predicate.get("target") != trust.target:
        raise Refused(f"signed for target '{_short(predicate.get('target'))}', not '{trust.target}'")
    request = predicate.get("requestId")
    try:
        bundle = parse_bundle(doc.get("bundle"), file="bundle")
    except EvidenceError as exc:
        raise Refused(f"the bundle is invalid: {exc.diagnostics()}") from None
    if bundle.digest != digests[0]:
        raise Refused("the bundle is not the one signed (its digest differs from the Statement's subject)")
    if bundle.target.get("name") != trust.target:
        raise Refused(f"the bundle is for target '{_short(bundle.target.get('name'))}', not '{trust.target}'")
    if predicate.get("collectedAt") != bundle.created_at:
        raise Refused("the Statement's collectedAt differs from the bundle's created_at")
    return Opened(
        bundle=bundle,
        digest=bundle.digest,
        target=trust.target,
        collected_at=bundle.created_at,
        request_id=request if isinstance(request, str) and len(request) <= 128 else None,
        signer=leaf.subject.rfc4514_string(),
        signer_sha256=leaf.fingerprint(hashes.SHA256()).hex(),
    )


def _check_certificate(leaf: x509.Certificate, intermediates: Sequence[x509.Certificate], trust: Trust,
                       now: dt.datetime) -> None:
    from pki.verify import verify_chain

    if not trust.anchors:
        raise Refused(f"no trust anchor for target '{trust.target}' in the worker's inventory")
    try:
        constraints = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
        if constraints.ca:
            raise Refused("the signing certificate is a CA certificate")
    except x509.ExtensionNotFound:
        pass
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        if not usage.digital_signature:
            raise Refused("the signing certificate's key usage does not allow digitalSignature")
    except x509.ExtensionNotFound:
        pass
    result = verify_chain(leaf, trust.anchors, intermediates, at=now, purpose="any")
    if not result.valid:
        raise Refused(f"the certificate chain is not trusted: {result.error}")
    names = certificate_names(leaf)
    if not names & {n.lower() for n in trust.names}:
        shown = ", ".join(sorted(names)[:3]) or "nothing"
        raise Refused(f"the certificate names {_short(shown)}, not target '{trust.target}' or one of its names")


def _short(value: Any) -> str:
    """A value from a message, fit for one log line: printable, at most 80 characters."""
    from auditor._terminal import printable

    text = printable(str(value))
    return text[:77] + "..." if len(text) > 80 else text
