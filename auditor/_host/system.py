"""How the host package reads a host: files under a root folder and commands through a seam.

Paths are the host's own absolute paths (`/etc/ssh/sshd_config`); :class:`HostFiles` maps them
under the target's root and resolves symbolic links as if the root were `/` (a link to
`/etc/static/...` in a recorded NixOS tree stays inside the tree). Only regular files are
opened, and never more than a bounded number of bytes. Commands run through a
:class:`CommandRunner`: :class:`LocalRunner` on this machine (argument lists, no shell, a time
limit, bounded output), :data:`NO_COMMANDS` where none may run (a recorded tree). Another
machine reached over SSH is read by the same seam: auditor._remote.sshhost's RemoteFiles (a
HostFiles over SFTP) and SshRunner.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

MAX_FILE_BYTES = 4 * 1024 * 1024
"""A host file larger than this is not read (configuration files are far smaller)."""
MAX_OUTPUT_BYTES = 16 * 1024 * 1024
"""A command's output beyond this is cut off and the result marked truncated."""


class HostFileError(Exception):
    """A host file cannot be read; `missing` when it does not exist."""

    def __init__(self, path: str, reason: str, *, missing: bool = False) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.missing = missing


class CommandUnavailable(Exception):
    """A command cannot run here (no runner, not installed, or it could not start)."""


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.truncated

    def problem(self) -> str:
        """One line saying why the command did not give a usable answer."""
        if self.truncated:
            return f"{self.argv[0]}: output larger than {MAX_OUTPUT_BYTES} bytes"
        last = [ln.strip() for ln in self.stderr.splitlines() if ln.strip()]
        return f"{PurePosixPath(self.argv[0]).name} exited {self.returncode}" + (f": {last[-1][:200]}" if last else "")


class CommandRunner(Protocol):
    """Runs a host's programs: here (LocalRunner) or over SSH (auditor._remote.sshhost.SshRunner)."""

    def which(self, name: str) -> str | None:
        """The program's path on the host, or None when it is not installed."""

    def run(self, argv: Sequence[str], *, timeout: float = 30.0, env: Mapping[str, str] | None = None) -> CommandResult:
        """Run a program (never through a shell); raises CommandUnavailable if it cannot start."""


SEARCH_PATH = (
    "/run/current-system/sw/bin", "/run/current-system/sw/sbin",  # NixOS
    "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin",
)


class LocalRunner:
    """Runs programs on this machine: argument lists, C locale, stdin closed, output bounded."""

    def __init__(self, search_path: Sequence[str] = SEARCH_PATH) -> None:
        self.search_path = os.pathsep.join([*search_path, os.environ.get("PATH", "")])

    def which(self, name: str) -> str | None:
        return shutil.which(name, path=self.search_path)

    def run(self, argv: Sequence[str], *, timeout: float = 30.0, env: Mapping[str, str] | None = None) -> CommandResult:
        program = self.which(argv[0]) if "/" not in argv[0] else argv[0]
        if program is None:
            raise CommandUnavailable(f"{argv[0]} is not installed")
        passed = {k: os.environ[k] for k in ("HOME", "NIX_PATH") if k in os.environ}  # NIX_PATH: <nixpkgs>
        full_env = {"HOME": "/", **passed, "PATH": self.search_path, "LC_ALL": "C", **(env or {})}
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.run([program, *argv[1:]], stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                      env=full_env, timeout=timeout, check=False)
            except subprocess.TimeoutExpired:
                raise CommandUnavailable(f"{argv[0]} did not finish within {timeout:g} s") from None
            except OSError as exc:
                raise CommandUnavailable(f"{argv[0]} cannot run: {exc.strerror or exc}") from None
            texts = []
            truncated = False
            for fh in (out, err):
                fh.seek(0)
                data = fh.read(MAX_OUTPUT_BYTES + 1)
                truncated = truncated or len(data) > MAX_OUTPUT_BYTES
                texts.append(data[:MAX_OUTPUT_BYTES].decode("utf-8", "replace"))
        return CommandResult((program, *argv[1:]), proc.returncode, texts[0], texts[1], truncated)


class _NoCommands:
    """No program can run: the host is a recorded tree (or commands are switched off)."""

    def which(self, name: str) -> str | None:
        return None

    def run(self, argv: Sequence[str], *, timeout: float = 30.0, env: Mapping[str, str] | None = None) -> CommandResult:
        raise CommandUnavailable("commands are not run on this host")


NO_COMMANDS: CommandRunner = _NoCommands()


class HostFiles:
    """The host's files under `root`, with symbolic links resolved inside the root."""

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.abspath(root))

    def _resolve(self, path: str) -> Path:
        """The real location of host path `path`, links followed as if `root` were `/`."""
        from auditor._fsutil import RootedPathError, in_root

        try:
            return in_root(self.root, path, lstat_mode=self._lstat_mode, readlink=self._readlink)
        except RootedPathError as exc:
            raise HostFileError(path, exc.reason, missing=exc.missing) from None

    def _lstat_mode(self, real: Path) -> int:
        """The st_mode of `real` itself (a link is not followed); OSError when it cannot be had.
        With _readlink, what a subclass reading another machine's files replaces."""
        return os.lstat(real).st_mode

    def _readlink(self, real: Path) -> str:
        return os.readlink(real)

    def real_path(self, path: str) -> Path:
        return self._resolve(path)

    def links_to_null(self, path: str) -> bool:
        """Whether `path` itself is a symbolic link to /dev/null (how systemd masks a unit or a
        drop-in); its folder's links are followed, the link itself is read, never opened."""
        folder, _, name = path.rstrip("/").rpartition("/")
        try:
            real = self._resolve(folder or "/") / name
            return stat.S_ISLNK(self._lstat_mode(real)) and self._readlink(real) == "/dev/null"
        except (HostFileError, OSError):
            return False

    def read_bytes(self, path: str, limit: int = MAX_FILE_BYTES) -> bytes:
        """The bytes of a regular file (pseudo-files of /proc and /sys included), at most `limit`."""
        real = self._resolve(path)
        flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(real, flags)
        except FileNotFoundError:
            raise HostFileError(path, "does not exist", missing=True) from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise HostFileError(path, "is a symbolic link") from None
            raise HostFileError(path, exc.strerror or str(exc)) from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
                raise HostFileError(path, f"is {kind}")
            chunks: list[bytes] = []
            size = 0
            while size <= limit:
                chunk = os.read(fd, min(65536, limit + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except OSError as exc:
            raise HostFileError(path, exc.strerror or str(exc)) from None
        finally:
            os.close(fd)
        if size > limit:
            raise HostFileError(path, f"larger than the {limit}-byte limit")
        return b"".join(chunks)

    def read_text(self, path: str, limit: int = MAX_FILE_BYTES) -> str:
        """A regular file as text (UTF-8, undecodable bytes replaced)."""
        return self.read_bytes(path, limit).decode("utf-8", "replace")

    def text_or_none(self, path: str, limit: int = MAX_FILE_BYTES) -> str | None:
        """The file's text, or None when it does not exist; other problems raise HostFileError."""
        try:
            return self.read_text(path, limit)
        except HostFileError as exc:
            if exc.missing:
                return None
            raise

    def is_dir(self, path: str) -> bool:
        try:
            return self._resolve(path).is_dir()
        except (HostFileError, OSError):
            return False

    def exists(self, path: str) -> bool:
        try:
            return os.path.lexists(self._resolve(path))
        except HostFileError:
            return False

    def listdir(self, path: str) -> list[str]:
        """Names in a folder, sorted bytewise; [] when it is missing or unreadable."""
        try:
            return sorted(os.listdir(self._resolve(path)))
        except (HostFileError, OSError):
            return []

    def glob(self, pattern: str) -> list[str]:
        """Host paths matching a glob(3) pattern (no leading-dot matches by wildcards), sorted."""
        import fnmatch

        if not pattern.startswith("/"):
            return []
        found = ["/"]
        for part in [p for p in pattern.split("/") if p]:
            nxt: list[str] = []
            for base in found:
                joined = base.rstrip("/") + "/"
                if not any(c in part for c in "*?["):
                    if self.exists(joined + part):
                        nxt.append(joined + part)
                    continue
                for name in self.listdir(base):
                    if name.startswith(".") and not part.startswith("."):
                        continue
                    if fnmatch.fnmatchcase(name, part):
                        nxt.append(joined + name)
            found = nxt
        return sorted(p for p in found if p != "/")


@dataclass(frozen=True)
class Host:
    """A host to read: its files and the runner of its commands."""

    files: HostFiles
    runner: CommandRunner = NO_COMMANDS

    @classmethod
    def at(cls, root: Path, *, live: bool | None = None) -> Host:
        """The host under `root`; commands run locally only when `root` is this machine's `/`."""
        files = HostFiles(root)
        if live is None:
            live = files.root == Path("/")
        return cls(files, LocalRunner() if live else NO_COMMANDS)

    @property
    def live(self) -> bool:
        """Commands run on this very machine (so /proc describes the host being audited)."""
        return isinstance(self.runner, LocalRunner)


def recorded_arg(previous: object, arg: object) -> str:
    """How a recording stores an argument: long expression texts by their digest."""
    import hashlib

    text = str(arg)
    if str(previous) == "--expr" and not text.startswith("sha256:"):
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    return text


class RecordedRunner:
    """Answers commands from a recording (commands.json) made on the host by the real programs.

    The file holds `{"recorded_from": ..., "commands": [{"argv": [...], "returncode": 0,
    "stdout": ..., "stderr": ...}]}`; a command not in it is not installed, as far as the
    collector can tell. Programs are compared by name, so the recorded path does not matter.
    """

    def __init__(self, commands: Sequence[Mapping[str, object]]) -> None:
        self.commands = [c for c in commands if isinstance(c.get("argv"), list) and c["argv"]]

    @classmethod
    def load(cls, text: str) -> RecordedRunner:
        import json

        doc = json.loads(text)
        if not isinstance(doc, dict) or not isinstance(doc.get("commands"), list):
            raise ValueError("not a recording of commands (no 'commands' list)")
        return cls([c for c in doc["commands"] if isinstance(c, dict)])

    @staticmethod
    def _key(argv: Sequence[object]) -> tuple[str, ...]:
        """The program's name and the arguments; an `--expr` text by its SHA-256 (`sha256:HEX`)."""
        return (PurePosixPath(str(argv[0])).name, *(recorded_arg(argv[i - 1], a) for i, a in enumerate(argv) if i))

    def which(self, name: str) -> str | None:
        for c in self.commands:
            argv = c["argv"]
            assert isinstance(argv, list)
            if PurePosixPath(str(argv[0])).name == name:
                return str(argv[0])
        return None

    def run(self, argv: Sequence[str], *, timeout: float = 30.0, env: Mapping[str, str] | None = None) -> CommandResult:
        want = self._key(argv)
        for c in self.commands:
            got = c["argv"]
            assert isinstance(got, list)
            if self._key(got) == want:
                code = c.get("returncode", 0)
                return CommandResult(tuple(argv), code if isinstance(code, int) else 1, str(c.get("stdout", "")),
                                     str(c.get("stderr", "")))
        raise CommandUnavailable(f"{PurePosixPath(argv[0]).name}: not in the recording")
