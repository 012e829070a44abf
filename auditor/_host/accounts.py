"""Accounts of a host: /etc/passwd, /etc/group, /etc/login.defs, password state from /etc/shadow.

Only whether a password is locked, empty or set is taken from /etc/shadow (when it is
readable); the hash itself is never kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from auditor._host import nssfiles
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
    """Every entry getpwent would give (auditor._host.nssfiles), duplicates included: a second
    line of one name is still an account of its UID."""
    return [Account(e.name[:64], e.uid, e.gid, e.home[:512], e.shell[:512], e.uid < uid_min, is_login_shell(e.shell))
            for e in nssfiles.passwd_entries(text)]


def parse_shadow_state(text: str) -> dict[str, PasswordState]:
    """User -> locked / empty / set (never the hash), of the first entry of each name as
    getspnam finds it; a line glibc cannot read gives none."""
    out: dict[str, PasswordState] = {}
    for entry in nssfiles.shadow_entries(text):
        pw = entry.password
        out.setdefault(entry.name, "empty" if pw == "" else "locked" if pw.startswith(("!", "*")) else "set")
    return out


def parse_groups(text: str) -> tuple[dict[int, str], dict[str, list[str]]]:
    """(gid -> name, user -> supplementary groups), as getgrent reads /etc/group."""
    names: dict[int, str] = {}
    members: dict[str, list[str]] = {}
    for group in nssfiles.group_entries(text):
        names.setdefault(group.gid, group.name)
        for user in group.members:
            members.setdefault(user, []).append(group.name)
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
