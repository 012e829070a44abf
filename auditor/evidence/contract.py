"""The base of every evidence type: frozen, typed, closed structures.

Each evidence kind is one :class:`Facts` subclass (a msgspec ``Struct``) in
:mod:`auditor.evidence.kinds`; its nested objects are :class:`Part` subclasses. Everything
else about a kind is derived from that one definition: the published JSON Schema
(:mod:`auditor.evidence.schema`), the fields rules may read (checked when a rule is loaded),
the evidence reference in docs/, and which fields hold (redacted) secrets.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

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


class Facts(Part, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The data of one evidence record of kind `KIND`."""

    KIND: ClassVar[str] = ""


__all__ = ["Facts", "Mode", "NonNegative", "Part", "Redacted", "SecretPart", "Timestamp"]
