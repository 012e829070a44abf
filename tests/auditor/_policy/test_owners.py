"""Owners and times to fix as data: packs and inventory targets map rules to an owner and a due date."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditor._inventory.load import load_inventory
from auditor._loader.yamlfile import load_yaml
from auditor._models import Severity
from auditor._policy.catalog import Catalog
from auditor._policy.owners import Assignment, Owners, Place, load_ownership, parse_duration
from auditor.errors import ConfigError
from tests.auditor._policy.test_rules_and_packs import load, write_rule

PACK = """\
id: {id}
title: t
select:
  - area: certificates
ownership:
{ownership}
"""

OWNERSHIP = """\
  time_to_fix: {critical: 1d, high: 2w, medium: 30}
  owners:
    - {id: "TEST-00*", owner: pki-operations, time_to_fix: {high: 3d}}
    - {area: certificates, owner: certificate-team}
"""


def pack(folder: Path, ownership: str = OWNERSHIP, pid: str = "p1") -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{pid}.yaml"
    path.write_text(PACK.format(id=pid, ownership=ownership))
    return path


def catalog(tmp_path: Path, *packs: str) -> Catalog:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    write_rule(rules, "TEST-001")
    write_rule(rules, "TEST-010")
    policies = tmp_path / "policies"
    for i, text in enumerate(packs):
        pack(policies, text, f"p{i + 1}")
    return load(rules, policies)


def test_first_entry_naming_the_rule_wins_and_its_time_overrides(tmp_path: Path) -> None:
    owners = catalog(tmp_path, OWNERSHIP).resolve(["p1"]).owners()
    assert owners.assign("TEST-001", "certificates", (), Severity.HIGH) == Assignment(
        "pki-operations", 3, owners.assign("TEST-001", "certificates", (), Severity.HIGH).source
    )
    assert owners.assign("TEST-001", "certificates", (), Severity.CRITICAL).days == 1
    other = owners.assign("TEST-010", "certificates", (), Severity.HIGH)
    assert (other.owner, other.days) == ("certificate-team", 14)
    assert other.source.endswith("p1.yaml:9")  # the entry's line: a reader can trace who decided
    low = owners.assign("TEST-010", "certificates", (), Severity.LOW)
    assert (low.owner, low.days, low.due(dt.date(2026, 1, 1))) == ("certificate-team", None, None)
    assert owners.assign("TEST-010", "certificates", (), Severity.MEDIUM).due(dt.date(2026, 1, 1)) == dt.date(2026, 1, 31)


def test_later_pack_and_then_the_target_win(tmp_path: Path) -> None:
    later = "  time_to_fix: {high: 1w}\n  owners:\n    - {id: TEST-010, owner: night-shift}\n"
    policy = catalog(tmp_path, OWNERSHIP, later).resolve(["p1", "p2"])
    owners = policy.owners()
    a = owners.assign("TEST-010", "certificates", (), Severity.HIGH)
    assert (a.owner, a.days) == ("night-shift", 7)
    b = owners.assign("TEST-001", "certificates", (), Severity.CRITICAL)
    assert (b.owner, b.days) == ("pki-operations", 1)  # the earlier pack still answers what the later does not say
    inventory = tmp_path / "auditor.yaml"
    inventory.write_text(
        "version: 1\ntargets:\n  - name: n1\n    environment: production\n    policies: [p1]\n"
        "    ownership:\n      time_to_fix: {high: 1d}\n      owners:\n        - {tag: t, owner: site-ops}\n"
        "    sources: []\n"
    )
    target = load_inventory(inventory).target("n1")
    owners = policy.owners(target.ownership)
    site = owners.assign("TEST-010", "certificates", ("t",), Severity.HIGH)
    assert (site.owner, site.days) == ("site-ops", 1)
    untagged = owners.assign("TEST-010", "certificates", (), Severity.HIGH)
    assert (untagged.owner, untagged.days) == ("night-shift", 1)


def test_no_ownership_assigns_nobody(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    write_rule(rules, "TEST-001")
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "p.yaml").write_text("id: p\ntitle: t\nselect:\n  - area: certificates\n")
    owners = load(rules, policies).resolve(["p"]).owners()
    assert not owners
    assert owners.assign("TEST-001", "certificates", (), Severity.CRITICAL) == Assignment(None, None)


@pytest.mark.parametrize(
    ("ownership", "field", "message"),
    [
        ("  owners:\n    - {owner: x}\n", "ownership.owners[0]", "exactly one of id, area or tag"),
        ("  owners:\n    - {area: certificates, tag: t, owner: x}\n", "ownership.owners[0]", "exactly one of id, area or tag"),
        ("  owners:\n    - {area: nothing-here, owner: x}\n", "ownership.owners[0]", r"names no rule \(area: nothing-here\)"),
        ("  owners:\n    - {area: certificates, owner: '  '}\n", "ownership.owners[0].owner", "role or team"),
        ("  time_to_fix: {high: 7 days}\n", "ownership.time_to_fix.high", "number of days"),
        ("  time_to_fix: {high: 99999}\n", "ownership.time_to_fix.high", "number of days"),
        ("  time_to_fix: {urgent: 1d}\n", "ownership.time_to_fix", "urgent"),
        ("  owners:\n    - {area: certificates, owner: x, time_to_fix: {low: -1}}\n", "ownership.owners[0].time_to_fix.low", "number of days"),
    ],
)
def test_errors_name_the_file_line_and_field(tmp_path: Path, ownership: str, field: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        catalog(tmp_path, ownership)
    diagnostics = caught.value.diagnostics()
    assert "p1.yaml:" in diagnostics and f"field '{field}'" in diagnostics


def test_inventory_ownership_errors_name_the_target(tmp_path: Path) -> None:
    inventory = tmp_path / "auditor.yaml"
    inventory.write_text(
        "version: 1\ntargets:\n  - name: n1\n    environment: production\n    policies: [p1]\n"
        "    ownership:\n      owners:\n        - {tag: t, area: a, owner: site-ops}\n    sources: []\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_inventory(inventory)
    assert caught.value.diagnostics().startswith(f"{inventory}:8: field 'targets[0].ownership.owners[0]'")


@given(st.one_of(st.integers(-5, 4000), st.text(max_size=6), st.booleans(), st.none(), st.floats()))
def test_durations_are_whole_days_or_a_located_error(value: object) -> None:
    place = Place("f.yaml", 3, "ownership.time_to_fix.high")
    try:
        days = parse_duration(value, place)
    except ConfigError as exc:
        assert exc.diagnostics().startswith("f.yaml:3: field 'ownership.time_to_fix.high'")
    else:
        assert 0 <= days <= 3650
        assert not isinstance(value, bool)


def test_weeks_and_days() -> None:
    place = Place("f", None, "x")
    assert [parse_duration(v, place) for v in ("2w", "10d", 0, 3)] == [14, 10, 0, 3]


def test_shipped_cim_packs_and_demo_own_every_selected_rule() -> None:
    from auditor._demo import demo_inventory

    inventory = demo_inventory()
    cat = Catalog.load(inventory.rule_paths, inventory.policy_paths)
    target = inventory.target("cim-prod-001")
    for policies in (target.policies, ("cim-staging",)):
        resolved = cat.resolve(list(policies))
        owners = resolved.owners(target.ownership)
        for effective in resolved.rules:
            rule = effective.rule
            a = owners.assign(rule.id, rule.area, rule.tags, effective.severity)
            assert a.owner, f"{rule.id} has no owner under {policies}"
            if effective.severity is not Severity.INFO:
                assert a.days is not None and a.days > 0, rule.id
    resolved = cat.resolve(list(target.policies))
    host = resolved.owners(target.ownership).assign("HOST-001", "host", (), Severity.HIGH)
    assert host.owner == "cim-001-site-operations" and host.days == 7
    staging = cat.resolve(["cim-staging"]).owners().assign("CERT-001", "certificates", (), Severity.CRITICAL)
    assert (staging.owner, staging.days) == ("pki-operations", 3)


def test_load_ownership_absent_is_none(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("id: p\n")
    assert load_ownership(load_yaml(path), ("ownership",)) is None
    assert not Owners.of(None, [None, None])


def test_a_bundle_carries_the_targets_ownership_to_its_evaluation(tmp_path: Path) -> None:
    """`collect` here, `evaluate` elsewhere: the failures still get the target's owners; a
    bundle whose ownership was edited into nonsense is refused naming the field."""
    import dataclasses

    from auditor._demo import demo_inventory
    from auditor._models import Status
    from auditor._scan import EvaluateOptions, collect, evaluate_bundle
    from auditor.evidence.bundle import Bundle

    inventory = demo_inventory()
    target = inventory.target("cim-prod-001")
    only_certs = dataclasses.replace(target, sources=tuple(s for s in target.sources if s.collector == "certificates"))
    bundle = collect(only_certs)
    assert bundle.target["ownership"] == {"owners": [{"area": "host", "owner": "cim-001-site-operations"}]}
    catalog = Catalog.load(inventory.rule_paths, inventory.policy_paths)
    result = evaluate_bundle(bundle, EvaluateOptions(), catalog=catalog)
    failures = [f for f in result.findings if f.status is Status.FAIL]
    assert failures and {f.owner for f in failures} == {"pki-operations"}
    assert all(f.due for f in failures) and not any(f.owner for f in result.findings if f.status is Status.PASS)
    edited = Bundle.create({**bundle.target, "ownership": {"owners": [{"owner": "x"}]}}, bundle.created_at, bundle.records)
    with pytest.raises(ConfigError) as caught:
        evaluate_bundle(edited, EvaluateOptions(), catalog=catalog)
    assert "field 'ownership.owners[0]'" in caught.value.diagnostics()
