"""A batch evaluation (auditor._policy.batch) gives exactly the findings of record-by-record
evaluation: same statuses, messages (rendered placeholders included), errors (resource limits
included), finding ids, correlation keys and problems, always_blocks, instances
(applies_to.each) and not-applicable findings; also where a filter, condition, error_when or
placeholder fails or is not true or false for some records. On the demo too."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor._engine import evaluate_rules
from auditor._models import Finding, Severity, group_problems
from auditor._policy import batch
from auditor._policy.catalog import Catalog, ResolvedPolicy
from auditor.evidence.contract import Facts, Part
from auditor.evidence.kinds import KINDS
from auditor.evidence.record import Evidence, Record

NOW = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)
TARGET = {"name": "node-1", "environment": "test", "tags": [], "names": ["a.example.com"], "vars": {}}


class Piece(Part, frozen=True, kw_only=True):
    """An element of a gauge a rule may iterate (applies_to.each)."""

    IDENTITY: ClassVar[tuple[str, ...]] = ("name",)

    name: str
    ok: bool = True


class Gauge(Facts, frozen=True, kw_only=True):
    """A kind that exists only in these tests: any value, a label (its identity: records with
    one label share it), and pieces."""

    KIND: ClassVar[str] = "test.gauge"
    IDENTITY: ClassVar[tuple[str, ...]] = ("label",)

    size: Any
    label: str = ""
    pieces: tuple[Piece, ...] = ()


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
    # a correlation key: failures of one label are one problem (with G-009's)
    "G-008": {"condition": "evidence.size != 7", "message": "seven ({evidence.label})", "correlation": "g:{evidence.label}"},
    # a correlation key whose placeholder fails for some records
    "G-009": {"condition": "evidence.size != 3", "message": "three", "correlation": "g:{evidence.size + 1}"},
    # always_blocks, failing to evaluate for some records
    "G-010": {"condition": "evidence.size < 15", "message": "big {evidence.size}",
              "always_blocks": "evidence.label == 'a1' || evidence.size > 18"},
    # one finding per instance, a record without instances is not applicable
    "G-011": {"filter": "evidence.label != 'skip'", "each": "evidence.pieces", "where": "item.name != 'x'",
              "condition": "item.ok", "message": "{item.name} of {evidence.label} is not ok",
              "correlation": "piece:{item.name}"},
    # a filter that leaves no record: not applicable
    "G-012": {"filter": "evidence.label == 'never'", "condition": "false", "message": "never"},
    # quadratic in the pieces: a resource limit (an error on the record) for a large one
    "G-013": {"condition": "evidence.pieces.all(a, evidence.pieces.all(b, a.name != b.name || a.ok == b.ok))",
              "message": "two pieces of one name disagree"},
    # mode all reading two fields of each record (only those are given to CEL), with a failing placeholder
    "G-014": {"condition": "items.exists(c, c.size == 3) || size(items) == 0", "mode": "all",
              "message": "no three among {items.map(c, c.label)} ({items.map(c, c.size + 1)})",
              "resource": "{target.name}: {items.size()} gauges"},
    # mode all using whole records (all of each record is given)
    "G-015": {"condition": "items.filter(c, c.size == 1).size() < 3", "mode": "all",
              "message": "{items.filter(c, c.size == 1)}"},
    # instances without a filter: a where that fails for some, a record-level error_when, a
    # condition reading the record, a message placeholder that fails for some instances
    "G-016": {"each": "evidence.pieces", "where": "item.name != 'q' || evidence.size > 2",
              "error_when": "evidence.label == 'unknown'", "error_message": "cannot tell {evidence.label}",
              "condition": "item.ok || evidence.label == 'b2'", "message": "{item.name}: {evidence.size + 1}"},
}


def _yaml(rid: str, spec: dict[str, str]) -> str:
    applies = f"  kind: test.gauge\n  mode: {spec.get('mode', 'each')}\n"
    applies += "".join(f"  {key}: {spec[key]!r}\n" for key in ("filter", "each", "where") if key in spec)
    extra = "".join(f"{key}: {spec[key]!r}\n"
                    for key in ("error_when", "error_message", "resource", "correlation", "always_blocks") if key in spec)
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


def _both(policy: ResolvedPolicy, records: list[Record], monkeypatch: pytest.MonkeyPatch,
          target: dict[str, Any] = TARGET, now: dt.datetime = NOW) -> tuple[tuple[Finding, ...], tuple[Finding, ...]]:
    """The findings of a batched and of a record-by-record evaluation, checked to be the same,
    field by field (ids, correlation keys, always_blocks included), and to group into the same
    problems."""
    batched = evaluate_rules(policy, records, target=target, now=now).findings
    with monkeypatch.context() as m:
        m.setattr(batch, "MIN_RECORDS", 10**9)
        m.setattr(batch, "item_fields", lambda rule: None)  # mode all: whole records
        single = evaluate_rules(policy, records, target=target, now=now).findings
    assert [f.id for f in batched] == [f.id for f in single]
    assert [(f.correlation, f.always_blocks) for f in batched] == [(f.correlation, f.always_blocks) for f in single]
    assert batched == single
    assert group_problems(batched, Severity.HIGH) == group_problems(single, Severity.HIGH)
    return batched, single


def _gauge(i: int, size: Any, label: str, pieces: tuple[Piece, ...] = ()) -> Evidence:
    return Evidence(source="s", resource=f"g{i}", collected_at="2026-11-23T00:00:00Z",
                    data=Gauge(size=size, label=label, pieces=pieces))


_sizes = st.one_of(st.integers(-5, 20), st.text(max_size=3), st.none(), st.booleans(), st.floats(-1, 20))
_labels = st.sampled_from(["a1", "b2", "skip", "unknown", ""])
_pieces = st.lists(st.builds(Piece, name=st.sampled_from(["p", "q", "x"]), ok=st.booleans()), max_size=3).map(tuple)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(_sizes, _labels, _pieces), min_size=batch.MIN_RECORDS, max_size=40))
def test_batch_gives_the_findings_of_one_by_one(gauges: ResolvedPolicy, monkeypatch: pytest.MonkeyPatch,
                                                values: list[tuple[Any, str, tuple[Piece, ...]]]) -> None:
    records: list[Record] = [_gauge(i, size, label, pieces) for i, (size, label, pieces) in enumerate(values)]
    _both(gauges, records, monkeypatch)


def test_new_verdict_fields_agree(gauges: ResolvedPolicy, monkeypatch: pytest.MonkeyPatch) -> None:
    """Correlated failures, instances, not-applicable findings, always_blocks, shared identities
    (ids told apart), as the batch and one by one make them."""
    records: list[Record] = [
        _gauge(i, 7 if i % 4 == 0 else 19 if i % 7 == 0 else i % 12, ["a1", "b2", "skip"][i % 3],
               tuple(Piece(name=n, ok=bool(i % 2)) for n in ("p", "x")[: i % 3]))
        for i in range(40)
    ]
    batched, _ = _both(gauges, records, monkeypatch)
    by_rule = {rid: [f for f in batched if f.rule_id == rid] for rid in RULES}
    assert {f.status.value for f in by_rule["G-011"]} >= {"pass", "fail", "not-applicable"}
    assert [f.status.value for f in by_rule["G-012"]] == ["not-applicable"]
    assert any(f.correlation == "g:a1" for f in by_rule["G-008"]) and any(f.always_blocks for f in by_rule["G-010"])
    assert len({f.id for f in batched}) == len(batched)  # records with one label have distinct finding ids
    assert any(len(p.findings) > 1 for p in group_problems(batched, Severity.HIGH))


def test_a_resource_limit_is_an_error_on_its_record_in_a_batch(gauges: ResolvedPolicy,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """One record too large to judge (G-013 is quadratic in its pieces): an error on that record,
    the others judged, as one by one; the batch cannot hide it."""
    big = tuple(Piece(name=f"p{n}", ok=n % 2 == 0) for n in range(150))
    records: list[Record] = [_gauge(i, i, "a1", big if i == 5 else (Piece(name="p", ok=False),)) for i in range(40)]
    batched, _ = _both(gauges, records, monkeypatch)
    g013 = {f.resource: f for f in batched if f.rule_id == "G-013"}
    assert g013["g5"].status.value == "error" and "resource limit" in g013["g5"].message
    assert {f.status.value for r, f in g013.items() if r != "g5"} == {"pass"}


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
    batched, _ = _both(gauges, records, monkeypatch)
    assert {"G-001:batch", "G-004:batch", "G-005:batch", "G-007:batch", "G-008:batch", "G-011:batch"} <= set(calls)
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


def test_the_fields_read_are_remembered_between_runs(gauges: ResolvedPolicy, monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    """What fields_read and item_fields find is kept beside the compiled programs: a new run
    does not load and decode the expressions again, and finds the same."""
    from auditor._policy import celcache
    from auditor._policy.cel import Expression, _signature

    monkeypatch.setenv("AUDITOR_CACHE_DIR", str(tmp_path))
    rules = {e.id: e.rule for e in gauges.rules}
    asked = ([rules["G-001"]], [rules["G-003"]], list(rules.values()))
    alone = (rules["G-014"], rules["G-015"], rules["G-006"])
    found = []
    for run in range(2):
        monkeypatch.setattr(celcache, "_BY_ENV", {})
        monkeypatch.setattr(batch, "_FIELDS", {})
        monkeypatch.setattr(batch, "_ITEM_FIELDS", {})
        if run:
            monkeypatch.setattr(Expression, "checked", lambda self: pytest.fail("decoded again"))
        found.append(([batch.fields_read(r) for r in asked], [batch.item_fields(r) for r in alone]))
        celcache.save()
    assert found[0] == found[1] == ([frozenset({"size", "label"}), frozenset({"size"}), None],
                                    [frozenset({"size", "label"}), None, frozenset()])
    monkeypatch.undo()  # a damaged entry: the fields are read again
    monkeypatch.setenv("AUDITOR_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(celcache, "_BY_ENV", {})
    monkeypatch.setattr(batch, "_FIELDS", {})
    kept = celcache._programs(_signature("batch"))
    facts = [key for key in kept.stored if key.startswith(celcache.FACTS)]
    assert facts
    kept.stored.update(dict.fromkeys(facts, b"damaged"))
    assert batch.fields_read(asked[0]) == frozenset({"size", "label"})


def test_builtin_certificate_rules_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.benchmarks.test_bench_scan import synthetic_records

    base = synthetic_records(12)
    records: list[Record] = [*base, *(dataclasses.replace(r, resource=f"copy/{r.resource}", id="") for r in base)]
    policy = Catalog.load().resolve(["cim-production"])
    batched, _ = _both(policy, records, monkeypatch)
    assert any(f.status.value == "fail" and f.correlation for f in batched)


def _decided_in_batches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the rules a batch decides from now on (filled as they are decided)."""
    decided: list[str] = []
    original = batch.RecordBatch.outcomes

    def spy(self: batch.RecordBatch, rule: Any) -> Any:
        found = original(self, rule)
        if found is not None:
            decided.append(rule.id)
        return found

    monkeypatch.setattr(batch.RecordBatch, "outcomes", spy)
    return decided


def test_the_demo_agrees(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's evidence, every record copied so that each kind has enough for a batch, under
    the demo target's own packs: the same findings, ids, problems either way."""
    from auditor._demo import DEMO_TARGET, demo_inventory
    from auditor._inventory.model import cel_target_view
    from auditor._scan import collect

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    inventory = demo_inventory()
    bundle = collect(inventory.target(DEMO_TARGET), now=now)
    records: list[Record] = [
        dataclasses.replace(r, resource=f"{r.resource}#{n}" if n else r.resource, id="")
        for n in range(batch.MIN_RECORDS) for r in bundle.records
    ]
    described = dict(bundle.target)
    policy = Catalog.load(list(inventory.rule_paths), list(inventory.policy_paths)).resolve(list(described["policies"]))
    decided = _decided_in_batches(monkeypatch)
    batched, _ = _both(policy, records, monkeypatch, cel_target_view(described), now)
    assert {"pass", "fail"} <= {f.status.value for f in batched}
    assert any(f.correlation for f in batched if f.status.value == "fail")
    assert len(decided) >= 20, decided  # most rules were decided in batches


def _spy_batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of records of each RecordBatch made from now on."""
    made: list[int] = []
    original = batch.RecordBatch.__init__

    def spy(self: batch.RecordBatch, *args: Any, **kwargs: Any) -> None:
        made.append(kwargs["size"] if kwargs.get("size") is not None else len(args[0]))
        original(self, *args, **kwargs)

    monkeypatch.setattr(batch.RecordBatch, "__init__", spy)
    return made


def test_records_decided_before_are_not_evaluated_again(gauges: ResolvedPolicy,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The same data under other resources (another bundle of a fleet) is decided from the
    outcomes kept: no batch, and the findings of a record-by-record evaluation; new data alone
    goes into a batch; other bindings (params, target, now) are never mixed up."""
    batch.forget()
    first = [_gauge(i, i % 9, "a1" if i % 2 else "b2") for i in range(40)]
    _both(gauges, list(first), monkeypatch)
    made = _spy_batches(monkeypatch)
    again: list[Record] = [dataclasses.replace(r, resource=f"other/{r.resource}", id="") for r in reversed(first)]
    _both(gauges, again, monkeypatch)
    assert made == []
    mixed: list[Record] = [*again[:30], *(_gauge(100 + i, 20 + i, "a1") for i in range(5))]
    _both(gauges, mixed, monkeypatch)
    # the 5 new records for the rules decided before; the 18 + 5 distinct values again for
    # the rules whose batch could not decide them all (G-003 yields numbers), not remembered
    assert made == [5, 23]
    _both(gauges, again, monkeypatch)
    assert made == [5, 23]  # a set of records that failed a batch before is not tried again
    later = NOW + dt.timedelta(days=1)
    _both(gauges, mixed, monkeypatch, now=later)
    assert made == [5, 23, 23]
    other = {**TARGET, "name": "node-2"}
    _both(gauges, mixed, monkeypatch, target=other)
    assert made == [5, 23, 23, 23]
    twice: list[Record] = [_gauge(200 + i, 1, "zz") for i in range(batch.MIN_RECORDS)]
    _both(gauges, twice, monkeypatch)
    assert made == [5, 23, 23, 23, 1]  # identical data in one evaluation: decided once


def test_outcomes_kept_survive_the_store_filling_up(gauges: ResolvedPolicy, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the store of kept outcomes fills up while a rule has some of its records decided
    before, those records keep their outcomes (they are not decided again, nor lost)."""
    batch.forget()
    first = [_gauge(i, i % 9, "a1" if i % 2 else "b2") for i in range(40)]
    _both(gauges, list(first), monkeypatch)
    monkeypatch.setattr(batch, "KEPT", batch._KEPT_COUNT + 1)  # full once new records come
    mixed: list[Record] = [*first[:30], *(_gauge(100 + i, 20 + i, "a1") for i in range(40))]
    _both(gauges, mixed, monkeypatch)
    _both(gauges, list(reversed(mixed)), monkeypatch)
    batch.forget()


def test_kinds_with_few_records_are_evaluated_one_by_one(gauges: ResolvedPolicy,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    batch.forget()
    made: list[int] = []
    original = batch.RecordBatch.__init__

    def spy(self: batch.RecordBatch, *args: Any, **kwargs: Any) -> None:
        made.append(kwargs["size"] if "size" in kwargs else len(args[0]))
        original(self, *args, **kwargs)

    monkeypatch.setattr(batch.RecordBatch, "__init__", spy)
    evaluate_rules(gauges, [_gauge(i, i, "a") for i in range(batch.MIN_RECORDS - 1)], target=TARGET, now=NOW)
    assert made == []
    evaluate_rules(gauges, [_gauge(i, i, "a") for i in range(batch.MIN_RECORDS)], target=TARGET, now=NOW)
    assert made == [batch.MIN_RECORDS]


def test_more_records_than_one_group_are_still_decided_in_batches(gauges: ResolvedPolicy,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Past GROUP records a kind is split over several activations (one program over 10,000 records
    exceeds the CEL runtime's iteration budget, which sent every record down the slow path): the
    batches still decide, with the same findings, failures past the first group included."""
    monkeypatch.setattr(batch, "GROUP", 40)
    decided = _decided_in_batches(monkeypatch)
    records: list[Record] = [_gauge(i, i % 12, ("a1", "b2")[i % 2]) for i in range(130)]
    batched, _ = _both(gauges, records, monkeypatch)
    assert {"G-001", "G-008"} <= set(decided)
    failing = [f.resource for f in batched if f.rule_id == "G-001" and f.status.value == "fail"]
    assert "g129" in failing and "g1" in failing


def test_a_kind_past_the_runtime_budget_is_decided_in_batches(gauges: ResolvedPolicy) -> None:
    """10,000 records (one program over all of them exhausts the runtime's iteration budget): the
    batch still decides every record, each failure at its own index."""
    rule = next(e.rule for e in gauges.rules if e.id == "G-001")
    params = {e.id: dict(e.params) for e in gauges.rules}
    b = batch.RecordBatch([{"size": i % 20, "label": "a"} for i in range(10_000)], [rule],
                          rule_params=params, target=TARGET, now=NOW)
    found = b.outcomes(rule)
    assert found is not None
    assert sorted(found) == [i for i in range(10_000) if i % 20 < 10]
    assert found[9_999 - 10].message == "size 9 < 10 (a)"


def test_rules_of_mode_all_read_only_the_fields_their_expressions_name(gauges: ResolvedPolicy) -> None:
    rules = {e.id: e.rule for e in gauges.rules}
    assert batch.item_fields(rules["G-014"]) == frozenset({"size", "label"})
    assert batch.item_fields(rules["G-015"]) is None  # filter() yields whole records
    assert batch.item_fields(rules["G-006"]) == frozenset()  # only the list's size
    builtin = {e.id: e.rule for e in Catalog.load().resolve(["cim-production"]).rules}
    assert batch.item_fields(builtin["CERT-008"]) == frozenset({"san"})


def test_instances_are_decided_in_batches(gauges: ResolvedPolicy, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rules with applies_to.each (and no resource template or always_blocks) have every instance
    decided by the batch: the same findings, pointers and messages as one by one."""
    batch.forget()
    decided = _decided_in_batches(monkeypatch)
    pieces = (Piece(name="p", ok=False), Piece(name="q"), Piece(name="x", ok=False))
    records: list[Record] = [_gauge(i, i % 6, ("a1", "b2", "skip")[i % 3], pieces[: i % 4]) for i in range(40)]
    batched, _ = _both(gauges, records, monkeypatch)
    assert {"G-011", "G-016"} <= set(decided)
    failures = [f for f in batched if f.rule_id == "G-016" and f.status.value == "fail"]
    assert failures and all(f.pointer.startswith("/pieces/") for f in failures)
    sizes = {r.resource: r.data.size for r in records if isinstance(r, Evidence) and isinstance(r.data, Gauge)}
    assert {f.message for f in failures} == {f"{f.resource.rpartition(' ')[2]}: {sizes[f.resource.split()[0]] + 1}"
                                             for f in failures}
    assert any(f.status.value == "not-applicable" for f in batched if f.rule_id == "G-016")


def _altered(value: Any, rng: Any) -> Any:
    """`value` (a record's plain data) with some fields changed: flipped, emptied, cut short,
    repeated or given another common value."""
    if isinstance(value, dict):
        return {k: (_altered(v, rng) if rng.random() < 0.15 else None if rng.random() < 0.05 else v)
                for k, v in value.items()}
    if isinstance(value, list):
        out = [_altered(v, rng) if rng.random() < 0.3 else v for v in value]
        if out and rng.random() < 0.2:
            out = out[: rng.randrange(len(out))]
        if out and rng.random() < 0.2:
            out.append(rng.choice(out))
        return out
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return rng.choice([0, -1, value + 1, 2**31, 65535])
    if isinstance(value, str):
        return rng.choice(["", "*", value.upper(), value + "x", "0", "true", "${x}", "a.b", "root"])
    return value


SECRETS = ("password=hunter2hunter2", "AKIAABCDEFGHIJKLMNOP", "token: abcdef123456")


def _altered_records(bundle: Any, rng: random.Random, copies: int = 4, *, shuffled: bool = False) -> list[Record]:
    """`copies` of the records of `bundle` (the copies' resources told apart by `#n`), the data of
    about half of them altered (_altered); `shuffled`: in a random order, some records left
    out, some copied twice (the same resource) and some resources holding a secret-looking value."""
    import msgspec

    records: list[Record] = []
    for n in range(copies):
        for r in bundle.records:
            data = r.data if isinstance(r, Evidence) else None
            if data is not None and rng.random() < 0.5:
                plain = msgspec.to_builtins(data)
                for _ in range(3):
                    try:
                        data = msgspec.convert(_altered(plain, rng), type(data), strict=False)
                        break
                    except (msgspec.ValidationError, TypeError, ValueError):
                        continue
            changed = {"data": data} if data is not None else {}
            resource = f"{r.resource}#{n}" if n else r.resource
            if shuffled and rng.random() < 0.05:
                resource += " " + rng.choice(SECRETS)
            if shuffled and rng.random() < 0.1:
                continue
            records.append(dataclasses.replace(r, resource=resource, id="", **changed))
            if shuffled and rng.random() < 0.05:
                records.append(records[-1])
    if shuffled:
        rng.shuffle(records)
    return records


@pytest.fixture(scope="module")
def demo_bundle() -> Any:
    from auditor._demo import DEMO_TARGET, demo_inventory
    from auditor._scan import collect

    return collect(demo_inventory().target(DEMO_TARGET), now=NOW)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2**32))
def test_every_shipped_rule_agrees_on_altered_demo_evidence(demo_bundle: Any, monkeypatch: pytest.MonkeyPatch,
                                                            seed: int) -> None:
    """Every rule under rules/ (all four packs), on the demo's evidence with fields of half of
    its records altered (each record four times, a batch from four records of a kind): the
    batch and one-by-one evaluations give the same findings (messages showing maps included:
    SOPS-004's two maps of selectors once came out in another order)."""
    from auditor._inventory.model import cel_target_view

    monkeypatch.setattr(batch, "MIN_RECORDS", 4)
    batch.forget()
    records = _altered_records(demo_bundle, random.Random(seed))  # many draws: hypothesis picks the seed only
    policy = Catalog.load().resolve(["cim-production", "cim-staging", "pss-baseline", "pss-restricted"])
    assert len(policy.rules) == len(list(Path("rules").rglob("*.yaml")))
    batched, _ = _both(policy, records, monkeypatch, cel_target_view(dict(demo_bundle.target)), NOW)
    assert {"pass", "fail"} <= {f.status.value for f in batched}


def test_outcomes_kept_are_not_given_to_a_rule_with_other_texts(tmp_path: Path) -> None:
    """Outcomes are kept in the process by the rule's program; a failure's message and
    correlation key are rendered with the rule's texts around the placeholders: a rule of the
    same id and expressions whose texts differ (the rule file edited, another catalog) must not
    get the messages rendered for the first."""
    KINDS[Gauge.KIND] = Gauge
    try:
        batch.forget()
        records: list[Record] = [_gauge(i, i, "a") for i in range(batch.MIN_RECORDS)]
        seen = []
        for n, (message, correlation) in enumerate([("small {evidence.size}", "g:{evidence.label}"),
                                                    ("TOO SMALL {evidence.size}", "g:{evidence.label}"),
                                                    ("TOO SMALL {evidence.size}", "h:{evidence.label}")]):
            folder = tmp_path / str(n)
            (folder / "rules").mkdir(parents=True)
            (folder / "rules" / "G-001.yaml").write_text(_yaml("G-001", {
                "condition": "evidence.size >= params.min", "message": message, "correlation": correlation}))
            (folder / "packs").mkdir()
            (folder / "packs" / "p.yaml").write_text("id: p\ntitle: P\nselect: [{area: certificates}]\n")
            policy = Catalog.load([folder / "rules"], [folder / "packs"], builtin=False).resolve(["p"])
            failed = [f for f in evaluate_rules(policy, records, target=TARGET, now=NOW).findings
                      if f.status.value == "fail"]
            seen.append((failed[0].message, failed[0].correlation))
        assert seen == [("small 0", "g:a"), ("TOO SMALL 0", "g:a"), ("TOO SMALL 0", "h:a")]
    finally:
        KINDS.pop(Gauge.KIND, None)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2**32), st.sampled_from([("cim-production",), ("cim-staging", "pss-restricted")]))
def test_results_render_the_same_batch_or_one_by_one(demo_bundle: Any, monkeypatch: pytest.MonkeyPatch, seed: int,
                                                     packs: tuple[str, ...]) -> None:
    """Whole results (owners, waivers, redaction, verdict, problems, order) of altered demo
    evidence in a random order, with repeated records and secret-looking resources: the JSON,
    text and SARIF reports of a batched evaluation are those of a record-by-record one, and each
    evaluated twice (outcomes, finding ids and redacted texts kept from the first) is the same."""
    from auditor._render import renderer
    from auditor._scan import EvaluateOptions, evaluate_bundle
    from auditor.evidence.bundle import Bundle

    monkeypatch.setattr(batch, "MIN_RECORDS", 4)
    batch.forget()
    records = _altered_records(demo_bundle, random.Random(seed), 3, shuffled=True)
    bundle = Bundle.create(dict(demo_bundle.target), "2026-11-23T00:00:00Z", records)
    catalog = Catalog.load()
    options = EvaluateOptions(now=NOW, policies=packs)

    def reports() -> list[str]:
        result = evaluate_bundle(bundle, options, catalog=catalog)
        return [renderer(name).render(result) for name in ("json", "text", "sarif")]

    batched = reports()
    assert reports() == batched
    with monkeypatch.context() as m:
        m.setattr(batch, "MIN_RECORDS", 10**9)
        assert reports() == batched
    assert '"status": "fail"' in batched[0] and "hunter2hunter2" not in "".join(batched)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.randoms(use_true_random=False), st.booleans())
def test_settled_findings_are_made_in_report_order_only_where_that_changes_nothing(
        gauges: ResolvedPolicy, monkeypatch: pytest.MonkeyPatch, rng: random.Random, shared: bool) -> None:
    """The records a batch settles are walked in the order findings are reported (resource, then
    record id) unless two of them share resource and identity: _unique numbers those in the
    records' order, which must stay the bundle's (`shared`: several records at one resource with
    one label, their data differing; else distinct resources in a random order)."""
    records: list[Record] = [
        dataclasses.replace(_gauge(i, i % 9, "a1" if shared else f"l{i}"), resource="g" if shared and i % 2 else f"g{i}")
        for i in range(40)
    ]
    rng.shuffle(records)
    batched, _ = _both(gauges, records, monkeypatch)
    assert len({f.id for f in batched}) == len(batched)
    assert [f.sort_key() for f in batched] == sorted(f.sort_key() for f in batched)
