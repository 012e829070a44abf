"""Text from any input made safe for a terminal: control characters shown as escapes.

File names, Kubernetes object names, NATS user names, rule messages: anything auditor prints
may come from an attacker, and an escape sequence in it (`\\x1b[2K\\r`) could erase or forge a
line of the report. :func:`printable` (defined in :mod:`pki.terminal`, since pki never imports auditor) is the
one way such text is escaped; :func:`warn` writes a line to stderr through it; :func:`guard` is
applied to every text document the command line writes (stdout or `-o FILE`).
"""

from __future__ import annotations

import re
import sys

from pki.terminal import printable

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (see auditor._cli._replay)

if TYPE_CHECKING:
    import logging
    from typing import Any, TextIO

__all__ = ["guard", "log_handler", "printable", "warn"]

_C0 = re.compile(r"[\x00-\x08\x0b-\x1f]")
_C0_BYTES = bytes(b for b in range(32) if b not in (9, 10))
"""The characters _C0 matches, as bytes (in UTF-8 each is its own byte, and no byte of a longer
character is below 0x80)."""
_C0_OR_STYLE = re.compile(r"\x1b\[[0-9;]*m|[\x00-\x08\x0b-\x1f]")


def guard(text: str, *, styled: bool = False) -> str:
    """A whole text document on its way out: every C0 control character but newline and tab
    escaped with :func:`printable`. JSON never holds one raw, so JSON passes unchanged. With
    `styled`, the colour sequences of auditor's own text renderer are kept (it escapes the
    fields it shows with :func:`printable`, so any sequence left is its own)."""
    if not _C0.search(text):
        return text
    if not styled:
        return _C0.sub(lambda m: printable(m.group()), text)
    return _C0_OR_STYLE.sub(lambda m: m.group() if len(m.group()) > 1 else printable(m.group()), text)


def guard_encoded(text: str, *, styled: bool = False) -> bytes:
    """`guard(text, styled=styled).encode()`; a text without a control character (every part
    of a JSON document) is only encoded and checked, cheaper than the pattern on large output."""
    data = text.encode()
    if len(data.translate(None, _C0_BYTES)) == len(data):
        return data
    return guard(text, styled=styled).encode()


def warn(text: str, *, stream: TextIO | None = None) -> None:
    """Write the line `text` (a warning, an error, a note) to stderr, every control character
    in it escaped: the one way the command line writes to stderr. A newline in `text` is
    escaped too (a file name must not start a line of its own); write one line per call."""
    print(printable(text), file=stream if stream is not None else sys.stderr, flush=True)


def log_handler(fmt: str, datefmt: str | None = None) -> logging.Handler:
    """The handler every auditor log (the ACME server, `serve`, the agent and worker) writes
    to stderr through: lines formatted by `fmt`, every control character escaped (the message
    through :func:`printable`, newlines included, a traceback line by line). `logging` is
    imported here, not by every command that prints a line."""
    import logging

    class EscapingFormatter(logging.Formatter):
        def formatMessage(self, record: logging.LogRecord) -> str:
            return printable(super().formatMessage(record))

        def formatException(self, ei: Any) -> str:
            return printable(super().formatException(ei), keep="\n")

        def formatStack(self, stack_info: str) -> str:
            return printable(super().formatStack(stack_info), keep="\n")

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(EscapingFormatter(fmt, datefmt))
    return handler
