"""Targets made on the spot: files and folders given on the command line, without an inventory.

`auditor scan --path k8s/ --policy pss-restricted` lets a manifest repository gate merges:
the paths become one `kubernetes` source of a target named `paths`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from auditor._inventory.model import SourceSpec, Target
from auditor.errors import ConfigError

STDIN = "-"


def path_target(paths: Sequence[str], policies: Sequence[str], *, root: Path | None = None) -> Target:
    """A target whose one source reads the manifests at `paths` ('-' for stdin)."""
    if not paths:
        raise ConfigError("give at least one file or folder to scan (or '-' for stdin)")
    if not policies:
        raise ConfigError("scanning paths needs a policy pack (for example pss-restricted)")
    if list(paths).count(STDIN) > 1:
        raise ConfigError("'-' (stdin) may be given only once")
    base = root or Path.cwd()
    for value in paths:
        if value != STDIN and not (base / value).exists():
            raise ConfigError("no such file or folder", file=value)
    source = SourceSpec(collector="kubernetes", name="manifests", required=True, options={"paths": list(paths)})
    return Target(
        name="paths",
        environment="adhoc",
        policies=tuple(policies),
        sources=(source,),
        root=base,
        description="files given on the command line: " + " ".join(paths),
        node_tree=False,
    )
