from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, ClassVar

import pytest

from auditor._engine import _not_evaluated, _RuleRun, evaluate_rules
from auditor._models import Status
from auditor._policy.catalog import Catalog, ResolvedPolicy
from auditor.evidence.contract import Facts
from auditor.evidence.kinds import KINDS
from auditor.evidence.record import Evidence, Failure, Record

NOW = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)
TARGET = {"name": "node-1", "environment": "test", "tags": [], "names": ["a.example.com"], "vars": {}}


def rule_text(rid: str, *, kind: str = "test.thing", condition: str = "evidence.size >= params.min", mode: str = "each", flt: str | None = None) -> str:
    applies = f"  kind: {kind}\n  mode: {mode}\n" + (f"  filter: {flt!r}\n" if flt else "")
    message = "size {evidence.size} < {params.min}" if mode == "each" else "only {items.size()} items"
    return (
        f"id: {rid}\ntitle: Rule {rid}\narea: certificates\nseverity: high\ndescription: d\n"
        f"rationale: r\nremediation: fix\nreferences: {{nist: [SC-12]}}\napplies_to:\n{applies}"
        f"condition: {condition!r}\nmessage: {message!r}\nparams: {{min: 10}}\n"
    )


def policy(tmp_path: Path, *rules: tuple[str, dict[str, Any]], waivers: str = "") -> ResolvedPolicy:
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    for rid, kwargs in rules:
        (folder / f"{rid}.yaml").write_text(rule_text(rid, **kwargs))
    packs = tmp_path / "packs"
    packs.mkdir(exist_ok=True)
    (packs / "p.yaml").write_text("id: p\ntitle: P\nselect: [{area: certificates}]\n" + waivers)
    return Catalog.load([folder], [packs], builtin=False).resolve(["p"])


class Thing(Facts, frozen=True, kw_only=True):
    """A kind that exists only in these tests."""

    KIND: ClassVar[str] = "test.thing"

    size: Any


@pytest.fixture(autouse=True)
def thing_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(KINDS, Thing.KIND, Thing)


def rec(size: Any, resource: str = "r1") -> Record:
    return Evidence(source="s", resource=resource, collected_at="2026-11-23T00:00:00Z", data=Thing(size=size))


def err(resource: str = "bad", kind: str = "test.thing") -> Record:
    return Failure(kind=kind, source="s", resource=resource, collected_at="2026-11-23T00:00:00Z", error="permission denied")


def statuses(findings: Any) -> list[tuple[str, str, str]]:
    return [(f.rule_id, f.resource, f.status.value) for f in findings]


def test_pass_fail_and_message(tmp_path: Path) -> None:
    pol = policy(tmp_path, ("T-001", {}))
    result = evaluate_rules(pol, [rec(20, "big"), rec(5, "small")], target=TARGET, now=NOW)
    assert statuses(result.findings) == [("T-001", "big", "pass"), ("T-001", "small", "fail")]
    fail = result.findings[1]
    assert fail.message == "size 5 < 10"
    assert fail.evidence == (rec(5, "small").id,)


def test_no_evidence_is_never_a_pass(tmp_path: Path) -> None:
    pol = policy(tmp_path, ("T-001", {}))
    result = evaluate_rules(pol, [Failure(kind="other.kind", source="s", resource="r1", collected_at="2026-11-23T00:00:00Z", error="x")], target=TARGET, now=NOW)
    assert statuses(result.findings) == [("T-001", "node-1", "not-evaluated")]
    assert "no test.thing evidence" in result.findings[0].message


def test_unreadable_evidence_is_an_error(tmp_path: Path) -> None:
    pol = policy(tmp_path, ("T-001", {}), ("T-002", {"mode": "all", "condition": "items.size() > 0"}))
    result = evaluate_rules(pol, [rec(20, "ok"), err("bad")], target=TARGET, now=NOW)
    assert statuses(result.findings) == [
        ("T-001", "bad", "error"),
        ("T-001", "ok", "pass"),
        ("T-002", "bad", "error"),  # an aggregate over incomplete evidence is not judged
    ]


def test_condition_that_cannot_be_evaluated(tmp_path: Path) -> None:
    pol = policy(tmp_path, ("T-001", {}))
    result = evaluate_rules(pol, [rec("not a number")], target=TARGET, now=NOW)
    (finding,) = result.findings
    assert finding.status is Status.ERROR
    assert "could not be evaluated" in finding.message


def test_filter_and_nothing_matched(tmp_path: Path) -> None:
    pol = policy(tmp_path, ("T-001", {"flt": "evidence.size > 100"}))
    result = evaluate_rules(pol, [rec(5), rec(500, "huge")], target=TARGET, now=NOW)
    assert statuses(result.findings) == [("T-001", "huge", "pass")]
    result = evaluate_rules(pol, [rec(5)], target=TARGET, now=NOW)
    assert statuses(result.findings) == [("T-001", "node-1", "not-applicable")]  # the subject does not exist
    assert "in the rule's scope" in result.findings[0].message


def test_mode_all(tmp_path: Path) -> None:
    pol = policy(tmp_path, ("T-001", {"mode": "all", "condition": "items.size() >= 2"}))
    assert statuses(evaluate_rules(pol, [rec(1), rec(2, "r2")], target=TARGET, now=NOW).findings) == [("T-001", "node-1", "pass")]
    result = evaluate_rules(pol, [rec(1)], target=TARGET, now=NOW)
    assert statuses(result.findings) == [("T-001", "node-1", "fail")]
    assert result.findings[0].message == "only 1 items"


WAIVERS = """waivers:
  - {rule: T-001, resource: "small*", instances: 1, reason: known issue, approver: Lead, expires: "2026-11-23"}
  - {rule: T-001, resource: "other", instances: 1, reason: old, approver: Lead, expires: "2026-11-22"}
"""


def test_waivers_apply_until_their_last_day(tmp_path: Path) -> None:
    pol = policy(tmp_path, ("T-001", {}), waivers=WAIVERS)
    result = evaluate_rules(pol, [rec(5, "small"), rec(5, "other")], target=TARGET, now=NOW)
    assert statuses(result.findings) == [("T-001", "other", "fail"), ("T-001", "small", "waived")]
    assert result.findings[1].waiver is not None and result.findings[1].waiver.approver == "Lead"
    assert [w.resource for w in result.expired_waivers] == ["other"]
    next_day = NOW + dt.timedelta(days=1)
    later = evaluate_rules(pol, [rec(5, "small")], target=TARGET, now=next_day)
    assert statuses(later.findings) == [("T-001", "small", "fail")]
    assert len(later.expired_waivers) == 2


def test_waiver_never_hides_a_pass_or_error(tmp_path: Path) -> None:
    waivers = 'waivers:\n  - {rule: "T-*", resource: "*", instances: any, reason: all, approver: L, expires: "2099-01-01"}\n'
    pol = policy(tmp_path, ("T-001", {}), waivers=waivers)
    result = evaluate_rules(pol, [rec(50, "a"), err("b"), rec(1, "c")], target=TARGET, now=NOW)
    assert statuses(result.findings) == [("T-001", "a", "pass"), ("T-001", "b", "error"), ("T-001", "c", "waived")]


@pytest.mark.parametrize("seed", range(5))
def test_order_is_deterministic(tmp_path: Path, seed: int) -> None:
    import random

    pol = policy(tmp_path, ("T-002", {}), ("T-001", {}))
    records = [rec(i, f"r{i:02d}") for i in range(20)]
    shuffled = records[:]
    random.Random(seed).shuffle(shuffled)
    a = evaluate_rules(pol, records, target=TARGET, now=NOW).findings
    b = evaluate_rules(pol, shuffled, target=TARGET, now=NOW).findings
    assert a == b
    assert [f.rule_id for f in a] == sorted(f.rule_id for f in a)


def test_error_when_makes_an_undecidable_record_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "T-001.yaml").write_text(rule_text("T-001") + (
        "error_when: evidence.size < 0\n"
        "error_message: 'size {evidence.size} cannot be judged: install a scale'\n"))
    packs = tmp_path / "packs"
    packs.mkdir()
    (packs / "p.yaml").write_text("id: p\ntitle: P\nselect: [{area: certificates}]\n")
    pol = Catalog.load([folder], [packs], builtin=False).resolve(["p"])
    result = evaluate_rules(pol, [rec(20, "big"), rec(5, "small"), rec(-1, "odd"), rec("x", "text")], target=TARGET, now=NOW)
    assert statuses(result.findings) == [("T-001", "big", "pass"), ("T-001", "odd", "error"),
                                         ("T-001", "small", "fail"), ("T-001", "text", "error")]
    odd = next(f for f in result.findings if f.resource == "odd")
    assert odd.message == "size -1 cannot be judged: install a scale"
    text = next(f for f in result.findings if f.resource == "text")
    assert text.message.startswith("error_when could not be evaluated")


def test_error_when_needs_its_message(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "T-001.yaml").write_text(rule_text("T-001") + "error_when: evidence.size < 0\n")
    catalog = Catalog.load([folder], [], builtin=False, strict=False)
    assert catalog.errors and "error_message" in str(catalog.errors[0])


def test_a_rule_without_records_of_its_kind_is_not_evaluated_as_a_finding_of_its_own_makes_it(tmp_path: Path) -> None:
    """_not_evaluated, the shortcut for rules with no record of their kind, makes what the rule's
    own finding() makes (the path every other finding of the rule takes)."""
    p = policy(tmp_path, ("TEST-001", {}), ("TEST-002", {"mode": "all", "condition": "items.size() > 0"}))
    found = evaluate_rules(p, [err(kind="other.kind")], target=TARGET, now=NOW).findings
    assert statuses(found) == [("TEST-001", "node-1", "not-evaluated"), ("TEST-002", "node-1", "not-evaluated")]
    for effective, finding in zip(p.rules, found, strict=True):
        made = _RuleRun(effective).finding(
            Status.NOT_EVALUATED, "node-1", "not evaluated: no test.thing evidence was collected for this target")
        assert finding == made == _not_evaluated(effective, "node-1", made.id) and repr(finding) == repr(made)
