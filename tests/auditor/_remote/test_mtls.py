"""Mutual TLS with certificates of our own PKI (profiles nats-server and nats-client) against a
nats-server that verifies clients: the agent, the worker, `fleet collect` and `serve`'s events."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor._remote.connection import NatsSettings
from auditor._schedule.notify import NatsNotifier
from tests.auditor._remote.fleetlab import JETSTREAM, Proc, auditor
from tests.certs import CertFactory, write
from tests.conftest import run_cli
from tests.pki.conftest import new_ca
from tests.servers import NatsServer


class Tls:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.ca, self.opener = new_ca(folder / "ca")
        self.chain = folder / "ca" / "certs" / "chain.pem"

    def issue(self, node: str, profile: str, **sans: Any) -> tuple[Path, Path]:
        out = self.folder / node
        self.ca.issue(node, profile, self.opener, out, **sans)
        return out / "cert.pem", out / "key.pem"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return Tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def server(tls: Tls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    folder = tmp_path_factory.mktemp("nats-mtls")
    cert, key = tls.issue("localhost", "nats-server", dns=["localhost"], ips=["127.0.0.1"])
    nats = NatsServer(folder)
    nats.start(JETSTREAM.format(store=folder / "js") + (
        f'tls {{\n  cert_file: "{cert}"\n  key_file: "{key}"\n  ca_file: "{tls.chain}"\n  verify: true\n  timeout: 2\n}}\n'))
    try:
        yield nats
    finally:
        nats.stop()


def _auth(tls: Tls, who: str) -> list[str]:
    cert, key = tls.issue(who, "nats-client")
    return ["--nats-cert", str(cert), "--nats-key", str(key), "--nats-ca", str(tls.chain)]


def test_agent_worker_and_workstation_over_mutual_tls(tls: Tls, server: NatsServer, tmp_path: Path,
                                                      certs: CertFactory) -> None:
    """The agent signs with the node's nats-client key (no separate signing key), chained to the
    fleet CA the inventory names; everything connects with client certificates only."""
    write(tmp_path / "node" / "certs" / "a.pem", certs.issue("a.example.com", dns=("a.example.com",)).pem())
    inventory = tmp_path / "auditor.yaml"
    inventory.write_text(yaml.safe_dump({"version": 1, "targets": [{
        "name": "node-m", "environment": "staging", "policies": ["cim-staging"], "root": "node",
        "names": ["node-m.cim.example.com"], "trust_anchors": [str(tls.folder / "ca" / "certs" / "root.pem")],
        "sources": [{"collector": "certificates", "name": "certs", "paths": ["certs"]}],
    }]}))
    url = f"tls://127.0.0.1:{server.port}"
    procs: list[Proc] = []
    try:
        procs.append(auditor("worker", tmp_path, "worker", "--nats", url, "--db", str(tmp_path / "h.sqlite"),
                             "--inventory", str(inventory), "--concurrency", "1", *_auth(tls, "worker.example.com")))
        procs.append(auditor("agent", tmp_path, "agent", "--target", "node-m", "--nats", url, "--inventory",
                             str(inventory), *_auth(tls, "node-m.cim.example.com")))
        procs[0].wait_for("ready in", timeout=90)
        procs[1].wait_for("signing as CN=node-m.cim.example.com", timeout=90)
        run = run_cli("fleet", "collect", "--target", "node-m", "--nats", url, "--wait", "60",
                      *_auth(tls, "workstation.example.com"))
        assert run.code == 1 and run.err == "", run.out + run.err
        assert run.out.startswith("node-m: NOT READY (exit 1) · scan #1 stored by worker"), run.out
        assert "  FAIL CRITICAL CERT-001  certs/a.pem\n" in run.out  # the planted self-signed certificate
        # without a client certificate the server turns the workstation away: exit 3, one line
        refused = run_cli("fleet", "status", "--nats", url, "--nats-ca", str(tls.chain))
        assert refused.code == 3 and refused.err.startswith("auditor: error: cannot connect to tls://127.0.0.1:")
        assert "Traceback" not in refused.err
    finally:
        for p in procs:
            p.stop()


def test_serve_events_over_mutual_tls(tls: Tls, server: NatsServer) -> None:
    cert, key = tls.issue("serve.example.com", "nats-client")
    settings = NatsSettings.make(f"nats://127.0.0.1:{server.port}", cert=cert, key=key, ca=tls.chain)
    received: list[dict[str, Any]] = []

    async def listen_and_send() -> None:
        import nats

        nc = await nats.connect(**settings.connect_options(reconnect=False))
        got = asyncio.Event()

        async def on(msg: Any) -> None:
            received.append(json.loads(msg.data))
            got.set()

        await nc.subscribe("audit.findings.node-m", cb=on)
        await nc.flush()
        await asyncio.to_thread(NatsNotifier(settings, timeout=5).send, {"type": "auditor.regression", "target": "node-m"})
        await asyncio.wait_for(got.wait(), 10)
        await nc.close()

    asyncio.run(listen_and_send())
    assert received == [{"type": "auditor.regression", "target": "node-m"}]


def test_a_client_key_that_does_not_load_is_a_usage_error(tls: Tls, tmp_path: Path) -> None:
    cert, _ = tls.issue("x.example.com", "nats-client")
    _, wrong_key = tls.issue("y.example.com", "nats-client")
    run = run_cli("fleet", "status", "--nats", "tls://127.0.0.1:4222", "--nats-cert", str(cert), "--nats-key",
                  str(wrong_key), "--nats-ca", str(tls.chain))
    assert run.code == 2 and "do not load together" in run.err, run.err
    with pytest.raises(ssl.SSLError):
        ssl.create_default_context().load_cert_chain(str(cert), str(wrong_key))
