"""The base of every evidence type: frozen, typed, closed structures.

Each evidence kind is one :class:`Facts` subclass (a msgspec ``Struct``) in
:mod:`auditor.evidence.kinds`; its nested objects are :class:`Part` subclasses. Everything
else about a kind is derived from that one definition: the published JSON Schema
(:mod:`auditor.evidence.schema`), the fields rules may read (checked when a rule is loaded),
the evidence reference in docs/, and which fields hold (redacted) secrets.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import msgspec

from auditor.evidence.secret import Redacted, check_redacted

TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"

Timestamp = Annotated[str, msgspec.Meta(pattern=TIMESTAMP_PATTERN, extra_json_schema={"format": "date-time"})]
"""An RFC 3339 time, as text (`2026-11-23T19:43:00Z`)."""
Mode = Annotated[str, msgspec.Meta(pattern=r"^[0-7]{4}$", description="file mode in octal, e.g. 0600")]
NonNegative = Annotated[int, msgspec.Meta(ge=0)]


class Part(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A structure inside evidence: immutable, keyword-built, no field beyond those declared."""


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


def plain(data: Facts) -> dict[str, Any]:
    """`data` as plain JSON values (what rules see and bundles hold): dicts, lists, strings,
    numbers, booleans and null, made once per value (a JSON round trip turns tuples into lists)."""
    cache = data.__dict__
    value: dict[str, Any] | None = cache.get("_plain")
    if value is None:
        value = cache["_plain"] = msgspec.json.decode(msgspec.json.encode(data))
    return value


__all__ = ["Facts", "Mode", "NonNegative", "Part", "Redacted", "SecretPart", "Timestamp", "plain"]
