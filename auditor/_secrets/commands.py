"""Passwords given to particular programs as arguments, read as each program reads its own.

A shell's history or a script keeps a command line as typed; which word of it is a password
depends on the program: `docker login -p X` (and podman, skopeo, ... whose flags are pflag's:
`-p X`, `-pX`, `-p=X`), OpenLDAP's `ldapsearch -w X` (getopt: `-wX`, `-xw X`), mosquitto's
`mosquitto_pub -P X` (`-P` only as a word of its own; `-p` is the port), the InfluxDB 1.x
shell's `influx -password X` (Go's flag package: one dash or two, `=` or a blank) and
apache's `htpasswd -b FILE USER PASSWORD` (`-nb USER PASSWORD`: by position). The line is cut
into the shell's words first (quotes and backslashes as a POSIX shell reads them, a backslash
before a line's end joining two lines), then read with the program's own rules.

`PATTERN` finds a command of one of these programs and the rest of its line (up to a pipe,
`;` or `&`); `password_argument` returns the password's span and value, or None.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

ANCHOR = (rb"(docker|podman|nerdctl|buildah|skopeo|oras|registry|auth)[ \t]([^\r\n]{0,80}[ \t])?login[ \t]"
          rb"|ldap(search|modify|add|delete|modrdn|compare|whoami|passwd|exop)[ \t]"
          rb"|mosquitto_(pub|sub|rr)[ \t]|influx[ \t]|htpasswd[ \t]")
"""What the prefilter looks for (the syntax Hyperscan and Python share)."""

PATTERN = (
    rb"(?<![\w.-])(?P<tool>(?:docker|podman|nerdctl|buildah|skopeo|oras|helm[ \t]+registry|crane[ \t]+auth)"
    rb"(?:[ \t]+-[^\s|;&]+){0,3}[ \t]+login"
    rb"|ldap(?:search|modify|add|delete|modrdn|compare|whoami|passwd|exop)"
    rb"|mosquitto_(?:pub|sub|rr)|influx|htpasswd)"
    rb"(?P<rest>(?:[ \t]|\\\r?\n)(?:\\\r?\n|[^\r\n|;&]){1,600})"
)
"""A command of one of the programs read here and the rest of its line (lines a backslash
joins included): the group `tool` (the program, with `login` for the registry clients) and
`rest` (its arguments)."""

_ESCAPE = rb"\\(?:\r?\n|[\s\S])"
"""A backslash and what it escapes (a line's end, in a file written with CRLF too)."""
_SINGLE = rb"'[^']*'"
_DOUBLE = rb'"(?:[^"\\]|' + _ESCAPE + rb')*"'
_WORD = re.compile(rb"(?:" + _SINGLE + rb"|" + _DOUBLE + rb"|" + _ESCAPE + rb"|[^\s'\"\\])+")
"""A shell word: quoted strings, escaped characters and plain ones with no blank between them."""
_PARTS = re.compile(rb"(" + _SINGLE + rb")|(" + _DOUBLE + rb")|\\(\r?\n|[\s\S])|([^'\"\\]+)")
_ONE_STRING = re.compile(_SINGLE + rb"|" + _DOUBLE)

_JOINED = re.compile(rb"(?:\\\r?\n)+")
"""A backslash before a line's end, which the shell removes (joining the lines) before it cuts
the line into words: no word of its own."""

_QUOTED_ESCAPES = re.compile(rb'\\(\r?\n|[$`"\\])')
"""What a backslash escapes inside double quotes (a line's end it removes)."""


def _unescaped(escaped: re.Match[bytes]) -> bytes:
    char = escaped.group(1)
    return b"" if char.endswith(b"\n") else char


class Word:
    """A word of a command line: its value as the program gets it, and where it is written
    (where the value sits, inside the quotes around it if it is one quoted string)."""

    __slots__ = ("end", "start", "value")

    def __init__(self, raw: bytes, start: int) -> None:
        quoted = _ONE_STRING.fullmatch(raw) is not None
        self.value = _unquoted(raw)
        self.start, self.end = start + quoted, start + len(raw) - quoted


def _unquoted(raw: bytes) -> bytes:
    """A word's value: its quoted strings unquoted, its escaped characters unescaped."""
    out = bytearray()
    for part in _PARTS.finditer(raw):
        single, double, escaped, plain = part.groups()
        if single is not None:
            out += single[1:-1]
        elif double is not None:
            out += _QUOTED_ESCAPES.sub(_unescaped, double[1:-1])
        elif escaped is not None:
            out += b"" if escaped.endswith(b"\n") else escaped
        else:
            out += plain
    return bytes(out)


_BETWEEN = re.compile(rb"[ \t]*")
"""What stands between two words."""


def words(data: bytes, start: int, end: int) -> list[Word]:
    """The shell's words of `data[start:end]`, each with where it is written in `data`. The list
    ends before a quote left open (in `data[start:end]`): what follows is not known."""
    found = []
    at = start
    for m in _WORD.finditer(data, start, end):
        if _BETWEEN.fullmatch(data, at, m.start()) is None or data[m.end():m.end() + 1] in (b"'", b'"'):
            break  # a quote no word takes: one left open
        at = m.end()
        if _JOINED.fullmatch(m.group()) is None:
            found.append(Word(m.group(), m.start()))
    return found


Found = tuple[int, int, bytes]
"""A password's span in the buffer and its value."""


def _at(word: Word, cut: int) -> Found:
    """The part of `word` from its value's byte `cut` on (`-pX`: X), where the word is written as
    its value is (no quotes, no escapes before the cut); the whole word's span otherwise."""
    value = word.value[cut:]
    if word.end - word.start == len(word.value):
        return word.start + cut, word.end, value
    return word.start, word.end, value


def _pflag(args: Sequence[Word]) -> Found | None:
    """A registry client's `-p`/`--password` (spf13/pflag: `-p X`, `-pX`, `-p=X`, `--password X`,
    `--password=X`); options end at `--`. The username's value is skipped (`-u -p`)."""
    i = 0
    while i < len(args):
        v = args[i].value
        if v == b"--":
            return None
        if v in (b"-u", b"--username"):
            i += 2
            continue
        if v in (b"-p", b"--password"):
            return _at(args[i + 1], 0) if i + 1 < len(args) else None
        if v.startswith(b"--password="):
            return _at(args[i], len(b"--password="))
        if v.startswith(b"-p") and not v.startswith(b"--"):
            return _at(args[i], 3 if v.startswith(b"-p=") else 2)
        i += 1
    return None


_LDAP_NO_ARGUMENT = b"cIMnNQvVWxZ"
"""OpenLDAP's client options that take no argument (tools/common.c), for every tool."""
_LDAP_TOOLS: dict[bytes, tuple[bytes, bytes]] = {
    b"ldapsearch": (b"ALtu", b"w"),
    b"ldappasswd": (b"AS", b"was"),  # -a the old password, -s the new one
}
"""A tool's own options with no argument, and the options whose argument is a password."""


def _getopt(tool: bytes) -> Callable[[Sequence[Word]], Found | None]:
    own, secret = _LDAP_TOOLS.get(tool, (b"", b"w"))
    plain = _LDAP_NO_ARGUMENT + own

    def read(args: Sequence[Word]) -> Found | None:
        """The first password option (`-w X`, `-wX`, `-xwX`): POSIX getopt's clusters, in glibc's
        order (options after operands too); options end at `--`."""
        i = 0
        while i < len(args):
            v = args[i].value
            i += 1
            if v == b"--":
                return None
            if len(v) < 2 or v[0] != 0x2D:
                continue  # an operand
            for at in range(1, len(v)):
                letter = v[at:at + 1]
                if letter in plain:
                    continue
                if at + 1 < len(v):  # the option's argument: the rest of the word
                    if letter in secret:
                        return _at(args[i - 1], at + 1)
                elif letter in secret:  # the next word
                    return _at(args[i], 0) if i < len(args) else None
                else:
                    i += 1
                break
        return None

    return read


def _mosquitto(args: Sequence[Word]) -> Found | None:
    """mosquitto's clients' `-P X` or `--pw X` (client_shared.c: the option a word of its own,
    its value the next word; `-PX` is refused as an unknown option)."""
    for i, word in enumerate(args[:-1]):
        if word.value in (b"-P", b"--pw"):
            return _at(args[i + 1], 0)
    return None


def _go_flag(args: Sequence[Word]) -> Found | None:
    """The InfluxDB 1.x shell's `-password` (Go's flag package: `-password X`, `-password=X`,
    with one dash or two); flags end at `--`."""
    for i, word in enumerate(args):
        v = word.value
        if v == b"--":
            return None
        if v in (b"-password", b"--password"):
            return _at(args[i + 1], 0) if i + 1 < len(args) else None
        if v.startswith((b"-password=", b"--password=")):
            return _at(word, v.index(b"=") + 1)
    return None


def _htpasswd(args: Sequence[Word]) -> Found | None:
    """apache's htpasswd with `-b`: the password is the third operand (`-b FILE USER PASSWORD`),
    with `-n` the second (`-nb USER PASSWORD`). Options come first, as clusters of letters;
    `-C COST` and `-r ROUNDS` take a value, in the word or the next."""
    flags = b""
    i = 0
    while i < len(args) and len(args[i].value) > 1 and args[i].value.startswith(b"-"):
        cluster = args[i].value[1:]
        i += 1
        for at in range(len(cluster)):
            if cluster[at:at + 1] in b"Cr":
                if at + 1 == len(cluster):
                    i += 1
                break
            flags += cluster[at:at + 1]
    if b"b" not in flags:
        return None
    place = i + (1 if b"n" in flags else 2)
    return _at(args[place], 0) if place < len(args) else None


def _reader(tool: bytes) -> Callable[[Sequence[Word]], Found | None]:
    if tool.endswith(b"login"):
        return _pflag
    if tool.startswith(b"ldap"):
        return _getopt(tool)
    if tool.startswith(b"mosquitto_"):
        return _mosquitto
    return _go_flag if tool == b"influx" else _htpasswd


def password_argument(match: re.Match[bytes]) -> tuple[Found, str] | None:
    """The password a match of PATTERN gives its program, and the program (with `login` for a
    registry client), or None."""
    tool = b" ".join(match.group("tool").split())
    found = _reader(tool)(words(match.string, match.start("rest"), match.end("rest")))
    if found is None:
        return None
    program = tool.split()[0] + (b" login" if tool.endswith(b"login") else b"")
    return found, program.decode()
