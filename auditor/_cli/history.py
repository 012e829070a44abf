"""`auditor history`: the stored scans of a target; `auditor diff`: what changed between two."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from auditor._cli import _common, _history

if TYPE_CHECKING:
    from auditor._history import ScanEntry, Store
    from auditor._history.diff import Change, ScanDiff


def register(sub: Any) -> None:
    h = sub.add_parser(
        "history",
        help="list the stored scans of a target (or of every target)",
        description="List stored scans, newest first, with a trend of failures per area.",
    )
    h.add_argument("--target", "-t", metavar="NAME", help="only this target's scans")
    h.add_argument("--limit", "-n", type=int, default=20, metavar="N", help="how many scans (default: 20)")
    h.add_argument("--check", action="store_true", help="check the history's consistency instead")
    h.add_argument("--format", choices=("text", "json"), default="text")
    h.add_argument("--fix-modes", action="store_true",
                   help="make a history file others may read (e.g. 0644) private (0600)")
    _history.add_db(h)
    h.set_defaults(handler=run_history)

    d = sub.add_parser(
        "diff",
        help="compare two stored scans: new failures, fixed, still failing, changed evidence",
        description=(
            "Compare two stored scans (ids from `auditor history`). With one id, compare it with "
            "the scan of the same target before it; with none, the last two scans of --target "
            "(or of the only target in the history)."
        ),
    )
    d.add_argument("scans", metavar="SCAN", nargs="*", type=int, help="scan ids: older first")
    d.add_argument("--target", "-t", metavar="NAME", help="with no ids: the last two scans of this target")
    d.add_argument("--format", choices=("text", "json"), default="text")
    d.add_argument("-v", "--verbose", action="store_true", help="also list what still fails")
    _history.add_db(d)
    d.set_defaults(handler=run_diff)


def run_history(args: argparse.Namespace) -> int:
    from auditor.errors import ConfigError

    if args.limit < 1:
        raise ConfigError("must be at least 1", field="--limit")
    with _history.open_store(args, create=False) as store:
        if args.check:
            return _check(args, store)
        entries = store.entries(args.target, limit=args.limit)
        location = store.location
    if args.format == "json":
        doc = {"history": location, "target": args.target, "scans": [e.to_dict() for e in entries]}
        _common.emit(json.dumps(doc, indent=1, sort_keys=True) + "\n", None)
        return 0
    _common.emit(history_text(entries, location, args.target), None)
    return 0


def _check(args: argparse.Namespace, store: Store) -> int:
    problems = store.check()
    if args.format == "json":
        doc = {"history": store.location, "schema_version": store.schema_version, "problems": problems}
        _common.emit(json.dumps(doc, indent=1) + "\n", None)
    else:
        lines = [f"{store.location}: schema version {store.schema_version}, "
                 f"{'sound' if not problems else f'{len(problems)} problem(s)'}"]
        lines += [f"  {p}" for p in problems]
        _common.emit("\n".join(lines) + "\n", None)
    return 1 if problems else 0


def history_text(entries: list[ScanEntry], location: str, target: str | None) -> str:
    who = f"of {target} " if target else ""
    if not entries:
        return f"no scans {who}in {location}\n"
    head = ("id", "evaluated", "target", "origin", "exit", "problems", "fail", "pass", "waived", "error", "n/e", "n/a",
            "bundle")
    rows: list[tuple[str, ...]] = [head]
    for e in entries:
        s = e.summary.get("by_status", {})
        rows.append((
            str(e.id), e.evaluated_at, e.target, e.origin, str(e.exit_code), _problems(e),
            *(str(s.get(k, 0)) for k in ("fail", "pass", "waived", "error", "not-evaluated", "not-applicable")),
            e.bundle_digest[:12],
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = [f"scans {who}in {location}, newest first:"]
    lines += ["  " + "  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows]
    lines += _trend(entries)
    return "\n".join(lines) + "\n"


def _problems(entry: ScanEntry) -> str:
    """The scan's failing problems, or '-' for a scan stored before problems were counted."""
    value = entry.summary.get("problems")
    return "-" if value is None else str(value)


def _trend(entries: list[ScanEntry]) -> list[str]:
    """Problems (rule hits), then failures per area, across the listed scans of each target,
    oldest to newest."""
    out: list[str] = []
    for name in sorted({e.target for e in entries}):
        series = [e for e in reversed(entries) if e.target == name]
        if len(series) < 2:
            continue
        areas = sorted({a for e in series for a in e.summary.get("by_area", {})})
        out.append(f"problems of {name}, oldest to newest (scans {series[0].id}..{series[-1].id}): "
                   + " -> ".join(f"{_problems(e)} ({e.summary.get('by_status', {}).get('fail', 0)} rule hits)"
                                 for e in series))
        out.append(f"failures per area of {name}, oldest to newest:")
        width = max((len(a) for a in areas), default=4)
        for area in areas:
            counts = [str(e.summary.get("by_area", {}).get(area, {}).get("fail", 0)) for e in series]
            out.append(f"  {area:<{width}}  {' '.join(counts)}")
    return out


def run_diff(args: argparse.Namespace) -> int:
    from auditor._history.diff import diff_results
    from auditor.errors import ConfigError

    if len(args.scans) > 2:
        raise ConfigError("give at most two scan ids", field="SCAN")
    with _history.open_store(args, create=False) as store:
        if len(args.scans) == 2:
            old_id, new_id = args.scans
        elif len(args.scans) == 1:
            new_id = args.scans[0]
            before = store.previous(new_id)
            if before is None:
                raise ConfigError(f"scan {new_id} is the first of its target; nothing to compare it with")
            old_id = before.id
        else:
            old_id, new_id = _last_two(store, args.target)
        diff = diff_results(store.result(old_id), store.result(new_id), before_id=old_id, after_id=new_id)
    if args.format == "json":
        _common.emit(json.dumps(diff.to_dict(), indent=1, sort_keys=True, ensure_ascii=False) + "\n", None)
    else:
        _common.emit(diff_text(diff, verbose=args.verbose), None)
    return 0


def _last_two(store: Store, target: str | None) -> tuple[int, int]:
    from auditor.errors import ConfigError

    if target is None:
        names = store.targets()
        if len(names) != 1:
            known = ", ".join(names) or "none yet"
            raise ConfigError(f"give --target NAME or two scan ids (targets in {store.location}: {known})")
        target = names[0]
    entries = store.entries(target, limit=2)
    if len(entries) < 2:
        raise ConfigError(
            f"{target} has {len(entries)} stored scan{'s' if len(entries) != 1 else ''} in "
            f"{store.location}; a diff needs two (run `auditor scan --target {target}`)"
        )
    return entries[1].id, entries[0].id


_MARKS = {"new_failures": "+", "fixed": "-", "still_failing": "=", "changed_evidence": "~", "other_changes": "!"}
_TITLES = {
    "new_failures": "new failures",
    "fixed": "fixed",
    "still_failing": "still failing",
    "changed_evidence": "changed evidence",
    "other_changes": "other status changes",
}


def _evidence_lines(changes: tuple[Change, ...]) -> list[str]:
    """One line per resource whose evidence changed, naming the rules that read it."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for c in changes:
        key = (c.resource, ",".join(c.evidence_before) or "-", ",".join(c.evidence_after) or "-")
        groups.setdefault(key, []).append(c.rule_id)
    return [
        f"  ~ {resource}  ({old} -> {new}): {', '.join(rules)}"
        for (resource, old, new), rules in groups.items()
    ]


def _line(mark: str, c: Change, section: str) -> str:
    text = f"  {mark} {c.rule_id:<10} {c.severity.value:<8} {c.resource}"
    if section == "other_changes":
        return f"{text}  ({c.before.value if c.before else '-'} -> {c.after.value if c.after else '-'})"
    if section == "fixed" and c.after is None:
        return f"{text}  (no longer present)"
    return f"{text}  {c.message}" if section == "new_failures" else text


def diff_text(diff: ScanDiff, *, verbose: bool = False) -> str:
    a, b = diff.before, diff.after
    who = a.target if a.target == b.target else f"{a.target} -> {b.target}"
    lines = [f"{who}: scan {a.id} ({a.evaluated_at}) -> scan {b.id} ({b.evaluated_at})"]
    lines.append(f"problems {diff.problems_before} -> {diff.problems_after}, "
                 f"rule hits {diff.rule_hits_before} -> {diff.rule_hits_after}")
    if a.bundle_digest == b.bundle_digest:
        lines.append("  the same evidence bundle (only the evaluation differs)")
    for section in _MARKS:
        changes: tuple[Change, ...] = getattr(diff, section)
        if section == "still_failing" and not verbose:
            lines.append(f"{_TITLES[section]}: {len(changes)}" + (" (-v lists them)" if changes else ""))
            continue
        lines.append(f"{_TITLES[section]}: {len(changes)}")
        if section == "changed_evidence":
            lines += _evidence_lines(changes)
        else:
            lines += [_line(_MARKS[section], c, section) for c in changes]
    lines.append("trend per area (failing before -> after, passing before -> after):")
    width = max((len(t.area) for t in diff.areas), default=4)
    for t in diff.areas:
        delta = t.failing_after - t.failing_before
        arrow = "worse" if delta > 0 else "better" if delta < 0 else "same"
        lines.append(
            f"  {t.area:<{width}}  fail {t.failing_before} -> {t.failing_after} ({arrow}), "
            f"pass {t.passing_before} -> {t.passing_after}"
        )
    return "\n".join(lines) + "\n"
