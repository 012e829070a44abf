"""Each yubikey, pki and new key-rotation rule: a compliant record passes, a flawed one fails.

YubiKey samples start from the demo's recording (what the real collector produced from the
software PIV cards); every sample is checked against its kind's schema first.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

from auditor._engine import evaluate_rules
from auditor._models import Status
from auditor.evidence.kinds import data_errors
from tests.collecting import evidence
from tests.record_demo import DEFAULT_FOLDER
from tests.rules.test_live_and_rotation_rules import NOW, ago, merge, production

HIGH = {"name": "n", "environment": "production", "tags": ["high-security"], "names": [],
        "vars": {"yubikey_serials": [31234567, 19876543]}}


def judge(rule_id: str, kind: str, items: list[dict[str, Any]], target: dict[str, Any] = HIGH) -> Status:
    for data in items:
        assert data_errors(kind, data) == [], (rule_id, data_errors(kind, data)[:2])
    policy = production()
    only = dataclasses.replace(policy, rules=tuple(r for r in policy.rules if r.id == rule_id), waivers=())
    assert only.rules, f"{rule_id} is not in cim-production"
    records = [evidence(kind, d, resource=f"r{i}") for i, d in enumerate(items)]
    (finding,) = evaluate_rules(only, records, target=target, now=NOW).findings
    assert finding.status in (Status.PASS, Status.FAIL), finding.message
    return finding.status


@cache
def recorded() -> dict[str, dict[str, Any]]:
    doc = json.loads((DEFAULT_FOLDER / "yubikeys.json").read_text())
    return {r["resource"]: r["data"] for r in doc["records"]}


def yk(resource: str, **over: Any) -> dict[str, Any]:
    return merge(recorded()[resource], over)


def ca_slot(**over: Any) -> dict[str, Any]:
    return yk("yubikey:19876543/9c", **over)


def device(**over: Any) -> dict[str, Any]:
    return yk("yubikey:31234567", **over)


def pki_ca(**over: Any) -> dict[str, Any]:
    cacert = {"serial": "a1", "subject": "CN=I", "not_before": ago(200), "not_after": ago(-895), "days_left": 895.0,
              "current": True, "key": {"backend": "file", "key_type": "ecdsa-p384"}}
    data = {
        "folder": "ca", "name": "CIM Root CA", "root": {**cacert, "current": False, "serial": "r"},
        "intermediates": [{**cacert, "serial": "a0", "current": False, "days_left": 705.0}, cacert],
        "current_intermediate": "a1",
        "rotation": {"previous": "a0", "overlap_days": 905.0, "bundle_complete": True, "bundle_missing": []},
        "log": {"entries": 13, "verified": True, "problems": [], "notes": [], "events": {"renew": 1}, "last_event": {"renew": ago(5)}},
        "crls": [{"issuer_serial": "a1", "issuer": "CN=I", "issuer_expired": False, "present": True, "signature_valid": True,
                  "number": 3, "this_update": ago(3), "next_update": ago(-27), "hours_left": 648.0, "revoked": 2, "problem": None}],
        "certificates": {"total": 9, "valid": 6, "expired": 0, "revoked": 2, "superseded": 1},
        "valid_key_types": {"ecdsa-p256": 3, "ed25519": 1},
    }
    return merge(data, over)


def pki_cert(**over: Any) -> dict[str, Any]:
    data = {"serial": "5f", "node": "cim-001.example.com", "profile": "nats-server", "subject": "CN=cim-001",
            "sans": {"dns": ["cim-001.example.com"], "ip": []}, "issuer": "CN=I", "issuer_serial": "a1",
            "not_before": ago(5), "not_after": ago(-85), "key_type": "ecdsa-p256", "key_fingerprint": "0" * 64,
            "status": "valid", "state": "valid", "revocation_reason": None, "revoked_at": None, "issued_at": ago(5),
            "replaces": "4e", "ca": "CIM Root CA", "days_left": 85.0, "reused_key": False, "deployed": ["etc/nats/certs/server-cert.pem"]}
    return merge(data, over)


def deployed(**over: Any) -> dict[str, Any]:
    data = {"path": "etc/nats/certs/server-cert.pem", "ca": "pki-ca", "serial": "5f", "subject": "CN=cim-001",
            "issuer": "CN=I", "not_after": ago(-85), "signed_by": "a1", "signed_by_subject": "CN=I", "in_log": True,
            "status": "valid"}
    return merge(data, over)


Maker = Callable[..., dict[str, Any]]
REVOKED = {"status": "revoked", "state": "revoked", "revoked_at": ago(3), "revocation_reason": "keyCompromise"}
CASES: list[tuple[str, str, Maker, dict[str, Any]]] = [
    ("YUBI-002", "yubikey.slot", ca_slot, {"attestation": {"serial_matches": False}}),
    ("YUBI-003", "yubikey.slot", lambda **o: yk("yubikey:31234567/9a", **o), {"pin_policy": "never"}),
    ("YUBI-004", "yubikey.slot", ca_slot, {"touch_policy": "never"}),
    ("YUBI-005", "yubikey.device", device, {"firmware": "5.6.1"}),
    ("YUBI-006", "yubikey.device", device, {"pin": {"attempts_remaining": 1}}),
    ("YUBI-007", "yubikey.device", device, {"puk": {"default": True}}),
    ("YUBI-008", "yubikey.device", device, {"management_key": {"default": True}}),
    ("YUBI-009", "yubikey.slot", ca_slot, {"certificate_matches_key": False}),
    ("YUBI-010", "yubikey.slot", ca_slot, {"certificate": {"not_after": ago(-10)}}),
    ("YUBI-011", "yubikey.slot", ca_slot, {"key": {"algorithm": "rsa-1024"}}),
    ("YUBI-012", "yubikey.device", device, {"attestation_ca": {"status": "invalid", "valid": False, "problem": "untrusted"}}),
    ("PKI-001", "pki.ca", pki_ca, {"log": {"verified": False, "problems": ["line 3 (seq 3): edited"]}}),
    ("PKI-002", "pki.ca", pki_ca, {"crls": [{"issuer_serial": "a1", "issuer": "CN=I", "issuer_expired": False,
                                             "present": True, "signature_valid": True, "number": 3, "this_update": ago(40),
                                             "next_update": ago(10), "hours_left": -240.0, "revoked": 0, "problem": None}]}),
    ("PKI-003", "pki.certificate", lambda **o: pki_cert(**{**REVOKED, "deployed": [], **o}),
     {"deployed": ["etc/nats/certs/backup-client-cert.pem"]}),
    ("PKI-004", "pki.certificate", pki_cert, {"days_left": 8.0, "not_after": ago(-8)}),
    ("KEY-008", "pki.ca", pki_ca, {"rotation": {"overlap_days": 10.0}}),
    ("KEY-009", "pki.ca", pki_ca, {"intermediates": [{"serial": "a1", "subject": "CN=I", "not_before": ago(1000),
                                                      "not_after": ago(-95), "days_left": 95.0, "current": True,
                                                      "key": {"backend": "file"}}]}),
    ("KEY-010", "pki.certificate", pki_cert, {"reused_key": True}),
    ("KEY-011", "pki.ca", pki_ca, {"log": {"last_event": {"renew": ago(200)}}}),
    ("PKI-006", "pki.deployed", deployed, {"in_log": False, "status": None}),
]


@pytest.mark.parametrize(("rule_id", "kind", "make", "flaw"), CASES, ids=[c[0] for c in CASES])
def test_compliant_passes_and_flawed_fails(rule_id: str, kind: str, make: Maker, flaw: dict[str, Any]) -> None:
    assert judge(rule_id, kind, [make()]) is Status.PASS
    assert judge(rule_id, kind, [make(**flaw)]) is Status.FAIL


def outcome(rule_id: str, kind: str, data: dict[str, Any]) -> tuple[Status, str]:
    assert data_errors(kind, data) == [], data_errors(kind, data)[:2]
    policy = production()
    only = dataclasses.replace(policy, rules=tuple(r for r in policy.rules if r.id == rule_id), waivers=())
    record = evidence(kind, data)
    (finding,) = evaluate_rules(only, [record], target=HIGH, now=NOW).findings
    return finding.status, finding.message


NOT_CHECKED = {"status": "no-trusted-root", "valid": False, "root": None,
               "problem": "no trusted Yubico attestation root is installed for 'CN=Yubico PIV Root CA Serial 263751' "
                          "(not checked); download ... AUDITOR_YUBICO_ROOTS ..."}


def test_an_attestation_no_installed_root_can_check_is_an_error_never_a_pass() -> None:
    status, message = outcome("YUBI-002", "yubikey.slot", ca_slot(attestation=NOT_CHECKED, generated_on_device=None))
    assert status is Status.ERROR
    assert message.startswith("YubiKey 19876543 slot 9c: the CA key's attestation could not be checked (no trusted Yubico ")
    assert "AUDITOR_YUBICO_ROOTS" in message
    # whatever the roots, an attestation naming another device or key is a failure
    other = ca_slot(attestation={**NOT_CHECKED, "serial_matches": False}, generated_on_device=False)
    assert outcome("YUBI-002", "yubikey.slot", other)[0] is Status.FAIL
    status, message = outcome("YUBI-012", "yubikey.device", device(attestation_ca=NOT_CHECKED))
    assert status is Status.ERROR and "f9 attestation certificate could not be checked" in message


def test_the_demo_recording_holds_its_planted_yubikey_problems() -> None:
    assert judge("YUBI-003", "yubikey.slot", [recorded()["yubikey:31234567/9d"]]) is Status.FAIL
    assert judge("YUBI-005", "yubikey.device", [recorded()["yubikey:19876543"]]) is Status.FAIL


@pytest.mark.parametrize(("firmware", "form_factor", "fips", "affected"), [
    ("5.4.3", "usb-a-keychain", False, True), ("5.7.0", "usb-a-keychain", False, False),
    ("5.7.1", "usb-c-bio", False, True), ("5.7.2", "usb-c-bio", False, False),
    ("4.3.4", "usb-a-keychain", False, True), ("4.3.5", "usb-a-keychain", False, False),
    ("4.4.4", "usb-a-keychain", True, True), ("4.4.4", "usb-a-keychain", False, False),
])
def test_advisory_ranges(firmware: str, form_factor: str, fips: bool, affected: bool) -> None:
    status = judge("YUBI-005", "yubikey.device", [device(firmware=firmware, form_factor=form_factor, fips=fips)])
    assert status is (Status.FAIL if affected else Status.PASS)


def test_required_serials_on_high_security_nodes() -> None:
    presence = {"source": "pcsc", "count": 2, "serials": [19876543, 31234567], "without_serial": 0}
    assert judge("YUBI-001", "yubikey.presence", [presence]) is Status.PASS
    missing = {**presence, "count": 1, "serials": [31234567]}
    assert judge("YUBI-001", "yubikey.presence", [missing]) is Status.FAIL
    anyone = {**HIGH, "vars": {}}
    assert judge("YUBI-001", "yubikey.presence", [missing], anyone) is Status.PASS
    assert judge("YUBI-001", "yubikey.presence", [{**presence, "count": 0, "serials": []}], anyone) is Status.FAIL


def test_ed25519_signing_keys_over_the_inventory() -> None:
    signing = pki_cert(profile="event-signing", key_type="ed25519", replaces=None, reused_key=None)
    assert judge("PKI-005", "pki.certificate", [pki_cert(), signing]) is Status.PASS
    assert judge("PKI-005", "pki.certificate", [signing, pki_cert(profile="event-signing", serial="60")]) is Status.FAIL



def test_every_yubikey_pki_and_rotation_rule_has_a_case() -> None:
    ids = {r.id for r in production().rules if r.id.startswith(("YUBI-", "PKI-", "KEY-"))}
    covered = {c[0] for c in CASES} | {"YUBI-001", "PKI-005"}
    assert {i for i in ids if not i.startswith("KEY-") or int(i[4:]) >= 8} == covered
