"""The terminal summary: verdict, counts by area and severity, failures with remediation."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

from auditor.models import Finding, RedactedResult, Severity, Status
from auditor.render.interface import Renderer
from auditor.terminal import printable as p

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
    Status.WAIVED: ("WAIVED", "blue"),
    Status.PASS: ("PASS", "green"),
}
_COLUMNS = (Status.PASS, Status.FAIL, Status.ERROR, Status.NOT_EVALUATED, Status.WAIVED)
_HEAD = ("pass", "fail", "error", "n/e", "waived")
_SPACES = "\t\n\r\x0b\x0c"
"""Whitespace textwrap turns into spaces: kept for it; every other control character is escaped."""


def verdict(result: RedactedResult) -> tuple[bool, str]:
    """(ready, why): ready when nothing fails at or above the threshold and evidence is whole."""
    failures = result.failures()
    reasons = []
    if failures:
        reasons.append(f"{len(failures)} failure{'s' if len(failures) != 1 else ''} at or above {result.fail_on.value}")
    if result.required_source_failed:
        n = sum(1 for r in result.collection_errors if r.required)
        reasons.append(f"{n} required evidence source{'s' if n != 1 else ''} could not be collected")
    if reasons:
        return False, "; ".join(reasons)
    return True, f"no failure at or above {result.fail_on.value}"


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
        ready, why = verdict(result)
        label = self._c("green", "READY") if ready else self._c("red", "NOT READY")
        out.append(f"Verdict: {label} — {why}")
        out.append("")
        summary = result.summary
        out.extend(self._table("By area", summary.by_area.items()))
        out.append("")
        out.extend(self._table("By severity", ((s.value, summary.by_severity[s.value]) for s in Severity)))
        groups = [
            (Status.FAIL, "Failures"),
            (Status.ERROR, "Could not be evaluated (errors)"),
            (Status.NOT_EVALUATED, "Not evaluated (no evidence)"),
            (Status.WAIVED, "Waived"),
        ]
        if self.options.verbose:
            groups.append((Status.PASS, "Passed"))
        for status, title in groups:
            items = [f for f in result.findings if f.status is status]
            if status is Status.FAIL:
                items.sort(key=lambda f: (-f.severity.rank, f.rule_id, f.resource))
            if items:
                out.append("")
                out.append(self._c("bold", f"{title} ({len(items)})"))
                for f in items:
                    out.extend(self._finding(f))
        if result.expired_waivers:
            out.append("")
            out.append(self._c("bold", f"Expired waivers ({len(result.expired_waivers)}) — no longer applied"))
            for ew in result.expired_waivers:
                w = ew.waiver
                out.append(p(f"  {w.rule} {w.resource}: expired {w.expires} (approved by {w.approver}, policy {w.policy})"))
        if result.collection_errors:
            out.append("")
            out.append(self._c("bold", f"Collection errors ({len(result.collection_errors)})"))
            for r in result.collection_errors:
                req = "required" if r.required else "optional"
                out.append(p(f"  {r.source}: {r.resource}: {r.error} [{req}]"))
        out.append("")
        totals = ", ".join(f"{n} {k}" for k, n in summary.by_status.items() if n)
        out.append(f"{summary.total} findings: {totals or 'none'}")
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

    def _finding(self, f: Finding) -> list[str]:
        mark, color = _STATUS_MARK[f.status]
        head = f"  {self._c(color, f'{mark:<6}')} {f.severity.value.upper():<8} {p(f.rule_id):<12} {p(f.resource)}"
        lines = [head]
        wrap = textwrap.TextWrapper(width=100, initial_indent="      ", subsequent_indent="      ")
        lines.extend(wrap.wrap(p(f.message, keep=_SPACES)))
        if f.status is Status.FAIL and f.remediation:
            fix = textwrap.TextWrapper(width=100, initial_indent="      fix: ", subsequent_indent="           ")
            lines.extend(self._c("dim", line) for line in fix.wrap(p(" ".join(f.remediation.split()))))
        if f.status is Status.WAIVED and f.waiver:
            w = f.waiver
            lines.append(p(f"      waived until {w.expires} by {w.approver}: {w.reason}"))
        return lines
