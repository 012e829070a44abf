"""Mandatory access control: AppArmor and SELinux state from the kernel's own files.

AppArmor: /sys/module/apparmor/parameters/enabled (Y/N) and the loaded profiles with their
modes from /sys/kernel/security/apparmor/profiles (`name (enforce)`), as aa-status reads them.
SELinux: /sys/fs/selinux/enforce (1 enforcing, 0 permissive) when selinuxfs is mounted, and
the configured mode from /etc/selinux/config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from auditor._host.system import HostFileError, HostFiles

APPARMOR_ENABLED = "/sys/module/apparmor/parameters/enabled"
APPARMOR_PROFILES = "/sys/kernel/security/apparmor/profiles"
SELINUX_ENFORCE = "/sys/fs/selinux/enforce"
SELINUX_CONFIG = "/etc/selinux/config"
MAX_PROFILES_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Profile:
    name: str
    mode: str
    """enforce, complain, kill, unconfined, ... as the kernel reports it."""


@dataclass(frozen=True)
class MacState:
    apparmor_enabled: bool | None
    """None: the kernel has no AppArmor module (or it cannot be read)."""
    apparmor_profiles: tuple[Profile, ...] | None
    """None: the profile list cannot be read (securityfs not mounted, or not permitted)."""
    selinux_mode: Literal["enforcing", "permissive"] | None
    """enforcing, permissive or None (selinuxfs not mounted)."""
    selinux_configured: str | None
    """SELINUX= of /etc/selinux/config (enforcing, permissive, disabled) or None."""
    problems: tuple[str, ...] = ()

    @property
    def enforcing(self) -> bool:
        """A mandatory access control system is on and enforcing."""
        aa = bool(self.apparmor_enabled) and any(p.mode == "enforce" for p in self.apparmor_profiles or ())
        return aa or self.selinux_mode == "enforcing"


def parse_profiles(text: str) -> list[Profile]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.endswith(")") and " (" in line:
            name, _, mode = line[:-1].rpartition(" (")
            out.append(Profile(name[:256], mode[:32]))
        else:
            out.append(Profile(line[:256], "unknown"))
    return out


def parse_selinux_config(text: str) -> str | None:
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.strip() == "SELINUX":
            return value.strip().strip('"').lower()[:32] or None
    return None


def read_mac(files: HostFiles) -> MacState:
    problems = []
    try:
        flag = files.text_or_none(APPARMOR_ENABLED, 64)
    except HostFileError as exc:
        flag, problems = None, [f"{APPARMOR_ENABLED}: {exc.reason}"]
    enabled = None if flag is None else flag.strip().upper().startswith("Y")
    profiles: tuple[Profile, ...] | None = None
    try:
        text = files.text_or_none(APPARMOR_PROFILES, MAX_PROFILES_BYTES)
        if text is not None:
            profiles = tuple(sorted(parse_profiles(text), key=lambda p: p.name))
        elif enabled:
            problems.append(f"{APPARMOR_PROFILES}: not present (securityfs not mounted?)")
    except HostFileError as exc:
        problems.append(f"{APPARMOR_PROFILES}: {exc.reason}")
    try:
        enforce = files.text_or_none(SELINUX_ENFORCE, 64)
    except HostFileError as exc:
        enforce = None
        problems.append(f"{SELINUX_ENFORCE}: {exc.reason}")
    selinux: Literal["enforcing", "permissive"] | None = None if enforce is None else ("enforcing" if enforce.strip() == "1" else "permissive")
    try:
        configured = parse_selinux_config(files.text_or_none(SELINUX_CONFIG, 65536) or "")
    except HostFileError:
        configured = None
    return MacState(enabled, profiles, selinux, configured, tuple(problems))
