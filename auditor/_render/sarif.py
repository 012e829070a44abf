"""SARIF 2.1.0 for code-scanning views: rules as reportingDescriptors, one result per finding.

Levels follow severity (critical/high: error, medium: warning, low/info: note) for failures;
SARIF's `kind` carries the rest: pass, open (error or not evaluated: no verdict),
notApplicable, and waived failures are `fail` with an accepted external suppression. A
finding's resource becomes a physical location when it names a file (relative to the target's
root, %SRCROOT%). Each result's partialFingerprints hold the finding's stable id, so code
scanning tracks one instance across scans; its properties name the problem it belongs to.
"""

from __future__ import annotations

import json
import re
from typing import Any

from auditor._models import Finding, RedactedResult, RuleInfo, Severity, Status
from auditor._render.interface import Renderer

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
ROOT_ID = "%SRCROOT%"
LEVELS = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}
KINDS = {
    Status.PASS: "pass",
    Status.FAIL: "fail",
    Status.WAIVED: "fail",
    Status.ERROR: "open",
    Status.NOT_EVALUATED: "open",
    Status.NOT_APPLICABLE: "notApplicable",
}
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def file_location(resource: str) -> tuple[str, str] | None:
    """(uri, fragment) when `resource` names a file ("etc/nats/nats.conf", "certs/a.pem#1").

    A relative path stays relative (to %SRCROOT%); an absolute one becomes a file:// URI."""
    path, _, fragment = resource.partition("#")
    if not path or _SCHEME.match(path) or any(c.isspace() for c in path) or ":" in path:
        return None
    name = path.rsplit("/", 1)[-1]
    if "/" not in path and "." not in name:
        return None  # a bare word (a host, a subject), not a file
    if path.endswith("/"):
        return None
    from urllib.parse import quote

    uri = quote(path, safe="/._-~")
    return ("file://" + uri if path.startswith("/") else uri), fragment


def _rules(result: RedactedResult) -> list[RuleInfo]:
    known = {r.id: r for r in result.rules}
    for f in result.findings:  # older documents: describe rules from their findings
        if f.rule_id not in known:
            known[f.rule_id] = RuleInfo(f.rule_id, f.title, f.area, f.severity, "", f.remediation)
    return [known[k] for k in sorted(known)]


class SarifRenderer(Renderer):
    name = "sarif"

    def render(self, result: RedactedResult) -> str:
        rules = _rules(result)
        index = {r.id: i for i, r in enumerate(rules)}
        checklist_of: dict[str, list[str]] = {}
        for f in result.findings:
            checklist_of.setdefault(f.rule_id, [])
            for item in f.references.get("checklist", ()):
                if item not in checklist_of[f.rule_id]:
                    checklist_of[f.rule_id].append(item)
        problem_of = {f.id: p.id for p in result.problems for f in p.findings}
        driver: dict[str, Any] = {
            "name": result.tool.get("name", "auditor"),
            "version": result.tool.get("version", ""),
            "semanticVersion": result.tool.get("version", ""),
            "rules": [self._descriptor(r, checklist_of.get(r.id, [])) for r in rules],
        }
        run: dict[str, Any] = {
            "tool": {"driver": driver},
            "automationDetails": {"id": f"auditor/{result.target.get('name', '')}/{result.evaluated_at}"},
            "originalUriBaseIds": {
                ROOT_ID: {"description": {"text": "The root of the scanned target (its inventory root)."}}
            },
            "invocations": [self._invocation(result)],
            "results": [self._result(f, index[f.rule_id], problem_of.get(f.id)) for f in result.findings],
            "properties": {
                "target": dict(result.target),
                "policies": list(result.policies),
                "evaluatedAt": result.evaluated_at,
                "failOn": result.fail_on.value,
                "rulesDigest": result.tool.get("rules_digest", ""),
                "bundleDigest": result.bundle_digest,
                "summary": result.summary.to_dict(),
                "verdict": result.verdict.to_dict(),
            },
        }
        doc = {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"

    @staticmethod
    def _descriptor(rule: RuleInfo, checklist: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": rule.id,
            "name": rule.id.replace("-", ""),
            "shortDescription": {"text": rule.title or rule.id},
            "defaultConfiguration": {"level": LEVELS[rule.severity]},
            "properties": {
                "area": rule.area,
                "severity": rule.severity.value,
                "security-severity": SECURITY_SEVERITY[rule.severity],
                "tags": list(dict.fromkeys(["security", rule.area, *rule.tags, *checklist])),
            },
        }
        if rule.description:
            out["fullDescription"] = {"text": rule.description}
        if rule.remediation:
            out["help"] = {"text": rule.remediation}
        return out

    @staticmethod
    def _invocation(result: RedactedResult) -> dict[str, Any]:
        notes = [
            {
                "level": "error" if r.required else "warning",
                "message": {"text": f"{r.source}: {r.resource}: {r.error}"},
                "descriptor": {"id": r.kind},
            }
            for r in result.collection_errors
        ]
        out: dict[str, Any] = {
            "executionSuccessful": not result.required_source_failed,
            "endTimeUtc": result.evaluated_at,
        }
        if notes:
            out["toolExecutionNotifications"] = notes
        return out

    @staticmethod
    def _result(f: Finding, rule_index: int, problem: str | None) -> dict[str, Any]:
        kind = KINDS[f.status]
        out: dict[str, Any] = {
            "ruleId": f.rule_id,
            "ruleIndex": rule_index,
            "kind": kind,
            "level": LEVELS[f.severity] if kind == "fail" else "none",
            "message": {"text": f.message or f.title or f.rule_id},
            "partialFingerprints": {"auditorFinding/v2": f.id},
            "properties": {
                "id": f.id,
                **({"problem": problem} if problem else {}),
                "status": f.status.value,
                "severity": f.severity.value,
                "area": f.area,
                "resource": f.resource,
                "evidence": list(f.evidence),
                "pointer": f.pointer,
            },
        }
        where = file_location(f.resource)
        if where is not None:
            uri, fragment = where
            artifact = {"uri": uri} if uri.startswith("file://") else {"uri": uri, "uriBaseId": ROOT_ID}
            location: dict[str, Any] = {"physicalLocation": {"artifactLocation": artifact}}
            if fragment:
                location["message"] = {"text": f"item {fragment} in the file"}
            out["locations"] = [location]
        else:
            out["locations"] = [{"logicalLocations": [{"name": f.resource, "kind": "resource"}]}]
        if f.status is Status.WAIVED and f.waiver is not None:
            w = f.waiver
            out["suppressions"] = [
                {
                    "kind": "external",
                    "status": "accepted",
                    "justification": f"{w.reason} (approved by {w.approver}, until {w.expires}, policy {w.policy})",
                }
            ]
        return out
