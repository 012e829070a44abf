"""Helpers for Kubernetes tests: collect manifests, and the PSS packs' verdict per object."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import msgspec
import yaml

from auditor._collectors import run_collector
from auditor._collectors.interface import CollectContext
from auditor._engine import evaluate_rules
from auditor._inventory.model import SourceSpec, Target
from auditor._models import Finding, Status
from auditor._policy.catalog import Catalog, ResolvedPolicy
from auditor.evidence.kinds import data_errors
from auditor.evidence.record import Evidence, Record

NOW = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
LEVELS = ("baseline", "restricted")


def collect(root: Path, paths: Sequence[str], **options: Any) -> list[Record]:
    """Run the kubernetes collector; every record's data must match its kind's schema."""
    source = SourceSpec("kubernetes", "manifests", True, {"paths": list(paths), **options})
    target = Target(name="t", environment="test", policies=("p",), sources=(source,), root=root)
    records = list(run_collector(CollectContext(target, source, NOW)))
    for r in records:
        if isinstance(r, Evidence):
            assert data_errors(r.kind, r.plain) == [], (r.resource, data_errors(r.kind, r.plain)[:3])
            # the collector builds the typed values itself: they are what decoding their plain form makes
            assert msgspec.convert(r.plain, type(r.data)) == r.data, r.resource
    return records


def write_docs(path: Path, docs: Iterable[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(list(docs), sort_keys=False))
    return path


@functools.cache
def catalog() -> Catalog:
    return Catalog.load()


@functools.cache
def pss_policy(level: str, version: str) -> ResolvedPolicy:
    """The pss-<level> pack with every rule's `version` param set."""
    resolved = catalog().resolve([f"pss-{level}"])
    rules = tuple(dataclasses.replace(e, params={**e.params, "version": version}) for e in resolved.rules)
    return dataclasses.replace(resolved, rules=rules)


def evaluate(records: Sequence[Record], policy: ResolvedPolicy) -> list[Finding]:
    return list(evaluate_rules(policy, records, target={"name": "t"}, now=NOW).findings)


def pss_verdicts(records: Sequence[Record], level: str, version: str) -> dict[str, bool]:
    """resource -> allowed, for every workload: allowed unless a finding of the pack fails.

    Any finding other than pass or fail is a test failure: the packs must decide every pod.
    """
    findings = evaluate(records, pss_policy(level, version))
    workloads = {r.id: r.resource for r in records if r.kind == "kubernetes.workload"}
    verdict = dict.fromkeys(workloads.values(), True)
    for f in findings:
        assert f.status in (Status.PASS, Status.FAIL), (f.rule_id, f.resource, f.status, f.message)
        if f.status is Status.FAIL:  # a finding on a container or volume: its workload is refused
            verdict[workloads[f.evidence[0]]] = False
    return verdict
