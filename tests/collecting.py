"""Running one collector on a throw-away target, with every record checked against its kind's schema."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from auditor.collectors import run_collector
from auditor.collectors.interface import CollectContext
from auditor.evidence.kinds import data_errors
from auditor.inventory.model import SourceSpec, Target
from auditor.models import EvidenceRecord


def collect_source(collector: str, root: Path, options: dict[str, Any], now: dt.datetime | None = None) -> list[EvidenceRecord]:
    source = SourceSpec(collector, collector, True, options)
    target = Target(name="t", environment="test", policies=("p",), sources=(source,), root=root)
    records = list(run_collector(CollectContext(target, source, now or dt.datetime.now(dt.UTC))))
    for r in records:
        if r.data is not None:
            assert data_errors(r.kind, r.data) == [], r.resource
    return records
