"""The one root of every error auditor raises on purpose, with messages written for the user.

Each error knows its exit code. The CLI catches :class:`AuditorError` only, prints
:meth:`AuditorError.diagnostics` on one line and exits with :attr:`AuditorError.exit_code`.
"""

from __future__ import annotations

from pathlib import Path

from auditor._exitcodes import ExitCode


class AuditorError(Exception):
    """Root of auditor's errors."""

    exit_code: ExitCode = ExitCode.USAGE

    def diagnostics(self) -> str:
        """The one-line message shown to the user."""
        return " ".join(str(self).split())


class LocatedError(AuditorError):
    """An error in a file, optionally at a line and column (1-based) and a field (a dotted path)."""

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.field = field
        self.column = column

    def location(self) -> str:
        """`file:line`, `file`, `line N` or '' for an error with no place."""
        where = self.file or ""
        if self.line is not None:
            where = f"{where}:{self.line}" if where else f"line {self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where

    def diagnostics(self) -> str:
        """`file:line: field 'x': message`, with whatever of the place is known."""
        parts = []
        where = self.location()
        if where:
            parts.append(where)
        if self.field:
            parts.append(f"field '{self.field}'")
        prefix = ": ".join(parts)
        text = " ".join(self.message.split())
        return f"{prefix}: {text}" if prefix else text


class ConfigError(LocatedError):
    """An inventory, rule, policy or option is invalid (exit 2)."""


class EvidenceError(LocatedError):
    """An evidence bundle is unreadable, invalid or tampered with (exit 2)."""


class WouldOverwrite(ConfigError):
    """A file exists with other content, and replacing it was not asked for (exit 2)."""


class CollectionError(AuditorError):
    """Evidence could not be collected or delivered: a remote machine, an agent or a collecting
    process did not answer, or answered with no usable bundle (exit 3)."""

    exit_code = ExitCode.COLLECTION_FAILED
