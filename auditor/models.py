"""Frozen value types shared by the collectors, the engine and the renderers."""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from auditor.evidence.record import Failure

from auditor.severity import Severity as Severity


class Status(enum.Enum):
    """The outcome of one rule on one resource."""

    PASS = "pass"  # noqa: S105 - a status, not a password
    FAIL = "fail"
    ERROR = "error"
    """The rule could not be evaluated: the evidence was unreadable or the condition failed."""
    NOT_EVALUATED = "not-evaluated"
    """No evidence of the kind the rule needs was collected. Never counted as a pass."""
    WAIVED = "waived"
    """The rule failed, but a current waiver in the policy accepts the failure."""


def canonical_json(value: Any) -> bytes:
    """The canonical JSON encoding used for hashing: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


_PLAIN_ENCODER = msgspec.json.Encoder(order="sorted")
_EXPONENT = re.compile(rb"e-?[0-9]+[,\]}]")
"""A number msgspec writes with an exponent (json writes `1e+16`, msgspec `1e16`)."""


def canonical_plain_json(value: Any) -> bytes:
    """`canonical_json(value)` for a plain JSON value (dicts with string keys, lists, strings,
    numbers, booleans, null: what a JSON decoder or msgspec makes), byte for byte, about five
    times faster. msgspec writes it; where msgspec would write a number differently from json
    (an exponent, 1e-5 <= |x| < 1e-4, a non-finite number) or cannot write the value, json does."""
    if isinstance(value, str):
        return _PLAIN_ENCODER.encode(value)  # escapes exactly as json does, for every code point
    if value is None:
        return b"null"
    if not isinstance(value, dict | list):
        return canonical_json(value)
    try:
        out = _PLAIN_ENCODER.encode(value)
    except (TypeError, ValueError, OverflowError):
        return canonical_json(value)
    if b"0.0000" in out or _EXPONENT.search(out) is not None or _non_finite(value):
        return canonical_json(value)
    return out


def canonical_object(members: Mapping[str, bytes]) -> bytes:
    """The canonical JSON of an object whose members' values are already canonical JSON: what
    `canonical_json` makes of the whole, so a part encoded once serves several wholes."""
    return b"{" + b",".join(
        _PLAIN_ENCODER.encode(key) + b":" + members[key] for key in sorted(members)
    ) + b"}"


def _non_finite(value: Any) -> bool:
    """Whether `value` may hold NaN or an infinity (json writes NaN/Infinity, msgspec null):
    a float64 with every exponent bit set in its MessagePack form (0xcb, then 0x7f or 0xff, bytes
    that never follow 0xcb inside UTF-8 text; elsewhere a false alarm only costs speed)."""
    try:
        packed = msgspec.msgpack.encode(value)
    except (TypeError, ValueError, OverflowError):  # ints beyond 64 bits: let json decide
        return True
    return b"\xcb\x7f" in packed or b"\xcb\xff" in packed


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Waiver:
    """A policy's acceptance of a known failure, for a while."""

    rule: str
    resource: str
    reason: str
    approver: str
    expires: str
    """ISO date (YYYY-MM-DD): the waiver applies up to and including this day (UTC)."""
    policy: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The waiver as a findings document holds it."""
        return {
            "rule": self.rule,
            "resource": self.resource,
            "reason": self.reason,
            "approver": self.approver,
            "expires": self.expires,
            "policy": self.policy,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Waiver:
        """The waiver `to_dict` wrote."""
        return cls(
            rule=raw["rule"],
            resource=raw["resource"],
            reason=raw["reason"],
            approver=raw["approver"],
            expires=str(raw["expires"]),
            policy=raw.get("policy", ""),
        )


@dataclass(frozen=True)
class Finding:
    """The outcome of one rule on one resource, with what decided it."""

    rule_id: str
    title: str
    area: str
    severity: Severity
    status: Status
    resource: str
    message: str
    evidence: tuple[str, ...] = ()
    """Ids of the evidence records that decided the outcome (see the bundle)."""
    pointer: str = ""
    """A JSON pointer into the first evidence record's data, or '' for the whole record."""
    remediation: str = ""
    references: Mapping[str, Sequence[str]] = field(default_factory=dict)
    waiver: Waiver | None = None

    def sort_key(self) -> tuple[str, str, str]:
        """The order findings are reported in: rule, resource, first evidence record."""
        return (self.rule_id, self.resource, self.evidence[0] if self.evidence else "")

    def to_dict(self) -> dict[str, Any]:
        """The finding as a findings document holds it (schema: findings, findings[])."""
        out: dict[str, Any] = {
            "rule_id": self.rule_id,
            "title": self.title,
            "area": self.area,
            "severity": self.severity.value,
            "status": self.status.value,
            "resource": self.resource,
            "message": self.message,
            "evidence": {"records": list(self.evidence), "pointer": self.pointer},
            "remediation": self.remediation,
            "references": {k: list(v) for k, v in self.references.items()},
        }
        if self.waiver is not None:
            out["waiver"] = self.waiver.to_dict()
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Finding:
        """The finding `to_dict` wrote."""
        ev = raw.get("evidence") or {}
        waiver = raw.get("waiver")
        return cls(
            rule_id=raw["rule_id"],
            title=raw.get("title", ""),
            area=raw["area"],
            severity=Severity(raw["severity"]),
            status=Status(raw["status"]),
            resource=raw["resource"],
            message=raw["message"],
            evidence=tuple(ev.get("records", ())),
            pointer=ev.get("pointer", ""),
            remediation=raw.get("remediation", ""),
            references={k: tuple(v) for k, v in (raw.get("references") or {}).items()},
            waiver=Waiver.from_dict(waiver) if waiver else None,
        )


@dataclass(frozen=True)
class Summary:
    """Counts of findings by status, by area and by severity."""

    total: int
    by_status: Mapping[str, int]
    by_area: Mapping[str, Mapping[str, int]]
    by_severity: Mapping[str, Mapping[str, int]]

    @classmethod
    def of(cls, findings: Iterable[Finding]) -> Summary:
        """The counts of `findings`."""
        statuses = [s.value for s in Status]
        by_status = dict.fromkeys(statuses, 0)
        by_area: dict[str, dict[str, int]] = {}
        by_severity: dict[str, dict[str, int]] = {
            s.value: dict.fromkeys(statuses, 0) for s in Severity
        }
        total = 0
        for f in findings:
            total += 1
            by_status[f.status.value] += 1
            by_area.setdefault(f.area, dict.fromkeys(statuses, 0))[f.status.value] += 1
            by_severity[f.severity.value][f.status.value] += 1
        return cls(
            total=total,
            by_status=by_status,
            by_area=dict(sorted(by_area.items())),
            by_severity=by_severity,
        )

    def to_dict(self) -> dict[str, Any]:
        """The summary as a findings document holds it."""
        return {
            "total": self.total,
            "by_status": dict(self.by_status),
            "by_area": {k: dict(v) for k, v in self.by_area.items()},
            "by_severity": {k: dict(v) for k, v in self.by_severity.items()},
        }


@dataclass(frozen=True)
class ExpiredWaiver:
    """A waiver whose date has passed: it no longer applies and is reported."""

    waiver: Waiver

    def to_dict(self) -> dict[str, Any]:
        """The lapsed waiver as a findings document holds it."""
        return self.waiver.to_dict()


@dataclass(frozen=True)
class ChecklistItem:
    """One item of a deployment checklist that rules evidence (references.checklist)."""

    id: str
    section: str
    text: str
    automatable: bool = True
    """False for items only a person can evidence: reports list them as manual."""

    def to_dict(self) -> dict[str, Any]:
        """The item as a findings document holds it."""
        return {"id": self.id, "section": self.section, "text": self.text, "automatable": self.automatable}


@dataclass(frozen=True)
class Checklist:
    """A deployment checklist whose items rules evidence (the seeds security checklist)."""

    id: str
    title: str
    source: str
    items: tuple[ChecklistItem, ...]

    def item(self, item_id: str) -> ChecklistItem | None:
        """The item with id `item_id`, or None."""
        return next((i for i in self.items if i.id == item_id), None)

    def to_dict(self) -> dict[str, Any]:
        """The checklist as a findings document holds it."""
        return {
            "id": self.id,
            "title": self.title,
            "source": self.source,
            "items": [i.to_dict() for i in self.items],
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Checklist:
        """The checklist `to_dict` wrote."""
        return cls(
            id=raw["id"],
            title=raw.get("title", ""),
            source=raw.get("source", ""),
            items=tuple(
                ChecklistItem(i["id"], i["section"], i["text"], bool(i.get("automatable", True)))
                for i in raw.get("items", ())
            ),
        )


@dataclass(frozen=True)
class RuleInfo:
    """What a report says about a rule the policy applied (SARIF rule descriptors, HTML)."""

    id: str
    title: str
    area: str
    severity: Severity
    """As the policy applies it (after overrides)."""
    description: str = ""
    remediation: str = ""
    tags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The rule as a findings document describes it."""
        return {
            "id": self.id,
            "title": self.title,
            "area": self.area,
            "severity": self.severity.value,
            "description": self.description,
            "remediation": self.remediation,
            "tags": list(self.tags),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RuleInfo:
        """The rule description `to_dict` wrote."""
        return cls(
            id=raw["id"],
            title=raw.get("title", ""),
            area=raw.get("area", ""),
            severity=Severity(raw["severity"]),
            description=raw.get("description", ""),
            remediation=raw.get("remediation", ""),
            tags=tuple(raw.get("tags", ())),
        )


@dataclass(frozen=True)
class ScanResult:
    """Everything a scan decided. Printed, written, stored, signed or sent only in its redacted
    form, :class:`RedactedResult` (renderers, the history, sign-off and events take nothing else)."""

    target: Mapping[str, Any]
    """The target's name, environment, tags and policies."""
    policies: tuple[str, ...]
    evaluated_at: str
    tool: Mapping[str, str]
    """{"name", "version", "rules_digest"}: what evaluated the evidence."""
    bundle_digest: str
    findings: tuple[Finding, ...]
    collection_errors: tuple[Failure, ...] = ()
    """The evidence sources (or parts of them) that could not be collected."""
    expired_waivers: tuple[ExpiredWaiver, ...] = ()
    fail_on: Severity = Severity.HIGH
    checklist: Checklist | None = None
    """The policy's checklist, so a report can print it with each item's status."""
    rules: tuple[RuleInfo, ...] = ()
    """The rules the policy applied, as reports describe them."""

    @functools.cached_property
    def summary(self) -> Summary:
        """Counted once per result (a result is frozen, its summary cannot change)."""
        return Summary.of(self.findings)

    def failures(self, at_least: Severity | None = None) -> list[Finding]:
        """The failures at or above `at_least` (default the result's fail_on): what decides exit code 1."""
        threshold = at_least or self.fail_on
        return [
            f
            for f in self.findings
            if f.status is Status.FAIL and f.severity.at_least(threshold)
        ]

    @property
    def required_source_failed(self) -> bool:
        """True when a required evidence source could not be collected (exit code 3)."""
        return any(r.required for r in self.collection_errors)

    def to_dict(self, *, findings: bool = True) -> dict[str, Any]:
        """The findings document; with findings=False its "findings" list is left empty (for a
        renderer that writes them itself)."""
        return {
            "format": "auditor-findings",
            "version": 1,
            "target": dict(self.target),
            "policies": list(self.policies),
            "evaluated_at": self.evaluated_at,
            "tool": dict(self.tool),
            "bundle_digest": self.bundle_digest,
            "fail_on": self.fail_on.value,
            "summary": self.summary.to_dict(),
            "findings": [f.to_dict() for f in self.findings] if findings else [],
            "collection_errors": [r.to_dict() for r in self.collection_errors],
            "expired_waivers": [w.to_dict() for w in self.expired_waivers],
            **({"checklist": self.checklist.to_dict()} if self.checklist else {}),
            **({"rules": [r.to_dict() for r in self.rules]} if self.rules else {}),
        }

    @staticmethod
    def from_dict(raw: Mapping[str, Any]) -> ScanResult:
        """The result a findings document holds, as it is: not redacted (see RedactedResult)."""
        from auditor.evidence.record import Failure

        return ScanResult(
            target=raw["target"],
            policies=tuple(raw.get("policies", ())),
            evaluated_at=raw["evaluated_at"],
            tool=raw.get("tool", {}),
            bundle_digest=raw.get("bundle_digest", ""),
            findings=tuple(Finding.from_dict(f) for f in raw["findings"]),
            collection_errors=tuple(
                Failure.from_dict(r) for r in raw.get("collection_errors", ())
            ),
            expired_waivers=tuple(
                ExpiredWaiver(Waiver.from_dict(w)) for w in raw.get("expired_waivers", ())
            ),
            fail_on=Severity(raw.get("fail_on", "high")),
            checklist=Checklist.from_dict(raw["checklist"]) if raw.get("checklist") else None,
            rules=tuple(RuleInfo.from_dict(r) for r in raw.get("rules", ())),
        )


@dataclass(frozen=True)
class RedactedResult(ScanResult):
    """A ScanResult every string of which has been through auditor.redact.scrub: the only
    form in which a result is printed, written, stored, signed or sent.

    Made by :func:`auditor.redact.redact_result` alone, which evaluation calls once, right
    after the rules have run (and which a result read back from a file goes through again).
    Renderers, the history store, sign-off and events accept this type only, so strict mypy
    refuses code that would hand them an unredacted result. Calling the class (directly or
    through dataclasses.replace, which could swap unredacted findings in) raises TypeError.
    """

    def __post_init__(self) -> None:
        raise TypeError(
            "a RedactedResult is made by auditor.redact.redact_result only; to change one, "
            "use its changed() method"
        )

    def changed(self, **changes: Any) -> RedactedResult:
        """A copy with `changes` (fields of ScanResult), redacted again."""
        from auditor.redact import redact_result

        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(ScanResult)}
        return redact_result(ScanResult(**{**fields, **changes}))
