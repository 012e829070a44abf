"""The demo's fleet CA folder (<demo root>/pki-ca) is a working CA the demo node's certificates come from."""

from __future__ import annotations

import json

from cryptography import x509

from auditor._demo import DEMO_TARGET, demo_root
from auditor._demo.build import CA_FOLDER, DEMO_PASSPHRASE
from pki.ca import CA
from tests.conftest import run_cli


def test_demo_ca_folder_holds_what_the_node_presents() -> None:
    root = demo_root()
    ca = CA.open(root / CA_FOLDER)
    listed = list(ca.list())
    assert {e.profile for e in listed} == {"root", "intermediate", "nats-server", "nats-leaf", "nats-client", "event-signing"}
    entries = {e.node: e for e in listed if e.status != "superseded" and e.profile in ("nats-server", "nats-leaf")}
    node_certs = root / DEMO_TARGET / "etc/nats/certs"
    for name, node in (("server-cert.pem", "cim-001.example.com"), ("leaf-client-cert.pem", "cim-prod-001-leaf.cim.example.com")):
        cert = x509.load_pem_x509_certificate((node_certs / name).read_bytes())
        assert format(cert.serial_number, "x") == entries[node].serial
    assert entries["cim-legacy-002.example.com"].status == "revoked"
    assert [e.status for e in listed if e.profile == "nats-client"] == ["revoked"]
    assert [e.key_type for e in listed if e.profile == "event-signing"] == ["ed25519"]
    assert len([e for e in listed if e.profile == "intermediate"]) == 2 and ca.current_intermediate().name == "CIM Intermediate CA G2"
    assert ca.verify_log().ok
    assert (ca.folder / "private/root.key.pem").read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")


def test_the_cli_works_on_the_demo_ca() -> None:
    folder = demo_root() / CA_FOLDER
    r = run_cli("pki", "list", "--dir", str(folder), "--expiring", "30d", "--format", "json")
    assert r.code == 0, r.err
    assert [e["node"] for e in json.loads(r.out)] == ["cim-prod-001-leaf.cim.example.com"]
    server = demo_root() / DEMO_TARGET / "etc/nats/certs/server-cert.pem"
    r = run_cli("pki", "verify", str(server), "--dir", str(folder), "--name", "cim-001.example.com")
    assert r.code == 0, r.out + r.err
    r = run_cli("pki", "log", "verify", "--dir", str(folder))
    # init, 2 intermediates, 5 issues and a renewal (each an intent and its completion), 2 revocations,
    # the retired intermediate's and the root's CRLs
    assert r.code == 0 and r.out.startswith("OK: 22 entries")
    assert DEMO_PASSPHRASE not in r.out
