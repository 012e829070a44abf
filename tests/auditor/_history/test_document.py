"""The history's stored document: what a rule's findings share said once, read back whole."""

from __future__ import annotations

import json
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditor._history import document
from auditor._models import Finding, ScanResult, Severity, Status
from auditor._redact import redact_result
from tests.auditor._render.test_json import findings


def _result(items: list[Finding]) -> ScanResult:
    return ScanResult(target={"name": "n"}, policies=("p",), evaluated_at="2026-01-01T00:00:00Z",
                      tool={"name": "auditor"}, bundle_digest="d", findings=tuple(items))


def _written(result: ScanResult) -> dict[str, object]:
    """The findings document of `result` as json reads what its to_dict writes."""
    return dict(json.loads(json.dumps(result.to_dict())))


passes_or_not = findings.flatmap(lambda f: st.sampled_from([f, f.replaced({"message": f.title})]))
"""Findings, about half with their title as their message (as a pass has)."""


@given(st.lists(passes_or_not, max_size=12), st.integers(min_value=1, max_value=4))
def test_the_stored_document_reads_back_as_the_results(items: list[Finding], per: int) -> None:
    """Whatever a rule's findings share or not (titles, areas, severities, remediations,
    references of their own, messages equal to the title or not, waivers), packed `per`
    findings at a time, the document read back is the result's, member for member."""
    result = redact_result(_result(items))
    before = document.PACKED_LINES
    try:
        document.PACKED_LINES = per
        packed = document.packed_document(result, b"")
    finally:
        document.PACKED_LINES = before
    assert document.stored_document(None, packed) == _written(result)


def _passes(n: int, **changes: object) -> list[Finding]:
    made = [Finding(rule_id="K8S-003", title="Runs as non-root", area="containers", severity=Severity.HIGH,
                    status=Status.PASS, resource=f"pod/r{i}", message="Runs as non-root", evidence=(f"ev-{i:04x}",),
                    remediation="Set runAsNonRoot.", references={"pss": ("restricted",)}) for i in range(n)]
    return [*made[:-1], made[-1].replaced(changes)] if changes else made


def test_a_rules_findings_leave_out_what_its_first_finding_says() -> None:
    """Passes of one rule keep only their id, status, resource and evidence; a member that
    differs from the rule's first finding's (here a message and a severity) is written."""
    result = redact_result(_result(_passes(4, message="Runs as uid 1000", severity=Severity.LOW)))
    raw = json.loads(zlib.decompress(document.packed_document(result, b"")))
    assert [sorted(f) for f in raw["findings"][:3]] == [["evidence", "id", "resource", "rule_id", "status"]] * 3
    assert sorted(raw["findings"][3]) == ["evidence", "id", "message", "resource", "rule_id", "severity", "status"]
    assert raw["finding_defaults"] == {"K8S-003": {
        "title": "Runs as non-root", "area": "containers", "severity": "high", "remediation": "Set runAsNonRoot.",
        "references": {"pss": ["restricted"]}}}
    assert document.stored_document(json.dumps(raw), None) == _written(result)


def test_a_document_without_defaults_is_read_as_it_is() -> None:
    """A document stored whole (versions before this one): read as it was written."""
    result = redact_result(_result(_passes(3)))
    assert document.stored_document(None, zlib.compress(json.dumps(result.to_dict()).encode())) == _written(result)
    assert document.stored_document(json.dumps(result.to_dict()), None) == _written(result)


def test_defaults_give_only_the_members_a_finding_leaves_out() -> None:
    """A damaged or hostile `finding_defaults` fills no member but the five shared ones, and
    never one a finding has: a failure stays a failure, an id stays its own."""
    result = redact_result(_result(_passes(2)))
    raw = json.loads(zlib.decompress(document.packed_document(result, b"")))
    raw["finding_defaults"]["K8S-003"].update({"status": "fail", "id": "forged", "waiver": {"rule": "*"}})
    raw["findings"][1]["status"] = "fail"
    read = document.stored_document(json.dumps(raw), None)
    assert [(f["id"], f["status"], "waiver" in f) for f in read["findings"]] == [
        (f.id, s, False) for f, s in zip(result.findings, ("pass", "fail"), strict=True)]
    assert read["findings"][1]["title"] == "Runs as non-root" and "finding_defaults" not in read


@pytest.mark.parametrize("damage", [[], "x", None])
def test_damaged_defaults_make_the_document_unreadable(damage: object) -> None:
    raw = {"findings": [{"id": "a", "rule_id": "R"}], "finding_defaults": damage}
    with pytest.raises(ValueError, match="finding_defaults"):
        document.stored_document(json.dumps(raw), None)


@pytest.mark.parametrize(("variable", "limit"), [("AUDITOR_LIMIT_RESULT_BYTES", "result-bytes"),
                                                 ("AUDITOR_LIMIT_JSON_VALUES", "json-values")])
def test_defaults_cannot_fill_a_document_past_the_limits(monkeypatch: pytest.MonkeyPatch, variable: str,
                                                         limit: str) -> None:
    """A hostile row's few bytes of findings and one rule's defaults of 1,500 references would
    read back as 1,500 findings holding them each, as JSON 16 MB and 2.26 million values:
    refused by the limit the whole document would be refused by (set here just past what the
    row itself holds), not held in memory. Within the default limits it is read."""
    refs = {"checklist": [f"c{i}" for i in range(1500)]}
    raw = {"findings": [{"id": f"R:{i:016x}", "rule_id": "R", "status": "pass", "resource": f"r{i}",
                         "evidence": {"records": [], "pointer": ""}} for i in range(1500)],
           "finding_defaults": {"R": {"title": "t", "area": "a", "severity": "low", "remediation": "",
                                      "references": refs}}}
    text = json.dumps(raw)
    monkeypatch.setenv(variable, str(len(text) if limit == "result-bytes" else 100_000))
    with pytest.raises(ValueError, match=f"filled in.*over the {limit} limit"):
        document.stored_document(text, None)
    monkeypatch.delenv(variable)
    assert len(document.stored_document(text, None)["findings"]) == 1500


def test_values_filled_in_are_counted_when_the_bytes_alone_would_refuse(monkeypatch: pytest.MonkeyPatch) -> None:
    """The values a document holds are bounded first by its bytes; past that bound they are
    counted, so a document of more bytes than the json-values limit is read when its values,
    filled in, are within it (as load_json reads it)."""
    raw = {"findings": [{"id": f"R:{i:016x}", "rule_id": "R", "status": "pass", "resource": f"r{i}",
                         "evidence": {"records": [], "pointer": ""}} for i in range(1500)],
           "finding_defaults": {"R": {"title": "t", "area": "a", "severity": "low", "remediation": "",
                                      "references": {}}}}
    text = json.dumps(raw)
    monkeypatch.setenv("AUDITOR_LIMIT_JSON_VALUES", "50000")
    assert len(text) > 50_000 and len(document.stored_document(text, None)["findings"]) == 1500
    monkeypatch.setenv("AUDITOR_LIMIT_JSON_VALUES", "15000")
    with pytest.raises(ValueError, match=r"filled in.*json-values"):
        document.stored_document(text, None)
