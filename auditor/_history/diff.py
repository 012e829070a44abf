"""Drift between two scans: what newly fails, what was fixed, what still fails, what changed.

Findings are matched by their ids (rule and resource identity, docs/rules.md "Finding identity"):
a new instance (a second leaked seed, a new container) is a new failure even when the rule already
failed on the same folder or object. A finding whose evidence record ids differ between
the scans has changed evidence, whatever its status: the certificate was replaced, the
configuration edited. A failure that turns into an error or not-evaluated is *not* fixed (a
missing piece of evidence is never a pass): it is listed under other changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from auditor._models import Finding, RedactedResult, ScanResult, Severity, Status

Key = str
"""A finding's id."""


@dataclass(frozen=True)
class Side:
    """One of the two scans compared."""

    id: int | None
    target: str
    evaluated_at: str
    bundle_digest: str

    @classmethod
    def of(cls, result: ScanResult, scan_id: int | None) -> Side:
        return cls(scan_id, str(result.target.get("name", "")), result.evaluated_at, result.bundle_digest)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "target": self.target,
            "evaluated_at": self.evaluated_at,
            "bundle_digest": self.bundle_digest,
        }


@dataclass(frozen=True)
class Change:
    id: str
    """The finding's id: what the two scans are matched by."""
    rule_id: str
    resource: str
    title: str
    area: str
    severity: Severity
    before: Status | None
    """None: the finding was not in the earlier scan."""
    after: Status | None
    """None: the finding is not in the later scan (the resource or rule is gone)."""
    message: str
    evidence_before: tuple[str, ...]
    evidence_after: tuple[str, ...]
    always_blocks: bool = False
    """A confirmed live credential: a regression at any threshold."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule_id": self.rule_id,
            "resource": self.resource,
            "title": self.title,
            "area": self.area,
            "severity": self.severity.value,
            "before": self.before.value if self.before else None,
            "after": self.after.value if self.after else None,
            "message": self.message,
            "evidence_before": list(self.evidence_before),
            "evidence_after": list(self.evidence_after),
            "always_blocks": self.always_blocks,
        }


@dataclass(frozen=True)
class AreaTrend:
    area: str
    failing_before: int
    failing_after: int
    passing_before: int
    passing_after: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "area": self.area,
            "failing_before": self.failing_before,
            "failing_after": self.failing_after,
            "passing_before": self.passing_before,
            "passing_after": self.passing_after,
        }


@dataclass(frozen=True)
class ScanDiff:
    before: Side
    after: Side
    new_failures: tuple[Change, ...]
    fixed: tuple[Change, ...]
    still_failing: tuple[Change, ...]
    changed_evidence: tuple[Change, ...]
    other_changes: tuple[Change, ...]
    """Status changes that are neither a new failure nor a fix (e.g. fail -> error, pass -> waived)."""
    areas: tuple[AreaTrend, ...]
    problems_before: int = 0
    problems_after: int = 0
    """Failing problems (failures grouped by cause) of each scan."""
    rule_hits_before: int = 0
    rule_hits_after: int = 0

    def regressions(self, threshold: Severity) -> list[Change]:
        """New failures at or above `threshold` (or blocking at any threshold, as a live credential
        does): what `auditor serve` raises an event for."""
        return [c for c in self.new_failures if c.always_blocks or c.severity.at_least(threshold)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "auditor-diff",
            "version": 2,
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "new_failures": [c.to_dict() for c in self.new_failures],
            "fixed": [c.to_dict() for c in self.fixed],
            "still_failing": [c.to_dict() for c in self.still_failing],
            "changed_evidence": [c.to_dict() for c in self.changed_evidence],
            "other_changes": [c.to_dict() for c in self.other_changes],
            "areas": [a.to_dict() for a in self.areas],
            "problems": {"before": self.problems_before, "after": self.problems_after},
            "rule_hits": {"before": self.rule_hits_before, "after": self.rule_hits_after},
        }


def _index(result: ScanResult) -> dict[Key, Finding]:
    return {f.id: f for f in result.findings}


def _change(key: Key, old: Finding | None, new: Finding | None) -> Change:
    latest = new or old
    assert latest is not None
    return Change(
        id=key,
        rule_id=latest.rule_id,
        resource=latest.resource,
        title=latest.title,
        area=latest.area,
        severity=latest.severity,
        before=old.status if old else None,
        after=new.status if new else None,
        message=latest.message,
        evidence_before=old.evidence if old else (),
        evidence_after=new.evidence if new else (),
        always_blocks=latest.always_blocks,
    )


def _order(f: Finding) -> tuple[str, str]:
    return (f.rule_id, f.resource)


def diff_results(
    before: RedactedResult, after: RedactedResult, *, before_id: int | None = None, after_id: int | None = None
) -> ScanDiff:
    """What changed from `before` to `after` (redacted results only: a diff is printed, and
    regression events are made from it)."""
    old, new = _index(before), _index(after)
    buckets: dict[str, list[Change]] = {k: [] for k in ("new", "fixed", "still", "evidence", "other")}
    for key in sorted(old.keys() | new.keys(), key=lambda k: (_order(old.get(k) or new[k]), k)):
        a, b = old.get(key), new.get(key)
        was = a.status if a else None
        now = b.status if b else None
        change = _change(key, a, b)
        if now is Status.FAIL and was is not Status.FAIL:
            buckets["new"].append(change)
        elif was is Status.FAIL and now in (Status.PASS, None):
            buckets["fixed"].append(change)
        elif was is Status.FAIL and now is Status.FAIL:
            buckets["still"].append(change)
        elif was is not None and now is not None and was is not now:
            buckets["other"].append(change)
        if a and b and set(a.evidence) != set(b.evidence):
            buckets["evidence"].append(change)
    return ScanDiff(
        before=Side.of(before, before_id),
        after=Side.of(after, after_id),
        new_failures=tuple(buckets["new"]),
        fixed=tuple(buckets["fixed"]),
        still_failing=tuple(buckets["still"]),
        changed_evidence=tuple(buckets["evidence"]),
        other_changes=tuple(buckets["other"]),
        areas=area_trend(before, after),
        problems_before=before.summary.problems,
        problems_after=after.summary.problems,
        rule_hits_before=before.summary.rule_hits,
        rule_hits_after=after.summary.rule_hits,
    )


def _counts(result: ScanResult) -> Mapping[str, Mapping[str, int]]:
    return result.summary.by_area


def area_trend(before: ScanResult, after: ScanResult) -> tuple[AreaTrend, ...]:
    old, new = _counts(before), _counts(after)
    out = []
    for area in sorted(old.keys() | new.keys()):
        a, b = old.get(area, {}), new.get(area, {})
        out.append(
            AreaTrend(
                area,
                failing_before=a.get("fail", 0),
                failing_after=b.get("fail", 0),
                passing_before=a.get("pass", 0),
                passing_after=b.get("pass", 0),
            )
        )
    return tuple(out)
