"""auditor: collect evidence from a node, evaluate declarative rules on it, report findings.

The library API is what this package exports (:data:`__all__`)::

    import auditor

    inventory = auditor.load_inventory(Path("auditor.yaml"))
    bundle, result = auditor.scan(inventory.target("cim-prod-001"))
    # or, air-gapped: bundle = auditor.collect(target) here, result = auditor.evaluate(bundle) there
    print(result.summary.by_status, auditor.result_exit_code(result))

A result comes back redacted (:class:`RedactedResult`): that is the only kind the renderers,
the history, sign-off and events accept. Its findings are frozen values (:class:`Finding`, a
msgspec Struct, not a dataclass): ``finding.replaced({"status": ...})`` makes a changed copy,
``finding.to_dict()`` the document form. Errors raised on purpose derive from
:class:`AuditorError` and carry a one-line message (``diagnostics()``) and an exit code.
Nothing here prints or exits; the command line is :mod:`auditor._cli`. Everything not exported
here is internal and may change.

The names are imported when first used, so `import auditor` (and `auditor --help`) stays fast.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # scanning
    "collect": "auditor._scan:collect",
    "evaluate": "auditor._scan:evaluate_bundle",
    "scan": "auditor._scan:scan_target",
    "EvaluateOptions": "auditor._scan:EvaluateOptions",
    "Catalog": "auditor._policy.catalog:Catalog",
    # inventory and evidence
    "load_inventory": "auditor._inventory.load:load_inventory",
    "Inventory": "auditor._inventory.model:Inventory",
    "Target": "auditor._inventory.model:Target",
    "Bundle": "auditor.evidence.bundle:Bundle",
    "read_bundle": "auditor.evidence.bundle:read_bundle",
    "Evidence": "auditor.evidence.record:Evidence",
    "Failure": "auditor.evidence.record:Failure",
    # results
    "ScanResult": "auditor._models:ScanResult",
    "RedactedResult": "auditor._models:RedactedResult",
    "redact_result": "auditor._redact:redact_result",
    "Finding": "auditor._models:Finding",
    "Severity": "auditor._severity:Severity",
    "Status": "auditor._models:Status",
    "Summary": "auditor._models:Summary",
    "Waiver": "auditor._models:Waiver",
    "ExpiredWaiver": "auditor._models:ExpiredWaiver",
    "RuleInfo": "auditor._models:RuleInfo",
    "Checklist": "auditor._models:Checklist",
    "ChecklistItem": "auditor._models:ChecklistItem",
    "ExitCode": "auditor._exitcodes:ExitCode",
    "result_exit_code": "auditor._exitcodes:result_exit_code",
    # errors
    "AuditorError": "auditor.errors:AuditorError",
    "LocatedError": "auditor.errors:LocatedError",
    "ConfigError": "auditor.errors:ConfigError",
    "EvidenceError": "auditor.errors:EvidenceError",
    "WouldOverwrite": "auditor.errors:WouldOverwrite",
}

__all__ = [
    "AuditorError",
    "Bundle",
    "Catalog",
    "Checklist",
    "ChecklistItem",
    "ConfigError",
    "EvaluateOptions",
    "Evidence",
    "EvidenceError",
    "ExitCode",
    "ExpiredWaiver",
    "Failure",
    "Finding",
    "Inventory",
    "LocatedError",
    "RedactedResult",
    "RuleInfo",
    "ScanResult",
    "Severity",
    "Status",
    "Summary",
    "Target",
    "Waiver",
    "WouldOverwrite",
    "__version__",
    "collect",
    "evaluate",
    "load_inventory",
    "read_bundle",
    "redact_result",
    "result_exit_code",
    "scan",
]

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (see auditor._cli._replay)

if TYPE_CHECKING:
    from typing import Any

    from auditor._exitcodes import ExitCode, result_exit_code
    from auditor._inventory.load import load_inventory
    from auditor._inventory.model import Inventory, Target
    from auditor._models import (
        Checklist,
        ChecklistItem,
        ExpiredWaiver,
        Finding,
        RedactedResult,
        RuleInfo,
        ScanResult,
        Status,
        Summary,
        Waiver,
    )
    from auditor._policy.catalog import Catalog
    from auditor._redact import redact_result
    from auditor._scan import EvaluateOptions, collect
    from auditor._scan import evaluate_bundle as evaluate
    from auditor._scan import scan_target as scan
    from auditor._severity import Severity
    from auditor.errors import (
        AuditorError,
        ConfigError,
        EvidenceError,
        LocatedError,
        WouldOverwrite,
    )
    from auditor.evidence.bundle import Bundle, read_bundle
    from auditor.evidence.record import Evidence, Failure


def __getattr__(name: str) -> Any:
    """Import an exported name on first use (PEP 562)."""
    dotted = _EXPORTS.get(name)
    if dotted is None:
        raise AttributeError(f"module 'auditor' has no attribute '{name}'")
    module_name, _, attribute = dotted.partition(":")
    value = getattr(importlib.import_module(module_name), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
