"""Speed of the report formats and of verify. Run: .venv/bin/python -m pytest tests/benchmarks -m benchmark -s

A fleet-sized result (the demo's findings repeated to 5,000, each copy on a resource and with an
id of its own) rendered in every format, the PDF of the demo, and `verify` of the demo with two
sign-offs. Nothing is asserted about time; what is asserted is that the figures are of real
work: every document holds its findings, and both sign-offs verify.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from auditor._models import Status, finding_id
from auditor._render import FORMATS, renderer
from auditor._signoff.record import record_signoff
from auditor._signoff.verify import verify
from tests.auditor._render.reports import demo_scan
from tests.gpg import LEADS, keyring

pytestmark = pytest.mark.benchmark


def test_render_every_format(tmp_path: Path) -> None:
    scan = demo_scan(tmp_path)
    base = scan.result.findings
    findings = tuple(
        f.replaced({"resource": (resource := f"{f.resource}#{i}"), "id": finding_id(f.rule_id, (resource,))})
        for i in range(5000 // len(base) + 1) for f in base
    )[:5000]
    big = scan.result.changed(findings=findings)
    assert len({f.id for f in big.findings}) == 5000
    failed = next(f for f in reversed(big.findings) if f.status is Status.FAIL)  # the last copies: nothing cut
    passed = next(f for f in reversed(big.findings) if f.status is Status.PASS)
    print()
    for name in FORMATS.names():
        result = scan.result if name == "pdf" else big
        start = time.perf_counter()
        out = renderer(name).document(result)
        took = time.perf_counter() - start
        print(f"{name:>6}: {took * 1000:8.0f} ms for {len(result.findings)} findings, {len(out) / 1024:8.0f} KiB")
        if name == "pdf":
            assert _bytes(out).startswith(b"%PDF-")
            continue
        assert failed.id.encode() in _bytes(out), name  # every format names each failure
        if name in ("json", "sarif", "junit"):  # and these every pass too
            assert passed.id.encode() in _bytes(out), name


def test_verify_two_signoffs(tmp_path: Path) -> None:
    scan = demo_scan(tmp_path)
    with keyring(tmp_path, {r: LEADS[r] for r in ("security", "operations")}) as (home, keys):
        start = time.perf_counter()
        for role, fpr in keys.items():
            record_signoff(scan.result_path, role=role, key=fpr, gnupghome=str(home))
        signed = time.perf_counter() - start
    start = time.perf_counter()
    outcome = verify(scan.result_path)
    took = time.perf_counter() - start
    print(f"\nsignoff x2: {signed * 1000:.0f} ms; verify of 2 sign-offs: {took * 1000:.0f} ms (ok={outcome.ok})")
    assert outcome.ok


def _bytes(document: str | bytes) -> bytes:
    return document.encode() if isinstance(document, str) else document
