"""Speed of the scan pipeline. Run: .venv/bin/python -m pytest tests/benchmarks -m benchmark -s

Targets (issue 2): the demo scan, interpreter start included, under 1 s; `auditor --help`
under 0.3 s; and a figure for bundles/s over 1,000 synthetic bundles of 200 certificates.
These print figures; they assert nothing about time (timings are not tests).
"""

from __future__ import annotations

import dataclasses
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from auditor._scan import EvaluateOptions, evaluate_bundle
from auditor.evidence.bundle import Bundle
from auditor.evidence.record import Evidence
from auditor.policy.catalog import Catalog
from tests.certs import NOW, CertFactory

pytestmark = pytest.mark.benchmark


def wall(args: list[str], runs: int = 7) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(args, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def test_cli_start_and_demo_scan() -> None:
    subprocess.run([sys.executable, "-m", "auditor", "scan", "--target", "cim-prod-001"], capture_output=True, check=False)
    help_med, help_min = wall([sys.executable, "-m", "auditor", "--help"])
    scan_med, scan_min = wall([sys.executable, "-m", "auditor", "scan", "--target", "cim-prod-001"])
    print(f"\nauditor --help: median {help_med * 1000:.0f} ms, best {help_min * 1000:.0f} ms (target < 300 ms)")
    print(f"demo scan (warm cache): median {scan_med * 1000:.0f} ms, best {scan_min * 1000:.0f} ms (target < 1000 ms)")


def synthetic_records(n: int) -> list[Evidence]:
    from auditor.evidence.kinds.x509 import X509Certificate
    from pki.facts import certificate_facts
    from pki.verify import verify_chain

    factory = CertFactory()
    root, inter = factory.chain()
    out = []
    rng = random.Random(7)
    for i in range(n):
        key = rng.choice(["ec256", "ec256", "ed25519", "rsa2048"]) if i % 10 else "rsa2048"
        leaf = factory.issue(f"node-{i}.example.com", issuer=inter, key=key, dns=(f"node-{i}.example.com",),
                             days=rng.choice([30, 90, 365]))
        chain = verify_chain(leaf.cert, [root.cert], [inter.cert], at=NOW)
        data = {"path": f"certs/{i}.pem", "index": 0, "encoding": "pem", **certificate_facts(leaf.cert).to_dict(),
                "chain": {"status": "valid" if chain.valid else "invalid", "error": chain.error,
                          "path": [c.subject.rfc4514_string() for c in chain.path], "anchor": None, "is_anchor": False}}
        out.append(Evidence(source="bench", resource=f"certs/{i}.pem", collected_at="2026-11-23T00:00:00Z",
                            data=msgspec.convert(data, X509Certificate)))
    return out


def test_bundles_per_second() -> None:
    base = synthetic_records(200)
    catalog = Catalog.load()
    target = {"name": "bench", "environment": "production", "policies": ["cim-production"], "names": ["node-1.example.com"]}
    rng = random.Random(11)
    bundles = []
    for b in range(1000):
        records = [
            dataclasses.replace(r, resource=f"b{b}/{r.resource}", id="") for r in rng.sample(base, len(base))
        ]
        bundles.append(Bundle.create(target, "2026-11-23T00:00:00Z", records))
    options = EvaluateOptions(now=NOW)
    start = time.perf_counter()
    findings = 0
    for bundle in bundles:
        findings += len(evaluate_bundle(bundle, options, catalog=catalog).findings)
    elapsed = time.perf_counter() - start
    rules = len(catalog.resolve(["cim-production"]).rules)
    print(f"\n1000 bundles x 200 certificates x {rules} rules: {elapsed:.1f} s, "
          f"{1000 / elapsed:.1f} bundles/s, {findings / elapsed:,.0f} findings/s")
    assert findings > 0


def test_bundle_read_back(tmp_path: Path) -> None:
    """Reading a bundle of 200 certificates back: JSON, envelope, digest, ids, every record's data
    decoded into its kind's type."""
    from auditor.evidence.bundle import read_bundle

    bundle = Bundle.create({"name": "bench", "environment": "production", "policies": ["cim-production"]},
                           "2026-11-23T00:00:00Z", synthetic_records(200))
    path = tmp_path / "bundle.json"
    bundle.write(path)
    times = []
    for _ in range(15):
        start = time.perf_counter()
        read = read_bundle(path)
        times.append(time.perf_counter() - start)
    assert read.digest == bundle.digest
    print(f"\nread back a bundle of 200 certificates ({path.stat().st_size // 1024} KiB): "
          f"median {statistics.median(times) * 1000:.1f} ms, best {min(times) * 1000:.1f} ms")
