"""Agentless collection: reach a machine over SSH, collect its evidence there, evaluate here.

:class:`SshTransport` is one SSH connection to the machine (asyncssh): programs run there with
argument lists quoted for the remote POSIX shell, `LC_ALL=C`, a time limit and bounded output,
and files are read through its SFTP channel. The host key is always verified against a
known_hosts file (the target's `known_hosts`, else ~/.ssh/known_hosts); the client reads no
~/.ssh/config, so what the inventory says is what happens.

:func:`collect_over_ssh` collects a target that names `ssh`, over one connection:

- the sources whose collector reads a machine only through the host package's seam
  (Collector.reads_host: `host`) run here, with that seam over the connection
  (auditor._remote.sshhost: the machine's files over SFTP, its commands over SSH), so the host
  is audited with nothing of auditor installed there;
- the other sources are collected by the remote `auditor collect --target NAME --inventory - --output -`,
  fed the target's definition (those sources, its root and names; never its `ssh` or `agent`
  settings): the collectors run there, as the SSH user, with the remote auditor (this version or
  a later one), and the bundle comes back.

Both go into one bundle, in the inventory's order of sources; the verdict is made here
(docs/fleet.md says what must be installed on the remote side).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import shlex
import threading
from collections.abc import Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from auditor._host.system import MAX_OUTPUT_BYTES
from auditor._inventory.model import SourceSpec, SshSpec, Target
from auditor._timeutil import rfc3339, utcnow
from auditor._urls import join_url, strip_userinfo
from auditor.errors import CollectionError, ConfigError, EvidenceError
from auditor.evidence.bundle import Bundle, parse_bundle
from auditor.evidence.record import Record

if TYPE_CHECKING:
    from auditor._scan import Progress

MAX_BUNDLE_BYTES = 64 * 1024 * 1024
"""The largest evidence bundle read back from a remote `auditor collect`."""
COLLECT_TIMEOUT_SECONDS = 600.0

T = TypeVar("T")


def remote_command(argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """The command line the remote shell runs: `env LC_ALL=C [K=V...] ARGV...`, every word quoted."""
    settings = [f"{k}={v}" for k, v in {"LC_ALL": "C", **(env or {})}.items()]
    return shlex.join(["env", *settings, *argv])


def _printable(text: str, limit: int = 200) -> str:
    from auditor._terminal import printable

    line = printable(text.strip())
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
        self._sftp: Any = None

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None) -> T:
        """Run `coro` on the connection's event loop and wait for it (at most `timeout` seconds)."""
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def __enter__(self) -> SshTransport:
        self._thread.start()
        try:
            self._conn = self.call(self._connect(), self.spec.connect_timeout + 5)
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
                self.call(shutdown(), 10)
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
        return self.call(self._run(remote_command(argv, env), stdin, limit, timeout), timeout + 10)

    def sftp(self) -> Any:
        """The connection's SFTP client (asyncssh), started on first use; CollectionError when the
        server offers no SFTP subsystem."""
        import asyncssh

        if self._conn is None:
            raise CollectionError(f"{self.spec.destination}: not connected")
        if self._sftp is None:

            async def start() -> Any:
                return await self._conn.start_sftp_client()

            try:
                self._sftp = self.call(start(), self.spec.connect_timeout)
            except (OSError, asyncssh.Error, TimeoutError) as exc:
                raise CollectionError(f"{self.spec.destination}: no SFTP subsystem to read files with "
                                      f"({_printable(str(exc)) or type(exc).__name__})") from None
        return self._sftp


def remote_definition(target: Target, sources: Sequence[SourceSpec] | None = None) -> dict[str, Any]:
    """The target as the remote `auditor collect` reads it: its root there and its sources (or
    those of `sources`), and nothing about SSH, agents or schedules."""
    keep = {k: v for k, v in target.definition.items() if k not in ("ssh", "agent", "schedule", "root")}
    chosen = target.sources if sources is None else sources
    keep["sources"] = [_with_credentials(dict(spec.options), spec) | {
        "collector": spec.collector, "name": spec.name, "required": spec.required} for spec in chosen]
    return {**keep, "root": str(target.root)}


def _with_credentials(value: Any, spec: SourceSpec, path: tuple[str | int, ...] = ()) -> Any:
    """A source's options with the user-info the inventory gave its URLs put back (the remote
    collector authenticates with it; it travels only inside the SSH channel, on stdin)."""
    from auditor._loader.yamlfile import dotted_path

    if isinstance(value, str):
        credentials = spec.credentials.get(dotted_path(path)) if path else None
        return join_url(value, credentials) if credentials is not None else value
    if isinstance(value, Mapping):
        return {k: _with_credentials(v, spec, (*path, k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_with_credentials(v, spec, (*path, i)) for i, v in enumerate(value)]
    return value


def collect_over_ssh(target: Target, *, now: dt.datetime | None = None, progress: Progress | None = None,
                     timeout: float = COLLECT_TIMEOUT_SECONDS) -> Bundle:
    """Collect `target`'s evidence from its machine over one SSH connection: the sources of
    collectors that read a host through the host seam here, the others by the remote auditor
    (when there are any)."""
    from auditor._collectors import COLLECTORS
    from auditor._gcpause import collecting
    from auditor._remote.sshhost import remote_host
    from auditor._scan import collect_sources

    spec = target.ssh
    if spec is None:
        raise ConfigError(f"target '{target.name}' has no `ssh`")
    moment = now or utcnow()
    here = [s for s in target.sources if COLLECTORS.load(s.collector).reads_host]
    there = [s for s in target.sources if s not in here]
    found: dict[str, list[Record]] = {}
    with collecting(), SshTransport(spec) as ssh:  # each SSH request leaves cycles: even a one-shot scan collects them
        if there:
            if progress:
                progress(f"collecting {len(there)} source(s) with auditor on {spec.destination}", 0, len(there))
            try:
                for record in _collect_there(ssh, target, there, timeout).records:
                    found.setdefault(record.source, []).append(record)
            except CollectionError as exc:  # those sources failed; the host sources may still be read
                for s in there:
                    found[s.name] = [_failure(target, s, moment, exc.diagnostics())]
        if here:
            try:
                host = remote_host(ssh, target.root)
            except CollectionError as exc:
                for s in here:
                    found[s.name] = [_failure(target, s, moment, exc.diagnostics())]
            else:
                for record in collect_sources(target, here, moment, remote=host, progress=progress):
                    found.setdefault(record.source, []).append(record)
    records = [r for s in target.sources for r in found.pop(s.name, [])]
    records += [r for rest in found.values() for r in rest]  # a remote record under another source name
    if progress:
        progress("collected", len(target.sources), len(target.sources))
    return Bundle.create(target.describe(), rfc3339(moment), records)


def _failure(target: Target, source: SourceSpec, moment: dt.datetime, message: str) -> Record:
    from auditor._collectors import COLLECTORS
    from auditor._collectors.interface import CollectContext

    kind = COLLECTORS.load(source.collector).kinds[0]
    return CollectContext(target, source, moment).error(kind, source.name, message)


def _collect_there(ssh: SshTransport, target: Target, sources: Sequence[SourceSpec], timeout: float) -> Bundle:
    """`sources` collected by `auditor collect` on the machine; the bundle, checked as any bundle."""
    spec = ssh.spec
    inventory = json.dumps({"version": 1, "targets": [remote_definition(target, sources)]}).encode()
    argv = [spec.command, "collect", "--target", target.name, "--inventory", "-", "--output", "-"]
    code, out, err, cut = ssh.run_bytes(argv, timeout=timeout, stdin=inventory, limit=MAX_BUNDLE_BYTES)
    where = f"ssh://{spec.destination}"
    text = strip_userinfo(err.decode("utf-8", "replace"))  # the definition sent holds user-info
    last = next((line for line in reversed(text.splitlines()) if line.strip()), "")
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
