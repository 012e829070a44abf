"""JUnit XML for CI systems: one testsuite per area, one testcase per finding.

fail -> <failure>, error and not-evaluated -> <error> (missing evidence is never a pass),
waived and not-applicable -> <skipped> with the waiver or the reason, pass -> a plain testcase.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from auditor._models import Finding, RedactedResult, Status
from auditor._render.interface import Renderer

# Characters XML 1.0 cannot hold at all, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: object) -> str:
    return _NOT_XML.sub("\ufffd", str(value))


def _details(f: Finding) -> str:
    lines = [f.message]
    if f.remediation:
        lines.append(f"Remediation: {f.remediation}")
    lines.append(f"Evidence: {', '.join(f.evidence) or 'none collected'}" + (f" at {f.pointer}" if f.pointer else ""))
    checklist = f.references.get("checklist", ())
    if checklist:
        lines.append(f"Checklist: {', '.join(checklist)}")
    return "\n".join(lines)


class JunitRenderer(Renderer):
    name = "junit"

    def render(self, result: RedactedResult) -> str:
        target = str(result.target.get("name", ""))
        root = ET.Element("testsuites", {"name": xml_text(f"auditor {target}")})
        totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        areas: dict[str, list[Finding]] = {}
        for f in result.findings:
            areas.setdefault(f.area, []).append(f)
        for area, findings in sorted(areas.items()):
            counts = {
                "tests": len(findings),
                "failures": sum(f.status is Status.FAIL for f in findings),
                "errors": sum(f.status in (Status.ERROR, Status.NOT_EVALUATED) for f in findings),
                "skipped": sum(f.status in (Status.WAIVED, Status.NOT_APPLICABLE) for f in findings),
            }
            for k, n in counts.items():
                totals[k] += n
            suite = ET.SubElement(
                root,
                "testsuite",
                {
                    "name": xml_text(f"{target}.{area}"),
                    **{k: str(n) for k, n in counts.items()},
                    "time": "0",
                    "timestamp": xml_text(result.evaluated_at.removesuffix("Z")),
                    "hostname": xml_text(target),
                },
            )
            props = ET.SubElement(suite, "properties")
            for name, value in (
                ("policies", ", ".join(result.policies)),
                ("fail_on", result.fail_on.value),
                ("verdict", result.verdict.headline()),
                ("tool", f"{result.tool.get('name', '')} {result.tool.get('version', '')}"),
                ("rules_digest", result.tool.get("rules_digest", "")),
                ("bundle_digest", result.bundle_digest),
            ):
                ET.SubElement(props, "property", {"name": name, "value": xml_text(value)})
            for f in findings:
                self._case(suite, f, target)
        for k, n in totals.items():
            root.set(k, str(n))
        root.set("time", "0")
        ET.indent(root)
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"

    @staticmethod
    def _case(suite: ET.Element, f: Finding, target: str) -> None:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": xml_text(f"{target}.{f.area}.{f.rule_id}"),
                "name": xml_text(f"{f.rule_id} {f.resource}: {f.title} [{f.id}]"),
                "time": "0",
            },
        )
        if f.status is Status.FAIL:
            el = ET.SubElement(case, "failure", {"type": f.severity.value, "message": xml_text(f.message)})
            el.text = xml_text(_details(f))
        elif f.status in (Status.ERROR, Status.NOT_EVALUATED):
            el = ET.SubElement(case, "error", {"type": f.status.value, "message": xml_text(f.message)})
            el.text = xml_text(_details(f))
        elif f.status is Status.WAIVED and f.waiver is not None:
            w = f.waiver
            ET.SubElement(
                case,
                "skipped",
                {"message": xml_text(f"waived until {w.expires} by {w.approver}: {w.reason}")},
            )
        elif f.status is Status.NOT_APPLICABLE:
            ET.SubElement(case, "skipped", {"message": xml_text(f.message)})
        else:
            out = ET.SubElement(case, "system-out")
            out.text = xml_text(f.message)
