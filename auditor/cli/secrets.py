"""`auditor secrets scan|detectors`: find leaked secrets in files and git history."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from auditor.cli import _common
from auditor.secrets import ENGINES


def register(sub: Any) -> None:
    p = sub.add_parser(
        "secrets",
        help="find leaked secrets (nkey seeds, .creds, private keys, tokens, passwords) in files",
        description=(
            "Scan files, folders and git history for leaked secrets. A secret is never printed: "
            "findings show the rule, file:line:column, a redacted preview and a fingerprint."
        ),
    )
    ssub = p.add_subparsers(dest="secrets_command", metavar="ACTION", required=True)
    scan = ssub.add_parser("scan", help="scan PATHs (exit 1 when a secret is found)")
    scan.add_argument("paths", nargs="+", metavar="PATH", type=Path)
    scan.add_argument("--git", action="store_true", help="also scan the history of git repositories among PATHs")
    scan.add_argument("--format", choices=("text", "json"), default="text")
    scan.add_argument("-o", "--output", metavar="FILE", help="write the report here instead of stdout")
    scan.add_argument("--engine", action="append", choices=ENGINES.names(), default=[],
                      help="scanning engine; repeat to merge several (default: auditor)")
    scan.add_argument("--config", metavar="FILE", type=Path,
                      help="scan configuration: allowlist, exclude, custom rules, baseline (see docs/secrets.md)")
    scan.add_argument("--baseline", metavar="FILE", type=Path, action="append", default=[],
                      help="accepted findings (JSON written by --write-baseline); repeatable")
    scan.add_argument("--write-baseline", metavar="FILE", type=Path,
                      help="write every finding of this scan as accepted, then exit 0")
    scan.add_argument("--rules", metavar="FILE", type=Path, action="append", default=[],
                      help="custom rules in trufflehog3's rules.yml format; repeatable")
    scan.add_argument("--exclude", metavar="GLOB", action="append", default=[], help="paths not to read; repeatable")
    scan.add_argument("--jobs", "-j", metavar="N", type=int, default=0, help="worker processes (default: CPUs)")
    scan.set_defaults(handler=run_scan)
    det = ssub.add_parser("detectors", help="list the built-in detectors")
    det.add_argument("--format", choices=("text", "json"), default="text")
    det.set_defaults(handler=run_detectors)


def run_scan(args: argparse.Namespace) -> int:
    from auditor.exitcodes import ExitCode
    from auditor.fsutil import atomic_write
    from auditor.secrets import prepare
    from auditor.secrets.engines import run_engines
    from auditor.secrets.suppress import Baseline

    if args.jobs < 0:
        from auditor.errors import ConfigError

        raise ConfigError("--jobs must be 0 (all CPUs) or more")
    request = prepare(
        list(args.paths), base=Path.cwd(), config=args.config, baselines=args.baseline,
        rules=args.rules, exclude=args.exclude, git=args.git, jobs=args.jobs,
    )
    engines = args.engine or [ENGINES.names()[0]]
    report = run_engines(engines, request)
    leaks = report.sorted_leaks()
    if args.write_baseline:
        doc = Baseline.document(leaks)
        atomic_write(args.write_baseline, (json.dumps(doc, indent=2) + "\n").encode())
        print(f"wrote {args.write_baseline}: {len(doc['accepted'])} accepted findings", flush=True)
        return int(ExitCode.OK)
    if args.format == "json":
        text = json.dumps(
            {"format": "auditor-secrets-report", "version": 1, "engines": engines,
             "stats": report.stats.to_dict(), "findings": [x.to_dict() for x in leaks]},
            indent=2,
        ) + "\n"
    else:
        lines = [f"{x.location}: {x.rule} [{x.confidence}] {x.preview} {x.fingerprint}"
                 + (f" ({x.engine})" if x.engine != "auditor" else "") for x in leaks]
        s = report.stats
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(s.skipped.items()))
        lines.append(
            f"{len(leaks)} finding(s) in {s.files_scanned} files ({s.bytes_scanned} bytes)"
            + (f", {s.blobs_scanned} git blobs" if s.blobs_scanned else "")
            + (f"; skipped {skipped}" if skipped else "")
            + (f"; {s.suppressed} accepted" if s.suppressed else "")
            + (f"; {len(s.unreadable)} unreadable" if s.unreadable else "")
        )
        lines.extend(f"  unreadable: {u}" for u in s.unreadable)
        text = "\n".join(lines) + "\n"
    _common.emit(text, args.output)
    return int(ExitCode.FINDINGS) if leaks else int(ExitCode.OK)


def run_detectors(args: argparse.Namespace) -> int:
    from auditor.secrets.detectors import builtin_detectors

    rows = [{"id": d.id, "category": d.category, "description": d.description} for d in builtin_detectors()]
    rows.append({"id": "sops-plaintext", "category": "sops-plaintext",
                 "description": "a value left in plaintext in a sops-encrypted file that looks like a secret"})
    if args.format == "json":
        _common.emit(json.dumps(rows, indent=2) + "\n", None)
    else:
        width = max(len(r["id"]) for r in rows)
        _common.emit("".join(f"{r['id']:<{width}}  {r['description']}\n" for r in rows), None)
    return 0
