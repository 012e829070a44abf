"""Net-SNMP's configuration files, read as snmpd and its tools read them.

snmpd.conf (and snmptrapd.conf, the files of snmpd.conf.d) keeps SNMPv3 users' passphrases
(`createUser [-e ENGINEID] USER SHA AUTHPASS [AES [PRIVPASS]]`) and SNMPv1/v2c communities,
which are passwords in all but name (`rocommunity COMMUNITY [SOURCE [OID]]`, `rwcommunity`,
the `6` forms, `com2sec [-Cn CONTEXT] NAME SOURCE COMMUNITY`, `authcommunity TYPES
COMMUNITY`, `trapcommunity`, `trapsink HOST COMMUNITY`); snmp.conf a client's defaults
(`defAuthPassphrase`, `defPrivPassphrase`, `defPassphrase`). A line is a token (matched
without regard to case, as Net-SNMP does) and its words: a word in double or single quotes
may hold blanks; a backslash escapes the next character (Net-SNMP's copy_nword).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

NAMES = frozenset({"snmpd.conf", "snmpd.local.conf", "snmptrapd.conf", "snmptrapd.local.conf", "snmp.conf",
                   "snmp.local.conf"})
"""The files read so by their name alone (and any `.conf` in a `snmpd.conf.d` folder: the
scanner's named_form)."""

DEFAULT_COMMUNITIES = frozenset({b"public", b"private"})
"""Every agent's defaults: a weak setting, not a leaked secret."""

_LINE = re.compile(rb"^[ \t]*(?P<token>[A-Za-z0-9]+)(?P<rest>[ \t][^\r\n]*)?\r?$", re.MULTILINE)
_WORD = re.compile(rb"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|[^ \t\"']\S*")
_ESCAPE = re.compile(rb"\\(.)")

_COMMUNITY_AT = {b"rocommunity": 0, b"rwcommunity": 0, b"rocommunity6": 0, b"rwcommunity6": 0,
                 b"trapcommunity": 0, b"com2sec": 2, b"com2sec6": 2, b"authcommunity": 1, b"trapsink": 1,
                 b"trap2sink": 1, b"informsink": 1}
"""Which word of a line is its community (after any `-Cn CONTEXT` options)."""
_CLIENT = frozenset({b"defauthpassphrase", b"defprivpassphrase", b"defpassphrase"})
_PRIVACY = frozenset({b"des", b"aes", b"aes-128", b"aes-192", b"aes-256", b"aes128", b"aes192", b"aes256"})


def secrets(data: bytes) -> Iterator[tuple[int, int, bytes, str]]:
    """Each passphrase and community the file sets (not `public` or `private`, every agent's
    default communities: a weak setting, not a leaked secret): its span (inside the quotes of a
    quoted word), its value, and what it is (`snmp createUser`, `snmp community`, ...)."""
    for line in _LINE.finditer(data):
        token = line.group("token").lower()
        if line.group("rest") is None:
            continue
        words = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(data, line.start("rest"), line.end("rest"))]
        if token == b"createuser":
            yield from _user(words)
        elif token in _COMMUNITY_AT:
            args = words
            while args and args[0][2].startswith(b"-") and len(args) > 1:
                args = args[2:]  # `-Cn CONTEXT`, `-V VIEW`: an option and its value
            at = _COMMUNITY_AT[token]
            if at < len(args) and _unquoted(args[at][2]).lower() not in DEFAULT_COMMUNITIES:
                yield _value(args[at], "snmp community")
        elif token in _CLIENT and words:
            yield _value(words[0], "snmp " + line.group("token").decode())


def _user(words: list[tuple[int, int, bytes]]) -> Iterator[tuple[int, int, bytes, str]]:
    """createUser's passphrases: `[-e ENGINEID] USER PROTOCOL AUTHPASS [PRIVPROTO [PRIVPASS]]`."""
    if words and words[0][2] == b"-e":
        words = words[2:]
    if len(words) >= 3:
        yield _value(words[2], "snmp createUser")
    if len(words) >= 5 and words[3][2].lower() in _PRIVACY:
        yield _value(words[4], "snmp createUser")


def _value(word: tuple[int, int, bytes], what: str) -> tuple[int, int, bytes, str]:
    start, end, raw = word
    if raw[:1] in (b'"', b"'") and len(raw) >= 2:
        start, end = start + 1, end - 1
    return start, end, _unquoted(raw), what


def _unquoted(raw: bytes) -> bytes:
    """A word's value: the quotes around it dropped, each backslash's character taken as it is."""
    if raw[:1] in (b'"', b"'") and len(raw) >= 2:
        raw = raw[1:-1]
    return _ESCAPE.sub(rb"\1", raw)
