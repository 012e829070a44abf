"""Text from any input made safe for a terminal: the one escaper of control characters.

It lives in pki because pki never imports auditor; auditor._terminal re-exports it, so pki's
messages (a DNS name in an error) and auditor's output are escaped by the same function.
"""

from __future__ import annotations


def printable(text: str, keep: str = "") -> str:
    """`text` with every character that is not printable (control characters: ESC, CR, BEL,
    DEL, C1, bidirectional overrides, ...) shown as its escape (`\\x1b`, `\\r`, `\\u202e`),
    except those in `keep` (e.g. "\\n")."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in keep else repr(c)[1:-1] for c in text)
