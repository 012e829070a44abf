"""`auditor collect`: write a target's evidence bundle for evaluation elsewhere."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from auditor._cli import _common
from auditor._terminal import warn

MAX_STDIN_INVENTORY = 1024 * 1024


def register(sub: Any) -> None:
    p = sub.add_parser(
        "collect",
        help="collect a target's evidence into a bundle (for `auditor evaluate`)",
        description=(
            "Collect evidence and write a self-describing, content-hashed bundle. Carry it to "
            "another machine and run `auditor evaluate BUNDLE` there (the air-gapped workflow)."
        ),
    )
    p.add_argument("--target", "-t", metavar="NAME", required=True)
    _common.add_inventory(p)
    p.add_argument("-o", "--output", metavar="FILE", required=True, help="bundle file to write ('-' for stdout)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from auditor._exitcodes import ExitCode
    from auditor._progress import Steps
    from auditor._scan import collect

    if args.inventory == "-":  # the target's definition on stdin (agentless collection over SSH)
        from pathlib import Path

        from auditor._inventory import load_inventory

        text = sys.stdin.read(MAX_STDIN_INVENTORY + 1)
        if len(text) > MAX_STDIN_INVENTORY:
            from auditor.errors import ConfigError

            raise ConfigError(f"an inventory on stdin is at most {MAX_STDIN_INVENTORY} bytes", file="<stdin>")
        inventory = load_inventory(Path("<stdin>"), text=text, base=Path.cwd())
    else:
        inventory = _common.load_inventory(args)
    target = inventory.target(args.target)
    bundle = collect(target, progress=Steps())
    _common.emit(bundle.to_json(), args.output)
    errors = bundle.errors
    warn(f"wrote {args.output}: {len(bundle.records)} records, {len(errors)} collection errors, "
         f"digest sha256:{bundle.digest}")
    for r in errors:
        warn(f"  {r.source}: {r.resource}: {r.error}")
    if any(r.required for r in errors):
        return int(ExitCode.COLLECTION_FAILED)
    return int(ExitCode.OK)
