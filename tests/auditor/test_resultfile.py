"""Reading a findings document back: located one-line errors for anything else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor._models import ScanResult
from auditor._redact import redact_result
from auditor._resultfile import parse_document, read_result
from auditor.errors import ConfigError
from tests.auditor._cli.test_cli import assert_clean_error
from tests.auditor._render.reports import demo_scan
from tests.conftest import run_cli


def test_round_trip_keeps_checklist_and_rules(tmp_path: Path) -> None:
    scan = demo_scan(tmp_path)
    loaded = read_result(scan.result_path)
    assert loaded.result.checklist is not None and loaded.result.checklist.id == "cim-security"
    assert {r.id for r in loaded.result.rules} == {f.rule_id for f in loaded.result.findings}
    assert redact_result(ScanResult.from_dict(loaded.result.to_dict())) == loaded.result == scan.result
    assert loaded.document == json.loads(scan.result_path.read_text())


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ('{"format": "auditor-findings",\n  "version": 1,,}', ("bad.json:2", "invalid JSON")),
        ('{"format": "auditor-evidence-bundle"}', ("bad.json", "not an auditor findings document")),
        ("[1, 2]", ("not an auditor findings document",)),
        ('{"format": "auditor-findings", "version": 1}', ("bad.json", "is required but missing")),
    ],
)
def test_bad_documents_are_located(tmp_path: Path, text: str, fragments: tuple[str, ...]) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ConfigError):
        read_result(path)
    assert_clean_error(run_cli("report", str(path)), *fragments)


def test_schema_errors_name_the_field(tmp_path: Path) -> None:
    doc = demo_scan(tmp_path).result.to_dict()
    doc["findings"][2]["status"] = "maybe"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    assert_clean_error(run_cli("report", str(path), "--format", "sarif"), "findings[2].status", "'maybe'")


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=200), st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
).map(json.dumps)))
def test_parse_document_fuzz(text: str) -> None:
    try:
        doc = parse_document(text, file="x.json")
    except ConfigError as exc:
        assert exc.file == "x.json"
        return
    ScanResult.from_dict(doc)  # anything the schema accepts can be read back
