"""systemd service units of the NATS server and the CIM services: their sandboxing options and,
where systemd-analyze can run on the host, its exposure score (0 safest .. 10 exposed).

Unit files are looked up as systemd does (the first of /etc/systemd/system, /run/systemd/system,
/usr/local/lib/systemd/system, /usr/lib/systemd/system, /lib/systemd/system holding the name)
with drop-ins (`NAME.d/*.conf` in any of them, in file-name order) applied after it. Of
ExecStart only the program is kept: arguments may carry secrets.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass

from auditor._host.system import CommandRunner, CommandUnavailable, HostFileError, HostFiles

UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
             "/usr/lib/systemd/system", "/lib/systemd/system")
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
TRUE = {"yes", "true", "on", "1"}


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
        return self.options.get("DynamicUser", "").lower() in TRUE

    @property
    def user(self) -> str:
        """The user the service runs as: its User=, `dynamic`, or root."""
        if self.dynamic_user:
            return "dynamic"
        return self.options.get("User") or "root"

    def hardening(self) -> dict[str, bool]:
        """Whether each sandboxing setting an audit asks for is in force."""
        o = {k: v.lower() for k, v in self.options.items()}
        dyn = self.dynamic_user

        def flag(key: str) -> bool:
            return o.get(key, "") in TRUE

        return {
            "NoNewPrivileges": flag("NoNewPrivileges") or dyn,
            "ProtectSystem": o.get("ProtectSystem", "") in ("strict", "full") or dyn,
            "ProtectHome": o.get("ProtectHome", "") in ("yes", "true", "read-only", "tmpfs") or dyn,
            "PrivateTmp": flag("PrivateTmp") or dyn,
            "PrivateDevices": flag("PrivateDevices"),
            "ProtectKernelTunables": flag("ProtectKernelTunables"),
            "ProtectKernelModules": flag("ProtectKernelModules"),
            "ProtectControlGroups": flag("ProtectControlGroups"),
            "RestrictSUIDSGID": flag("RestrictSUIDSGID") or dyn,
            "CapabilityBoundingSet": bool(o.get("CapabilityBoundingSet")),
            "SystemCallFilter": bool(o.get("SystemCallFilter")),
            "NonRootUser": self.user not in ("root", "0"),
        }


def parse_unit(text: str, options: dict[str, str] | None = None) -> tuple[dict[str, str], str | None]:
    """[Service] options of KEPT and the ExecStart program, on top of `options` (drop-ins)."""
    out = dict(options or {})
    program = None
    section = ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        while line.endswith("\\") and i + 1 < len(lines):
            i += 1
            line = line[:-1] + " " + lines[i].strip()
        i += 1
        if not line or line[0] in "#;":
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


def read_unit(files: HostFiles, runner: CommandRunner, name: str, path: str, *, exposure: bool) -> Unit:
    """Raises HostFileError when the unit file, or one of its drop-ins, cannot be read (what a
    drop-in sets, `User=root` or `NoNewPrivileges=no`, would be unknown: the unit is not judged
    on the rest)."""
    options, program = parse_unit(files.read_text(path, MAX_UNIT_BYTES))
    dropins = []
    for folder in UNIT_DIRS:
        d = f"{folder}/{name}.d"
        dropins += [f"{d}/{n}" for n in files.listdir(d) if n.endswith(".conf")]
    for drop in sorted(dropins, key=lambda p: p.rsplit("/", 1)[1]):
        try:
            options, more = parse_unit(files.read_text(drop, MAX_UNIT_BYTES), options)
        except HostFileError as exc:
            raise HostFileError(path, f"its drop-in {drop}: {exc.reason}") from None
        program = more or program
    enabled = any(files.exists(f"{folder}/{w}/{name}") for folder in UNIT_DIRS[:2]
                  for w in files.listdir(folder) if w.endswith(".wants"))
    score, problem = exposure_of(runner, name, path) if exposure else (None, None)
    return Unit(name, path, tuple(dropins), options, program, enabled, score, problem)
