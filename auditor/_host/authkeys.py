"""OpenSSH authorized_keys files: each key's type, size, fingerprint and options (sshd(8)).

A line is `[options] keytype base64-key [comment]`; options are comma-separated, values in
double quotes (a backslash escapes a quote). The key blob is decoded to check that it holds the
type it claims and to measure it (RSA and DSA modulus bits, the ECDSA curve, 256 for Ed25519).
Forced commands and environment values are not kept (they may hold secrets): only that they
are there.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from auditor._host import sshmatch
from auditor._host.accounts import Account
from auditor._host.sshd import a2port
from auditor._host.system import HostFileError, HostFiles
from auditor._timeutil import rfc3339

MAX_KEYS_FILE_BYTES = 1024 * 1024
MAX_LINE = 16 * 1024

KeyAlgorithm = Literal["rsa", "dsa", "ecdsa", "ed25519", "ed25519-sk", "ecdsa-sk", "unknown"]
PLAIN_TYPES: dict[str, KeyAlgorithm] = {
    "ssh-rsa": "rsa", "ssh-dss": "dsa", "ssh-ed25519": "ed25519",
    "ecdsa-sha2-nistp256": "ecdsa", "ecdsa-sha2-nistp384": "ecdsa", "ecdsa-sha2-nistp521": "ecdsa",
    "sk-ssh-ed25519@openssh.com": "ed25519-sk", "sk-ecdsa-sha2-nistp256@openssh.com": "ecdsa-sk",
}
KEY_TYPES: dict[str, KeyAlgorithm] = {**PLAIN_TYPES, **{t.replace("@openssh.com", "") + "-cert-v01@openssh.com": a for t, a in PLAIN_TYPES.items()}}
CURVE_BITS = {"nistp256": 256, "nistp384": 384, "nistp521": 521}
_NEGATABLE = ("port-forwarding", "agent-forwarding", "x11-forwarding", "touch-required", "verify-required", "pty",
              "user-rc")
FLAG_OPTIONS = {"restrict", "cert-authority", *_NEGATABLE, *("no-" + name for name in _NEGATABLE)}
"""sshd's flags (auth-options.c): each of _NEGATABLE also with `no-` in front."""
VALUE_OPTIONS = {"command", "environment", "expiry-time", "from", "permitlisten", "permitopen", "principals", "tunnel"}
ONCE = ("command", "principals", "from")
"""Options sshd refuses a line for giving twice."""
HIDDEN_VALUES = {"command", "environment"}
"""Options whose values are not kept (a forced command or variable may carry a secret)."""


@dataclass(frozen=True)
class AuthorizedKey:
    account: str
    file: str
    line: int
    type: str
    """The key type as written (ssh-ed25519, ssh-rsa, ...)."""
    algorithm: KeyAlgorithm
    """rsa, dsa, ecdsa, ed25519, ed25519-sk, ecdsa-sk; unknown when not recognised."""
    bits: int | None
    fingerprint: str | None
    comment: str
    certificate: bool
    options: tuple[tuple[str, str | None], ...] = ()
    """(name in lower case, value) in order; command/environment values replaced by '(set)'."""
    problem: str | None = None
    expires_at: str | None = None
    """expiry-time, UTC (a time without Z read as UTC)."""

    @property
    def from_text(self) -> str | None:
        """The from= option's patterns as written, None without one."""
        return next((value for name, value in self.options if name == "from"), None)

    @property
    def from_patterns(self) -> list[str]:
        text = self.from_text
        return text.split(",") if text else []

    @property
    def from_anywhere(self) -> bool:
        """No from=, or one whose patterns admit every address of a family (sshmatch)."""
        text = self.from_text
        return text is None or sshmatch.admits_anywhere(text)

    def option_names(self) -> list[str]:
        return [name for name, _ in self.options]


def _parse_options(text: str) -> tuple[list[tuple[str, str | None]], str, str | None]:
    """Options at the start of `text`: (options, rest, problem)."""
    opts: list[tuple[str, str | None]] = []
    i, n = 0, len(text)
    while i < n and text[i] not in " \t":
        j = i
        while j < n and text[j] not in ",= \t":
            j += 1
        name = text[i:j].lower()
        value: str | None = None
        if j < n and text[j] == "=":
            if j + 1 >= n or text[j + 1] != '"':
                return opts, "", f"option {name}: value not in double quotes"
            k = j + 2
            chars: list[str] = []
            while k < n and text[k] != '"':
                if text[k] == "\\" and k + 1 < n and text[k + 1] == '"':
                    k += 1
                chars.append(text[k])
                k += 1
            if k >= n:
                return opts, "", f"option {name}: missing closing quote"
            value = "".join(chars)
            j = k + 1
        if name not in FLAG_OPTIONS | VALUE_OPTIONS:
            return opts, "", f"unknown option {name[:40]}"
        if (name in VALUE_OPTIONS) != (value is not None):
            return opts, "", f"option {name}: " + ("needs a value" if value is None else "takes no value")
        if name in ONCE and any(seen == name for seen, _ in opts):
            return opts, "", f"option {name} given twice"
        problem = _value_problem(name, value)
        if problem is not None:
            return opts, "", f"option {name}: {problem}"
        opts.append((name, "(set)" if name in HIDDEN_VALUES else value))
        i = j
        if i < n and text[i] == ",":
            i += 1
            if i >= n:
                return opts, "", "options end with a comma"
        elif i < n and text[i] not in " \t":
            return opts, "", "bad option syntax"
    if "principals" in (names := {name for name, _ in opts}) and "cert-authority" not in names:
        return opts, "", "principals= without cert-authority (sshd refuses the key)"
    return opts, text[i:].lstrip(" \t"), None


_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_ENV_NAME = re.compile(r"[A-Za-z0-9_]+")
_TUNNEL = re.compile(r"[\t\n\v\f\r ]*[+-]?[0-9]+")
_TUNNEL_MAX = 2**31 - 3


def _value_problem(name: str, value: str | None) -> str | None:
    """Why sshd refuses the line for this option's value (auth-options.c), or None."""
    if value is None:
        return None
    if name == "from" and sshmatch.invalid(value):
        return "an empty entry, host bits beyond a mask or a mask too long (sshd refuses every address)"
    if name == "expiry-time" and expiry(value) is None:
        return "not a time (YYYYMMDD[HHMM[SS]], Z or UTC for UTC)"
    if name == "environment":
        var, equals, _ = value.partition("=")
        if not equals or not _ENV_NAME.fullmatch(var):
            return "not NAME=value"
    if name == "tunnel" and value.lower() != "any" and not (
            _TUNNEL.fullmatch(value) and 0 <= int(value) <= _TUNNEL_MAX):
        return "not a tunnel device number or any"
    if name in ("permitopen", "permitlisten"):
        where = value if ":" in value or name == "permitopen" else "*:" + value
        host, port = _host_port(where)
        if not host or not (port == "*" or (a2port(port) or 0) > 0):
            return "not host:port"
    return None


def _host_port(text: str) -> tuple[str, str]:
    """hpdelim2: `[host]:port` or `host:port` split."""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return "", ""
        return host, rest[1:]
    host, _, port = text.partition(":")
    return host, port


def expiry(value: str) -> dt.datetime | None:
    """expiry-time as sshd reads it (parse_absolute_time): YYYYMMDD, YYYYMMDDHHMM or
    YYYYMMDDHHMMSS, then Z or UTC for UTC; without them sshd reads local time, which this reads
    as UTC. None where sshd refuses it."""
    text = value
    for suffix in ("z", "utc"):
        if len(text) > len(suffix) and text.lower().endswith(suffix):
            text = text[: -len(suffix)]
            break
    formats = {8: "%Y%m%d", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}
    if len(text) not in formats or not text.isdigit() or not text.isascii():
        return None
    try:
        when = dt.datetime.strptime(text, formats[len(text)]).replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    return when if when.timestamp() > 0 else None


class _Blob:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def string(self) -> bytes:
        if self.pos + 4 > len(self.data):
            raise ValueError("truncated key blob")
        size = int.from_bytes(self.data[self.pos:self.pos + 4], "big")
        start = self.pos + 4
        if size > len(self.data) - start:
            raise ValueError("truncated key blob")
        self.pos = start + size
        return self.data[start:self.pos]

    def mpint_bits(self) -> int:
        return int.from_bytes(self.string(), "big", signed=False).bit_length()


def key_bits(keytype: str, blob: bytes) -> int:
    """Size in bits of a key blob of `keytype`; ValueError when the blob does not hold that type."""
    b = _Blob(blob)
    inner = b.string().decode("ascii", "replace")
    if inner != keytype:
        raise ValueError(f"the key data is a {inner[:40]} key, not {keytype}")
    if keytype.endswith("-cert-v01@openssh.com"):
        b.string()  # nonce
    algo = KEY_TYPES[keytype]
    if algo == "rsa":
        b.string()  # e
        return b.mpint_bits()
    if algo == "dsa":
        return b.mpint_bits()
    if algo in ("ecdsa", "ecdsa-sk"):
        curve = b.string().decode("ascii", "replace")
        if curve not in CURVE_BITS:
            raise ValueError(f"unknown curve {curve[:20]}")
        b.string()
        return CURVE_BITS[curve]
    if len(b.string()) != 32:
        raise ValueError("an Ed25519 key is 32 bytes")
    return 256


def parse_line(account: str, file: str, number: int, line: str) -> AuthorizedKey | None:
    """One authorized_keys line as a key (None for blank lines and comments)."""
    text = line.strip(" \t\r")
    if not text or text.startswith("#"):
        return None
    if len(text) > MAX_LINE:
        return AuthorizedKey(account, file, number, "", "unknown", None, None, "", False, (), "line too long")
    first = (text.split(None, 1) or [""])[0]  # str.split also splits at \x1c-\x1f: a line of them is no key
    options: list[tuple[str, str | None]] = []
    problem = None
    rest = text
    if first not in KEY_TYPES:
        options, rest, problem = _parse_options(text)
    parts = rest.split(None, 2)
    keytype = parts[0] if parts else ""
    comment = parts[2].strip() if len(parts) > 2 else ""
    certificate = keytype.endswith("-cert-v01@openssh.com")
    if problem is None and keytype not in KEY_TYPES:
        problem = f"unknown key type {keytype[:40]}" if keytype else "no key"
    bits = fingerprint = None
    if problem is None:
        if len(parts) < 2:
            problem = "no key data"
        else:
            try:
                if len(parts[1]) % 4 or not _BASE64.fullmatch(parts[1]):  # b64decode allows excess padding
                    raise ValueError("not base64")
                blob = base64.b64decode(parts[1], validate=True)
                bits = key_bits(keytype, blob)
                fingerprint = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
            except (ValueError, binascii.Error) as exc:
                problem = f"bad key data: {exc}"
    ends = [when for name, value in options if name == "expiry-time" and value and (when := expiry(value))]
    return AuthorizedKey(account, file, number, keytype[:80], KEY_TYPES.get(keytype, "unknown"), bits,
                         fingerprint, comment[:200], certificate, tuple(options), problem,
                         rfc3339(min(ends)) if ends else None)


def parse_keys(account: str, file: str, text: str) -> list[AuthorizedKey]:
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        key = parse_line(account, file, number, line)
        if key is not None:
            out.append(key)
    return out


def expand_path(pattern: str, account: Account) -> str:
    """An AuthorizedKeysFile token for an account: %% %h %u %U, relative to the home folder."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "%" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append({"%": "%", "h": account.home, "u": account.name, "U": str(account.uid)}.get(nxt, "%" + nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    path = "".join(out)
    if not path.startswith("/"):
        path = account.home.rstrip("/") + "/" + path
    return path


@dataclass(frozen=True)
class KeysFile:
    account: str
    path: str
    keys: tuple[AuthorizedKey, ...] = ()
    problem: str | None = None


def read_keys(files: HostFiles, account: Account, patterns: list[str]) -> Iterator[KeysFile]:
    """The account's authorized keys files that exist (per its effective AuthorizedKeysFile)."""
    if patterns == ["none"]:
        return
    seen = set()
    for pattern in patterns:
        path = expand_path(pattern, account)
        if path in seen:
            continue
        seen.add(path)
        try:
            text = files.read_text(path, MAX_KEYS_FILE_BYTES)
        except HostFileError as exc:
            if not exc.missing:
                yield KeysFile(account.name, path, (), exc.reason)
            continue
        yield KeysFile(account.name, path, tuple(parse_keys(account.name, path, text)))
