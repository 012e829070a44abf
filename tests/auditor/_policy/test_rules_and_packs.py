from __future__ import annotations

from pathlib import Path

import pytest

from auditor._models import Severity
from auditor._policy.catalog import Catalog
from auditor.errors import ConfigError

RULE = """\
id: {id}
title: Test rule {id}
area: certificates
severity: high
description: d
rationale: r
remediation: fix it
references:
  checklist: [cim.crypto.leaf-certs]
applies_to:
  kind: x509.certificate
condition: {condition}
message: "bad {{evidence.subject}}"
params:
  limit: 10
"""


def write_rule(folder: Path, rid: str, condition: str = "evidence.key.size >= params.limit", **replace: str) -> Path:
    text = RULE.format(id=rid, condition=condition)
    for old, new in replace.items():
        text = text.replace(old, new)
    path = folder / f"{rid}.yaml"
    path.write_text(text)
    return path


def load(rules: Path, policies: Path | None = None) -> Catalog:
    return Catalog.load([rules], [policies] if policies else [], builtin=False)


def catalog_of(tmp_path: Path, rule_ids: list[str], packs: dict[str, str]) -> tuple[Path, Catalog]:
    """A folder of the rules `rule_ids` (as write_rule writes them) and of packs {file name: YAML},
    and the catalogue of both."""
    rules, folder = tmp_path / "rules", tmp_path / "packs"
    rules.mkdir()
    folder.mkdir()
    for rid in rule_ids:
        write_rule(rules, rid)
    for name, text in packs.items():
        (folder / name).write_text(text)
    return rules, load(rules, folder)


def test_valid_rule_loads(tmp_path: Path) -> None:
    write_rule(tmp_path, "TEST-001")
    cat = load(tmp_path)
    rule = cat.rules["TEST-001"]
    assert rule.severity is Severity.HIGH and rule.params == {"limit": 10}


def test_id_must_match_file_name(tmp_path: Path) -> None:
    path = write_rule(tmp_path, "TEST-001")
    path.rename(tmp_path / "other.yaml")
    with pytest.raises(ConfigError, match="must match its file name"):
        load(tmp_path)


def test_undeclared_param(tmp_path: Path) -> None:
    write_rule(tmp_path, "TEST-002", condition="evidence.key.size >= params.nope")
    with pytest.raises(ConfigError, match=r"params\.nope"):
        load(tmp_path)


def test_cel_error_line_points_into_the_file(tmp_path: Path) -> None:
    write_rule(tmp_path, "TEST-003", condition="|\n  evidence.a &&\n  undefined_thing")
    with pytest.raises(ConfigError) as info:
        load(tmp_path)
    lines = (tmp_path / "TEST-003.yaml").read_text().splitlines()
    assert info.value.line is not None
    assert "undefined_thing" in lines[info.value.line - 1]


def test_unknown_checklist_item(tmp_path: Path) -> None:
    write_rule(tmp_path, "TEST-004", **{"cim.crypto.leaf-certs": "cim.nope.nope"})
    with pytest.raises(ConfigError, match="unknown checklist item"):
        load(tmp_path)


def test_unknown_field_and_bad_severity(tmp_path: Path) -> None:
    write_rule(tmp_path, "TEST-005", **{"severity: high": "severity: urgent"})
    with pytest.raises(ConfigError, match="urgent"):
        load(tmp_path)


def test_duplicate_ids_across_folders(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_rule(tmp_path / "a", "TEST-006")
    write_rule(tmp_path / "b", "TEST-006")
    with pytest.raises(ConfigError, match="duplicate rule id"):
        load(tmp_path)


def test_validate_mode_gathers_every_error(tmp_path: Path) -> None:
    write_rule(tmp_path, "TEST-007", condition="nope")
    write_rule(tmp_path, "TEST-008", condition="1 + 1")
    write_rule(tmp_path, "TEST-009")
    cat = Catalog.load([tmp_path], builtin=False, strict=False)
    assert len(cat.errors) == 2
    assert set(cat.rules) == {"TEST-009"}


PACK = """\
id: p
title: P
select:
  - area: certificates
exclude:
  - id: TEST-02*
params:
  TEST-010: {limit: 20}
severity:
  TEST-010: critical
waivers:
  - rule: TEST-010
    resource: "certs/*"
    instances: 2
    reason: accepted for now
    approver: Security Lead
    expires: "2030-01-01"
"""


def test_pack_selects_overrides_and_waives(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    write_rule(rules, "TEST-010")
    write_rule(rules, "TEST-020")
    (tmp_path / "p.yaml").write_text(PACK)
    cat = load(rules, tmp_path / "p.yaml")
    resolved = cat.resolve(["p"])
    assert [e.id for e in resolved.rules] == ["TEST-010"]
    (effective,) = resolved.rules
    assert effective.params == {"limit": 20}
    assert effective.severity is Severity.CRITICAL
    assert resolved.waivers[0].policy == "p" and resolved.waivers[0].covers == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("TEST-010: {limit: 20}", "TEST-010: {limit: \"20\"}", ),
        ("TEST-010: {limit: 20}", "TEST-010: {other: 1}"),
        ("  - area: certificates", "  - area: nats"),
    ],
)
def test_pack_errors(tmp_path: Path, change: str, message: str) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    write_rule(rules, "TEST-010")
    (tmp_path / "p.yaml").write_text(PACK.replace(change, message))
    with pytest.raises(ConfigError) as info:
        load(rules, tmp_path / "p.yaml")
    assert info.value.file and info.value.file.endswith("p.yaml")
    assert info.value.line is not None


def test_later_pack_wins(tmp_path: Path) -> None:
    _, cat = catalog_of(tmp_path, ["TEST-010"], {
        "a.yaml": "id: a\ntitle: A\nselect: [{id: TEST-010}]\nparams: {TEST-010: {limit: 1}}\n",
        "b.yaml": "id: b\ntitle: B\nselect: [{id: TEST-010}]\nparams: {TEST-010: {limit: 2}}\n",
    })
    assert cat.resolve(["a", "b"]).rules[0].params["limit"] == 2
    assert cat.resolve(["b", "a"]).rules[0].params["limit"] == 1
    with pytest.raises(ConfigError, match="unknown policy pack"):
        cat.resolve(["zzz"])


def test_a_policy_is_resolved_again_only_when_the_catalogue_changed(tmp_path: Path) -> None:
    """Packs named by id are resolved once (a fleet's bundles name the same ones), and again
    after a rule or pack of the catalogue was added or replaced; a pack file always again."""
    import dataclasses

    rules, cat = catalog_of(tmp_path, ["TEST-010"], {"a.yaml": "id: a\ntitle: A\nselect: [{area: certificates}]\n"})
    packs = tmp_path / "packs"
    first = cat.resolve(["a"])
    assert cat.resolve(["a"]) is first and cat.resolve(["a", "a"]) is not first
    assert cat.resolve([str(packs / "a.yaml")]) is not cat.resolve([str(packs / "a.yaml")])
    cat.rules["TEST-010"] = dataclasses.replace(cat.rules["TEST-010"], severity=Severity.LOW)
    again = cat.resolve(["a"])
    assert again is not first and again.rules[0].severity is Severity.LOW
    write_rule(rules, "TEST-011")
    cat.extend([rules / "TEST-011.yaml"], [])
    assert [e.id for e in cat.resolve(["a"]).rules] == ["TEST-010", "TEST-011"]
    cat.packs["a"] = dataclasses.replace(cat.packs["a"], severity={"TEST-011": Severity.INFO})
    assert cat.resolve(["a"]).rules[1].severity is Severity.INFO


def test_builtin_catalog_is_valid() -> None:
    cat = Catalog.load(strict=False)
    assert cat.errors == []
    assert cat.rules and {"cim-production", "cim-staging"} <= set(cat.packs)
    for rule in cat.rules.values():
        assert rule.references.get("checklist"), f"{rule.id} names no checklist item"
