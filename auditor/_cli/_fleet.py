"""`auditor scan --all` and `--tag TAG`: the CLI side of fleet runs (the work is auditor._fleet)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from auditor._cli import _common
from auditor._terminal import warn

if TYPE_CHECKING:
    from auditor._fleet import FleetResult


def add_options(parser: argparse.ArgumentParser) -> None:
    """--target, --path, or --all / --tag for a fleet run, with its concurrency and time limit."""
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--target", "-t", metavar="NAME", help="target name in the inventory")
    which.add_argument(
        "--path", metavar="PATH", nargs="+", action="extend",
        help="instead of a target: scan these Kubernetes manifest files or folders ('-' for stdin); needs --policy",
    )
    which.add_argument("--all", action="store_true", help="scan every target of the inventory")
    which.add_argument("--tag", metavar="TAG", help="scan every target with this tag")
    parser.add_argument(
        "--concurrency", "-j", type=int, default=4, metavar="N",
        help="fleet runs: targets scanned at once (default: 4)",
    )
    parser.add_argument(
        "--timeout", metavar="DURATION", default="10m",
        help="fleet runs: time limit per target, e.g. 90s or 10m (default: 10m)",
    )


def requested(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "all", False) or getattr(args, "tag", None))


def run(args: argparse.Namespace) -> int:
    from auditor._fleet import FleetOptions, SpooledRuns, TargetRun, run_fleet
    from auditor._scan import EvaluateOptions
    from auditor._timeutil import parse_duration
    from auditor.errors import ConfigError

    if args.format not in ("text", "json"):
        raise ConfigError(f"a fleet run prints text or json, not {args.format}", field="--format")
    if args.concurrency < 1:
        raise ConfigError("must be at least 1", field="--concurrency")
    if getattr(args, "bundle", None):
        raise ConfigError("--bundle writes one target's evidence; use it with --target", field="--bundle")
    timeout = parse_duration(args.timeout, what="--timeout").total_seconds()
    inventory = _common.load_inventory(args, demo_fallback=False)  # a fleet run never falls back to the demo
    if args.all:
        targets = list(inventory.targets)
    else:
        targets = inventory.with_tag(args.tag)
        if not targets:
            tags = sorted({t for target in inventory.targets for t in target.tags})
            raise ConfigError(
                f"no target has tag '{args.tag}' (tags in this inventory: {', '.join(tags) or 'none'})",
                file=inventory.file,
            )
    options = EvaluateOptions(
        policies=args.policy,
        now=_common.parse_at(args),
        fail_on=_common.fail_on(args),
        rule_paths=tuple(args.rules),
        policy_paths=tuple(args.policies),
    )
    from auditor._cli import _history
    from auditor._progress import Bar

    store = None if args.no_store else _history.open_store(args)
    with SpooledRuns() as spool:
        try:
            fleet = run_fleet(
                targets,
                options,
                FleetOptions(concurrency=args.concurrency, timeout=timeout),
                store=store,
                origin="fleet",
                progress=Bar(),
                held=spool.keep if args.format == "json" else TargetRun.summarised,  # never every result at once
            )
        finally:
            if store is not None:
                store.close()
        _common.emit(spool.document(fleet) if args.format == "json" else summary_table(fleet), args.output)
    for r in fleet.runs:
        if r.store_error:
            warn(f"auditor: warning: {r.target}: not stored in the history: {r.store_error}")
    return fleet.exit_code


def summary_table(fleet: FleetResult, *, noun: str = "target") -> str:
    """A line per run (a target of a fleet scan, or a bundle), then the worst exit code."""
    rows: list[tuple[str, ...]] = [(noun, "result", "exit", "fail", "waived", "error", "n/e", "scan", "time")]
    for r in fleet.runs:
        if r.counts is not None:
            counts = r.counts.by_status
            verdict = {0: "ready", 1: "NOT READY", 3: "INCOMPLETE", 4: "INCOMPLETE"}.get(r.exit_code, "?")
            nums: tuple[str, ...] = tuple(
                str(counts[k]) for k in ("fail", "waived", "error", "not-evaluated")
            )
        else:
            verdict = "TIMED OUT" if r.timed_out else "NOT SCANNED"
            nums = ("-",) * 4
        scan = f"#{r.scan_id}" if r.scan_id is not None else "-"
        rows.append((r.target, verdict, str(r.exit_code), *nums, scan, f"{r.seconds:.1f}s"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    for r in fleet.runs:
        if r.error:
            lines.append(f"{r.target}: {r.error}")
    worst = fleet.exit_code
    lines.append(f"{len(fleet.runs)} {noun}{'s' if len(fleet.runs) != 1 else ''}; exit code {worst} (the worst of the {noun}s)")
    return "\n".join(lines) + "\n"

