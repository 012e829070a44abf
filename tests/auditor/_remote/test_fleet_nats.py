"""The fleet with the real parts: nats-server with JetStream on loopback, three agents with their own
evidence roots, two workers sharing one SQLite history.

In order: every requested target gets exactly one stored scan; unsigned, forged and replayed
evidence is refused and never stored, a redelivered bundle makes no second scan; a worker killed
(-9) in the middle of an evaluation loses nothing and duplicates nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor._history.sqlite import SQLiteStore
from auditor._remote import wire
from auditor._remote.envelope import Signer, seal
from tests.auditor._remote.fleetlab import Lab, Proc, auditor, lab, restarted, start_nats
from tests.auditor._remote.signing import NodePki, small_bundle
from tests.certs import CertFactory
from tests.conftest import run_cli
from tests.servers import NatsServer

NODES = {"node-a": 2, "node-b": 150, "node-c": 3}
"""Certificates per node: node-b's bundle takes a second or more to verify and evaluate, long
enough to kill a worker in the middle of it."""
ACK_WAIT = "3s"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, certs: CertFactory) -> Iterator[tuple[Lab, NatsServer, list[Proc]]]:
    folder = tmp_path_factory.mktemp("fleet")
    nats = start_nats(folder)
    try:
        with lab(folder, certs, NODES) as made:
            db = folder / "history.sqlite"
            workers = [
                made.add(auditor(f"worker{i}", folder, "worker", "--nats", nats.url, "--db", str(db), "--inventory",
                                 str(made.inventory), "--concurrency", "1", "--ack-wait", ACK_WAIT))
                for i in (1, 2)
            ]
            for name in made.targets:
                made.add(auditor(f"agent-{name}", folder, "agent", "--target", name, "--nats", nats.url,
                                 "--inventory", str(made.inventory)))
            for p in made.procs:
                p.wait_for("connected to", timeout=90)
            for w in workers:
                w.wait_for("ready in", timeout=90)
            yield made, nats, workers
    finally:
        nats.stop()


def _scans(lab_: Lab) -> dict[str, list[str]]:
    with SQLiteStore(lab_.folder / "history.sqlite") as store:
        entries = store.entries(limit=1000)
    out: dict[str, list[str]] = {}
    for e in entries:
        assert e.origin == "worker"
        out.setdefault(e.target, []).append(e.bundle_digest)
    return out


def test_every_requested_target_gets_exactly_one_stored_scan(fleet: tuple[Lab, NatsServer, list[Proc]]) -> None:
    made, nats, _ = fleet
    run = run_cli("fleet", "collect", "--all", "--inventory", str(made.inventory), "--nats", nats.url,
                  "--wait", "90", "--format", "json")
    assert run.code == 0, run.err  # the certificate-files pack finds nothing to fail on these certificates
    doc = json.loads(run.out)
    assert sorted(t["target"] for t in doc["targets"]) == sorted(NODES)
    events = {t["target"]: t["event"] for t in doc["targets"]}
    assert all(e and e["type"] == "auditor.scan" and e["verdict"] == "READY" for e in events.values()), doc
    scans = _scans(made)
    assert {t: len(d) for t, d in scans.items()} == dict.fromkeys(NODES, 1)
    assert {t: d[0] for t, d in scans.items()} == {t: e["bundle_digest"] for t, e in events.items()}
    # the two workers shared the work
    workers = {e["worker"] for e in events.values()}
    assert len(workers) >= 1
    status = run_cli("fleet", "status", "--nats", nats.url, "--format", "json")
    assert status.code == 0, status.err
    state = json.loads(status.out)
    assert sorted(a["target"] for a in state["agents"]) == sorted(NODES)
    assert {t["target"]: t["bundle_digest"] for t in state["targets"]} == {t: d[0] for t, d in scans.items()}
    assert state["consumer"]["lag"] == 0


async def _attack(url: str, messages: list[tuple[bytes, str]], expect: int) -> list[dict[str, Any]]:
    """Publish `messages` (data, Nats-Msg-Id) on node-a's evidence subject; the first `expect` events."""
    import nats

    nc = await nats.connect(url)
    events: list[dict[str, Any]] = []
    done = asyncio.Event()

    async def on(msg: Any) -> None:
        events.append(json.loads(msg.data))
        if len(events) >= expect:
            done.set()

    await nc.subscribe(wire.findings_subject("node-a"), cb=on)
    js = nc.jetstream()
    for data, msg_id in messages:
        await js.publish(wire.evidence_subject("node-a"), data, headers={"Nats-Msg-Id": msg_id})
    await asyncio.wait_for(done.wait(), 60)
    last = await js.get_last_msg(wire.STREAM, wire.evidence_subject("node-a"))
    assert last.data is not None
    await nc.close()
    return events


def test_unsigned_forged_and_replayed_evidence_is_refused_and_never_stored(
    fleet: tuple[Lab, NatsServer, list[Proc]], certs: CertFactory, tmp_path: Path
) -> None:
    made, nats, workers = fleet
    before = _scans(made)

    async def genuine() -> bytes:
        import nats as nats_py

        nc = await nats_py.connect(nats.url)
        msg = await nc.jetstream().get_last_msg(wire.STREAM, wire.evidence_subject("node-a"))
        await nc.close()
        assert msg.data is not None
        return msg.data

    stored_message = asyncio.run(genuine())
    node_key = Signer.load(made.folder / "node-a/signing/key.pem", made.folder / "node-a/signing/cert.pem")
    rogue_root, rogue_inter = certs.chain()
    rogue = NodePki(rogue_root, rogue_inter, tmp_path, certs).signer("node-a")
    an_hour_ago = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)
    messages = [
        (wire.pack(small_bundle("node-a").to_dict()), "unsigned"),
        (wire.pack(seal(small_bundle("node-a"), rogue)), "forged"),
        # genuine, signed by node-a's own key, but collected before the bundle already accepted
        (wire.pack(seal(small_bundle("node-a", created_at=an_hour_ago), node_key)), "replayed"),
        (stored_message, "redelivered"),  # the very message already stored, published again
    ]
    events = asyncio.run(_attack(nats.url, messages, expect=4))
    refused = sorted(e["reason"] for e in events if e["type"] == "auditor.refused")
    assert len(refused) == 3, events
    assert any(r.startswith("unsigned") for r in refused)
    assert any("chain is not trusted" in r for r in refused)
    assert any(r.startswith("replayed: collected at") for r in refused)
    again = [e for e in events if e["type"] == "auditor.scan"]
    assert len(again) == 1 and again[0]["redelivered"] is True
    assert again[0]["scan_id"] is not None
    assert _scans(made) == before  # nothing stored, no second scan
    logs = "".join(w.text() for w in workers)
    assert logs.count("refused evidence on audit.evidence.node-a") >= 3
    assert "(a redelivery); acknowledged" in logs


def test_a_worker_killed_mid_evaluation_loses_nothing_and_duplicates_nothing(
    fleet: tuple[Lab, NatsServer, list[Proc]],
) -> None:
    made, nats, workers = fleet
    before = _scans(made)
    counts = {w.name: w.text().count("evaluating audit.evidence.node-b") for w in workers}
    stored = {w.name: len(re.findall(r"node-b: scan \d+ stored", w.text())) for w in workers}
    run = run_cli("fleet", "collect", "--target", "node-b", "--nats", nats.url)
    assert run.code == 0, run.err
    # whichever worker takes node-b's bundle is frozen at once, then killed
    deadline = 120.0
    victim = None
    while victim is None:
        for w in workers:
            if w.text().count("evaluating audit.evidence.node-b") > counts[w.name]:
                victim = w
                break
        else:
            deadline -= 0.01
            assert deadline > 0, "no worker took node-b's bundle"
            asyncio.run(asyncio.sleep(0.01))
    os.killpg(victim.proc.pid, signal.SIGSTOP)
    assert _scans(made) == before, "the bundle was stored before the worker could be stopped"
    pending = asyncio.run(_ack_pending(nats.url))
    assert pending == 1  # delivered, not acknowledged
    os.killpg(victim.proc.pid, signal.SIGKILL)
    victim.proc.wait(10)
    survivor = next(w for w in workers if w is not victim)
    survivor.wait_for(r"node-b: scan \d+ stored", timeout=120, count=stored[survivor.name] + 1)
    after = _scans(made)
    assert len(after["node-b"]) == len(before.get("node-b", [])) + 1
    assert {t: d for t, d in after.items() if t != "node-b"} == {t: d for t, d in before.items() if t != "node-b"}
    assert "evaluating audit.evidence.node-b (delivery 2" in survivor.text()
    assert _ack_pending_settles(nats.url) == 0
    with SQLiteStore(made.folder / "history.sqlite") as store:
        assert store.check() == []


def _ack_pending_settles(url: str, seconds: float = 10.0) -> int:
    """Messages not yet acknowledged, once that count reaches 0 or `seconds` pass: the worker's
    ack is published without waiting for the server (nats-py's msg.ack), so it may reach the
    server just after the worker logged the scan as stored."""
    deadline = time.monotonic() + seconds
    pending = asyncio.run(_ack_pending(url))
    while pending and time.monotonic() < deadline:
        time.sleep(0.05)
        pending = asyncio.run(_ack_pending(url))
    return pending


async def _ack_pending(url: str) -> int:
    import nats

    nc = await nats.connect(url)
    info = await nc.jetstream().consumer_info(wire.STREAM, wire.CONSUMER)
    await nc.close()
    return int(info.num_ack_pending or 0) + int(info.num_pending or 0)


def test_agents_and_workers_reconnect_when_the_server_comes_back(fleet: tuple[Lab, NatsServer, list[Proc]]) -> None:
    made, nats, workers = fleet
    agent = next(p for p in made.procs if p.name == "agent-node-c")
    survivor = next(w for w in workers if w.proc.poll() is None)
    before = len(_scans(made)["node-c"])
    disconnected = agent.text().count("disconnected from")
    nats.stop()
    agent.wait_for("disconnected from", count=disconnected + 1, timeout=30)
    with restarted(nats):
        agent.wait_for("reconnected to", timeout=60)
        survivor.wait_for("reconnected to", timeout=60)
        run = run_cli("fleet", "collect", "--target", "node-c", "--nats", nats.url, "--wait", "90")
        assert run.code == 0 and run.out.startswith("node-c: READY"), run.out + run.err
        assert len(_scans(made)["node-c"]) == before + 1
        # SIGTERM stops them cleanly: exit 0, a last log line
        for p in (agent, survivor):
            assert p.stop(signal.SIGTERM, timeout=60) == 0, p.text()[-2000:]
            assert "stopped; " in p.text().splitlines()[-1]
