"""Reading a findings document back (what `auditor scan --format json` wrote) for reports,
sign-off and verification: located one-line errors for anything that is not one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor._fsutil import path_text, read_user_bytes
from auditor._loader.jsonfile import load_json
from auditor._loader.schema import validate_value
from auditor._models import RedactedResult, ScanResult, sha256_hex
from auditor._redact import redact_result
from auditor.errors import ConfigError

FORMAT = "auditor-findings"


class NotAFindingsDocument(ConfigError):
    """A file given as a findings document is JSON, but not one."""


@dataclass(frozen=True)
class ResultFile:
    path: Path
    raw: bytes
    document: dict[str, Any]
    result: RedactedResult
    """What the document says, redacted again (the file may have been written by anyone)."""

    @property
    def sha256(self) -> str:
        return sha256_hex(self.raw)


def parse_document(text: str | bytes, *, file: str) -> dict[str, Any]:
    """The decoded, schema-valid findings document in `text`, or a located ConfigError."""
    doc = load_json(text, file=file)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise NotAFindingsDocument(f'not an auditor findings document (no "format": "{FORMAT}")', file=file)
    validate_value(doc, "findings", file=file)
    return doc


def read_result(path: Path) -> ResultFile:
    file = path_text(path)
    raw = read_user_bytes(path, limit="result-bytes", what="findings document")
    doc = parse_document(raw, file=file)
    try:
        result = redact_result(ScanResult.from_dict(doc))
    except (KeyError, ValueError, TypeError) as exc:  # the schema should have caught it
        raise ConfigError(f"not a valid findings document: {exc}", file=file) from None
    return ResultFile(Path(path), raw, doc, result)
