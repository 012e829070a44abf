"""Speed of the pki-inventory and yubikey collectors.

Run: .venv/bin/python -m pytest tests/benchmarks/test_bench_evidence_pki_yubikey.py -m benchmark -s
Prints figures, asserts nothing about time.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import random
import time
from pathlib import Path

import pytest

from auditor._collectors import run_collector
from auditor._collectors import yubikey as yk
from auditor._collectors.interface import CollectContext
from auditor._inventory.model import SourceSpec, Target
from pki.backends import key_opener
from pki.backends.file import FileBackend
from pki.ca import CA
from pki.inventory import rfc3339
from tests.pki.bulk import bulk_records
from tests.pki.conftest import secrets
from tests.softpiv import SoftPivCard
from tests.softpiv.devices import SoftPivDevices, provision

pytestmark = pytest.mark.benchmark
INVENTORY = 100_000
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def _context(root: Path, collector: str, **options: object) -> CollectContext:
    spec = SourceSpec(collector, collector, True, dict(options))
    return CollectContext(Target(name="t", environment="b", policies=("p",), sources=(spec,), root=root), spec, NOW)


def test_pki_inventory_over_100k(tmp_path: Path) -> None:
    ca = CA.init(tmp_path / "CA", "Bench Root", FileBackend(tmp_path / "CA", secrets), key_type="ecdsa-p256")
    opener = key_opener(ca.folder, secrets)
    ca.create_intermediate("Bench Intermediate", opener, FileBackend(ca.folder, secrets), key_type="ecdsa-p256")
    issued = ca.issue("template", "nats-client", opener, tmp_path / "t")
    template, template_cert = issued.entry, issued.certificate
    rng = random.Random(5)
    entries = [dataclasses.replace(template, serial=format(rng.getrandbits(120) | (1 << 119), "x"), node=f"n{i:06d}",
                                   not_after=rfc3339(NOW + dt.timedelta(days=rng.uniform(-30, 90))))
               for i in range(INVENTORY)]
    bulk_records(ca, entries, template_cert)
    context = _context(tmp_path, "pki-inventory", folders=["CA"], deployed=["t"])
    times = []
    for _ in range(3):
        start = time.perf_counter()
        records = list(run_collector(context))
        times.append(time.perf_counter() - start)
    kinds = collections.Counter(r.kind for r in records)
    deployed = sum(f.read_text().count("BEGIN CERTIFICATE") for f in (tmp_path / "t").glob("*.pem"))
    # every certificate of the log (root, intermediate, the template and the copies), the CA, and
    # each certificate in the deployed folder's files
    assert kinds == {"pki.certificate": INVENTORY + 3, "pki.ca": 1, "pki.deployed": deployed} and deployed > 0
    print(f"\npki-inventory over {INVENTORY + 3} certificates: {min(times):.2f} to {max(times):.2f} s "
          f"({len(records)} records)")


def test_yubikey_collector_per_device(tmp_path: Path) -> None:
    card = SoftPivCard(serial=1234, version=(5, 7, 4))
    for slot, key in (("9a", "ecdsa-p256"), ("9c", "ed25519"), ("9d", "ecdsa-p384"), ("9e", "ecdsa-p256")):
        provision(card, slot, key, subject=f"slot {slot}")
    context = _context(tmp_path, "yubikey")
    runs = 20
    with yk.using(SoftPivDevices([card])):
        start = time.perf_counter()
        for _ in range(runs):
            records = list(run_collector(context))
        elapsed = time.perf_counter() - start
    assert len(records) == 6
    print(f"\nyubikey collector, one software PIV card with 4 slots: {elapsed / runs * 1000:.1f} ms per device "
          "(software card: a real device adds USB/CCID round trips)")
