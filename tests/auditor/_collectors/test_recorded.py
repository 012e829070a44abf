from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from auditor._collectors import run_collector
from auditor._collectors.interface import CollectContext
from auditor._collectors.recorded import shift_times
from auditor._inventory.model import SourceSpec, Target
from auditor.evidence.record import Evidence, Failure, Record
from tests.certs import CertFactory
from tests.collecting import failure_of

NOW = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)


def collect(root: Path, name: str, **options: Any) -> list[Record]:
    source = SourceSpec("recorded", "rec", True, {"paths": [name], **options})
    target = Target(name="t", environment="e", policies=("p",), sources=(source,), root=root)
    return list(run_collector(CollectContext(target, source, NOW)))


def recorded_cert(certs: CertFactory) -> dict[str, Any]:
    from pki.facts import certificate_facts

    root, _ = certs.chain()
    facts = certificate_facts(root.cert)
    return {"path": "x.pem", "index": 0, "encoding": "pem", **facts.to_dict(),
            "chain": {"status": "no-anchors", "error": "none", "path": [], "anchor": None},
            "lint": {"linter": "pkilint 0.13.3", "errors": [], "warnings": [], "notices": []}}


def test_replays_and_shifts_times(tmp_path: Path, certs: CertFactory) -> None:
    data = recorded_cert(certs)
    doc = {"format": "auditor-recorded-evidence", "recorded_at": "2026-11-13T12:00:00Z",
           "recorded_from": "a test", "records": [{"kind": "x509.certificate", "resource": "r", "data": data}]}
    (tmp_path / "rec.json").write_text(json.dumps(doc))
    (plain,) = collect(tmp_path, "rec.json")
    assert isinstance(plain, Evidence) and plain.plain == {**data, "chain": {**data["chain"], "is_anchor": False},
                                                          "san": {**data["san"], "uri_credentials": 0}} and "recorded 2026-11-13T12:00:00Z from a test" in plain.source
    (shifted,) = collect(tmp_path, "rec.json", shift_times=True)
    assert isinstance(shifted, Evidence)
    before = dt.datetime.fromisoformat(data["not_after"].replace("Z", "+00:00"))
    after = dt.datetime.fromisoformat(shifted.plain["not_after"].replace("Z", "+00:00"))
    assert after - before == dt.timedelta(days=10)


def test_bad_files_are_error_records(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{")
    (tmp_path / "wrong.json").write_text(json.dumps({"format": "other"}))
    (tmp_path / "kind.json").write_text(json.dumps({"format": "auditor-recorded-evidence", "recorded_at": "2026-11-13T12:00:00Z", "recorded_from": "a test", "records": [{"kind": "no.such-kind", "resource": "r", "data": {}}]}))
    for name, fragment in [("bad.json", "unreadable"), ("wrong.json", "format"), ("kind.json", "unknown evidence kind"), ("missing.json", "no such file")]:
        (rec,) = collect(tmp_path, name)
        assert isinstance(rec, Failure) and fragment in (failure_of(rec).error or ""), (name, failure_of(rec).error)


@given(st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2090, 1, 1), timezones=st.just(dt.UTC)),
       st.integers(min_value=-10**8, max_value=10**8))
def test_shift_is_exact_and_leaves_other_values(moment: dt.datetime, seconds: int) -> None:
    stamp = moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")
    value = {"t": stamp, "n": 3, "s": "not a time", "l": [stamp]}
    out = shift_times(value, dt.timedelta(seconds=seconds))
    expected = (moment.replace(microsecond=0) + dt.timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")
    assert out == {"t": expected, "n": 3, "s": "not a time", "l": [expected]}


_VALID: dict[str, Any] = {
    "format": "auditor-recorded-evidence", "recorded_at": "2026-11-23T19:00:00Z", "recorded_from": "a real server",
    "records": [{"kind": "nats.monitoring", "resource": "r", "data": {}}],
}
_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=4),
                     lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=4), inner, max_size=2),
                     max_leaves=4)
_fields = st.sampled_from(["format", "recorded_at", "recorded_from", "records", "extra"])
_values = st.one_of(_json, st.sampled_from([
    "auditor-recorded-evidence", "2026-11-23T19:00:00.5+01:00", "2026-02-30T00:00:00Z", "2026-11-23T19:00:60Z",
    "2026-11-23t19:00:00z", "ab", "abc", [{"kind": "Nats.x", "resource": "r", "data": {}}],
    [{"kind": "nats.x\n", "resource": "r", "data": {}}], [{"kind": "nats.x", "resource": 1, "data": {}}],
    [{"kind": "nats.x", "resource": "r", "data": []}], [{"kind": "nats.x", "resource": "r", "data": {}, "x": 1}],
]))


@given(st.dictionaries(_fields, _values, max_size=3), st.sets(_fields, max_size=2))
def test_the_plain_check_accepts_only_what_the_schema_accepts(changes: dict[str, Any], dropped: set[str]) -> None:
    from auditor._collectors.recorded import _plainly_valid
    from auditor._loader.schema import schema_errors

    raw = {k: v for k, v in {**_VALID, **changes}.items() if k not in dropped}
    if _plainly_valid(raw):
        assert schema_errors(raw, "recorded") == []


def test_the_demo_recordings_need_no_schema_walk() -> None:
    from auditor._collectors.recorded import _plainly_valid

    assert _plainly_valid(_VALID)
    demo = Path(__file__).parents[3] / "auditor/_demo/node/cim-prod-001"
    files = [json.loads(f.read_text()) for f in sorted(demo.rglob("recorded/*.json"))]
    recorded = [f for f in files if f.get("format") == "auditor-recorded-evidence"]
    assert len(recorded) >= 3
    assert all(_plainly_valid(f) for f in recorded)
