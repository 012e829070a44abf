"""Text from any input made safe for a terminal: control characters shown as escapes.

File names, Kubernetes object names, NATS user names, rule messages: anything auditor prints
may come from an attacker, and an escape sequence in it (`\\x1b[2K\\r`) could erase or forge a
line of the report. :func:`printable` is the one way such text is escaped; :func:`guard` is
applied to every text document the command line writes (stdout or `-o FILE`).
"""

from __future__ import annotations

import re

_C0 = re.compile(r"[\x00-\x08\x0b-\x1f]")
_C0_OR_STYLE = re.compile(r"\x1b\[[0-9;]*m|[\x00-\x08\x0b-\x1f]")


def printable(text: str, keep: str = "") -> str:
    """`text` with every character that is not printable (control characters: ESC, CR, BEL,
    DEL, C1, bidirectional overrides, ...) shown as its escape (`\\x1b`, `\\r`, `\\u202e`),
    except those in `keep` (e.g. "\\n")."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in keep else repr(c)[1:-1] for c in text)


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
