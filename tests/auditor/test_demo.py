"""The embedded demo node: its planted problems are found, and everything else passes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from auditor._demo import demo_inventory, demo_root
from auditor._models import ScanResult, Status
from auditor._scan import scan_target

LEGACY = "etc/nats/certs/monitor-legacy.pem"
LEAF = "etc/nats/certs/leaf-client-cert.pem"
EXPORTER = "k8s/nats-exporter.yaml#0 Deployment/cim-production/nats-exporter"
EXPORTER_CONFIG = "k8s/nats-exporter.yaml#1 ConfigMap/cim-production/nats-exporter-config"
BACKUP = "k8s/jetstream-backup.yaml#0 CronJob/cim-production/jetstream-backup"
NATS_CONF = "etc/nats/nats.conf"
MONITOR_USER = "etc/nats/nats.conf user cim-monitor"
SSHD_CONFIG = "etc/ssh/sshd_config"

# (rule, resource) -> why it is planted
PLANTED = {
    ("CERT-001", LEGACY): "self-signed legacy certificate outside the PKI",
    ("CERT-004", LEGACY): "RSA-1024 key",
    ("CERT-005", LEGACY): "SHA-1 signature",
    ("CERT-006", LEGACY): "valid for 9000 days (waived until 2027-12-31)",
    ("CERT-007", LEGACY): "self-signed leaf (its waiver expired 2026-06-30)",
    ("CERT-022", LEGACY): "no authority key identifier (pkilint: an RFC 5280 error)",
    ("PKI-006", "etc/nats/certs/ops-client-cert.pem@../pki-ca"): "signed with the intermediate's key outside the CA's log",
    ("CERT-003", LEAF): "leafnode client certificate expires within 30 days",
    ("PSS-BASE-001", EXPORTER): "hostNetwork: true",
    ("PSS-BASE-003", EXPORTER + " container exporter"): "adds NET_ADMIN",
    ("PSS-BASE-004", EXPORTER + " volume host-nats"): "hostPath volume /etc/nats",
    ("PSS-RESTR-001", EXPORTER + " volume host-nats"): "hostPath is not a restricted volume type",
    ("PSS-RESTR-002", EXPORTER + " container exporter"): "allowPrivilegeEscalation unset",
    ("PSS-RESTR-003", EXPORTER + " container exporter"): "runAsNonRoot unset",
    ("PSS-RESTR-004", EXPORTER + " container exporter"): "runAsUser: 0",
    ("PSS-RESTR-005", EXPORTER + " container exporter"): "no seccomp profile",
    ("PSS-RESTR-006", EXPORTER + " container exporter"): "capabilities not dropped, NET_ADMIN added",
    ("K8S-003", EXPORTER + " container exporter"): "runs as UID 0",
    ("K8S-004", EXPORTER + " container exporter"): "writable root filesystem",
    ("K8S-005", EXPORTER + " container exporter"): "no resource requests",
    ("K8S-006", EXPORTER + " container exporter"): "no resource limits",
    ("K8S-007", EXPORTER): "default service account with its API token mounted",
    ("K8S-008", EXPORTER + " container exporter"): "image natsio/prometheus-nats-exporter:latest, no digest",
    ("K8S-011", EXPORTER + " volume host-nats"): "hostPath /etc/nats mounted writable",
    ("K8S-010", EXPORTER_CONFIG + " data.NATS_PASSWORD"): "NATS_PASSWORD in a ConfigMap",
    ("K8S-009", BACKUP + " container upload"): "backup encryption passphrase as a literal env value",
    ("KEY-001", LEAF): "leafnode client certificate issued 82 days ago: the 60-day rotation was missed",
    ("KEY-003", "var/lib/cim/gnupg#Legacy Deploy <deploy-legacy@cim.example.com>"): "GnuPG key without expiry",
    ("KEY-005", "https://vault.cim.example.com:8200 secret/cim-prod-001/db/password"): "Vault secret not rotated for 200 days (recorded)",
    ("CERT-015", "metrics.cim-prod-001.cim.example.com:9443"): "metrics endpoint accepts TLS 1.1 (recorded)",
    ("NATS-003", MONITOR_USER): "cim-monitor has a plaintext password (users.conf)",
    ("NATS-006", MONITOR_USER): "cim-monitor (not an admin) may subscribe to $SYS.>",
    ("NATS-019", NATS_CONF): "monitoring on 0.0.0.0:8222 over plain HTTP",
    ("NATS-030", "etc/nats/leaf.creds"): "the leafnode user JWT never expires (nsc's default)",
    ("SEC-001", "home/cim/.bash_history:5:23"): "NATS user nkey seed exported in .bash_history",
    ("SEC-003", "home/cim/backup/deploy_ed25519:1:1"): "unencrypted OpenSSH deploy key copied world-readable into ~/backup",
    ("SEC-005", "etc/cim/agent.env:6:13"): "Vault token in the agent's EnvironmentFile",
    ("SEC-006", "etc/cim/agent.env:7:19"): "Anthropic API key in the agent's EnvironmentFile",
    ("SEC-007", "etc/nats/users.conf:15:16"): "cim-monitor's plaintext password in nats.conf",
    ("SEC-007", "etc/nixos/monitoring.nix:18:41"): "Grafana admin password in monitoring.nix (ends up in the Nix store)",
    ("SEC-007", "k8s/nats-exporter.yaml:36:19"): "NATS password in a ConfigMap",
    ("SEC-007", "k8s/jetstream-backup.yaml:49:27"): "the backup passphrase as an env entry's value (name, then value)",
    ("SEC-008", "var/log/cim/agent.log:3:65"): "hub password inside a NATS URL in the agent log",
    ("SEC-009", "home/cim/.bash_history:5:23"): "the nkey seed in shell history",
    ("SEC-009", "var/log/cim/agent.log:3:65"): "the URL password in the agent log",
    ("SEC-009", "var/log/cim/agent.log:5:124"): "the bearer JWT in the agent log",
    ("SEC-010", "var/log/cim/agent.log:5:124"): "unexpired bearer JWT logged in a request header",
    ("SEC-011", "etc/cim/agent.env:8:26"): "high-entropy ALCHEMIST_SIGNING_SECRET in the EnvironmentFile",
    ("SEC-012", "secrets/secrets.yaml:3:9"): "sops file holds nats.leaf.creds in plaintext",
    ("SOPS-003", "secrets/secrets.yaml"): "nats.leaf.creds not matched by encrypted_regex: plaintext",
    ("SOPS-006", "secrets/legacy.env"): "still encrypted to a departed admin's PGP key",
    ("SOPS-008", "secrets/monitoring.json"): "mac_only_encrypted: plaintext values unauthenticated",
    ("SOPS-009", "secrets/legacy.env"): "data key 420 days old",
    ("SOPS-010", "secrets/legacy.env"): "PGP wrapping 420 days old",
    ("YUBI-003", "yubikey:31234567/9d"): "the node token's 9d key (imported) has PIN policy never (recorded)",
    ("YUBI-005", "yubikey:19876543"): "the signing CA's YubiKey runs firmware 5.4.3, inside YSA-2024-03 (recorded)",
    ("HOST-003", SSHD_CONFIG): "a Match block for the maintenance VPN turns password login back on",
    ("HOST-010", SSHD_CONFIG): "PubkeyAcceptedAlgorithms +ssh-rsa for a legacy deploy tool (SHA-1 signatures)",
    ("HOST-012", "home/cim/.ssh/authorized_keys#SHA256:qchibn7fVLYk14+/kPfRsNzZYZdClVVm/ud8yGuxD3I"): "an RSA-2048 operator key",
    ("HOST-014", "var/lib/cim-agent/.ssh/authorized_keys#SHA256:NXp3hl/usurntFzHpiOv3Z5PsoWcVavEZZ9rl52bZBY"): "a CI deploy key on the cim-agent service account",
    ("HOST-017", "tcp/0.0.0.0:8222"): "NATS monitoring listens on 0.0.0.0 and the firewall admits it; not in vars.host_ports",
    ("HOST-017", "tcp/0.0.0.0:9100"): "a node exporter admitted by a rule added by hand",
    ("HOST-020", "mandatory access control"): "the cim-agent AppArmor profile only complains",
    ("HOST-021", "etc/os-release"): "NixOS 23.11, below the checklist's 24.05",
    ("HOST-025", "cim-agent.service"): "cim-agent.service unsandboxed: systemd-analyze exposure 9.0 (recorded)",
    ("HOST-026", "account cim-agent"): "the cim-agent service account has a login shell",
    ("HOST-029", "var/lib/cim"): "CIM state on an unencrypted partition (/dev/vda3)",
    ("HOST-030", "etc/nixos/configuration.nix networking.firewall.allowedTCPPorts"): "the running firewall admits 9100, which configuration.nix does not declare",
}
# planted in the demo's CA folder, whose serials are new at each materialisation: (rule, node, profile)
PLANTED_IN_CA = {
    ("PKI-003", "cim-001.example.com", "nats-client"): "a client certificate revoked for keyCompromise is still in etc/nats/certs",
    ("PKI-004", "cim-prod-001-leaf.cim.example.com", "nats-leaf"): "the CA's view of the leafnode certificate expiring within 30 days",
}


def planted() -> dict[tuple[str, str], str]:
    """PLANTED with the CA-folder plants named as the pki-inventory source names them."""
    from auditor._demo.build import CA_FOLDER
    from pki.ca import CA

    entries = list(CA.open(demo_root() / CA_FOLDER).list())
    out = dict(PLANTED)
    for (rule, node, profile), why in PLANTED_IN_CA.items():
        (entry,) = [e for e in entries if e.node == node and e.profile == profile]
        out[(rule, f"../{CA_FOLDER}#{entry.serial}")] = why
    return out


@pytest.fixture(scope="module")
def result() -> ScanResult:
    target = demo_inventory().target("cim-prod-001")
    return scan_target(target)[1]


def test_planted_problems_are_found(result: ScanResult) -> None:
    flagged = {(f.rule_id, f.resource): f for f in result.findings if f.status in (Status.FAIL, Status.WAIVED)}
    assert set(flagged) == set(planted())
    today = dt.datetime.now(dt.UTC).date()
    waived = flagged[("CERT-006", LEGACY)]
    expected = Status.WAIVED if today <= dt.date(2027, 12, 31) else Status.FAIL
    assert waived.status is expected
    assert flagged[("CERT-007", LEGACY)].status is Status.FAIL
    assert any(w.waiver.rule == "CERT-007" for w in result.expired_waivers)


def test_everything_else_passes(result: ScanResult) -> None:
    expected = planted()
    others = [f for f in result.findings if (f.rule_id, f.resource) not in expected]
    assert others, "the demo must exercise passing checks too"
    bad = [(f.rule_id, f.resource, f.status.value, f.message) for f in others if f.status is not Status.PASS]
    assert bad == []
    assert result.collection_errors == ()


def test_yubikey_attestation_rules_on_the_demo_devices(result: ScanResult) -> None:
    """The demo's software cards keep their own test root (recorded through `attestation_roots`):
    the CA token's 9c key was generated and attested on it, and both f9 certificates chain to the
    cards' root, so YUBI-002 and YUBI-012 pass; shipping Yubico's roots changes nothing there."""
    got = {(f.rule_id, f.resource): f.status for f in result.findings if f.rule_id in ("YUBI-002", "YUBI-012")}
    assert got == {("YUBI-002", "yubikey:19876543/9c"): Status.PASS, ("YUBI-012", "yubikey:19876543"): Status.PASS,
                   ("YUBI-012", "yubikey:31234567"): Status.PASS}
    import json

    recorded = json.loads((demo_root() / "cim-prod-001/var/lib/auditor/recorded/yubikeys.json").read_text())
    chains = [r["data"].get("attestation") or r["data"]["attestation_ca"]
              for r in recorded["records"] if r["kind"] in ("yubikey.device", "yubikey.slot")]
    roots = [c["root"] for c in chains if c and c.get("present", True) and c["status"] == "valid"]
    assert len(roots) >= 4 and set(roots) == {"CN=SoftPIV Test Attestation Root (not Yubico)"}


def test_every_rule_of_the_production_pack_is_exercised(result: ScanResult) -> None:
    from auditor._policy.catalog import Catalog

    inventory = demo_inventory()
    catalog = Catalog.load(inventory.rule_paths, inventory.policy_paths)
    selected = {e.id for e in catalog.resolve(["cim-production"]).rules}
    evaluated = {f.rule_id for f in result.findings if f.status in (Status.PASS, Status.FAIL, Status.WAIVED)}
    assert selected <= evaluated, f"rules the demo does not exercise: {sorted(selected - evaluated)}"


def test_materialised_tree_is_reused_and_keys_are_private() -> None:
    first = demo_root()
    assert demo_root() == first
    for key in (first / "cim-prod-001/etc/nats/certs").glob("*key*.pem"):
        assert key.stat().st_mode & 0o777 == 0o600, key


def test_stale_tree_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.setenv("AUDITOR_CACHE_DIR", str(tmp_path))
    first = demo_root()
    old_cert = (first / "cim-prod-001/etc/nats/certs/server-cert.pem").read_bytes()
    stamp = first / ".built"
    past = stamp.stat().st_mtime - 2 * 86400
    os.utime(stamp, (past, past))
    again = demo_root()
    assert again == first
    assert (again / "cim-prod-001/etc/nats/certs/server-cert.pem").read_bytes() != old_cert
    assert not any(p.name.startswith((".build-", ".old-")) for p in tmp_path.joinpath("demo").iterdir())


def test_a_tree_a_power_cut_left_with_empty_files_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The build is not forced to disk (a staging tree published by one rename); files a power
    cut caught unwritten come back empty, and such a tree is built again, not scanned."""
    monkeypatch.setenv("AUDITOR_CACHE_DIR", str(tmp_path))
    first = demo_root()
    cert = first / "cim-prod-001/etc/nats/certs/server-cert.pem"
    old = cert.read_bytes()
    cert.write_bytes(b"")
    assert demo_root() == first
    assert cert.read_bytes() not in (b"", old)


def test_a_tree_a_power_cut_left_with_a_torn_file_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file of several pages may come back from a power cut cut short, not empty (its size on
    disk follows the pages written back): the CA's log and SQLite inventory are such files, and
    a tree holding a torn one is built again, not scanned."""
    monkeypatch.setenv("AUDITOR_CACHE_DIR", str(tmp_path))
    first = demo_root()
    log = first / "pki-ca/log.jsonl"
    whole = log.read_bytes()
    assert len(whole) > 8192
    log.write_bytes(whole[:4096])
    monkeypatch.setattr("auditor._demo._checked", {})  # another process, after the power cut
    assert demo_root() == first
    assert len(log.read_bytes()) > 4096


def test_the_build_lints_the_certificates_ahead(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The process building the demo (which has pkilint loaded: the CA lints before it signs)
    remembers pkilint's findings on the node's certificates, so the scan lints none itself."""
    from auditor._scan import collect_sources
    from auditor.evidence.kinds.x509 import X509Certificate
    from auditor.evidence.record import Evidence

    monkeypatch.setenv("AUDITOR_CACHE_DIR", str(tmp_path))
    demo_root()
    target = demo_inventory().target("cim-prod-001")
    linted: list[str] = []
    monkeypatch.setattr("pki.lint.lint", lambda cert, issuer=None: linted.append(cert.subject.rfc4514_string()))
    sources = [s for s in target.sources if s.collector == "certificates"]
    records = collect_sources(target, sources, dt.datetime.now(dt.UTC))
    assert sources and len(records) >= 8 and linted == []
    assert all(isinstance(r, Evidence) and isinstance(r.data, X509Certificate) for r in records), records
    assert all(r.data.lint.linter.startswith("pkilint") for r in records
               if isinstance(r, Evidence) and isinstance(r.data, X509Certificate))


def test_one_problem_many_rule_hits(result: ScanResult) -> None:
    """The demo's failures grouped by the rules' correlation keys: one hostPath mount, one UID 0,
    one seed, one certificate each make one problem with several rule hits."""
    groups = {(p.primary.resource, tuple(sorted(f.rule_id for f in p.findings))) for p in result.problems}
    assert (EXPORTER + " volume host-nats", ("K8S-011", "PSS-BASE-004", "PSS-RESTR-001")) in groups
    assert (EXPORTER + " container exporter", ("K8S-003", "PSS-RESTR-004")) in groups
    assert ("home/cim/.bash_history:5:23", ("SEC-001", "SEC-009")) in groups
    assert (LEGACY, ("CERT-001", "CERT-004", "CERT-005", "CERT-007")) in groups
    assert (BACKUP + " container upload", ("K8S-009", "SEC-007")) in groups  # one env value, two views
    hits = [f.id for p in result.problems for f in p.findings]
    assert sorted(hits) == sorted(f.id for f in result.findings if f.status is Status.FAIL)
    assert result.summary.problems == len(result.problems) < result.summary.rule_hits == len(hits)


def test_the_leaf_certificate_counts_the_same_days_everywhere(result: ScanResult) -> None:
    import re

    leaf = [f for f in result.findings if f.rule_id in ("CERT-003", "PKI-004") and f.status is Status.FAIL
            and "cim-prod-001-leaf" in f.message]
    days = {f.rule_id: re.findall(r"in (\d+) days", f.message) for f in leaf}
    assert set(days) == {"CERT-003", "PKI-004"} and days["CERT-003"] == days["PKI-004"], days
