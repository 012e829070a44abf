"""Listening sockets from /proc/net/{tcp,tcp6,udp,udp6} (the kernel's own tables).

Addresses in these files are hexadecimal words in the machine's byte order; recorded trees
are read as little-endian (x86-64, arm64). A TCP socket listens in state 0A; a UDP socket is
counted when it is bound and not connected (remote address zero). On a live host the owning
program is found through /proc/PID/fd (socket inodes), as far as the auditor may look.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from auditor._host.system import HostFileError, HostFiles
from pki.fsutil import ReadError, read_regular

Proto = Literal["tcp", "udp"]
IpVersion = Literal[4, 6]
TABLES: tuple[tuple[Proto, IpVersion, str], ...] = (("tcp", 4, "/proc/net/tcp"), ("tcp", 6, "/proc/net/tcp6"),
          ("udp", 4, "/proc/net/udp"), ("udp", 6, "/proc/net/udp6"))
MAX_TABLE_BYTES = 32 * 1024 * 1024
MAX_PIDS = 8192
MAX_FDS = 8192


@dataclass(frozen=True)
class Listener:
    proto: Proto
    version: IpVersion
    address: str
    port: int
    uid: int
    inode: int
    program: str | None = None

    def _ip(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        addr = ipaddress.ip_address(self.address)
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            return addr.ipv4_mapped
        return addr

    @property
    def loopback(self) -> bool:
        return self._ip().is_loopback

    @property
    def wildcard(self) -> bool:
        return self._ip().is_unspecified

    def name(self) -> str:
        host = f"[{self.address}]" if self.version == 6 else self.address
        return f"{self.proto}/{host}:{self.port}"


def _address(hexa: str, version: int) -> str:
    raw = bytes.fromhex(hexa)
    if len(raw) != (4 if version == 4 else 16):
        raise ValueError("bad address length")
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    addr = ipaddress.ip_address(words)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return f"::ffff:{addr.ipv4_mapped}"
    return str(addr)


def parse_table(text: str, proto: Proto, version: IpVersion) -> list[Listener]:
    """Listening sockets of one /proc/net table; malformed lines are skipped."""
    out = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        local, remote, state = fields[1], fields[2], fields[3]
        try:
            addr_hex, port_hex = local.split(":")
            rem_hex = remote.split(":")[0]
            listening = state == "0A" if proto == "tcp" else (state == "07" and int(rem_hex, 16) == 0)
            if not listening:
                continue
            out.append(Listener(proto, version, _address(addr_hex, version), int(port_hex, 16),
                                int(fields[7]), int(fields[9])))
        except ValueError:
            continue
    return out


def _programs(root: Path, inodes: set[int]) -> dict[int, str]:
    """Socket inode -> program name, from /proc/PID/fd links (what this process may read)."""
    found: dict[int, str] = {}
    proc = root / "proc"
    try:
        pids = [p for p in os.listdir(proc) if p.isdigit()][:MAX_PIDS]
    except OSError:
        return found
    for pid in pids:
        try:
            fds = os.listdir(proc / pid / "fd")[:MAX_FDS]
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(proc / pid / "fd" / fd)
            except OSError:
                continue
            if link.startswith("socket:[") and link.endswith("]"):
                inode = int(link[8:-1]) if link[8:-1].isdigit() else -1
                if inode in inodes and inode not in found:
                    try:
                        comm = read_regular(proc / pid / "comm", 4096)
                        found[inode] = comm.decode("utf-8", "replace").strip()[:64]
                    except ReadError:
                        found[inode] = f"pid {pid}"
        if len(found) == len(inodes):
            break
    return found


def read_listeners(files: HostFiles, *, live: bool) -> tuple[list[Listener], list[str], list[str]]:
    """(listening sockets, tables that do not exist, tables that exist but could not be read:
    then the sockets are only some of them)."""
    import dataclasses

    out: list[Listener] = []
    missing: list[str] = []
    unread: list[str] = []
    for proto, version, path in TABLES:
        try:
            out += parse_table(files.read_text(path, MAX_TABLE_BYTES), proto, version)
        except HostFileError as exc:
            (missing if exc.missing else unread).append(f"{path}: {exc.reason}")
    if live and out:
        names = _programs(files.root, {s.inode for s in out if s.inode})
        out = [dataclasses.replace(s, program=names.get(s.inode)) for s in out]
    unique = {(s.proto, s.version, s.address, s.port): s for s in out}
    return sorted(unique.values(), key=lambda s: (s.proto, s.port, s.version, s.address)), missing, unread
