"""A batch evaluation (auditor.policy.batch) gives exactly the findings of record-by-record
evaluation: same statuses, messages (rendered placeholders included) and errors, also where
a filter, condition, error_when or placeholder fails or is not true or false for some records."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.engine import evaluate_rules
from auditor.evidence.contract import Facts
from auditor.evidence.kinds import KINDS
from auditor.evidence.record import Evidence, Record
from auditor.policy import batch
from auditor.policy.catalog import Catalog, ResolvedPolicy

NOW = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)
TARGET = {"name": "node-1", "environment": "test", "tags": [], "names": ["a.example.com"], "vars": {}}


class Gauge(Facts, frozen=True, kw_only=True):
    """A kind that exists only in these tests: any value, and a label."""

    KIND: ClassVar[str] = "test.gauge"

    size: Any
    label: str = ""


RULES = {
    # plain pass/fail with placeholders
    "G-001": {"condition": "evidence.size >= params.min", "message": "size {evidence.size} < {params.min} ({evidence.label})"},
    # a filter; the condition fails on strings (an error per record)
    "G-002": {"filter": "evidence.label != 'skip'", "condition": "evidence.size * 2 > 10", "message": "small {evidence.size}"},
    # not true or false for some records
    "G-003": {"condition": "evidence.size", "message": "falsy"},
    # error_when, and a placeholder that fails for some records
    "G-004": {"condition": "evidence.size > 3", "error_when": "evidence.label == 'unknown'",
              "error_message": "cannot tell {evidence.label}", "message": "{evidence.size + 1} too small"},
    # the whole record is read (no projection)
    "G-005": {"condition": "size(evidence) == 2 && 'label' in evidence", "message": "{evidence}"},
    # a filter that is not true or false for some records; mode all
    "G-006": {"filter": "evidence.size", "condition": "items.size() > 1", "message": "only {items.size()}", "mode": "all"},
    # a resource template
    "G-007": {"condition": "evidence.label.startsWith('a')", "message": "label {evidence.label}",
              "resource": "gauge {evidence.label}"},
}


def _yaml(rid: str, spec: dict[str, str]) -> str:
    applies = f"  kind: test.gauge\n  mode: {spec.get('mode', 'each')}\n"
    if "filter" in spec:
        applies += f"  filter: {spec['filter']!r}\n"
    extra = "".join(f"{key}: {spec[key]!r}\n" for key in ("error_when", "error_message", "resource") if key in spec)
    return (
        f"id: {rid}\ntitle: Rule {rid}\narea: certificates\nseverity: high\ndescription: d\nrationale: r\n"
        f"remediation: fix\nreferences: {{nist: [SC-12]}}\napplies_to:\n{applies}condition: {spec['condition']!r}\n"
        f"message: {spec['message']!r}\nparams: {{min: 10}}\n{extra}"
    )


@pytest.fixture(scope="module")
def gauges(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ResolvedPolicy]:
    KINDS[Gauge.KIND] = Gauge
    try:
        yield _policy(tmp_path_factory.mktemp("gauges"))
    finally:
        KINDS.pop(Gauge.KIND, None)


def _policy(tmp: Path) -> ResolvedPolicy:
    (tmp / "rules").mkdir()
    for rid, spec in RULES.items():
        (tmp / "rules" / f"{rid}.yaml").write_text(_yaml(rid, spec))
    (tmp / "packs").mkdir()
    (tmp / "packs" / "p.yaml").write_text("id: p\ntitle: P\nselect: [{area: certificates}]\n")
    return Catalog.load([tmp / "rules"], [tmp / "packs"], builtin=False).resolve(["p"])


def _both(policy: ResolvedPolicy, records: list[Record], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    batched = evaluate_rules(policy, records, target=TARGET, now=NOW)
    with monkeypatch.context() as m:
        m.setattr(batch, "MIN_RECORDS", 10**9)
        single = evaluate_rules(policy, records, target=TARGET, now=NOW)
    return batched.findings, single.findings


def _gauge(i: int, size: Any, label: str) -> Evidence:
    return Evidence(source="s", resource=f"g{i}", collected_at="2026-11-23T00:00:00Z", data=Gauge(size=size, label=label))


_sizes = st.one_of(st.integers(-5, 20), st.text(max_size=3), st.none(), st.booleans(), st.floats(-1, 20))
_labels = st.sampled_from(["a1", "b2", "skip", "unknown", ""])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(_sizes, _labels), min_size=batch.MIN_RECORDS, max_size=40))
def test_batch_gives_the_findings_of_one_by_one(gauges: ResolvedPolicy, monkeypatch: pytest.MonkeyPatch,
                                                values: list[tuple[Any, str]]) -> None:
    records: list[Record] = [_gauge(i, size, label) for i, (size, label) in enumerate(values)]
    batched, single = _both(gauges, records, monkeypatch)
    assert batched == single


def test_batches_are_used_and_agree_where_every_record_decides(gauges: ResolvedPolicy,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    records: list[Record] = [_gauge(i, i, "a" if i % 3 else "b") for i in range(40)]
    calls: list[str] = []
    original = batch.RecordBatch.outcomes

    def spy(self: batch.RecordBatch, rule: Any) -> Any:
        found = original(self, rule)
        calls.append(f"{rule.id}:{'batch' if found is not None else 'one by one'}")
        return found

    monkeypatch.setattr(batch.RecordBatch, "outcomes", spy)
    batched, single = _both(gauges, records, monkeypatch)
    assert batched == single
    assert {"G-001:batch", "G-004:batch", "G-005:batch", "G-007:batch"} <= set(calls)
    assert any(f.status.value == "fail" and f.message.startswith("size ") for f in batched)


def test_failures_get_the_messages_the_batch_rendered(gauges: ResolvedPolicy) -> None:
    rules = {e.rule.id: e.rule for e in gauges.rules}
    made = batch.RecordBatch([{"size": i, "label": "x"} for i in range(12)], list(rules.values()),
                             rule_params={"G-001": {"min": 10}}, target=TARGET, now=NOW)
    outcomes = made.outcomes(rules["G-001"])
    assert outcomes is not None
    assert sorted(outcomes) == list(range(10))  # 10 and 11 pass
    assert outcomes[3] == batch.Outcome(batch.FAIL, "size 3 < 10 (x)")


def test_projection_keeps_only_the_fields_read(gauges: ResolvedPolicy) -> None:
    rules = [e.rule for e in gauges.rules]
    assert batch.fields_read([r for r in rules if r.id == "G-001"]) == frozenset({"size", "label"})
    assert batch.fields_read([r for r in rules if r.id == "G-003"]) == frozenset({"size"})
    assert batch.fields_read(rules) is None  # G-005 reads the whole record


def test_builtin_certificate_rules_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.benchmarks.test_bench_scan import synthetic_records

    base = synthetic_records(12)
    records: list[Record] = [*base, *(dataclasses.replace(r, resource=f"copy/{r.resource}", id="") for r in base)]
    policy = Catalog.load().resolve(["cim-production"])
    batched, single = _both(policy, records, monkeypatch)
    assert batched == single
    assert any(f.status.value == "fail" for f in batched)


def test_kinds_with_few_records_are_evaluated_one_by_one(gauges: ResolvedPolicy,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[int] = []
    original = batch.RecordBatch.__init__

    def spy(self: batch.RecordBatch, *args: Any, **kwargs: Any) -> None:
        made.append(len(args[0]))
        original(self, *args, **kwargs)

    monkeypatch.setattr(batch.RecordBatch, "__init__", spy)
    evaluate_rules(gauges, [_gauge(i, i, "a") for i in range(batch.MIN_RECORDS - 1)], target=TARGET, now=NOW)
    assert made == []
    evaluate_rules(gauges, [_gauge(i, i, "a") for i in range(batch.MIN_RECORDS)], target=TARGET, now=NOW)
    assert made == [batch.MIN_RECORDS]
