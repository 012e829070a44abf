"""The host package's seam over SSH: another machine's files (SFTP) and commands (exec).

:class:`RemoteFiles` is :class:`~auditor._host.system.HostFiles` for the machine at the other end
of an :class:`~auditor._remote.ssh.SshTransport`: the same host paths, read through the SSH
connection's SFTP channel. Only regular files are opened (the type is checked before the open,
so a FIFO never blocks the server), every read is bounded, and under a root other than `/`
symbolic links are resolved inside the root exactly as HostFiles does. :class:`SshRunner` is
the :class:`~auditor._host.system.CommandRunner` there: programs found on the remote machine's
search path (NixOS's and the sbin folders included, as LocalRunner does), argument lists quoted
for its shell, C locale, a time limit and bounded output.

With both, the `host` collector reads a machine over SSH as it reads this one: nothing but
sshd (with its SFTP subsystem, on by default in Debian and NixOS) and the programs it asks
(`sshd -T`, `nft`, `iptables-save`, `systemd-analyze`, ...) is needed there.
"""

from __future__ import annotations

import stat
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from auditor._host.system import (
    MAX_FILE_BYTES,
    SEARCH_PATH,
    CommandResult,
    CommandUnavailable,
    Host,
    HostFileError,
    HostFiles,
)
from auditor._remote.ssh import SshTransport
from auditor.errors import CollectionError

SFTP_TIMEOUT_SECONDS = 30.0
"""One file operation's time limit."""
READ_CHUNK = 65536

T = TypeVar("T")


class RemoteFiles(HostFiles):
    """The files of the machine an SSH transport reaches, under `root` there."""

    def __init__(self, transport: SshTransport, root: Path) -> None:
        super().__init__(root)
        self.transport = transport
        self.sftp: Any = transport.sftp()

    def _do(self, path: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run one SFTP call; its failure is a HostFileError about host path `path`."""
        import asyncssh

        async def go() -> T:
            return await call()

        try:
            return self.transport.call(go(), SFTP_TIMEOUT_SECONDS)
        except (asyncssh.SFTPNoSuchFile, asyncssh.SFTPNoSuchPath):
            raise HostFileError(path, "does not exist", missing=True) from None
        except asyncssh.SFTPPermissionDenied:
            raise HostFileError(path, "Permission denied") from None
        except asyncssh.SFTPError as exc:
            raise HostFileError(path, str(exc.reason) or type(exc).__name__) from None
        except (OSError, asyncssh.Error, TimeoutError, CollectionError) as exc:
            raise HostFileError(path, f"the SSH connection failed: {exc}") from None

    # _resolve's primitives: under a root other than /, links are resolved inside it by HostFiles

    def _lstat_mode(self, real: Path) -> int:
        try:
            attrs = self._do(str(real), lambda: self.sftp.lstat(str(real)))
        except HostFileError as exc:
            if exc.missing:
                raise FileNotFoundError(str(real)) from None
            raise OSError(exc.reason) from None
        return int(attrs.permissions or 0)

    def _readlink(self, real: Path) -> str:
        try:
            return str(self._do(str(real), lambda: self.sftp.readlink(str(real))))
        except HostFileError as exc:
            raise OSError(exc.reason) from None

    def _resolve(self, path: str) -> Path:
        if self.root == Path("/"):  # the remote kernel resolves links as HostFiles would under /
            if not path.startswith("/"):
                raise HostFileError(path, "not an absolute path")
            return Path(path)
        return super()._resolve(path)

    def _mode(self, path: str) -> int:
        """The st_mode of host path `path`, links followed."""
        real = str(self._resolve(path))
        return int(self._do(path, lambda: self.sftp.stat(real)).permissions or 0)

    def read_bytes(self, path: str, limit: int = MAX_FILE_BYTES) -> bytes:
        mode = self._mode(path)
        if not stat.S_ISREG(mode):
            raise HostFileError(path, "is a folder" if stat.S_ISDIR(mode) else "is not a regular file")
        real = str(self._resolve(path))

        async def read() -> bytes:
            chunks: list[bytes] = []
            size = 0
            # one request at a time: /proc and /sys files are read in order, as a local read does
            async with self.sftp.open(real, "rb", block_size=READ_CHUNK, max_requests=1) as fh:
                while size <= limit:
                    chunk = await fh.read(min(READ_CHUNK, limit + 1 - size))
                    if not chunk:
                        break
                    chunks.append(chunk)
                    size += len(chunk)
            return b"".join(chunks)

        data = self._do(path, read)
        if len(data) > limit:
            raise HostFileError(path, f"larger than the {limit}-byte limit")
        return data

    def is_dir(self, path: str) -> bool:
        try:
            return stat.S_ISDIR(self._mode(path))
        except HostFileError:
            return False

    def exists(self, path: str) -> bool:
        try:
            real = self._resolve(path)
            self._do(path, lambda: self.sftp.lstat(str(real)))
        except HostFileError:
            return False
        return True

    def listdir(self, path: str) -> list[str]:
        try:
            real = str(self._resolve(path))
            names = self._do(path, lambda: self.sftp.listdir(real))
        except HostFileError:
            return []
        return sorted(str(n) for n in names if n not in (".", ".."))


_WHICH = 'IFS=:; for d in $1:$PATH; do [ -f "$d/$2" ] && [ -x "$d/$2" ] && { echo "$d/$2"; exit 0; }; done; exit 1'
"""A program's path as shutil.which finds it (files only, never a shell builtin), run by sh there."""


class SshRunner:
    """Runs the host's programs on the machine an SSH transport reaches."""

    def __init__(self, transport: SshTransport, search_path: Sequence[str] = SEARCH_PATH) -> None:
        self.transport = transport
        self.search_path = ":".join(search_path)
        self._found: dict[str, str | None] = {}

    def which(self, name: str) -> str | None:
        if name not in self._found:
            try:
                code, out, _, _ = self.transport.run_bytes(["sh", "-c", _WHICH, "sh", self.search_path, name], timeout=15)
            except CollectionError:
                return None
            path = out.decode("utf-8", "replace").strip()
            self._found[name] = path if code == 0 and path.startswith("/") and "\n" not in path else None
        return self._found[name]

    def run(self, argv: Sequence[str], *, timeout: float = 30.0, env: Mapping[str, str] | None = None) -> CommandResult:
        program = self.which(argv[0]) if "/" not in argv[0] else argv[0]
        if program is None:
            raise CommandUnavailable(f"{argv[0]} is not installed on {self.transport.spec.destination}")
        try:
            code, out, err, cut = self.transport.run_bytes(
                [program, *argv[1:]], timeout=timeout, env={"PATH": self.search_path, **(env or {})})
        except CollectionError as exc:
            raise CommandUnavailable(exc.diagnostics()) from None
        if code in (126, 127):  # env could not run it
            raise CommandUnavailable(f"{argv[0]} cannot run on {self.transport.spec.destination} (exit {code})")
        return CommandResult((program, *argv[1:]), code, out.decode("utf-8", "replace"),
                             err.decode("utf-8", "replace"), cut)


def remote_host(transport: SshTransport, root: Path) -> Host:
    """The machine `transport` reaches, as the host package reads one (files under `root`)."""
    return Host(RemoteFiles(transport, root), SshRunner(transport))
