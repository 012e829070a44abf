"""Scanning as a library: collect a target's evidence, evaluate it, return a RedactedResult.

`collect` and `evaluate_bundle` are the two halves of the air-gapped workflow; `scan_target`
does both (the package exports them as `auditor.collect`, `auditor.evaluate` and
`auditor.scan`). Nothing here prints: progress is reported through an optional callback.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor import __version__
from auditor._collectors import run_collector
from auditor._collectors.interface import CollectContext
from auditor._engine import evaluate_rules
from auditor._gcpause import gc_paused
from auditor._inventory.model import SourceSpec, Target, cel_target_view
from auditor._loader.yamlfile import Document
from auditor._models import (
    ExpiredWaiver,
    Finding,
    RedactedResult,
    ScanResult,
    Severity,
    Status,
)
from auditor._policy.catalog import Catalog, ResolvedPolicy
from auditor._policy.owners import Ownership, load_ownership
from auditor._redact import redact_result
from auditor._timeutil import rfc3339, utcnow
from auditor.evidence.bundle import Bundle
from auditor.evidence.record import Record

if TYPE_CHECKING:
    from auditor._host.system import Host

Progress = Callable[[str, int, int], None]
"""progress(message, done, total): called as each evidence source is collected."""


def collect(target: Target, *, now: dt.datetime | None = None, progress: Progress | None = None) -> Bundle:
    """Run every evidence source of `target` and return the bundle of records: here, or from the
    target's machine over SSH when it names one (auditor._remote.ssh)."""
    if target.ssh is not None:
        from auditor._remote.ssh import collect_over_ssh

        return collect_over_ssh(target, now=now, progress=progress)
    return collect_here(target, now=now, progress=progress)


def collect_here(target: Target, *, now: dt.datetime | None = None, progress: Progress | None = None) -> Bundle:
    """Collect `target` on this machine, whatever its `ssh` says (a node agent is on it)."""
    moment = now or utcnow()
    records = collect_sources(target, target.sources, moment, progress=progress)
    if progress:
        progress("collected", len(target.sources), len(target.sources))
    return Bundle.create(target.describe(), rfc3339(moment), records)


def collect_sources(
    target: Target,
    sources: Sequence[SourceSpec],
    moment: dt.datetime,
    *,
    remote: Host | None = None,
    progress: Progress | None = None,
) -> list[Record]:
    """The records of `sources` (of `target`), each source run by its collector; with `remote`,
    read from the machine it reaches (CollectContext.remote)."""
    records: list[Record] = []
    for i, source in enumerate(sources):
        if progress:
            progress(f"collecting {source.name} ({source.collector})", i, len(sources))
        records.extend(run_collector(CollectContext(target=target, source=source, now=moment, remote=remote)))
    return records


@dataclass(frozen=True)
class EvaluateOptions:
    """How to evaluate: which packs, as of when, from which threshold, with which extra files."""

    policies: Sequence[str] = ()
    """Policy packs to apply (ids or files); default the target's own list."""
    now: dt.datetime | None = None
    """Evaluation time; default now."""
    fail_on: Severity | None = None
    """Failure threshold; default the policy's, else high."""
    rule_paths: Sequence[Path] = ()
    """Extra folders or files of rules, beside the built-in ones."""
    policy_paths: Sequence[Path] = ()
    """Extra folders or files of policy packs."""


def evaluate_bundle(
    bundle: Bundle,
    options: EvaluateOptions | None = None,
    *,
    catalog: Catalog | None = None,
    target: Mapping[str, Any] | None = None,
) -> RedactedResult:
    """The findings for `bundle`, redacted as soon as they are made: the library hands out no
    other kind of result. `target` is the description to judge it by (policies, names, vars;
    default the bundle's own): a fleet worker uses its own inventory's, never what the node sent.
    The garbage collector is paused meanwhile: the thousands of values an evaluation makes hold
    no reference cycles (tests/auditor/test_gcpause.py) and are freed by reference counts."""
    with gc_paused():
        return _evaluate_bundle(bundle, options, catalog=catalog, target=target)


def _evaluate_bundle(
    bundle: Bundle,
    options: EvaluateOptions | None,
    *,
    catalog: Catalog | None,
    target: Mapping[str, Any] | None,
) -> RedactedResult:
    opts = options or EvaluateOptions()
    cat = catalog or Catalog.load(opts.rule_paths, opts.policy_paths)
    described = dict(bundle.target if target is None else target)
    refs = list(opts.policies) or list(described.get("policies", ()))
    policy = cat.resolve(refs)
    now = (opts.now or utcnow()).astimezone(dt.UTC)
    evaluation = evaluate_rules(policy, bundle.records, target=cel_target_view(described), now=now)
    where = f"the target of bundle {bundle.digest[:12]}" if target is None else "the target's inventory entry"
    findings = assign_owners(evaluation.findings, policy, target_ownership(described, where), now.date())
    fail_on = opts.fail_on or policy.fail_on or Severity.HIGH
    return redact_result(ScanResult(
        target={
            "name": described.get("name", ""),
            "environment": described.get("environment", ""),
            "tags": list(described.get("tags", ())),
            "policies": list(policy.packs),
        },
        policies=policy.packs,
        evaluated_at=rfc3339(now),
        tool={"name": "auditor", "version": __version__, "rules_digest": cat.digest},
        bundle_digest=bundle.digest,
        findings=findings,
        collection_errors=bundle.errors,
        expired_waivers=tuple(ExpiredWaiver(w) for w in evaluation.expired_waivers),
        exceeded_waivers=evaluation.exceeded_waivers,
        missing_evidence=tuple(k for k in policy.required_kinds(fail_on) if k not in evaluation.collected),
        fail_on=fail_on,
        checklist=policy.checklist,
        rules=policy.infos,
    ))


OWNED = frozenset({Status.FAIL, Status.ERROR, Status.NOT_EVALUATED, Status.WAIVED})
"""The findings someone must act on, and so get an owner; a failure also gets a due date."""
_UNOWNED = tuple(s for s in Status if s not in OWNED)
"""The other statuses, as a tuple: a test of membership by identity, without hashing an enum."""


def assign_owners(
    findings: Sequence[Finding], policy: ResolvedPolicy, target: Ownership | None, today: dt.date
) -> tuple[Finding, ...]:
    """`findings` with their owner (and a failure's due date) from the target's and the packs'
    `ownership`; unchanged when neither names any."""
    owners = policy.owners(target)
    if not owners:
        return tuple(findings)
    rules = {e.id: e.rule for e in policy.rules}
    made: dict[tuple[str, str, bool], tuple[str, str]] = {}
    out: list[Finding] = []
    append = out.append
    failure = Status.FAIL
    for f in findings:
        status = f.status
        if status in _UNOWNED:
            append(f)
            continue
        rule = rules.get(f.rule_id)
        if rule is None:
            append(f)
            continue
        failed = status is failure
        key = (f.rule_id, f.severity._value_, failed)  # a str: an Enum member hashes in Python
        changes = made.get(key)
        if changes is None:  # the same for every finding of the rule at that severity
            assigned = owners.assign(f.rule_id, rule.area, rule.tags, f.severity)
            due = assigned.due(today) if failed else None
            changes = made[key] = (assigned.owner or "", due.isoformat() if due else "")
        append(f.owned(*changes))
    return tuple(out)


def target_ownership(target: Mapping[str, Any], where: str) -> Ownership | None:
    """The `ownership` a bundle's target definition carries (the inventory's, checked when it was
    loaded; checked again here, the bundle having travelled)."""
    if "ownership" not in target:
        return None
    return load_ownership(Document(value=dict(target), file=where), ("ownership",))


def scan_target(
    target: Target,
    options: EvaluateOptions | None = None,
    *,
    catalog: Catalog | None = None,
    progress: Progress | None = None,
) -> tuple[Bundle, RedactedResult]:
    """Collect `target`'s evidence and evaluate it: the bundle and its (redacted) result."""
    opts = options or EvaluateOptions()
    if catalog is None:
        catalog = Catalog.load(
            [*target.rule_paths, *opts.rule_paths], [*target.policy_paths, *opts.policy_paths]
        )
    bundle = collect(target, now=opts.now, progress=progress)
    return bundle, evaluate_bundle(bundle, opts, catalog=catalog)
