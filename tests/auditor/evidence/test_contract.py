"""One typed definition per evidence kind; schemas, docs and secret handling derive from it."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import jsonschema
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor._collectors import COLLECTORS
from auditor._inventory.load import find_inventory
from auditor._loader.schema import load_schema
from auditor._scan import collect
from auditor.evidence.bundle import Bundle, parse_bundle
from auditor.evidence.contract import Facts, Part, Redacted, SecretPart
from auditor.evidence.kinds import KINDS, data_errors
from auditor.evidence.kinds.x509 import X509Certificate
from auditor.evidence.record import Evidence, Failure
from auditor.evidence.secret import conceal, verified

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def demo() -> Bundle:
    return collect(find_inventory(None, cwd=Path("/")).target("cim-prod-001"))


def test_generated_schemas_and_reference_are_up_to_date() -> None:
    run = subprocess.run([sys.executable, "-m", "tests.gen_evidence", "--check"], cwd=ROOT,
                         capture_output=True, text=True, check=False, timeout=120)
    assert run.returncode == 0, run.stderr


def test_every_collector_kind_has_one_type_and_every_type_a_collector() -> None:
    declared = {kind for name in COLLECTORS for kind in COLLECTORS.load(name).kinds} - {"recorded.evidence"}
    assert declared == set(KINDS)
    assert all(cls.KIND == kind and issubclass(cls, Facts) for kind, cls in KINDS.items())


def test_published_schema_agrees_with_the_type(demo: Bundle) -> None:
    """An independent validator (jsonschema) accepts what the types accept, and refuses a wrong type."""
    evidence = [r for r in demo.records if isinstance(r, Evidence)]
    assert {r.kind for r in evidence} == set(KINDS)
    for record in evidence:
        schema = load_schema(f"evidence/{record.kind}")
        jsonschema.validate(record.plain, schema, cls=jsonschema.Draft202012Validator)
        broken = {**record.plain, next(iter(record.plain)): {"not": "this"}}
        assert data_errors(record.kind, broken) != []
        assert not jsonschema.Draft202012Validator(schema).is_valid(broken)
        assert data_errors(record.kind, {**record.plain, "no_such_field": 1}) != []
        assert not jsonschema.Draft202012Validator(schema).is_valid({**record.plain, "no_such_field": 1})


def test_records_are_typed_immutable_and_plain_for_rules(demo: Bundle) -> None:
    record = next(r for r in demo.records if isinstance(r, Evidence) and r.kind == "x509.certificate")
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.resource = "x"  # type: ignore[misc]
    data = record.data
    assert isinstance(data, X509Certificate)
    with pytest.raises(AttributeError):
        data.subject = "x"  # type: ignore[misc]
    assert record.plain is record.plain  # converted once
    assert isinstance(record.plain["chain"]["path"], list) and isinstance(record.plain["extensions"], list)
    assert msgspec.convert(record.plain, KINDS[record.kind]) == record.data
    with pytest.raises(TypeError, match="not the type of an evidence kind"):
        Evidence(source="s", resource="r", collected_at="2026-01-01T00:00:00Z", data=data.chain)  # type: ignore[arg-type]


def test_equal_content_equal_ids_and_digest(demo: Bundle, tmp_path: Path) -> None:
    again = Bundle.create(demo.target, demo.created_at, [dataclasses.replace(r, id="") for r in demo.records])
    assert [r.id for r in again.records] == [r.id for r in demo.records]
    assert again.digest == demo.digest
    path = tmp_path / "b.json"
    demo.write(path)
    read = parse_bundle(msgspec.json.decode(path.read_bytes()), file=str(path))
    assert read.digest == demo.digest and read.records == demo.records
    assert all(type(a) is type(b) for a, b in zip(read.records, demo.records, strict=True))


def test_a_failure_is_not_evidence() -> None:
    failure = Failure(kind="x509.certificate", source="s", resource="r", collected_at="2026-01-01T00:00:00Z",
                      error="permission denied")
    assert not hasattr(failure, "data") and failure.id.startswith("ev-")
    assert Failure.from_dict(failure.to_dict()) == failure


def _secret_fields(cls: type[Part]) -> set[str]:
    hints = typing.get_type_hints(cls, include_extras=False)
    return {name for name, t in hints.items()
            if t is Redacted or (typing.get_origin(t) is not None and Redacted in typing.get_args(t))}


def _parts() -> set[type[Part]]:
    seen: set[type[Part]] = set()
    stack: list[type[Part]] = list(KINDS.values())
    while stack:
        cls = stack.pop()
        if cls in seen:
            continue
        seen.add(cls)
        for t in typing.get_type_hints(cls, include_extras=False).values():
            for arg in (t, *typing.get_args(t), *(a for x in typing.get_args(t) for a in typing.get_args(x))):
                if isinstance(arg, type) and issubclass(arg, Part):
                    stack.append(arg)
    return seen


def test_every_secret_field_is_typed_redacted_and_checked() -> None:
    parts = _parts()
    with_secrets = {cls: _secret_fields(cls) for cls in parts if _secret_fields(cls)}
    assert len(with_secrets) >= 6  # vault token, nats seeds and passwords, leaks, k8s values
    for cls, names in with_secrets.items():
        assert issubclass(cls, SecretPart), cls
        assert set(cls.SECRETS) == names, cls
    for cls in parts - set(with_secrets):
        assert not (issubclass(cls, SecretPart) and cls.SECRETS), cls


def test_redacted_values_are_made_only_through_auditor_redact() -> None:
    makers = []
    for path in sorted((ROOT / "auditor").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if re.search(r"\bRedacted\(", text) and path.name != "secret.py":
            makers.append(str(path.relative_to(ROOT)))
    assert makers == []
    value = conceal("SUAIBDPBAUTWCWBKIO6XHQNINK5FWJW4OHLXC3HQ2KFE4PEJUA44CNHTC4")
    assert "SUAIBDPB" not in value and verified(value) == value
    with pytest.raises(ValueError, match="not redacted"):
        verified("hunter2-hunter2")


def test_a_bundle_with_a_raw_secret_in_a_secret_field_is_refused(demo: Bundle) -> None:
    from auditor._models import canonical_json, sha256_hex
    from auditor.errors import EvidenceError
    from auditor.evidence.record import record_id

    raw: dict[str, Any] = demo.to_dict()
    index, rec = next((i, r) for i, r in enumerate(raw["records"]) if r["kind"] == "nats.nkey")
    rec["data"]["redacted"] = "SUAIBDPBAUTWCWBKIO6XHQNINK5FWJW4OHLXC3HQ2KFE4PEJUA44CNHTC4"
    rec["id"] = record_id(rec["kind"], rec["source"], rec["resource"], rec["data"], None)
    raw["digest"]["value"] = sha256_hex(canonical_json({k: v for k, v in raw.items() if k != "digest"}))
    with pytest.raises(EvidenceError, match="not redacted") as info:
        parse_bundle(raw, file="b.json")
    assert info.value.field == f"records[{index}].data" and "SUAIB" not in info.value.diagnostics()


def test_rules_fields_and_schema_commands() -> None:
    run = subprocess.run([sys.executable, "-m", "auditor", "rules", "fields", "x509.certificate"],
                         capture_output=True, text=True, check=True, timeout=120)
    assert re.search(r"^chain\.status\s+one of ", run.stdout, re.M) and "san.dns" in run.stdout
    run = subprocess.run([sys.executable, "-m", "auditor", "schema", "evidence/secrets.scan"],
                         capture_output=True, text=True, check=True, timeout=120)
    assert '"$id": "urn:auditor:schemas:evidence/secrets.scan"' in run.stdout


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(), st.text())
def test_a_record_is_hashed_as_the_canonical_json_of_its_document(demo: Bundle, resource: str, source: str) -> None:
    """Evidence.canonical (what a bundle's digest covers, one record after another) is the
    canonical JSON of the record's document, whatever its texts hold (escapes, non-ASCII)."""
    from auditor._models import canonical_json

    for record in demo.records[:6]:
        changed = dataclasses.replace(record, resource=resource, source=source, id="") \
            if isinstance(record, Evidence) else record
        assert changed.canonical() == canonical_json(changed.to_dict())
