"""Rules are checked against the evidence contract when they are loaded (issue 14 item 3)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditor._policy.catalog import Catalog
from auditor._policy.cel import compile_expression
from auditor._policy.celast import DecodeError, decode_checked
from auditor.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]

RULE = """\
id: TEST-001
title: Test rule
area: certificates
severity: high
description: d
rationale: r
remediation: fix it
references: {{nist: [SC-12]}}
applies_to:
  kind: {kind}
  mode: {mode}
{extra}condition: {condition}
message: {message}
params:
  min_size: 2048
"""


def load_rule(tmp_path: Path, *, kind: str = "x509.certificate", mode: str = "each", condition: str = "'true'",
              message: str = '"bad"', extra: str = "") -> Catalog:
    (tmp_path / "TEST-001.yaml").write_text(
        RULE.format(kind=kind, mode=mode, condition=condition, message=message, extra=extra))
    return Catalog.load([tmp_path], [], builtin=False)


def refused(tmp_path: Path, **rule: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_rule(tmp_path, **rule)
    return info.value


def pointed_at(error: ConfigError, tmp_path: Path) -> str:
    """The file's text from the line and column the error names."""
    assert error.line is not None and error.column is not None, error.diagnostics()
    line = (tmp_path / "TEST-001.yaml").read_text().splitlines()[error.line - 1]
    return line[error.column - 1 :]


def test_every_builtin_rule_reads_only_fields_its_kind_has() -> None:
    catalog = Catalog.load()
    assert len(catalog.rules) >= 140
    kinds = {r.kind for r in catalog.rules.values()}
    assert {"x509.certificate", "nats.config", "kubernetes.workload", "secrets.scan", "yubikey.slot"} <= kinds


def test_the_issue_example_is_refused_naming_the_field(tmp_path: Path) -> None:
    text = (ROOT / "rules/certificates/CERT-001.yaml").read_text()
    bad = text.replace("kind: x509.certificate", "kind: x509.certficate").replace(
        "evidence.chain.status ==", "evidence.chian.status ==")
    assert bad != text
    (tmp_path / "CERT-001.yaml").write_text(bad)
    run = subprocess.run([sys.executable, "-m", "auditor", "rules", "validate", str(tmp_path / "CERT-001.yaml")],
                         capture_output=True, text=True, check=False, timeout=120)
    assert run.returncode == 2, run.stderr
    assert "unknown evidence kind 'x509.certficate'" in run.stderr and "did you mean x509.certificate" in run.stderr
    assert "evidence.chian" in run.stderr and "no field 'chian'" in run.stderr and "did you mean chain" in run.stderr
    assert "Traceback" not in run.stderr
    # with the kind right, the field alone: file:line:column
    (tmp_path / "CERT-001.yaml").write_text(text.replace("evidence.chain.status ==", "evidence.chian.status =="))
    run = subprocess.run([sys.executable, "-m", "auditor", "rules", "validate", str(tmp_path / "CERT-001.yaml")],
                         capture_output=True, text=True, check=False, timeout=120)
    assert run.returncode == 2
    line = next(i for i, t in enumerate(bad.splitlines(), 1) if "evidence.chian" in t)
    column = bad.splitlines()[line - 1].index("chian") + 1
    assert f"CERT-001.yaml:{line}:{column}: field 'condition': evidence.chian: x509.certificate has no field 'chian'" in run.stderr


@pytest.mark.parametrize(
    ("rule", "unknown", "hint"),
    [
        ({"condition": "evidence.chain.statu == 'valid'"}, "statu", "status"),
        ({"condition": "evidence.key.sise > 1"}, "sise", "size"),
        ({"condition": "evidence.san.dns.size() > 0 && evidence.san.dnss.size() > 0"}, "dnss", "dns"),
        ({"condition": "has(evidence.chain.anchr)"}, "anchr", "anchor"),
        ({"condition": "evidence['chain']['stauts'] == 'valid'"}, "'stauts'", "status"),
        ({"condition": "evidence.extensions.exists(e, e.critcal)"}, "critcal", "critical"),
        ({"condition": "evidence.extensions.map(e, e.nmae).size() > 0"}, "nmae", "name"),
        ({"condition": "evidence.extensions.filter(e, e.oid == '1').all(e, e.critical || e.oidd == '')"}, "oidd", "oid"),
        ({"condition": "evidence.extensions.exists(e, evidence.chain.path.exists(p, p == e.name) && e.nam == '')"}, "nam", "name"),
        ({"mode": "all", "condition": "items.exists(c, c.san.dsn.size() > 0)"}, "dsn", "dns"),
        ({"mode": "all", "condition": "items.all(c, c.chain.stauts == 'valid')"}, "stauts", "status"),
        ({"mode": "all", "condition": "items.map(c, c.subjet).size() > 0"}, "subjet", "subject"),
        ({"mode": "all", "condition": "items[0].isca"}, "isca", "is_ca"),
        ({"condition": "evidence.key.size >= params.min_sise"}, "min_sise", "min_size"),
        ({"condition": "evidence.key.size >= params['min_sise']"}, "'min_sise'", "min_size"),
        ({"condition": "'true'", "message": "'{evidence.subjet} is bad'"}, "subjet", "subject"),
        ({"condition": "'true'", "message": "'{evidence.subject} by {evidence.isuer}'"}, "isuer", "issuer"),
        ({"condition": "'true'", "extra": "  filter: '!evidence.chain.is_anchr'\n"}, "is_anchr", "is_anchor"),
        ({"condition": "'true'", "extra": "error_when: evidence.chain.statsu == 'x'\nerror_message: x\n"}, "statsu", "status"),
        ({"condition": "'true'", "extra": "resource: '{evidence.pth}'\n"}, "pth", "path"),
        ({"condition": "has(evidence.subject.cn)"}, "cn", "string"),
    ],
)
def test_unknown_fields_at_every_depth_and_place(tmp_path: Path, rule: dict[str, str], unknown: str, hint: str) -> None:
    error = refused(tmp_path, **rule)
    assert f"'{unknown.strip(chr(39))}'" in error.message or f".{unknown}" in error.message, error.message
    assert hint in error.message
    assert pointed_at(error, tmp_path).startswith(unknown.replace("'", "'")), (error.diagnostics(), pointed_at(error, tmp_path))


def test_positions_inside_folded_and_literal_block_scalars(tmp_path: Path) -> None:
    folded = ">-\n  evidence.key.size >= params.min_size &&\n  evidence.extensions.exists(e,\n    e.critical && e.oid == '2.5.29.19')\n  && evidence.chain.statsu == 'valid'"
    error = refused(tmp_path, condition=folded)
    assert pointed_at(error, tmp_path).startswith("statsu"), error.diagnostics()
    literal = "|\n  evidence.key.size > 1\n  && evidence.san.ipp.size() == 0"
    error = refused(tmp_path, condition=literal)
    assert pointed_at(error, tmp_path).startswith("ipp"), error.diagnostics()
    message = ">-\n  {evidence.subject}: chain {evidence.chain.status},\n  anchor {evidence.chain.ancor}"
    error = refused(tmp_path, message=message)
    assert error.field == "message" and pointed_at(error, tmp_path).startswith("ancor"), error.diagnostics()


@pytest.mark.parametrize(
    ("kind", "condition"),
    [
        ("nats.config", "evidence.limits.max_payload < 1000000 && evidence.limits.anything > 0"),
        ("kubernetes.namespace", "evidence.labels['pod-security.kubernetes.io/enforce'] == 'restricted'"),
        ("kubernetes.namespace", "evidence.labels.any_key == 'x'"),
        ("secrets.scan", "evidence.leaks.all(l, !has(l.details.expired) || l.details.alg == 'x')"),
        ("nats.varz", "has(evidence.response.tls_required) && evidence.response.cluster.urls.size() > 0"),
        ("nats.user", "evidence.reach.publish['$SYS.>'] != 'all'"),
        ("x509.certificate", "target.vars.anything == 1 && now > timestamp('2020-01-01T00:00:00Z')"),
    ],
)
def test_maps_accept_any_key(tmp_path: Path, kind: str, condition: str) -> None:
    catalog = load_rule(tmp_path, kind=kind, condition=f'"{condition}"')
    assert catalog.rules["TEST-001"].kind == kind


def test_unknown_kind_names_the_nearest(tmp_path: Path) -> None:
    error = refused(tmp_path, kind="nats.configs")
    assert error.field == "applies_to.kind" and "did you mean nats.config" in error.message


def test_a_pack_overriding_a_param_the_rule_lacks(tmp_path: Path) -> None:
    load_rule(tmp_path, condition="evidence.key.size >= params.min_size")
    packs = tmp_path / "packs"
    packs.mkdir()
    (packs / "p.yaml").write_text("id: p\ntitle: P\nselect: [{id: TEST-001}]\nparams:\n  TEST-001: {min_sise: 1}\n")
    with pytest.raises(ConfigError, match="has no param 'min_sise'"):
        Catalog.load([tmp_path / "TEST-001.yaml"], [packs], builtin=False)


def test_decoder_reads_what_the_compiler_wrote() -> None:
    expr = compile_expression("evidence.a.exists(x, x.b == params.c)", mode="each", file="r", line=1, field="c",
                              rule_id="T-001")
    checked = expr.checked()
    names: list[str] = []
    stack = [checked.expr]
    while stack:
        node = stack.pop()
        names.append(node.name)
        stack.extend(node.children())
    assert {"a", "b", "c", "evidence", "params", "x"} <= set(names)
    assert all(0 <= p < len(expr.compiled) for p in checked.positions.values())


@given(st.binary(max_size=300))
def test_decoder_refuses_garbage_without_crashing(data: bytes) -> None:
    try:
        decode_checked(data)
    except DecodeError:
        pass


def _field_paths(kind: str, depth: int = 3) -> list[str]:
    """`evidence.a`, `evidence.a.b`... for every field of a kind reached through structs (with or
    without None, or among other alternatives), to `depth` fields."""
    import msgspec.inspect as mi

    from auditor.evidence._schema import optional_parts, type_of, unwrap

    out: list[str] = []

    def walk(t: mi.Type, prefix: str, left: int) -> None:
        alts, _ = optional_parts(t)
        for struct in (a for a in alts if isinstance(a, mi.StructType)):
            for f in struct.fields:
                path = f"{prefix}.{f.encode_name}"
                out.append(path)
                if left > 1:
                    walk(unwrap(f.type), path, left - 1)

    walk(type_of(kind), "evidence", depth)
    return sorted(set(out))


def test_each_resolves_as_the_inspected_type_does_for_every_field_of_every_kind() -> None:
    """resolve_each follows most paths through the structs' own fields (a millisecond instead of
    inspecting a kind's whole type at every start): for every path of every kind, and for names
    that are no field, it gives what the inspected type gives, the same element class, or the
    same message."""
    from auditor._policy.contract import Each, _resolved_each, _simple_each, resolve_each
    from auditor.evidence.kinds import KINDS

    followed = 0
    for kind in KINDS:
        for text in [*_field_paths(kind), "evidence.nosuch", "evidence.nosuch.deeper"]:
            full = _resolved_each(kind, text)
            got = resolve_each(kind, text)
            if isinstance(full, str):
                assert got == full, (kind, text)
                continue
            assert isinstance(got, Each), (kind, text)
            assert (got.path, got.identified, got.kind) == (tuple(text.split(".")[1:]), full[0], kind), (kind, text)
            assert got.element == full[1]
            followed += _simple_each(KINDS[kind], text.split(".")[1:]) is not None
    assert followed >= 10  # the quick way is taken, not only the inspected type's


def test_every_builtin_each_path_is_followed_without_inspecting_its_kind() -> None:
    from auditor._policy.contract import _simple_each
    from auditor.evidence.kinds import KINDS

    catalog = Catalog.load()
    eaches = {(r.kind, r.each.text) for r in catalog.rules.values() if r.each is not None}
    assert eaches
    assert [e for e in eaches if _simple_each(KINDS[e[0]], e[1].split(".")[1:]) is None] == []
