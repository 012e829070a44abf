"""Certificate containers: PKCS#7 structures (.p7b, .p7c: a chain as Windows and many CAs deliver
it) and PKCS#12 files (.p12, .pfx: a key with its certificates, as Java and Windows keep them).

cryptography is imported when a container is opened, not before: the secrets scanner recognises a
PKCS#12 file by its first bytes without that cost.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pki.errors import LoadError, one_line

if TYPE_CHECKING:
    from cryptography import x509


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
        return [], f"unparsable PKCS#7 structure: {one_line(exc)}"
    except Exception as exc:
        return [], f"unreadable PKCS#7 structure: {one_line(exc)}"


MAX_ITERATIONS = 1_000_000
"""The most key-derivation iterations a PKCS#12 file may ask for before it is opened: its MAC's,
its encrypted bags' (OpenSSL writes 2,048, Java 10,000; OWASP asks 600,000 of PBKDF2 for
passwords). Each costs a hash: 2**31 of them, which the format allows, hold the opener for
minutes."""
PKCS12_SECONDS = 10.0
"""How long opening a PKCS#12 file may take whose encrypted contents may name counts of their own
(seen only once decrypted), or that is BER (not all of it seen): it is opened in a child process,
stopped then."""
_ENCRYPTED_DATA = bytes.fromhex("06092a864886f70d010706")
"""The OID of PKCS#7 encryptedData: contents whose bags (and their iteration counts) show only
once decrypted."""


class TooSlow(LoadError):
    """A PKCS#12 file that asks for more key derivation than MAX_ITERATIONS or PKCS12_SECONDS allow."""


@dataclass(frozen=True)
class PKCS12Contents:
    """What a PKCS#12 file opened without a password holds."""

    key: Any | None
    """Its private key (cryptography's), or None (a trust store)."""
    certificates: tuple[x509.Certificate, ...]
    """Its certificates: the key's first, then the others in the file's order."""


def open_pkcs12(data: bytes) -> PKCS12Contents | None:
    """A PKCS#12 file's contents when it opens without a password: none, or the empty one
    `openssl pkcs12 -export -passout pass:` writes, which anyone can type. None when it needs a
    password, is damaged, or uses an algorithm this OpenSSL does not offer. Legacy ciphers (RC2,
    3DES: `openssl pkcs12 -legacy`, older Java and Windows) are read.

    Raises TooSlow rather than hash for minutes: when an iteration count it shows is over
    MAX_ITERATIONS; and when it holds encrypted contents (whose own counts show only once
    decrypted) or not all of it could be seen, it is opened in a child process stopped after
    PKCS12_SECONDS."""
    counts, whole = iteration_counts(data)
    if counts and max(counts) > MAX_ITERATIONS:
        raise TooSlow(f"a PKCS#12 file that asks for {max(counts):,} key derivation iterations (more than "
                      f"{MAX_ITERATIONS:,}): not opened")
    if whole and _ENCRYPTED_DATA not in data:
        return _opened(data)
    return _opened_apart(data)


def _opened(data: bytes) -> PKCS12Contents | None:
    from cryptography.hazmat.primitives.serialization import pkcs12

    for password in (None, b""):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                loaded = pkcs12.load_pkcs12(data, password)
        except (ValueError, TypeError):
            continue
        except Exception:  # an algorithm this OpenSSL does not offer
            return None
        certs = ([loaded.cert.certificate] if loaded.cert is not None else []) + [
            c.certificate for c in loaded.additional_certs]
        return PKCS12Contents(loaded.key, tuple(certs))
    return None


_CHILD = "import sys; sys.path.insert(0, sys.argv[1]); from pki.containers import _child; _child()"


def _opened_apart(data: bytes) -> PKCS12Contents | None:
    """_opened(data) in a child process (this interpreter, no shell), stopped after PKCS12_SECONDS;
    the key and certificates come back as DER."""
    import base64
    import json
    import subprocess
    import sys
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    try:
        done = subprocess.run([sys.executable, "-c", _CHILD, str(Path(__file__).resolve().parents[1])],
                              input=data, capture_output=True, timeout=PKCS12_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise TooSlow(f"a PKCS#12 file whose contents took more than {PKCS12_SECONDS:.0f} s to open (a key "
                      "derivation of too many iterations): not opened") from None
    try:
        told = json.loads(done.stdout) if done.returncode == 0 else None
        if not isinstance(told, dict):
            return None
        key = told["key"]
        return PKCS12Contents(
            None if key is None else load_der_private_key(base64.b64decode(key), None),
            tuple(x509.load_der_x509_certificate(base64.b64decode(c)) for c in told["certificates"]))
    except (ValueError, TypeError, KeyError):
        return None


def _child() -> None:
    """The child process of _opened_apart: the file on stdin, what it holds as JSON on stdout
    (`null` when it does not open); the key unencrypted DER, through the pipe only."""
    import base64
    import json
    import sys

    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    opened = _opened(sys.stdin.buffer.read())
    if opened is None:
        sys.stdout.write("null")
        return
    key = None if opened.key is None else base64.b64encode(
        opened.key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())).decode()
    certs = [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in opened.certificates]
    sys.stdout.write(json.dumps({"key": key, "certificates": certs}))


def iteration_counts(data: bytes) -> tuple[list[int], bool]:
    """The iteration counts a DER structure shows, and whether all of it could be seen: each
    INTEGER that follows an OCTET STRING in a SEQUENCE (PKCS#12's MacData and PBE parameters,
    PBKDF2's parameters), in constructed values and in OCTET STRINGs that hold DER (a PKCS#12
    file's authSafe and its bags; encrypted contents are bytes that hold none). Not all could be
    seen where BER's indefinite lengths or OCTET STRINGs in pieces were met (old Windows exports),
    or past 32 levels or 100,000 values. A structure that is not DER at its top shows none: no
    reader hashes what it cannot parse."""
    counts: list[int] = []
    seen = [True, 100_000]  # all seen; values left to walk

    def walk(lo: int, hi: int, depth: int, sequence: bool, found: list[int]) -> bool:
        """Reads the values from lo to hi into `found`; whether they are DER that fills the span."""
        at, after_octets = lo, False
        while at < hi:
            seen[1] -= 1
            if seen[1] < 0 or depth > 32:
                seen[0] = False
                return False
            if hi - at < 2:
                return False
            tag = data[at]
            if data[at + 1] == 0x80 or tag == 0x24:  # BER: an indefinite length, an OCTET STRING in pieces
                seen[0] = False
                return False
            header = der_header(data, at, hi)
            if header is None:
                return False
            start, end = at + header[0], at + header[0] + header[1]
            length = header[1]
            if tag == 0x02 and after_octets and sequence:
                found.append(int.from_bytes(data[start:end], "big", signed=True) if length <= 8 else 1 << 63)
            if tag & 0x20 and not walk(start, end, depth + 1, tag == 0x30, found):  # SEQUENCE, SET, [n]
                return False
            if tag == 0x04 and length >= 2 and data[start] in (0x30, 0x31):  # DER in it, or bytes
                inner: list[int] = []
                if walk(start, end, depth + 1, False, inner):
                    found += inner
            after_octets = tag == 0x04
            at = end
        return True

    if len(data) >= 2 and data[0] & 0x20:
        top = der_header(data, 0, len(data))  # what follows the top value is not read
        if data[1] == 0x80:
            seen[0] = False
        elif top is not None:
            walk(top[0], top[0] + top[1], 1, data[0] == 0x30, counts)
    return counts, bool(seen[0])


def der_header(data: bytes, at: int, end: int) -> tuple[int, int] | None:
    """The lengths of the header and of the content of the DER value at `at` (its tag at
    `data[at]`), when its length is definite, in at most 4 bytes, and the value ends by `end`."""
    if end - at < 2:
        return None
    first = data[at + 1]
    if first < 0x80:
        head, length = 2, first
    else:
        n = first & 0x7F
        if not 1 <= n <= 4 or at + 2 + n > end:
            return None
        head, length = 2 + n, int.from_bytes(data[at + 2:at + 2 + n], "big")
    return (head, length) if at + head + length <= end else None
