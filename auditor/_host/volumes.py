"""Whether data folders (the NATS JetStream store, CIM state) live on encrypted block devices.

The folder's mount is the longest mount point above it in /proc/self/mounts; its device is
followed through device-mapper (/sys/block/dm-N/dm/uuid, slaves: LVM on LUKS counts) to a
dm-crypt mapping (uuid `CRYPT-...`), or matched by name against /etc/crypttab when /sys does
not say (a recorded tree).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from auditor._host.system import HostFileError, HostFiles

MEMORY_FS = {"tmpfs", "ramfs"}


@dataclass(frozen=True)
class Mount:
    source: str
    point: str
    fstype: str


@dataclass(frozen=True)
class Volume:
    path: str
    exists: bool
    mount_point: str | None
    source: str | None
    fstype: str | None
    encrypted: bool | None
    """True on dm-crypt; False on a plain block device; None when it cannot be told."""
    how: str


def _unescape(text: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def parse_mounts(text: str) -> list[Mount]:
    out = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            out.append(Mount(_unescape(fields[0])[:512], _unescape(fields[1])[:4096], fields[2][:64]))
    return out


def parse_crypttab(text: str) -> set[str]:
    names = set()
    for line in text.splitlines():
        fields = line.split()
        if fields and not fields[0].startswith("#"):
            names.add(fields[0])
    return names


def mount_of(mounts: list[Mount], path: str) -> Mount | None:
    best = None
    for m in mounts:
        point = m.point.rstrip("/") or "/"
        if path == point or path.startswith(point.rstrip("/") + "/") or point == "/":
            if best is None or len(point) >= len(best.point.rstrip("/") or "/"):
                best = m
    return best


def _read(files: HostFiles, path: str) -> str | None:
    try:
        text = files.text_or_none(path, 4096)
    except HostFileError:
        return None
    return None if text is None else text.strip()


def _dm_crypt(files: HostFiles, dev: str, depth: int = 0) -> bool | None:
    """Whether block device `dev` (dm-N, sda1) is dm-crypt or sits on it; None: /sys says nothing."""
    if depth > 8:
        return None
    uuid = _read(files, f"/sys/block/{dev}/dm/uuid")
    if uuid is None:
        return None if not files.is_dir(f"/sys/class/block/{dev}") else False
    if uuid.startswith("CRYPT-"):
        return True
    slaves = files.listdir(f"/sys/block/{dev}/slaves")
    results = [_dm_crypt(files, s, depth + 1) for s in slaves]
    if any(r is True for r in results):
        return True
    return False if results and all(r is False for r in results) else None


def _dm_by_name(files: HostFiles, name: str) -> str | None:
    for dev in files.listdir("/sys/block"):
        if dev.startswith("dm-") and _read(files, f"/sys/block/{dev}/dm/name") == name:
            return dev
    return None


def judge(files: HostFiles, path: str, mounts: list[Mount], crypttab: set[str]) -> Volume:
    exists = files.is_dir(path) or files.exists(path)
    m = mount_of(mounts, path)
    if m is None:
        return Volume(path, exists, None, None, None, None, "no mount table")
    if m.fstype in MEMORY_FS:
        return Volume(path, exists, m.point, m.source, m.fstype, None, f"{m.fstype}: held in memory, not on disk")
    dev = None
    if m.source.startswith("/dev/mapper/"):
        name = m.source[len("/dev/mapper/"):]
        dev = _dm_by_name(files, name)
        if dev is None and name in crypttab:
            return Volume(path, exists, m.point, m.source, m.fstype, True, f"{name} is a dm-crypt mapping in /etc/crypttab")
    elif m.source.startswith("/dev/"):
        dev = m.source[len("/dev/"):]
    if dev is None:
        return Volume(path, exists, m.point, m.source, m.fstype, None, f"{m.fstype} on {m.source}: not a block device")
    crypt = _dm_crypt(files, dev)
    if crypt is True:
        return Volume(path, exists, m.point, m.source, m.fstype, True, f"{dev} is (or sits on) a dm-crypt mapping")
    if crypt is False:
        return Volume(path, exists, m.point, m.source, m.fstype, False, f"{dev} is not on dm-crypt")
    return Volume(path, exists, m.point, m.source, m.fstype, None, f"{dev}: /sys/block does not describe it")


def read_volumes(files: HostFiles, paths: list[str]) -> tuple[list[Volume], str | None]:
    """Volumes of the data paths, and a problem when no mount table could be read."""
    mounts: list[Mount] = []
    problem = None
    for table in ("/proc/self/mounts", "/proc/mounts", "/etc/mtab"):
        try:
            text = files.text_or_none(table, 4 * 1024 * 1024)
        except HostFileError as exc:
            problem = f"{table}: {exc.reason}"
            continue
        if text is not None:
            mounts, problem = parse_mounts(text), None
            break
    else:
        problem = problem or "no mount table (/proc/self/mounts)"
    try:
        crypttab = parse_crypttab(files.text_or_none("/etc/crypttab", 65536) or "")
    except HostFileError:
        crypttab = set()
    return [judge(files, p, mounts, crypttab) for p in paths], problem
