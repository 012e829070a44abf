"""Accounts of a host: /etc/passwd, /etc/group, /etc/login.defs, password state from /etc/shadow.

Only whether a password is locked, empty or set is taken from /etc/shadow (when it is
readable); the hash itself is never kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from auditor._host.system import HostFileError, HostFiles

PasswordState = Literal["locked", "empty", "set", "unknown"]
NO_LOGIN_SHELLS = ("nologin", "false", "sync", "shutdown", "halt")
"""Shell names that give no interactive login (by the program's file name)."""


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    home: str
    shell: str
    system: bool
    """A system account: UID below UID_MIN of login.defs (1000 by default), or root."""
    login_shell: bool
    password: PasswordState = "unknown"  # noqa: S105 - a state (locked, empty, set), never a password
    """locked, empty, set or unknown (shadow unreadable)."""
    groups: tuple[str, ...] = ()


def _login_defs(files: HostFiles) -> dict[str, str]:
    try:
        text = files.text_or_none("/etc/login.defs") or ""
    except HostFileError:
        text = ""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and not parts[0].startswith("#"):
            out[parts[0]] = parts[1]
    return out


def is_login_shell(shell: str) -> bool:
    if not shell:
        return True  # an empty shell field means /bin/sh
    return shell.rstrip("/").rsplit("/", 1)[-1] not in NO_LOGIN_SHELLS


def parse_passwd(text: str, uid_min: int = 1000) -> list[Account]:
    out = []
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) != 7 or not fields[0] or fields[0].startswith(("#", "+", "-")):
            continue
        try:
            uid, gid = int(fields[2]), int(fields[3])
        except ValueError:
            continue
        if uid < 0 or gid < 0:
            continue
        out.append(Account(fields[0][:64], uid, gid, fields[5][:512], fields[6][:512], uid < uid_min,
                           is_login_shell(fields[6])))
    return out


def parse_shadow_state(text: str) -> dict[str, PasswordState]:
    """User -> locked / empty / set (never the hash)."""
    out: dict[str, PasswordState] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) < 2 or not fields[0]:
            continue
        pw = fields[1]
        out[fields[0]] = "empty" if pw == "" else "locked" if pw.startswith(("!", "*")) else "set"
    return out


def parse_groups(text: str) -> tuple[dict[int, str], dict[str, list[str]]]:
    """(gid -> name, user -> supplementary groups)."""
    names: dict[int, str] = {}
    members: dict[str, list[str]] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) != 4 or not fields[0]:
            continue
        try:
            names.setdefault(int(fields[2]), fields[0])
        except ValueError:
            continue
        for user in filter(None, fields[3].split(",")):
            members.setdefault(user, []).append(fields[0])
    return names, members


def read_accounts(files: HostFiles) -> list[Account]:
    """The host's accounts; raises HostFileError when /etc/passwd cannot be read."""
    import dataclasses

    defs = _login_defs(files)
    try:
        uid_min = int(defs.get("UID_MIN", "1000"))
    except ValueError:
        uid_min = 1000
    accounts = parse_passwd(files.read_text("/etc/passwd"), uid_min)
    try:
        shadow = parse_shadow_state(files.text_or_none("/etc/shadow") or "")
    except HostFileError:
        shadow = {}
    try:
        names, members = parse_groups(files.text_or_none("/etc/group") or "")
    except HostFileError:
        names, members = {}, {}
    out = []
    for a in accounts:
        primary = [names[a.gid]] if a.gid in names else []
        groups = tuple(dict.fromkeys([*primary, *members.get(a.name, [])]))
        out.append(dataclasses.replace(a, password=shadow.get(a.name, "unknown"), groups=groups,
                                       system=a.system or a.uid == 0))
    return out
