"""Structural checks that confirm a candidate really is a secret of its kind.

Each function takes the candidate text and returns facts about it, or None when it does not
have the structure: a NATS nkey seed's prefix bytes and CRC-16, an age identity's Bech32
checksum, a JWT's decodable JSON header, a private key that parses (and whether it is
encrypted). None of them keep or return the secret itself.
"""

from __future__ import annotations

import base64
import binascii
import collections
import datetime as dt
import json
import math
import re
import struct
from collections.abc import Callable
from typing import Any

from pki.containers import open_pkcs12

# ---------------------------------------------------------------- NATS nkeys

_NKEY_TYPES = {0: "account", 2: "cluster", 13: "server", 14: "operator", 15: "private", 20: "user", 23: "curve"}
_PREFIX_SEED = 18


def crc16_xmodem(data: bytes) -> int:
    """CRC-16/XMODEM (poly 0x1021, init 0), as nats-io/nkeys crc16.go."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def _b32decode(text: str) -> bytes | None:
    """Unpadded base32, canonical only (unused trailing bits zero, as every encoder writes them)."""
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b32encode(raw).decode().rstrip("=") == text else None


def nkey_seed(text: str) -> dict[str, Any] | None:
    """An nkey seed `S<type>...`: 2 prefix bytes, 32 seed bytes, CRC-16 little-endian."""
    raw = _b32decode(text)
    if raw is None or len(raw) != 36:
        return None
    body, (crc,) = raw[:-2], struct.unpack("<H", raw[-2:])
    if crc16_xmodem(body) != crc:
        return None
    if body[0] >> 3 != _PREFIX_SEED:
        return None
    kind = ((body[0] & 7) << 5 | body[1] >> 3) >> 3
    if kind not in _NKEY_TYPES:
        return None
    return {"nkey_type": _NKEY_TYPES[kind]}


def nkey_public(text: str) -> str | None:
    """The type of an nkey public key (`U...`, `A...`, `O...`), or None if it is not one."""
    raw = _b32decode(text)
    if raw is None or len(raw) != 35:
        return None
    if crc16_xmodem(raw[:-2]) != struct.unpack("<H", raw[-2:])[0]:
        return None
    return _NKEY_TYPES.get(raw[0] >> 3)


# ---------------------------------------------------------------- Bech32 (age identities)

_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= _GEN[i] if (top >> i) & 1 else 0
    return chk


def bech32_valid(text: str) -> tuple[str, int] | None:
    """(hrp, data length in 5-bit groups) of a valid Bech32 string (BIP-173, any case), or None."""
    lower = text.lower()
    pos = lower.rfind("1")
    if pos < 1 or pos + 7 > len(lower):
        return None
    hrp, data = lower[:pos], lower[pos + 1:]
    if any(c not in _BECH32 for c in data) or any(not 33 <= ord(c) <= 126 for c in hrp):
        return None
    values = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + [_BECH32.index(c) for c in data]
    if _polymod(values) != 1:
        return None
    return hrp, len(data) - 6


def age_identity(text: str) -> dict[str, Any] | None:
    valid = bech32_valid(text)
    if valid is None or not valid[0].startswith("age-secret-key-"):
        return None
    return {"key_type": "age-pq" if "-pq-" in valid[0] else "age-x25519"}


# ---------------------------------------------------------------- JWT

def _b64url_json(part: str) -> Any:
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        return json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        return None


def jwt_facts(token: str, now: dt.datetime | None = None) -> dict[str, Any] | None:
    """Decoded, non-secret facts of a JWT: alg, typ, whether signed and expired, NATS claim type."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    header, claims = _b64url_json(parts[0]), _b64url_json(parts[1])
    if not isinstance(header, dict) or not isinstance(claims, dict) or "alg" not in header:
        return None
    alg = str(header.get("alg"))
    exp = claims.get("exp")
    moment = now or dt.datetime.now(dt.UTC)
    expired = isinstance(exp, int | float) and not isinstance(exp, bool) and exp < moment.timestamp()
    nats = claims.get("nats") if isinstance(claims.get("nats"), dict) else None
    return {
        "alg": alg,
        "typ": str(header.get("typ", "")),
        "signed": alg.lower() != "none" and bool(parts[2]),
        "expired": bool(expired),
        "nats_type": str(nats.get("type", "")) if nats else "",
        "issuer_kind": (nkey_public(str(claims.get("iss", ""))) or "") if isinstance(claims.get("iss"), str) else "",
    }


# ---------------------------------------------------------------- private keys

_PEM_LABELS = {
    "PRIVATE KEY": "pkcs8",
    "ENCRYPTED PRIVATE KEY": "pkcs8",
    "RSA PRIVATE KEY": "rsa",
    "EC PRIVATE KEY": "ec",
    "DSA PRIVATE KEY": "dsa",
    "OPENSSH PRIVATE KEY": "openssh",
    "PGP PRIVATE KEY BLOCK": "pgp",
}


def private_key(label: str, body: str) -> dict[str, Any] | None:
    """Parse a PEM/OpenSSH/PGP private key block. Facts: format, key type, encrypted."""
    fmt = _PEM_LABELS.get(label)
    if fmt is None:
        return None
    text = body.replace("\\n", "\n").replace("\\r", "")
    if fmt == "pgp":
        return _pgp_private(text)
    headers, b64 = _pem_body(text)
    if "Proc-Type" in headers and "ENCRYPTED" in headers.get("Proc-Type", "") and "DEK-Info" in headers:
        # legacy encrypted PEM: the body is ciphertext, the headers are the structure
        return {"format": fmt, "key_type": fmt if fmt != "pkcs8" else "unknown", "encrypted": True}
    try:
        der = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        return None
    if fmt == "openssh" or der.startswith(b"openssh-key-v1\x00"):  # an OpenSSH key under a PEM label
        return _openssh(der)
    if label == "ENCRYPTED PRIVATE KEY":
        return {"format": "pkcs8", "key_type": "unknown", "encrypted": True} if _is_der_sequence(der) else None
    return _der_private(der, fmt)


def _pem_body(text: str) -> tuple[dict[str, str], str]:
    headers: dict[str, str] = {}
    lines: list[str] = []
    for line in text.strip().splitlines():
        line = line.strip().strip('"\',')
        if ":" in line and not lines:
            name, _, value = line.partition(":")
            headers[name.strip()] = value.strip()
        elif line:
            lines.append(line)
    return headers, "".join(lines)


def _is_der_sequence(der: bytes) -> bool:
    return len(der) > 8 and der[0] == 0x30


def _der_private(der: bytes, fmt: str) -> dict[str, Any] | None:
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    try:  # parsed, not checked: RSA's consistency check costs ~10 ms a key and says nothing about a leak
        key = load_der_private_key(der, password=None, unsafe_skip_rsa_key_validation=True)
    except TypeError:  # a password is required
        return {"format": fmt, "key_type": "unknown", "encrypted": True}
    except (ValueError, Exception):
        return None
    return {"format": fmt, "key_type": _key_type(key), "encrypted": False}


def _key_type(key: object) -> str:
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519

    names = (
        (rsa.RSAPrivateKey, "rsa"), (ec.EllipticCurvePrivateKey, "ec"), (dsa.DSAPrivateKey, "dsa"),
        (ed25519.Ed25519PrivateKey, "ed25519"), (ed448.Ed448PrivateKey, "ed448"),
        (x25519.X25519PrivateKey, "x25519"), (x448.X448PrivateKey, "x448"),
    )
    return next((n for cls, n in names if isinstance(key, cls)), "unknown")


SEXP_MAX = 1 << 16
"""The longest GnuPG key S-expression read (an RSA-16384 key in advanced form fits)."""
_SEXP_DEPTH = 16
_SEXP_TOKEN = re.compile(rb"[A-Za-z0-9\-./_:*+=]+")
_SEXP_LENGTH = re.compile(rb"(\d{1,5}):")
_GNUPG_KEY_TYPES = {"rsa": "rsa", "dsa": "dsa", "elg": "elgamal", "openpgp-elg": "elgamal", "ecdsa": "ec", "ecdh": "ec",
                    "eddsa": "ed25519"}
_GNUPG_CURVES = {"ed25519": "ed25519", "curve25519": "x25519", "cv25519": "x25519", "ed448": "ed448", "x448": "x448"}


def sexp(data: bytes, at: int) -> tuple[list[Any], int] | None:
    """The S-expression that opens at `data[at]` (`(`), in canonical (`(11:private-key(3:rsa...`)
    or advanced form (`(private-key (rsa (n #00C1...#)...`: tokens, `#hex#`, quoted strings,
    `|base64|`), as nested lists of atoms (bytes), and the offset after it; None when it is
    none, runs past SEXP_MAX bytes or nests deeper than 16. libgcrypt's forms, as gpg-agent
    writes keys (private-keys-v1.d) and gpg-protect-tool prints them."""
    stack: list[list[Any]] = [[]]
    i, end = at, min(len(data), at + SEXP_MAX)
    while i < end:
        c = data[i]
        if c == 0x28:
            if len(stack) > _SEXP_DEPTH:
                return None
            stack.append([])
            i += 1
        elif c == 0x29:
            if len(stack) == 1:
                return None
            done = stack.pop()
            stack[-1].append(done)
            i += 1
            if len(stack) == 1:
                return done, i
        elif c in b" \t\r\n\f\v":
            i += 1
        elif len(stack) == 1:
            return None  # only a list opens it
        elif (length := _SEXP_LENGTH.match(data, i, end)) is not None:
            j = length.end() + int(length.group(1))
            if j > end:
                return None
            stack[-1].append(data[length.end():j])
            i = j
        elif c in b"#|":
            j = data.find(bytes([c]), i + 1, end)
            if j < 0:
                return None
            text = re.sub(rb"\s", b"", data[i + 1:j])
            try:
                stack[-1].append(bytes.fromhex(text.decode("ascii")) if c == 0x23 else base64.b64decode(text, validate=True))
            except (ValueError, binascii.Error):
                return None
            i = j + 1
        elif c == 0x22:
            j = i + 1
            while j < end and data[j] != 0x22:
                j += 2 if data[j] == 0x5C else 1
            if j >= end:
                return None
            stack[-1].append(_SEXP_ESCAPE.sub(_unescaped, data[i + 1:j]))
            i = j + 1
        elif (token := _SEXP_TOKEN.match(data, i, end)) is not None:
            stack[-1].append(token.group(0))
            i = token.end()
        else:
            return None
    return None


_SEXP_ESCAPE = re.compile(rb"\\(?:x[0-9A-Fa-f]{2}|[0-7]{3}|\r\n|\n\r|[\r\n]|.)", re.DOTALL)
_SEXP_ESCAPES = {b"b": b"\b", b"t": b"\t", b"v": b"\v", b"n": b"\n", b"f": b"\f", b"r": b"\r", b'"': b'"', b"'": b"'",
                 b"\\": b"\\"}


def _unescaped(m: re.Match[bytes]) -> bytes:
    """One escape of a quoted string in advanced form, as libgcrypt reads it: `\\n` and its
    kin, `\\xNN`, `\\NNN` (octal), a line break after a backslash (a continued line: nothing)."""
    code = m.group(0)[1:]
    if code[:1] == b"x" and len(code) == 3:
        return bytes([int(code[1:], 16)])
    if len(code) == 3 and code.isdigit():
        return bytes([int(code, 8) & 0xFF])
    if code in (b"\r\n", b"\n\r", b"\r", b"\n"):
        return b""
    return _SEXP_ESCAPES.get(code, code)


def _canonical(value: Any) -> bytes:
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    return b"(" + b"".join(map(_canonical, value)) + b")"


def gnupg_key(data: bytes, at: int) -> tuple[bytes, dict[str, Any], int] | None:
    """A GnuPG secret key as gpg-agent keeps it (`private-keys-v1.d/<keygrip>.key`, or a copy),
    whose S-expression opens at `data[at]`: `(private-key ...)`, its secret parameter in the
    clear (RSA's and ECC's `d`, DSA's and Elgamal's `x`), or `(protected-private-key ...)`,
    encrypted with a passphrase. The secret (base64 of its parameter, or of the encrypted part,
    in canonical form), the facts (format `gnupg`, key type, encrypted), and where the
    S-expression ends; None for anything else (a smartcard's `shadowed-private-key` stub holds
    no secret)."""
    parsed = sexp(data, at)
    if parsed is None:
        return None
    root, end = parsed
    if len(root) < 2 or root[0] not in (b"private-key", b"protected-private-key") or not isinstance(root[1], list) \
            or not root[1] or not isinstance(root[1][0], bytes):
        return None
    algorithm = root[1][0].decode("ascii", "replace").lower()
    params = {p[0]: p for p in root[1][1:] if isinstance(p, list) and len(p) >= 2 and isinstance(p[0], bytes)}
    curve = params.get(b"curve", [b"", b""])[1]
    named = curve.decode("ascii", "replace").lower() if isinstance(curve, bytes) else ""
    key_type = _GNUPG_CURVES.get(named, "ec" if named else _GNUPG_KEY_TYPES.get(algorithm, "unknown"))
    if root[0] == b"protected-private-key":
        shielded = params.get(b"protected")
        if shielded is None:
            return None
        return base64.b64encode(_canonical(shielded)), {"format": "gnupg", "key_type": key_type, "encrypted": True}, end
    secret = params.get(b"x" if algorithm in ("dsa", "elg", "openpgp-elg") else b"d")
    if secret is None or not isinstance(secret[1], bytes) or len(secret[1]) < 16:
        return None
    return base64.b64encode(_canonical(secret)), {"format": "gnupg", "key_type": key_type, "encrypted": False}, end


_SHROUDED_KEY_BAG = bytes.fromhex("060b2a864886f70d010c0a0102")
"""pkcs-12-pkcs-8ShroudedKeyBag: an encrypted private key, its bag's type readable without the password."""


def pkcs12_key(data: bytes) -> tuple[bytes, dict[str, Any]] | None:
    """The private key a PKCS#12 file holds: when it opens without a password (none, or the empty
    one `openssl pkcs12 -export -passout pass:` writes, which anyone can type), the key as an
    unencrypted PKCS#8 PEM body (base64 of its DER, so the same key in a .pem file has the same
    fingerprint) and its facts; when it needs a password and a shrouded key bag shows, the file's
    base64 and `encrypted`; None when it holds no key (a trust store) or is no PKCS#12 that can be
    read. Legacy ciphers (RC2, 3DES: `openssl pkcs12 -legacy`, older Java and Windows) are read.
    Raises pki.containers.TooSlow for one that asks for too much key derivation to be opened."""
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    opened = open_pkcs12(data)
    if opened is not None:
        if opened.key is None:
            return None
        der = opened.key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
        return base64.b64encode(der), {"format": "pkcs12", "key_type": _key_type(opened.key), "encrypted": False}
    return shrouded_pkcs12_key(data)


def shrouded_pkcs12_key(data: bytes) -> tuple[bytes, dict[str, Any]] | None:
    """A PKCS#12 file not opened, as an encrypted key when its shrouded key bag shows."""
    if _SHROUDED_KEY_BAG in data:
        return base64.b64encode(data), {"format": "pkcs12", "key_type": "unknown", "encrypted": True}
    return None


def _ssh_string(data: bytes, pos: int) -> tuple[bytes, int]:
    if pos + 4 > len(data):
        raise ValueError("truncated")
    (n,) = struct.unpack(">I", data[pos:pos + 4])
    if pos + 4 + n > len(data):
        raise ValueError("truncated")
    return data[pos + 4:pos + 4 + n], pos + 4 + n


def _openssh(der: bytes) -> dict[str, Any] | None:
    magic = b"openssh-key-v1\x00"
    if not der.startswith(magic):
        return None
    try:
        cipher, pos = _ssh_string(der, len(magic))
        _kdf, pos = _ssh_string(der, pos)
        _kdfopts, pos = _ssh_string(der, pos)
        (count,) = struct.unpack(">I", der[pos:pos + 4])
        pub, pos = _ssh_string(der, pos + 4)
        key_type, _ = _ssh_string(pub, 0)
    except (ValueError, struct.error):
        return None
    if count < 1:
        return None
    return {
        "format": "openssh",
        "key_type": key_type.decode("ascii", "replace"),
        "encrypted": cipher != b"none",
    }


def _pgp_private(text: str) -> dict[str, Any] | None:
    """The first secret-key packet of an armoured OpenPGP key: version 4/5/6 and S2K usage."""
    lines, started = [], False
    for line in text.strip().splitlines():
        line = line.strip()
        if not started:
            if not line or ":" in line:  # armour headers end at the first blank line
                started = not line
                continue
            started = True
        if line.startswith("="):  # CRC-24 line
            break
        if line:
            lines.append(line)
    try:
        data = base64.b64decode("".join(lines), validate=True)
    except (binascii.Error, ValueError):
        return None
    return _pgp_secret_packet(data)


def _pgp_secret_packet(data: bytes) -> dict[str, Any] | None:
    if not data or not data[0] & 0x80:
        return None
    first = data[0]
    if first & 0x40:  # new format
        tag, pos = first & 0x3F, 1
        if pos >= len(data):
            return None
        length_octet = data[pos]
        if length_octet < 192:
            pos += 1
        elif length_octet < 224:
            pos += 2
        elif length_octet == 255:
            pos += 5
        else:
            return None
    else:
        tag, ltype = (first >> 2) & 0x0F, first & 3
        pos = 1 + {0: 1, 1: 2, 2: 4, 3: 0}[ltype]
    if tag not in (5, 7):  # secret key or secret subkey
        return None
    body = data[pos:]
    try:
        version = body[0]
        if version == 4:
            algo, after = body[5], 6
        elif version in (5, 6):
            algo, after = body[5], 10
        else:
            return None
        after = _skip_public_material(body, algo, after, version)
        usage = body[after]
    except (IndexError, ValueError):
        return None
    names = {1: "rsa", 2: "rsa", 3: "rsa", 16: "elgamal", 17: "dsa", 18: "ecdh", 19: "ecdsa", 22: "eddsa",
             25: "x25519", 26: "x448", 27: "ed25519", 28: "ed448"}
    return {"format": "pgp", "key_type": names.get(algo, f"algo-{algo}"), "encrypted": usage != 0}


def _mpi_end(body: bytes, pos: int) -> int:
    bits = (body[pos] << 8) | body[pos + 1]
    end = pos + 2 + (bits + 7) // 8
    if end > len(body):
        raise ValueError("truncated MPI")
    return end


def _skip_public_material(body: bytes, algo: int, pos: int, version: int) -> int:
    if version in (5, 6):  # the public material's length is the 4 octets before it
        return pos + int.from_bytes(body[6:10], "big")
    counts = {1: 2, 2: 2, 3: 2, 16: 3, 17: 4}
    if algo in counts:
        for _ in range(counts[algo]):
            pos = _mpi_end(body, pos)
        return pos
    if algo in (18, 19, 22):
        oid_len = body[pos]
        pos = _mpi_end(body, pos + 1 + oid_len)
        if algo == 18:  # KDF parameters
            pos += 1 + body[pos]
        return pos
    fixed = {25: 32, 26: 56, 27: 32, 28: 57}
    if algo in fixed:
        return pos + fixed[algo]
    raise ValueError("unknown algorithm")


# ---------------------------------------------------------------- entropy

def shannon_entropy(text: str | bytes) -> float:
    """Bits per character. A signal weighed with context (key name, length), never a finding alone.

    `-sum(c / n * log2(c / n))` over the characters' counts in order of first appearance, each
    term read from a table made once per length (the same floats added in the same order: the
    same result to the bit, so no threshold judges a value otherwise), the counts made in C: a
    scan calls this for every token it confirms (300,000 in a hostile log)."""
    n = len(text)
    if not n:
        return 0.0
    counts: dict[str | int, int] = {}
    _count_into(counts, text)
    terms = _ENTROPY_TERMS[n] if n < _TERMS_KEPT else _entropy_terms(n)
    return -sum(map(terms.__getitem__, counts.values()))


def _entropy_terms(n: int) -> tuple[float, ...]:
    """`c / n * log2(c / n)` for each count c of a text of n characters (0 for c = 0, unused)."""
    return (0.0, *[c / n * math.log2(c / n) for c in range(1, n + 1)])


class _TermTables(dict[int, tuple[float, ...]]):
    def __missing__(self, n: int) -> tuple[float, ...]:
        made = self[n] = _entropy_terms(n)
        return made


_TERMS_KEPT = 512
"""Lengths whose terms are kept (a table each, made when first needed); longer texts make theirs."""
_ENTROPY_TERMS = _TermTables()


def _count_in_python(counts: dict[Any, int], items: str | bytes) -> None:
    for item in items:
        counts[item] = counts.get(item, 0) + 1


_count_into: Callable[[dict[Any, int], str | bytes], None] = getattr(collections, "_count_elements", _count_in_python)
"""Counts each item into a dict, in order of first appearance: CPython's C helper of Counter
(what `Counter(text)` calls after its checks), or the same in Python where it is missing."""


_CLASSES = (re.compile(r"[a-z]"), re.compile(r"[A-Z]"), re.compile(r"[0-9]"), re.compile(r"[^A-Za-z0-9]"))


def char_classes(text: str) -> int:
    return sum(1 for c in _CLASSES if c.search(text))
