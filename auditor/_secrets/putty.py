"""PuTTY's private key files (.ppk, formats 2 and 3), parsed as PuTTY reads them.

A key file is lines of `Name: value`: the format and the key's algorithm, `Encryption`
(`none` or `aes256-cbc`), `Comment`, `Public-Lines: N` and N lines of base64, in format 3
with a passphrase the Argon2 parameters, `Private-Lines: N` and N lines of base64, then
`Private-MAC`. An unencrypted key is confirmed by its MAC (format 2: HMAC-SHA-1 keyed with
SHA-1 of "putty-private-key-file-mac-key"; format 3: HMAC-SHA-256 with an empty key, both
over the algorithm, encryption, comment and both blobs as SSH strings), which puttygen
checks before it loads one; an encrypted key's MAC needs its passphrase, so its blobs'
structure confirms it (the public blob names the algorithm, the private one is whole
blocks of AES).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from typing import Any

START = re.compile(rb"PuTTY-User-Key-File-([23]): ([\x21-\x7e]{1,64})\r?\n")
_FIELD = re.compile(rb"([A-Za-z0-9-]{1,32}): ?([^\r\n]{0,1024})(?:\r?\n|\Z)")
MAX_LINES = 256
"""The most base64 lines a blob may have (an RSA key of 16,384 bits needs under 40)."""
_ENCRYPTIONS = (b"none", b"aes256-cbc")


def _ssh_string(value: bytes) -> bytes:
    return struct.pack(">I", len(value)) + value


def putty_key(data: bytes, start: int) -> tuple[bytes, dict[str, Any], int] | None:
    """The PuTTY key file starting at `start`: its secret (the base64 of its private blob: one
    key saved in format 2 and in 3 has one), facts (format `putty`, key type, encrypted) and
    where it ends (after the Private-MAC line); None where it is no key PuTTY would load."""
    m = START.match(data, start)
    if m is None:
        return None
    version, algorithm = m.group(1), m.group(2)
    fields: dict[bytes, bytes] = {}
    blobs: dict[bytes, bytes] = {}
    at = m.end()
    while b"Private-MAC" not in fields:
        field = _FIELD.match(data, at)
        if field is None:
            return None
        name, value = field.groups()
        at = field.end()
        if name in (b"Public-Lines", b"Private-Lines"):
            if not value.isdigit() or not 0 < int(value) <= MAX_LINES:
                return None
            lines = []
            for _ in range(int(value)):
                end = data.find(b"\n", at)
                if end < 0:
                    return None
                lines.append(data[at:end].rstrip(b"\r"))
                at = end + 1
            try:
                blobs[name] = base64.b64decode(b"".join(lines), validate=True)
            except (binascii.Error, ValueError):
                return None
        elif name in fields:
            return None
        fields[name] = value
    encryption, mac = fields.get(b"Encryption"), fields[b"Private-MAC"]
    public, private = blobs.get(b"Public-Lines"), blobs.get(b"Private-Lines")
    if encryption not in _ENCRYPTIONS or public is None or private is None or b"Comment" not in fields:
        return None
    if public[4:4 + len(algorithm)] != algorithm or public[:4] != struct.pack(">I", len(algorithm)):
        return None  # the public blob is the key's, named by the header
    if encryption == b"none":
        signed = b"".join(_ssh_string(v) for v in (algorithm, encryption, fields[b"Comment"], public, private))
        if version == b"2":
            expected = hmac.new(hashlib.sha1(b"putty-private-key-file-mac-key", usedforsecurity=False).digest(), signed,
                                "sha1").hexdigest()
        else:
            expected = hmac.new(b"", signed, "sha256").hexdigest()
        if not hmac.compare_digest(expected.encode(), mac.strip().lower()):
            return None
    elif len(private) % 16:
        return None
    facts = {"format": "putty", "key_type": algorithm.decode(), "encrypted": encryption != b"none"}
    return base64.b64encode(private), facts, at
