"""Exit codes of the `auditor` command, documented in docs/exit-codes.md."""

from __future__ import annotations

import enum

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (see auditor._cli._replay)

if TYPE_CHECKING:
    from auditor._models import ScanResult


class ExitCode(enum.IntEnum):
    """What the process exit status means. Findings and tool failures never share a code."""

    OK = 0
    """The scan ran; the verdict is READY (nothing at or above `--fail-on` fails or is undecided)."""
    FINDINGS = 1
    """The scan ran; the verdict is NOT READY (a failure at or above `--fail-on`, or a confirmed
    live credential at any severity)."""
    USAGE = 2
    """Bad usage or configuration: a flag, an inventory, a rule or a policy file is wrong."""
    COLLECTION_FAILED = 3
    """A required evidence source could not be collected, so the result is incomplete."""
    INCOMPLETE = 4
    """The scan ran; the verdict is INCOMPLETE: nothing blocks, but a rule at or above
    `--fail-on` could not be judged (error, not evaluated) or required evidence is missing."""
    INTERNAL = 70
    """A bug in auditor itself (EX_SOFTWARE); please report it."""


def result_exit_code(result: ScanResult) -> int:
    """The exit code a scan result calls for (docs/exit-codes.md): 3 when a required source
    failed (retried by `serve`), else the verdict's: 1 NOT READY, 4 INCOMPLETE, 0 READY."""
    from auditor._models import Readiness

    if result.required_source_failed:
        return int(ExitCode.COLLECTION_FAILED)
    return int({
        Readiness.NOT_READY: ExitCode.FINDINGS,
        Readiness.INCOMPLETE: ExitCode.INCOMPLETE,
        Readiness.READY: ExitCode.OK,
    }[result.verdict.readiness])
