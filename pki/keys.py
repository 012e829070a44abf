"""Key types the CA offers, how to make them and which hash signs with them."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificateIssuerPublicKeyTypes,
)

from pki.keytypes import KEY_TYPES


def check_key_type(name: str) -> str:
    if name not in KEY_TYPES:
        from pki.errors import PKIError

        raise PKIError(f"unknown key type '{name}' (choose one of: {', '.join(KEY_TYPES)})")
    return name


def generate(name: str) -> CertificateIssuerPrivateKeyTypes:
    """A new software private key of type `name`."""
    check_key_type(name)
    if name == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if name == "ecdsa-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if name == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=int(name.split("-")[1]))


def key_type_of(public: Any) -> str:
    """The KEY_TYPES name of a public key (or 'unknown')."""
    if isinstance(public, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ecdsa-p256", "secp384r1": "ecdsa-p384"}.get(public.curve.name, "unknown")
    if isinstance(public, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(public, rsa.RSAPublicKey):
        return f"rsa-{public.key_size}"
    return "unknown"


def signing_hash(public: CertificateIssuerPublicKeyTypes) -> hashes.SHA256 | hashes.SHA384 | None:
    """The hash a CA key signs with: none for Ed25519, SHA-384 for P-384 and RSA >= 3072."""
    if isinstance(public, ed25519.Ed25519PublicKey):
        return None
    if isinstance(public, ec.EllipticCurvePublicKey):
        return hashes.SHA384() if public.curve.key_size >= 384 else hashes.SHA256()
    if isinstance(public, rsa.RSAPublicKey) and public.key_size >= 3072:
        return hashes.SHA384()
    return hashes.SHA256()


def spki_sha256(public: Any) -> str:
    """SHA-256 of the DER SubjectPublicKeyInfo, hex: the key fingerprint in the inventory."""
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def public_equal(a: Any, b: Any) -> bool:
    return spki_sha256(a) == spki_sha256(b)


MAX_KEY_FILE_BYTES = 64 * 1024
"""A private key file is far smaller; anything larger is refused unread."""


def load_key_file(path: Path) -> CertificateIssuerPrivateKeyTypes:
    """The unencrypted PEM private key in `path` (a regular file); KeyAccessError names the file,
    never the key."""
    from pki.errors import KeyAccessError, LoadError
    from pki.fsutil import read_regular_file

    try:
        data = read_regular_file(path, MAX_KEY_FILE_BYTES, "key file")
    except LoadError as exc:
        raise KeyAccessError(str(exc)) from None
    if b"ENCRYPTED PRIVATE KEY" in data:
        raise KeyAccessError(f"{path}: the key is encrypted; give an unencrypted key (mode 0600)")
    try:
        key = serialization.load_pem_private_key(data, None)
    except (ValueError, TypeError) as exc:
        raise KeyAccessError(f"{path}: not an unencrypted PEM private key ({' '.join(str(exc).split())[:80]})") from None
    if key_type_of(key.public_key()) == "unknown":
        raise KeyAccessError(f"{path}: unsupported key type")
    return key  # type: ignore[return-value]
