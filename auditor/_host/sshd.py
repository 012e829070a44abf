"""The OpenSSH server's configuration: sshd_config with its Include and Match blocks.

What sshd does with a configuration, reproduced for the settings an audit asks about:

* lines are split as sshd splits them (a keyword, an optional `=`, arguments with quotes and
  backslash escapes, `#` comments); keywords are case-insensitive;
* the first value of a setting wins; `AllowUsers`, `DenyUsers`, `AllowGroups`, `DenyGroups`
  and `Port` accumulate;
* `Include` reads files (relative paths under /etc/ssh, glob patterns, sorted) where the line
  stands, up to 16 levels deep; a `Match` inside an included file starts a block that ends
  with that file; an included file's Match blocks never apply when the Include stands in a
  block that does not apply;
* a `Match` block's settings override the global ones for the connections it matches (the
  first matching block's value wins); `Match All` matches every connection;
* algorithm lists take `+` (append), `-` (remove, patterns allowed) and `^` (prepend) against
  the compiled-in defaults.

Defaults and algorithm names are those of OpenSSH 9.2p1 as Debian 12 builds it; where the
host's own `sshd -T` can run it is preferred (see :func:`parse_sshd_t`), and the tests hold
this module to it on generated configurations. Anything sshd would refuse (an unknown keyword,
a bad value, a directive not allowed in a Match block, bad quoting) is reported in
:attr:`SshdConfig.errors`: sshd would not start with that file.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from auditor._host.system import HostFileError, HostFiles

SSHD_CONFIG = "/etc/ssh/sshd_config"
SSH_DIR = "/etc/ssh"
MAX_INCLUDE_DEPTH = 16
MAX_LINES = 100_000
"""Lines parsed over the main file and its includes; beyond this the rest is not read."""

# Algorithm names OpenSSH 9.2p1 knows (ssh -Q cipher|mac|kex|key-sig|sig) and its defaults.
ALL_CIPHERS = (
    "3des-cbc", "aes128-cbc", "aes192-cbc", "aes256-cbc", "aes128-ctr", "aes192-ctr", "aes256-ctr",
    "aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com",
)
ALL_MACS = (
    "hmac-sha1", "hmac-sha1-96", "hmac-sha2-256", "hmac-sha2-512", "hmac-md5", "hmac-md5-96",
    "umac-64@openssh.com", "umac-128@openssh.com", "hmac-sha1-etm@openssh.com", "hmac-sha1-96-etm@openssh.com",
    "hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com", "hmac-md5-etm@openssh.com",
    "hmac-md5-96-etm@openssh.com", "umac-64-etm@openssh.com", "umac-128-etm@openssh.com",
)
ALL_KEX = (
    "diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1", "diffie-hellman-group14-sha256",
    "diffie-hellman-group16-sha512", "diffie-hellman-group18-sha512", "diffie-hellman-group-exchange-sha1",
    "diffie-hellman-group-exchange-sha256", "ecdh-sha2-nistp256", "ecdh-sha2-nistp384", "ecdh-sha2-nistp521",
    "curve25519-sha256", "curve25519-sha256@libssh.org", "sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com",
)
ALL_KEYS = (
    "ssh-ed25519", "ssh-ed25519-cert-v01@openssh.com", "sk-ssh-ed25519@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384-cert-v01@openssh.com", "ecdsa-sha2-nistp521",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", "webauthn-sk-ecdsa-sha2-nistp256@openssh.com", "ssh-dss",
    "ssh-dss-cert-v01@openssh.com", "ssh-rsa", "ssh-rsa-cert-v01@openssh.com", "rsa-sha2-256",
    "rsa-sha2-256-cert-v01@openssh.com", "rsa-sha2-512", "rsa-sha2-512-cert-v01@openssh.com",
)
ALL_SIGS = tuple(k for k in ALL_KEYS if "-cert-" not in k)
DEFAULT_CIPHERS = ("chacha20-poly1305@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr",
                   "aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
DEFAULT_MACS = (
    "umac-64-etm@openssh.com", "umac-128-etm@openssh.com", "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com", "hmac-sha1-etm@openssh.com", "umac-64@openssh.com", "umac-128@openssh.com",
    "hmac-sha2-256", "hmac-sha2-512", "hmac-sha1",
)
DEFAULT_KEX = (
    "sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com", "curve25519-sha256",
    "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256", "ecdh-sha2-nistp384", "ecdh-sha2-nistp521",
    "diffie-hellman-group-exchange-sha256", "diffie-hellman-group16-sha512", "diffie-hellman-group18-sha512",
    "diffie-hellman-group14-sha256",
)
DEFAULT_KEY_ALGS = (
    "ssh-ed25519-cert-v01@openssh.com", "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com", "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com", "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "rsa-sha2-512-cert-v01@openssh.com", "rsa-sha2-256-cert-v01@openssh.com", "ssh-ed25519", "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
    "rsa-sha2-512", "rsa-sha2-256",
)
DEFAULT_CA_SIGS = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
                   "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com", "rsa-sha2-512", "rsa-sha2-256")
AUTH_METHODS = ("none", "publickey", "gssapi-with-mic", "password", "keyboard-interactive", "hostbased")
LOG_LEVELS = {"quiet": "QUIET", "fatal": "FATAL", "error": "ERROR", "info": "INFO", "verbose": "VERBOSE",
              "debug": "DEBUG", "debug1": "DEBUG", "debug2": "DEBUG2", "debug3": "DEBUG3"}

# Every keyword of Debian's sshd 9.2 (sshd_config(5) and Debian's GSSAPI patch) -> allowed in Match.
KEYWORDS: dict[str, bool] = {
    **dict.fromkeys((
        "usepam", "pamauthenticationviakbdint", "port", "hostkey", "hostdsakey", "hostkeyagent", "pidfile",
        "modulifile", "serverkeybits", "logingracetime", "keyregenerationinterval", "syslogfacility",
        "rhostsauthentication", "hostkeyalgorithms", "dsaauthentication", "kerberosorlocalpasswd",
        "kerberosticketcleanup", "kerberosgetafstoken", "kerberostgtpassing", "afstokenpassing",
        "gssapicleanupcredentials", "gssapistrictacceptorcheck", "gssapikeyexchange", "gssapistorecredentialsonrekey",
        "gssapikexalgorithms", "checkmail", "listenaddress", "addressfamily", "printmotd", "printlastlog",
        "ignoreuserknownhosts", "xauthlocation", "strictmodes", "permituserenvironment", "uselogin", "compression",
        "tcpkeepalive", "keepalive", "ciphers", "macs", "protocol", "subsystem", "maxstartups", "persourcemaxstartups",
        "persourcenetblocksize", "usedns", "verifyreversemapping", "reversemappingcheck", "useprivilegeseparation",
        "hostcertificate", "kexalgorithms", "versionaddendum", "fingerprinthash", "securitykeyprovider",
        "debianbanner",
    ), False),
    **dict.fromkeys((
        "permitrootlogin", "loglevel", "logverbose", "rhostsrsaauthentication", "hostbasedauthentication",
        "hostbasedusesnamefrompacketonly", "hostbasedacceptedalgorithms", "hostbasedacceptedkeytypes",
        "rsaauthentication", "pubkeyauthentication", "pubkeyacceptedalgorithms", "pubkeyacceptedkeytypes",
        "pubkeyauthoptions", "kerberosauthentication", "gssapiauthentication", "passwordauthentication",
        "kbdinteractiveauthentication", "challengeresponseauthentication", "skeyauthentication", "ignorerhosts",
        "permitemptypasswords", "rekeylimit", "allowtcpforwarding", "allowagentforwarding", "allowusers",
        "denyusers", "allowgroups", "denygroups", "gatewayports", "maxauthtries", "maxsessions", "banner",
        "clientaliveinterval", "clientalivecountmax", "authorizedkeysfile", "authorizedkeysfile2", "acceptenv",
        "setenv", "permittunnel", "permittty", "permituserrc", "match", "permitopen", "permitlisten",
        "forcecommand", "chrootdirectory", "revokedkeys", "trustedusercakeys", "authorizedprincipalsfile",
        "include", "ipqos", "authorizedkeyscommand", "authorizedkeyscommanduser", "authorizedprincipalscommand",
        "authorizedprincipalscommanduser", "authenticationmethods", "streamlocalbindmask",
        "streamlocalbindunlink", "allowstreamlocalforwarding", "disableforwarding", "exposeauthinfo", "rdomain",
        "casignaturealgorithms", "requiredrsasize", "channeltimeout", "unusedconnectiontimeout", "x11displayoffset",
        "x11forwarding", "x11uselocalhost",
    ), True),
}
ALIASES = {
    "challengeresponseauthentication": "kbdinteractiveauthentication",
    "skeyauthentication": "kbdinteractiveauthentication",
    "pubkeyacceptedkeytypes": "pubkeyacceptedalgorithms",
    "hostbasedacceptedkeytypes": "hostbasedacceptedalgorithms",
    "dsaauthentication": "pubkeyauthentication",
    "keepalive": "tcpkeepalive",
}
IGNORED = {"pamauthenticationviakbdint", "serverkeybits", "keyregenerationinterval", "rhostsauthentication",
           "rhostsrsaauthentication", "rsaauthentication", "checkmail", "uselogin", "verifyreversemapping",
           "reversemappingcheck", "useprivilegeseparation", "authorizedkeysfile2", "protocol"}

ONE_ARGUMENT = frozenset("""
addressfamily allowagentforwarding allowstreamlocalforwarding allowtcpforwarding authorizedkeyscommanduser
authorizedprincipalscommanduser authorizedprincipalsfile banner casignaturealgorithms chrootdirectory
ciphers clientalivecountmax clientaliveinterval compression debianbanner disableforwarding exposeauthinfo
fingerprinthash gatewayports gssapiauthentication gssapicleanupcredentials gssapikeyexchange
gssapistorecredentialsonrekey gssapistrictacceptorcheck hostbasedacceptedalgorithms hostbasedauthentication
hostbasedusesnamefrompacketonly hostcertificate hostdsakey hostkey hostkeyagent hostkeyalgorithms
ignorerhosts ignoreuserknownhosts kbdinteractiveauthentication kerberosauthentication kerberosorlocalpasswd
kerberosticketcleanup kexalgorithms logingracetime loglevel macs maxauthtries maxsessions maxstartups
modulifile passwordauthentication permitemptypasswords permitrootlogin permittty permittunnel
permituserenvironment permituserrc persourcemaxstartups persourcenetblocksize pidfile port printlastlog
printmotd pubkeyacceptedalgorithms pubkeyauthentication requiredrsasize revokedkeys securitykeyprovider
streamlocalbindmask streamlocalbindunlink strictmodes tcpkeepalive trustedusercakeys unusedconnectiontimeout
usedns usepam x11displayoffset x11forwarding x11uselocalhost xauthlocation
""".split())
"""Keywords (canonical names) that take one argument: sshd refuses a line with more ("keyword
Banner extra arguments at end of line"), whatever the keyword's value (PermitOpen and
PermitListen take a list, but `any` and `none` only alone). Found by giving
Debian 12's sshd -T (OpenSSH 9.2p1) each keyword with a value it accepts and one word more."""
FLAG = ("yes", "no")
CHOICES: dict[str, dict[str, str]] = {  # keyword -> accepted value (lower case) -> how sshd -T prints it
    "permitrootlogin": {"without-password": "without-password", "prohibit-password": "without-password",
                        "forced-commands-only": "forced-commands-only", "yes": "yes", "no": "no"},
    "allowtcpforwarding": {"yes": "yes", "all": "yes", "no": "no", "remote": "remote", "local": "local"},
    "gatewayports": {"clientspecified": "clientspecified", "yes": "yes", "no": "no"},
    "ignorerhosts": {"yes": "yes", "no": "no", "shosts-only": "shosts-only"},
}
FLAGS = ("passwordauthentication", "kbdinteractiveauthentication", "pubkeyauthentication", "permitemptypasswords",
         "hostbasedauthentication", "usepam", "x11forwarding", "allowagentforwarding", "strictmodes")
INTS = ("maxauthtries", "clientalivecountmax")
TIMES = ("logingracetime", "clientaliveinterval")
ALGORITHMS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {  # keyword -> (defaults, all, validator)
    "ciphers": (DEFAULT_CIPHERS, ALL_CIPHERS, "exact"),
    "macs": (DEFAULT_MACS, ALL_MACS, "exact"),
    "kexalgorithms": (DEFAULT_KEX, ALL_KEX, "exact"),
    "hostkeyalgorithms": (DEFAULT_KEY_ALGS, ALL_KEYS, "keys"),
    "pubkeyacceptedalgorithms": (DEFAULT_KEY_ALGS, ALL_KEYS, "keys"),
    "casignaturealgorithms": (DEFAULT_CA_SIGS, ALL_SIGS, "keys"),
}
LISTS = ("allowusers", "denyusers", "allowgroups", "denygroups")
DEFAULTS: dict[str, str | list[str]] = {
    "port": ["22"],
    "passwordauthentication": "yes", "kbdinteractiveauthentication": "yes", "pubkeyauthentication": "yes",
    "permitemptypasswords": "no", "hostbasedauthentication": "no", "usepam": "no", "x11forwarding": "no",
    "allowagentforwarding": "yes", "strictmodes": "yes", "permitrootlogin": "without-password",
    "allowtcpforwarding": "yes", "gatewayports": "no", "ignorerhosts": "yes", "maxauthtries": "6",
    "clientalivecountmax": "3", "logingracetime": "120", "clientaliveinterval": "0", "loglevel": "INFO",
    "authorizedkeysfile": ".ssh/authorized_keys .ssh/authorized_keys2", "authorizedkeyscommand": "none",
    "authenticationmethods": "any",
    **{k: ",".join(v[0]) for k, v in ALGORITHMS.items()},
    **{k: [] for k in LISTS},
}
MODELLED = tuple(DEFAULTS)
"""The settings this module computes (as `sshd -T` names and prints them)."""
GLOBAL_ONLY = frozenset(k for k in MODELLED if not KEYWORDS.get(k, True))
"""Modelled settings a Match block cannot change (sshd refuses them there)."""


class SshdSyntaxError(ValueError):
    """A line sshd would refuse."""


@dataclass(frozen=True)
class Line:
    keyword: str
    """Canonical lower-case keyword (aliases resolved)."""
    args: tuple[str, ...]
    file: str
    line: int
    raw: str = ""
    """The text after the keyword (for settings sshd takes verbatim)."""


@dataclass(frozen=True)
class MatchBlock:
    criteria: tuple[tuple[str, str], ...]
    """(attribute in lower case, its pattern), ANDed; ("all", "") for Match All."""
    file: str
    line: int
    parent: int | None = None
    """The block whose Include brought this block in (it applies only when that one does)."""

    def describe(self) -> str:
        return "Match " + " ".join(f"{a} {p}" if p else a for a, p in self.criteria)


@dataclass(frozen=True)
class Connection:
    """What a Match block is tested against (sshd -T -C user=,host=,addr=,laddr=,lport=)."""

    user: str | None = None
    host: str | None = None
    address: str | None = None
    laddress: str | None = None
    lport: int | None = None

    def spec(self) -> str:
        parts = [f"{k}={v}" for k, v in (("user", self.user), ("host", self.host), ("addr", self.address),
                                           ("laddr", self.laddress), ("lport", self.lport)) if v is not None]
        return ",".join(parts)


@dataclass(frozen=True)
class SshdConfig:
    """A parsed sshd_config: its lines in order, each in the global context or a Match block."""

    path: str
    files: tuple[str, ...]
    lines: tuple[tuple[int | None, Line], ...]
    blocks: tuple[MatchBlock, ...]
    errors: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    unread: tuple[str, ...] = ()
    """What of the configuration was not read (an included file that could not be, the lines past
    MAX_LINES): what it sets is unknown."""
    group_of: Callable[[str], Sequence[str]] | None = field(default=None, compare=False, repr=False)

    @property
    def valid(self) -> bool:
        return not self.errors

    def block_applies(self, index: int, conn: Connection | None, *, loading: bool = False) -> bool:
        block = self.blocks[index]
        if block.parent is not None and not self.block_applies(block.parent, conn, loading=loading):
            return False
        return _criteria_match(block.criteria, None if loading else (conn or Connection()), self.group_of)

    def effective(self, conn: Connection | None = None) -> dict[str, str | list[str]]:
        """The modelled settings as `sshd -T [-C conn]` prints them (conn None: no -C)."""
        values: dict[str, list[Line]] = {}
        for ctx, line in self.lines:
            if line.keyword not in DEFAULTS:
                continue
            if ctx is not None and not self.block_applies(ctx, None, loading=True):
                continue
            values.setdefault(line.keyword, []).append(line)
        result = _settle(values)
        override: dict[str, list[Line]] = {}
        for ctx, line in self.lines:
            if ctx is None or line.keyword not in DEFAULTS or line.keyword in GLOBAL_ONLY:
                continue
            if self.block_applies(ctx, conn):
                override.setdefault(line.keyword, []).append(line)
        result.update(_settle(override))
        return {k: result.get(k, DEFAULTS[k]) for k in MODELLED}

    def block_settings(self) -> list[tuple[MatchBlock, dict[str, str | list[str]]]]:
        """Each Match block with the modelled settings its own lines set (first value wins)."""
        out = []
        for index, block in enumerate(self.blocks):
            mine: dict[str, list[Line]] = {}
            for ctx, line in self.lines:
                if ctx == index and line.keyword in DEFAULTS and line.keyword not in GLOBAL_ONLY:
                    mine.setdefault(line.keyword, []).append(line)
            out.append((block, _settle(mine)))
        return out


# --- splitting lines as sshd does ---------------------------------------------------------

WHITESPACE = " \t\r\n"


def _strdelim(s: str | None, split_equals: bool = True) -> tuple[str | None, str | None]:
    """Next token of a configuration line and the rest (sshd's strdelim)."""
    if s is None:
        return None, None
    delims = WHITESPACE + '"' + ("=" if split_equals else "")
    idx = next((i for i, c in enumerate(s) if c in delims), -1)
    if idx < 0:
        return s, None
    if s[idx] == '"':
        t = s[:idx] + s[idx + 1:]
        end = t.find('"', idx)
        if end < 0:
            return None, None
        return t[:end], t[end + 1:].lstrip(WHITESPACE)
    token, rest = s[:idx], s[idx + 1:].lstrip(WHITESPACE)
    if split_equals and rest.startswith("=") and s[idx] != "=":
        rest = rest[1:].lstrip(WHITESPACE)
    return token, rest


def split_args(s: str) -> list[str]:
    """Arguments of a line (sshd's argv_split with comments): quotes, escapes; raises on bad quotes."""
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        if s[i] in " \t":
            i += 1
            continue
        if s[i] == "#":
            break
        quote = ""
        arg: list[str] = []
        while i < n:
            c = s[i]
            if c == "\\" and i + 1 < n and (s[i + 1] in "'\"\\" or (not quote and s[i + 1] == " ")):
                arg.append(s[i + 1])
                i += 2
                continue
            if not quote and c in " \t":
                break
            if not quote and c in "\"'":
                quote = c
            elif quote and c == quote:
                quote = ""
            else:
                arg.append(c)
            i += 1
        if quote:
            raise SshdSyntaxError("invalid quotes")
        out.append("".join(arg))
    return out


def _strip_line(text: str) -> str:
    text = text.lstrip(" \t\r")
    return text.rstrip(WHITESPACE + "\f")


# --- values -------------------------------------------------------------------------------


def convtime(text: str) -> int | None:
    """sshd's time format (`90`, `2m`, `1h30m`) in seconds; None when invalid."""
    if not text:
        return None
    total, i, n = 0, 0, len(text)
    limit = 2**31 - 1
    while i < n:
        j = i
        if j < n and text[j] in "+-":
            j += 1
        while j < n and text[j].isdigit() and text[j].isascii():
            j += 1
        digits = text[i:j].lstrip(" \t")
        if not any(c.isdigit() for c in digits):
            return None
        secs = int(digits)
        if secs < 0 or secs >= limit:
            return None
        unit = text[j] if j < n else ""
        mult = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}.get(unit.lower())
        if mult is None:
            return None
        if secs > limit // mult:
            return None
        total += secs * mult
        if total > limit:
            return None
        i = j + (1 if unit else 0)
    return total


def _atoi(text: str) -> int | None:
    """An int as sshd's atoi_err accepts it (decimal, 0..INT_MAX)."""
    t = text.strip(" \t")
    if t.startswith("+"):
        t = t[1:]
    if not t or not t.isascii() or not t.isdigit():
        return None
    value = int(t)
    return value if value <= 2**31 - 1 else None


def a2port(text: str) -> int | None:
    if text.isascii() and text.isdigit() and len(text) <= 6 and int(text) <= 65535:
        return int(text)
    try:
        return socket.getservbyname(text, "tcp")
    except OSError:
        return None


def _pattern_match(s: str, pattern: str) -> bool:
    """OpenSSH's match_pattern: `*` and `?` wildcards, nothing else."""
    si = pi = 0
    star, mark = -1, 0
    while si < len(s):
        if pi < len(pattern) and (pattern[pi] == "?" or pattern[pi] == s[si]):
            si += 1
            pi += 1
        elif pi < len(pattern) and pattern[pi] == "*":
            star, mark = pi, si
            pi += 1
        elif star >= 0:
            pi = star + 1
            mark += 1
            si = mark
        else:
            return False
    while pi < len(pattern) and pattern[pi] == "*":
        pi += 1
    return pi == len(pattern)


def pattern_list_match(s: str, patterns: str, *, lower: bool = False) -> int:
    """OpenSSH's match_pattern_list: 1 positive, 0 none, -1 a negated pattern matched."""
    got = 0
    for sub in patterns.split(","):
        neg = sub.startswith("!")
        if neg:
            sub = sub[1:]
        if lower:
            sub = sub.lower()
        if len(sub) >= 1023:
            return 0
        if _pattern_match(s, sub):
            if neg:
                return -1
            got = 1
    return got


def _numeric_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        info = socket.getaddrinfo(text, None, flags=socket.AI_NUMERICHOST)
    except (OSError, UnicodeError, ValueError):
        return None
    try:
        return ipaddress.ip_address(str(info[0][4][0]).split("%", 1)[0])
    except (ValueError, IndexError):
        return None


def _cidr(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network | None, int]:
    """(network, 0) for a CIDR; (None, -1) when not an address; (None, -2) when inconsistent."""
    if len(text) >= 64:
        return None, -1
    addr_text, slash, mask_text = text.partition("/")
    if slash and (not mask_text.isascii() or not mask_text.isdigit() or int(mask_text) > 128):  # strtoul's digits
        return None, -1
    addr = _numeric_address(addr_text)
    if addr is None:
        return None, -1
    masklen = int(mask_text) if slash else addr.max_prefixlen
    if masklen > addr.max_prefixlen:
        return None, -2
    try:
        return ipaddress.ip_network(f"{addr}/{masklen}", strict=True), 0
    except ValueError:
        return None, -2


def address_list_match(address: str | None, patterns: str) -> int:
    """OpenSSH's addr_match_list: 1 match, 0 none, -1 negated match, -2 a malformed entry."""
    addr = _numeric_address(address) if address is not None else None
    if address is not None and addr is None:
        return 0
    ret = 0
    for entry in patterns.split(","):
        neg = entry.startswith("!")
        cp = entry[1:] if neg else entry
        if not cp:
            return -2
        net, code = _cidr(cp)
        if code == -2:
            return -2
        hit = False
        if net is not None:
            hit = addr is not None and addr.version == net.version and addr in net
        elif address is not None:
            hit = _pattern_match(address, cp)
        if hit:
            if neg:
                return -1
            ret = 1
    return ret


CRITERIA = ("all", "user", "group", "host", "localaddress", "localport", "address", "rdomain")


def _check_match(args: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """The criteria of a Match line, or SshdSyntaxError as sshd's 'Bad Match condition'."""
    out: list[tuple[str, str]] = []
    items = list(args)
    i = 0
    while i < len(items):
        attrib = items[i].lower()
        if items[i].startswith("#"):
            break
        if attrib == "all":
            if out or (i + 1 < len(items) and not items[i + 1].startswith("#")):
                raise SshdSyntaxError("'all' cannot be combined with other Match attributes")
            return (("all", ""),)
        if i + 1 >= len(items) or not items[i + 1] or items[i + 1].startswith("#"):
            raise SshdSyntaxError(f"missing Match criteria for {items[i]}")
        arg = items[i + 1]
        if attrib not in CRITERIA:
            raise SshdSyntaxError(f"unsupported Match attribute {items[i]}")
        if attrib in ("address", "localaddress") and address_list_match(None, arg) != 0:
            raise SshdSyntaxError(f"invalid Match {attrib} argument '{arg}'")
        if attrib == "localport" and a2port(arg) is None:
            raise SshdSyntaxError(f"invalid LocalPort '{arg}' on Match line")
        out.append((attrib, arg))
        i += 2
    if not out:
        raise SshdSyntaxError("no Match criteria")
    return tuple(out)


def _criteria_match(criteria: Sequence[tuple[str, str]], conn: Connection | None,
                    group_of: Callable[[str], Sequence[str]] | None) -> bool:
    """Whether a Match line applies (conn None: while sshd loads, when only `all` applies)."""
    result = True
    for attrib, arg in criteria:
        if attrib == "all":
            return True
        if conn is None:
            result = False
            continue
        if attrib in ("user", "group"):
            if conn.user is None:
                result = False
            elif attrib == "user":
                result = result and pattern_list_match(conn.user, arg) == 1
            else:
                groups = list(group_of(conn.user)) if group_of else []
                result = result and any(pattern_list_match(g, arg) == 1 for g in groups) and \
                    not any(pattern_list_match(g, arg) == -1 for g in groups)
        elif attrib == "host":
            result = result and conn.host is not None and pattern_list_match(conn.host.lower(), arg, lower=True) == 1
        elif attrib in ("address", "localaddress"):
            value = conn.address if attrib == "address" else conn.laddress
            result = result and value is not None and address_list_match(value, arg) == 1
        elif attrib == "localport":
            result = result and conn.lport is not None and conn.lport == a2port(arg)
        else:  # rdomain: never given
            result = False
    return result


def _check_value(keyword: str, args: Sequence[str]) -> None:
    """Raise SshdSyntaxError where sshd refuses a modelled keyword's value."""
    if keyword == "port":
        if a2port(args[0]) in (None, 0):
            raise SshdSyntaxError("badly formatted port number")
        return
    if keyword in FLAGS or keyword in CHOICES:
        choices = CHOICES.get(keyword, {v: v for v in FLAG})
        if not args or args[0].lower() not in choices:
            raise SshdSyntaxError(f'unsupported option "{args[0] if args else ""}"')
    elif keyword in INTS:
        if not args or _atoi(args[0]) is None:
            raise SshdSyntaxError(f"{keyword} integer value invalid")
    elif keyword in TIMES:
        if not args or convtime(args[0]) is None:
            raise SshdSyntaxError("invalid time value")
    elif keyword == "loglevel":
        if not args or args[0].lower() not in LOG_LEVELS:
            raise SshdSyntaxError(f"unsupported log level '{args[0] if args else ''}'")
    elif keyword in ALGORITHMS:
        _defaults, known, how = ALGORITHMS[keyword]
        arg = args[0] if args else ""
        if not arg:
            raise SshdSyntaxError(f"{keyword} missing argument")
        if arg[0] != "-" and not _names_valid(arg[1:] if arg[0] in "+^" else arg, known, how == "keys"):
            raise SshdSyntaxError(f"bad {keyword} '{arg}'")
        if assemble(arg, _defaults, known) is None:
            raise SshdSyntaxError(f"{keyword} '{arg}' leaves no algorithm")
    elif keyword == "authenticationmethods":
        if not args:
            raise SshdSyntaxError("no AuthenticationMethods specified")
        if "any" in args and (len(args) > 1):
            raise SshdSyntaxError('"any" must appear alone in AuthenticationMethods')
        for arg in args:
            if arg == "any":
                continue
            for method in arg.split(","):
                if method.split(":", 1)[0] not in AUTH_METHODS:
                    raise SshdSyntaxError(f'unknown authentication method "{method}"')
    elif keyword == "authorizedkeysfile":
        if any(a == "" for a in args):
            raise SshdSyntaxError("empty argument")
    elif keyword in LISTS:
        for arg in args:
            if not arg:
                raise SshdSyntaxError(f"invalid {keyword} pattern")
            if "@" in arg and keyword in ("allowusers", "denyusers"):
                host = arg.split("@", 1)[1]
                if address_list_match(None, host) == -2:
                    raise SshdSyntaxError(f'invalid {keyword} pattern: "{arg}"')


def _names_valid(names: str, known: Sequence[str], wildcards: bool) -> bool:
    if not names:
        return False
    for name in names.split(","):
        if not name:
            break
        if name in known:
            continue
        if wildcards and any(pattern_list_match(k, name) != 0 for k in known):
            continue
        return False
    return True


def assemble(value: str, defaults: Sequence[str], known: Sequence[str]) -> list[str] | None:
    """An algorithm list after +/-/^ against the defaults and patterns (None: sshd refuses it)."""

    def cat(first: list[str], more: Iterable[str]) -> list[str]:
        out = list(first)
        for name in more:
            if not name:
                break
            if name not in out:
                out.append(name)
        return out

    if not value:
        return list(defaults)
    if value[0] == "-":
        return [d for d in defaults if pattern_list_match(d, value[1:]) != 1]
    if value[0] == "+":
        names = cat(list(defaults), value[1:].split(",")) if value[1:] else list(defaults)
    elif value[0] == "^":
        names = cat(value[1:].split(","), defaults) if value[1:] else list(defaults)
    else:
        names = value.split(",")
    result: list[str] = []
    for pattern in names:
        if pattern.startswith("!"):
            return None
        result = cat(result, [k for k in known if _pattern_match(k, pattern)])
    return result or None


def _settle(values: Mapping[str, list[Line]]) -> dict[str, str | list[str]]:
    """The value each keyword takes from its lines in order (first wins, lists accumulate)."""
    out: dict[str, str | list[str]] = {}
    for keyword, lines in values.items():
        first = lines[0]
        if keyword in LISTS:
            out[keyword] = [a for ln in lines for a in ln.args]
        elif keyword == "port":
            out[keyword] = [str(a2port(ln.args[0])) for ln in lines]
        elif keyword in FLAGS:
            out[keyword] = first.args[0].lower()
        elif keyword in CHOICES:
            out[keyword] = CHOICES[keyword][first.args[0].lower()]
        elif keyword in INTS:
            out[keyword] = str(_atoi(first.args[0]))
        elif keyword in TIMES:
            out[keyword] = str(convtime(first.args[0]))
        elif keyword == "loglevel":
            out[keyword] = LOG_LEVELS[first.args[0].lower()]
        elif keyword in ALGORITHMS:
            defaults, known, _how = ALGORITHMS[keyword]
            assembled = assemble(first.args[0], defaults, known)
            out[keyword] = ",".join(assembled) if assembled else ""
        elif keyword in ("authorizedkeysfile", "authenticationmethods"):
            out[keyword] = " ".join(first.args)
        elif keyword == "authorizedkeyscommand":
            out[keyword] = first.raw
    return out


# --- reading a configuration --------------------------------------------------------------


class _Reader:
    def __init__(self, files: HostFiles) -> None:
        self.files = files
        self.read: list[str] = []
        self.lines: list[tuple[int | None, Line]] = []
        self.blocks: list[MatchBlock] = []
        self.errors: list[str] = []
        self.notes: list[str] = []
        self.unread: list[str] = []
        self.count = 0
        self.include_parent: int | None = None
        """The block the file being read was included from (parent of its Match blocks)."""

    def error(self, where: str, message: str) -> None:
        if len(self.errors) < 100:
            self.errors.append(f"{where}: {message}")

    def parse_file(self, path: str, text: str, ctx: int | None, depth: int) -> None:
        """Lines of one file; `ctx` is the block (None: global) the file starts in."""
        self.read.append(path)
        loading_active = ctx is None or self._loading_active(ctx)
        for number, raw_line in enumerate(text.split("\n"), 1):
            self.count += 1
            if self.count > MAX_LINES:
                self.notes.append(f"{path}: more than {MAX_LINES} lines; the rest was not read")
                self.unread.append(f"{path}: the lines past the first {MAX_LINES} of the configuration")
                return
            where = f"{path}:{number}"
            line = _strip_line(raw_line)
            if "\0" in line:
                line = line.split("\0", 1)[0]
            keyword, rest = _strdelim(line)
            if keyword == "":
                keyword, rest = _strdelim(rest)
            if not keyword or keyword.startswith("#"):
                continue
            if not rest:
                self.error(where, f'no argument after keyword "{keyword}"')
                continue
            name = keyword.lower()
            try:
                args = split_args(rest)
            except SshdSyntaxError as exc:
                self.error(where, str(exc))
                continue
            if name not in KEYWORDS:
                self.error(where, f"Bad configuration option: {keyword}")
                continue
            name = ALIASES.get(name, name)
            if not loading_active and not KEYWORDS.get(name, True):
                self.error(where, f"Directive '{keyword}' is not allowed within a Match block")
                continue
            if name == "match":
                try:
                    criteria = _check_match(args)
                except SshdSyntaxError as exc:
                    self.error(where, f"Bad Match condition ({exc})")
                    continue
                self.blocks.append(MatchBlock(criteria, path, number, parent=self.include_parent))
                ctx = len(self.blocks) - 1
                loading_active = self._loading_active(ctx)
                continue
            if name == "include":
                self.include(args, where, ctx, depth)
                continue
            if name in IGNORED:
                continue
            if name in DEFAULTS:
                try:
                    _check_value(name, args)
                except SshdSyntaxError as exc:
                    self.error(where, str(exc))
                    continue
            if len(args) > 1 and (name in ONE_ARGUMENT or (name in ("permitopen", "permitlisten")
                                                           and args[0] in ("any", "none"))):
                self.error(where, f"keyword {keyword} extra arguments at end of line")
                continue
            raw = rest.lstrip(WHITESPACE + "=")
            self.lines.append((ctx, Line(name, tuple(args), path, number, raw)))

    def _loading_active(self, ctx: int) -> bool:
        block = self.blocks[ctx]
        if block.parent is not None and not self._loading_active(block.parent):
            return False
        return _criteria_match(block.criteria, None, None)

    def include(self, args: Sequence[str], where: str, ctx: int | None, depth: int) -> None:
        if not args:
            self.error(where, "Include missing argument")
            return
        if depth + 1 > MAX_INCLUDE_DEPTH:
            self.error(where, "too many recursive configuration includes")
            return
        for arg in args:
            if not arg:
                self.error(where, "Include empty argument")
                return
            pattern = arg if arg.startswith(("/", "~")) else f"{SSH_DIR}/{arg}"
            matches = self.files.glob(pattern) if pattern.startswith("/") else []
            if not matches:
                self.notes.append(f"{where}: Include {arg} matches no file")
            for path in matches:
                try:
                    text = self.files.read_text(path)
                except HostFileError as exc:
                    self.error(where, f"cannot read included {path}: {exc.reason}")
                    self.unread.append(f"{path}: {exc.reason}")
                    continue
                saved = self.include_parent
                self.include_parent = ctx
                try:
                    self.parse_file(path, text, ctx, depth + 1)
                finally:
                    self.include_parent = saved


def parse_sshd_config(files: HostFiles, path: str = SSHD_CONFIG, *, text: str | None = None,
                      group_of: Callable[[str], Sequence[str]] | None = None) -> SshdConfig:
    """Parse sshd_config (and what it includes) from the host's files; never raises for content.

    Raises HostFileError when the main file cannot be read.
    """
    reader = _Reader(files)
    if text is None:
        text = files.read_text(path)
    reader.parse_file(path, text, None, 0)
    return SshdConfig(path, tuple(reader.read), tuple(reader.lines), tuple(reader.blocks),
                      tuple(reader.errors), tuple(reader.notes), tuple(reader.unread), group_of)


def parse_sshd_t(output: str) -> dict[str, str | list[str]]:
    """`sshd -T` output as settings (repeated keywords such as port or allowusers as lists)."""
    repeated = {"port", "listenaddress", "hostkey", "acceptenv", "subsystem", "setenv", "logverbose",
                "channeltimeout", *LISTS}
    out: dict[str, str | list[str]] = {}
    for line in output.splitlines():
        key, _, value = line.strip().partition(" ")
        if not key:
            continue
        key = key.lower()
        if key in repeated:
            existing = out.setdefault(key, [])
            if isinstance(existing, list):
                existing.append(value)
        else:
            out.setdefault(key, value)
    for key in LISTS:
        out.setdefault(key, [])
    return out
