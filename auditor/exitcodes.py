"""Exit codes of the `auditor` command, documented in docs/exit-codes.md."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from auditor.models import ScanResult


class ExitCode(enum.IntEnum):
    """What the process exit status means. Findings and tool failures never share a code."""

    OK = 0
    """The scan ran; no failure at or above the `--fail-on` severity."""
    FINDINGS = 1
    """The scan ran; at least one failure at or above the `--fail-on` severity."""
    USAGE = 2
    """Bad usage or configuration: a flag, an inventory, a rule or a policy file is wrong."""
    COLLECTION_FAILED = 3
    """A required evidence source could not be collected, so the result is incomplete."""
    INTERNAL = 70
    """A bug in auditor itself (EX_SOFTWARE); please report it."""


def result_exit_code(result: ScanResult) -> int:
    """The exit code a scan result calls for (docs/exit-codes.md)."""
    if result.required_source_failed:
        return int(ExitCode.COLLECTION_FAILED)
    if result.failures():
        return int(ExitCode.FINDINGS)
    return int(ExitCode.OK)
