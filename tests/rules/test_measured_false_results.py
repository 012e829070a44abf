"""The false results measured in issue 15, at the rule level: a rule whose subject does not exist
is not-applicable (never a pass), one finding per leafnode remote, and one count of days.

NATS configs are accepted by the real `nats-server -t` first, then read as the collector reads them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
from pathlib import Path
from typing import Any

import pytest

from auditor._collectors.nats_config import config_facts
from auditor._engine import evaluate_rules
from auditor._models import Finding, Severity, Status, group_problems
from auditor._nats.conf import parse_file
from auditor._nats.config import interpret
from auditor.evidence.contract import plain
from auditor.evidence.kinds import data_errors
from tests.auditor._nats.oracle import server_verdict
from tests.collecting import collect_source, evidence
from tests.rules.test_live_and_rotation_rules import NOW, ago, production
from tests.rules.test_yubikey_and_pki_rules import HIGH, pki_ca, pki_cert

TARGET = {"name": "n", "environment": "production", "tags": [], "names": [], "vars": {}}


def findings(rule_id: str, kind: str, *items: dict[str, Any]) -> list[Finding]:
    for data in items:
        assert data_errors(kind, data) == [], data_errors(kind, data)[:2]
    policy = production()
    only = dataclasses.replace(policy, rules=tuple(r for r in policy.rules if r.id == rule_id), waivers=())
    records = [evidence(kind, d, resource=f"r{i}") for i, d in enumerate(items)]
    return list(evaluate_rules(only, records, target=HIGH, now=NOW).findings)


def test_key_011_does_not_apply_to_a_ca_younger_than_its_period() -> None:
    def never_renewed(age_days: float) -> dict[str, Any]:
        data = pki_ca(root={"not_before": ago(age_days)})
        data["log"].update(events={}, last_event={})
        return data

    (f,) = findings("KEY-011", "pki.ca", never_renewed(0.01))  # minutes old
    assert f.status is Status.NOT_APPLICABLE, f.message  # was: fail, "no renewal was ever logged"
    (f,) = findings("KEY-011", "pki.ca", never_renewed(400))
    assert f.status is Status.FAIL and "no renewal was ever logged" in f.message


def test_cert_003_and_pki_004_count_the_same_days(tmp_path: Path) -> None:
    """7.6 days left: both say 7 (whole days, rounded down), where one said 7 and the other 8."""
    left = 7.6
    (pki,) = findings("PKI-004", "pki.certificate", pki_cert(days_left=left, not_after=ago(-left)))
    assert pki.status is Status.FAIL and pki.message.endswith("in 7 days"), pki.message

    (cert,) = [f for f in certificate_findings("CERT-003", tmp_path, days_left=left) if f.status is Status.FAIL]
    assert "expires in 7 days" in cert.message, cert.message


def certificate_findings(rule_id: str, folder: Path, *, days_left: float) -> list[Finding]:
    """`rule_id` (an fnmatch pattern) on a certificate file read by the real collector, `days_left`
    before it expires."""
    from tests.certs import NOW as CERT_NOW
    from tests.certs import CertFactory, write

    factory = CertFactory()
    _, inter = factory.chain()
    leaf = factory.issue("n.example.com", issuer=inter, dns=("n.example.com",), eku=("server",),
                         start=CERT_NOW - dt.timedelta(days=80), days=80 + days_left)
    write(folder / "certs/node.pem", leaf.pem() + inter.pem())
    records = collect_source("certificates", folder, {"paths": ["certs"]}, now=CERT_NOW)
    policy = production()
    only = dataclasses.replace(policy, rules=tuple(r for r in policy.rules if fnmatch.fnmatchcase(r.id, rule_id)),
                               waivers=())
    findings = evaluate_rules(only, records, target=TARGET, now=CERT_NOW).findings
    return [f for f in findings if f.resource == "certs/node.pem#0"]


def test_an_expired_certificate_is_one_problem(tmp_path: Path) -> None:
    """CERT-001 (no valid chain) and CERT-002 (expired), both critical, on one certificate: one
    problem with two rule hits (the rules share the certificate's correlation key)."""
    hits = [f for f in certificate_findings("CERT-00[12]", tmp_path, days_left=-3) if f.status is Status.FAIL]
    assert sorted(f.rule_id for f in hits) == ["CERT-001", "CERT-002"], [(f.resource, f.message) for f in hits]
    (problem,) = group_problems(hits, Severity.HIGH)
    assert problem.key.startswith("x509:") and len(problem.findings) == 2


@pytest.fixture(scope="module")
def nats_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("leaf")


def nats_config(folder: Path, text: str) -> dict[str, Any]:
    path = folder / "n.conf"
    path.write_text(text)
    verdict = server_verdict(path, cwd=folder)
    assert verdict.accepted, verdict.message
    data: dict[str, Any] = plain(config_facts(interpret(parse_file(path))))
    return data


@pytest.mark.parametrize("rule_id", ["NATS-013", "NATS-020"])
def test_leafnode_rules_are_not_applicable_without_remotes_and_judge_each_remote(nats_folder: Path, rule_id: str) -> None:
    (f,) = findings(rule_id, "nats.config", nats_config(nats_folder, "port: -1\n"))
    assert f.status is Status.NOT_APPLICABLE, f.message  # was: pass
    creds = nats_folder / "leaf.creds"
    creds.write_text("placeholder\n")
    creds.chmod(0o644)  # readable by others (NATS-020); the URLs are plain nats:// (NATS-013)
    remote = '    {{url: "nats://{}:7422", credentials: "{}"}}\n'
    two = nats_config(nats_folder, "port: -1\nleafnodes {\n  remotes: [\n" + remote.format("hub-a", creds)
                      + remote.format("hub-b", creds) + "  ]\n}\n")
    got = findings(rule_id, "nats.config", two)
    assert len(got) == 2 and len({f.id for f in got}) == 2, [f.resource for f in got]
    assert {f.status for f in got} == {Status.FAIL}
