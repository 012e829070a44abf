"""`auditor targets list|show`."""

from __future__ import annotations

import argparse
import json
from typing import Any

from auditor._cli import _common


def register(sub: Any) -> None:
    p = sub.add_parser("targets", help="list the inventory's targets or show one")
    tsub = p.add_subparsers(dest="targets_command", metavar="ACTION", required=True)
    lst = tsub.add_parser("list", help="one line per target")
    _common.add_inventory(lst)
    lst.add_argument("--format", choices=("text", "json"), default="text")
    lst.set_defaults(handler=run_list)
    show = tsub.add_parser("show", help="a target's environment, policies, sources and anchors")
    show.add_argument("name", metavar="NAME")
    _common.add_inventory(show)
    show.add_argument("--format", choices=("text", "json"), default="text")
    show.set_defaults(handler=run_show)


def run_list(args: argparse.Namespace) -> int:
    inventory = _common.load_inventory(args)
    if args.format == "json":
        rows = [
            {
                "name": t.name,
                "environment": t.environment,
                "tags": list(t.tags),
                "policies": list(t.policies),
                "sources": len(t.sources),
            }
            for t in inventory.targets
        ]
        _common.emit(json.dumps({"inventory": inventory.file, "targets": rows}, indent=2) + "\n", None)
        return 0
    lines = [f"inventory: {inventory.file}" + (" (embedded demo)" if inventory.embedded else "")]
    width = max((len(t.name) for t in inventory.targets), default=4)
    for t in inventory.targets:
        tags = f" [{', '.join(t.tags)}]" if t.tags else ""
        lines.append(f"{t.name:<{width}}  {t.environment:<12} {', '.join(t.policies)}{tags}")
    _common.emit("\n".join(lines) + "\n", None)
    return 0


def describe(target: Any) -> dict[str, Any]:
    return {
        "name": target.name,
        "description": target.description,
        "environment": target.environment,
        "tags": list(target.tags),
        "policies": list(target.policies),
        "names": list(target.names),
        "root": str(target.root),
        "trust_anchors": [str(p) for p in target.trust_anchors],
        "vars": dict(target.vars),
        "schedule": target.schedule,
        "ssh": None if target.ssh is None else {
            "destination": target.ssh.destination, "identity_file": str(target.ssh.identity_file or "") or None,
            "known_hosts": str(target.ssh.known_hosts), "auditor": target.ssh.command,
        },
        "agent": None if target.agent is None else {
            "key": str(target.agent.key or "") or None, "certificate": str(target.agent.certificate or "") or None,
            "chain": [str(p) for p in target.agent.chain], "trust_anchors": [str(p) for p in target.evidence_anchors],
        },
        "sources": [
            {"name": s.name, "collector": s.collector, "required": s.required, **dict(s.options)}
            for s in target.sources
        ],
    }


def run_show(args: argparse.Namespace) -> int:
    target = _common.load_inventory(args).target(args.name)
    info = describe(target)
    if args.format == "json":
        _common.emit(json.dumps(info, indent=2) + "\n", None)
        return 0
    lines = [f"{target.name}: {target.description}" if target.description else target.name]
    for key in ("environment", "tags", "policies", "names", "root", "trust_anchors", "schedule"):
        value = info[key]
        if value:
            shown = ", ".join(value) if isinstance(value, list) else value
            lines.append(f"  {key:<14} {shown}")
    if target.vars:
        lines.append(f"  {'vars':<14} {json.dumps(dict(target.vars), sort_keys=True)}")
    if target.ssh is not None:
        lines.append(f"  {'ssh':<14} {target.ssh.destination} (known hosts {target.ssh.known_hosts})")
    if target.agent is not None:
        lines.append(f"  {'agent':<14} signs with {target.agent.certificate}; workers trust "
                     f"{', '.join(str(p) for p in target.evidence_anchors)}")
    lines.append("  sources:")
    for s in info["sources"]:
        opts = {k: v for k, v in s.items() if k not in {"name", "collector", "required"}}
        req = "" if s["required"] else " (optional)"
        lines.append(f"    - {s['name']}{req}: {json.dumps(opts, sort_keys=True)}")
    _common.emit("\n".join(lines) + "\n", None)
    return 0
