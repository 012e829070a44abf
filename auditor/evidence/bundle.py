"""The evidence bundle: what `auditor collect` writes and `auditor evaluate` reads.

A bundle names its format and schema, the tool that wrote it, the target definition, and
the schema of each evidence kind it holds; its digest is the SHA-256 of the canonical JSON of
everything else, so any edit is detected.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor import __version__
from auditor.errors import EvidenceError
from auditor.evidence.kinds import data_errors, schema_id
from auditor.fsutil import atomic_write, read_user_file
from auditor.loader.schema import schema_errors
from auditor.loader.yamlfile import dotted_path
from auditor.models import EvidenceRecord, canonical_json, sha256_hex

FORMAT = "auditor-evidence-bundle"
SCHEMA = "urn:auditor:schemas:bundle"
MAX_BUNDLE_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class Bundle:
    """A target's evidence records with what is needed to evaluate them elsewhere, content-hashed."""

    target: Mapping[str, Any]
    created_at: str
    records: tuple[EvidenceRecord, ...]
    tool: Mapping[str, str]

    @classmethod
    def create(cls, target: Mapping[str, Any], created_at: str, records: Sequence[EvidenceRecord]) -> Bundle:
        """A new bundle of `records` for `target` (as Target.describe gives it), written by this auditor."""
        return cls(
            target=dict(target),
            created_at=created_at,
            records=tuple(records),
            tool={"name": "auditor", "version": __version__},
        )

    def body(self) -> dict[str, Any]:
        """Everything the digest covers (the bundle without its digest)."""
        return {
            "format": FORMAT,
            "version": 1,
            "schema": SCHEMA,
            "tool": dict(self.tool),
            "target": dict(self.target),
            "created_at": self.created_at,
            "kinds": {k: schema_id(k) for k in sorted({r.kind for r in self.records})},
            "records": [r.to_dict() for r in self.records],
        }

    @property
    def digest(self) -> str:
        """The SHA-256 of the canonical JSON of `body()`."""
        return sha256_hex(canonical_json(self.body()))

    def to_dict(self) -> dict[str, Any]:
        """The bundle document: `body()` and its digest."""
        body = self.body()
        body["digest"] = {"algorithm": "sha256", "value": sha256_hex(canonical_json(body))}
        return body

    def to_json(self) -> str:
        """The bundle document as written to a file."""
        return json.dumps(self.to_dict(), indent=1, sort_keys=True, ensure_ascii=False) + "\n"

    def write(self, path: Path) -> None:
        """Write the bundle to `path` atomically."""
        atomic_write(path, self.to_json().encode())

    @property
    def errors(self) -> tuple[EvidenceRecord, ...]:
        """The error records: sources that could not be read."""
        return tuple(r for r in self.records if r.is_error)


def parse_bundle(raw: Any, *, file: str) -> Bundle:
    """Validate a decoded bundle (schema, digest, each record's data, record ids)."""
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise EvidenceError("not an auditor evidence bundle (no \"format\": \"auditor-evidence-bundle\")", file=file)
    errors = schema_errors(raw, "bundle")
    if errors:
        path, message = errors[0]
        raise EvidenceError(message, file=file, field=dotted_path(path) or None)
    body = {k: v for k, v in raw.items() if k != "digest"}
    actual = sha256_hex(canonical_json(body))
    if actual != raw["digest"]["value"]:
        raise EvidenceError(
            f"digest mismatch: the bundle was changed after it was written "
            f"(recorded {raw['digest']['value'][:16]}…, content {actual[:16]}…)",
            file=file,
        )
    records = []
    for i, rec in enumerate(raw["records"]):
        record = EvidenceRecord.from_dict(rec)
        if record.id != record.compute_id():
            raise EvidenceError("record id does not match its content", file=file, field=f"records[{i}].id")
        if record.data is not None:
            problems = data_errors(record.kind, record.data)
            if problems:
                path, message = problems[0]
                raise EvidenceError(message, file=file, field=dotted_path(("records", i, "data", *path)))
        records.append(record)
    expected_kinds = {r.kind for r in records}
    if set(raw["kinds"]) != expected_kinds:
        raise EvidenceError("the 'kinds' list does not match the records", file=file, field="kinds")
    return Bundle(
        target=raw["target"], created_at=raw["created_at"], records=tuple(records), tool=raw["tool"]
    )


def read_bundle(path: Path) -> Bundle:
    """The bundle in `path`, checked (schema, digest, record ids, each kind's data); EvidenceError with file and field otherwise."""
    file = str(path)
    text = read_user_file(path, max_bytes=MAX_BUNDLE_BYTES, what="evidence bundle", cls=EvidenceError)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EvidenceError(f"invalid JSON: {exc.msg}", file=file, line=exc.lineno) from None
    return parse_bundle(raw, file=file)
