"""Weak settings nats-server accepts are findings: NATS-015 (weak cipher suites), NATS-035 (TLS minimum
version), NATS-036 (protocol tracing), NATS-037 (plaintext route, gateway, leafnode, websocket and MQTT
credentials).

Each weak config is first run through the real `nats-server -t` (it must accept it: the setting is
weak, not invalid), then read by auditor as the collector does and judged by the rule; the same
config hardened passes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from auditor._collectors.nats_config import config_facts
from auditor._engine import evaluate_rules
from auditor._models import Status
from auditor._nats.conf import parse_file
from auditor._nats.config import interpret
from auditor._policy.catalog import Catalog, ResolvedPolicy
from auditor.evidence.contract import plain
from auditor.evidence.kinds import data_errors
from tests.auditor._nats.oracle import server_verdict
from tests.certs import CertFactory
from tests.collecting import evidence as make_evidence
from tests.servers import Pki

NOW = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)
TARGET = {"name": "n", "environment": "production", "tags": [], "names": [], "vars": {}}
BCRYPT = "$2a$11$zLAlXpcMKpwtm59mIkU0POnkSTEIm6GZt8XQqCi5CsXRJ0OqFTWiO"
TLS = 'cert_file: "certs/server.pem", key_file: "certs/server-key.pem"'


@cache
def production() -> ResolvedPolicy:
    return Catalog.load([], []).resolve(["cim-production"])


def judge(rule_id: str, data: dict[str, Any], **params: Any) -> Status:
    assert data_errors("nats.config", data) == [], data_errors("nats.config", data)[:2]
    policy = production()
    rules = tuple(dataclasses.replace(r, params={**r.params, **params}) for r in policy.rules if r.id == rule_id)
    assert rules, f"{rule_id} is not in cim-production"
    record = make_evidence("nats.config", data)
    (finding,) = evaluate_rules(dataclasses.replace(policy, rules=rules, waivers=()), [record], target=TARGET,
                                now=NOW).findings
    assert finding.status in (Status.PASS, Status.FAIL), finding.message
    return finding.status


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    here = tmp_path_factory.mktemp("weak")
    Pki.make(CertFactory(), here / "certs", ("localhost",))
    return here


def evidence(folder: Path, text: str) -> dict[str, Any]:
    """The config's evidence, after checking that nats-server -t accepts it."""
    path = folder / "n.conf"
    path.write_text(text)
    server = server_verdict(path, cwd=folder)
    assert server.accepted, f"nats-server refuses what this test calls weak-but-accepted: {server.message}"
    return plain(config_facts(interpret(parse_file(path))))


CASES = [
    ("NATS-015", {}, f"port: -1\ntls {{ {TLS}, allow_insecure_cipher_suites: true,\n"
                     "  cipher_suites: [TLS_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384] }\n",
     f"port: -1\ntls {{ {TLS}, cipher_suites: [TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_AES_128_GCM_SHA256] }}\n"),
    ("NATS-015", {}, f"port: -1\ntls {{ {TLS}, cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA] }}\n",
     f"port: -1\ntls {{ {TLS} }}\n"),
    ("NATS-035", {"min_tls_version": "1.3"},
     f"port: -1\ntls {{ {TLS}, min_version: \"1.3\" }}\nleafnodes {{ port: -1, tls {{ {TLS} }} }}\n",
     f"port: -1\ntls {{ {TLS}, min_version: \"1.3\" }}\nleafnodes {{ port: -1, tls {{ {TLS}, min_version: \"1.3\" }} }}\n"),
    ("NATS-036", {}, "port: -1\ntrace: true\n", "port: -1\ntrace: false\ndebug: true\n"),
    ("NATS-036", {}, "port: -1\ntrace_verbose: true\n", "port: -1\n"),
    ("NATS-037", {}, "port: -1\ncluster { port: -1, authorization { user: route, password: s3cret } }\n",
     f"port: -1\ncluster {{ port: -1, authorization {{ user: route, password: \"{BCRYPT}\" }} }}\n"),
    ("NATS-037", {}, "port: -1\nleafnodes { port: -1, authorization { users: [ {user: leaf, password: p} ] } }\n",
     f"port: -1\nleafnodes {{ port: -1, authorization {{ users: [ {{user: leaf, password: \"{BCRYPT}\"}} ] }} }}\n"),
    ("NATS-037", {}, "port: -1\nwebsocket { port: -1, no_tls: true, authorization { token: plain-token } }\n",
     f"port: -1\nwebsocket {{ port: -1, no_tls: true, authorization {{ token: \"{BCRYPT}\" }} }}\n"),
]


@pytest.mark.parametrize(("rule", "params", "weak", "hardened"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_weak_but_accepted_settings_are_findings(folder: Path, rule: str, params: dict[str, Any], weak: str,
                                                 hardened: str) -> None:
    assert judge(rule, evidence(folder, weak), **params) is Status.FAIL
    assert judge(rule, evidence(folder, hardened), **params) is Status.PASS


def test_credentials_evidence_holds_kinds_not_secrets(folder: Path) -> None:
    data = evidence(folder, "port: -1\ngateway { name: g, port: -1, authorization { user: gw, pass: hunter2-secret } }\n")
    assert data["listener_credentials"] == [
        {"where": "gateway.authorization", "user": "gw", "secret": "password", "kind": "plaintext",
         "file": str(folder / "n.conf"), "line": 2}]
    assert "hunter2-secret" not in repr(data)
