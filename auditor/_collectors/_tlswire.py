"""Parsers for the bytes a TLS probe sees: handshake messages and a NATS INFO line.

The ssl module gives the client the handshake messages it reads (see
:func:`auditor._collectors.tls.observe`); these functions turn the Certificate and
CertificateRequest messages into certificates and CA names. Every parser takes untrusted
bytes and raises :class:`WireError` for anything malformed, never another exception.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cryptography import x509

MAX_INFO_LINE = 64 * 1024
"""nats-server's INFO is well under a kilobyte; anything this long is not NATS."""
CERTIFICATE_AUTHORITIES_EXT = 47


class WireError(ValueError):
    """Bytes that do not parse as the message they claim to be."""


@dataclass
class _Reader:
    data: bytes
    pos: int = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise WireError(f"truncated: wanted {n} bytes at offset {self.pos}, {len(self.data) - self.pos} left")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def vector(self, length_bytes: int) -> bytes:
        return self.take(self.uint(length_bytes))

    @property
    def done(self) -> bool:
        return self.pos >= len(self.data)


def _body(message: bytes, expected_type: int) -> _Reader:
    """The body of a handshake message (type byte, 3-byte length, body)."""
    r = _Reader(message)
    msg_type = r.uint(1)
    if msg_type != expected_type:
        raise WireError(f"handshake message type {msg_type}, expected {expected_type}")
    body = r.vector(3)
    return _Reader(body)


def server_hello_cipher(message: bytes) -> int:
    """The cipher suite code (IANA) a ServerHello selected."""
    r = _body(message, 2)
    r.take(2 + 32)  # legacy_version, random
    r.vector(1)  # session id
    return r.uint(2)


def certificate_list(message: bytes, tls13: bool) -> list[bytes]:
    """The DER certificates of a Certificate handshake message, in the order sent."""
    r = _body(message, 11)
    if tls13:
        r.vector(1)  # certificate_request_context
    entries = _Reader(r.vector(3))
    out: list[bytes] = []
    while not entries.done:
        der = entries.vector(3)
        if not der:
            raise WireError("empty certificate entry")
        out.append(der)
        if tls13:
            entries.vector(2)  # per-certificate extensions
    return out


def certificate_request_cas(message: bytes, tls13: bool) -> list[bytes]:
    """The DER distinguished names of the CAs a CertificateRequest names (maybe none)."""
    r = _body(message, 13)
    names = b""
    if tls13:
        r.vector(1)  # certificate_request_context
        extensions = _Reader(r.vector(2))
        while not extensions.done:
            ext_type = extensions.uint(2)
            ext_data = extensions.vector(2)
            if ext_type == CERTIFICATE_AUTHORITIES_EXT:
                names = _Reader(ext_data).vector(2)
    else:
        r.vector(1)  # certificate_types
        r.vector(2)  # supported_signature_algorithms
        names = r.vector(2)
    reader = _Reader(names)
    out: list[bytes] = []
    while not reader.done:
        out.append(reader.vector(2))
    return out


# --- DER distinguished names (cryptography parses names only inside certificates) -----------

# PrintableString and IA5String are ASCII by definition; read as UTF-8 (a superset) because
# some encoders, cryptography among them, write non-ASCII text into them anyway
_STRING_TAGS = {0x0C: "utf-8", 0x13: "utf-8", 0x16: "utf-8", 0x14: "latin-1", 0x1E: "utf-16-be", 0x1C: "utf-32-be"}


def _der(r: _Reader) -> tuple[int, bytes]:
    tag = r.uint(1)
    if tag & 0x1F == 0x1F:
        raise WireError("multi-byte DER tags are not used in names")
    first = r.uint(1)
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4:
            raise WireError("unsupported DER length")
        length = r.uint(count)
    return tag, r.take(length)


def _oid(raw: bytes) -> str:
    if not raw:
        raise WireError("empty OID")
    parts: list[int] = []
    value = 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    if raw[-1] & 0x80:
        raise WireError("truncated OID")
    first = parts[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(p) for p in head + parts[1:])


def distinguished_name(der: bytes) -> str:
    """An RFC 4514 string for a DER Name, as cryptography writes a certificate's subject.

    A name cryptography would refuse (a value that is not text, a country code of the wrong
    length) is written with dotted OIDs and `#`-hex values (RFC 4514 section 2.4) instead.
    """
    outer = _Reader(der)
    tag, content = _der(outer)
    if tag != 0x30 or not outer.done:
        raise WireError("a distinguished name is one DER SEQUENCE")
    rdns: list[list[tuple[str, int, bytes]]] = []
    reader = _Reader(content)
    while not reader.done:
        tag, rdn = _der(reader)
        if tag != 0x31:
            raise WireError("expected a SET in a distinguished name")
        members = _Reader(rdn)
        attrs: list[tuple[str, int, bytes]] = []
        while not members.done:
            tag, pair = _der(members)
            if tag != 0x30:
                raise WireError("expected a SEQUENCE in a relative distinguished name")
            p = _Reader(pair)
            oid_tag, oid_raw = _der(p)
            value_tag, value_raw = _der(p)
            if oid_tag != 0x06 or not p.done:
                raise WireError("expected an OID and one value")
            attrs.append((_oid(oid_raw), value_tag, value_raw))
        if not attrs:
            raise WireError("empty relative distinguished name")
        rdns.append(attrs)
    try:
        return x509.Name(
            [x509.RelativeDistinguishedName([_attribute(*a) for a in rdn]) for rdn in rdns]
        ).rfc4514_string()
    except (ValueError, UnicodeDecodeError):
        return ",".join(
            "+".join(f"{oid}=#{_tlv(tag, raw).hex()}" for oid, tag, raw in rdn) for rdn in reversed(rdns)
        )


def _attribute(oid: str, tag: int, raw: bytes) -> x509.NameAttribute[str]:
    encoding = _STRING_TAGS.get(tag)
    if encoding is None:
        raise ValueError("not a text value")
    return x509.NameAttribute(x509.ObjectIdentifier(oid), raw.decode(encoding))


def _tlv(tag: int, raw: bytes) -> bytes:
    n = len(raw)
    length = bytes([n]) if n < 0x80 else bytes([0x80 | 4]) + n.to_bytes(4, "big")
    return bytes([tag]) + length + raw


# --- NATS ------------------------------------------------------------------------------------


def nats_info(line: bytes) -> dict[str, Any]:
    """The JSON object of a NATS `INFO {...}` protocol line."""
    text = line.rstrip(b"\r\n")
    head, _, rest = text.partition(b" ")
    if head.upper() != b"INFO":
        shown = text[:40].decode("ascii", "replace")
        raise WireError(f"expected a NATS INFO line, got {shown!r}")
    try:
        info = json.loads(rest)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"INFO line is not JSON: {exc}") from None
    if not isinstance(info, dict):
        raise WireError("INFO line is not a JSON object")
    return info
