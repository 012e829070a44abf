"""Helpers for the serve tests: a copy of the demo node with a schedule, and `auditor serve`
run as a real process whose log lines the test can wait for."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

from auditor._demo import demo_root
from tests.servers import http_server

REPO = Path(__file__).resolve().parents[3]


def demo_copy(folder: Path, *, schedule: str = "* * * * * *", extra_targets: str = "", target_lines: str = "",
              extra_sources: str = "") -> Path:
    """A copy of the demo node under `folder` and an inventory scanning it on `schedule`
    (`target_lines` and `extra_sources`: more of the target's YAML, indented as it is)."""
    node = folder / "cim-prod-001"
    shutil.copytree(demo_root() / "cim-prod-001", node)
    inventory = folder / "auditor.yaml"
    inventory.write_text(
        "version: 1\n"
        "policy_paths: [cim-prod-001/etc/auditor/policies]\n"
        "targets:\n"
        "  - name: cim-prod-001\n"
        "    environment: production\n"
        "    tags: [cim, demo]\n"
        "    policies: [cim-production, cim-prod-001-waivers]\n"
        "    root: cim-prod-001\n"
        "    names: [cim-001.example.com, cim-prod-001.cim.example.com]\n"
        "    trust_anchors: [var/lib/cim/pki/root-ca.pem]\n"
        f'    schedule: "{schedule}"\n'
        + target_lines
        + "    sources:\n"
        "      - {collector: certificates, name: node-certificates, paths: [etc/nats/certs, var/lib/cim/pki]}\n"
        + extra_sources
        + extra_targets
    )
    return inventory


class Hook(BaseHTTPRequestHandler):
    """A webhook receiver on loopback: keeps the headers and body of every POST."""

    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        Hook.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextlib.contextmanager
def hook_server() -> Iterator[int]:
    """Run a Hook server (its `received` emptied); yield its port."""
    Hook.received = []
    with http_server(Hook) as port:
        yield port


class Serve:
    """`auditor serve ARGS` in its own process; its stderr lines are collected as they come."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.marker = uuid.uuid4().hex
        self.env = {**os.environ, "AUDITOR_SERVE_TEST": self.marker, **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "auditor", "serve", *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=self.env, cwd=REPO,
        )
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def wait_for(self, pattern: str, *, count: int = 1, timeout: float = 60.0) -> list[re.Match[str]]:
        """Wait until `count` log lines match `pattern`; fail with the log otherwise."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [m for m in (regex.search(x) for x in self.lines) if m]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"no {count} line(s) matching {pattern!r}; log:\n" + self.log())
                self._cond.wait(min(left, 0.5))

    def log(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60.0) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(10)
        return code

    def workers_alive(self) -> list[int]:
        """Scan processes started by this server that are still running (found by environment)."""
        alive = []
        needle = f"AUDITOR_SERVE_TEST={self.marker}".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == self.proc.pid:
                continue
            try:
                if needle in (entry / "environ").read_bytes():
                    alive.append(int(entry.name))
            except OSError:
                continue
        return alive

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(10)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        deadline = time.monotonic() + 10
        while self.workers_alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in self.workers_alive():
            os.kill(pid, signal.SIGKILL)


async def regression_event(
    inventory: Path, db: Path, *, nats_url: str, webhook: str, env: dict[str, str] | None = None,
    timeout: float = 120.0,
) -> tuple[str, dict[str, Any], str]:
    """Serve a demo_copy inventory until its first scan is stored, plant a new failure (a
    second copy of the legacy certificate: RSA-1024, no waiver), and return the subject and
    the event published on NATS, and serve's log."""
    import asyncio
    import json

    import nats as nats_py

    nc = await nats_py.connect(nats_url, connect_timeout=5, allow_reconnect=False)
    try:
        sub = await nc.subscribe("audit.findings.>")
        serve = Serve("--inventory", str(inventory), "--db", str(db), "--jitter", "0s", "--nats", nats_url,
                      "--webhook", webhook, "--threshold", "high", env=env)
        try:
            await asyncio.to_thread(serve.wait_for, r"scan \d+ stored", count=1, timeout=timeout)
            certs = inventory.parent / "cim-prod-001/etc/nats/certs"
            shutil.copy(certs / "monitor-legacy.pem", certs / "monitor-legacy-2.pem")
            msg = await sub.next_msg(timeout=timeout)
            await asyncio.to_thread(serve.wait_for, "regression event sent", timeout=timeout)
            serve.signal(signal.SIGTERM)
            assert await asyncio.to_thread(serve.wait) == 0
            log = serve.log()
        finally:
            serve.close()
    finally:
        await nc.close()
    event: dict[str, Any] = json.loads(msg.data)
    return msg.subject, event, log
