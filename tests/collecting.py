"""Running one collector on a throw-away target, with every record checked against its kind's schema."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import msgspec

from auditor._collectors import run_collector
from auditor._collectors.interface import CollectContext
from auditor._inventory.model import SourceSpec, Target
from auditor.evidence.kinds import KINDS, data_errors
from auditor.evidence.record import Evidence, Failure, Record


def collect_source(collector: str, root: Path, options: dict[str, Any], now: dt.datetime | None = None) -> list[Record]:
    source = SourceSpec(collector, collector, True, options)
    target = Target(name="t", environment="test", policies=("p",), sources=(source,), root=root)
    records = list(run_collector(CollectContext(target, source, now or dt.datetime.now(dt.UTC))))
    for r in records:
        if isinstance(r, Evidence):
            assert data_errors(r.kind, r.plain) == [], r.resource
    return records


def evidence(kind: str, data: dict[str, Any], *, resource: str = "r", source: str = "s",
             collected_at: str = "2026-11-23T12:00:00Z") -> Evidence:
    """Evidence of `kind` from plain data, checked against the kind's type."""
    return Evidence(source=source, resource=resource, collected_at=collected_at,
                    data=msgspec.convert(data, KINDS[kind]))


def failure(kind: str, error: str, *, resource: str = "r", source: str = "s",
            collected_at: str = "2026-11-23T12:00:00Z", required: bool = True) -> Failure:
    return Failure(kind=kind, source=source, resource=resource, collected_at=collected_at, error=error,
                   required=required)


def plain_of(record: Record) -> dict[str, Any]:
    """The plain data of a record that must be evidence."""
    assert isinstance(record, Evidence), record
    return record.plain


def failure_of(record: Record) -> Failure:
    """A record that must be a failure."""
    assert isinstance(record, Failure), record
    return record
