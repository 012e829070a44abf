"""`auditor waivers`: the demo's two waivers, one lapsed, one lapsing at the end of 2027."""

from __future__ import annotations

import json

from tests.conftest import run_cli


def test_waivers_of_the_demo_inventory() -> None:
    run = run_cli("waivers", "--demo", "--at", "2027-12-20", "--format", "json")
    assert run.code == 0, run.err
    doc = json.loads(run.out)
    states = {(w["rule"], w["state"], w["days_left"]) for w in doc["waivers"]}
    assert states == {("CERT-007", "expired", -538), ("CERT-006", "expiring", 11)}
    assert all(w["targets"] == ["cim-prod-001"] for w in doc["waivers"])
    assert doc["waivers"][0]["rule"] == "CERT-007"  # soonest to lapse first

    early = json.loads(run_cli("waivers", "--demo", "--at", "2026-01-01", "--format", "json").out)
    assert {(w["rule"], w["state"]) for w in early["waivers"]} == {("CERT-007", "active"), ("CERT-006", "active")}

    text = run_cli("waivers", "--demo", "--at", "2027-12-20", "--expiring", "14d")
    assert text.code == 0
    assert "EXPIRED 538 day(s) ago" in text.out and "expires in 11 day(s)" in text.out
    assert "Security Lead (R. Okafor)" in text.out and "CHG-2291" in text.out

    narrow = json.loads(run_cli("waivers", "--demo", "--at", "2027-12-01", "--expiring", "7d", "--format", "json").out)
    assert [w["rule"] for w in narrow["waivers"]] == ["CERT-007"]  # CERT-006 is 30 days out


def test_waivers_bad_input() -> None:
    bad = run_cli("waivers", "--demo", "--expiring", "a fortnight")
    assert bad.code == 2 and "--expiring" in bad.err and "Traceback" not in bad.err
    unknown = run_cli("waivers", "--demo", "--target", "nope")
    assert unknown.code == 2 and "unknown target 'nope'" in unknown.err
