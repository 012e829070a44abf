"""`auditor secrets scan|detectors|key|migrate-baseline`: find leaked secrets in files and git history."""

from __future__ import annotations

from pathlib import Path

from auditor._secrets import ENGINES

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (see auditor._cli._replay)

if TYPE_CHECKING:
    import argparse
    from typing import Any

    from auditor._secrets.memo import Memo


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
    scan = ssub.add_parser("scan", help="scan PATHs (exit 1 when a secret is found, 3 when a file could not be read whole)")
    scan.add_argument("paths", nargs="+", metavar="PATH", type=Path,
                      help="files and folders (searched recursively) to scan")
    scan.add_argument("--git", action="store_true", help="also scan the history of the git repositories among PATHs and inside them (and a PATH's part of one it lies in)")
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
    scan.add_argument("--follow-links", action="store_true",
                      help="follow symbolic links in folders too, each folder walked once (a PATH that is a link "
                           "is always followed); NixOS links /etc into /nix/store")
    scan.add_argument("--jobs", "-j", metavar="N", type=int, default=0, help="worker processes (default: CPUs)")
    scan.add_argument("--no-git-cache", action="store_true",
                      help="with --git: read every object again instead of only those new since the last run")
    scan.set_defaults(handler=run_scan)
    key = ssub.add_parser("key", help="show the fingerprint key file and its id (creating the key if missing)",
                          description="Fingerprints are HMAC-SHA-256 under this key: copy the file (mode 0600) to "
                                      "every machine of a fleet, or point AUDITOR_FINGERPRINT_KEY_FILE at it, so "
                                      "fingerprints compare. The key itself is never printed.")
    key.set_defaults(handler=run_key)
    mig = ssub.add_parser("migrate-baseline", help="rewrite a baseline's old sha256: fingerprints as HMAC ones",
                          description="Scan PATHs as the baseline was written for, and replace each old-form "
                                      "fingerprint (sha256:, 12 hex digits) with the finding's HMAC fingerprint. "
                                      "Entries whose secret is no longer found are kept as they are.")
    mig.add_argument("baseline", metavar="BASELINE", type=Path)
    mig.add_argument("paths", nargs="+", metavar="PATH", type=Path)
    mig.add_argument("--git", action="store_true", help="also scan the history of the git repositories among PATHs and inside them (and a PATH's part of one it lies in)")
    mig.add_argument("-o", "--output", metavar="FILE", type=Path, help="write here (default: rewrite BASELINE)")
    mig.set_defaults(handler=run_migrate)
    det = ssub.add_parser("detectors", help="list the built-in detectors")
    det.add_argument("--format", choices=("text", "json"), default="text")
    det.set_defaults(handler=run_detectors)


def run_scan(args: argparse.Namespace, missed: Memo | None = None) -> int:
    """`secrets scan`; `missed`: this scan's memo, looked up in vain already (by `replay`)."""
    from auditor._exitcodes import ExitCode

    if args.jobs < 0:
        from auditor.errors import ConfigError

        raise ConfigError("--jobs must be 0 (all CPUs) or more")
    memo = missed or _memo(args)
    if memo is not None and missed is None:
        replayed = _print_kept(args, memo)
        if replayed is not None:
            return replayed
    request, engines = _request(args)
    if args.write_baseline:
        import json

        from auditor._fsutil import atomic_write
        from auditor._secrets.suppress import Baseline

        found = _run(request, engines)
        doc = Baseline.document([*found.leaks, *found.also])  # a secret in history: at every path it was added at
        atomic_write(args.write_baseline, (json.dumps(doc, indent=2) + "\n").encode())
        print(f"wrote {args.write_baseline}: {len(doc['accepted'])} accepted findings", flush=True)
        return int(ExitCode.OK)
    rendered: dict[str, Any] = {}
    code, document, unreadable = _scan(args, request, engines, rendered)
    _emit(args, document)
    if memo is not None and not unreadable:
        def again() -> tuple[int, bytes] | None:
            code, document, unreadable = _scan(args, request, engines, rendered)
            return None if unreadable else (code, document)

        memo.settle(code, document, again)
    if code == ExitCode.COLLECTION_FAILED:  # the scan is incomplete: saying "nothing found" would be a lie
        from auditor._terminal import warn

        for u in unreadable:
            warn(f"auditor: error: {u}: not scanned")
    return code


_PLAIN_OPTIONS = {"--format": "format", "-o": "output", "--output": "output", "--exclude": "exclude",
                  "--jobs": "jobs", "-j": "jobs", "--engine": "engine"}
"""The options `replay` reads itself (each followed by its value as a separate word)."""


def replay(words: list[str]) -> int | None:
    """`auditor secrets scan WORDS` answered from its kept report without building the command
    line's parser (`auditor._cli._replay`): the exit code, or None to run the command as usual.
    When the kept report does not hold, the scan runs from here (the state told once)."""
    args = plain_args(words)
    memo = _memo(args) if args is not None else None
    if memo is None:
        return None
    replayed = _print_kept(args, memo)
    if replayed is not None:
        return replayed
    from auditor._cli import build_parser

    return run_scan(build_parser("secrets").parse_args(["secrets", "scan", *words]), missed=memo)


def plain_args(words: list[str]) -> Any:
    """The options of `auditor secrets scan WORDS` as the parser would give them, when WORDS
    are in the plain form, else None. The plain form is a strict part of what the parser
    accepts, with the same meaning (a test holds them together): one PATH and `--git`,
    `--format F`, `-o/--output FILE`, `--exclude GLOB`, `-j/--jobs N`, `--engine E`, each
    option and its value as two words, no value starting with `-`, no option given twice
    but --exclude and --engine. Anything else (an `=`, an abbreviation, --help, another
    option, a second PATH) is left to the parser."""
    ns: dict[str, Any] = {"paths": [], "git": False, "format": "text", "output": None, "exclude": [], "jobs": 0,
                          "engine": [], "config": None, "baseline": [], "rules": [], "write_baseline": None,
                          "no_git_cache": False, "follow_links": False}
    given: set[str] = set()
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--git":
            ns["git"] = True
            i += 1
            continue
        name = _PLAIN_OPTIONS.get(word)
        if name is None:
            if not word or word.startswith("-"):
                return None
            ns["paths"].append(Path(word))
            i += 1
            continue
        value = words[i + 1] if i + 1 < len(words) else ""
        if not value or value.startswith("-"):
            return None
        if name in ("exclude", "engine"):
            if name == "engine" and value not in ENGINES.names():
                return None
            ns[name].append(value)
        elif name in given or (name == "format" and value not in ("text", "json")) or (
                name == "jobs" and not (value.isascii() and value.isdigit())):
            return None
        else:
            given.add(name)
            ns[name] = int(value) if name == "jobs" else value
        i += 2
    if len(ns["paths"]) != 1:
        return None
    from types import SimpleNamespace

    return SimpleNamespace(**ns)


def _memo(args: Any) -> Memo | None:
    """The kept report of this scan (`auditor._secrets.memo`), or None when none is kept for
    such a scan: only one repository with --git and the history cache, no configuration,
    baselines, rules or other engine. (`args`: the parser's namespace, or `replay`'s.)"""
    if not (args.git and len(args.paths) == 1 and not args.no_git_cache and args.config is None
            and not args.baseline and not args.rules and not args.write_baseline and not args.follow_links
            and args.engine in ([], [ENGINES.names()[0]])):
        return None
    from auditor._secrets.memo import Memo

    options = ["secrets scan", str(args.paths[0]), args.format, args.exclude, args.jobs, args.engine]
    return Memo.open(args.paths[0], base=Path.cwd(), options=options, exclude=args.exclude)


def _print_kept(args: Any, memo: Memo) -> int | None:
    """When nothing moved since a run printed the kept report of this scan: print it again and
    give its exit code; else None."""
    kept = memo.lookup()
    if kept is None:
        return None
    _emit(args, kept[1])
    return kept[0]


def _request(args: argparse.Namespace) -> tuple[Any, list[str]]:
    from auditor._secrets import prepare

    request = prepare(
        list(args.paths), base=Path.cwd(), config=args.config, baselines=args.baseline,
        rules=args.rules, exclude=args.exclude, git=args.git, jobs=args.jobs, git_cache=not args.no_git_cache,
        root=Path("/") if args.follow_links else None,  # this machine's links, as a node's are followed in its tree
    )
    if request.suppress.legacy:
        from auditor._terminal import warn

        warn("auditor: note: a baseline or allowlist holds old-form fingerprints (sha256:...); they still match, "
             "`auditor secrets migrate-baseline BASELINE PATH...` rewrites a baseline")
    return request, args.engine or [ENGINES.names()[0]]


def _emit(args: Any, document: bytes) -> None:
    """Print a report as `_scan` made it: JSON as it is (json.dumps escapes every control
    character and all that is not ASCII: nothing for emit's terminal guard to do, and searching
    a large report for one costs milliseconds), text through the terminal guard."""
    from auditor._cli._common import emit

    emit(document if args.format == "json" else document.decode(), args.output)


def _run(request: Any, engines: list[str]) -> Any:
    """The engines' report; on a terminal, with a progress line of what has been read (files,
    git objects, bytes) once the scan takes over a second (auditor._progress)."""
    from auditor._progress import Waiting, wanted
    from auditor._secrets.engines import run_engines

    if not wanted():
        return run_engines(engines, request)
    import dataclasses

    from auditor._secrets.model import Tally

    tally = Tally()
    with Waiting(tally.line):
        return run_engines(engines, dataclasses.replace(request, tally=tally))


def _scan(args: argparse.Namespace, request: Any, engines: list[str],
          rendered: dict[str, Any] | None = None) -> tuple[int, bytes, list[str]]:
    """Scan, and render the report: (exit code, report, the files that could not be read, or not
    whole).
    `rendered` keeps the findings and their rendered lines for a scan made again: findings
    equal to the last (every field) are the same lines, not rendered twice."""
    import json  # here: a kept report printed again (`replay`) needs no json

    from auditor._exitcodes import ExitCode
    from auditor._redact import key_id

    report = _run(request, engines)
    leaks = report.sorted_leaks()
    same = rendered is not None and rendered.get("leaks") == leaks
    if args.format == "json":
        # one finding a line: readable, and encoded by json's C encoder (indent= is pure Python)
        head = json.dumps({"format": "auditor-secrets-report", "version": 1, "engines": engines,
                           "fingerprint_key": key_id(), "stats": report.stats.to_dict()})
        rows = rendered["lines"] if rendered is not None and same else ",\n  ".join(json.dumps(x.to_dict()) for x in leaks)
        if rendered is not None:
            rendered.update(leaks=leaks, lines=rows)
        text = head[:-1] + (', "findings": [\n  ' + rows + "\n]}\n" if rows else ', "findings": []}\n')
    else:
        real = _leaks(leaks)
        protected = sum(1 for x in leaks if x.protected)
        lines = list(rendered["lines"]) if rendered is not None and same else [
            f"{x.location}: {x.rule} [{_mark(x)}] {x.preview} {x.fingerprint}"
            + (f" ({x.engine})" if x.engine != "auditor" else "") + _more(x) for x in leaks]
        if rendered is not None:
            rendered.update(leaks=leaks, lines=list(lines))
        s = report.stats
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(s.skipped.items()))
        if "symlink" in s.skipped and not args.follow_links:
            skipped += " (--follow-links follows links in folders)"
        examples = sum(1 for x in leaks if x.category == "example")
        lines.append(
            f"{len(real)} finding(s) in {s.files_scanned} files ({s.bytes_scanned} bytes"
            + (f"; {s.files_known} unchanged since the git history or the last scan read them, not scanned again"
               if s.files_known else "") + ")"
            + (f", {protected} protected key file(s)" if protected else "")
            + (f", {examples} vendor example(s)" if examples else "")
            + (f", {s.blobs_scanned} git blobs" if s.blobs_scanned else "")
            + (f" ({s.blobs_reused} already scanned)" if s.blobs_reused else "")
            + (f", {s.commits_scanned} commit messages" if s.commits_scanned else "")
            + (f", {s.tags_scanned} tags" if s.tags_scanned else "")
            + (f"; skipped {skipped}" if skipped else "")
            + (f"; {s.suppressed} accepted" if s.suppressed else "")
            + (f"; {len(s.unreadable)} unreadable" if s.unreadable else "")
        )
        lines.extend(f"  unreadable: {u}" for u in s.unreadable)
        lines.extend(f"  not scanned: {u}" for u in s.not_scanned)
        lines.extend(f"  never opened: {u}" for u in s.special)
        text = "\n".join(lines) + "\n"
    incomplete = [*report.stats.unreadable, *report.stats.not_scanned]  # not read, or not whole
    if _leaks(leaks):
        code = ExitCode.FINDINGS
    elif incomplete:
        code = ExitCode.COLLECTION_FAILED
    else:
        code = ExitCode.OK
    return int(code), text.encode(), incomplete


def _leaks(leaks: Any) -> list[Any]:
    """The findings that are leaks: vendor examples and protected key files are listed, not counted
    (the judgement SEC-001 to SEC-004 make, through Leak.protected)."""
    return [x for x in leaks if x.category != "example" and not x.protected]


def _more(leak: Any) -> str:
    """For a secret the file holds more than once: how often, and where first."""
    if leak.occurrences == 1:
        return ""
    lines = ", ".join(map(str, leak.lines))
    return f" ({leak.occurrences} times in the file: line{'s' if len(leak.lines) > 1 else ''} {lines}" \
        + (", ...)" if leak.occurrences > len(leak.lines) else ")")


def _mark(leak: Any) -> str:
    mark = "example" if leak.category == "example" else "protected key file" if leak.protected else leak.confidence
    encoding = leak.details.get("encoding") if leak.details else None
    return f"{mark}, {encoding}-encoded" if encoding else str(mark)


def run_key(args: argparse.Namespace) -> int:
    from auditor._redact import key_id, key_path

    key_id()  # creates the key if there is none yet
    from auditor._cli._common import emit

    emit(f"{key_path()}\nkey id {key_id()}\n", None)
    return 0


def run_migrate(args: argparse.Namespace) -> int:
    import json

    from auditor._fsutil import atomic_write
    from auditor._redact import is_legacy_fingerprint
    from auditor._secrets import prepare
    from auditor._secrets.engines import run_engines
    from auditor._secrets.suppress import Baseline, load_baseline

    old = load_baseline(args.baseline)
    request = prepare(list(args.paths), base=Path.cwd(), git=args.git)
    request.scanner.legacy_fingerprints = True  # type: ignore[union-attr]
    report = run_engines(["auditor"], request)
    new_of = {(x.rule, x.path, x.legacy): x.fingerprint for x in report.leaks if x.legacy}
    keys, migrated, left = set(), 0, 0
    for rule, file, fpr in old.keys:
        if is_legacy_fingerprint(fpr):
            if (rule, file, fpr) in new_of:
                fpr, migrated = new_of[(rule, file, fpr)], migrated + 1
            else:
                left += 1
        keys.add((rule, file, fpr))
    doc = Baseline.document(keys=keys)
    target = args.output or args.baseline
    atomic_write(target, (json.dumps(doc, indent=2) + "\n").encode())
    print(f"wrote {target}: {migrated} fingerprint(s) migrated, {left} old-form fingerprint(s) whose secret was "
          f"not found kept as they were, {len(keys)} accepted findings", flush=True)
    return 0


def run_detectors(args: argparse.Namespace) -> int:
    import json

    from auditor._secrets.detectors import builtin_detectors

    rows: list[dict[str, object]] = [
        {"id": d.id, "category": d.category, "description": d.description,
         "base64": {"starts": [w.decode() for w in d.starts], "words": [w.decode() for w in d.words]}}
        for d in builtin_detectors()]
    from auditor._cli._common import emit

    rows.append({"id": "sops-plaintext", "category": "sops-plaintext",
                 "description": "a value left in plaintext in a sops-encrypted file that looks like a secret",
                 "base64": {"starts": [], "words": []}})
    if args.format == "json":
        emit(json.dumps(rows, indent=2) + "\n", None)
    else:
        width = max(len(str(r["id"])) for r in rows)
        emit("".join(f"{r['id']:<{width}}  {r['description']}\n" for r in rows), None)
    return 0
