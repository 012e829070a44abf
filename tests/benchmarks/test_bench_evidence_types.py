"""How to define evidence types: msgspec Struct, pydantic model or frozen dataclass.

Run: .venv/bin/python -m pytest tests/benchmarks/test_bench_evidence_types.py -m benchmark -s

The same certificate record (the shape of `x509.certificate`: 30 fields, five nested
objects, lists) is defined three ways. For 200 records from real certificates it measures
construction from typed values (and, for msgspec, from a plain dict through msgspec.convert,
as the `ctx.adapt` seam did), conversion to plain JSON-like values (what CEL is given),
canonical JSON (what ids and digests hash), and decoding JSON with validation (what reading
a bundle back does: the dataclass variant validates with jsonschema, as main did before the
typed contract). Figures are printed, nothing is asserted about time.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from collections.abc import Callable
from typing import Any, Literal

import msgspec
import pydantic
import pytest

from pki.facts import certificate_facts
from tests.certs import CertFactory

pytestmark = pytest.mark.benchmark

N = 200
ROUNDS = 15


# ---------------------------------------------------------------- msgspec
class MKey(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    type: Literal["rsa", "ec", "ed25519", "ed448", "dsa", "unknown"]
    size: int
    curve: str | None
    spki_sha256: str


class MSignature(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    algorithm: str
    oid: str
    hash: str | None


class MSan(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    dns: tuple[str, ...]
    ip: tuple[str, ...]
    email: tuple[str, ...]
    uri: tuple[str, ...]


class MExtension(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    oid: str
    name: str
    critical: bool


class MChain(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    status: Literal["valid", "invalid", "no-anchors"]
    error: str | None
    path: tuple[str, ...]
    anchor: str | None
    is_anchor: bool


class MCert(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    path: str
    index: int
    encoding: Literal["pem", "der"]
    subject: str
    subject_cn: str | None
    issuer: str
    serial: str
    serial_bits: int
    version: int
    not_before: str
    not_after: str
    lifetime_days: float
    fingerprint_sha256: str
    self_issued: bool
    self_signed: bool
    key: MKey
    signature: MSignature
    is_ca: bool
    path_length: int | None
    basic_constraints_critical: bool | None
    key_usage: tuple[str, ...]
    extended_key_usage: tuple[str, ...]
    san: MSan
    name_constraints: None
    subject_key_id: str | None
    authority_key_id: str | None
    extensions: tuple[MExtension, ...]
    chain: MChain


# ---------------------------------------------------------------- pydantic
_PCONF = pydantic.ConfigDict(frozen=True, extra="forbid")


class PKey(pydantic.BaseModel):
    model_config = _PCONF
    type: Literal["rsa", "ec", "ed25519", "ed448", "dsa", "unknown"]
    size: int
    curve: str | None
    spki_sha256: str


class PSignature(pydantic.BaseModel):
    model_config = _PCONF
    algorithm: str
    oid: str
    hash: str | None


class PSan(pydantic.BaseModel):
    model_config = _PCONF
    dns: tuple[str, ...]
    ip: tuple[str, ...]
    email: tuple[str, ...]
    uri: tuple[str, ...]


class PExtension(pydantic.BaseModel):
    model_config = _PCONF
    oid: str
    name: str
    critical: bool


class PChain(pydantic.BaseModel):
    model_config = _PCONF
    status: Literal["valid", "invalid", "no-anchors"]
    error: str | None
    path: tuple[str, ...]
    anchor: str | None
    is_anchor: bool


class PCert(pydantic.BaseModel):
    model_config = _PCONF
    path: str
    index: int
    encoding: Literal["pem", "der"]
    subject: str
    subject_cn: str | None
    issuer: str
    serial: str
    serial_bits: int
    version: int
    not_before: str
    not_after: str
    lifetime_days: float
    fingerprint_sha256: str
    self_issued: bool
    self_signed: bool
    key: PKey
    signature: PSignature
    is_ca: bool
    path_length: int | None
    basic_constraints_critical: bool | None
    key_usage: tuple[str, ...]
    extended_key_usage: tuple[str, ...]
    san: PSan
    name_constraints: None
    subject_key_id: str | None
    authority_key_id: str | None
    extensions: tuple[PExtension, ...]
    chain: PChain


# ---------------------------------------------------------------- frozen dataclasses
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class DKey:
    type: str
    size: int
    curve: str | None
    spki_sha256: str


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class DSignature:
    algorithm: str
    oid: str
    hash: str | None


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class DSan:
    dns: tuple[str, ...]
    ip: tuple[str, ...]
    email: tuple[str, ...]
    uri: tuple[str, ...]


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class DExtension:
    oid: str
    name: str
    critical: bool


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class DChain:
    status: str
    error: str | None
    path: tuple[str, ...]
    anchor: str | None
    is_anchor: bool


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class DCert:
    path: str
    index: int
    encoding: str
    subject: str
    subject_cn: str | None
    issuer: str
    serial: str
    serial_bits: int
    version: int
    not_before: str
    not_after: str
    lifetime_days: float
    fingerprint_sha256: str
    self_issued: bool
    self_signed: bool
    key: DKey
    signature: DSignature
    is_ca: bool
    path_length: int | None
    basic_constraints_critical: bool | None
    key_usage: tuple[str, ...]
    extended_key_usage: tuple[str, ...]
    san: DSan
    name_constraints: None
    subject_key_id: str | None
    authority_key_id: str | None
    extensions: tuple[DExtension, ...]
    chain: DChain


def _dataclass_builtins(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _dataclass_builtins(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_dataclass_builtins(v) for v in value]
    return value


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _plain_facts(n: int) -> list[dict[str, Any]]:
    factory = CertFactory()
    _root, inter = factory.chain()
    out = []
    for i in range(n):
        leaf = factory.issue(f"node-{i}.example.com", issuer=inter, key="ec256", dns=(f"node-{i}.example.com",))
        facts = certificate_facts(leaf.cert).to_dict()
        out.append({"path": f"certs/{i}.pem", "index": 0, "encoding": "pem", **facts,
                    "chain": {"status": "valid", "error": None, "path": ["CN=a", "CN=b"], "anchor": "CN=a",
                              "is_anchor": False}})
    return out


def _build(cls: Any, key: Any, sig: Any, san: Any, ext: Any, chain: Any, d: dict[str, Any]) -> Any:
    return cls(
        path=d["path"], index=d["index"], encoding=d["encoding"], subject=d["subject"],
        subject_cn=d["subject_cn"], issuer=d["issuer"], serial=d["serial"], serial_bits=d["serial_bits"],
        version=d["version"], not_before=d["not_before"], not_after=d["not_after"],
        lifetime_days=d["lifetime_days"], fingerprint_sha256=d["fingerprint_sha256"],
        self_issued=d["self_issued"], self_signed=d["self_signed"],
        key=key(**d["key"]), signature=sig(**d["signature"]),
        is_ca=d["is_ca"], path_length=d["path_length"],
        basic_constraints_critical=d["basic_constraints_critical"],
        key_usage=tuple(d["key_usage"]), extended_key_usage=tuple(d["extended_key_usage"]),
        san=san(**{k: tuple(v) for k, v in d["san"].items()}), name_constraints=None,
        subject_key_id=d["subject_key_id"], authority_key_id=d["authority_key_id"],
        extensions=tuple(ext(**e) for e in d["extensions"]),
        chain=chain(**{**d["chain"], "path": tuple(d["chain"]["path"])}),
    )


def _plain(**fields: Any) -> dict[str, Any]:
    return fields


def _best(action: Callable[[], object]) -> float:
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def test_evidence_type_choice() -> None:
    facts = _plain_facts(N)
    encoded = [_canonical(f) for f in facts]
    import jsonschema

    jsonschema_validator = jsonschema.Draft202012Validator(msgspec.json.schema(MCert))

    variants: dict[str, dict[str, Callable[[], object]]] = {}
    m = [_build(MCert, MKey, MSignature, MSan, MExtension, MChain, d) for d in facts]
    variants["msgspec Struct"] = {
        "construct": lambda: [_build(MCert, MKey, MSignature, MSan, MExtension, MChain, d) for d in facts],
        "to builtins": lambda: [msgspec.to_builtins(x) for x in m],
        "canonical JSON": lambda: [_canonical(msgspec.to_builtins(x)) for x in m],
        "decode+validate": lambda: [msgspec.json.decode(b, type=MCert) for b in encoded],
    }
    p = [_build(PCert, PKey, PSignature, PSan, PExtension, PChain, d) for d in facts]
    variants["pydantic model"] = {
        "construct": lambda: [_build(PCert, PKey, PSignature, PSan, PExtension, PChain, d) for d in facts],
        "to builtins": lambda: [x.model_dump(mode="json") for x in p],
        "canonical JSON": lambda: [_canonical(x.model_dump(mode="json")) for x in p],
        "decode+validate": lambda: [PCert.model_validate_json(b) for b in encoded],
    }
    dc = [_build(DCert, DKey, DSignature, DSan, DExtension, DChain, d) for d in facts]
    variants["frozen dataclass"] = {
        "construct": lambda: [_build(DCert, DKey, DSignature, DSan, DExtension, DChain, d) for d in facts],
        "to builtins": lambda: [_dataclass_builtins(x) for x in dc],
        "canonical JSON": lambda: [_canonical(_dataclass_builtins(x)) for x in dc],
        "decode+validate": lambda: [jsonschema_validator.is_valid(json.loads(b)) for b in encoded],
    }
    steps = ["construct", "to builtins", "canonical JSON", "decode+validate"]
    results = {name: {s: _best(fn[s]) for s in steps} for name, fn in variants.items()}
    print(f"\n{N} x509.certificate records, best of {ROUNDS} (ms):")
    print(f"  {'':18}" + "".join(f"{s:>17}" for s in steps))
    base = results["msgspec Struct"]
    for name, row in results.items():
        cells = "".join(f"{row[s]:>9.2f} (x{row[s] / base[s]:4.1f})" for s in steps)
        print(f"  {name:18}{cells}")
    print(f"  median of the three per step: {[round(statistics.median(r[s] for r in results.values()), 2) for s in steps]}")
    # how collectors make records: built directly from typed values (now), or plain dicts
    # decoded into the type at one seam (msgspec.convert, what the former CollectContext.adapt did)
    # (the same mapping from the same values, into dicts then converted, or into the Structs)
    direct = base["construct"]
    adapted = _best(lambda: [msgspec.convert(_build(_plain, _plain, _plain, _plain, _plain, _plain, d), MCert)
                             for d in facts])
    print(f"  msgspec Struct made as a plain dict then converted (the former ctx.adapt seam): {adapted:.2f} ms, "
          f"x{adapted / direct:.2f} of building it directly ({direct:.2f} ms)")
    assert all(v > 0 for row in results.values() for v in row.values())
