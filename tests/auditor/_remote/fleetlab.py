"""A fleet on loopback for tests and benchmarks: a real nats-server with JetStream, node evidence
trees with signing keys from a test CA, and `auditor agent` / `auditor worker` processes."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.auditor._remote.signing import NodePki
from tests.certs import FILES_PACK, CertFactory, write
from tests.servers import NatsServer, running

JETSTREAM = "jetstream {{ store_dir: \"{store}\" }}\n"


def start_nats(folder: Path, extra: str = "") -> NatsServer:
    server = NatsServer(folder)
    server.start(JETSTREAM.format(store=folder / "js") + extra)
    return server


@contextlib.contextmanager
def restarted(server: NatsServer) -> Iterator[None]:
    """The stopped `server` running again on its port with its configuration (JetStream's store kept)."""
    with running([server.binary, "-c", str(server.config)], server.port, server.folder / "nats-again.log",
                 cwd=server.folder):
        yield


@dataclass
class Proc:
    """An auditor process with its log; stopped (SIGTERM, then SIGKILL) by `stop`."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for(self, pattern: str, timeout: float = 60.0, *, count: int = 1) -> re.Match[str]:
        """The `count`-th match of `pattern` in the log, waiting for it; fails with the log's end."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            found = list(regex.finditer(self.text()))
            if len(found) >= count:
                return found[count - 1]
            if self.proc.poll() is not None or time.monotonic() > deadline:
                state = f"exited {self.proc.returncode}" if self.proc.poll() is not None else f"{timeout}s passed"
                raise AssertionError(f"{self.name}: no {pattern!r} ({state}); log:\n{self.text()[-3000:]}")
            time.sleep(0.02)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(timeout)


def auditor(name: str, folder: Path, *args: str) -> Proc:
    """Start `auditor ARGS` in its own session (so a signal reaches its pool too), logging to folder/NAME.log."""
    log = folder / f"{name}.log"
    env = {**os.environ, "AUDITOR_NO_PROGRESS": "1", "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "auditor", *args], stdout=out, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)
    return Proc(name, proc, log)


@dataclass
class Lab:
    folder: Path
    pki: NodePki
    inventory: Path
    targets: list[str]
    procs: list[Proc] = field(default_factory=list)

    def add(self, proc: Proc) -> Proc:
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for p in self.procs:
            p.stop()


def make_nodes(folder: Path, certs: CertFactory, targets: dict[str, int]) -> Lab:
    """An inventory of `targets` (name -> certificate files in its evidence root), each root with
    its own certificates and the node's signing key, all anchored at one test CA."""
    pki = NodePki.make(certs, folder / "pki")
    entries = []
    for name, count in targets.items():
        root = folder / name
        for i in range(count):
            leaf = certs.issue(f"svc{i}.{name}.example.com", issuer=pki.inter, dns=(f"svc{i}.{name}.example.com",))
            write(root / "certs" / f"svc{i}.pem", leaf.pem() + pki.inter.pem())
        key, cert = pki.node(name)
        write(root / "signing" / "key.pem", key.read_bytes()).chmod(0o600)
        write(root / "signing" / "cert.pem", cert.read_bytes())
        entries.append({
            "name": name,
            "environment": "staging",
            "tags": ["lab"],
            "policies": ["cert-files"],  # the certificate files' rules only: READY when they pass
            "root": name,
            "names": [f"{name}.example.com"],
            "trust_anchors": ["../pki/root.pem"],
            "agent": {"key": "signing/key.pem", "certificate": "signing/cert.pem"},
            "sources": [{"collector": "certificates", "name": "certs", "paths": ["certs"]}],
        })
    (folder / "policies").mkdir(exist_ok=True)
    (folder / "policies/cert-files.yaml").write_text(FILES_PACK + "fail_on: critical  # as cim-staging\n")
    inventory = folder / "auditor.yaml"
    inventory.write_text(yaml.safe_dump({"version": 1, "policy_paths": ["policies"], "targets": entries}, sort_keys=False))
    return Lab(folder, pki, inventory, list(targets))


@contextlib.contextmanager
def lab(folder: Path, certs: CertFactory, targets: dict[str, int]) -> Iterator[Lab]:
    made = make_nodes(folder, certs, targets)
    try:
        yield made
    finally:
        made.close()
