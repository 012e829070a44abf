"""systemd service units of the NATS server and the CIM services: their sandboxing options and,
where systemd-analyze can run on the host, its exposure score (0 safest .. 10 exposed).

Read as systemd 252 (Debian 12) reads them, held to `systemd-analyze security --offline=yes
--root=DIR` by tests/auditor/_host/test_units_oracle.py:

- the unit file is the first of UNIT_DIRS holding the name; its drop-ins are the `*.conf` files
  of `NAME.d/`, of its prefixes' (`nats-.service.d/` for `nats-server.service`), of its
  template's (`x@.service.d/`) and of `service.d/`, in DROPIN_DIRS; of drop-ins of one file
  name only the first is read (a higher directory's, a more specific name's; `service.d/`
  last; one linked to /dev/null masks the others and sets nothing), and they apply in
  file-name order, after the unit file;
- lines: a `#` or `;` line is a comment, even inside a continued line; a line ending in an
  unescaped backslash goes on with the next; keys and section names are case-sensitive;
- a value systemd cannot parse is ignored (the earlier value stays): a boolean is
  1/yes/y/true/t/on or 0/no/n/false/f/off in any case, not empty and not quoted;
  ProtectSystem also takes `full` and `strict`, ProtectHome `read-only` and `tmpfs`;
  `User=` empty resets it; DynamicUser=yes implies NoNewPrivileges, PrivateTmp,
  RestrictSUIDSGID, ProtectSystem=strict and, where it is off, ProtectHome=read-only.

Of ExecStart only the program is kept: arguments may carry secrets.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from auditor._host.system import CommandRunner, CommandUnavailable, HostFileError, HostFiles

UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
             "/usr/lib/systemd/system", "/lib/systemd/system")
DROPIN_DIRS = ("/etc/systemd/system.control", "/run/systemd/system.control", "/etc/systemd/system",
               "/etc/systemd/system.attached", "/run/systemd/system", "/run/systemd/system.attached",
               "/usr/local/lib/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")
"""Where the system manager looks for drop-ins, the first the highest priority (`systemctl
set-property` writes to system.control)."""
MAX_UNIT_BYTES = 256 * 1024
KEPT = (
    "User", "Group", "DynamicUser", "NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp",
    "PrivateDevices", "PrivateNetwork", "PrivateUsers", "ProtectKernelTunables", "ProtectKernelModules",
    "ProtectKernelLogs", "ProtectControlGroups", "ProtectClock", "ProtectHostname", "RestrictNamespaces",
    "RestrictRealtime", "RestrictSUIDSGID", "RestrictAddressFamilies", "MemoryDenyWriteExecute",
    "LockPersonality", "SystemCallFilter", "SystemCallArchitectures", "CapabilityBoundingSet",
    "AmbientCapabilities", "UMask", "AppArmorProfile", "SELinuxContext", "ReadWritePaths", "IPAddressDeny",
    "RemoveIPC",
)
TRUE = frozenset({"1", "yes", "y", "true", "t", "on"})
FALSE = frozenset({"0", "no", "n", "false", "f", "off"})
BOOLEANS = frozenset({
    "NoNewPrivileges", "DynamicUser", "PrivateTmp", "PrivateDevices", "PrivateNetwork", "PrivateUsers",
    "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "ProtectClock",
    "ProtectHostname", "RestrictRealtime", "RestrictSUIDSGID", "MemoryDenyWriteExecute", "LockPersonality",
    "RemoveIPC",
})
FATAL = frozenset({"DynamicUser"})
"""Settings whose value systemd must parse: it stops reading the file at one it cannot."""
MODES = {"ProtectSystem": ("full", "strict"), "ProtectHome": ("read-only", "tmpfs")}
"""The words these settings take besides a boolean (true is `yes`), as written: `Strict` is no mode."""
IMPLIED_BY_DYNAMIC_USER = ("NoNewPrivileges", "PrivateTmp", "RestrictSUIDSGID")


def systemd_boolean(value: str) -> bool | None:
    """systemd's parse_boolean; None for anything else (an empty value too)."""
    word = value.lower()
    return True if word in TRUE else False if word in FALSE else None


def _mode(key: str, value: str) -> str:
    """ProtectSystem's or ProtectHome's mode for `value`: `no`, `yes` or one of MODES[key]."""
    flag = systemd_boolean(value)
    return value if value in MODES[key] else "yes" if flag else "no"


def _accepted(key: str, value: str) -> bool:
    """Whether systemd takes `value` for `key` (else it logs the line and ignores it)."""
    if key in BOOLEANS:
        return systemd_boolean(value) is not None
    if key in MODES:
        return systemd_boolean(value) is not None or value in MODES[key]
    return True


@dataclass(frozen=True)
class Unit:
    name: str
    path: str
    dropins: tuple[str, ...]
    options: dict[str, str]
    """The [Service] options of KEPT as systemd ends up with them (last assignment wins)."""
    program: str | None
    enabled: bool
    exposure: float | None
    exposure_problem: str | None = None

    @property
    def dynamic_user(self) -> bool:
        return systemd_boolean(self.options.get("DynamicUser", "")) is True

    def flag(self, key: str) -> bool:
        """A boolean setting as the service gets it (DynamicUser implies some)."""
        return systemd_boolean(self.options.get(key, "")) is True or (
            key in IMPLIED_BY_DYNAMIC_USER and self.dynamic_user)

    @property
    def protect_system(self) -> str:
        """`no`, `yes`, `full` or `strict`, as the service gets it (DynamicUser makes it strict)."""
        return "strict" if self.dynamic_user else _mode("ProtectSystem", self.options.get("ProtectSystem", ""))

    @property
    def protect_home(self) -> str:
        """`no`, `yes`, `read-only` or `tmpfs`, as the service gets it (DynamicUser: read-only at least)."""
        mode = _mode("ProtectHome", self.options.get("ProtectHome", ""))
        return "read-only" if mode == "no" and self.dynamic_user else mode

    @property
    def user(self) -> str:
        """The user the service runs as: its User=, `dynamic`, or root (User=root or 0 wins over
        DynamicUser=yes, as systemd runs it)."""
        named = self.options.get("User", "")
        return "dynamic" if self.dynamic_user and named not in ("root", "0") else named or "root"

    def hardening(self) -> dict[str, bool]:
        """Whether each sandboxing setting an audit asks for is in force."""
        flag = self.flag
        return {
            "NoNewPrivileges": flag("NoNewPrivileges"),
            "ProtectSystem": self.protect_system in ("strict", "full"),
            "ProtectHome": self.protect_home != "no",
            "PrivateTmp": flag("PrivateTmp"),
            "PrivateDevices": flag("PrivateDevices"),
            "ProtectKernelTunables": flag("ProtectKernelTunables"),
            "ProtectKernelModules": flag("ProtectKernelModules"),
            "ProtectControlGroups": flag("ProtectControlGroups"),
            "RestrictSUIDSGID": flag("RestrictSUIDSGID"),
            "CapabilityBoundingSet": bool(self.options.get("CapabilityBoundingSet")),
            "SystemCallFilter": bool(self.options.get("SystemCallFilter")),
            "NonRootUser": self.user not in ("root", "0"),
        }


_LINE_END = re.compile(r"\r\n|\r|\n")


def unit_lines(text: str) -> Iterator[str]:
    """The logical lines of a unit file as systemd's config parser reads them: comment lines
    dropped (inside a continued line too), a line ending in an unescaped backslash joined to
    the next with the backslash made a space, each stripped."""
    continued = ""
    for raw in _LINE_END.split(text.removeprefix("\ufeff")):
        if raw.lstrip(" \t")[:1] in ("#", ";"):
            continue
        line = continued + raw
        escaped = False
        for c in line:
            escaped = not escaped and c == "\\"
        if escaped:
            continued = line[:-1] + " "
            continue
        continued = ""
        yield line.strip(" \t\r\n")
    if continued:
        yield continued.strip(" \t\r\n")


def parse_unit(text: str, options: dict[str, str] | None = None) -> tuple[dict[str, str], str | None]:
    """[Service] options of KEPT and the ExecStart program, on top of `options` (drop-ins)."""
    out = dict(options or {})
    program = None
    section = ""
    for line in unit_lines(text):
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        if section != "Service" or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if key == "ExecStart" and value:
            word = value.lstrip("@-:+!").split()
            program = word[0][:256] if word else None
        elif key in KEPT:
            if not _accepted(key, value):
                if key in FATAL:
                    break  # systemd stops reading the file here (in the unit file: the unit is refused)
                continue  # systemd logs it and keeps the earlier value
            if not value:
                out.pop(key, None)
            elif key in ("CapabilityBoundingSet", "SystemCallFilter", "RestrictAddressFamilies",
                         "ReadWritePaths") and key in out:
                out[key] = f"{out[key]} {value}"[:1024]
            else:
                out[key] = value[:1024]
    return out, program


EXPOSURE = re.compile(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)")


def exposure_of(runner: CommandRunner, name: str, path: str) -> tuple[float | None, str | None]:
    """systemd-analyze's exposure score: of the loaded unit, else of the unit file (offline)."""
    if runner.which("systemd-analyze") is None:
        return None, None
    problem = None
    for argv in (["systemd-analyze", "security", "--no-pager", name],
                 ["systemd-analyze", "security", "--no-pager", "--offline=yes", path]):
        try:
            res = runner.run(argv, timeout=30)
        except CommandUnavailable as exc:
            return None, str(exc)
        m = EXPOSURE.search(res.stdout)
        if m:
            return float(m.group(1)), None
        problem = res.problem()
    return None, problem


def find_units(files: HostFiles, patterns: Sequence[str]) -> list[tuple[str, str]]:
    """(name, host path) of unit files matching the patterns, the first location winning."""
    found: dict[str, str] = {}
    for folder in UNIT_DIRS:
        for name in files.listdir(folder):
            if name in found or not any(fnmatch.fnmatchcase(name, p) for p in patterns):
                continue
            if "@" in name and name.split("@", 1)[1].startswith("."):
                continue  # a template without an instance
            path = f"{folder}/{name}"
            if files.is_dir(path):
                continue
            found[name] = path
    return sorted(found.items())


def dropin_names(name: str) -> list[str]:
    """The drop-in folders' names for unit `name`, the most specific first: its own, its
    template's, its prefixes' (longest first), the unit type's."""
    stem, dot, kind = name.rpartition(".")
    names = [name]
    if "@" in stem and not stem.endswith("@"):
        names.append(f"{stem.split('@', 1)[0]}@.{kind}")
    base = stem.split("@", 1)[0]
    names += [f"{base[:i + 1]}.{kind}" for i in range(len(base) - 1, -1, -1) if base[i] == "-" and i > 0]
    return [*names, kind] if dot else names


def dropin_paths(files: HostFiles, name: str) -> list[str]:
    """The drop-ins systemd applies to unit `name`, in the order it applies them: of each file
    name the first found (folders by priority, then names by specificity; the type's folder
    last of all), sorted by file name."""
    names = dropin_names(name)
    found: dict[str, str] = {}
    for specific in (names[:-1], names[-1:]):
        for folder in DROPIN_DIRS:
            for unit_name in specific:
                d = f"{folder}/{unit_name}.d"
                for entry in files.listdir(d):
                    if entry.endswith(".conf") and entry not in found:
                        found[entry] = f"{d}/{entry}"
    return [found[entry] for entry in sorted(found)]


def read_unit(files: HostFiles, runner: CommandRunner, name: str, path: str, *, exposure: bool) -> Unit:
    """Raises HostFileError when the unit file, or one of its drop-ins, cannot be read (what a
    drop-in sets, `User=root` or `NoNewPrivileges=no`, would be unknown: the unit is not judged
    on the rest)."""
    options, program = parse_unit(files.read_text(path, MAX_UNIT_BYTES))
    dropins = dropin_paths(files, name)
    for drop in dropins:
        if files.links_to_null(drop):
            continue  # masked: it hides the drop-ins of its name below it, and sets nothing
        try:
            options, more = parse_unit(files.read_text(drop, MAX_UNIT_BYTES), options)
        except HostFileError as exc:
            raise HostFileError(path, f"its drop-in {drop}: {exc.reason}") from None
        program = more or program
    enabled = any(files.exists(f"{folder}/{w}/{name}") for folder in UNIT_DIRS[:2]
                  for w in files.listdir(folder) if w.endswith(".wants"))
    score, problem = exposure_of(runner, name, path) if exposure else (None, None)
    return Unit(name, path, tuple(dropins), options, program, enabled, score, problem)
