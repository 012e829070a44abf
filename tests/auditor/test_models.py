"""canonical_plain_json writes exactly what canonical_json writes (digests and signatures depend on it)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor._models import (
    Finding,
    Severity,
    Status,
    canonical_json,
    canonical_object,
    canonical_plain_json,
    finding_id,
    make_finding,
    sha256_hex,
)

_scalars = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.text() | st.floats(
    allow_nan=True, allow_infinity=True
) | st.sampled_from([1e16, 1e-5, 1.5e-5, 9.99e-5, 1e-4, 1e15, 123456789012345678.0, 5e-324, -0.0])
_plain = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                      max_leaves=30)


@settings(max_examples=400)
@given(_plain)
def test_plain_json_is_canonical_json(value: Any) -> None:
    assert canonical_plain_json(value) == canonical_json(value)


@given(st.dictionaries(st.text(), _plain, max_size=5))
def test_an_object_from_its_encoded_members(members: dict[str, Any]) -> None:
    assert canonical_object({k: canonical_plain_json(v) for k, v in members.items()}) == canonical_json(members)


def test_numbers_msgspec_writes_otherwise_are_written_by_json() -> None:
    for value in ([1e16], {"a": 1e-5}, {"a": [float("nan"), float("inf")]}, {"x": {"y": -2.5e-7}}, {"big": 2**80}):
        assert canonical_plain_json(value) == json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert canonical_plain_json({"a": 1e-5}) == b'{"a":1e-05}'


@given(st.text(), st.lists(st.text(), max_size=4))
def test_finding_ids_are_the_digest_of_canonical_json(rule_id: str, identity: list[str]) -> None:
    """Finding ids are written with msgspec: the same ids as hashing canonical_json."""
    assert finding_id(rule_id, identity) == f"{rule_id}:{sha256_hex(canonical_json([rule_id, *identity]))[:16]}"


def test_of_fields_and_replaced_make_what_init_makes() -> None:
    fields = {f.name: f.default for f in dataclasses.fields(Finding) if f.default is not dataclasses.MISSING}
    fields |= {"rule_id": "R-1", "title": "t", "area": "a", "severity": Severity.HIGH, "status": Status.FAIL,
               "resource": "r", "message": "m", "references": {"nist": ("SC-1",)}, "id": finding_id("R-1", ("r",)),
               "correlation": "c", "always_blocks": True, "evidence": ("ev-1",)}
    assert set(fields) == {f.name for f in dataclasses.fields(Finding)}
    made = Finding.of_fields(dict(fields))
    assert made == Finding(**fields) and made.sort_key() == Finding(**fields).sort_key()
    assert make_finding(*[fields[f.name] for f in dataclasses.fields(Finding)]) == made
    changed = made.replaced({"owner": "ops", "due": "2026-12-01"})
    assert changed == dataclasses.replace(made, owner="ops", due="2026-12-01") and made.owner == ""
    assert made.owned("ops", "2026-12-01") == changed and changed.owned("", "") == made


@settings(max_examples=200)
@given(st.text(min_size=1), st.lists(st.text(), max_size=4))
def test_finding_ids_are_the_hash_of_the_canonical_json(rule_id: str, identity: list[str]) -> None:
    expected = f"{rule_id}:{sha256_hex(canonical_json([rule_id, *identity]))[:16]}"
    assert finding_id(rule_id, identity) == expected
    assert finding_id(rule_id, tuple(identity)) == expected  # the second time, from the memo
