"""Each certificate, key-rotation, gpg and vault rule of issue 4: a compliant record passes and
a flawed one fails. Every record is first checked against its kind's schema, so the samples
are shaped like what the collectors produce."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

from auditor._engine import evaluate_rules
from auditor._models import Status
from auditor._policy.catalog import Catalog, ResolvedPolicy
from auditor.evidence.kinds import data_errors
from tests.collecting import evidence

NOW = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)
TARGET = {"name": "n", "environment": "production", "tags": [], "names": [], "vars": {}}


def ago(days: float) -> str:
    return (NOW - dt.timedelta(days=days)).isoformat().replace("+00:00", "Z")


@cache
def production() -> ResolvedPolicy:
    return Catalog.load([], []).resolve(["cim-production"])


def judge(rule_id: str, kind: str, data: dict[str, Any]) -> Status:
    assert data_errors(kind, data) == [], (rule_id, data_errors(kind, data)[:2])
    policy = production()
    only = dataclasses.replace(policy, rules=tuple(r for r in policy.rules if r.id == rule_id), waivers=())
    assert only.rules, f"{rule_id} is not in cim-production"
    record = evidence(kind, data)
    (finding,) = evaluate_rules(only, [record], target=TARGET, now=NOW).findings
    assert finding.status in (Status.PASS, Status.FAIL), finding.message
    return finding.status


def cert(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "path": "c.pem", "index": 0, "encoding": "pem", "subject": "CN=n", "subject_cn": "n", "issuer": "CN=I",
        "serial": "ab", "serial_bits": 159, "version": 3, "not_before": ago(5), "not_after": ago(-85),
        "lifetime_days": 90.0, "fingerprint_sha256": "0" * 64, "self_issued": False, "self_signed": False,
        "key": {"type": "ec", "size": 256, "curve": "secp256r1", "spki_sha256": "0" * 64},
        "signature": {"algorithm": "ecdsa-with-SHA256", "oid": "1.2.840.10045.4.3.2", "hash": "sha256"},
        "is_ca": False, "path_length": None, "basic_constraints_critical": True,
        "key_usage": ["digitalSignature"], "extended_key_usage": ["serverAuth", "clientAuth"],
        "san": {"dns": ["n.example.com"], "ip": [], "email": [], "uri": []}, "name_constraints": None,
        "subject_key_id": None, "authority_key_id": None, "extensions": [],
        "chain": {"status": "valid", "error": None, "path": [], "anchor": None, "is_anchor": False},
        "lint": {"linter": "pkilint 0.13.3", "errors": [], "warnings": [], "notices": []},
    }
    return merge(data, over)


FILE_ONLY = ("path", "index", "encoding", "chain", "lint")
"""Fields of x509.certificate that the certificate facts other kinds embed do not have."""


def ca(**over: Any) -> dict[str, Any]:
    return cert(**{
        "subject": "CN=I", "issuer": "CN=R", "is_ca": True, "path_length": 0, "key_usage": ["keyCertSign", "cRLSign"],
        "extended_key_usage": [], "not_before": ago(200), "not_after": ago(-900),
        "name_constraints": {"critical": True, "permitted_dns": ["example.com"], "excluded_dns": [], "permitted_ip": [], "excluded_ip": []},
        **over,
    })


def endpoint(**over: Any) -> dict[str, Any]:
    leaf = {k: v for k, v in cert().items() if k not in FILE_ONLY}
    data: dict[str, Any] = {
        "host": "10.0.3.21", "port": 4222, "name": "n.example.com", "protocol": "nats", "role": "nats-client",
        "nats": {"info_before_tls": True, "handshake_first": False, "server_name": "n", "version": "2.15.1",
                 "tls_required": True, "tls_available": False, "tls_verify": True, "auth_required": True},
        "tls_offered": True,
        "handshake": {"completed": True, "version": "TLSv1.3", "cipher": "TLS_AES_128_GCM_SHA256", "error": None},
        "client_certificate": {"requested": True, "acceptable_cas": ["CN=R"]},
        "presented": [leaf],
        "validation": {"status": "valid", "error": None, "name": "n.example.com", "path": [], "anchor": "CN=R"},
        "versions": {"TLSv1": "refused", "TLSv1.1": "refused", "TLSv1.2": "accepted", "TLSv1.3": "accepted"},
        "accepted_versions": ["TLSv1.2", "TLSv1.3"],
        "weak_ciphers": {"outcome": "refused", "cipher": None, "offered": 40},
        "problems": [],
    }
    return merge(data, over)


def gpg_key(**over: Any) -> dict[str, Any]:
    def part(**o: Any) -> dict[str, Any]:
        base = {"keyid": "K", "fingerprint": "F", "algorithm": "eddsa", "size": 255, "curve": "ed25519",
                "created": ago(30), "expires": ago(-335), "capabilities": ["sign"], "validity": "ultimate", "secret_present": True}
        return {**base, **o}

    data = {
        "found_in": "gnupg", "location": "gnupg/pubring.kbx", **part(capabilities=["certify"], created=ago(300), expires=ago(-430), secret_present=False),
        "usable_capabilities": ["certify", "sign", "encrypt"], "revoked": False, "user_ids": ["Ops <ops@example.com>"],
        "subkeys": [part(keyid="S1"), part(keyid="E1", algorithm="ecdh", curve="cv25519", capabilities=["encrypt"])],
    }
    return merge(data, over)


def vault_server(**over: Any) -> dict[str, Any]:
    data = {
        "address": "https://v:8200", "version": "2.7.2", "cluster_name": "c", "initialized": True, "sealed": False,
        "seal_type": "shamir", "storage_type": "raft", "standby": False, "server_time": ago(0),
        "audit_devices": [{"path": "file/", "type": "file", "description": "", "local": False, "file_path": "/var/log/a.log", "mode": "0600"}],
        "auth_methods": [], "mounts": [], "unreadable": [],
    }
    return merge(data, over)


def role(**over: Any) -> dict[str, Any]:
    flags = dict.fromkeys(["allow_any_name", "allow_glob_domains", "allow_bare_domains", "allow_localhost", "allow_ip_sans",
                           "allow_wildcard_certificates", "code_signing_flag", "no_store"], False)
    return {"name": "nats-server", **flags, "allow_subdomains": True, "enforce_hostnames": True, "server_flag": True,
            "client_flag": True, "allowed_domains": ["cim.example.com"], "key_type": "ec", "key_bits": 256,
            "ttl": 2160 * 3600, "max_ttl": 2160 * 3600, **over}


def vault_pki(**over: Any) -> dict[str, Any]:
    data = {
        "mount": "pki", "ca": {k: v for k, v in ca().items() if k not in FILE_ONLY},
        "roles": [role()],
        "crl": {"disabled": False, "expiry": 259200, "auto_rebuild": True, "ocsp_disabled": False},
        "tidy": {"state": "Finished", "error": None, "time_finished": ago(1), "last_auto_tidy_finished": ago(1)},
        "auto_tidy": {"enabled": True, "interval": 43200, "tidy_cert_store": True, "tidy_revoked_certs": True},
        "unreadable": [],
    }
    return merge(data, over)


def kv(**over: Any) -> dict[str, Any]:
    data = {"mount": "secret", "path": "nats/creds", "current_version": 3, "oldest_version": 0, "versions": 3, "max_versions": 0,
            "created_time": ago(400), "updated_time": ago(10), "current_created_time": ago(10), "current_deleted": False,
            "delete_version_after": 0, "custom_metadata_keys": []}
    return merge(data, over)


def token(**over: Any) -> dict[str, Any]:
    data = {"display_name": "approle-auditor", "accessor": "abcd…(sha256:0123456789ab)", "policies": ["auditor", "default"],
            "type": "service", "ttl": 3000, "creation_ttl": 3600, "explicit_max_ttl": 0, "creation_time": ago(0.01),
            "expire_time": ago(-0.04), "renewable": True, "orphan": False, "num_uses": 0}
    return merge(data, over)


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and not value.get("__replace__"):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def leaf_over(**o: Any) -> dict[str, Any]:
    leaf = {k: v for k, v in cert(**o).items() if k not in FILE_ONLY}
    return {"presented": [leaf]}


Maker = Callable[..., dict[str, Any]]
CASES: list[tuple[str, str, Maker, dict[str, Any]]] = [
    ("CERT-009", "x509.certificate", cert, {"extended_key_usage": []}),
    ("CERT-009", "x509.certificate", cert, {"extended_key_usage": ["serverAuth", "codeSigning"]}),
    ("CERT-010", "x509.certificate", ca, {"basic_constraints_critical": False}),
    ("CERT-011", "x509.certificate", ca, {"path_length": None}),
    ("CERT-011", "x509.certificate", ca, {"path_length": 2}),
    ("CERT-012", "x509.certificate", ca, {"name_constraints": None}),
    ("CERT-013", "x509.certificate", ca, {"key_usage": ["keyCertSign"]}),
    ("CERT-014", "x509.certificate", cert, {"serial_bits": 32}),
    ("CERT-015", "tls.endpoint", endpoint, {"versions": {"TLSv1.1": "accepted"}}),
    ("CERT-015", "tls.endpoint", endpoint, {"handshake": {"version": "TLSv1.1"}}),
    ("CERT-016", "tls.endpoint", endpoint, {"client_certificate": {"requested": False}}),
    ("CERT-017", "tls.endpoint", endpoint, {"validation": {"status": "invalid", "error": "no path"}}),
    ("CERT-018", "tls.endpoint", endpoint, {"weak_ciphers": {"outcome": "accepted", "cipher": "AES128-SHA"}}),
    ("CERT-018", "tls.endpoint", endpoint, {"handshake": {"cipher": "DES-CBC3-SHA"}}),
    ("CERT-019", "tls.endpoint", endpoint, {"nats": {"tls_required": False, "tls_available": True}}),
    ("CERT-019", "tls.endpoint", endpoint, {"tls_offered": False}),
    ("CERT-020", "tls.endpoint", endpoint, leaf_over(not_after=ago(-10))),
    ("CERT-021", "tls.endpoint", endpoint, leaf_over(self_signed=True)),
    ("CERT-022", "x509.certificate", cert, {"lint": {"errors": [
        "pkix.key_usage_value_prohibited_for_ec (Prohibited key usage value(s) present: keyEncipherment)"]}}),
    ("CERT-023", "x509.certificate", cert, {"san": {"uri": ["https://x.example/p"], "uri_credentials": 1}}),
    ("CERT-023", "x509.certificate", cert, {"san": {"uri": ["https://svc:hunter2@x.example/p"]}}),  # a bundle made before 0 was counted
    ("CERT-023", "x509.certificate", cert, {"san": {"uri": ["nats://TOKEN@hub.example:4222"]}}),
    ("CERT-024", "tls.endpoint", endpoint, leaf_over(san={"uri": ["https://x.example/p"], "uri_credentials": 1})),
    ("CERT-024", "tls.endpoint", endpoint, leaf_over(san={"uri": ["https://svc:hunter2@x.example/p"]})),
    ("KEY-001", "x509.certificate", cert, {"not_before": ago(82), "not_after": ago(-8)}),
    ("KEY-002", "x509.certificate", ca, {"not_after": ago(-100)}),
    ("KEY-003", "gpg.key", gpg_key, {"expires": None}),
    ("KEY-003", "gpg.key", gpg_key, {"created": ago(3000)}),
    ("KEY-004", "gpg.key", gpg_key, {"subkeys": [{"created": ago(500), "keyid": "S1", "fingerprint": "F", "algorithm": "eddsa", "size": 255, "curve": "ed25519",
                                                  "expires": None, "capabilities": ["sign"], "validity": "ultimate", "secret_present": True}]}),
    ("KEY-004", "gpg.key", gpg_key, {"subkeys": [], "created": ago(500)}),
    ("KEY-005", "vault.kv-secret", kv, {"current_created_time": ago(200)}),
    ("KEY-006", "vault.token", token, {"ttl": 0, "expire_time": None, "creation_ttl": 0}),
    ("KEY-006", "vault.token", token, {"policies": ["root"]}),
    ("KEY-007", "vault.token", token, {"creation_ttl": 30 * 86400}),
    ("GPG-001", "gpg.key", gpg_key, {"algorithm": "rsa", "size": 2048, "curve": None}),
    ("GPG-001", "gpg.key", gpg_key, {"subkeys": [{"keyid": "D", "fingerprint": "F", "algorithm": "dsa", "size": 1024, "curve": None, "created": ago(1),
                                                  "expires": ago(-300), "capabilities": ["sign"], "validity": "ultimate", "secret_present": True}]}),
    ("GPG-002", "gpg.key", gpg_key, {"secret_present": True}),
    ("GPG-003", "gpg.key", gpg_key, {"expires": ago(1)}),
    ("GPG-003", "gpg.key", gpg_key, {"revoked": True, "validity": "revoked"}),
    ("VAULT-001", "vault.server", vault_server, {"sealed": True}),
    ("VAULT-002", "vault.server", vault_server, {"audit_devices": []}),
    ("VAULT-003", "vault.server", vault_server, {"audit_devices": [{"path": "file/", "type": "file", "description": "", "local": False, "file_path": "/a", "mode": "0644"}]}),
    ("VAULT-004", "vault.pki", vault_pki, {"roles": [role(allow_any_name=True)]}),
    ("VAULT-004", "vault.pki", vault_pki, {"roles": [role(allowed_domains=[])]}),
    ("VAULT-005", "vault.pki", vault_pki, {"auto_tidy": {"enabled": False}}),
    ("VAULT-005", "vault.pki", vault_pki, {"crl": {"disabled": True}}),
    ("VAULT-006", "vault.pki", vault_pki, {"roles": [role(max_ttl=0)]}),
    ("VAULT-006", "vault.pki", vault_pki, {"roles": [role(max_ttl=365 * 86400)]}),
]


@pytest.mark.parametrize(("rule_id", "kind", "make", "flaw"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_compliant_passes_and_flawed_fails(rule_id: str, kind: str, make: Maker, flaw: dict[str, Any]) -> None:
    assert judge(rule_id, kind, make()) is Status.PASS
    assert judge(rule_id, kind, make(**flaw)) is Status.FAIL


def test_every_new_rule_has_a_case() -> None:
    prefixes = ("KEY-", "GPG-", "VAULT-")
    new = {r.id for r in production().rules if r.id.startswith(prefixes) or (r.id.startswith("CERT-") and int(r.id[5:]) >= 9)}
    new -= {"KEY-008", "KEY-009", "KEY-010", "KEY-011"}  # PKI-inventory rotation rules: test_yubikey_and_pki_rules.py
    assert new == {c[0] for c in CASES}
    assert len(new) >= 24


def test_unknown_audit_devices_are_an_error_not_a_pass() -> None:
    policy = production()
    only = dataclasses.replace(policy, rules=tuple(r for r in policy.rules if r.id == "VAULT-002"), waivers=())
    record = evidence("vault.server", vault_server(audit_devices=None, unreadable=["sys/audit: permission denied"]))
    (finding,) = evaluate_rules(only, [record], target=TARGET, now=NOW).findings
    assert finding.status is Status.ERROR
