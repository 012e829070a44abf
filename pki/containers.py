"""Certificate containers: PKCS#7 structures (.p7b, .p7c: a chain as Windows and many CAs deliver
it) and PKCS#12 files (.p12, .pfx: a key with its certificates, as Java and Windows keep them).

cryptography is imported when a container is opened, not before: the secrets scanner recognises a
PKCS#12 file by its first bytes without that cost.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography import x509


def short(exc: Exception) -> str:
    """An exception's message on one line, at most 200 characters."""
    text = " ".join(str(exc).split())
    return text[:200]


_PKCS7_SIGNED_DATA = bytes.fromhex("06092a864886f70d010702")
"""The OID of PKCS#7 signedData (1.2.840.113549.1.7.2), a .p7b's content type, near its start."""
_PKCS12_VERSION = b"\x02\x01\x03\x30"
"""PFX's version (INTEGER 3), then its authSafe ContentInfo (a SEQUENCE)."""
_PKCS7_CONTENT = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07"
"""The OID arc of PKCS#7 content types (data, signedData), the authSafe's type."""


def looks_pkcs7(data: bytes) -> bool:
    """Whether `data` starts as a DER PKCS#7 signedData structure (a .p7b, .p7c) does."""
    return data[:1] == b"\x30" and _PKCS7_SIGNED_DATA in data[:24]


def looks_pkcs12(data: bytes) -> bool:
    """Whether `data` starts as a PKCS#12 file (.p12, .pfx) does: a DER SEQUENCE holding version 3
    and a PKCS#7 ContentInfo."""
    return data[:1] == b"\x30" and _PKCS12_VERSION in data[:8] and _PKCS7_CONTENT in data[:32]


def pkcs7_certificates(data: bytes, *, pem: bool) -> tuple[list[x509.Certificate], str | None]:
    """The certificates of a PKCS#7 structure (PEM block or DER), none when it holds none (a CRL's
    `openssl crl2pkcs7` writes), and why none could be read when it cannot be parsed."""
    from cryptography.hazmat.primitives.serialization import pkcs7

    load = pkcs7.load_pem_pkcs7_certificates if pem else pkcs7.load_der_pkcs7_certificates
    try:
        with warnings.catch_warnings():  # BER read where DER is not (older Windows exports): no warning
            warnings.simplefilter("ignore")
            return list(load(data)), None
    except ValueError as exc:
        if "no certificate" in str(exc):
            return [], None
        return [], f"unparsable PKCS#7 structure: {short(exc)}"
    except Exception as exc:
        return [], f"unreadable PKCS#7 structure: {short(exc)}"


def open_pkcs12(data: bytes) -> Any | None:
    """A PKCS#12 file's contents (cryptography's PKCS12KeyAndCertificates: key, cert,
    additional_certs) when it opens without a password: none, or the empty one `openssl pkcs12
    -export -passout pass:` writes, which anyone can type. None when it needs a password, is
    damaged, or uses an algorithm this OpenSSL does not offer. Legacy ciphers (RC2, 3DES:
    `openssl pkcs12 -legacy`, older Java and Windows) are read."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    for password in (None, b""):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return pkcs12.load_pkcs12(data, password)
        except (ValueError, TypeError):
            continue
        except Exception:
            return None
    return None
