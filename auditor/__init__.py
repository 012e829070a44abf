"""auditor: collect evidence from a node, evaluate declarative rules on it, report findings.

The command line lives in :mod:`auditor.cli`; everything else is a library that never prints
and never exits. The public entry points are :func:`auditor.scan.scan_target` and
:func:`auditor.scan.evaluate_bundle`.
"""

__version__ = "0.1.0"
