"""The systemd unit model against systemd itself: `systemd-analyze security --offline=yes --root=DIR`.

Debian 12's systemd-analyze (systemd 252) reads a unit and its drop-ins from a folder as the
system manager would and says, per sandboxing setting, what the service gets (`--json=short`:
`set`, and for ProtectSystem, ProtectHome and the user a description of the mode). Generated
trees (a unit file, drop-ins in the folders systemd reads them from, under the unit's name, a
prefix, the type, some linked to /dev/null; settings in every boolean spelling, invalid and
empty values, continued lines with comments inside, other sections) must give auditor's
model the same answers.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from auditor._host.system import NO_COMMANDS, HostFiles
from auditor._host.units import Unit, read_unit

ANALYZE = shutil.which("systemd-analyze", path="/usr/bin:/bin")
BOOLEAN_FIELDS = ("NoNewPrivileges", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables", "ProtectKernelModules",
                  "ProtectControlGroups", "RestrictSUIDSGID")
PROTECT_SYSTEM = {"strict read-only": "strict", "very limited write": "full", "limited write": "yes",
                  "full access": "no"}
PROTECT_HOME = {"no access": "yes", "read-only access": "read-only", "fake empty": "tmpfs", "full access": "no"}
USERS = {"static non-root": "user", "transient non-root": "dynamic", "root user": "root"}  # "non-root user" first


def systemd_says(root: Path, name: str) -> dict[str, object] | None:
    """What systemd-analyze says the service gets; None if it refuses the unit."""
    assert ANALYZE is not None
    proc = subprocess.run([ANALYZE, "security", "--no-pager", "--offline=yes", f"--root={root}", "--json=short", name],
                          capture_output=True, text=True, timeout=60, check=False, env={"PATH": "/usr/bin:/bin"})
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    fields = {entry["json_field"]: entry for entry in json.loads(proc.stdout)}

    def mode(field: str, table: dict[str, str]) -> str:
        description = fields[field]["description"]
        return next(value for words, value in table.items() if words in description)

    return {**{f: fields[f]["set"] for f in BOOLEAN_FIELDS}, "ProtectSystem": mode("ProtectSystem", PROTECT_SYSTEM),
            "ProtectHome": mode("ProtectHome", PROTECT_HOME), "User": mode("UserOrDynamicUser", USERS)}


def model_says(unit: Unit) -> dict[str, object]:
    user = {"dynamic": "dynamic", "root": "root", "0": "root"}.get(unit.user, "user")
    return {**{f: unit.flag(f) for f in BOOLEAN_FIELDS}, "ProtectSystem": unit.protect_system,
            "ProtectHome": unit.protect_home, "User": user}


usable = ANALYZE is not None and subprocess.run(
    [ANALYZE, "--version"], capture_output=True, check=False).returncode == 0
needs_analyze = pytest.mark.skipif(not usable, reason="systemd-analyze (Debian systemd) is not installed")

BOOLEANS = ["yes", "no", "y", "n", "true", "false", "t", "f", "on", "off", "1", "0", "YES", "Off", "True", "maybe",
            "", '"yes"', "yes # on", " yes "]
SETTINGS = {
    **dict.fromkeys(BOOLEAN_FIELDS, BOOLEANS),
    "ProtectSystem": ["yes", "no", "full", "strict", "Strict", "true", "off", "", "bogus"],
    "ProtectHome": ["yes", "no", "read-only", "tmpfs", "Tmpfs", "true", "0", ""],
    "User": ["nats", "root", "0", ""],
    "DynamicUser": ["yes", "no", "true", "0"],  # an invalid DynamicUser= is fatal: systemd refuses the unit
}
NAME = "nats-server.service"
UNIT_DIRS = ["/etc/systemd/system", "/usr/lib/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system"]
DROPIN_DIRS = [*UNIT_DIRS, "/etc/systemd/system.control", "/run/systemd/system.control"]
DROPIN_NAMES = [f"{NAME}.d", "nats-.service.d", "service.d"]
FILE_NAMES = ["10-a.conf", "20-b.conf", "10-a.conf", "override.conf", "50-x.conf", "note.txt"]


def setting(rng: random.Random) -> list[str]:
    key = rng.choice(sorted(SETTINGS))
    line = rng.choice([f"{key}={{}}", f"{key} = {{}}", f"  {key}={{}}"]).format(rng.choice(SETTINGS[key]))
    shape = rng.randrange(12)
    if shape == 0:
        return [line + " \\", rng.choice(["# a comment", "; another", ""]), rng.choice(["", "PrivateTmp=yes"])]
    if shape == 1:
        return ["# " + line]
    if shape == 2:
        return [rng.choice(["[Install]", "[Unit]", "[service]", " [Service] "]), line, "[Service]"]
    return [line]


def tree(rng: random.Random, root: Path) -> str:
    """A generated unit and drop-ins under `root`; the unit file's path on the host."""
    path = f"{rng.choice(UNIT_DIRS)}/{NAME}"
    lines = ["[Unit]", "Description=generated", "[Service]", "ExecStart=/usr/bin/nats-server"]
    for _ in range(rng.randrange(6)):
        lines += setting(rng)
    (root / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    (root / path.lstrip("/")).write_text("\n".join(lines) + "\n")
    for _ in range(rng.randrange(5)):
        folder = root / rng.choice(DROPIN_DIRS).lstrip("/") / rng.choice(DROPIN_NAMES)
        folder.mkdir(parents=True, exist_ok=True)
        body = ["[Service]"] + [line for _ in range(rng.randint(1, 3)) for line in setting(rng)]
        drop = folder / rng.choice(FILE_NAMES)
        if rng.randrange(8) == 0 and not drop.exists():
            drop.symlink_to("/dev/null")  # masks the drop-ins of its name in lower folders
        elif not drop.is_symlink():
            drop.write_text("\n".join(body) + "\n")
    return path


@needs_analyze
def test_units_agree_with_systemd(tmp_path: Path) -> None:
    rng = random.Random(252)
    compared, refused, disagreements = 0, 0, []
    for n in range(120):
        root = tmp_path / f"t{n}"
        path = tree(rng, root)
        theirs = systemd_says(root, NAME)
        if theirs is None:
            refused += 1
            continue
        compared += 1
        ours = model_says(read_unit(HostFiles(root), NO_COMMANDS, NAME, path, exposure=False))
        if ours != theirs:
            files = "\n".join(f"--- {p.relative_to(root)}\n{p.read_text()}" for p in sorted(root.rglob("*")) if p.is_file())
            diff = {k: (ours[k], theirs[k]) for k in theirs if ours[k] != theirs[k]}
            disagreements.append(f"{diff} (auditor, systemd)\n{files}")
    assert not disagreements, f"{len(disagreements)} of {compared} disagree; the first:\n{disagreements[0]}"
    assert compared >= 100 and refused <= 20
