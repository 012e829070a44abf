"""The key backend seam: where a CA's private key lives and how it signs.

Every backend hands the CA a `cryptography` private-key object, so one
`CertificateBuilder.sign(key, ...)` path serves file keys, PKCS#11 tokens and YubiKeys. For
keys held by hardware that object is a :func:`hardware_key` wrapper whose `sign()` asks the
device; the private key never leaves it and any attempt to export it is refused.

A key is named in the CA folder's `ca.json` by a reference (a small JSON object) such as
`{"backend": "file", "path": "private/root.key.pem"}`; :func:`open_key` turns it back into a
signer.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, Self

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificateIssuerPublicKeyTypes,
)

from pki.errors import BackendError

SecretSource = Callable[[str, str], str]
"""(kind, what) -> the secret: kind is 'passphrase', 'pin' or 'management-key'; `what` says
which key it unlocks, for a prompt. Raises PKIError when none can be had."""

RawSign = Callable[[bytes, "hashes.HashAlgorithm | None"], bytes]
"""Sign `data` (the whole message; the backend hashes it) with `hash` (None for Ed25519);
returns the signature as X.509 expects it (DER for ECDSA, raw for Ed25519 and RSA)."""


@dataclass(frozen=True)
class GeneratedKey:
    """A new key: its reference for ca.json and a signer for the certificate it needs now."""

    ref: dict[str, Any]
    signer: CertificateIssuerPrivateKeyTypes
    files: dict[str, tuple[bytes, int]] = field(default_factory=dict)
    """Files the CA writes into its folder for this key: relative path -> (content, mode)."""


@dataclass(frozen=True)
class BackendSettings:
    """What any backend may need to reach its store: the command line's options for a new key,
    or what a key reference in ca.json says for an existing one. Each backend reads its own."""

    ca_dir: Path
    secrets: SecretSource
    module: str = ""
    """pkcs11: the PKCS#11 module's path."""
    token: str = ""
    """pkcs11: the token's label."""
    serial: int | None = None
    """yubikey: which YubiKey (None: the only one connected)."""
    touch_policy: str = "always"
    """yubikey: the touch policy of a new key."""
    connect: Callable[[int | None], Any] | None = None
    """yubikey: how to reach the device (a test seam; default: the real one)."""


class KeyBackend(ABC):
    """Makes and opens CA keys in one kind of store."""

    name: str

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: BackendSettings) -> Self:
        """This backend, set up from `settings` (BackendError when a setting it needs is missing)."""

    @abstractmethod
    def generate(self, key_type: str, label: str) -> GeneratedKey:
        """Make a key of `key_type` named `label` inside this store."""

    @abstractmethod
    def open(self, ref: dict[str, Any]) -> CertificateIssuerPrivateKeyTypes:
        """The signer for the key `ref` names (unlocking it as needed)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release sessions and devices (default: nothing to release)."""


def _no_export(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise BackendError("this key is held by hardware and cannot be exported")


class _HardwareEC(ec.EllipticCurvePrivateKey):
    def __init__(self, public: ec.EllipticCurvePublicKey, raw_sign: RawSign) -> None:
        self._public = public
        self._raw_sign = raw_sign

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public.curve

    @property
    def key_size(self) -> int:
        return self._public.curve.key_size

    def sign(self, data: Any, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        algo = signature_algorithm.algorithm
        if not isinstance(algo, hashes.HashAlgorithm):
            raise BackendError("prehashed signing is not supported by hardware keys")
        return self._raw_sign(bytes(data), algo)

    def exchange(self, algorithm: Any, peer_public_key: Any) -> bytes:
        _no_export()

    private_numbers = _no_export
    private_bytes = _no_export

    def __copy__(self) -> _HardwareEC:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _HardwareEC:
        return self


class _HardwareEd25519(ed25519.Ed25519PrivateKey):
    def __init__(self, public: ed25519.Ed25519PublicKey, raw_sign: RawSign) -> None:
        self._public = public
        self._raw_sign = raw_sign

    def public_key(self) -> ed25519.Ed25519PublicKey:
        return self._public

    def sign(self, data: Any) -> bytes:
        return self._raw_sign(bytes(data), None)

    private_bytes = _no_export
    private_bytes_raw = _no_export

    def __copy__(self) -> _HardwareEd25519:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _HardwareEd25519:
        return self


class _HardwareRSA(rsa.RSAPrivateKey):
    def __init__(self, public: rsa.RSAPublicKey, raw_sign: RawSign) -> None:
        self._public = public
        self._raw_sign = raw_sign

    def public_key(self) -> rsa.RSAPublicKey:
        return self._public

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def sign(self, data: Any, padding_: Any, algorithm: Any) -> bytes:
        if not isinstance(padding_, padding.PKCS1v15) or not isinstance(algorithm, hashes.HashAlgorithm):
            raise BackendError("hardware RSA keys sign with PKCS#1 v1.5 and a named hash only")
        return self._raw_sign(bytes(data), algorithm)

    def decrypt(self, ciphertext: bytes, padding_: Any) -> bytes:
        _no_export()

    private_numbers = _no_export
    private_bytes = _no_export

    def __copy__(self) -> _HardwareRSA:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _HardwareRSA:
        return self


def hardware_key(public: CertificateIssuerPublicKeyTypes, raw_sign: RawSign) -> CertificateIssuerPrivateKeyTypes:
    """A cryptography private-key object whose signatures are made by `raw_sign`."""
    if isinstance(public, ec.EllipticCurvePublicKey):
        return _HardwareEC(public, raw_sign)
    if isinstance(public, ed25519.Ed25519PublicKey):
        return _HardwareEd25519(public, raw_sign)
    if isinstance(public, rsa.RSAPublicKey):
        return _HardwareRSA(public, raw_sign)
    raise BackendError(f"unsupported hardware key type {type(public).__name__}")
