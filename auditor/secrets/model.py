"""What a leakage scan reports. Nothing here holds a secret: only a redacted preview and a fingerprint."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from auditor.redact import fingerprint as _fingerprint
from auditor.redact import redact


def secret_fingerprint(rule: str, secret: bytes) -> str:
    """Stable for the same secret under the same rule, wherever it is found (survives line moves)."""
    return _fingerprint(rule.encode() + b":" + secret)


@dataclass(frozen=True)
class Leak:
    rule: str
    """The detector that found it (nkey-seed, private-key, password, ...), or a custom rule id."""
    category: str
    path: str
    line: int
    column: int
    preview: str
    """`auditor.redact.redact` of the secret: a short prefix and a hash."""
    fingerprint: str
    confidence: str = "high"
    details: Mapping[str, Any] = field(default_factory=dict)
    engine: str = "auditor"
    commit: str = ""
    """For findings in git history: the first commit found to hold the blob."""
    file_mode: str = ""
    key_file: bool = False
    """The file holds nothing but key material (and comments): a dedicated key or .creds file."""
    log: bool = False
    """The file is a log or a shell history."""

    @property
    def private(self) -> bool:
        """The file is readable by its owner only (no group or other bits)."""
        return bool(self.file_mode) and int(self.file_mode, 8) & 0o077 == 0

    @property
    def location(self) -> str:
        where = f"{self.path}:{self.line}:{self.column}"
        return f"{self.commit[:12]}:{where}" if self.commit else where

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "category": self.category,
            "file": self.path,
            "line": self.line,
            "column": self.column,
            "location": self.location,
            "preview": self.preview,
            "fingerprint": self.fingerprint,
            "confidence": self.confidence,
            "engine": self.engine,
            "commit": self.commit,
            "file_mode": self.file_mode,
            "private": self.private,
            "key_file": self.key_file,
            "log": self.log,
            "encrypted": bool(self.details.get("encrypted", False)),
            "details": {k: v for k, v in self.details.items() if isinstance(v, str | int | float | bool)},
        }

    @classmethod
    def from_secret(cls, rule: str, category: str, path: str, line: int, column: int, secret: bytes,
                    **kw: Any) -> Leak:
        return cls(rule, category, path, line, column, redact(secret), secret_fingerprint(rule, secret), **kw)


@dataclass(frozen=True)
class FileResult:
    path: str
    leaks: tuple[Leak, ...] = ()
    size: int = 0
    skipped: str = ""
    """Why the file was not scanned: binary, lock, generated, minified, vendored, ...; empty if scanned."""
    error: str = ""
    suppressed: int = 0


@dataclass
class ScanStats:
    files_scanned: int = 0
    bytes_scanned: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)
    suppressed: int = 0
    blobs_scanned: int = 0
    blobs_reused: int = 0

    def add(self, result: FileResult) -> None:
        if result.error:
            self.unreadable.append(f"{result.path}: {result.error}")
        elif result.skipped:
            self.skipped[result.skipped] = self.skipped.get(result.skipped, 0) + 1
        else:
            self.files_scanned += 1
            self.bytes_scanned += result.size
        self.suppressed += result.suppressed

    def to_dict(self) -> dict[str, Any]:
        return {
            "files_scanned": self.files_scanned,
            "bytes_scanned": self.bytes_scanned,
            "skipped": dict(sorted(self.skipped.items())),
            "unreadable": sorted(self.unreadable),
            "suppressed": self.suppressed,
            "blobs_scanned": self.blobs_scanned,
            "blobs_reused": self.blobs_reused,
        }
