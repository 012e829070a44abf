"""The engine: rules x evidence -> findings. Pure: no I/O, no printing, deterministic order.

For each rule of the resolved policy:
- no evidence of its kind at all: one `not-evaluated` finding (never a pass);
- only error records of its kind: an `error` finding per record (the evidence is unreadable);
- otherwise each record that passes the rule's filter is checked (mode `each`), or the list of
  them at once (mode `all`, over an empty list when the filter leaves none); in mode `each`, a
  filter that leaves no record makes the rule `not-applicable` (its subject does not exist);
- with `applies_to.each`, each element of that list in a record that passes `where` is an
  instance, judged on its own: one finding per instance; a record without instances gives one
  `not-applicable` finding (or `pass`, with `none: pass`);
- a condition that cannot be evaluated is an `error` finding, and so is a record for which the
  rule's `error_when` holds (it exists but cannot decide the rule). A resource limit of the CEL
  runtime is an `error` on the record (or instance) that hit it: in mode `all` the records that
  hit it alone are set apart as errors and the rule is judged over the others, so a larger
  input never hides the failures of a smaller one;
- every finding has a stable id from (rule, resource identity): the identity the evidence
  contract declares for the record's kind and for an instance's type, else the resource;
- kinds with many records are decided in batches (auditor._policy.batch), which give exactly
  these findings: whatever a batch cannot decide completely is evaluated record by record;
- a failure matched by a current waiver (by id, or by an explicit pattern within the number of
  instances it states) becomes `waived`; expired and exceeded waivers are reported.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import itertools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate, compress
from typing import Any

from auditor._models import (
    ExceededWaiver,
    Finding,
    Severity,
    Status,
    Waiver,
    finding_id,
    finding_ids,
    findings_of,
    rules_ids,
)
from auditor._policy import batch
from auditor._policy.catalog import EffectiveRule, ResolvedPolicy
from auditor._policy.cel import EvaluationError, LimitError, activation, evaluate
from auditor._policy.contract import Each
from auditor._policy.pack import waiver_matches
from auditor._policy.rule import Rule
from auditor.evidence.contract import identity, label
from auditor.evidence.record import Evidence, Failure, Record


@dataclass(frozen=True)
class Evaluation:
    findings: tuple[Finding, ...]
    expired_waivers: tuple[Waiver, ...]
    exceeded_waivers: tuple[ExceededWaiver, ...] = ()
    collected: frozenset[str] = frozenset()
    """The evidence kinds of which at least one record (not a failure) was collected."""


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
    split = {  # each kind's failures and evidence, for every rule of the kind
        kind: ([r for r in found if isinstance(r, Failure)], [r for r in found if isinstance(r, Evidence)])
        for kind, found in by_kind.items()
    }
    findings: list[Finding] = []
    ids = [e.id for e in policy.rules]
    by_rule = all(a < b for a, b in itertools.pairwise(ids))  # then each rule's findings are sorted on their own
    sort_key = Finding.sort_key
    target_name = str(context.target.get("name", ""))
    absent = iter(rules_ids([e.rule.id for e in policy.rules if e.rule.kind not in split], (target_name,)))
    for effective in policy.rules:
        of_kind = split.get(effective.rule.kind)
        if of_kind is None:  # no record of its kind at all (most rules of a policy on one target)
            findings.append(_not_evaluated(effective, target_name, next(absent)))
            continue
        found = _unique(_evaluate_rule(effective, of_kind, context))
        if by_rule and len(found) > 1 and not isinstance(found, _InOrder):
            found.sort(key=sort_key)
        findings.extend(found)
    findings, exceeded = apply_waivers(findings, policy.active_waivers(now))
    if not by_rule:
        findings.sort(key=sort_key)
    collected = frozenset(kind for kind, (_, good) in split.items() if good)
    return Evaluation(tuple(findings), tuple(policy.expired_waivers(now)), tuple(exceeded), collected)


class _InOrder(list[Finding]):
    """Findings of one rule known to be in report order (Finding.sort_key) with no two keys
    equal: what _RuleRun.settled makes from rows in that order. Sorting, stable, would leave
    them so; waivers change statuses only, and _unique ids only where they are not needed to
    order them (see _Context.rows)."""


def apply_waivers(findings: Sequence[Finding], waivers: Sequence[Waiver]) -> tuple[list[Finding], list[ExceededWaiver]]:
    """Failures covered by a current waiver become `waived`. A waiver by ids covers those
    findings; a pattern waiver covers the failures it matches as long as there are no more of
    them than the instances it states: otherwise it covers none (an instance that appeared after
    the approval is never covered by accident) and is returned as exceeded."""
    out = list(findings)
    exceeded: list[ExceededWaiver] = []
    taken: set[int] = set()
    for waiver in waivers:
        matched = [
            i for i, f in enumerate(out)
            if i not in taken and f.status is Status.FAIL and waiver_matches(waiver, f.rule_id, f.resource, f.id)
        ]
        if not waiver.findings and waiver.instances is not None and len(matched) > waiver.instances:
            exceeded.append(ExceededWaiver(waiver, tuple(sorted(out[i].id for i in matched))))
            continue
        for i in matched:
            out[i] = out[i].replaced({"status": Status.WAIVED, "waiver": waiver})
            taken.add(i)
    return out, exceeded


def _unique(findings: list[Finding]) -> list[Finding]:
    """A rule's findings with distinct ids. Of two instances with one identity, one that says
    just what another says (resource, status and message: the same file reached twice,
    through two paths of a source) is that finding, with both records as its evidence: one
    problem instance, one finding. Otherwise (the same object in two manifests, the same
    certificate twice in a file) the first (by resource, then evidence record: whatever order
    they come in) keeps the identity's id, so a copy added after it never changes the id of the
    finding that was there (nor lapses its waiver, nor shows it fixed in a diff); each other one
    is told apart by its resource, then by its order."""
    if len(findings) < 2 or len({f.id for f in findings}) == len(findings):
        return findings
    used = {f.id for f in findings}
    says = [_says(f) for f in findings]
    order = [_first_key(f) for f in findings]
    keeper: dict[str, int] = {}  # id -> the finding that keeps it
    first: dict[tuple[str, str, Status, str], int] = {}  # what is said -> the finding that stands for it
    for i, f in enumerate(findings):
        k, r = keeper.get(f.id), first.get(says[i])
        if k is None or order[i] < order[k]:
            keeper[f.id] = i
        if r is None or order[i] < order[r]:
            first[says[i]] = i
    extra: dict[int, list[str]] = {}
    for i, f in enumerate(findings):
        r = first[says[i]]
        if r != i:
            extra.setdefault(r, []).extend(f.evidence)
    out = []
    for i, f in enumerate(findings):
        if first[says[i]] != i:
            continue  # said alike by another: one finding, whose evidence holds this one's records
        if keeper[f.id] != i:
            f = f.replaced({"id": _other_id(f, used)})
        more = [e for e in dict.fromkeys(extra.get(i, ())) if e not in f.evidence]
        out.append(f.replaced({"evidence": (*f.evidence, *more)}) if more else f)
    return out


def _says(finding: Finding) -> tuple[str, str, Status, str]:
    """What a finding says: two findings of one rule that say it alike are one finding (_unique;
    its pointer is into its first record, which stays first)."""
    return finding.id, finding.resource, finding.status, finding.message


def _other_id(finding: Finding, used: set[str]) -> str:
    """An id for a finding whose identity another finding of its rule keeps (_unique): from its
    identity's id and its resource, numbered past those taken."""
    new = finding_id(finding.rule_id, (finding.id, finding.resource))
    n = 1
    while new in used:
        n += 1
        new = finding_id(finding.rule_id, (finding.id, finding.resource, str(n)))
    used.add(new)
    return new


def _first_key(finding: Finding) -> tuple[str, str]:
    """Which of the findings sharing an id keeps it (_unique): the least resource, then record."""
    return finding.resource, finding.evidence[0] if finding.evidence else ""


@dataclass
class _Context:
    """What every rule of one evaluation shares, including one CEL activation per record (and per
    instance of a list rules iterate)."""

    rule_params: dict[str, dict[str, Any]]
    target: dict[str, Any]
    now: dt.datetime
    activations: dict[Any, Any] = dataclasses.field(default_factory=dict)
    identities: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    names: dict[Any, tuple[tuple[str, ...], str]] = dataclasses.field(default_factory=dict)
    batches: batch.Batches | None = None
    """Decides many records of a kind at once, so most need no activation (auditor._policy.batch)."""
    settled_rows: dict[str, _Rows] = dataclasses.field(default_factory=dict)

    def bind(self, mode: str, value: Any) -> Any:
        return activation(mode, value, rule_params=self.rule_params, target=self.target, now=self.now)

    def of_record(self, record: Evidence) -> Any:
        """The record's activation, made once and shared by every rule that reads it."""
        act = self.activations.get(record.id)
        if act is None:
            act = self.activations[record.id] = self.bind("each", record.plain)
        return act

    def identity_of(self, record: Evidence) -> tuple[str, ...]:
        """record_identity(record), made once per record for every rule."""
        found = self.identities.get(record.id)
        if found is None:
            found = self.identities[record.id] = record_identity(record)
        return found

    def rows(self, records: Sequence[Evidence]) -> _Rows:
        """The resource, evidence (record id,) and identity of each of `records` (the collected
        records of one kind, the same list for every rule of the kind), made once for every rule
        that reads them: in the order findings are reported (by resource, then record id) when
        no two records share resource and identity, so the findings a batch settled come sorted.
        (Then _unique renames the same findings in any order, and the final sort, by keys all
        distinct, gives the same list; otherwise the records' own order is kept, as _unique
        numbers by it.)"""
        kind = records[0].kind if records else ""
        found = self.settled_rows.get(kind)
        if found is None or len(found.order) != len(records):
            rows = [(i, r.resource, (r.id,), self.identity_of(r)) for i, r in enumerate(records)]
            ordered = len({(row[1], row[3]) for row in rows}) == len(rows)
            if ordered:
                rows.sort(key=_row_order)
            order = [row[0] for row in rows]
            place = [0] * len(rows)
            for at, i in enumerate(order):
                place[i] = at
            found = self.settled_rows[kind] = _Rows(
                order, place, [row[1] for row in rows], [row[2] for row in rows], [row[3] for row in rows],
                ordered and len({row[1:3] for row in rows}) == len(rows))
        return found

    def name_instance(self, record: Evidence, each: Each, index: int, item: Any,
                      base: tuple[str, ...]) -> tuple[tuple[str, ...], str]:
        """(identity, label) of one element of a list in the record, made once for every rule
        that iterates it (`base`: the record's identity)."""
        key = (record.id, each.path, index, each.identified)
        found = self.names.get(key)
        if found is None:
            identified = each.identified
            own = identity(identified, item) if identified else (str(item),)
            found = self.names[key] = (
                own if getattr(identified, "IDENTITY_ALONE", False) is True else (*base, *own),
                label(identified, item, record.resource) if identified else f"{record.resource} {item}",
            )
        return found

    def of_instance(self, record: Evidence, path: tuple[str, ...], index: int, item: Any) -> Any:
        """The activation of one element of a list in the record, shared by every rule that iterates it."""
        key = (record.id, path, index)
        act = self.activations.get(key)
        if act is None:
            act = self.activations[key] = self.bind("item", (record.plain, item))
        return act


@dataclass(frozen=True)
class _Rows:
    """The records of one kind as _RuleRun.settled reads them, by columns (see _Context.rows)."""

    order: list[int]
    """The index of each row's record (in the kind's records)."""
    place: list[int]
    """The row of each record, by its index: `order` inverted."""
    resources: list[str]
    evidence: list[tuple[str]]
    identities: list[tuple[str, ...]]
    in_order: bool
    """Whether the rows are in report order with no two of them sharing resource and record id."""


def _row_order(row: tuple[int, str, tuple[str], tuple[str, ...]]) -> tuple[str, str]:
    """A settled row's place in the report: its resource, then its record's id (Finding.sort_key)."""
    return row[1], row[2][0]


def record_identity(record: Record) -> tuple[str, ...]:
    """What identifies a record across scans: the fields its kind declares, else its resource."""
    if isinstance(record, Evidence) and type(record.data).IDENTITY:
        return identity(type(record.data), record.plain)
    return (record.resource,)


class _RuleRun:
    """Builds the findings of one rule."""

    def __init__(self, effective: EffectiveRule) -> None:
        self.rule = rule = effective.rule
        self.severity: Severity = effective.severity
        self.passed = (rule.id, rule.title, rule.area, self.severity, Status.PASS)
        """The first fields of the rule's passes."""

    def finding(
        self,
        status: Status,
        resource: str,
        message: str,
        records: Sequence[Record] = (),
        *,
        key: Sequence[str] | None = None,
        act: Any = None,
        correlation: str = "",
        pointer: str | None = None,
    ) -> Finding:
        """A finding on `resource`, identified by `key` (default: the resource). A failure gets the
        rule's correlation key and whether it always blocks, evaluated with `act`."""
        rule = self.rule
        always = False
        if status is Status.FAIL and act is not None:
            if rule.correlation is not None:
                correlation = rule.correlation.render(act)
            if rule.always_blocks is not None:
                try:
                    always = evaluate(rule.always_blocks, act) is True
                except EvaluationError:
                    always = True  # undecidable: blocking is the safe side
        return Finding(rule.id, rule.title, rule.area, self.severity, status, resource, message,
                       tuple([r.id for r in records]),
                       pointer if pointer is not None else rule.pointer if records else "", rule.remediation,
                       rule.references, None, finding_id(rule.id, tuple(key) if key is not None else (resource,)),
                       correlation, always, "", "")

    def judge(self, act: Any, resource: str, records: Sequence[Record], key: Sequence[str]) -> tuple[Finding, bool]:
        """The finding, and whether a resource limit decided it (an error)."""
        rule = self.rule

        def error(text: str, exc: EvaluationError | None = None) -> tuple[Finding, bool]:
            return self.finding(Status.ERROR, resource, text, records, key=key), isinstance(exc, LimitError)

        if rule.each is None and rule.error_when is not None and rule.error_message is not None:
            try:
                undecided = evaluate(rule.error_when, act)
            except EvaluationError as exc:
                return error(f"error_when could not be evaluated: {exc}", exc)
            if undecided is True:
                return error(rule.error_message.render(act))
        try:
            outcome = evaluate(rule.condition, act)
        except EvaluationError as exc:
            return error(f"condition could not be evaluated: {exc}", exc)
        if not isinstance(outcome, bool):
            return error(f"condition yielded {outcome!r}, not true or false")
        if outcome:
            return self.finding(Status.PASS, resource, rule.title, records, key=key), False
        return self.finding(Status.FAIL, resource, rule.message.render(act), records, key=key, act=act), False

    def decided(self, outcome: batch.Outcome, record: Evidence, key: tuple[str, ...]) -> Finding:
        """The finding of a record a batch settled (see _settled): a pass, or a failure with its
        message and correlation key; what `judge` gives for it (`key`: the record's identity)."""
        rule = self.rule
        if outcome.code == batch.PASS:
            return Finding(*self.passed, record.resource, rule.title, (record.id,), rule.pointer, rule.remediation,
                           rule.references, None, finding_id(rule.id, key), "", False, "", "")
        return self.finding(Status.FAIL, record.resource, str(outcome.message), [record], key=key,
                            correlation=outcome.correlation)

    def settled(self, records: Sequence[Evidence], outcomes: dict[int, batch.Outcome], context: _Context) -> list[Finding]:
        """The findings of `records` when a batch decided each of them completely (_all_settled):
        what the record-by-record loop and `decided` make, without their per-record costs (the
        findings of most rules over many records are made here: each record's resource, evidence
        and identity are looked up once for every rule, in the order context.rows gives). Every
        row is made a pass at once (at C speed), then the rows of the records the batch failed or
        skipped are mended, one by one."""
        rule = self.rule
        rows = context.rows(records)
        rule_id, title, pointer = rule.id, rule.title, rule.pointer
        place = rows.place
        failed: list[tuple[int, batch.Outcome]] = []
        skipped: list[int] = []
        for i, outcome in outcomes.items():
            code = outcome.code
            if code == batch.SKIP:
                skipped.append(place[i])
            elif code != batch.PASS:
                failed.append((place[i], outcome))
        resources, evidence, identities = rows.resources, rows.evidence, rows.identities
        if skipped:  # the rows kept, and where each kept row lands
            kept = [True] * len(resources)
            for at in skipped:
                kept[at] = False
            resources, evidence, identities = (list(compress(resources, kept)), list(compress(evidence, kept)),
                                               list(compress(identities, kept)))
            if failed:
                land = list(accumulate(kept))
                failed = [(land[at] - 1, outcome) for at, outcome in failed]
        made = finding_ids(rule_id, identities)
        out = list(map(findings_of(rule_id, title, rule.area, self.severity, Status.PASS, title, pointer,
                                   rule.remediation, rule.references, None, "", False, "", ""),
                       resources, evidence, made))
        for at, outcome in failed:  # what decided() makes of it
            was = out[at]
            out[at] = Finding(rule_id, title, rule.area, self.severity, Status.FAIL, was.resource, str(outcome.message),
                              was.evidence, pointer, rule.remediation, rule.references, None, was.id,
                              outcome.correlation, False, "", "")
        return _InOrder(out) if rows.in_order else out

    def out_of_scope(self, records: Sequence[Evidence], target_name: str) -> Finding:
        """The finding of a rule whose filter left none of `records`: not applicable."""
        return self.finding(
            Status.NOT_APPLICABLE,
            target_name,
            f"not applicable: none of the {len(records)} {self.rule.kind} records is in the rule's scope (its filter)",
        )

    def resource_of(self, act: Any, default: str) -> str:
        return self.rule.resource.render(act) if self.rule.resource else default

    def instances(self, record: Evidence, act: Any, context: _Context) -> list[Finding]:
        """The findings of a rule with applies_to.each on one record: one per instance, and one
        for the record when it has none (or when its error_when holds: it cannot decide whether
        there are others)."""
        rule = self.rule
        each = rule.each
        assert each is not None
        items: Any = record.plain
        for name in each.path:
            items = items.get(name) if isinstance(items, dict) else None
        out: list[Finding] = []
        base = context.identity_of(record)
        undecided: Finding | None = None
        if rule.error_when is not None and rule.error_message is not None:
            try:
                if evaluate(rule.error_when, act) is True:
                    undecided = self.finding(Status.ERROR, record.resource, rule.error_message.render(act), [record], key=base)
            except EvaluationError as exc:
                undecided = self.finding(Status.ERROR, record.resource, f"error_when could not be evaluated: {exc}",
                                         [record], key=base)
        for index, item in enumerate(items if isinstance(items, list) else ()):
            key, shown = context.name_instance(record, each, index, item, base)
            act = context.of_instance(record, each.path, index, item)
            if rule.where is not None:
                try:
                    keep = evaluate(rule.where, act)
                except EvaluationError as exc:
                    out.append(self.finding(Status.ERROR, shown, f"where could not be evaluated: {exc}", [record], key=key))
                    continue
                if keep is not True:
                    continue
            finding = self.judge(act, self.resource_of(act, shown), [record], key)[0]
            out.append(finding.replaced({"pointer": f"/{'/'.join(each.path)}/{index}"}))
        if undecided is not None:
            out.append(undecided)
        elif not out:
            out.append(self._without_instances(record, base))
        return out

    def decided_instances(self, outcome: batch.Outcome, record: Evidence, context: _Context) -> list[Finding]:
        """The findings of a record whose instances a batch decided (batch.instanced): what
        `instances` gives for it."""
        rule = self.rule
        each = rule.each
        assert each is not None and outcome.items is not None
        items: Any = record.plain
        for name in each.path:
            items = items.get(name) if isinstance(items, dict) else None
        if not isinstance(items, list) or len(items) != len(outcome.items):  # pragma: no cover - defensive
            return self.instances(record, context.of_record(record), context)
        base = context.identity_of(record)
        out: list[Finding] = []
        at = f"/{'/'.join(each.path)}/"
        evidence = (record.id,)
        passed, title, remediation, references = self.passed, rule.title, rule.remediation, rule.references
        for index, (item, decided) in enumerate(zip(items, outcome.items, strict=True)):
            if decided.code == batch.SKIP:
                continue
            key, shown = context.name_instance(record, each, index, item, base)
            if decided.code == batch.PASS:  # what self.finding(Status.PASS, ...) makes, without its checks
                out.append(Finding(*passed, shown, title, evidence, f"{at}{index}", remediation, references, None,
                                   finding_id(rule.id, key), "", False, "", ""))
            else:
                out.append(self.finding(Status.FAIL, shown, str(decided.message), [record], key=key,
                                        correlation=decided.correlation, pointer=f"{at}{index}"))
        if not out:
            out.append(self._without_instances(record, base))
        return out

    def _without_instances(self, record: Evidence, base: tuple[str, ...]) -> Finding:
        """The finding of a record with no instance of the rule: a pass (`none: pass`), else not applicable."""
        rule = self.rule
        assert rule.each is not None
        if rule.none == "pass":
            return self.finding(Status.PASS, record.resource, rule.title, [record], key=base)
        what = rule.each.text.removeprefix("evidence.") + (" matching the rule's `where`" if rule.where else "")
        return self.finding(
            Status.NOT_APPLICABLE, record.resource, f"not applicable: {record.resource} has no {what}", [record], key=base,
        )

    def over_all(self, selected: list[tuple[Evidence, Any]], context: _Context, target_name: str) -> list[Finding]:
        """Mode all: one finding over every selected record. Records that hit a resource limit on
        their own are errors, and the rule is judged over the rest."""

        wanted = batch.item_fields(self.rule)

        def judge(records: list[Evidence]) -> tuple[Finding, bool]:
            items = [r.plain for r in records]
            if wanted is not None:  # only the fields the rule reads: converting the rest costs most
                items = batch.projected(items, wanted)  # none read by its place in a record
            found = batch.judge_all(self.rule, items, context.rule_params, context.target, context.now)
            if found is not None:  # judged in Python, as below (no resource limit: celpy stays far within it)
                code, shown, message, correlation = found
                place = shown if shown is not None else target_name
                return self.finding(_ALL_STATUS[code], place, message, records, key=(place,),
                                    correlation=correlation), False
            act = context.bind("all", items)
            resource = self.resource_of(act, target_name)
            return self.judge(act, resource, records, (resource,))

        records = [r for r, _ in selected]
        finding, limited = judge(records)
        if not limited or len(records) < 2:
            return [finding]
        alone = [r for r in records if judge([r])[1]]
        if not alone:
            return [finding]
        out = [
            self.finding(
                Status.ERROR, r.resource,
                "resource limit: this record alone exhausts the CEL runtime's budget; the rule was judged without it",
                [r], key=record_identity(r),
            )
            for r in alone
        ]
        rest = [r for r in records if r not in alone]
        if rest:
            out.append(judge(rest)[0])
        return out


def _not_evaluated(effective: EffectiveRule, target_name: str, fid: str) -> Finding:
    """The finding of a rule of which no record of its kind was collected: what
    _RuleRun.finding makes of it (see _evaluate_rule), without making a _RuleRun (`fid`: its id,
    finding_id(rule id, (target_name,)), made with the other rules' by rules_ids)."""
    rule = effective.rule
    return Finding(rule.id, rule.title, rule.area, effective.severity, Status.NOT_EVALUATED, target_name,
                   _not_collected(rule.kind), (), "", rule.remediation, rule.references, None, fid, "", False, "", "")


@functools.lru_cache(maxsize=1024)
def _not_collected(kind: str) -> str:
    """The message of a not-evaluated finding of a rule over `kind` (_not_evaluated)."""
    return f"not evaluated: no {kind} evidence was collected for this target"


def _evaluate_rule(
    effective: EffectiveRule,
    records: tuple[list[Failure], list[Evidence]],
    context: _Context,
) -> list[Finding]:
    """The findings of one rule over the records of its kind: (failures, evidence)."""
    run = _RuleRun(effective)
    rule = run.rule
    target_name = str(context.target.get("name", ""))
    errors, good = records
    if not errors and not good:
        return [
            run.finding(
                Status.NOT_EVALUATED,
                target_name,
                f"not evaluated: no {rule.kind} evidence was collected for this target",
            )
        ]
    out = [
        run.finding(Status.ERROR, r.resource, f"evidence could not be collected: {r.error}", [r])
        for r in errors
    ]
    outcomes = context.batches.outcomes(rule, good) if context.batches is not None else None
    if outcomes is not None and not errors and _all_settled(rule, outcomes):
        found = run.settled(good, outcomes, context)
        if found or not good:
            return found
        return [run.out_of_scope(good, target_name)]  # the filter left no record: what the loop below gives
    selected: list[tuple[Evidence, Any]] = []
    for i, record in enumerate(good):
        decided = outcomes.get(i, _PASSED) if outcomes is not None else None
        if decided is not None and decided.code == batch.SKIP:
            continue
        if decided is not None and _settled(rule, decided):
            selected.append((record, decided))  # no activation needed
            continue
        act = context.of_record(record)
        if rule.filter is not None:
            try:
                keep = evaluate(rule.filter, act)
            except EvaluationError as exc:
                out.append(run.finding(Status.ERROR, record.resource, f"filter could not be evaluated: {exc}", [record],
                                       key=record_identity(record)))
                continue
            if keep is not True:
                continue
        selected.append((record, act))
    if rule.mode == "each":
        for record, act in selected:
            if isinstance(act, batch.Outcome) and act.items is not None:
                out.extend(run.decided_instances(act, record, context))
            elif isinstance(act, batch.Outcome):
                out.append(run.decided(act, record, context.identity_of(record)))
            elif rule.each is not None:
                out.extend(run.instances(record, act, context))
            else:
                out.append(run.judge(act, run.resource_of(act, record.resource), [record], record_identity(record))[0])
    elif not errors and good:
        out.extend(run.over_all(selected, context, target_name))
    if not out and good:
        out.append(run.out_of_scope(good, target_name))
    return out


_PASSED = batch.Outcome(batch.PASS)
_ALL_STATUS = {batch.PASS: Status.PASS, batch.FAIL: Status.FAIL, batch.UNDECIDED: Status.ERROR}


def _all_settled(rule: Rule, outcomes: dict[int, batch.Outcome]) -> bool:
    """Whether a batch decided every record completely for a rule of mode each with a finding
    per record (no instances, no resource template): see _settled; then no record needs an
    activation, and _RuleRun.settled makes the findings."""
    if rule.mode != "each" or rule.each is not None or rule.resource is not None:
        return False
    skip = batch.SKIP
    for o in outcomes.values():  # most are skips (records the filter leaves out)
        if o.code != skip and not _settled(rule, o):
            return False
    return True


def _settled(rule: Rule, outcome: batch.Outcome) -> bool:
    """Whether a batch's outcome for a record (not skipped by the filter) is all the engine needs
    from it: in mode all, that the filter selects it; in mode each, a pass or a rendered failure
    of a rule whose findings depend on nothing else (no resource template, instances or
    always_blocks)."""
    if rule.mode != "each":
        return outcome.code == batch.PASS
    if outcome.code == batch.INSTANCES:
        return True  # every instance decided (batch.instanced)
    if rule.each is not None or rule.resource is not None:
        return False
    if outcome.code == batch.PASS:
        return True
    return outcome.code == batch.FAIL and outcome.message is not None and rule.always_blocks is None
