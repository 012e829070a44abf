"""The pki-inventory collector against CA folders made by the real pki library (file keys)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from auditor._collectors import run_collector
from auditor._collectors.interface import CollectContext
from auditor._engine import evaluate_rules
from auditor._inventory.model import SourceSpec, Target
from auditor._models import Status
from auditor.evidence.kinds import data_errors
from auditor.evidence.record import Evidence, Record
from pki.backends import key_opener
from pki.backends.file import FileBackend
from pki.ca import CA
from tests.collecting import failure_of, plain_of
from tests.pki.conftest import secrets
from tests.rules.test_live_and_rotation_rules import production
from tests.rules.test_yubikey_and_pki_rules import HIGH

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DAY = dt.timedelta(days=1)


def collect(root: Path, now: dt.datetime = NOW, **options: Any) -> list[Record]:
    spec = SourceSpec("pki-inventory", "fleet-ca", True, options)
    target = Target(name="t", environment="test", policies=("p",), sources=(spec,), root=root)
    records = list(run_collector(CollectContext(target, spec, now)))
    for r in records:
        if isinstance(r, Evidence):
            assert data_errors(r.kind, r.plain) == [], (r.resource, data_errors(r.kind, r.plain))
    return records


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A CA with a rotated intermediate, a renewal, a revoked certificate left on the node."""
    root = tmp_path_factory.mktemp("fleet")
    ca = CA.init(root / "ca", "Test Root CA", FileBackend(root / "ca", secrets), organization="CIM",
                 not_before=NOW - 400 * DAY, now=NOW - 400 * DAY)
    opener = key_opener(ca.folder, secrets)
    ca.create_intermediate("Test Intermediate CA", opener, FileBackend(ca.folder, secrets),
                           permitted_dns=["example.com"], now=NOW - 390 * DAY, not_before=NOW - 390 * DAY)
    first = ca.current_serial
    ca.create_intermediate("Test Intermediate CA 2", opener, FileBackend(ca.folder, secrets),
                           permitted_dns=["example.com"], now=NOW - 100 * DAY, not_before=NOW - 100 * DAY)
    node = root / "node"
    (root / "out").mkdir()
    server = ca.issue("n1.example.com", "nats-server", opener, root / "out/server", dns=["n1.example.com"],
                      not_before=NOW - 70 * DAY, now=NOW - 70 * DAY)
    renewed = ca.renew(server.entry.serial, opener, root / "out/server", now=NOW - 3 * DAY)
    client = ca.issue("n1.example.com", "nats-client", opener, root / "out/client", now=NOW - 20 * DAY)
    ca.revoke(client.entry.serial, opener, reason="keyCompromise", now=NOW - 2 * DAY)
    node.mkdir()
    shutil.copy(root / "out/client/cert.pem", node / "old-client.pem")
    shutil.copy(root / "out/server/cert.pem", node / "server.pem")
    assert first is not None
    return root, {"first": first, "second": str(ca.current_serial), "old": server.entry.serial,
                  "server": renewed.entry.serial, "client": client.entry.serial}


def test_ca_record(fleet: tuple[Path, dict[str, str]]) -> None:
    root, serials = fleet
    records = collect(root, folders=["ca"], deployed=["node"])
    ca = plain_of(next(r for r in records if r.kind == "pki.ca"))
    assert ca is not None
    assert ca["current_intermediate"] == serials["second"]
    assert [i["serial"] for i in ca["intermediates"]] == [serials["first"], serials["second"]]
    rotation = ca["rotation"]
    assert rotation["previous"] == serials["first"] and rotation["bundle_complete"] is True
    assert 804 < rotation["overlap_days"] < 806  # 3-year intermediate (390 days old) replaced 100 days ago
    assert ca["log"]["verified"] is True and ca["log"]["events"]["renew"] == 1
    # the log records when the CA really signed (the wall clock), not the backdated validity
    assert dt.datetime.fromisoformat(ca["log"]["last_event"]["renew"]) >= NOW - dt.timedelta(minutes=5)
    assert ca["certificates"] == {"total": 6, "valid": 4, "expired": 0, "revoked": 1, "superseded": 1}
    crls = {c["issuer_serial"]: c for c in ca["crls"]}
    assert crls[serials["second"]]["present"] and crls[serials["second"]]["signature_valid"]
    assert crls[serials["second"]]["revoked"] == 1 and crls[serials["second"]]["hours_left"] > 24 * 25
    assert crls[serials["first"]]["hours_left"] < 0  # the retired intermediate's CRL was never refreshed


def test_certificate_records_and_the_deployed_join(fleet: tuple[Path, dict[str, str]]) -> None:
    root, serials = fleet
    certs = {r.plain["serial"]: r.plain for r in collect(root, folders=["ca"], deployed=["node"]) if isinstance(r, Evidence) and r.kind == "pki.certificate"}
    revoked = certs[serials["client"]]
    assert (revoked["state"], revoked["revocation_reason"], revoked["deployed"]) == ("revoked", "keyCompromise", ["node/old-client.pem"])
    renewed = certs[serials["server"]]
    assert renewed["replaces"] == serials["old"] and renewed["reused_key"] is False
    assert renewed["deployed"] == ["node/server.pem"] and 85 < renewed["days_left"] < 90
    assert certs[serials["old"]]["state"] == "superseded" and certs[serials["old"]]["deployed"] == []


def test_stale_crls_and_expired_certificates_later(fleet: tuple[Path, dict[str, str]]) -> None:
    root, serials = fleet
    records = collect(root, now=NOW + 120 * DAY, folders=["ca"])
    ca = plain_of(next(r for r in records if r.kind == "pki.ca"))
    assert ca["certificates"]["expired"] == 1  # the renewed 90-day server certificate
    assert {c["issuer_serial"]: c["hours_left"] < 0 for c in ca["crls"]}[serials["second"]] is True


def test_a_tampered_log_does_not_verify(fleet: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    root, _ = fleet
    copy = tmp_path / "ca"
    shutil.copytree(root / "ca", copy)
    lines = (copy / "log.jsonl").read_text().splitlines()
    entry = json.loads(lines[2])
    entry["node"] = "someone-else"
    lines[2] = json.dumps(entry, sort_keys=True, separators=(",", ":"))
    (copy / "log.jsonl").write_text("\n".join(lines) + "\n")
    ca = plain_of(next(r for r in collect(tmp_path, folders=["ca"]) if r.kind == "pki.ca"))
    assert ca["log"]["verified"] is False and "edited" in ca["log"]["problems"][0]


def test_the_inventory_is_opened_read_only(fleet: tuple[Path, dict[str, str]]) -> None:
    root, _ = fleet
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (root / "ca").rglob("*") if p.is_file()}
    collect(root, folders=["ca"], deployed=["node"])
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (root / "ca").rglob("*") if p.is_file()}
    assert before == after


def test_missing_or_broken_folders_are_error_records(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad/ca.json").write_text("{not json")
    records = collect(tmp_path, folders=["missing", "empty", "bad"], deployed=["nowhere"])
    errors = {r.resource: failure_of(r).error for r in records}
    assert all(errors[k] for k in ("missing", "empty", "bad", "nowhere"))
    assert "no such CA folder" in str(errors["missing"]) and "unreadable" in str(errors["bad"])
    kinds: dict[str, set[str]] = {}
    for r in records:
        kinds.setdefault(r.resource, set()).add(r.kind)
    # a CA folder that cannot be read leaves its certificates and their deployments unknown too, and a
    # deployed path that is missing the certificates deployed there: each kind's rules are undecided
    every = {"pki.ca", "pki.certificate", "pki.deployed"}
    assert kinds == {"missing": every, "empty": every, "bad": every, "nowhere": {"pki.certificate", "pki.deployed"}}


def test_a_missing_crl_is_reported(fleet: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    root, serials = fleet
    shutil.copytree(root / "ca", tmp_path / "ca")
    (tmp_path / "ca/crl" / f"{serials['second']}.pem").unlink()
    ca = plain_of(next(r for r in collect(tmp_path, folders=["ca"]) if r.kind == "pki.ca"))
    crl = {c["issuer_serial"]: c for c in ca["crls"]}[serials["second"]]
    assert (crl["present"], crl["problem"]) == (False, "no CRL")
    assert CA.open(tmp_path / "ca").name == ca["name"]


def test_the_ca_bundle_and_crls_are_read_within_the_limits(fleet: tuple[Path, dict[str, str]], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 18: the collector read ca-bundle.pem and the CRLs whole, FIFOs included (a hang).
    A FIFO, a file past file-bytes, a bundle past pem-certificates: an error record (not
    evaluated) naming the file, the limit and how to raise it; the rest is still collected."""
    root, serials = fleet
    shutil.copytree(root / "ca", tmp_path / "ca")
    crl = tmp_path / "ca/crl" / f"{serials['second']}.pem"
    crl.unlink()
    os.mkfifo(crl)
    records = collect(tmp_path, folders=["ca"])
    errors = {r.resource: str(failure_of(r).error) for r in records if not isinstance(r, Evidence)}
    assert "FIFO" in errors[f"ca/crl/{serials['second']}.pem"], errors
    ca = plain_of(next(r for r in records if isinstance(r, Evidence) and r.kind == "pki.ca"))
    assert {c["issuer_serial"]: c["present"] for c in ca["crls"]}[serials["second"]] is False

    crl.unlink()
    shutil.copy(root / "ca/crl" / f"{serials['second']}.pem", crl)
    monkeypatch.setenv("AUDITOR_LIMIT_FILE_BYTES", str(crl.stat().st_size - 1))
    errors = {r.resource: str(failure_of(r).error) for r in collect(tmp_path, folders=["ca"])
              if not isinstance(r, Evidence)}
    assert "over the file-bytes limit" in errors[f"ca/crl/{serials['second']}.pem"]
    assert "AUDITOR_LIMIT_FILE_BYTES=" in errors[f"ca/crl/{serials['second']}.pem"]

    monkeypatch.delenv("AUDITOR_LIMIT_FILE_BYTES")
    monkeypatch.setenv("AUDITOR_LIMIT_PEM_CERTIFICATES", "1")
    errors = {r.resource: str(failure_of(r).error) for r in collect(tmp_path, folders=["ca"])
              if not isinstance(r, Evidence)}
    assert "over the pem-certificates limit of 1 (raise it with AUDITOR_LIMIT_PEM_CERTIFICATES=2)" in \
        errors["ca/certs/ca-bundle.pem"], errors


def test_a_fifo_in_place_of_ca_json_is_an_error_record(fleet: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    root, _ = fleet
    shutil.copytree(root / "ca", tmp_path / "ca")
    (tmp_path / "ca/ca.json").unlink()
    os.mkfifo(tmp_path / "ca/ca.json")
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep/ca.json").write_text("[" * 100_000)
    errors = {r.resource: str(failure_of(r).error) for r in collect(tmp_path, folders=["ca", "deep"])}
    assert "FIFO" in errors["ca"] and "nested too deep" in errors["deep"], errors


def rogue(ca_dir: Path, folder: Path) -> x509.Certificate:
    """A certificate the intermediate's key signs outside `auditor pki` (a misused CA key)."""
    ca = CA.open(ca_dir)
    record = ca.current_intermediate()
    issuer = ca.certificate(record.serial)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rogue")]))
            .issuer_name(issuer.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - DAY).not_valid_after(NOW + 30 * DAY)
            .sign(key_opener(ca.folder, secrets)(record.key), hashes.SHA384()))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rogue.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert


def test_a_certificate_signed_outside_the_log_is_found(fleet: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    root, serials = fleet
    shutil.copytree(root / "node", tmp_path / "node")
    shutil.copytree(root / "ca", tmp_path / "ca")
    forged = rogue(tmp_path / "ca", tmp_path / "node")
    other = CA.init(tmp_path / "other", "Other Root", FileBackend(tmp_path / "other", secrets))
    (tmp_path / "node/foreign.pem").write_bytes((other.folder / "certs/root.pem").read_bytes())
    records = collect(tmp_path, folders=["ca"], deployed=["node"])
    deployed = {plain_of(r)["path"]: plain_of(r) for r in records if r.kind == "pki.deployed"}
    assert set(deployed) == {"node/rogue.pem", "node/server.pem", "node/old-client.pem", "node/foreign.pem"}
    assert deployed["node/rogue.pem"]["signed_by"] == serials["second"] and deployed["node/rogue.pem"]["in_log"] is False
    assert deployed["node/rogue.pem"]["serial"] == format(forged.serial_number, "x")
    assert (deployed["node/server.pem"]["in_log"], deployed["node/server.pem"]["status"]) == (True, "valid")
    assert (deployed["node/old-client.pem"]["in_log"], deployed["node/old-client.pem"]["status"]) == (True, "revoked")
    assert deployed["node/foreign.pem"]["signed_by"] is None
    # the rule: one critical finding, for the rogue certificate only
    policy = production()
    only = dataclasses.replace(policy, rules=tuple(r for r in policy.rules if r.id == "PKI-006"), waivers=())
    findings = evaluate_rules(only, records, target=HIGH, now=NOW).findings
    failed = [f for f in findings if f.status is Status.FAIL]
    assert len(failed) == 1 and "issued outside the CA's records" in failed[0].message
    assert failed[0].resource.startswith("node/rogue.pem")
    assert sorted(f.status.value for f in findings) == ["fail", "pass", "pass"]  # the foreign one is not ours to judge


def test_an_un_revoked_or_deleted_inventory_row_fails_the_log_check(fleet: tuple[Path, dict[str, str]],
                                                                     tmp_path: Path) -> None:
    root, serials = fleet
    shutil.copytree(root / "ca", tmp_path / "ca")
    db = sqlite3.connect(tmp_path / "ca/inventory.sqlite")
    with db:
        db.execute("UPDATE certificates SET status = 'valid', revocation_reason = NULL, revoked_at = NULL "
                   "WHERE serial = ?", (serials["client"],))
        db.execute("DELETE FROM certificates WHERE serial = ?", (serials["old"],))
    db.close()
    records = collect(tmp_path, folders=["ca"])
    ca = plain_of(next(r for r in records if r.kind == "pki.ca"))
    assert ca["log"]["verified"] is False
    problems = " | ".join(ca["log"]["problems"])
    assert f"serial {serials['client']}: un-revoked" in problems and f"serial {serials['old']}: deleted" in problems
    certs = {plain_of(r)["serial"]: plain_of(r) for r in records if r.kind == "pki.certificate"}
    assert certs[serials["client"]]["status"] == "revoked"  # the log's word, not the edited cache's
