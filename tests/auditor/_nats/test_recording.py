"""The demo's recorded monitoring evidence: re-captured from the real server, same shape as committed."""

from __future__ import annotations

import json
from pathlib import Path

from auditor._demo import demo_inventory, demo_root
from auditor._scan import collect
from auditor.evidence.kinds import data_errors
from auditor.evidence.record import Evidence
from tests.auditor._nats.record_demo_monitoring import OUTPUT, capture


def test_capture_from_the_real_server_matches_the_committed_recording(tmp_path: Path) -> None:
    doc = capture(tmp_path, demo_root() / "cim-prod-001")
    committed = json.loads(OUTPUT.read_text())
    assert [r["kind"] for r in doc["records"]] == [r["kind"] for r in committed["records"]]
    for fresh, old in zip(doc["records"], committed["records"], strict=True):
        assert data_errors(fresh["kind"], fresh["data"]) == []
        assert data_errors(old["kind"], old["data"]) == []
        assert fresh["resource"] == old["resource"]
    varz = doc["records"][0]["data"]["response"]
    assert varz["auth_required"] and varz["tls_required"] and varz["tls_verify"]
    users = {c.get("authorized_user") for c in doc["records"][1]["data"]["response"]["connections"]}
    assert "cim-monitor" in users
    assert doc["records"][2]["data"]["response"]["leafs"], "the demo leaf connected to the hub"
    assert "m0nitor-Pa55word" not in json.dumps(doc)


def test_every_demo_record_matches_its_schema() -> None:
    target = demo_inventory().target("cim-prod-001")
    bundle = collect(target)
    records = [r for r in bundle.records if r.kind.startswith("nats.")]
    assert {r.kind for r in records} >= {"nats.config", "nats.user", "nats.jwt", "nats.nkey", "nats.varz", "nats.connz"}
    for r in records:
        assert isinstance(r, Evidence), r.error
        assert data_errors(r.kind, r.plain) == [], (r.kind, r.resource, data_errors(r.kind, r.plain))
