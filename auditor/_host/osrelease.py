"""The operating system: /etc/os-release (os-release(5)) and the running kernel."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from auditor._host.system import HostFileError, HostFiles


@dataclass(frozen=True)
class OsRelease:
    id: str | None
    name: str | None
    version_id: str | None
    pretty_name: str | None
    build_id: str | None
    kernel: str | None

    @property
    def nixos(self) -> bool:
        return self.id == "nixos"

    @property
    def release(self) -> str | None:
        """The release number (`24.05`), from VERSION_ID."""
        if self.version_id and re.fullmatch(r"\d+(\.\d+)*", self.version_id):
            return self.version_id
        return None


def parse_os_release(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        if not re.fullmatch(r"[A-Z0-9_]+", key):
            continue
        try:
            words = shlex.split(value)
        except ValueError:
            continue
        out[key] = (words[0] if words else "")[:256]
    return out


def read_os(files: HostFiles) -> OsRelease | None:
    """None when neither /etc/os-release nor /usr/lib/os-release exists."""
    text = None
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            text = files.text_or_none(path, 65536)
        except HostFileError:
            text = None
        if text is not None:
            break
    if text is None:
        return None
    fields = parse_os_release(text)
    try:
        kernel = (files.text_or_none("/proc/sys/kernel/osrelease", 256) or "").strip() or None
    except HostFileError:
        kernel = None
    return OsRelease(fields.get("ID"), fields.get("NAME"), fields.get("VERSION_ID"), fields.get("PRETTY_NAME"),
                     fields.get("BUILD_ID"), kernel)
