"""CA keys as encrypted PKCS#8 files in the CA folder (`private/*.key.pem`, mode 0600).

The encryption is PBES2: PBKDF2-HMAC-SHA256 with 600,000 iterations (cryptography's own
PKCS#8 encryption uses 2,048) and AES-256-CBC. OpenSSL and cryptography read these files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import padding as sympadding
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from pki import keys
from pki.backends.interface import BackendSettings, GeneratedKey, KeyBackend, SecretSource
from pki.errors import BackendError, KeyAccessError
from pki.fsutil import ReadError, read_regular

PBKDF2_ITERATIONS = 600_000
MIN_PASSPHRASE = 8
MAX_KEY_FILE = 64 * 1024

_OID_PBES2 = "1.2.840.113549.1.5.13"
_OID_PBKDF2 = "1.2.840.113549.1.5.12"
_OID_HMAC_SHA256 = "1.2.840.113549.2.9"
_OID_AES256_CBC = "2.16.840.1.101.3.4.1.42"


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def _oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytes([40 * parts[0] + parts[1]])
    for value in parts[2:]:
        chunk = [value & 0x7F]
        value >>= 7
        while value:
            chunk.append(0x80 | (value & 0x7F))
            value >>= 7
        body += bytes(reversed(chunk))
    return _der(0x06, body)


def _int(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _seq(*items: bytes) -> bytes:
    return _der(0x30, b"".join(items))


def encrypt_pkcs8(key: CertificateIssuerPrivateKeyTypes, passphrase: str, *, iterations: int = PBKDF2_ITERATIONS) -> bytes:
    """PEM of `key` as an EncryptedPrivateKeyInfo (PBES2, PBKDF2-SHA256, AES-256-CBC)."""
    plain = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    salt, iv = os.urandom(16), os.urandom(16)
    secret = PBKDF2HMAC(SHA256(), 32, salt, iterations).derive(passphrase.encode())
    padder = sympadding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    encryptor = Cipher(algorithms.AES(secret), modes.CBC(iv)).encryptor()
    encrypted = encryptor.update(padded) + encryptor.finalize()
    algorithm = _seq(
        _oid(_OID_PBES2),
        _seq(
            _seq(_oid(_OID_PBKDF2), _seq(_der(0x04, salt), _int(iterations), _seq(_oid(_OID_HMAC_SHA256), b"\x05\x00"))),
            _seq(_oid(_OID_AES256_CBC), _der(0x04, iv)),
        ),
    )
    der = _seq(algorithm, _der(0x04, encrypted))
    import base64

    body = base64.encodebytes(der).decode().replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return ("-----BEGIN ENCRYPTED PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END ENCRYPTED PRIVATE KEY-----\n").encode()


def decrypt_key_file(path: Path, passphrase: str) -> CertificateIssuerPrivateKeyTypes:
    """The private key in `path`, unlocked with `passphrase`; errors name the file."""
    try:
        data = read_regular(path, MAX_KEY_FILE)
    except ReadError as exc:
        if exc.why == "missing":
            raise KeyAccessError(f"{path}: key file not found") from None
        if exc.why == "too-large":
            raise KeyAccessError(f"{path}: too large to be a private key") from None
        raise KeyAccessError(f"{path}: cannot read the key file: {exc.reason}") from None
    if b"ENCRYPTED PRIVATE KEY" not in data:
        raise KeyAccessError(f"{path}: not an encrypted PKCS#8 key (corrupt or replaced?)")
    if not _well_formed(data):
        raise KeyAccessError(f"{path}: corrupt key file (damaged or truncated PEM)")
    try:
        key = serialization.load_pem_private_key(data, passphrase.encode())
    except ValueError:
        # The container is intact, so what failed is the decryption (a wrong passphrase
        # usually breaks the padding, rarely only the decrypted key's structure).
        raise KeyAccessError(f"{path}: wrong passphrase") from None
    except (TypeError, Exception) as exc:  # cryptography raises assorted errors on garbage
        raise KeyAccessError(f"{path}: corrupt key file ({type(exc).__name__})") from None
    if keys.key_type_of(key.public_key()) == "unknown":
        raise KeyAccessError(f"{path}: unsupported key type")
    return key  # type: ignore[return-value]


def _well_formed(pem: bytes) -> bool:
    """The PEM decodes to one complete DER SEQUENCE (checked before decrypting)."""
    import base64
    import binascii

    begin, end = b"-----BEGIN ENCRYPTED PRIVATE KEY-----", b"-----END ENCRYPTED PRIVATE KEY-----"
    start, stop = pem.find(begin), pem.find(end)
    if start < 0 or stop < start:
        return False
    try:
        der = base64.b64decode(b"".join(pem[start + len(begin) : stop].split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(der) < 2 or der[0] != 0x30:
        return False
    if der[1] < 0x80:
        return 2 + der[1] == len(der)
    count = der[1] & 0x7F
    if count == 0 or count > 4 or len(der) < 2 + count:
        return False
    return 2 + count + int.from_bytes(der[2 : 2 + count], "big") == len(der)


def check_passphrase(passphrase: str) -> str:
    if len(passphrase) < MIN_PASSPHRASE:
        raise KeyAccessError(f"the passphrase must have at least {MIN_PASSPHRASE} characters")
    return passphrase


class FileBackend(KeyBackend):
    """Encrypted PKCS#8 files under `<CA>/private/`."""

    name = "file"
    iterations = PBKDF2_ITERATIONS
    """PBKDF2 iterations for the keys this backend writes."""

    def __init__(self, ca_dir: Path, secrets: SecretSource) -> None:
        self.ca_dir = ca_dir
        self.secrets = secrets

    @classmethod
    def from_settings(cls, settings: BackendSettings) -> FileBackend:
        return cls(settings.ca_dir, settings.secrets)

    def _passphrase(self, what: str) -> str:
        return self.secrets("passphrase", what)

    def generate(self, key_type: str, label: str) -> GeneratedKey:
        key = keys.generate(key_type)
        rel = f"private/{label}.key.pem"
        passphrase = check_passphrase(self._passphrase(f"new key {rel}"))
        return GeneratedKey({"backend": "file", "path": rel}, key, {rel: (encrypt_pkcs8(key, passphrase, iterations=self.iterations), 0o600)})

    def open(self, ref: dict[str, Any]) -> CertificateIssuerPrivateKeyTypes:
        rel = str(ref.get("path", ""))
        if not rel or rel.startswith("/") or ".." in Path(rel).parts:
            raise BackendError(f"ca.json: key path '{rel}' must be inside the CA folder")
        return decrypt_key_file(self.ca_dir / rel, self._passphrase(rel))
