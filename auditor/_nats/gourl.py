"""Whether Go's `net/url.Parse` refuses a URL: what nats-server checks of the URLs a config names.

The server reads route, gateway, leafnode remote and URL resolver addresses with
`parseURL` (server/opts.go): `strings.TrimSpace`, then `url.Parse`, and refuses the config
(`error parsing route url [...]`) when that fails. `url.Parse` accepts far more than a URL a
server could dial (`localhost:4222` is the scheme `localhost`), and refuses less obvious
things: a port that is not digits (`127.0.0.1:-1`), `host:port` without a scheme
(`127.0.0.1:4222`: a first path segment holding a colon), a space or `{|}` in the host, a `%`
escape that is not two hex digits or that encodes an ASCII byte in the host, a control
character anywhere, a bracketed host that is not an IPv6 address (nats-server 2.15.1 is built
with Go 1.27). This module answers that question alone; nothing here resolves or dials.
tests/auditor/_nats/test_gourl.py holds it to `nats-server -t`.
"""

from __future__ import annotations

import ipaddress
import string
from dataclasses import dataclass

GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
"""What Go's strings.TrimSpace trims (unicode.IsSpace), where Python's str.strip() trims more."""
_LETTERS = frozenset(string.ascii_letters)
_ALNUM = _LETTERS | frozenset(string.digits)
_SCHEME_REST = _ALNUM | frozenset("+-.")
_HEX = frozenset(string.hexdigits)
_HOST_ASCII = _ALNUM | frozenset("!$&'()*+,;=:[]<>\"-_.~")
"""The ASCII characters a host may hold unescaped (Go's shouldEscape(c, encodeHost) is false)."""
_USERINFO = _ALNUM | frozenset("-._:~!$&'()*+,;=%@")


@dataclass(frozen=True)
class URL:
    """What the server reads of a URL: its scheme and user information, or why it refuses it."""

    scheme: str = ""
    """In lower case; '' if none."""
    userinfo: str | None = None
    """What stands before the host's `@`, as written; None if there is no `@`."""
    error: str | None = None

    @property
    def password(self) -> bool:
        """Whether the user information holds a password (something after its first ':')."""
        return self.userinfo is not None and bool(self.userinfo.partition(":")[2])


def url_error(text: str) -> str | None:
    """Why nats-server refuses `text` as a URL (Go's url.Parse of it, trimmed); None if it takes it."""
    return parse(text).error


def parse(text: str) -> URL:
    """`text` read as the server reads a URL (Go's url.Parse of it, trimmed)."""
    raw, _, fragment = text.strip(GO_SPACE).partition("#")
    if any(c < "\x20" or c == "\x7f" for c in raw):
        return URL(error="invalid control character in URL")
    if raw == "*":
        return URL(error=_escapes(fragment, host=False))
    scheme, rest = _scheme(raw)
    if scheme is None:
        return URL(error="missing protocol scheme")
    scheme = scheme.lower()
    if rest.endswith("?") and rest.count("?") == 1:
        rest = rest[:-1]
    else:
        rest = rest.partition("?")[0]
    if not rest.startswith("/"):
        if scheme:  # an opaque URL (`localhost:4222`): nothing more is read
            return URL(scheme, error=_escapes(fragment, host=False))
        if ":" in rest.partition("/")[0]:
            return URL(error="first path segment in URL cannot contain colon")
    userinfo = None
    if (scheme or not rest.startswith("///")) and rest.startswith("//"):
        authority, slash, path = rest[2:].partition("/")
        rest = slash + path
        at = authority.rfind("@")
        userinfo = authority[:at] if at >= 0 else None
        problem = _authority(authority)
        if problem:
            return URL(scheme, userinfo, problem)
    return URL(scheme, userinfo, _escapes(rest, host=False) or _escapes(fragment, host=False))


def _scheme(raw: str) -> tuple[str | None, str]:
    """Go's getScheme: the scheme ('' if there is none) and the rest; None if the URL starts with ':'."""
    for i, c in enumerate(raw):
        if c == ":":
            return (None, "") if i == 0 else (raw[:i], raw[i + 1:])
        if c not in _SCHEME_REST or (i == 0 and c not in _LETTERS):
            return "", raw
    return "", raw


def _authority(authority: str) -> str | None:
    at = authority.rfind("@")
    problem = _host(authority[at + 1:])
    if problem or at < 0:
        return problem
    userinfo = authority[:at]
    if any(c not in _USERINFO for c in userinfo):
        return "invalid userinfo"
    return _escapes(userinfo, host=False)


def _host(host: str) -> str | None:
    if host.startswith("["):
        end = host.rfind("]")
        if end < 0:
            return "missing ']' in host"
        if not _optional_port(host[end + 1:]):
            return f"invalid port {host[end + 1:]!r} after host"
        literal, zone_mark, zone = host[1:end].partition("%25")
        problem = _escapes(literal, host=True) or (_escapes(zone, host=True, zone=True) if zone_mark else None)
        if problem:
            return problem
        try:
            ipaddress.IPv6Address(literal)
        except ValueError:
            return f"invalid IP-literal {host[:end + 1]!r}"
        return f"invalid IP-literal {host[:end + 1]!r}" if zone_mark and not zone else None
    if "[" in host:
        return f"invalid IP-literal {host!r}"
    colon = host.rfind(":")
    if colon >= 0 and not _optional_port(host[colon:]):
        return f"invalid port {host[colon:]!r} after host"
    return _escapes(host, host=True)


def _optional_port(port: str) -> bool:
    """Go's validOptionalPort: empty, or ':' and ASCII digits."""
    return not port or (port[0] == ":" and all("0" <= c <= "9" for c in port[1:]))


def _escapes(part: str, *, host: bool, zone: bool = False) -> str | None:
    """Go's unescape errors: a `%` without two hex digits; in a host an escaped ASCII byte (but
    `%25`) or an ASCII character a host may not hold; in a zone an escape of such a character."""
    i = 0
    while i < len(part):
        c = part[i]
        if c == "%":
            pair = part[i + 1:i + 3]
            if len(pair) < 2 or not set(pair) <= _HEX:
                return f"invalid URL escape {part[i:i + 3]!r}"
            value = int(pair, 16)
            if host and not zone and value < 0x80 and pair != "25":
                return f"invalid URL escape {part[i:i + 3]!r}"
            if zone and pair != "25" and value != 0x20 and not (value < 0x80 and chr(value) in _HOST_ASCII):
                return f"invalid URL escape {part[i:i + 3]!r}"
            i += 3
            continue
        if host and c < "\x80" and c not in _HOST_ASCII:
            return f"invalid character {c!r} in host name"
        i += 1
    return None
