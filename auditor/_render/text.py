"""The terminal summary: verdict, counts by area and severity, failures with remediation."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

from auditor._models import Finding, Problem, Readiness, RedactedResult, Severity, Status
from auditor._render.interface import Renderer
from auditor._render.summary import SHOWN_PER_RULE, itself, summarised
from auditor._terminal import printable as p

_COLORS = {
    "red": "\033[31m",
    "green": "\033[32m",
    "yellow": "\033[33m",
    "blue": "\033[34m",
    "magenta": "\033[35m",
    "dim": "\033[2m",
    "bold": "\033[1m",
}
_RESET = "\033[0m"
_STATUS_MARK = {
    Status.FAIL: ("FAIL", "red"),
    Status.ERROR: ("ERROR", "yellow"),
    Status.NOT_EVALUATED: ("N/E", "magenta"),
    Status.NOT_APPLICABLE: ("N/A", "dim"),
    Status.WAIVED: ("WAIVED", "blue"),
    Status.PASS: ("PASS", "green"),
}
_COLUMNS = (Status.PASS, Status.FAIL, Status.ERROR, Status.NOT_EVALUATED, Status.NOT_APPLICABLE, Status.WAIVED)
_HEAD = ("pass", "fail", "error", "n/e", "n/a", "waived")
_READINESS_COLOR = {Readiness.READY: "green", Readiness.NOT_READY: "red", Readiness.INCOMPLETE: "yellow"}
_SPACES = "\t\n\r\x0b\x0c"
"""Whitespace textwrap turns into spaces: kept for it; every other control character is escaped."""


def verdict(result: RedactedResult) -> tuple[bool, str]:
    """(ready, the verdict's headline): kept for the reports, see ScanResult.verdict."""
    v = result.verdict
    return v.readiness is Readiness.READY, v.headline()


def counts_line(result: RedactedResult) -> str:
    """`40 problems (65 rule hits); 518 findings: 452 pass, 65 fail, 1 waived`."""
    s = result.summary
    totals = ", ".join(f"{n} {k}" for k, n in s.by_status.items() if n)
    return (f"{s.problems} problem{'s' if s.problems != 1 else ''} ({s.rule_hits} rule hit{'s' if s.rule_hits != 1 else ''}); "
            f"{s.total} findings: {totals or 'none'}")


class TextRenderer(Renderer):
    name = "text"

    def _c(self, color: str, text: str) -> str:
        return f"{_COLORS[color]}{text}{_RESET}" if self.options.color else text

    def render(self, result: RedactedResult) -> str:
        out: list[str] = []
        target = result.target
        env = f" ({p(str(target.get('environment')))})" if target.get("environment") else ""
        out.append(
            self._c("bold", f"auditor {result.tool.get('version', '')}")
            + f" · target {p(str(target.get('name')))}{env} · policy {p(', '.join(result.policies))} · {p(result.evaluated_at)}"
        )
        v = result.verdict
        label = self._c(_READINESS_COLOR[v.readiness], v.readiness.label)
        scope = f" {v.scope}" if v.scope else ""
        out.append(f"Verdict: {label}{p(scope)} — {p('; '.join(v.reasons()))}")
        out.append("")
        summary = result.summary
        out.extend(self._table("By area", summary.by_area.items()))
        out.append("")
        out.extend(self._table("By severity", ((s.value, summary.by_severity[s.value]) for s in Severity)))
        if result.problems:
            out.append("")
            out.append(self._c("bold", f"Problems ({summary.problems}, {summary.rule_hits} rule hits)"
                                       " — failures grouped by cause, blocking first"))
            shown, elided = summarised(result.problems, itself)
            for problem in shown:
                out.extend(self._problem(problem, result))
            out.extend(p(f"  {e.text}") for e in elided)
        groups = [
            (Status.ERROR, "Could not be evaluated (errors)"),
            (Status.NOT_EVALUATED, "Not evaluated (no evidence)"),
            (Status.WAIVED, "Waived"),
        ]
        if self.options.verbose:
            groups += [(Status.NOT_APPLICABLE, "Not applicable (the subject does not exist)"), (Status.PASS, "Passed")]
        for status, title in groups:
            items = [f for f in result.findings if f.status is status]
            if items:
                out.append("")
                out.append(self._c("bold", f"{title} ({len(items)})"))
                per_rule: dict[str, int] = {}
                for f in items:
                    per_rule[f.rule_id] = per_rule.get(f.rule_id, 0) + 1
                    if per_rule[f.rule_id] <= SHOWN_PER_RULE:
                        out.extend(self._finding(f))
                out.extend(
                    p(f"  … and {n - SHOWN_PER_RULE:,} more {rule} findings ({status.value}), {SHOWN_PER_RULE} shown: "
                      "every one is in the findings document (`--format json`) with its id")
                    for rule, n in per_rule.items() if n > SHOWN_PER_RULE
                )
        if result.exceeded_waivers:
            out.append("")
            out.append(self._c("bold", f"Exceeded waivers ({len(result.exceeded_waivers)}) — applied to none"))
            for xw in result.exceeded_waivers:
                w = xw.waiver
                out.append(p(f"  {w.describe()}: {len(xw.findings)} fail now (approved by {w.approver}, policy "
                             f"{w.policy}); approve them by id, or state the new number of instances"))
        if result.expired_waivers:
            out.append("")
            out.append(self._c("bold", f"Expired waivers ({len(result.expired_waivers)}) — no longer applied"))
            for ew in result.expired_waivers:
                w = ew.waiver
                out.append(p(f"  {w.describe()}: expired {w.expires} (approved by {w.approver}, policy {w.policy})"))
        if result.collection_errors:
            out.append("")
            out.append(self._c("bold", f"Collection errors ({len(result.collection_errors)})"))
            for r in result.collection_errors:
                req = "required" if r.required else "optional"
                out.append(p(f"  {r.source}: {r.resource}: {r.error} [{req}]"))
        out.append("")
        out.append(counts_line(result))
        return "\n".join(out) + "\n"

    def _table(self, title: str, rows: Iterable[tuple[str, dict[str, int] | object]]) -> list[str]:
        lines = [self._c("bold", f"{title:<16}") + "".join(f"{h:>8}" for h in _HEAD)]
        for name, counts in rows:
            assert isinstance(counts, dict)
            if not any(counts.values()):
                continue
            cells = []
            for status in _COLUMNS:
                n = counts.get(status.value, 0)
                cell = f"{n:>8}"
                if n and status in (Status.FAIL, Status.ERROR):
                    cell = self._c(_STATUS_MARK[status][1], cell)
                cells.append(cell)
            lines.append(f"  {p(name):<14}" + "".join(cells))
        return lines

    def _problem(self, problem: Problem, result: RedactedResult) -> list[str]:
        """A problem: its one failure as a finding, or its rule hits under one head and one fix."""
        if len(problem.findings) == 1:
            return self._finding(problem.primary)
        first = problem.primary
        blocking = "" if problem.blocks(result.fail_on) else " (below the threshold)"
        head = (f"  {self._c('red', 'FAIL  ')} {first.severity.value.upper():<8} {self._c('bold', p(first.resource))} — "
                f"{len(problem.findings)} rule hits, one cause{blocking}")
        lines = [head]
        wrap = textwrap.TextWrapper(width=100, initial_indent="        ", subsequent_indent="        ")
        for f in problem.findings:
            where = f" {p(f.resource)}" if f.resource != first.resource else ""
            lines.append(f"      {p(f.rule_id):<12} {f.severity.value.upper():<8}{where}  {self._c('dim', p(f.id))}")
            lines.extend(wrap.wrap(p(f.message, keep=_SPACES)))
        lines.extend(self._fix(first))
        lines.extend(self._owner(problem.owner, problem.due))
        return lines

    def _owner(self, owner: str, due: str) -> list[str]:
        """`owner: TEAM · due DATE` (the packs' or the target's `ownership`), when there is one."""
        if not owner and not due:
            return []
        return [self._c("dim", p("      owner: " + " · due ".join(x for x in (owner or "unassigned", due) if x)))]

    def _fix(self, f: Finding) -> list[str]:
        if not f.remediation:
            return []
        fix = textwrap.TextWrapper(width=100, initial_indent="      fix: ", subsequent_indent="           ")
        return [self._c("dim", line) for line in fix.wrap(p(" ".join(f.remediation.split())))]

    def _finding(self, f: Finding) -> list[str]:
        mark, color = _STATUS_MARK[f.status]
        head = f"  {self._c(color, f'{mark:<6}')} {f.severity.value.upper():<8} {p(f.rule_id):<12} {p(f.resource)}"
        if f.status in (Status.FAIL, Status.WAIVED):
            head += f"  {self._c('dim', p(f.id))}"
        lines = [head]
        wrap = textwrap.TextWrapper(width=100, initial_indent="      ", subsequent_indent="      ")
        lines.extend(wrap.wrap(p(f.message, keep=_SPACES)))
        if f.status is Status.FAIL:
            lines.extend(self._fix(f))
            lines.extend(self._owner(f.owner, f.due))
        if f.status is Status.WAIVED and f.waiver:
            w = f.waiver
            lines.append(p(f"      waived until {w.expires} by {w.approver}: {w.reason}"))
        return lines
