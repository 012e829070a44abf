"""Agentless collection: run `auditor collect` on a machine over SSH and bring the bundle back.

:class:`SshTransport` runs programs on the remote machine over one SSH connection (asyncssh):
argument lists quoted for the remote POSIX shell, `LC_ALL=C`, a time limit, bounded output. Its
`which` and `run` are the calls of the host package's command-runner seam, so a host collector
can run its commands through it as well as locally. The host key is always verified against a
known_hosts file (the target's `known_hosts`, else ~/.ssh/known_hosts); the client reads no
~/.ssh/config, so what the inventory says is what happens.

:func:`collect_over_ssh` sends the target's definition (its sources, root and names; never its
`ssh` or `agent` settings) to `auditor collect --target NAME --inventory - --output -` on the
remote machine and reads the bundle it writes: the collectors run there, as the SSH user, with
the remote auditor; the verdict is made here. The remote side needs auditor (this version or a
later one) and whatever the target's collectors call (docs/fleet.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shlex
import threading
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from auditor.errors import CollectionError, ConfigError, EvidenceError
from auditor.evidence.bundle import Bundle, parse_bundle
from auditor.inventory.model import SshSpec, Target

MAX_OUTPUT_BYTES = 16 * 1024 * 1024
"""A command's output beyond this is cut off and the result marked truncated."""
MAX_BUNDLE_BYTES = 64 * 1024 * 1024
"""The largest evidence bundle read back from a remote `auditor collect`."""
COLLECT_TIMEOUT_SECONDS = 600.0

T = TypeVar("T")


@dataclass(frozen=True)
class CommandResult:
    """What a remote program did (the same fields as the host package's command results)."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.truncated


def remote_command(argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """The command line the remote shell runs: `env LC_ALL=C [K=V...] ARGV...`, every word quoted."""
    settings = [f"{k}={v}" for k, v in {"LC_ALL": "C", **(env or {})}.items()]
    return shlex.join(["env", *settings, *argv])


def _printable(text: str, limit: int = 200) -> str:
    line = "".join(c if c.isprintable() else "?" for c in text.strip())
    return line[:limit]


class SshTransport:
    """One SSH connection to `spec`'s machine; use it in a `with` block (it connects on entry)."""

    def __init__(self, spec: SshSpec) -> None:
        self.spec = spec
        self.known_hosts = spec.known_hosts.expanduser()
        if not self.known_hosts.is_file():
            raise ConfigError(
                f"host keys are always verified, and there is no known_hosts file here: add {spec.destination}'s "
                "host key to it (after checking its fingerprint), or name another file with `known_hosts`",
                file=self.known_hosts,
            )
        if spec.identity_file is not None and not spec.identity_file.expanduser().is_file():
            raise ConfigError("no such identity file", file=spec.identity_file)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="auditor-ssh", daemon=True)
        self._conn: Any = None

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def __enter__(self) -> SshTransport:
        self._thread.start()
        try:
            self._conn = self._call(self._connect(), self.spec.connect_timeout + 5)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if self._thread.is_alive():

            async def shutdown() -> None:
                if conn is not None:
                    conn.close()
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.wait_closed(), 5)
                await asyncio.sleep(0.05)  # transports of a failed login finish closing

            with contextlib.suppress(Exception):
                self._call(shutdown(), 10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if not self._loop.is_running() and not self._loop.is_closed():
            self._loop.close()

    async def _connect(self) -> Any:
        import asyncssh

        spec = self.spec
        options: dict[str, Any] = {
            "port": spec.port,
            "known_hosts": str(self.known_hosts),
            "config": [],
            "connect_timeout": spec.connect_timeout,
            "login_timeout": spec.connect_timeout,
        }
        if spec.user:
            options["username"] = spec.user
        if spec.identity_file is not None:
            options["client_keys"] = [str(spec.identity_file.expanduser())]
            options["agent_path"] = None
        try:
            return await asyncssh.connect(spec.host, **options)
        except asyncssh.HostKeyNotVerifiable as exc:
            raise CollectionError(
                f"{spec.destination}: the host key is not the one in {self.known_hosts} "
                f"({_printable(exc.reason)}): refusing to connect"
            ) from None
        except asyncssh.PermissionDenied:
            raise CollectionError(f"{spec.destination}: login refused (check the user and the identity file)") from None
        except asyncssh.KeyImportError as exc:
            raise ConfigError(f"cannot use the identity file ({_printable(str(exc))}); an encrypted key needs "
                              "ssh-agent", file=spec.identity_file) from None
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            reason = getattr(exc, "reason", "") or getattr(exc, "strerror", "") or str(exc) or type(exc).__name__
            raise CollectionError(f"{spec.destination}: cannot connect over SSH: {_printable(str(reason))}") from None

    async def _run(self, command: str, stdin: bytes | None, limit: int, timeout: float) -> tuple[int, bytes, bytes, bool]:
        import asyncssh

        async def drain(stream: Any, cap: int) -> tuple[bytes, bool]:
            chunks: list[bytes] = []
            size, cut = 0, False
            while True:
                chunk = await stream.read(65536)
                if not chunk:
                    return b"".join(chunks), cut
                if size < cap:
                    chunks.append(chunk[: cap - size])
                cut = cut or size + len(chunk) > cap
                size += len(chunk)

        async def go() -> tuple[int, bytes, bytes, bool]:
            proc = await self._conn.create_process(command, encoding=None)
            if stdin:
                proc.stdin.write(stdin)
            proc.stdin.write_eof()
            (out, cut_out), (err, _) = await asyncio.gather(drain(proc.stdout, limit), drain(proc.stderr, 65536))
            finished = await proc.wait(check=False)
            code = finished.exit_status if finished.exit_status is not None else 255
            return int(code), out, err, cut_out

        try:
            return await asyncio.wait_for(go(), timeout)
        except TimeoutError:
            raise CollectionError(f"{self.spec.destination}: the command did not finish within {timeout:g} s") from None
        except (OSError, asyncssh.Error) as exc:
            raise CollectionError(f"{self.spec.destination}: the SSH session failed: {_printable(str(exc))}") from None

    def run_bytes(self, argv: Sequence[str], *, timeout: float = 30.0, env: Mapping[str, str] | None = None,
                  stdin: bytes | None = None, limit: int = MAX_OUTPUT_BYTES) -> tuple[int, bytes, bytes, bool]:
        """(exit status, stdout, stderr, stdout cut off at `limit`) of a remote program."""
        if self._conn is None:
            raise CollectionError(f"{self.spec.destination}: not connected")
        return self._call(self._run(remote_command(argv, env), stdin, limit, timeout), timeout + 10)

    def run(self, argv: Sequence[str], *, timeout: float = 30.0, env: Mapping[str, str] | None = None) -> CommandResult:
        """Run a program on the remote machine (never through an interpolated shell string)."""
        code, out, err, cut = self.run_bytes(argv, timeout=timeout, env=env)
        return CommandResult(tuple(argv), code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), cut)

    def which(self, name: str) -> str | None:
        """The program's path on the remote machine, or None when it is not installed there."""
        result = self.run(["sh", "-c", 'command -v -- "$1"', "sh", name], timeout=15)
        path = result.stdout.strip()
        return path if result.returncode == 0 and path.startswith("/") else None


def remote_definition(target: Target) -> dict[str, Any]:
    """The target as the remote `auditor collect` reads it: its sources and root there, and
    nothing about SSH, agents or schedules."""
    keep = {k: v for k, v in target.definition.items() if k not in ("ssh", "agent", "schedule", "root")}
    return {**keep, "root": str(target.root)}


def collect_over_ssh(target: Target, *, timeout: float = COLLECT_TIMEOUT_SECONDS) -> Bundle:
    """Collect `target`'s evidence on its machine over SSH; the bundle, checked as any bundle."""
    spec = target.ssh
    if spec is None:
        raise ConfigError(f"target '{target.name}' has no `ssh`")
    inventory = json.dumps({"version": 1, "targets": [remote_definition(target)]}).encode()
    argv = [spec.command, "collect", "--target", target.name, "--inventory", "-", "--output", "-"]
    with SshTransport(spec) as ssh:
        code, out, err, cut = ssh.run_bytes(argv, timeout=timeout, stdin=inventory, limit=MAX_BUNDLE_BYTES)
    where = f"ssh://{spec.destination}"
    last = next((line for line in reversed(err.decode("utf-8", "replace").splitlines()) if line.strip()), "")
    if code == 127:
        raise CollectionError(f"{where}: '{spec.command}' is not installed there (install auditor, or set the "
                              "target's ssh `auditor` to its path)")
    if code not in (0, 3):
        raise CollectionError(f"{where}: auditor collect exited {code}" + (f": {_printable(last)}" if last else ""))
    if cut:
        raise CollectionError(f"{where}: the bundle is larger than {MAX_BUNDLE_BYTES} bytes")
    try:
        bundle = parse_bundle(json.loads(out), file=where)
    except (ValueError, UnicodeDecodeError):
        raise CollectionError(f"{where}: auditor collect did not write a bundle" +
                              (f" ({_printable(last)})" if last else "")) from None
    except EvidenceError as exc:
        raise CollectionError(f"the bundle from {exc.diagnostics()}") from None
    if bundle.target.get("name") != target.name:
        raise CollectionError(f"{where}: the bundle is for another target")
    return bundle
