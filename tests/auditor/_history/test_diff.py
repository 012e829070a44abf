"""Drift between two scans, on hand-made findings and as properties over generated ones."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor._history.diff import diff_results
from auditor._models import Finding, RedactedResult, ScanResult, Severity, Status
from auditor._redact import redact_result


def finding(rule: str, resource: str, status: Status, evidence: tuple[str, ...] = ("ev-1",), *,
            severity: Severity = Severity.HIGH, area: str = "certificates") -> Finding:
    return Finding(rule, f"title {rule}", area, severity, status, resource, f"{rule} on {resource}", evidence)


def result(*findings: Finding, when: str = "2026-01-01T00:00:00Z", bundle: str = "b1") -> RedactedResult:
    return redact_result(ScanResult(
        target={"name": "node-1"}, policies=("p",), evaluated_at=when, tool={}, bundle_digest=bundle,
        findings=tuple(findings),
    ))


def keys(changes: tuple[object, ...]) -> set[tuple[str, str]]:
    return {(c.rule_id, c.resource) for c in changes}  # type: ignore[attr-defined]


def test_each_kind_of_change() -> None:
    before = result(
        finding("R-1", "a", Status.PASS),
        finding("R-2", "a", Status.FAIL),
        finding("R-3", "a", Status.FAIL),
        finding("R-4", "a", Status.FAIL),
        finding("R-5", "gone", Status.FAIL),
        finding("R-6", "a", Status.FAIL),
        finding("R-7", "a", Status.WAIVED),
        finding("R-8", "a", Status.PASS, ("ev-old",)),
    )
    after = result(
        finding("R-1", "a", Status.FAIL),  # new failure
        finding("R-2", "a", Status.PASS),  # fixed
        finding("R-3", "a", Status.FAIL),  # still failing
        finding("R-4", "a", Status.ERROR),  # not fixed: could not be evaluated
        finding("R-6", "a", Status.NOT_EVALUATED),
        finding("R-7", "a", Status.FAIL),  # the waiver lapsed: a new failure
        finding("R-8", "a", Status.PASS, ("ev-new",)),  # same outcome, other evidence
        finding("R-9", "new", Status.FAIL, severity=Severity.LOW),  # a new resource that fails
        when="2026-02-01T00:00:00Z", bundle="b2",
    )
    d = diff_results(before, after, before_id=1, after_id=2)
    assert keys(d.new_failures) == {("R-1", "a"), ("R-7", "a"), ("R-9", "new")}
    assert keys(d.fixed) == {("R-2", "a"), ("R-5", "gone")}
    assert keys(d.still_failing) == {("R-3", "a")}
    assert keys(d.other_changes) == {("R-4", "a"), ("R-6", "a")}
    assert keys(d.changed_evidence) == {("R-8", "a")}
    gone = next(c for c in d.fixed if c.resource == "gone")
    assert gone.after is None and gone.before is Status.FAIL
    changed = d.changed_evidence[0]
    assert changed.evidence_before == ("ev-old",) and changed.evidence_after == ("ev-new",)
    assert keys(tuple(d.regressions(Severity.HIGH))) == {("R-1", "a"), ("R-7", "a")}
    assert keys(tuple(d.regressions(Severity.LOW))) == keys(d.new_failures)
    (area,) = d.areas
    assert (area.failing_before, area.failing_after) == (5, 4)
    assert (area.passing_before, area.passing_after) == (2, 2)
    doc = d.to_dict()
    assert doc["before"]["id"] == 1 and doc["after"]["bundle_digest"] == "b2"
    assert {c["rule_id"] for c in doc["new_failures"]} == {"R-1", "R-7", "R-9"}


def test_trend_covers_areas_on_either_side() -> None:
    d = diff_results(
        result(finding("A-1", "x", Status.FAIL, area="nats")),
        result(finding("B-1", "x", Status.PASS, area="vault")),
    )
    assert [(a.area, a.failing_before, a.failing_after) for a in d.areas] == [("nats", 1, 0), ("vault", 0, 0)]


STATUSES = st.sampled_from([*Status, None])
SCANS = st.dictionaries(
    st.tuples(st.sampled_from(["R-1", "R-2", "R-3"]), st.sampled_from(["a", "b"])),
    st.tuples(STATUSES, STATUSES, st.sampled_from(["ev-1", "ev-2"]), st.sampled_from(["ev-1", "ev-2"])),
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(SCANS)
def test_properties(spec: dict[tuple[str, str], tuple[Status | None, Status | None, str, str]]) -> None:
    before = result(*(finding(r, res, s1, (e1,)) for (r, res), (s1, _, e1, _) in spec.items() if s1))
    after = result(*(finding(r, res, s2, (e2,)) for (r, res), (_, s2, _, e2) in spec.items() if s2))
    d = diff_results(before, after)
    failing_after = {k for k, v in spec.items() if v[1] is Status.FAIL}
    failing_before = {k for k, v in spec.items() if v[0] is Status.FAIL}
    # every failure of the later scan is either new or still failing, never both
    assert keys(d.new_failures) | keys(d.still_failing) == failing_after
    assert not keys(d.new_failures) & keys(d.still_failing)
    # fixed means failing before and passing (or gone) after: never an error or not-evaluated
    assert keys(d.fixed) <= failing_before
    assert all(c.after in (Status.PASS, None) for c in d.fixed)
    # evidence changes are exactly the findings present in both with other record ids
    both = {k for k, v in spec.items() if v[0] and v[1]}
    assert keys(d.changed_evidence) == {k for k in both if spec[k][2] != spec[k][3]}
    # a scan compared with itself has no drift
    same = diff_results(after, after)
    assert not (same.new_failures or same.fixed or same.changed_evidence or same.other_changes)
    # what is new one way round was not failing the other way round
    back = diff_results(after, before)
    assert keys(d.new_failures).isdisjoint(keys(back.new_failures))
