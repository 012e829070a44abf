from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor._inventory import find_inventory
from auditor._loader.schema import schema_errors
from auditor._scan import collect
from auditor.errors import EvidenceError
from auditor.evidence.bundle import Bundle, parse_bundle, read_bundle


@pytest.fixture(scope="module")
def demo_bundle() -> Bundle:
    return collect(find_inventory(None, cwd=Path("/")).target("cim-prod-001"))


def test_bundle_is_schema_valid_and_round_trips(demo_bundle: Bundle, tmp_path: Path) -> None:
    raw = demo_bundle.to_dict()
    assert schema_errors(raw, "bundle") == []
    assert raw["kinds"] == {r["kind"]: f"urn:auditor:schemas:evidence/{r['kind']}" for r in raw["records"]}
    assert {"x509.certificate", "tls.endpoint", "gpg.key", "vault.server", "nats.config", "nats.varz"} <= set(raw["kinds"])
    path = tmp_path / "b.json"
    demo_bundle.write(path)
    again = read_bundle(path)
    assert again.digest == demo_bundle.digest == raw["digest"]["value"]
    assert again.records == demo_bundle.records


def test_any_edit_is_detected(demo_bundle: Bundle) -> None:
    raw = demo_bundle.to_dict()
    raw["records"][0]["resource"] = "elsewhere.pem"
    with pytest.raises(EvidenceError, match="digest mismatch"):
        parse_bundle(raw, file="b.json")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_one_byte_edits_never_pass_silently(demo_bundle: Bundle, data: st.DataObject) -> None:
    text = demo_bundle.to_json()
    pos = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
    ch = data.draw(st.characters(codec="ascii").filter(lambda c: c != text[pos]))
    edited = text[:pos] + ch + text[pos + 1 :]
    try:
        raw = json.loads(edited)
    except json.JSONDecodeError:
        return
    try:
        bundle = parse_bundle(raw, file="b.json")
    except EvidenceError:
        return
    # whitespace outside strings does not change the content: then the bundle is the same
    assert bundle.digest == demo_bundle.digest


def test_bad_files(tmp_path: Path) -> None:
    for content, message in [
        (b"{", "invalid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[]", "not an auditor evidence bundle"),
        (json.dumps({"format": "auditor-evidence-bundle"}).encode(), "required"),
    ]:
        path = tmp_path / "b.json"
        path.write_bytes(content)
        with pytest.raises(EvidenceError, match=message):
            read_bundle(path)
    with pytest.raises(EvidenceError, match="not found"):
        read_bundle(tmp_path / "missing.json")


def test_record_data_must_match_its_kind(demo_bundle: Bundle) -> None:
    from auditor._models import canonical_json, sha256_hex

    raw = demo_bundle.to_dict()
    raw["records"][0]["data"]["key"]["size"] = "big"
    rec = raw["records"][0]
    from auditor.evidence.record import record_id

    rec["id"] = record_id(rec["kind"], rec["source"], rec["resource"], rec["data"], None)
    body = {k: v for k, v in raw.items() if k != "digest"}
    raw["digest"]["value"] = sha256_hex(canonical_json(body))
    with pytest.raises(EvidenceError) as info:
        parse_bundle(raw, file="b.json")
    assert info.value.field == "records[0].data.key.size"
