"""Speed of the tls collector against the real nats-server. Run:
.venv/bin/python -m pytest tests/benchmarks/test_bench_tls.py -m benchmark -s

Prints the time per endpoint with and without the version and weak-suite probes (six
handshakes instead of one). It asserts nothing about time.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from auditor._collectors import run_collector
from auditor._collectors.interface import CollectContext
from auditor._inventory.model import SourceSpec, Target
from auditor.evidence.record import Evidence
from tests.certs import CertFactory
from tests.servers import LOOPBACK, Pki, nats_server

pytestmark = pytest.mark.benchmark
ENDPOINTS = 20


def test_tls_probe_time_per_endpoint(certs: CertFactory, tmp_path: Path) -> None:
    pki = Pki.make(certs, tmp_path)
    with nats_server(pki.folder, pki.nats_tls("verify: true")) as nats:
        for probe_versions in (False, True):
            endpoint = {"host": LOOPBACK, "port": nats.port, "name": "localhost", "protocol": "nats"}
            source = SourceSpec("tls", "t", True, {"endpoints": [endpoint] * ENDPOINTS, "probe_versions": probe_versions})
            target = Target(name="t", environment="e", policies=("p",), sources=(source,), root=tmp_path,
                            trust_anchors=(tmp_path / "root.pem",))
            started = time.perf_counter()
            records = list(run_collector(CollectContext(target, source, dt.datetime.now(dt.UTC))))
            elapsed = time.perf_counter() - started
            assert all(isinstance(r, Evidence) for r in records)
            print(f"\ntls probe (probe_versions={probe_versions}): {len(records)} NATS endpoints in "
                  f"{elapsed:.2f} s, {1000 * elapsed / len(records):.0f} ms each")
