"""PuTTY's private key files (.ppk, formats 2 and 3), read as PuTTY's loader reads them.

A key file is lines of `Name: value` in a fixed order: the format and the key's algorithm,
`Encryption` (`none` or `aes256-cbc`), `Comment`, `Public-Lines: N` and N lines of base64, in
format 3 with a passphrase the Argon2 parameters, `Private-Lines: N` and N lines of base64,
then `Private-MAC`. An unencrypted key is confirmed by its MAC (format 2: HMAC-SHA-1 keyed with
SHA-1 of "putty-private-key-file-mac-key"; format 3: HMAC-SHA-256 with an empty key, both over
the algorithm, encryption, comment and both blobs as SSH strings), which puttygen checks
before it loads one: as lower-case hex, compared as written. An encrypted key's MAC needs its
passphrase, so its blobs' structure confirms it (the public blob names the algorithm, the
private one is whole blocks of AES).

What PuTTY's reader takes is what this reads (held to puttygen in the tests): a name of at
most 39 bytes, then `: ` (one blank: no other); a value to the line's end, which is one CR or
LF and one more of either (so `\\r`, `\\n`, `\\r\\n` and `\\n\\n` alike), read to its first NUL
as C reads a string; base64 lines of at most 64 characters in whole atoms of 4, each decoded
alone (padding may end any of them); line counts as `strtoul` reads them. Format 1 (PuTTY
before 0.52, `Private-Hash`) is not read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from typing import Any

START = re.compile(rb"PuTTY-User-Key-File-([23]): ")
MAX_LINES = 262144 // 48
"""PuTTY's most base64 lines of a blob (MAX_KEY_BLOB_LINES: 256 KiB of key)."""
MAX_FILE = 262144 * 4 // 3 + 4096
"""PuTTY's largest key file (MAX_KEY_FILE_SIZE): the most bytes a key's text is read in."""
ALGORITHMS = frozenset({
    b"ssh-rsa", b"rsa-sha2-256", b"rsa-sha2-512", b"ssh-dss", b"ecdsa-sha2-nistp256", b"ecdsa-sha2-nistp384",
    b"ecdsa-sha2-nistp521", b"ssh-ed25519", b"ssh-ed448", b"ssh-dss-cert-v01@openssh.com",
    b"ssh-rsa-cert-v01@openssh.com", b"rsa-sha2-256-cert-v01@openssh.com", b"rsa-sha2-512-cert-v01@openssh.com",
    b"ssh-ed25519-cert-v01@openssh.com", b"ecdsa-sha2-nistp256-cert-v01@openssh.com",
    b"ecdsa-sha2-nistp384-cert-v01@openssh.com", b"ecdsa-sha2-nistp521-cert-v01@openssh.com",
})
"""The key algorithms PuTTY knows (its all_keyalgs): a file naming another is refused."""
_ARGON2 = (b"Argon2d", b"Argon2i", b"Argon2id")
_LINE_END = re.compile(rb"[\r\n]")
_COUNT = re.compile(rb"[ \t\n\v\f\r]*([+-]?)([0-9]{1,20})")
"""What strtoul reads whole in base 10: blanks, a sign, digits."""
_HEX_PAIRS = re.compile(rb"(?:[0-9A-Fa-f]{2})*")
_ATOM = re.compile(rb"[A-Za-z0-9+/]{2}(?:[A-Za-z0-9+/]{2}|[A-Za-z0-9+/]=|==)")
"""A base64 atom PuTTY decodes: two characters, then two more or padding (`x=` or `==`)."""


class _Refused(Exception):
    """The text is no key file PuTTY would read."""


class _Reader:
    """PuTTY's reading of a key file's text from `at`, to at most `stop`."""

    def __init__(self, data: bytes, at: int, stop: int) -> None:
        self.data, self.at, self.stop = data, at, stop

    def header(self, name: bytes) -> None:
        """A `Name: ` line start naming `name` (read_header: at most 39 bytes, then `: `)."""
        colon = self.data.find(b":", self.at, min(self.stop, self.at + 40))
        if colon < 0 or self.data[colon + 1:colon + 2] != b" " or colon + 1 >= self.stop:
            raise _Refused
        found = self.data[self.at:colon]
        if b"\r" in found or b"\n" in found or found.split(b"\0", 1)[0] != name:
            raise _Refused
        self.at = colon + 2

    def body(self) -> bytes:
        """The rest of the line, past its end (read_body), up to its first NUL."""
        m = _LINE_END.search(self.data, self.at, self.stop)
        if m is None:  # the text's end ends the line too
            if self.stop < len(self.data):
                raise _Refused  # longer than any key file PuTTY reads
            end = after = self.stop
        else:
            end, after = m.start(), m.end()
            if after < self.stop and self.data[after] in b"\r\n":
                after += 1
        value = self.data[self.at:end]
        self.at = after
        return value.split(b"\0", 1)[0]

    def field(self, name: bytes) -> bytes:
        self.header(name)
        return self.body()

    def count(self, name: bytes, most: int) -> int:
        """A number as strtoul reads it whole, under `most` (PuTTY's line counts, Argon2 values)."""
        m = _COUNT.fullmatch(self.field(name))
        if m is None:
            raise _Refused
        n = int(m.group(2))
        if (m.group(1) == b"-" and n) or n >= most:  # strtoul wraps a negative number past every bound
            raise _Refused
        return n

    def blob(self, name: bytes) -> bytes:
        """`Name: N` and N lines of base64 (read_blob), decoded atom by atom."""
        lines = self.count(name, MAX_LINES)
        out = []
        for _ in range(lines):
            line = self.body()
            if len(line) % 4 or len(line) > 64:
                raise _Refused
            if b"=" not in line:
                try:
                    out.append(base64.b64decode(line, validate=True))
                except (binascii.Error, ValueError):
                    raise _Refused from None
                continue
            for i in range(0, len(line), 4):
                atom = line[i:i + 4]
                if _ATOM.fullmatch(atom) is None:
                    raise _Refused
                out.append(_atom(atom))
        return b"".join(out)


def _atom(atom: bytes) -> bytes:
    """A padded base64 atom as PuTTY decodes it (its unused bits ignored)."""
    body = atom.rstrip(b"=")
    value = int.from_bytes(base64.b64decode(body + b"A" * (4 - len(body))), "big")
    return value.to_bytes(3, "big")[:len(body) - 1]


def _ssh_string(value: bytes) -> bytes:
    return struct.pack(">I", len(value)) + value


def putty_key(data: bytes, start: int) -> tuple[bytes, dict[str, Any], int] | None:
    """The PuTTY key file starting at `start`: its secret (the base64 of its private blob: one
    key saved in format 2 and in 3 has one), facts (format `putty`, key type, encrypted) and
    where it ends (past the Private-MAC line); None where it is no key PuTTY would load."""
    m = START.match(data, start)
    if m is None:
        return None
    read = _Reader(data, m.end(), min(len(data), start + MAX_FILE))
    try:
        return _key(read, int(m.group(1)))
    except _Refused:
        return None


def _key(read: _Reader, version: int) -> tuple[bytes, dict[str, Any], int]:
    """ppk_load_s's reading of what follows the format line, in its order."""
    algorithm = read.body()
    if algorithm not in ALGORITHMS:
        raise _Refused
    encryption = read.field(b"Encryption")
    if encryption not in (b"none", b"aes256-cbc"):
        raise _Refused
    comment = read.field(b"Comment")
    public = read.blob(b"Public-Lines")
    encrypted = encryption != b"none"
    if version == 3 and encrypted:
        if read.field(b"Key-Derivation") not in _ARGON2:
            raise _Refused
        for name in (b"Argon2-Memory", b"Argon2-Passes", b"Argon2-Parallelism"):
            read.count(name, 2**32)
        if _HEX_PAIRS.fullmatch(read.field(b"Argon2-Salt")) is None:
            raise _Refused
    private = read.blob(b"Private-Lines")
    mac = read.field(b"Private-MAC")
    if public[4:4 + len(algorithm)] != algorithm or public[:4] != struct.pack(">I", len(algorithm)):
        raise _Refused  # the public blob is the key's, named by the header
    if encrypted:
        if len(private) % 16:
            raise _Refused
    else:
        signed = b"".join(_ssh_string(v) for v in (algorithm, encryption, comment, public, private))
        if version == 2:
            expected = hmac.new(hashlib.sha1(b"putty-private-key-file-mac-key", usedforsecurity=False).digest(), signed,
                                "sha1").hexdigest()
        else:
            expected = hmac.new(b"", signed, "sha256").hexdigest()
        if not hmac.compare_digest(expected.encode(), mac):
            raise _Refused
    facts = {"format": "putty", "key_type": algorithm.decode(), "encrypted": encrypted}
    return base64.b64encode(private), facts, read.at
