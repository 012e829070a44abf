"""canonical_plain_json writes exactly what canonical_json writes (digests and signatures depend on it)."""

from __future__ import annotations

import copy
import gc
import json
import pickle
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor._models import (
    FINDING_FIELDS,
    Finding,
    Severity,
    Status,
    Summary,
    Waiver,
    canonical_json,
    canonical_object,
    canonical_plain_json,
    finding_id,
    finding_ids,
    findings_of,
    group_problems,
    rules_ids,
    sha256_hex,
)

_scalars = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.text() | st.floats(
    allow_nan=True, allow_infinity=True
) | st.sampled_from([1e16, 1e-5, 1.5e-5, 9.99e-5, 1e-4, 1e15, 123456789012345678.0, 5e-324, -0.0])
_plain = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                      max_leaves=30)


@settings(max_examples=400)
@given(_plain)
def test_plain_json_is_canonical_json(value: Any) -> None:
    assert canonical_plain_json(value) == canonical_json(value)


@given(st.dictionaries(st.text(), _plain, max_size=5))
def test_an_object_from_its_encoded_members(members: dict[str, Any]) -> None:
    assert canonical_object({k: canonical_plain_json(v) for k, v in members.items()}) == canonical_json(members)


def test_numbers_msgspec_writes_otherwise_are_written_by_json() -> None:
    for value in ([1e16], {"a": 1e-5}, {"a": [float("nan"), float("inf")]}, {"x": {"y": -2.5e-7}}, {"big": 2**80}):
        assert canonical_plain_json(value) == json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert canonical_plain_json({"a": 1e-5}) == b'{"a":1e-05}'


@settings(max_examples=300)
@given(st.lists(st.sampled_from([203, 0xCB00, 0xCBCBCBCB, -0x35, 2**63 - 0x35, "\u02c0", "\u02ff x", "\u02cb"])
                | st.floats() | st.integers(min_value=-(2**64), max_value=2**64), max_size=6), st.floats())
def test_a_float_mark_inside_an_integer_or_a_character_changes_nothing(values: list[Any], x: float) -> None:
    """MessagePack's float mark (0xcb) also comes inside integers and in the UTF-8 of U+02C0 to
    U+02FF: read as a float there, it must never change what is written (json's text, always)."""
    for value in ([*values, x], {"k\u02cb": values, "x": x}, [values, [x, values]]):
        assert canonical_plain_json(value) == json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@settings(max_examples=300)
@given(st.text(), st.text(), st.text(), _plain, st.none() | st.text())
def test_record_ids_are_the_digest_of_canonical_json(kind: str, source: str, resource: str, data: Any,
                                                     error: str | None) -> None:
    """A record's id is `ev-` and 16 hex digits of the SHA-256 of what json writes of it (what
    bundles are checked by, whichever way it is encoded)."""
    from auditor.evidence.record import record_id, record_id_of

    said = {"kind": kind, "source": source, "resource": resource, "data": data, "error": error}
    expected = "ev-" + sha256_hex(json.dumps(said, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())[:16]
    assert record_id(kind, source, resource, data, error) == expected
    assert record_id_of(kind, source, resource, canonical_plain_json(data), error) == expected


@given(st.text(), st.lists(st.text(), max_size=4))
def test_finding_ids_are_the_digest_of_canonical_json(rule_id: str, identity: list[str]) -> None:
    """Finding ids are written with msgspec: the same ids as hashing canonical_json."""
    assert finding_id(rule_id, identity) == f"{rule_id}:{sha256_hex(canonical_json([rule_id, *identity]))[:16]}"


def test_a_finding_by_position_and_replaced_is_what_init_makes() -> None:
    declared = msgspec.structs.fields(Finding)
    fields = {f.name: f.default for f in declared if f.default is not msgspec.NODEFAULT}
    fields |= {"rule_id": "R-1", "title": "t", "area": "a", "severity": Severity.HIGH, "status": Status.FAIL,
               "resource": "r", "message": "m", "references": {"nist": ("SC-1",)}, "id": finding_id("R-1", ("r",)),
               "correlation": "c", "always_blocks": True, "evidence": ("ev-1",)}
    assert set(fields) == {f.name for f in declared} == set(FINDING_FIELDS)
    made = Finding(**fields)
    quick = Finding(*[fields[name] for name in FINDING_FIELDS])
    assert quick == made and type(quick) is Finding and repr(quick) == repr(made)
    with pytest.raises(AttributeError):
        quick.status = Status.PASS  # type: ignore[misc]
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):  # a process pool's results: `evaluate --jobs`
        back = pickle.loads(pickle.dumps(quick, protocol))  # noqa: S301
        assert back == made and type(back) is Finding and repr(back) == repr(made)
    assert copy.deepcopy(made) == made and copy.copy(made) == made
    changed = made.replaced({"owner": "ops", "due": "2026-12-01"})
    assert changed == Finding(**{**fields, "owner": "ops", "due": "2026-12-01"}) and made.owner == ""
    assert made.owned("ops", "2026-12-01") == changed and changed.owned("", "") == made
    assert Finding(**{**fields, "id": ""}).id == finding_id("R-1", ("r",))  # by default, of the resource


def test_findings_are_not_tracked_by_the_collector() -> None:
    """A finding can hold no reference back to itself (strings, enums, tuples, its rule's
    references, a waiver): the collector never walks one, however it was made."""
    waiver = Waiver(rule="R-1", resource="r", reason="x", approver="a", expires="2027-01-01")
    made = Finding("R-1", "t", "a", Severity.HIGH, Status.FAIL, "r", "m", ("ev-1",), references={"nist": ("SC-1",)},
                   waiver=waiver)
    shared = findings_of("R-1", "t", "a", Severity.HIGH, Status.PASS, "t", "", "", {}, None, "", False, "", "")
    for finding in (made, made.replaced({"status": Status.WAIVED}), made.owned("ops", "2026-12-01"),
                    Finding(**{name: getattr(made, name) for name in FINDING_FIELDS}),
                    shared("r", ("ev-1",), "R-1:1"), pickle.loads(pickle.dumps(made)),  # noqa: S301
                    Finding.from_dict(made.to_dict())):
        assert not gc.is_tracked(finding), finding


def test_findings_of_a_rule_are_what_finding_makes() -> None:
    shared: dict[str, Any] = {"rule_id": "R-1", "title": "t", "area": "a", "severity": Severity.HIGH, "status": Status.PASS,
              "message": "t", "pointer": "/p", "remediation": "fix", "references": {"nist": ("SC-1",)},
              "waiver": None, "correlation": "c", "always_blocks": True, "owner": "ops", "due": "2026-12-01"}
    make = findings_of(*shared.values())
    for resource, evidence, fid in (("r", ("ev-1",), "R-1:1"), ("s", (), "R-1:2")):
        fields: dict[str, Any] = {**shared, "resource": resource, "evidence": evidence, "id": fid}
        made = make(resource, evidence, fid)
        assert made == Finding(**fields) and type(made) is Finding and repr(made) == repr(Finding(**fields))


@given(st.text(min_size=1), st.lists(st.lists(st.text(max_size=3), max_size=2).map(tuple), max_size=6))
def test_finding_ids_of_a_rule_are_its_finding_ids(rule_id: str, identities: list[tuple[str, ...]]) -> None:
    expected = [finding_id(rule_id, identity) for identity in identities]
    assert finding_ids(rule_id, identities) == expected
    assert finding_ids(rule_id, identities) == expected  # read back from those kept
    assert finding_ids(rule_id, [*identities, ("new", rule_id)])[-1] == finding_id(rule_id, ("new", rule_id))


@given(st.text(), st.lists(st.lists(st.one_of(st.text(), st.integers(), st.none()), max_size=3).map(tuple), max_size=6))
def test_new_finding_ids_are_the_digest_of_canonical_json(rule_id: str, identities: list[tuple[Any, ...]]) -> None:
    """Ids never made before (hashed from the rule's part of the text once) are finding_id's."""
    from auditor import _models

    _models._IDS_OF_RULE.pop(rule_id, None)
    _models._ID_TAILS.clear()
    made = finding_ids(rule_id, identities)
    assert made == [f"{rule_id}:{sha256_hex(canonical_json([rule_id, *identity]))[:16]}" for identity in identities]
    _models._IDS_OF_RULE.pop(rule_id, None)
    assert finding_ids(rule_id, identities) == made  # the identities' parts kept


@given(st.lists(st.text(), max_size=5), st.lists(st.one_of(st.text(), st.integers(), st.none()), max_size=3).map(tuple))
def test_the_ids_of_rules_on_one_identity_are_their_finding_ids(rule_ids: list[str], identity: tuple[Any, ...]) -> None:
    """rules_ids (each rule's text hashed once per process) gives what finding_id gives."""
    expected = [f"{rule_id}:{sha256_hex(canonical_json([rule_id, *identity]))[:16]}" for rule_id in rule_ids]
    assert rules_ids(rule_ids, identity) == expected
    assert rules_ids(rule_ids, identity) == expected  # the rules' parts kept


def test_finding_ids_all_new_then_some_known() -> None:
    """A rule's ids all new (a bundle's own records), then some of them known."""
    from auditor import _models

    _models._IDS_OF_RULE.pop("R-NEW", None)
    identities = [("a", "b"), ("c",), ("a", "b")]
    expected = [finding_id("R-NEW", i) for i in identities]
    assert finding_ids("R-NEW", identities) == expected
    assert _models._IDS_OF_RULE["R-NEW"] == dict(zip(identities, expected, strict=True))
    assert finding_ids("R-NEW", [("d",), *identities]) == [finding_id("R-NEW", ("d",)), *expected]


def test_finding_ids_kept_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from auditor import _models

    monkeypatch.setattr(_models, "_FINDING_IDS_KEPT", 10)
    monkeypatch.setattr(_models, "_IDS_OF_RULE", {})
    monkeypatch.setattr(_models, "_IDS_KEPT", 0)
    for n in range(5):
        identities = [(f"r{n}-{i}",) for i in range(4)]
        assert finding_ids(f"R-{n % 2}", identities) == [finding_id(f"R-{n % 2}", i) for i in identities]
        assert sum(map(len, _models._IDS_OF_RULE.values())) <= 10


def test_finding_id_keeps_its_ids_with_finding_ids_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """finding_id and finding_ids keep their ids in one store, bounded as one: an id finding_id
    made is read back by finding_ids, and finding_id's alone never grow it past the bound."""
    from auditor import _models

    monkeypatch.setattr(_models, "_FINDING_IDS_KEPT", 10)
    monkeypatch.setattr(_models, "_IDS_OF_RULE", {})
    monkeypatch.setattr(_models, "_IDS_KEPT", 0)
    made = finding_id("R-ONE", ["a", "b"])
    assert _models._IDS_OF_RULE["R-ONE"] == {("a", "b"): made}
    assert finding_ids("R-ONE", [("a", "b")]) == [made]
    for n in range(25):
        finding_id(f"R-{n % 3}", (f"r{n}",))
        assert sum(map(len, _models._IDS_OF_RULE.values())) <= 10


@settings(max_examples=200)
@given(st.text(min_size=1), st.lists(st.text(), max_size=4))
def test_finding_ids_are_the_hash_of_the_canonical_json(rule_id: str, identity: list[str]) -> None:
    expected = f"{rule_id}:{sha256_hex(canonical_json([rule_id, *identity]))[:16]}"
    assert finding_id(rule_id, identity) == expected
    assert finding_id(rule_id, tuple(identity)) == expected  # the second time, from the memo


_findings = st.lists(st.builds(
    lambda rule, status, severity, area, key, blocks, owner, due: Finding(
        rule_id=rule, title=f"title of {rule}", area=area, severity=severity, status=status, resource=f"r{key}",
        message="m", id=finding_id(rule, (f"r{key}",)), correlation=f"c{key % 3}" if key % 2 else "",
        always_blocks=blocks, owner=owner, due=due),
    st.sampled_from(["R-1", "R-2", "R-3"]), st.sampled_from(list(Status)), st.sampled_from(list(Severity)),
    st.sampled_from(["certificates", "containers", "nats"]), st.integers(0, 7), st.booleans(),
    st.sampled_from(["", "ops", "dev"]), st.sampled_from(["", "2026-12-01", "2027-01-01"])), max_size=30)


@given(_findings)
def test_summary_counts_every_finding_once(findings: list[Finding]) -> None:
    """Summary.of counts by (area, status, severity) first: the counts of a finding-by-finding tally."""
    statuses = [s.value for s in Status]
    by_area: dict[str, dict[str, int]] = {}
    by_severity = {s.value: dict.fromkeys(statuses, 0) for s in Severity}
    for f in findings:
        by_area.setdefault(f.area, dict.fromkeys(statuses, 0))[f.status.value] += 1
        by_severity[f.severity.value][f.status.value] += 1
    got = Summary.of(findings).to_dict()
    assert got["total"] == len(findings)
    assert got["by_status"] == {s: sum(f.status.value == s for f in findings) for s in statuses}
    assert list(got["by_status"]) == statuses and list(got["by_severity"]) == [s.value for s in Severity]
    assert got["by_area"] == dict(sorted(by_area.items())) and list(got["by_area"]) == sorted(by_area)
    assert got["by_severity"] == by_severity


@given(_findings, st.sampled_from(list(Severity)))
def test_a_problem_of_one_hit_is_written_as_the_general_form_writes_it(findings: list[Finding], threshold: Severity) -> None:
    for problem in group_problems(findings, threshold):
        general = {
            "id": problem.id,
            "correlation": problem.key if problem.primary.correlation else "",
            "severity": problem.severity.value,
            "blocking": any(f.blocks(threshold) for f in problem.findings),
            "title": problem.primary.title,
            "resource": problem.primary.resource,
            "rules": sorted({f.rule_id for f in problem.findings}),
            "findings": [f.id for f in problem.findings],
            **({"owner": problem.owner} if problem.owner else {}),
            **({"due": problem.due} if problem.due else {}),
        }
        assert json.dumps(problem.to_dict(threshold)) == json.dumps(general)  # key order too
        assert problem.blocks(threshold) == general["blocking"]


def test_severity_order() -> None:
    ranks = [s.rank for s in Severity]
    assert ranks == [4, 3, 2, 1, 0]
    assert all(a.at_least(b) == (ranks[i] >= ranks[j]) for i, a in enumerate(Severity) for j, b in enumerate(Severity))


def test_status_and_severity_values_are_read_as_enum_gives_them() -> None:
    """Status and Severity read `value` through a C-level property (fast_value): it gives what
    Enum's own property gives, members are still found by value, and pickling still works."""
    import enum
    import pickle

    for cls in (Status, Severity):
        for member in cls:
            assert member.value == enum.Enum.__dict__["value"].fget(member) == member._value_
            assert cls(member.value) is member and pickle.loads(pickle.dumps(member)) is member  # noqa: S301


@pytest.mark.parametrize(("member", "value", "kind"), [
    ("severity", "bogus", "Severity"), ("status", "PASS", "Status"), ("severity", ["high"], "Severity"),
    ("status", None, "Status"),
])
def test_a_finding_read_with_a_value_its_enum_has_not_is_refused_by_the_enum(member: str, value: object,
                                                                              kind: str) -> None:
    """Reading a finding looks its severity and status up by value; any other value (another
    case, an unhashable list, null) is refused as the enum refuses it, naming the value."""
    raw = {**Finding("R-1", "t", "a", Severity.HIGH, Status.FAIL, "r", "m").to_dict(), member: value}
    with pytest.raises(ValueError, match=f"is not a valid {kind}"):
        Finding.from_dict(raw)
    assert Finding.from_dict({**raw, member: "low" if member == "severity" else "pass"}).to_dict()[member] in {"low", "pass"}
