"""Evidence records: typed evidence, or the failure met while trying to collect it.

An :class:`Evidence` holds the typed data of its kind (a :class:`~auditor.evidence.contract.Facts`);
a :class:`Failure` says which source could not be read and why. A collector yields either; a
:data:`Record` is one of the two. Both have an id that is the hash of what they say (not of
when they said it), so the same evidence has the same id in every scan.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from auditor._models import canonical_object, canonical_plain_json, sha256_hex, sorted_json
from auditor.evidence.contract import Facts, plain


def record_id(kind: str, source: str, resource: str, data: Any, error: str | None) -> str:
    """`ev-` and 16 hex digits of the SHA-256 of the canonical JSON of what a record says."""
    return record_id_of(kind, source, resource, canonical_plain_json(data), error)


def record_id_of(kind: str, source: str, resource: str, data_json: bytes, error: str | None) -> str:
    """`record_id` with the data given as its canonical JSON (encoded once, see Evidence.canonical_data)."""
    if type(kind) is str and type(source) is str and type(resource) is str and (error is None or type(error) is str):
        # as declared: one sorted encoding writes what canonical_object makes of the parts (as Evidence.canonical)
        body = sorted_json({"kind": kind, "source": source, "resource": resource, "data": msgspec.Raw(data_json),
                               "error": error})
    else:
        body = canonical_object({
            "kind": canonical_plain_json(kind), "source": canonical_plain_json(source),
            "resource": canonical_plain_json(resource), "data": data_json, "error": canonical_plain_json(error),
        })
    return "ev-" + sha256_hex(body)[:16]


@dataclass(frozen=True)
class Evidence:
    """One piece of typed evidence: `data` is an instance of its kind's type."""

    source: str
    resource: str
    collected_at: str
    data: Facts
    id: str = field(default="")

    def __post_init__(self) -> None:
        if not getattr(self.data, "KIND", ""):
            raise TypeError(f"{type(self.data).__name__} is not the type of an evidence kind")
        if not self.id:
            object.__setattr__(self, "id", record_id_of(self.kind, self.source, self.resource, self.canonical_data, None))

    @property
    def kind(self) -> str:
        """The evidence kind, from the type of `data` (e.g. `x509.certificate`)."""
        return self.data.KIND

    @functools.cached_property
    def plain(self) -> dict[str, Any]:
        """The data as plain JSON values (what rules see and bundles hold), made once per data
        value (see :func:`auditor.evidence.contract.plain`)."""
        return plain(self.data)

    def transient_plain(self) -> dict[str, Any]:
        """`plain`, made afresh and not kept when it was not made before: what a pass over many
        records reads without holding every record's plain data at once (a kind of 100,000
        records, see auditor._policy.batch)."""
        cached: dict[str, Any] | None = self.__dict__.get("plain")
        return cached if cached is not None else plain(self.data, keep=False)

    @functools.cached_property
    def canonical_data(self) -> bytes:
        """The canonical JSON of `plain`: encoded once for the record's id and its bundle's digest.
        A record whose kind declares an identity keeps its plain data from here on: the engine
        reads it for every such record anyway, to name its findings (record_identity)."""
        return canonical_plain_json(self.plain if type(self.data).IDENTITY else self.transient_plain())

    @classmethod
    def decoded(cls, *, source: str, resource: str, collected_at: str, data: Facts, plain: dict[str, Any],
                id: str, canonical_data: bytes | None = None) -> Evidence:
        """Evidence read back from a bundle: `plain` is the stored form `data` was decoded from
        (what the bundle's digest and the record's id were computed over), `canonical_data` its
        canonical JSON when the reader has it."""
        evidence = cls(source=source, resource=resource, collected_at=collected_at, data=data, id=id)
        evidence.__dict__["plain"] = plain
        if canonical_data is not None:
            evidence.__dict__["canonical_data"] = canonical_data
        return evidence

    def to_dict(self) -> dict[str, Any]:
        """The record as a bundle holds it (schema: bundle, records[])."""
        return {**_header(self), "data": self.plain}

    def canonical(self) -> bytes:
        """The canonical JSON of `to_dict()`, from the data encoded once: the header's strings and
        the data's JSON written by one sorted encoding (what canonical_object makes of them)."""
        rid, kind, source, resource, collected_at = self.id, self.kind, self.source, self.resource, self.collected_at
        if type(rid) is str and type(kind) is str and type(source) is str and type(resource) is str \
                and type(collected_at) is str:  # as declared (else canonical_plain_json decides each)
            return sorted_json({"id": rid, "kind": kind, "source": source, "resource": resource,
                                   "collected_at": collected_at, "data": msgspec.Raw(self.canonical_data)})
        return canonical_object({**_canonical_header(self), "data": self.canonical_data})


@dataclass(frozen=True)
class Failure:
    """A source (or part of one) that could not be collected, and why."""

    kind: str
    source: str
    resource: str
    collected_at: str
    error: str
    required: bool = True
    """A required source's failure makes a scan exit 3."""
    id: str = field(default="")

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", record_id_of(self.kind, self.source, self.resource, b"null", self.error))

    def to_dict(self) -> dict[str, Any]:
        """The record as a bundle holds it (schema: bundle, records[])."""
        return {**_header(self), "error": self.error, "required": self.required}

    def canonical(self) -> bytes:
        """The canonical JSON of `to_dict()`."""
        return canonical_object({**_canonical_header(self), "error": canonical_plain_json(self.error),
                                 "required": canonical_plain_json(self.required)})

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Failure:
        """The failure `to_dict` wrote (its id as stored: read_bundle checks it)."""
        return cls(
            kind=raw["kind"],
            source=raw["source"],
            resource=raw["resource"],
            collected_at=raw["collected_at"],
            error=raw["error"],
            required=bool(raw.get("required", True)),
            id=raw.get("id", ""),
        )


Record = Evidence | Failure
"""What a collector yields: evidence, or a failure to collect it."""


def _header(record: Record) -> dict[str, Any]:
    """What every record says besides its data or error, as bundles hold it."""
    return {"id": record.id, "kind": record.kind, "source": record.source, "resource": record.resource,
            "collected_at": record.collected_at}




def _canonical_header(record: Record) -> dict[str, bytes]:
    """`_header(record)` with each value as canonical JSON."""
    return {key: canonical_plain_json(value) for key, value in _header(record).items()}
