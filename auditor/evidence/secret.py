"""Secret values in evidence: only ever their redacted form, made when the record is made.

A field that may hold a secret is typed :data:`Redacted`. The only way to make one is
:func:`conceal`, which hands the raw value to :func:`auditor._redact.redact` at once, so the raw
value never leaves the collector that read it (a test checks that nothing else calls
``Redacted(...)``). Evidence decoded from a bundle or a recording is checked the other way:
text in a secret field that is not in redacted form is refused.
"""

from __future__ import annotations

from typing import NewType

from auditor import _redact as redact

Redacted = NewType("Redacted", str)
"""A secret in the form auditor._redact gives it: a short prefix and a fingerprint."""


def conceal(value: str | bytes, *, prefix: int = 4) -> Redacted:
    """The redacted form of a secret value, as evidence stores it."""
    return Redacted(redact.redact(value, prefix))


def check_redacted(value: str, field: str) -> None:
    """Raise ValueError when `value` is not in redacted form (a secret field of decoded evidence)."""
    if not redact.is_redacted(value):
        raise ValueError(f"field '{field}' holds a secret that is not redacted")


def verified(text: str) -> Redacted:
    """`text`, which a domain package redacted already, as :data:`Redacted` (ValueError if it is not)."""
    check_redacted(text, "value")
    return Redacted(text)
