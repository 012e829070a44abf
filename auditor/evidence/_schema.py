"""What is derived from the evidence types: the published JSON Schema of each kind and the
table of fields rules may read (`auditor schema evidence/KIND`, `auditor rules fields KIND`,
docs/evidence-reference.md). Nothing here is written by hand."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
import msgspec.inspect as mi

from auditor.evidence.contract import TIMESTAMP_PATTERN, Facts
from auditor.evidence.kinds import KINDS, schema_id


def unwrap(t: mi.Type) -> mi.Type:
    """The type without its metadata (descriptions, constraints stay on the inner type)."""
    while isinstance(t, mi.Metadata):
        t = t.type
    return t


def description(t: mi.Type) -> str:
    while isinstance(t, mi.Metadata):
        text = (t.extra_json_schema or {}).get("description")
        if text:
            return str(text)
        t = t.type
    return ""


def optional_parts(t: mi.Type) -> tuple[list[mi.Type], bool]:
    """The alternatives of a type other than null, and whether null is one."""
    t = unwrap(t)
    if isinstance(t, mi.UnionType):
        alts = [unwrap(a) for a in t.types]
        return [a for a in alts if not isinstance(a, mi.NoneType)], any(isinstance(a, mi.NoneType) for a in alts)
    return [t], False


def type_name(t: mi.Type) -> str:
    """A short name for documentation: `string`, `list of string`, `map of integer`, `object`, ..."""
    alts, nullable = optional_parts(t)
    names = [_one_name(a) for a in alts]
    text = " or ".join(dict.fromkeys(names)) or "null"
    return f"{text} or null" if nullable else text


def _one_name(t: mi.Type) -> str:
    t = unwrap(t)
    if isinstance(t, mi.StrType):
        return "timestamp (RFC 3339)" if t.pattern == TIMESTAMP_PATTERN else "string"
    if isinstance(t, mi.BoolType):
        return "boolean"
    if isinstance(t, mi.IntType):
        return "integer"
    if isinstance(t, mi.FloatType):
        return "number"
    if isinstance(t, mi.LiteralType):
        return "one of " + ", ".join(str(v) for v in t.values)
    if isinstance(t, mi.ListType | mi.VarTupleType | mi.SetType | mi.FrozenSetType):
        return f"list of {type_name(t.item_type)}"
    if isinstance(t, mi.DictType):
        return f"map of {type_name(t.value_type)}"
    if isinstance(t, mi.StructType):
        return "object"
    if isinstance(t, mi.UnionType):
        return type_name(t)
    return "any"


@functools.cache
def type_of(kind: str) -> mi.StructType:
    """The inspected type of a kind's data, once per kind: loading the rules needs only the
    few kinds their `applies_to.each` walks (inspecting all 41 at once costs four times more)."""
    info = mi.type_info(KINDS[kind])
    assert isinstance(info, mi.StructType)
    return info


@dataclass(frozen=True)
class FieldInfo:
    """One path rules may read: `chain.status`, `leaks[].rule`, `labels{}` (any key)."""

    path: str
    type: str
    description: str


def fields(kind: str) -> list[FieldInfo]:
    """Every field of a kind, depth first, as rules address them."""
    return list(_walk(type_of(kind), ""))


def _walk(struct: mi.StructType, prefix: str) -> Iterator[FieldInfo]:
    secrets = getattr(struct.cls, "SECRETS", ())
    for f in struct.fields:
        path = f"{prefix}{f.encode_name}"
        shown = type_name(f.type)
        if f.name in secrets:
            shown = shown.replace("string", "redacted secret (auditor._redact form)", 1)
        yield FieldInfo(path, shown, description(f.type))
        yield from _nested(f.type, path)


def _nested(t: mi.Type, path: str) -> Iterator[FieldInfo]:
    alts, _ = optional_parts(t)
    for alt in alts:
        if isinstance(alt, mi.StructType):
            yield from _walk(alt, path + ".")
        elif isinstance(alt, mi.ListType | mi.VarTupleType):
            yield from _nested(alt.item_type, path + "[]")
        elif isinstance(alt, mi.DictType):
            yield from _nested(alt.value_type, path + "{}")


def kind_schema(kind: str) -> dict[str, Any]:
    """The published JSON Schema (draft 2020-12) of a kind's data."""
    cls: type[Facts] = KINDS[kind]
    generated: dict[str, Any] = msgspec.json.schema(cls)
    defs: dict[str, Any] = generated.get("$defs", {})
    name = cls.__name__
    root = dict(defs.pop(name))
    root.pop("title", None)
    out: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_id(kind),
        "title": f"{kind} evidence",
        **root,
    }
    if defs:
        out["$defs"] = {k: defs[k] for k in sorted(defs)}
    linked: dict[str, Any] = _relink(out, name)
    return linked


def _relink(value: Any, root_name: str) -> Any:
    """References to the root definition point at the document itself."""
    if isinstance(value, dict):
        return {k: ("#" if k == "$ref" and v == f"#/$defs/{root_name}" else _relink(v, root_name)) for k, v in value.items()}
    if isinstance(value, list):
        return [_relink(v, root_name) for v in value]
    return value
