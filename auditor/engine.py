"""The engine: rules x evidence -> findings. Pure: no I/O, no printing, deterministic order.

For each rule of the resolved policy:
- no evidence of its kind at all: one `not-evaluated` finding (never a pass);
- only error records of its kind: an `error` finding per record (the evidence is unreadable);
- otherwise each record that passes the rule's filter is checked (mode `each`), or the list of
  them at once (mode `all`); a condition that cannot be evaluated is an `error` finding, and so
  is a record for which the rule's `error_when` holds (it exists but cannot decide the rule);
- a failure matched by a current waiver becomes `waived`; expired waivers are reported.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from auditor.evidence.record import Evidence, Failure, Record
from auditor.models import Finding, Severity, Status, Waiver
from auditor.policy import batch
from auditor.policy.catalog import EffectiveRule, ResolvedPolicy
from auditor.policy.cel import EvaluationError, activation, evaluate
from auditor.policy.pack import waiver_matches


@dataclass(frozen=True)
class Evaluation:
    findings: tuple[Finding, ...]
    expired_waivers: tuple[Waiver, ...]


def evaluate_rules(
    policy: ResolvedPolicy,
    records: Sequence[Record],
    *,
    target: Mapping[str, Any],
    now: dt.datetime,
) -> Evaluation:
    by_kind: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        by_kind[record.kind].append(record)
    context = _Context(
        rule_params={e.id: dict(e.params) for e in policy.rules},
        target=dict(target),
        now=now,
    )
    context.batches = batch.Batches(
        [e.rule for e in policy.rules], rule_params=context.rule_params, target=context.target, now=now
    )
    waivers = policy.active_waivers(now)
    findings: list[Finding] = []
    for effective in policy.rules:
        outcome = _evaluate_rule(effective, by_kind.get(effective.rule.kind, []), context)
        findings.extend(_apply_waivers(f, waivers) for f in outcome)
    findings.sort(key=Finding.sort_key)
    return Evaluation(tuple(findings), tuple(policy.expired_waivers(now)))


def _apply_waivers(finding: Finding, waivers: Sequence[Waiver]) -> Finding:
    if finding.status is not Status.FAIL:
        return finding
    for waiver in waivers:
        if waiver_matches(waiver, finding.rule_id, finding.resource):
            return dataclasses.replace(finding, status=Status.WAIVED, waiver=waiver)
    return finding


_PASSED = batch.Outcome(batch.PASS)


@dataclass
class _Context:
    """What every rule of one evaluation shares, including one CEL activation per record."""

    rule_params: dict[str, dict[str, Any]]
    target: dict[str, Any]
    now: dt.datetime
    activations: dict[str, Any] = dataclasses.field(default_factory=dict)
    batches: batch.Batches | None = None
    """Decides many records of a kind at once, so most need no activation (auditor.policy.batch)."""

    def bind(self, mode: str, value: Any) -> Any:
        return activation(mode, value, rule_params=self.rule_params, target=self.target, now=self.now)

    def of_record(self, record: Evidence) -> Any:
        """The record's activation, made once and shared by every rule that reads it."""
        act = self.activations.get(record.id)
        if act is None:
            act = self.activations[record.id] = self.bind("each", record.plain)
        return act


class _RuleRun:
    """Builds the findings of one rule."""

    def __init__(self, effective: EffectiveRule) -> None:
        self.rule = effective.rule
        self.severity: Severity = effective.severity

    def finding(
        self,
        status: Status,
        resource: str,
        message: str,
        records: Sequence[Record] = (),
    ) -> Finding:
        rule = self.rule
        return Finding(
            rule_id=rule.id,
            title=rule.title,
            area=rule.area,
            severity=self.severity,
            status=status,
            resource=resource,
            message=message,
            evidence=tuple(r.id for r in records),
            pointer=rule.pointer if records else "",
            remediation=rule.remediation,
            references=rule.references,
        )

    def judge(self, act: Any, resource: str, records: Sequence[Record]) -> Finding:
        rule = self.rule
        if rule.error_when is not None and rule.error_message is not None:
            try:
                undecided = evaluate(rule.error_when, act)
            except EvaluationError as exc:
                return self.finding(Status.ERROR, resource, f"error_when could not be evaluated: {exc}", records)
            if undecided is True:
                return self.finding(Status.ERROR, resource, rule.error_message.render(act), records)
        try:
            outcome = evaluate(rule.condition, act)
        except EvaluationError as exc:
            return self.finding(Status.ERROR, resource, f"condition could not be evaluated: {exc}", records)
        if not isinstance(outcome, bool):
            return self.finding(
                Status.ERROR, resource, f"condition yielded {outcome!r}, not true or false", records
            )
        if outcome:
            return self.finding(Status.PASS, resource, rule.title, records)
        return self.finding(Status.FAIL, resource, rule.message.render(act), records)

    def decided(self, outcome: batch.Outcome, record: Evidence) -> Finding:
        """The finding of a record the batch decided: a pass, or a failure with its message."""
        if outcome.code == batch.PASS:
            return self.finding(Status.PASS, record.resource, self.rule.title, [record])
        return self.finding(Status.FAIL, record.resource, str(outcome.message), [record])

    def resource_of(self, act: Any, default: str) -> str:
        return self.rule.resource.render(act) if self.rule.resource else default


def _evaluate_rule(
    effective: EffectiveRule,
    records: list[Record],
    context: _Context,
) -> list[Finding]:
    run = _RuleRun(effective)
    rule = run.rule
    target_name = str(context.target.get("name", ""))
    if not records:
        return [
            run.finding(
                Status.NOT_EVALUATED,
                target_name,
                f"not evaluated: no {rule.kind} evidence was collected for this target",
            )
        ]
    errors = [r for r in records if isinstance(r, Failure)]
    good = [r for r in records if isinstance(r, Evidence)]
    out = [
        run.finding(Status.ERROR, r.resource, f"evidence could not be collected: {r.error}", [r])
        for r in errors
    ]
    outcomes = context.batches.outcomes(rule, good) if context.batches is not None else None
    selected: list[tuple[Evidence, Any]] = []
    for i, record in enumerate(good):
        decided = outcomes.get(i, _PASSED) if outcomes is not None else None
        if decided is not None and decided.code == batch.SKIP:
            continue
        if decided is not None and (decided.code == batch.PASS or decided.message is not None) \
                and (rule.mode != "each" or rule.resource is None):
            selected.append((record, decided))  # decided by the batch (mode all: selected), no activation needed
            continue
        act = context.of_record(record)
        if rule.filter is not None:
            try:
                keep = evaluate(rule.filter, act)
            except EvaluationError as exc:
                out.append(run.finding(Status.ERROR, record.resource, f"filter could not be evaluated: {exc}", [record]))
                continue
            if keep is not True:
                continue
        selected.append((record, act))
    if rule.mode == "each":
        out.extend(
            run.decided(act, record) if isinstance(act, batch.Outcome)
            else run.judge(act, run.resource_of(act, record.resource), [record])
            for record, act in selected
        )
    elif selected and not errors:
        act = context.bind("all", [record.plain for record, _ in selected])
        out.append(run.judge(act, run.resource_of(act, target_name), [r for r, _ in selected]))
    if not out and good:
        out.append(
            run.finding(
                Status.NOT_EVALUATED,
                target_name,
                f"not evaluated: none of the {len(good)} {rule.kind} records matched the rule's filter",
            )
        )
    return out
