from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor._inventory import find_inventory
from auditor._loader.schema import schema_errors
from auditor._models import canonical_json, sha256_hex
from auditor._scan import collect
from auditor.errors import EvidenceError
from auditor.evidence.bundle import Bundle, parse_bundle, read_bundle
from auditor.evidence.record import record_id


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


def _recomputed(bundle: Bundle) -> str:
    """The digest of `bundle`'s content, made anew from its typed records (Bundle.digest)."""
    return Bundle(target=bundle.target, created_at=bundle.created_at, records=bundle.records, tool=bundle.tool).digest


def test_a_read_bundle_keeps_the_digest_it_checked(demo_bundle: Bundle) -> None:
    """Reading checks the digest over the file's content; the bundle read keeps it (its
    evaluation names it) when its typed content hashes alike, and makes it anew otherwise: a
    record written with members Bundle.to_dict leaves out (`"error": null` beside data, a
    failure without `required`), or a kind's schema id other than auditor's."""
    raw = demo_bundle.to_dict()
    read = parse_bundle(raw, file="b.json")
    assert read.__dict__.get("digest") == raw["digest"]["value"] == _recomputed(read)

    def resealed(change: Callable[[dict[str, Any]], None]) -> Bundle:
        edited = json.loads(json.dumps(raw))
        change(edited)
        for rec in edited["records"]:
            rec["id"] = record_id(rec["kind"], rec["source"], rec["resource"], rec.get("data"), rec.get("error"))
        edited["digest"]["value"] = sha256_hex(canonical_json({k: v for k, v in edited.items() if k != "digest"}))
        return parse_bundle(edited, file="b.json")

    def null_error(edited: dict[str, Any]) -> None:
        edited["records"][0]["error"] = None

    def other_schema(edited: dict[str, Any]) -> None:
        kind = next(iter(edited["kinds"]))
        edited["kinds"][kind] = "urn:example:elsewhere"

    def no_required(edited: dict[str, Any]) -> None:
        edited["records"].append({**{k: edited["records"][0][k] for k in ("kind", "source", "collected_at")},
                                  "resource": "gone.pem", "error": "unreadable"})

    for change in (null_error, other_schema, no_required):
        again = resealed(change)
        assert "digest" not in again.__dict__, change.__name__
        assert again.digest == _recomputed(again)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(), st.text(), st.text(), st.booleans())
def test_a_digest_json_wrote_is_the_digest_read(demo_bundle: Bundle, resource: str, error: str, source: str,
                                                required: bool) -> None:
    """Whatever text a record's members hold, the digest reading checks is the SHA-256 of what
    json writes of the bundle (sorted keys, no spaces): the one any other tool would compute."""
    raw = json.loads(json.dumps(demo_bundle.to_dict()))
    first = raw["records"][0]
    first["resource"] = resource
    raw["records"].append({"kind": first["kind"], "source": source, "resource": resource,
                           "collected_at": first["collected_at"], "error": error, "required": required})
    for rec in raw["records"][:1] + raw["records"][-1:]:
        rec["id"] = record_id(rec["kind"], rec["source"], rec["resource"], rec.get("data"), rec.get("error"))
    body = {k: v for k, v in raw.items() if k != "digest"}
    raw["digest"]["value"] = sha256_hex(json.dumps(body, sort_keys=True, separators=(",", ":"),
                                                   ensure_ascii=False).encode())
    read = parse_bundle(raw, file="b.json")
    assert read.digest == raw["digest"]["value"] == _recomputed(read)
    assert read.records[-1].resource == resource


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
