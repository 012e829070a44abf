"""Storing results in the history from `scan` and `evaluate`: the `--db`/`--no-store` options."""

from __future__ import annotations

import argparse
import threading
from typing import TYPE_CHECKING

from auditor._terminal import warn

if TYPE_CHECKING:
    from collections.abc import Callable

    from auditor._history import Store
    from auditor._models import RedactedResult
    from auditor.errors import AuditorError


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


class Storing:
    """Storing a result in the history while it is printed: unless --no-store, a thread opens
    the history and writes the scan's rows in one transaction (SQLite and zlib let go of the
    interpreter while they work), then waits for `done` (the output written) to commit it. An
    output that fails (`abandon`) rolls it back: as before, a result is stored only once
    printed. The thread holds the history's write lock while it waits, at most WAIT seconds
    (a slow reader of the output); past that it rolls back and `done` stores the result then,
    as a plain store would. A storage failure is reported on stderr by `done` and changes
    nothing else (the exit code stays the scan's)."""

    WAIT = 5.0

    def __init__(self, args: argparse.Namespace, result: RedactedResult, *, origin: str) -> None:
        from auditor._exitcodes import result_exit_code

        self.code = result_exit_code(result)
        self._args, self._result, self._origin = args, result, origin
        self._printed = threading.Event()
        self._commit = False
        self._said: str | None = None
        self._failed: BaseException | None = None
        self._thread: threading.Thread | None = None
        if getattr(args, "no_store", False):
            return
        self._thread = threading.Thread(target=self._run, name="auditor-history-store", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._said = self._store(before_commit=self._wait)
        except _NotCommitted:
            pass
        except BaseException as exc:  # an internal error: raised again by done()
            self._failed = exc

    def _store(self, before_commit: Callable[[], object] | None = None) -> str:
        """Store the result; what to say about it, stored or not (AuditorError)."""
        from auditor.errors import AuditorError

        try:
            return _store(self._args, self._result, origin=self._origin, exit_code=self.code,
                          before_commit=before_commit)
        except AuditorError as exc:
            return _not_stored(exc)

    def _wait(self) -> None:
        if not self._printed.wait(self.WAIT) or not self._commit:
            raise _NotCommitted

    def done(self) -> int:
        """After the output is written: commit the stored scan (or store it now), report; the exit code."""
        if self._thread is not None:
            self._commit = True
            self._printed.set()
            self._thread.join()
            if self._failed is not None:
                raise self._failed
            if self._said is None:  # rolled back after WAIT: stored now
                self._said = self._store()
            warn(self._said)
        return self.code

    def abandon(self) -> None:
        """The output failed: nothing is stored."""
        if self._thread is not None:
            self._printed.set()
            self._thread.join()


class _NotCommitted(Exception):
    """Raised before the commit of a store whose output failed or was too slow: rolls it back."""


def _not_stored(exc: AuditorError) -> str:
    return f"auditor: warning: the result was not stored in the history: {exc.diagnostics()}"


def _store(args: argparse.Namespace, result: RedactedResult, *, origin: str, exit_code: int,
           before_commit: Callable[[], object] | None = None) -> str:
    """Store `result`; what to say about it. AuditorError if it could not be stored."""
    with open_store(args) as store:
        scan_id = store.save(result, origin=origin, exit_code=exit_code, before_commit=before_commit)
        return f"auditor: stored as scan {scan_id} in {store.location}"
