"""`auditor collect`: write a target's evidence bundle for evaluation elsewhere."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from auditor.cli import _common


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
    p.add_argument("-o", "--output", metavar="FILE", required=True, help="bundle file to write")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from auditor._scan import collect
    from auditor.exitcodes import ExitCode

    target = _common.load_inventory(args).target(args.target)
    bundle = collect(target, progress=_common.StderrProgress())
    _common.emit(bundle.to_json(), args.output)
    errors = bundle.errors
    print(
        f"wrote {args.output}: {len(bundle.records)} records, {len(errors)} collection errors, "
        f"digest sha256:{bundle.digest}",
        file=sys.stderr,
    )
    for r in errors:
        print(f"  {r.source}: {r.resource}: {r.error}", file=sys.stderr)
    if any(r.required for r in errors):
        return int(ExitCode.COLLECTION_FAILED)
    return int(ExitCode.OK)
