"""`auditor schema [NAME]`: print a published JSON Schema."""

from __future__ import annotations

import argparse
from typing import Any

from auditor._cli import _common


def register(sub: Any) -> None:
    p = sub.add_parser(
        "schema",
        help="print a published JSON Schema (inventory, rule, policy, bundle, findings, ...)",
        description="Without NAME, list the schema names.",
    )
    p.add_argument("name", nargs="?", metavar="NAME", help="e.g. inventory, findings, evidence/x509.certificate")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import json
    from importlib import resources

    from auditor._loader.schema import SCHEMA_PACKAGE, load_schema
    from auditor.errors import ConfigError

    root = resources.files(SCHEMA_PACKAGE)
    names: list[str] = []
    for entry in root.iterdir():
        if entry.name.endswith(".schema.json"):
            names.append(entry.name[: -len(".schema.json")])
        elif entry.is_dir() and not entry.name.startswith("_"):
            names.extend(f"{entry.name}/{e.name[: -len('.schema.json')]}" for e in entry.iterdir() if e.name.endswith(".schema.json"))
    names.sort()
    if not args.name:
        _common.emit("\n".join(names) + "\n", None)
        return 0
    if args.name not in names:
        raise ConfigError(f"unknown schema '{args.name}' (known: {', '.join(names)})")
    _common.emit(json.dumps(load_schema(args.name), indent=2) + "\n", None)
    return 0
