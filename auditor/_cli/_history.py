"""Storing results in the history from `scan` and `evaluate`: the `--db`/`--no-store` options."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from auditor._terminal import warn

if TYPE_CHECKING:
    from auditor._history import Store
    from auditor._models import RedactedResult


def add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", metavar="PATH|URL",
        help="scan history: an SQLite file or a postgresql:// URL (default: $AUDITOR_DB, else "
        "history.sqlite in $XDG_DATA_HOME/auditor or ~/.local/share/auditor)",
    )


def add_store(parser: argparse.ArgumentParser) -> None:
    add_db(parser)
    parser.add_argument("--no-store", action="store_true", help="do not store the result in the history")


def open_store(args: argparse.Namespace, *, create: bool = True) -> Store:
    """The history of `--db`; a file looser than 0600 is reported on stderr (or, with
    `--fix-modes`, made 0600)."""
    from auditor._history import open_store as open_
    from auditor._history.sqlite import SQLiteStore
    from auditor._terminal import warn

    store = open_(getattr(args, "db", None), create=create)
    if isinstance(store, SQLiteStore) and store.loose_mode is not None:
        if getattr(args, "fix_modes", False):
            for path in store.fix_modes():
                warn(f"auditor: made {path} 0600")
        else:
            warn(f"auditor: warning: the history {store.location} has mode {store.loose_mode:04o}: "
                 "others may read the findings; `auditor history --fix-modes` makes it 0600")
    return store


def will_store(args: argparse.Namespace, result: RedactedResult) -> None:
    """Before `result` is printed: when it is to be stored as well, its findings' JSON lines
    are made once for both (auditor._render.json.keep_finding_lines)."""
    if not getattr(args, "no_store", False) and getattr(args, "format", None) == "json":
        from auditor._render.json import keep_finding_lines

        keep_finding_lines(result)


def stored(args: argparse.Namespace, result: RedactedResult, *, origin: str) -> int:
    """Store `result` unless --no-store; return the scan's exit code. Called after the result
    is printed: a storage failure is reported on stderr and changes nothing else (the exit
    code stays the scan's)."""
    from auditor._exitcodes import result_exit_code

    code = result_exit_code(result)
    if not getattr(args, "no_store", False):
        _store(args, result, origin=origin, exit_code=code)
    return code


def _store(args: argparse.Namespace, result: RedactedResult, *, origin: str, exit_code: int) -> None:
    from auditor.errors import AuditorError

    try:
        with open_store(args) as store:
            scan_id = store.save(result, origin=origin, exit_code=exit_code)
            where = store.location
    except AuditorError as exc:
        warn(f"auditor: warning: the result was not stored in the history: {exc.diagnostics()}")
        return
    warn(f"auditor: stored as scan {scan_id} in {where}")
