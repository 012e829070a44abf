"""The sign-off report as Markdown (GitHub-flavoured tables), for merge requests and wikis."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from auditor._models import RedactedResult, Status
from auditor._render.interface import Renderer
from auditor._render.summary import SHOWN_PER_RULE

if TYPE_CHECKING:
    from auditor._render.sections import ReportView

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|~])")


def md(text: object) -> str:
    """Text safe inside a Markdown table cell: specials escaped, one line."""
    flat = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", flat)


def table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out.extend("| " + " | ".join(row) + " |" for row in rows)
    return out


class MarkdownRenderer(Renderer):
    name = "md"

    def render(self, result: RedactedResult) -> str:
        from auditor._render.sections import build_view

        v = build_view(result, self.options)
        target = result.target
        out = [
            f"# Security sign-off report: {md(target.get('name', ''))}",
            "",
            f"Policy {md(', '.join(result.policies))} · evaluated {md(result.evaluated_at)} · "
            f"{md(result.tool.get('name', 'auditor'))} {md(result.tool.get('version', ''))}",
            "",
            "## Verdict",
            "",
            f"**{v.verdict.readiness.label}**: {md(v.why)}.",
            "",
        ]
        if v.blocking:
            blocking, elided = v.blocking_shown
            out += [f"### Blocking problems ({len(v.blocking)}; {v.verdict.rule_hits} rule hits)", ""]
            out += table(
                ["Severity", "Resource", "What failed", "Fix", "Owner", "Due"],
                [[row.problem.severity.value + (" (live credential)" if row.live_credential else ""),
                  md(row.problem.primary.resource),
                  md(", ".join(f.rule_id for f in row.problem.findings) + ": " + row.problem.primary.message),
                  md(row.problem.primary.remediation), md(row.problem.owner or "unassigned"), row.problem.due or "—"]
                 for row in blocking],
            )
            out += ["", *(md(e.text) for e in elided)] if elided else []
            out.append("")
        out += ["### Could not be evaluated", ""]
        undecided = [
            f"- {u.status} {md(u.rule_id)} ({u.severity.value}{', blocks READY' if u.blocks else ''}): "
            f"{md(u.first.resource)}" + (f" and {len(u.refs) - 1} more" if len(u.refs) > 1 else "") + f": {md(u.first.message)}"
            for u in v.undecided
        ]
        undecided += [f"- missing: no `{md(kind)}` evidence was collected (blocks READY)" for kind in result.missing_evidence]
        undecided += [f"- source {md(e.source)} ({md(e.kind)}) {md(e.resource)}: {md(e.error or '')}" for e in result.collection_errors]
        out += [*(undecided or ["Nothing: every rule judged its evidence."]), ""]
        out += ["## Results by area and severity", ""]
        for title, counts in (("Area", v.by_area), ("Severity", v.by_severity)):
            out += table(
                [title, *v.statuses, "total"],
                [[md(name), *(str(c.get(s, 0)) for s in v.statuses), str(sum(c.values()))] for name, c in counts.items()],
            )
            out.append("")
        out += ["## Security checklist", ""]
        if result.checklist is None:
            out += ["The policy names no checklist.", ""]
        for section, items in v.checklist:
            out += [f"### {md(section)}", ""]
            rows: list[list[str]] = []
            for row in items:
                evidence = "; ".join(
                    f"{md(g.rule_id)}: " + ", ".join(
                        [f"{r.finding.status.value} {md(r.finding.resource)}" for r in g.problems[:SHOWN_PER_RULE]]
                        + ([f"{len(g.problems) - SHOWN_PER_RULE:,} more"] if len(g.problems) > SHOWN_PER_RULE else [])
                        + ([f"{len(g.passes)} pass"] if g.passes else [])
                    )
                    for g in row.by_rule()
                )
                rows.append([md(row.item.text), f"`{row.item.id}`", row.status, evidence or "—"])
            out += table(["Item", "Id", "Status", "Evidenced by"], rows)
            out.append("")
        out += [f"## Problems ({result.summary.problems}; {result.summary.rule_hits} rule hits)", ""]
        problems, elided = v.problems_shown
        out += table(
            ["Severity", "Problem", "Rule hits", "Fix", "Owner", "Due", "Blocks sign-off"],
            [[row.problem.severity.value, md(row.problem.primary.resource),
              md("; ".join(f"{f.rule_id} {f.message} ({f.id})" for f in row.problem.findings)),
              md(row.problem.primary.remediation), md(row.problem.owner or "unassigned"), row.problem.due or "—",
              ("yes (live credential)" if row.live_credential else "yes") if row.blocks else "no"]
             for row in problems],
        ) if v.problems else ["No failing check."]
        out += ["", *(md(e.text) for e in elided)] if elided else []
        out += ["", "## Passes", ""]
        out += table(
            ["Rule", "Title", "Area", "Pass", "Not applicable"],
            [[md(p.rule_id), md(p.title), md(p.area), str(len(p.passed)), str(p.not_applicable)] for p in v.passes],
        ) if v.passes else ["No rule passed."]
        out.append("")
        out += ["## Waivers", ""]
        waiver_rows = [
            [state, md(w.waiver.rule), md(w.waiver.describe()), md(w.waiver.expires), md(w.waiver.approver), md(w.waiver.reason)]
            for state, rows in (("active", v.waivers), ("expired", v.expired))
            for w in rows
        ]
        out += table(["State", "Rule", "Resource", "Expires", "Approved by", "Reason"], waiver_rows) if waiver_rows else ["No waiver applies."]
        out += ["", "## Evidence collection", ""]
        if result.collection_errors:
            out += table(
                ["Source", "Resource", "Error", "Required"],
                [[md(e.source), md(e.resource), md(e.error or ""), "yes" if e.required else "no"] for e in result.collection_errors],
            )
        else:
            out.append("Every evidence source was collected without error.")
        out += ["", "## Scan", ""]
        out += table(["", ""], [[md(label), md(value)] for label, value in v.metadata])
        out += ["", "## Sign-off", ""]
        rows = []
        for s in v.signoffs:
            c = s.check
            if c is None:
                rows.append([s.label, "not signed", "", "", "", ""])
            else:
                state = "valid" if c.ok else "; ".join(c.problems)
                rows.append([s.label, md(c.decision), md(f"{c.signer} {c.fingerprint}".strip()), md(c.signed_at), md(c.comment), md(state)])
        for c in v.extra_signoffs:
            rows.append([md(c.role), md(c.decision), md(c.fingerprint), md(c.signed_at), md(c.comment), md("; ".join(c.problems) or "valid")])
        out += table(["Role", "Decision", "Signed by", "Date", "Comment", "Signature"], rows)
        out.append("")
        if v.appendix:
            out += self._appendix(v)
        return "\n".join(out).rstrip("\n") + "\n"

    def _appendix(self, v: ReportView) -> list[str]:
        """Every finding with its evidence, by area (`--appendix`)."""
        out = ["## Appendix: every finding with its evidence", ""]
        for area, refs in v.areas:
            out += [f"### {md(area)}", ""]
            for ref in refs:
                f = ref.finding
                out.append(f"- **{f.status.value.upper()}** {f.severity.value} `{md(f.rule_id)}` {md(f.resource)}: {md(f.message)}")
                if f.status is not Status.PASS:
                    if f.remediation:
                        out.append(f"  - Remediation: {md(f.remediation)}")
                    evidence = ", ".join(f.evidence) or "none collected"
                    out.append(f"  - Evidence: {md(evidence)}" + (f" at {md(f.pointer)}" if f.pointer else ""))
                if f.waiver:
                    out.append(f"  - Waived until {md(f.waiver.expires)} by {md(f.waiver.approver)}: {md(f.waiver.reason)}")
            out.append("")
        return out
