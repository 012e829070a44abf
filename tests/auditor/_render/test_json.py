"""The JSON renderer's per-rule encoding writes each finding exactly as json.dumps would."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from auditor._models import Finding, ScanResult, Severity, Status, Waiver
from auditor._redact import redact_result
from auditor._render import json as json_render
from auditor._render import renderer
from auditor._render.json import finding_lines

text = st.text(max_size=30)  # any code point: quotes, control characters, non-ASCII, surrogates
references = st.dictionaries(text, st.lists(text, max_size=3).map(tuple), max_size=3)
waivers = st.builds(Waiver, rule=text, resource=text, reason=text, approver=text, expires=st.just("2030-01-01"))
findings = st.builds(
    Finding,
    rule_id=st.sampled_from(["CERT-001", "K8S-003", "NATS-006"]),
    title=st.sampled_from(["a title", 'with "quotes" and \\ and é']),
    area=text,
    severity=st.sampled_from(list(Severity)),
    status=st.sampled_from(list(Status)),
    resource=text,
    message=text,
    evidence=st.lists(text, max_size=3).map(tuple),
    pointer=text,
    remediation=st.sampled_from(["", "fix it", "line\nbreak\t☃"]),
    references=st.sampled_from([{}, {"checklist": ("A", "B")}, {"nist": ("SC-8",)}]) | references,
    waiver=st.none() | waivers,
    correlation=st.sampled_from(["", "secret:hmac:00"]),
    always_blocks=st.booleans(),
)


@given(st.lists(findings, max_size=8))
def test_each_line_is_what_json_dumps_writes(items: list[Finding]) -> None:
    expected = [json.dumps(f.to_dict(), ensure_ascii=False) for f in items]
    assert list(finding_lines(items)) == expected


@given(st.lists(findings, max_size=5))
def test_the_document_reads_back_as_the_result(items: list[Finding]) -> None:
    result = redact_result(ScanResult(target={"name": "n"}, policies=("p",), evaluated_at="2026-01-01T00:00:00Z",
                                      tool={"name": "auditor"}, bundle_digest="d", findings=tuple(items)))
    document = renderer("json").render(result)
    assert json.loads(document) == result.to_dict()
    assert document.count("\n    {\"id\"") == len(items) + len(result.problems)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80) | st.floats() | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4), max_leaves=20)


@given(json_values)
def test_dumps_writes_what_json_dumps_writes(value: object) -> None:
    """One encoder made once: the text json.dumps(value, ensure_ascii=False) makes (floats,
    NaN, large integers, non-ASCII, control characters, key order)."""
    assert json_render._dumps(value) == json.dumps(value, ensure_ascii=False)


@given(st.lists(findings, min_size=3, max_size=12), st.integers(min_value=1, max_value=4))
def test_findings_written_several_lines_per_part_make_the_same_document(items: list[Finding], per_part: int) -> None:
    result = redact_result(ScanResult(target={"name": "n"}, policies=("p",), evaluated_at="2026-01-01T00:00:00Z",
                                      tool={"name": "auditor"}, bundle_digest="d", findings=tuple(items)))
    lines = list(finding_lines(result.findings))
    before = json_render.LINES_PER_PART
    try:
        json_render.LINES_PER_PART = per_part
        document = renderer("json").render(result)
    finally:
        json_render.LINES_PER_PART = before
    assert '  "findings": [\n    ' + ",\n    ".join(lines) + "\n  ]" in document
    assert document == renderer("json").render(result)
