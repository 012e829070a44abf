"""What a sign-off report shows, computed once for the HTML, PDF and Markdown renderers.

The renderers only lay this out: the verdict, counts and their chart, the checklist with each
item's status and the findings that evidence it, findings by area, waivers, scan metadata and
the sign-off block.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from auditor._models import (
    ChecklistItem,
    Finding,
    Problem,
    Readiness,
    RedactedResult,
    Severity,
    Status,
    Verdict,
    Waiver,
)
from auditor._render.interface import RenderOptions
from auditor._render.summary import SHOWN_PER_RULE, Elided, summarised
from auditor._signoff.model import ROLES, SignoffCheck

STATUS_ORDER = (Status.FAIL, Status.ERROR, Status.NOT_EVALUATED, Status.WAIVED, Status.PASS, Status.NOT_APPLICABLE)
STATUS_COLOR = {
    "pass": "#2e7d32",
    "fail": "#c62828",
    "error": "#e65100",
    "not-evaluated": "#6a1b9a",
    "waived": "#1565c0",
    "not-applicable": "#757575",
}

# The status of a checklist item, derived from the findings that evidence it.
ITEM_FAIL = "fail"
ITEM_INCOMPLETE = "incomplete"
ITEM_WAIVED = "waived"
ITEM_PASS = "pass"  # noqa: S105 - a status, not a password
ITEM_NOT_APPLICABLE = "not-applicable"
ITEM_MANUAL = "manual"
ITEM_STATUS_TEXT = {
    ITEM_FAIL: "a rule evidencing it fails",
    ITEM_INCOMPLETE: "evidence missing or unreadable: not a pass",
    ITEM_WAIVED: "fails, but under a current waiver",
    ITEM_PASS: "every finding evidencing it passes (and at least one passes)",
    ITEM_NOT_APPLICABLE: "the rules evidencing it do not apply to this target: nothing is evidenced, a person checks it",
    ITEM_MANUAL: "no rule evidences it: a person checks it",
}


def item_status(findings: Sequence[Finding]) -> str:
    """fail > incomplete (error, not evaluated) > waived > pass; not-applicable when the rules
    evidencing it do not apply (never a pass by not-applicable rules alone); manual when nothing
    evidences it."""
    if not findings:
        return ITEM_MANUAL
    statuses = {f.status for f in findings}
    if Status.FAIL in statuses:
        return ITEM_FAIL
    if statuses & {Status.ERROR, Status.NOT_EVALUATED}:
        return ITEM_INCOMPLETE
    if Status.WAIVED in statuses:
        return ITEM_WAIVED
    if Status.PASS in statuses:
        return ITEM_PASS
    return ITEM_NOT_APPLICABLE


@dataclass(frozen=True)
class Ref:
    """A finding with its anchor in the report."""

    anchor: str
    finding: Finding


@dataclass(frozen=True)
class ChecklistRow:
    item: ChecklistItem
    status: str
    refs: tuple[Ref, ...]

    def by_rule(self) -> list[RuleGroup]:
        """The evidencing findings grouped by rule: the ones that did not pass, and the passes."""
        groups: dict[str, list[Ref]] = {}
        for ref in self.refs:
            groups.setdefault(ref.finding.rule_id, []).append(ref)
        out = []
        for rule_id, refs in sorted(groups.items()):
            refs.sort(key=lambda r: STATUS_ORDER.index(r.finding.status))
            passes = tuple(r for r in refs if r.finding.status is Status.PASS)
            out.append(RuleGroup(rule_id, tuple(r for r in refs if r.finding.status is not Status.PASS), passes))
        return out


@dataclass(frozen=True)
class RuleGroup:
    rule_id: str
    problems: tuple[Ref, ...]
    passes: tuple[Ref, ...]


@dataclass(frozen=True)
class Segment:
    status: str
    count: int
    x: float
    width: float


@dataclass(frozen=True)
class Bar:
    label: str
    total: int
    y: float
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class Chart:
    """Geometry of a horizontal stacked bar chart (drawn as inline SVG)."""

    title: str
    bars: tuple[Bar, ...]
    width: int
    height: int
    label_width: int
    bar_height: int


def chart(title: str, rows: Mapping[str, Mapping[str, int]], *, width: int = 520) -> Chart:
    label_width, bar_height, gap = 110, 18, 8
    shown = [(name, counts) for name, counts in rows.items() if any(counts.values())]
    scale = max((sum(c.values()) for _, c in shown), default=0) or 1
    span = width - label_width - 40
    bars = []
    for i, (name, counts) in enumerate(shown):
        x = float(label_width)
        segments = []
        for status in STATUS_ORDER:
            n = counts.get(status.value, 0)
            if n:
                w = span * n / scale
                segments.append(Segment(status.value, n, round(x, 2), round(max(w, 1.0), 2)))
                x += w
        bars.append(Bar(name, sum(counts.values()), i * (bar_height + gap), tuple(segments)))
    height = max(len(bars) * (bar_height + gap), bar_height)
    return Chart(title, tuple(bars), width, height, label_width, bar_height)


@dataclass(frozen=True)
class WaiverRow:
    waiver: Waiver
    days_left: int | None
    """Days from the evaluation to the expiry (negative once expired); None if unparseable."""
    refs: tuple[Ref, ...]


@dataclass(frozen=True)
class SignoffRow:
    role: str
    label: str
    check: SignoffCheck | None


@dataclass(frozen=True)
class ProblemRow:
    """A problem with its rule hits as report references, and whether it blocks sign-off."""

    problem: Problem
    refs: tuple[Ref, ...]
    blocks: bool
    live_credential: bool


@dataclass(frozen=True)
class UndecidedRow:
    """A rule that could not judge: its error or not-evaluated findings."""

    rule_id: str
    title: str
    severity: Severity
    status: str
    blocks: bool
    """At or above the threshold: the verdict cannot be READY while it stands."""
    refs: tuple[Ref, ...]

    @property
    def first(self) -> Finding:
        return self.refs[0].finding


@dataclass(frozen=True)
class PassRow:
    """A rule's passes (and not-applicable findings), summarized in one row."""

    rule_id: str
    title: str
    area: str
    severity: Severity
    passed: tuple[Ref, ...]
    not_applicable: int

    @property
    def shown(self) -> tuple[Ref, ...]:
        """The passing resources a report names (the rest are counted)."""
        return self.passed[:SHOWN_PER_RULE]


@dataclass(frozen=True)
class ReportView:
    result: RedactedResult
    verdict: Verdict
    failures: tuple[Ref, ...]
    problems: tuple[ProblemRow, ...]
    charts: tuple[Chart, ...]
    by_area: Mapping[str, Mapping[str, int]]
    by_severity: Mapping[str, Mapping[str, int]]
    checklist: tuple[tuple[str, tuple[ChecklistRow, ...]], ...]
    checklist_counts: Mapping[str, int]
    areas: tuple[tuple[str, tuple[Ref, ...]], ...]
    waivers: tuple[WaiverRow, ...]
    expired: tuple[WaiverRow, ...]
    metadata: tuple[tuple[str, str], ...]
    signoffs: tuple[SignoffRow, ...]
    extra_signoffs: tuple[SignoffCheck, ...]
    """Sign-offs for roles outside the four technical ones (shown, never dropped)."""
    undecided: tuple[UndecidedRow, ...] = ()
    """Rules with error or not-evaluated findings, those at or above the threshold first."""
    passes: tuple[PassRow, ...] = ()
    appendix: bool = False

    @property
    def blocking(self) -> tuple[ProblemRow, ...]:
        """The problems that block sign-off: what page one lists."""
        return tuple(p for p in self.problems if p.blocks)

    @property
    def blocking_shown(self) -> tuple[tuple[ProblemRow, ...], tuple[Elided, ...]]:
        """The blocking problems page one lists (at most SHOWN_PER_RULE per rule), and the rest counted."""
        return summarised(self.blocking, _problem_of)

    @property
    def problems_shown(self) -> tuple[tuple[ProblemRow, ...], tuple[Elided, ...]]:
        """The problems the report lists (at most SHOWN_PER_RULE per rule), and the rest counted."""
        return summarised(self.problems, _problem_of)

    @property
    def others(self) -> tuple[ProblemRow, ...]:
        """The problems below the threshold."""
        return tuple(p for p in self.problems if not p.blocks)

    @property
    def statuses(self) -> tuple[str, ...]:
        return tuple(s.value for s in STATUS_ORDER)

    @property
    def ready(self) -> bool:
        return self.verdict.readiness is Readiness.READY

    @property
    def why(self) -> str:
        """`Not ready for staging under cim-staging: 3 problems (5 rule hits) at or above critical`."""
        label = self.verdict.readiness.label.capitalize()
        scope = f" {self.verdict.scope}" if self.verdict.scope else ""
        return f"{label}{scope} under {', '.join(self.result.policies)}: {'; '.join(self.verdict.reasons())}"


def _problem_of(row: ProblemRow) -> Problem:
    return row.problem


def _days_left(expires: str, evaluated_at: str) -> int | None:
    try:
        day = dt.date.fromisoformat(expires[:10])
        when = dt.datetime.fromisoformat(evaluated_at.replace("Z", "+00:00")).date()
    except ValueError:
        return None
    return (day - when).days


def build_view(result: RedactedResult, options: RenderOptions | None = None) -> ReportView:
    opts = options or RenderOptions()
    refs = tuple(Ref(f"f-{i + 1}", f) for i, f in enumerate(result.findings))
    failing = [r for r in refs if r.finding.status is Status.FAIL]
    failing.sort(key=lambda r: (-r.finding.severity.rank, r.finding.rule_id, r.finding.resource))
    ref_of = {r.finding.id: r for r in refs}
    problems = tuple(
        ProblemRow(p, tuple(ref_of[f.id] for f in p.findings), p.blocks(result.fail_on),
                   any(f.always_blocks for f in p.findings))
        for p in result.problems
    )

    summary = result.summary
    by_severity = {s.value: summary.by_severity[s.value] for s in Severity}

    sections: dict[str, list[ChecklistRow]] = {}
    counts: dict[str, int] = dict.fromkeys(ITEM_STATUS_TEXT, 0)
    if result.checklist is not None:
        by_item: dict[str, list[Ref]] = {}
        for ref in refs:
            for item_id in dict.fromkeys(ref.finding.references.get("checklist", ())):
                by_item.setdefault(item_id, []).append(ref)
        for item in result.checklist.items:
            evidencing = tuple(by_item.get(item.id, ()))
            status = item_status([r.finding for r in evidencing])
            counts[status] += 1
            sections.setdefault(item.section, []).append(ChecklistRow(item, status, evidencing))

    areas: dict[str, list[Ref]] = {}
    for ref in refs:
        areas.setdefault(ref.finding.area, []).append(ref)
    for items in areas.values():
        items.sort(key=lambda r: (STATUS_ORDER.index(r.finding.status), -r.finding.severity.rank, r.finding.rule_id, r.finding.resource))

    waived: dict[tuple[str, str, str, str], list[Ref]] = {}
    waiver_of: dict[tuple[str, str, str, str], Waiver] = {}
    for ref in refs:
        w = ref.finding.waiver
        if ref.finding.status is Status.WAIVED and w is not None:
            key = (w.policy, w.rule, w.resource, ",".join(w.findings))
            waived.setdefault(key, []).append(ref)
            waiver_of[key] = w
    waivers = tuple(
        WaiverRow(waiver_of[k], _days_left(waiver_of[k].expires, result.evaluated_at), tuple(v))
        for k, v in sorted(waived.items())
    )
    expired = tuple(
        WaiverRow(
            e.waiver,
            _days_left(e.waiver.expires, result.evaluated_at),
            tuple(r for r in refs if r.finding.status is Status.FAIL and (
                r.finding.id in e.waiver.findings if e.waiver.findings else r.finding.rule_id == e.waiver.rule)),
        )
        for e in result.expired_waivers
    )

    target = result.target
    metadata = [
        ("Target", str(target.get("name", ""))),
        ("Environment", str(target.get("environment", "") or "—")),
        ("Tags", ", ".join(str(t) for t in target.get("tags", ())) or "—"),
        ("Policy packs", ", ".join(result.policies)),
        ("Fails on", f"{result.fail_on.value} and above"),
        ("Evaluated at", result.evaluated_at),
        ("Tool", f"{result.tool.get('name', 'auditor')} {result.tool.get('version', '')}".strip()),
        ("Rules digest (SHA-256)", result.tool.get("rules_digest", "")),
        ("Rules applied", str(len(result.rules) or len({f.rule_id for f in result.findings}))),
        ("Evidence bundle (SHA-256)", result.bundle_digest),
    ]
    if result.checklist is not None:
        metadata.append(("Checklist", f"{result.checklist.title} ({result.checklist.id})"))
    if opts.result_sha256:
        metadata.append(("Findings document (SHA-256)", opts.result_sha256))

    undecided_refs: dict[tuple[str, str], list[Ref]] = {}
    for ref in refs:
        if ref.finding.status in (Status.ERROR, Status.NOT_EVALUATED):
            undecided_refs.setdefault((ref.finding.rule_id, ref.finding.status.value), []).append(ref)
    undecided = sorted(
        (UndecidedRow(rule, group[0].finding.title, group[0].finding.severity, status,
                      group[0].finding.severity.at_least(result.fail_on), tuple(group))
         for (rule, status), group in undecided_refs.items()),
        key=lambda u: (not u.blocks, -u.severity.rank, u.rule_id, u.status),
    )
    passing: dict[str, list[Ref]] = {}
    not_applicable: dict[str, int] = {}
    for ref in refs:
        if ref.finding.status is Status.PASS:
            passing.setdefault(ref.finding.rule_id, []).append(ref)
        elif ref.finding.status is Status.NOT_APPLICABLE:
            not_applicable[ref.finding.rule_id] = not_applicable.get(ref.finding.rule_id, 0) + 1
    first_of: dict[str, Finding] = {}
    for ref in refs:
        first_of.setdefault(ref.finding.rule_id, ref.finding)
    passes = tuple(
        PassRow(rule, first_of[rule].title, first_of[rule].area, first_of[rule].severity,
                tuple(passing.get(rule, ())), not_applicable.get(rule, 0))
        for rule in sorted(set(passing) | set(not_applicable))
    )

    by_role = {c.role: c for c in opts.signoffs}
    signoffs = tuple(SignoffRow(role, label, by_role.get(role)) for role, label in ROLES.items())
    extra = tuple(c for c in opts.signoffs if c.role not in ROLES)

    return ReportView(
        result=result,
        verdict=result.verdict,
        failures=tuple(failing),
        problems=problems,
        charts=(chart("By area", summary.by_area), chart("By severity", by_severity)),
        by_area=summary.by_area,
        by_severity=by_severity,
        checklist=tuple((name, tuple(rows)) for name, rows in sections.items()),
        checklist_counts=counts,
        areas=tuple((name, tuple(items)) for name, items in sorted(areas.items())),
        waivers=waivers,
        expired=expired,
        metadata=tuple(metadata),
        signoffs=signoffs,
        extra_signoffs=extra,
        undecided=tuple(undecided),
        passes=passes,
        appendix=opts.appendix,
    )
