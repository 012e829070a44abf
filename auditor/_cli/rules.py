"""`auditor rules list|show|validate` and `auditor policies list|show`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from auditor._cli import _common


def register(sub: Any) -> None:
    p = sub.add_parser("rules", help="list, show or validate rules")
    rsub = p.add_subparsers(dest="rules_command", metavar="ACTION", required=True)
    lst = rsub.add_parser("list", help="id, area, severity and title of each rule")
    lst.add_argument("--format", choices=("text", "json"), default="text")
    lst.add_argument("--area", help="only rules of this area")
    lst.add_argument("--policy", metavar="PACK", help="only the rules this pack selects")
    _common.add_catalog(lst)
    lst.set_defaults(handler=run_list)
    show = rsub.add_parser("show", help="everything about one rule")
    show.add_argument("id", metavar="ID")
    show.add_argument("--format", choices=("text", "json"), default="text")
    _common.add_catalog(show)
    show.set_defaults(handler=run_show)
    val = rsub.add_parser(
        "validate",
        help="check rule and policy files: schema, CEL, duplicate ids, unknown params",
        description=(
            "Validate rule and policy files without running anything. With no PATH, the "
            "built-in rules and policies; with PATHs (files or folders), those, checked "
            "together with the built-in ones (so ids must not clash). Exit 2 on any error."
        ),
    )
    val.add_argument("paths", nargs="*", metavar="PATH", type=Path)
    val.set_defaults(handler=run_validate)

    fields = rsub.add_parser(
        "fields",
        help="the evidence fields rules may read, per kind",
        description="The evidence kinds (without KIND), or every field of one kind a rule may read, "
        "with its type: `a[]` is an element of list `a`, `a{}` a value of map `a` (any key).",
    )
    fields.add_argument("kind", nargs="?", metavar="KIND", help="e.g. x509.certificate")
    fields.add_argument("--format", choices=("text", "json"), default="text")
    fields.set_defaults(handler=run_fields)

    pol = sub.add_parser("policies", help="list or show policy packs")
    psub = pol.add_subparsers(dest="policies_command", metavar="ACTION", required=True)
    plist = psub.add_parser("list", help="the available policy packs")
    plist.add_argument("--format", choices=("text", "json"), default="text")
    _common.add_catalog(plist)
    plist.set_defaults(handler=run_policies_list)
    pshow = psub.add_parser("show", help="a pack's rules, overrides and waivers")
    pshow.add_argument("id", metavar="PACK")
    pshow.add_argument("--format", choices=("text", "json"), default="text")
    _common.add_catalog(pshow)
    pshow.set_defaults(handler=run_policies_show)


def run_list(args: argparse.Namespace) -> int:
    from auditor.errors import ConfigError

    catalog = _common.load_catalog(args)
    rules = sorted(catalog.rules.values(), key=lambda r: r.id)
    if args.area:
        areas = {r.area for r in rules}
        if args.area not in areas:
            raise ConfigError(f"unknown area '{args.area}' (areas: {', '.join(sorted(areas))})")
        rules = [r for r in rules if r.area == args.area]
    if args.policy:
        chosen = {e.id for e in catalog.resolve([args.policy]).rules}
        rules = [r for r in rules if r.id in chosen]
    if args.format == "json":
        _common.emit(json.dumps([r.summary() for r in rules], indent=2) + "\n", None)
        return 0
    lines = [f"{r.id:<12} {r.area:<13} {r.severity.value:<9} {r.title}" for r in rules]
    lines.append(f"{len(rules)} rules")
    _common.emit("\n".join(lines) + "\n", None)
    return 0


def run_show(args: argparse.Namespace) -> int:
    from auditor.errors import ConfigError

    catalog = _common.load_catalog(args)
    rule = catalog.rules.get(args.id)
    if rule is None:
        raise ConfigError(f"unknown rule '{args.id}' (see `auditor rules list`)")
    if args.format == "json":
        _common.emit(json.dumps({**rule.definition, "file": rule.file}, indent=2, default=str) + "\n", None)
        return 0
    d = rule.definition
    lines = [
        f"{rule.id}  {rule.title}",
        f"  area        {rule.area}",
        f"  severity    {rule.severity.value}",
        f"  applies to  {rule.kind} ({rule.mode})" + (f" where {rule.filter.source}" if rule.filter else ""),
        f"  condition   {' '.join(rule.condition.source.split())}",
        f"  message     {rule.message.source.strip()}",
    ]
    if rule.params:
        lines.append(f"  params      {json.dumps(dict(rule.params), sort_keys=True)}")
    if rule.tags:
        lines.append(f"  tags        {', '.join(rule.tags)}")
    for key in ("description", "rationale", "remediation"):
        lines.append(f"  {key}:")
        lines.extend(f"    {line}" for line in str(d[key]).strip().splitlines())
    lines.append("  references:")
    for kind, refs in rule.references.items():
        for ref in refs:
            text = ""
            if kind == "checklist":
                item = next((c.item(ref) for c in catalog.checklists.values() if c.item(ref)), None)
                text = f" — {item.text}" if item else ""
            lines.append(f"    {kind}: {ref}{text}")
    lines.append(f"  file        {rule.file}")
    _common.emit("\n".join(lines) + "\n", None)
    return 0


def run_fields(args: argparse.Namespace) -> int:
    import difflib

    from auditor.errors import ConfigError
    from auditor.evidence._schema import fields
    from auditor.evidence.kinds import KINDS

    if not args.kind:
        kinds = sorted(KINDS)
        text = json.dumps(kinds, indent=2) + "\n" if args.format == "json" else "\n".join(kinds) + "\n"
        _common.emit(text, None)
        return 0
    if args.kind not in KINDS:
        near = difflib.get_close_matches(args.kind, list(KINDS), n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(near)}?" if near else "`auditor rules fields` lists them"
        raise ConfigError(f"unknown evidence kind '{args.kind}' ({hint})")
    rows = fields(args.kind)
    if args.format == "json":
        doc = [{"path": f.path, "type": f.type, "description": f.description} for f in rows]
        _common.emit(json.dumps(doc, indent=2) + "\n", None)
        return 0
    width = max(len(f.path) for f in rows)
    lines = [f"{f.path:<{width}}  {f.type}" + (f"  — {f.description}" if f.description else "") for f in rows]
    _common.emit("\n".join(lines) + "\n", None)
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from auditor._exitcodes import ExitCode
    from auditor._fsutil import read_user_bytes
    from auditor._policy.catalog import Catalog, yaml_files
    from auditor._terminal import warn
    from auditor.errors import ConfigError

    rule_paths: list[Path] = []
    policy_paths: list[Path] = []
    problems: list[ConfigError] = []
    for path in args.paths:
        try:
            found = yaml_files(path)
        except ConfigError as exc:
            problems.append(exc)
            continue
        if not found:
            problems.append(ConfigError("no rule or policy files (*.yaml, *.yml) in this folder", file=path))
        # a file (or folder) is a policy pack if it says so with a top-level `select:`
        for f in found:
            try:
                head = read_user_bytes(f, limit="yaml-bytes", what="rule or policy file").decode("utf-8", "replace")
            except ConfigError as exc:
                problems.append(exc)
                continue
            (policy_paths if "\nselect:" in "\n" + head else rule_paths).append(f)
    catalog = Catalog.load(rule_paths, policy_paths, strict=False)
    for err in [*problems, *catalog.errors]:
        warn(f"auditor: error: {err.diagnostics()}")
    n_err = len(catalog.errors) + len(problems)
    checked = f"{len(catalog.rules)} rules, {len(catalog.packs)} policy packs"
    if n_err:
        warn(f"{n_err} error{'s' if n_err != 1 else ''} ({checked} loaded)")
        return int(ExitCode.USAGE)
    print(f"ok: {checked}, {len(catalog.checklists)} checklists")
    return int(ExitCode.OK)


def run_policies_list(args: argparse.Namespace) -> int:
    catalog = _common.load_catalog(args)
    rows = []
    for pack in sorted(catalog.packs.values(), key=lambda p: p.id):
        n = len(catalog.resolve([pack.id]).rules)
        rows.append({"id": pack.id, "title": pack.title, "rules": n, "waivers": len(pack.waivers), "file": pack.file})
    if args.format == "json":
        _common.emit(json.dumps(rows, indent=2) + "\n", None)
        return 0
    lines = [f"{r['id']:<18} {r['rules']:>4} rules  {r['waivers']:>2} waivers  {r['title']}" for r in rows]
    _common.emit("\n".join(lines) + "\n", None)
    return 0


def run_policies_show(args: argparse.Namespace) -> int:
    catalog = _common.load_catalog(args)
    pack = catalog.pack(args.id)
    resolved = catalog.resolve([args.id])
    if args.format == "json":
        info = {
            "id": pack.id,
            "title": pack.title,
            "description": pack.description,
            "checklist": pack.checklist,
            "fail_on": pack.fail_on.value if pack.fail_on else None,
            "rules": [
                {"id": e.id, "severity": e.severity.value, "params": dict(e.params)} for e in resolved.rules
            ],
            "waivers": [w.to_dict() for w in pack.waivers],
            "file": pack.file,
        }
        _common.emit(json.dumps(info, indent=2) + "\n", None)
        return 0
    lines = [f"{pack.id}: {pack.title}", f"  file: {pack.file}"]
    if pack.description:
        lines.append(f"  {pack.description}")
    if pack.fail_on:
        lines.append(f"  fail on: {pack.fail_on.value}")
    lines.append(f"  rules ({len(resolved.rules)}):")
    for e in resolved.rules:
        changed = " (severity overridden)" if e.severity != e.rule.severity else ""
        params = f" params {json.dumps(dict(e.params), sort_keys=True)}" if e.params else ""
        lines.append(f"    {e.id:<12} {e.severity.value:<9}{changed}{params}")
    if pack.waivers:
        lines.append(f"  waivers ({len(pack.waivers)}):")
        for w in pack.waivers:
            lines.append(f"    {w.describe()} until {w.expires} by {w.approver}: {w.reason}")
    _common.emit("\n".join(lines) + "\n", None)
    return 0
