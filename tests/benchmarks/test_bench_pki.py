"""Speed of the PKI. Run: .venv/bin/python -m pytest tests/benchmarks/test_bench_pki.py -m benchmark -s

Issue 3 asks for figures: leaf issuance rate (certificates/s) for ECDSA P-256 and Ed25519 with
file keys, and `pki list --expiring` over an inventory of 100,000 certificates. Issuance here
is the whole operation: new node key, signature, CA lock, inventory row, log entry (fsync'ed)
and the three files. These print figures and assert nothing about time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pki.backends import key_opener
from pki.backends.file import FileBackend
from pki.ca import CA
from pki.inventory import rfc3339
from tests.pki.conftest import secrets

pytestmark = pytest.mark.benchmark
ISSUES = 200
INVENTORY = 100_000


@pytest.mark.parametrize("key_type", ["ecdsa-p256", "ed25519"])
def test_leaf_issuance_rate(tmp_path: Path, key_type: str) -> None:
    ca = CA.init(tmp_path / "CA", "Bench Root", FileBackend(tmp_path / "CA", secrets), key_type=key_type)
    opener = key_opener(ca.folder, secrets)
    ca.create_intermediate("Bench Intermediate", opener, FileBackend(ca.folder, secrets), key_type=key_type)
    signer = opener(ca.current_intermediate().key)
    start = time.perf_counter()
    for i in range(ISSUES):
        ca.issue(f"node-{i}", "nats-client", opener, tmp_path / f"n{i}", key_type=key_type, signer=signer)
    elapsed = time.perf_counter() - start
    assert sum(1 for _ in ca.list()) == ISSUES + 2
    print(f"\nleaf issuance, {key_type} CA and node keys (file backend): {ISSUES} in {elapsed:.2f} s "
          f"= {ISSUES / elapsed:.0f} certificates/s")


def test_list_expiring_over_100k(tmp_path: Path) -> None:
    ca = CA.init(tmp_path / "CA", "Bench Root", FileBackend(tmp_path / "CA", secrets), key_type="ecdsa-p256")
    opener = key_opener(ca.folder, secrets)
    ca.create_intermediate("Bench Intermediate", opener, FileBackend(ca.folder, secrets), key_type="ecdsa-p256")
    template = ca.issue("template", "nats-client", opener, tmp_path / "t").entry
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    rng = random.Random(3)
    entries = []
    for i in range(INVENTORY):
        not_after = now + dt.timedelta(days=rng.uniform(-30, 90))
        entries.append(dataclasses.replace(
            template, serial=format(rng.getrandbits(120) | (1 << 119), "x"), node=f"node-{i:06d}",
            not_before=rfc3339(not_after - dt.timedelta(days=90)), not_after=rfc3339(not_after),
            status="revoked" if i % 50 == 0 else "valid",
        ))
    start = time.perf_counter()
    with ca.inventory() as inv:
        inv.add_many(entries)
    load = time.perf_counter() - start
    expected = sum(1 for e in entries if e.status == "valid" and rfc3339(now) < e.not_after <= rfc3339(now + dt.timedelta(days=30)))

    start = time.perf_counter()
    found = list(ca.list(expiring=dt.timedelta(days=30), now=now))
    library = time.perf_counter() - start
    assert len(found) == expected

    times = []
    for _ in range(5):
        begin = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "auditor", "pki", "list", "--dir", str(ca.folder),
                               "--expiring", "30d", "--format", "json"], capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - begin)
    listed = len(json.loads(proc.stdout))
    print(f"\ninventory of {INVENTORY + 3} certificates (bulk load {load:.2f} s): {expected} expiring within 30 days")
    print(f"  library ca.list(expiring=30d): {library * 1000:.0f} ms")
    print(f"  `auditor pki list --expiring 30d --format json` (process start included): "
          f"median {statistics.median(times):.2f} s, min {min(times):.2f} s, {listed} listed")
