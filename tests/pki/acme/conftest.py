"""Fixtures for the ACME server's tests: a CA folder, a TLS certificate for the server from a
separate test CA (the clients trust that root), and `auditor pki acme serve` as a real process
on loopback that a test can stop, kill and start again."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.certs import CertFactory, write
from tests.pki.conftest import PASSPHRASE, new_ca
from tests.servers import LOOPBACK, free_port, stop, wait_for_port

NAMES = ("cim-001.example.com", "cim-002.example.com", "cim-003.example.com", "nats.cim-001.example.com",
         "cim-901.example.com", "cim-hs-1.example.com", "outside.example.org")


@dataclass
class Served:
    """One `auditor pki acme serve` process; `restart` stops it (SIGTERM, or SIGKILL) and starts it again."""

    args: list[str]
    port: int
    log: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def directory(self) -> str:
        return f"https://{LOOPBACK}:{self.port}/acme/directory"

    def start(self) -> None:
        self.starts += 1
        with self.log.open("ab") as err:
            self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, **self.env})
        wait_for_port(self.port, self.proc, timeout=30, log=self.log, what="auditor pki acme serve")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None:
            stop(self.proc, sig)
            self.proc = None

    def restart(self, sig: int = signal.SIGTERM) -> None:
        self.stop(sig)
        self.start()

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class AcmeSetup:
    """A CA folder with an intermediate constrained to example.com and localhost, the server's
    TLS material and a hosts file mapping the test names to 127.0.0.1."""

    folder: Path
    work: Path
    trust: Path
    """The test root that signed the server's HTTPS certificate: what the clients trust."""
    tls_cert: Path
    tls_key: Path
    hosts: Path
    http01_port: int = field(default_factory=free_port)
    tlsalpn01_port: int = field(default_factory=free_port)

    def eab(self, name: str) -> tuple[str, str]:
        out = subprocess.run([sys.executable, "-m", "auditor", "pki", "acme", "eab", "--dir", str(self.folder),
                              "--name", name, "--format", "json"], capture_output=True, text=True, timeout=60, check=True)
        data = json.loads(out.stdout)
        return str(data["kid"]), str(data["hmac"])

    def policy(self, text: str) -> None:
        (self.folder / "acme").mkdir(mode=0o700, exist_ok=True)
        (self.folder / "acme" / "policy.yaml").write_text(text)

    @contextlib.contextmanager
    def serve(self, *extra: str, name: str = "serve") -> Iterator[Served]:
        port = free_port()
        args = [sys.executable, "-m", "auditor", "pki", "acme", "serve", "--dir", str(self.folder),
                "--listen", f"{LOOPBACK}:{port}", "--tls-cert", str(self.tls_cert), "--tls-key", str(self.tls_key),
                "--http01-port", str(self.http01_port), "--tlsalpn01-port", str(self.tlsalpn01_port),
                "--hosts", str(self.hosts), "--passphrase-env", "PKI_PASS", *extra]
        served = Served(args, port, self.work / f"{name}-{port}.log", {"PKI_PASS": PASSPHRASE})
        served.start()
        try:
            yield served
        finally:
            served.stop()


DNS_LOOKUP = """#!{python}
# the ACME server's dns-01 hook in the tests: prints the TXT values of a record from a folder
import sys
from pathlib import Path
record = Path({zone!r}) / sys.argv[-1]
print(record.read_text() if record.is_file() else "", end="")
"""
DNS_PRESENT = """#!{python}
# certbot's --manual-auth-hook in the tests: publishes the TXT value in that folder
import os
from pathlib import Path
record = Path({zone!r}) / ("_acme-challenge." + os.environ["CERTBOT_DOMAIN"])
with record.open("a") as fh:
    fh.write(os.environ["CERTBOT_VALIDATION"] + "\\n")
"""


def _script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def make_setup(base: Path, certs: CertFactory) -> AcmeSetup:
    new_ca(base / "CA")
    zone = base / "zone"
    zone.mkdir()
    _script(base / "dns-lookup", DNS_LOOKUP.format(python=sys.executable, zone=str(zone)))
    _script(base / "dns-present", DNS_PRESENT.format(python=sys.executable, zone=str(zone)))
    root, inter = certs.chain()
    server = certs.issue("acme server", issuer=inter, dns=("localhost",), ips=(LOOPBACK,))
    trust = write(base / "trust.pem", root.pem())
    tls_cert = write(base / "tls" / "server.pem", server.pem() + inter.pem())
    tls_key = write(base / "tls" / "server-key.pem", server.key_pem())
    hosts = write(base / "hosts", "".join(f"{LOOPBACK} {n}\n" for n in NAMES).encode())
    return AcmeSetup(base / "CA", base, trust, tls_cert, tls_key, hosts)


@pytest.fixture(scope="module")
def acme_setup(tmp_path_factory: pytest.TempPathFactory) -> AcmeSetup:
    return make_setup(tmp_path_factory.mktemp("acme"), CertFactory())
