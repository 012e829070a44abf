"""`auditor waivers`: the waivers of the inventory's policy packs and those about to lapse."""

from __future__ import annotations

import argparse
import json
from typing import Any

from auditor._cli import _common


def register(sub: Any) -> None:
    p = sub.add_parser(
        "waivers",
        help="list waivers and those about to lapse or lapsed",
        description=(
            "List the waivers of the policy packs the inventory's targets use, soonest to lapse "
            "first. With --expiring, only those lapsing within that time and those already expired."
        ),
    )
    _common.add_inventory(p, demo_fallback=False)
    _common.add_catalog(p)
    p.add_argument(
        "--expiring", metavar="DURATION",
        help="only waivers lapsing within this time (e.g. 14d) or already expired",
    )
    p.add_argument("--target", "-t", metavar="NAME", help="only waivers applying to this target")
    p.add_argument("--at", metavar="TIME", help="as of this time (RFC 3339 or YYYY-MM-DD; default: now)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(handler=run_waivers)


def run_waivers(args: argparse.Namespace) -> int:
    import datetime as dt

    from auditor._timeutil import parse_duration, utcnow
    from auditor._waivers import waiver_states

    inventory = _common.load_inventory(args)
    if args.target:
        inventory.target(args.target)
    catalog = _common.load_catalog(args, inventory)
    now = _common.parse_at(args) or utcnow()
    window = parse_duration(args.expiring, what="--expiring") if args.expiring else dt.timedelta(days=14)
    states = waiver_states(inventory, catalog, now=now, window=window)
    if args.target:
        states = [s for s in states if args.target in s.targets]
    if args.expiring:
        states = [s for s in states if s.state != "active"]
    if args.format == "json":
        doc = {"as_of": now.date().isoformat(), "window_days": window.days, "waivers": [s.to_dict() for s in states]}
        _common.emit(json.dumps(doc, indent=1, sort_keys=True) + "\n", None)
        return 0
    if not states:
        what = f"lapsing within {window.days} days or expired" if args.expiring else "in the inventory's policy packs"
        _common.emit(f"no waivers {what}\n", None)
        return 0
    lines = []
    for s in states:
        w = s.waiver
        when = (
            f"EXPIRED {-s.days_left} day(s) ago" if s.state == "expired"
            else f"expires in {s.days_left} day(s)" if s.state == "expiring"
            else f"active, {s.days_left} days left"
        )
        lines.append(f"{w.expires}  {when:<26} {w.describe()}")
        lines.append(f"    {w.policy}; approved by {w.approver}; targets: {', '.join(s.targets)}")
        lines.append(f"    {w.reason}")
    counts = {k: sum(1 for s in states if s.state == k) for k in ("expired", "expiring", "active")}
    lines.append(
        f"{len(states)} waiver(s): {counts['expired']} expired, {counts['expiring']} expiring within "
        f"{window.days} days, {counts['active']} active"
    )
    _common.emit("\n".join(lines) + "\n", None)
    return 0
