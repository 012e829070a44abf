"""Progress on stderr for work that takes over a second, drawn only when stderr is a terminal.

Nothing is written when stderr is a file or a pipe (logs, CI, `serve`), nor when
AUDITOR_NO_PROGRESS is set. Each kind redraws one line (carriage return, erase line) and
writes only text made printable first.

- `Steps`: "[3/12] collecting node-certificates" (a scan's sources);
- `Bar`: a bar of targets done, with those running (fleet scans);
- `Waiting`: "printing the PDF with Chromium … 3 s" for one long call, shown after a second
  and erased when it returns; with what it has done so far where the work counts it
  ("scanning for secrets: 1,204 files, 52.4 MB read … 3 s").
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TextIO

from auditor._terminal import printable

ERASE = "\r\033[K"
DELAY_SECONDS = 1.0
"""Work shorter than this shows nothing."""
REDRAW_SECONDS = 0.5
"""How often Waiting redraws its line."""


def wanted(stream: TextIO | None = None) -> bool:
    """True when progress may be drawn on `stream` (default stderr): a terminal, not turned off."""
    stream = stream if stream is not None else sys.stderr
    if os.environ.get("AUDITOR_NO_PROGRESS"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class _Line:
    """One redrawn line on a stream, shared by threads."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = wanted(self.stream)
        self.lock = threading.Lock()

    def draw(self, text: str, *, end: str = "") -> None:
        if not self.enabled:
            return
        with self.lock:
            self.stream.write(ERASE + printable(text) + end)
            self.stream.flush()


class Steps(_Line):
    """`[done/total] message` for a sequence of steps; the last one ends the line."""

    def __call__(self, message: str, done: int, total: int) -> None:
        self.draw(f"[{done}/{total}] {message}", end="\n" if done >= total else "")


class Bar(_Line):
    """A bar of targets done, and the names of those running."""

    WIDTH = 24

    def __call__(self, done: int, total: int, running: Sequence[str]) -> None:
        filled = self.WIDTH * done // max(total, 1)
        names = ", ".join(running[:3]) + (" …" if len(running) > 3 else "")
        line = f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{total}"
        line += f"  scanning {names}" if names else ""
        self.draw(line, end="\n" if done >= total else "")


class Waiting(_Line):
    """`with Waiting("printing the PDF"):` shows "printing the PDF … N s" once the block has taken
    `delay` seconds, updates it every REDRAW_SECONDS and erases it when the block ends. `what` may
    be a function, called at each redraw (from this class's thread): how far the work has come."""

    def __init__(self, what: str | Callable[[], str], *, stream: TextIO | None = None,
                 delay: float | None = None) -> None:
        super().__init__(stream)
        self.what = what
        self.delay = DELAY_SECONDS if delay is None else delay
        self.shown = False
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = 0.0

    def __enter__(self) -> Waiting:
        if self.enabled:
            self._start = time.monotonic()
            self._thread = threading.Thread(target=self._run, name="auditor-progress", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        if self._done.wait(self.delay):
            return
        while True:
            what = self.what if isinstance(self.what, str) else self.what()
            self.draw(f"{what} … {time.monotonic() - self._start:.0f} s")
            self.shown = True
            if self._done.wait(REDRAW_SECONDS):
                return

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
        if self.shown:
            self.draw("")
