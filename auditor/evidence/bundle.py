"""The evidence bundle: what `auditor collect` writes and `auditor evaluate` reads.

A bundle names its format and schema, the tool that wrote it, the target definition, and
the schema of each evidence kind it holds; its digest is the SHA-256 of the canonical JSON of
everything else, so any edit is detected. Reading one back decodes every record's data into
its kind's type (:mod:`auditor.evidence.kinds`): the typed contract is the validation.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from auditor import __version__
from auditor._fsutil import atomic_write, path_text, read_user_bytes
from auditor._gcpause import gc_paused
from auditor._loader.jsonfile import load_json
from auditor._models import (
    canonical_json,
    canonical_object,
    canonical_plain_json,
    sha256_hex,
    sorted_json,
)
from auditor.errors import EvidenceError
from auditor.evidence.contract import Timestamp
from auditor.evidence.kinds import KINDS, schema_id
from auditor.evidence.record import Evidence, Failure, Record, record_id_of

FORMAT = "auditor-evidence-bundle"
SCHEMA = "urn:auditor:schemas:bundle"


@dataclass(frozen=True)
class Bundle:
    """A target's evidence records with what is needed to evaluate them elsewhere, content-hashed."""

    target: Mapping[str, Any]
    created_at: str
    records: tuple[Record, ...]
    tool: Mapping[str, str]

    @classmethod
    def create(cls, target: Mapping[str, Any], created_at: str, records: Sequence[Record]) -> Bundle:
        """A new bundle of `records` for `target` (as Target.describe gives it), written by this auditor."""
        return cls(
            target=dict(target),
            created_at=created_at,
            records=tuple(records),
            tool={"name": "auditor", "version": __version__},
        )

    def body(self, *, records: bool = True) -> dict[str, Any]:
        """Everything the digest covers (the bundle without its digest); without the records
        list if asked."""
        body: dict[str, Any] = {
            "format": FORMAT,
            "version": 1,
            "schema": SCHEMA,
            "tool": dict(self.tool),
            "target": dict(self.target),
            "created_at": self.created_at,
            "kinds": {k: schema_id(k) for k in sorted({r.kind for r in self.records})},
        }
        if records:
            body["records"] = [r.to_dict() for r in self.records]
        return body

    @functools.cached_property
    def digest(self) -> str:
        """The SHA-256 of the canonical JSON of `body()`, computed once per bundle (from each
        record's data encoded once, see Evidence.canonical_data)."""
        members = {key: canonical_json(value) for key, value in self.body(records=False).items()}
        marker = b"\0records\0"  # where the records go: hashed record by record, never joined
        members["records"] = marker
        head, _, tail = canonical_object(members).partition(marker)
        digest = hashlib.sha256(head + b"[")
        for i, record in enumerate(self.records):
            digest.update(b"," + record.canonical() if i else record.canonical())
        digest.update(b"]" + tail)
        return digest.hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """The bundle document: `body()` and its digest."""
        body = self.body()
        body["digest"] = {"algorithm": "sha256", "value": self.digest}
        return body

    def to_json(self) -> str:
        """The bundle document as written to a file."""
        return json.dumps(self.to_dict(), indent=1, sort_keys=True, ensure_ascii=False) + "\n"

    def write(self, path: Path) -> None:
        """Write the bundle to `path` atomically."""
        atomic_write(path, self.to_json().encode())

    @property
    def errors(self) -> tuple[Failure, ...]:
        """The error records, each failure once: what a source could not read, as reports and
        `collect` list it. A failure recorded for several kinds (the input may have held each:
        CollectContext.errors) is its first record; the engine reads every one of them."""
        seen: set[tuple[str, str, str | None]] = set()
        out: list[Failure] = []
        for r in self.records:
            if isinstance(r, Failure) and (key := (r.source, r.resource, r.error)) not in seen:
                seen.add(key)
                out.append(r)
        return tuple(out)


# The envelope as read back (bundle.schema.json publishes the same shape).
class _Strict(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class _Tool(msgspec.Struct, frozen=True):
    name: str
    version: str


class _Target(msgspec.Struct, frozen=True):
    name: str
    environment: str
    policies: list[Any]


class _Digest(_Strict, frozen=True):
    algorithm: Literal["sha256"]
    value: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]


class _Record(_Strict, frozen=True):
    id: Annotated[str, msgspec.Meta(pattern=r"^ev-[0-9a-f]{16}$")]
    kind: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9]+(\.[a-z0-9-]+)+$")]
    source: str
    resource: str
    collected_at: Timestamp
    data: dict[str, Any] | None = None
    error: str | None = None
    required: bool | None = None


class _Envelope(_Strict, frozen=True):
    format: Literal["auditor-evidence-bundle"]
    version: Literal[1]
    schema: Literal["urn:auditor:schemas:bundle"]
    tool: _Tool
    target: _Target
    created_at: Timestamp
    kinds: dict[str, str]
    records: list[_Record]
    digest: _Digest


def _field(path: str) -> str | None:
    """`$.records[3].data.key` -> `records[3].data.key`."""
    text = path.removeprefix("$").removeprefix(".")
    return text or None


def _invalid(exc: msgspec.ValidationError, file: str, prefix: str = "") -> EvidenceError:
    message, _, where = str(exc).partition(" - at `")
    path = where.rstrip("`") if where else "$"
    return EvidenceError(message, file=file, field=_field(prefix + path.removeprefix("$")) if prefix else _field(path))


def parse_bundle(raw: Any, *, file: str) -> Bundle:
    """Validate a decoded bundle (envelope, digest, record ids, each record's data) and type it,
    the collector paused (see read_bundle)."""
    with gc_paused():
        return _parse_bundle(raw, file=file)


def _parse_bundle(raw: Any, *, file: str) -> Bundle:
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise EvidenceError("not an auditor evidence bundle (no \"format\": \"auditor-evidence-bundle\")", file=file)
    try:
        envelope = msgspec.convert(raw, _Envelope)
    except msgspec.ValidationError as exc:
        raise _invalid(exc, file) from None
    # the canonical JSON of each record's data, made once: for the digest and the record's id
    raw_records = raw["records"]
    data_json = [None if rec.data is None else canonical_plain_json(rec.data) for rec in envelope.records]
    members = {key: canonical_json(value) for key, value in raw.items() if key not in ("digest", "records")}
    members["records"] = b"[" + b",".join(map(_record_json, raw_records, data_json)) + b"]"
    actual = sha256_hex(canonical_object(members))
    if actual != envelope.digest.value:
        raise EvidenceError(
            f"digest mismatch: the bundle was changed after it was written "
            f"(recorded {envelope.digest.value[:16]}…, content {actual[:16]}…)",
            file=file,
        )
    records: list[Record] = []
    for i, (rec, data) in enumerate(zip(envelope.records, data_json, strict=True)):
        if (rec.data is None) == (rec.error is None):
            raise EvidenceError("a record has either data or an error, not both", file=file, field=f"records[{i}]")
        if rec.id != record_id_of(rec.kind, rec.source, rec.resource, b"null" if data is None else data, rec.error):
            raise EvidenceError("record id does not match its content", file=file, field=f"records[{i}].id")
        records.append(_typed(rec, i, file, data))
    if set(envelope.kinds) != {r.kind for r in records}:
        raise EvidenceError("the 'kinds' list does not match the records", file=file, field="kinds")
    bundle = Bundle(target=raw["target"], created_at=envelope.created_at, records=tuple(records), tool=raw["tool"])
    if _as_written(raw, bundle):  # then Bundle.digest would hash what was just hashed: kept, not made again
        bundle.__dict__["digest"] = actual
    return bundle


def _record_json(rec: Mapping[str, Any], data: bytes | None) -> bytes:
    """The canonical JSON of a record as read, its data's (`data`) made already: what
    canonical_object makes of its members' canonical JSON, in one sorted encoding (its members
    but the data are strings, booleans or null, as the envelope checked; as Evidence.canonical)."""
    return sorted_json(rec if data is None else {**rec, "data": msgspec.Raw(data)})


_EVIDENCE_KEYS = frozenset({"id", "kind", "source", "resource", "collected_at", "data"})
_FAILURE_KEYS = frozenset({"id", "kind", "source", "resource", "collected_at", "error", "required"})


def _as_written(raw: Mapping[str, Any], bundle: Bundle) -> bool:
    """Whether `bundle.body()` is `raw` without its digest, as Bundle.to_dict writes it: each
    record with its own members only (no `"error": null` beside data, a failure's `required`
    given), each kind's schema id the one this auditor names. Then the digest parse_bundle
    checked is the one Bundle.digest would compute (the evaluation of a bundle read names it:
    hashing the records again cost about 0.6 ms a bundle of 200 certificates)."""
    if raw["created_at"] != bundle.created_at or raw["kinds"] != {k: schema_id(k) for k in raw["kinds"]}:
        return False
    for rec in raw["records"]:
        if rec.keys() != (_EVIDENCE_KEYS if rec.get("data") is not None else _FAILURE_KEYS):
            return False
        if "error" in rec and type(rec["required"]) is not bool:
            return False
    return True


def _typed(rec: _Record, index: int, file: str, data_json: bytes | None) -> Record:
    if rec.error is not None:
        return Failure(kind=rec.kind, source=rec.source, resource=rec.resource, collected_at=rec.collected_at,
                       error=rec.error, required=True if rec.required is None else rec.required, id=rec.id)
    kind = KINDS.get(rec.kind)
    assert rec.data is not None
    if kind is None:
        raise EvidenceError(f"unknown evidence kind '{rec.kind}'", file=file, field=f"records[{index}].kind")
    try:
        data = msgspec.convert(rec.data, kind)
    except msgspec.ValidationError as exc:
        raise _invalid(exc, file, f"$.records[{index}].data") from None
    return Evidence.decoded(source=rec.source, resource=rec.resource, collected_at=rec.collected_at, data=data,
                            plain=rec.data, id=rec.id, canonical_data=data_json)


def read_bundle(path: Path) -> Bundle:
    """The bundle in `path`, checked (schema, digest, record ids, each kind's data); EvidenceError with file and field otherwise.

    The cyclic garbage collector is paused meanwhile (parse_bundle pauses it too, for a bundle
    decoded elsewhere: a fleet worker's, an SSH collection's), as for an evaluation
    (evaluate_bundle): the tens of thousands of values a bundle decodes into hold no reference
    cycles (tests/auditor/test_gcpause.py), and collections while they are made walked them and
    whatever else lives (the catalog of an `evaluate` of many bundles): a third of reading a
    bundle of 200 certificates."""
    file = path_text(path)
    data = read_user_bytes(path, limit="bundle-bytes", what="evidence bundle", cls=EvidenceError)
    with gc_paused():
        return parse_bundle(load_json(data, file=file, cls=EvidenceError), file=file)
