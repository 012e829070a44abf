"""What redacting every result right after evaluation costs. Run:
.venv/bin/python -m pytest tests/benchmarks/test_bench_redaction.py -m benchmark -s

Evaluates fresh 200-certificate bundles alternately with the real redact_result and with a
stand-in that wraps the result unredacted, and prints the CPU time of each and the ratio
(CPU time, interleaved bundle by bundle, so a busy machine skews both sides alike).
"""

from __future__ import annotations

import dataclasses
import random
import time

import pytest

import auditor._scan as scanning
from auditor._models import RedactedResult, ScanResult
from auditor._policy.catalog import Catalog
from auditor._redact import redact_result
from auditor.evidence.bundle import Bundle
from tests.benchmarks.test_bench_scan import synthetic_records
from tests.certs import NOW

pytestmark = pytest.mark.benchmark


def _unredacted(result: ScanResult) -> RedactedResult:
    """The peer: the same result wrapped as a RedactedResult without redacting anything."""
    made = object.__new__(RedactedResult)
    ScanResult.__init__(made, **{f.name: getattr(result, f.name) for f in dataclasses.fields(ScanResult)})
    return made


def test_redaction_share_of_evaluation(monkeypatch: pytest.MonkeyPatch) -> None:
    base = synthetic_records(200)
    catalog = Catalog.load()
    target = {"name": "bench", "environment": "production", "policies": ["cim-production"], "names": ["node-1.example.com"]}
    rng = random.Random(11)
    bundles = [
        Bundle.create(target, "2026-11-23T00:00:00Z",
                      [dataclasses.replace(r, resource=f"b{b}/{r.resource}", id="") for r in rng.sample(base, len(base))])
        for b in range(100)
    ]
    options = scanning.EvaluateOptions(now=NOW)
    scanning.evaluate_bundle(bundles[0], options, catalog=catalog)
    spent = {"redacted": 0.0, "not redacted": 0.0}
    findings = 0
    for i, bundle in enumerate(bundles):
        side = "redacted" if i % 2 == 0 else "not redacted"
        monkeypatch.setattr(scanning, "redact_result", redact_result if side == "redacted" else _unredacted)
        start = time.process_time()
        findings += len(scanning.evaluate_bundle(bundle, options, catalog=catalog).findings)
        spent[side] += time.process_time() - start
    per = {k: v / (len(bundles) / 2) * 1000 for k, v in spent.items()}
    print(f"\nevaluate a 200-certificate bundle ({findings // len(bundles)} findings): "
          f"{per['redacted']:.1f} ms CPU redacted, {per['not redacted']:.1f} ms CPU not; "
          f"redaction adds {spent['redacted'] / spent['not redacted'] - 1:+.1%}")
    assert findings > 0
