"""/etc/passwd, /etc/group and /etc/shadow entries as glibc's nss_files reads them (2.36,
Debian 12: nss/nss_readline.c, nss/nss_files/files-parse.c, pwd/fgetpwent_r.c,
grp/fgetgrent_r.c, shadow/sgetspent_r.c): what getpwent, getgrent and getspent, hence login,
sshd and PAM, see.

A line ends at a newline only (a carriage return stays in the last field). Leading white space
is skipped, then a line that is empty or starts with `#` is no entry. Fields are split at `:`;
missing trailing text fields are empty and the shell takes the rest of the line, colons
included. A number is strtoul's reading (leading white space, a sign; `-1` wraps) and must
fit 32 bits and be followed by `:` or the line's end; else the line is no entry. A `+` or `-`
line alone is NIS's (no entry here); `+name` and `-name` lines are entries as written.
"""

from __future__ import annotations

from dataclasses import dataclass

_SPACE = " \t\n\v\f\r"
_U32 = 0xFFFFFFFF


@dataclass(frozen=True)
class Passwd:
    name: str
    password: str
    uid: int
    gid: int
    gecos: str
    home: str
    shell: str


@dataclass(frozen=True)
class Group:
    name: str
    gid: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class Shadow:
    name: str
    password: str


def lines(text: str) -> list[str]:
    """Each line as __nss_readline and parse_line hand it over: leading white space moved out
    (memmove of the text up to a NUL, the NUL itself not moved, so a line without a newline
    keeps as many of its last characters), then cut at a NUL and at the newline; empty and
    comment lines left out."""
    out = []
    segments = text.split("\n")
    for at, segment in enumerate(segments):
        read = segment + "\n" if at < len(segments) - 1 else segment  # what fgets stores
        start = len(read) - len(read.lstrip(_SPACE))
        if start == len(read) or read[start] in "#\0":
            continue
        if start:
            moved = read[start:].split("\0", 1)[0]
            read = moved + read[len(moved):]
        out.append(read.split("\0", 1)[0].split("\n", 1)[0])
    return out


def _fields(line: str, count: int) -> list[str]:
    """STRING_FIELD `count` times then the rest: fewer fields are empty ones."""
    parts = line.split(":", count)
    return parts + [""] * (count + 1 - len(parts))


def _number(text: str) -> tuple[int, str] | None:
    """strtou32: (value, the text after it), or None where no digits start it or it does not
    fit 32 bits."""
    i = 0
    while i < len(text) and text[i] in _SPACE:
        i += 1
    sign = 1
    if i < len(text) and text[i] in "+-":
        sign = -1 if text[i] == "-" else 1
        i += 1
    j = i
    while j < len(text) and "0" <= text[j] <= "9":
        j += 1
    if j == i:
        return None
    value = int(text[i:j])
    if sign < 0 and value:
        value = (1 << 64) - value  # strtoul's wrap of a negative number
    if value > _U32:
        return None
    return value, text[j:]


def _int_field(text: str) -> tuple[int, str] | None:
    """INT_FIELD: a number, then `:` (consumed) or the end."""
    found = _number(text)
    if found is None:
        return None
    value, rest = found
    if rest.startswith(":"):
        return value, rest[1:]
    return (value, rest) if rest == "" else None


def _maybe_null(text: str, default: int = 0, last: bool = False) -> tuple[int, str] | None:
    """INT_FIELD_MAYBE_NULL: like _int_field, but no number gives `default`; the text may not
    have ended, and the last field of a line is followed by nothing."""
    if text == "":
        return None
    found = _number(text)
    value, rest = found if found is not None else (default, text)
    if rest.startswith(":") and not last:
        return value, rest[1:]
    return (value, rest) if rest == "" else None


def _head(line: str) -> tuple[str, str, str, bool] | None:
    """A line's name and second field, the text after them, and whether it is a NIS line (`+`
    or `-` first, whose numbers may be empty); None for a NIS line alone (no `:`)."""
    name, colon, rest = line.partition(":")
    nis = name[:1] in ("+", "-")
    if nis and not colon:
        return None
    second, _, rest = rest.partition(":")
    return name, second, rest, nis


def _id(text: str, nis: bool) -> tuple[int, str] | None:
    return _maybe_null(text) if nis else _int_field(text)


def passwd_entries(text: str) -> list[Passwd]:
    out = []
    for line in lines(text):
        if (head := _head(line)) is None:
            continue
        name, password, rest, nis = head
        if (uid := _id(rest, nis)) is None or (gid := _id(uid[1], nis)) is None:
            continue
        gecos, home, shell = _fields(gid[1], 2)
        out.append(Passwd(name, password, uid[0], gid[0], gecos, home, shell))
    return out


def group_entries(text: str) -> list[Group]:
    out = []
    for line in lines(text):
        if (head := _head(line)) is None or (found := _id(head[2], head[3])) is None:
            continue
        gid, members = found
        listed = tuple(filter(None, (m.lstrip(_SPACE) for m in members.split(","))))
        out.append(Group(head[0], gid, listed))
    return out


def shadow_entries(text: str) -> list[Shadow]:
    return [Shadow(head[0], head[1]) for line in lines(text)
            if (head := _head(line)) is not None and _shadow_numbers(head[2])]


def _shadow_numbers(rest: str) -> bool:
    """Whether sgetspent_r reads the numeric fields: last change, min, max, then nothing more
    (the old form) or warn, inactive, expire and an optional flag."""
    for _ in range(3):
        found = _maybe_null(rest, -1)
        if found is None:
            return False
        rest = found[1]
    rest = rest.lstrip(_SPACE)
    if rest == "":
        return True
    for _ in range(3):
        found = _maybe_null(rest, -1)
        if found is None:
            return False
        rest = found[1]
    return rest == "" or _maybe_null(rest, -1, last=True) is not None
