"""The base of every evidence type: frozen, typed, closed structures.

Each evidence kind is one :class:`Facts` subclass (a msgspec ``Struct``) in
:mod:`auditor.evidence.kinds`; its nested objects are :class:`Part` subclasses. Everything
else about a kind is derived from that one definition: the published JSON Schema
(:mod:`auditor.evidence._schema`), the fields rules may read (checked when a rule is loaded),
the evidence reference in docs/, and which fields hold (redacted) secrets.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, ClassVar

import msgspec

from auditor.evidence.secret import Redacted, check_redacted

TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"

Timestamp = Annotated[str, msgspec.Meta(pattern=TIMESTAMP_PATTERN, extra_json_schema={"format": "date-time"})]
"""An RFC 3339 time, as text (`2026-11-23T19:43:00Z`)."""
Mode = Annotated[str, msgspec.Meta(pattern=r"^[0-7]{4}$", description="file mode in octal, e.g. 0600")]
NonNegative = Annotated[int, msgspec.Meta(ge=0)]


class Part(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A structure inside evidence: immutable, keyword-built, no field beyond those declared.

    `IDENTITY` names the fields (dotted paths) that identify one instance across scans: a rule
    that iterates such structures (`applies_to.each`) reports one finding per instance, with a
    stable id made from the record's identity and these fields (docs/rules.md, "Finding
    identity"). On a kind (:class:`Facts`), they identify the record; without them, the
    record's resource does. `LABEL` is how a finding names one instance by default
    (`str.format` over its fields; `{resource}` is the record's resource).
    """

    IDENTITY: ClassVar[tuple[str, ...]] = ()
    LABEL: ClassVar[str] = ""
    IDENTITY_ALONE: ClassVar[bool] = False
    """True where IDENTITY names the instance within the target by itself (a leak: its file,
    commit and fingerprint), so its findings' ids leave the record's identity out: the same
    instance reached through another record (another path of the inventory that holds its file)
    keeps its id."""


class SecretPart(Part, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A structure with fields of type :data:`~auditor.evidence.secret.Redacted` (listed in
    `SECRETS`): decoding one from a bundle or a recording refuses text that is not redacted."""

    SECRETS: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        for name in self.SECRETS:
            value = getattr(self, name)
            if value is not None:
                check_redacted(value, name)


class Facts(Part, frozen=True, kw_only=True, forbid_unknown_fields=True, dict=True):
    """The data of one evidence record of kind `KIND` (`dict=True` only so that its plain form,
    see :func:`plain`, is made once per value)."""

    KIND: ClassVar[str] = ""


def identity(cls: type[Part], value: Any) -> tuple[str, ...]:
    """The values of `cls.IDENTITY` in `value` (the plain form of an instance of `cls`), as text:
    strings as they are, anything else as canonical JSON."""
    out = []
    for path in cls.IDENTITY:
        item = value
        for part in path.split("."):
            item = item.get(part) if isinstance(item, dict) else None
        out.append(item if isinstance(item, str) else json.dumps(item, sort_keys=True, separators=(",", ":")))
    return tuple(out)


def label(cls: type[Part], value: Any, resource: str) -> str:
    """How a finding names the instance `value` of `cls` (its LABEL; else its identity)."""
    if not cls.LABEL:
        return f"{resource} " + "/".join(identity(cls, value)) if cls.IDENTITY else resource
    shown = {k: ", ".join(map(str, v)) if isinstance(v, list) else v for k, v in value.items()}
    return cls.LABEL.format_map({**shown, "resource": resource})


def plain(data: Facts, *, keep: bool = True) -> dict[str, Any]:
    """`data` as plain JSON values (what rules see and bundles hold): dicts, lists, strings,
    numbers, booleans and null, made once per value (a JSON round trip turns tuples into lists);
    with `keep` False, made afresh and not kept unless it was made before."""
    cache = data.__dict__
    value: dict[str, Any] | None = cache.get("_plain")
    if value is None:
        value = msgspec.json.decode(msgspec.json.encode(data))
        if keep:
            cache["_plain"] = value
    return value


__all__ = ["Facts", "Mode", "NonNegative", "Part", "Redacted", "SecretPart", "Timestamp", "identity", "label", "plain"]
