"""`auditor serve` for real: scheduled every second, stopped with SIGTERM and killed with
SIGKILL in the middle of a scan, publishing regression events to a real NATS server and a
real webhook on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor._history.sqlite import SQLiteStore
from tests.auditor._schedule.serving import Hook, Serve, demo_copy, hook_server, regression_event
from tests.servers import nats_server

pytestmark = pytest.mark.slow

STORED = r"scan (\d+) stored"


def consistent(db: Path) -> list[int]:
    """Open the history as a new reader would; check it; return the stored scan ids."""
    with SQLiteStore(db) as store:
        assert store.check() == []
        entries = store.entries("cim-prod-001", limit=1000)
        for e in entries:  # every stored scan reads back whole
            result = store.result(e.id)
            assert len(result.findings) == e.summary["total"]
        return sorted(e.id for e in entries)


def test_every_second_stores_scans_and_sigterm_loses_none(tmp_path: Path) -> None:
    inventory = demo_copy(tmp_path)
    db = tmp_path / "history.sqlite"
    serve = Serve("--inventory", str(inventory), "--db", str(db), "--jitter", "0s")
    try:
        serve.wait_for(STORED, count=2)
        serve.wait_for(r"scan started", count=3)  # a third scan is running now
        serve.signal(signal.SIGTERM)
        assert serve.wait() == 0, serve.log()
        stored = sorted(int(m.group(1)) for m in serve.wait_for(STORED, count=2, timeout=1))
        assert "stopped;" in serve.log()
        assert consistent(db) == stored  # what the log says was stored is there, whole
        assert len(stored) >= 2
        assert serve.workers_alive() == []
    finally:
        serve.close()


def test_sigkill_during_a_scan_leaves_the_history_consistent(tmp_path: Path) -> None:
    inventory = demo_copy(tmp_path)
    db = tmp_path / "history.sqlite"
    serve = Serve("--inventory", str(inventory), "--db", str(db), "--jitter", "0s")
    try:
        serve.wait_for(STORED, count=2)
        started = len(serve.wait_for(r"scan started", count=3))
        serve.signal(signal.SIGKILL)
        serve.wait()
        seen = sorted(int(m.group(1)) for m in serve.wait_for(STORED, count=2, timeout=1))
        ids = consistent(db)
        assert set(seen) <= set(ids) and len(ids) <= started
        deadline = time.monotonic() + 10  # the orphaned scan process notices and ends
        while serve.workers_alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert serve.workers_alive() == []
    finally:
        serve.close()
    # the history goes on: a new writer appends after what survived
    with SQLiteStore(db) as store:
        assert store.save(store.result(ids[-1]), origin="scan", exit_code=1) > ids[-1]


@pytest.fixture
def webhook() -> Iterator[str]:
    with hook_server() as port:
        yield f"http://127.0.0.1:{port}/hooks/auditor?token=query-secret-123"


def test_a_regression_reaches_nats_and_the_webhook(tmp_path: Path, webhook: str) -> None:
    inventory = demo_copy(tmp_path)
    db = tmp_path / "history.sqlite"
    secret = "whsec-" + "9" * 20
    password = "pw-" + os.urandom(8).hex()
    with nats_server(tmp_path, f'authorization {{\n  user: "auditor"\n  password: "{password}"\n}}\n') as nats:
        url = f"nats://auditor:{password}@127.0.0.1:{nats.port}"

        subject, event, log = asyncio.run(regression_event(
            inventory, db, nats_url=url, webhook=webhook, env={"AUDITOR_WEBHOOK_SECRET": secret}, timeout=60,
        ))
    assert subject == "audit.findings.cim-prod-001"
    assert password not in log and "query-secret-123" not in log and secret not in log
    assert event["type"] == "auditor.regression" and event["target"] == "cim-prod-001"
    assert event["threshold"] == "high"
    new = {(f["rule_id"], f["resource"]) for f in event["new_failures"]}
    assert ("CERT-004", "etc/nats/certs/monitor-legacy-2.pem") in new  # RSA-1024, high
    assert all(f["severity"] in ("critical", "high") for f in event["new_failures"])
    assert all(set(f) == {"id", "rule_id", "title", "area", "severity", "resource", "message", "always_blocks"}
               for f in event["new_failures"])
    assert event["previous_scan_id"] < event["scan_id"]
    # the same event was posted to the webhook, signed, and carries no secret
    assert Hook.received, "the webhook got nothing"
    headers, body = Hook.received[0]
    posted = json.loads(body)
    assert posted["new_failures"] == event["new_failures"]
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-auditor-signature"] == expected
    for value in (secret, password, "query-secret-123"):
        assert value.encode() not in body
