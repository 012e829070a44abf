"""Scale of the fleet path: 2,000 signed bundles through JetStream to 1, 2 and 4 workers.

Run: .venv/bin/python -m pytest tests/benchmarks/test_bench_fleet.py -m benchmark -s

For each worker count: a fresh nats-server with JetStream on loopback and a fresh SQLite history;
the workers (`auditor worker --concurrency 1`, separate processes) start and get ready; then
2,000 bundles (2,000 targets, a small node's evidence each: 12 certificates, signed by a node
certificate chained to the inventory's test CA) are published as fast as JetStream takes them.
Printed: bundles/s from the first publication until the history holds all 2,000 scans, the
consumer's lag every second, and the history's rows. The peer: the same verify, evaluate and
store done in one process without NATS (on 200 of the bundles). Figures only; nothing about
time is asserted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import time
from pathlib import Path

import pytest
import yaml

from auditor._history.sqlite import SQLiteStore
from auditor._inventory.model import SourceSpec, Target
from auditor._remote import wire
from auditor._remote.envelope import Signer, open_sealed, seal
from auditor._remote.worker import InventorySource, WorkerOptions, judge, make_judge
from auditor._scan import EvaluateOptions, collect
from auditor._timeutil import rfc3339
from auditor.evidence.bundle import Bundle
from tests.auditor._remote.fleetlab import auditor, start_nats
from tests.auditor._remote.signing import NodePki
from tests.certs import CertFactory, write

pytestmark = pytest.mark.benchmark
BUNDLES = 2000
WORKERS = (1, 2, 4)


def _fleet(folder: Path) -> tuple[Path, list[tuple[str, bytes]]]:
    """An inventory of BUNDLES targets and one signed message per target."""
    certs = CertFactory()
    pki = NodePki.make(certs, folder / "pki")
    node = folder / "node"
    for i in range(12):
        leaf = certs.issue(f"svc{i}.bench.example.com", issuer=pki.inter, dns=(f"svc{i}.bench.example.com",))
        write(node / "certs" / f"svc{i}.pem", leaf.pem() + pki.inter.pem())
    source = SourceSpec("certificates", "certs", True, {"paths": ["certs"]})
    template = collect(Target(name="t", environment="staging", policies=("cim-staging",), sources=(source,),
                              root=node, trust_anchors=(folder / "pki/root.pem",)))
    key, cert = pki.node("fleet-bench", cn="fleet-bench.example.com")
    signer = Signer.load(key, cert)
    names = [f"node-{i:04d}" for i in range(BUNDLES)]
    inventory = folder / "auditor.yaml"
    inventory.write_text(yaml.safe_dump({"version": 1, "targets": [
        {"name": n, "environment": "staging", "policies": ["cim-staging"], "names": ["fleet-bench.example.com"],
         "trust_anchors": ["pki/root.pem"], "sources": []} for n in names]}))
    at = rfc3339(dt.datetime.now(dt.UTC).replace(microsecond=0))
    messages = []
    for n in names:
        described = {**template.target, "name": n, "names": ["fleet-bench.example.com"]}
        bundle = Bundle.create(described, at, template.records)
        messages.append((n, wire.pack(seal(bundle, signer, request_id=f"bench-{n}"))))
    return inventory, messages


async def _publish_and_watch(url: str, messages: list[tuple[str, bytes]], db: Path) -> tuple[float, list[str]]:
    import nats

    nc = await nats.connect(url)
    js = nc.jetstream()
    samples: list[str] = []
    start = time.perf_counter()

    async def publish() -> None:
        pending = []
        for name, data in messages:
            pending.append(js.publish(wire.evidence_subject(name), data, headers={"Nats-Msg-Id": name}))
            if len(pending) >= 64:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)

    publishing = asyncio.create_task(publish())
    stored = 0
    while stored < len(messages):
        await asyncio.sleep(1.0)
        info = await js.consumer_info(wire.STREAM, wire.CONSUMER)
        with sqlite3.connect(db, timeout=30) as conn:
            stored = conn.execute("SELECT COUNT(*) FROM scans").fetchone()[0]
        samples.append(f"{time.perf_counter() - start:5.0f}s lag {int(info.num_pending or 0) + int(info.num_ack_pending or 0):5d}"
                       f" stored {stored:5d}")
    elapsed = time.perf_counter() - start
    await publishing
    await nc.close()
    return elapsed, samples


def _rows(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        counts = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("scans", "findings", "evidence")}
        distinct = conn.execute("SELECT COUNT(DISTINCT bundle_digest) FROM evidence").fetchone()[0]
    return f"rows: scans {counts['scans']}, findings {counts['findings']}, evidence {counts['evidence']} ({distinct} distinct bundles)"


@pytest.mark.timeout(3600)
def test_fleet_throughput(tmp_path: Path) -> None:
    inventory, messages = _fleet(tmp_path)
    print(f"\n{len(messages)} signed bundles, {sum(len(d) for _, d in messages) // len(messages)} bytes each (gzip)")

    # the peer: verify, evaluate and store in one process, no NATS
    state = make_judge(InventorySource(str(inventory)).load(), EvaluateOptions(), WorkerOptions())
    peer_db = tmp_path / "peer.sqlite"
    sample = messages[:200]
    start = time.perf_counter()
    with SQLiteStore(peer_db) as store:
        for name, data in sample:
            verdict = judge(wire.evidence_subject(name), data, state)
            assert hasattr(verdict, "result"), verdict
            store.save_signed(verdict.result, origin="peer", exit_code=verdict.exit_code,  # type: ignore[union-attr]
                              provenance=verdict.provenance)  # type: ignore[union-attr]
    peer = len(sample) / (time.perf_counter() - start)
    opened = open_sealed(wire.unpack(sample[0][1]), state.trusts[sample[0][0]], now=dt.datetime.now(dt.UTC))
    assert opened.target == sample[0][0]
    print(f"peer (one process, no NATS): {peer:.1f} bundles/s")

    for count in WORKERS:
        folder = tmp_path / f"w{count}"
        folder.mkdir()
        nats = start_nats(folder)
        db = folder / "history.sqlite"
        workers = [auditor(f"worker{i}", folder, "worker", "--nats", nats.url, "--db", str(db), "--inventory",
                           str(inventory), "--concurrency", "1") for i in range(count)]
        try:
            for w in workers:
                w.wait_for("ready in", timeout=300)
            elapsed, samples = asyncio.run(_publish_and_watch(nats.url, messages, db))
            rate = len(messages) / elapsed
            print(f"\n{count} worker(s): {len(messages)} bundles in {elapsed:.1f}s = {rate:.1f} bundles/s "
                  f"({rate / peer:.2f} x the one-process peer)")
            print("  consumer lag over time:")
            for line in samples[:: max(1, len(samples) // 15)]:
                print(f"    {line}")
            print(f"  {_rows(db)}")
        finally:
            for w in workers:
                w.stop()
            nats.stop()
