"""Redaction: the only form in which a secret value may be printed or stored.

A redacted value keeps a short prefix (enough to recognise the kind of secret, such as `SU`
for a NATS user seed or `hvs.` for a Vault token) and a hash that is stable for the same
value, so two findings about the same secret can be matched without revealing it.
"""

from __future__ import annotations

import hashlib

_MAX_PREFIX = 4


def fingerprint(value: str | bytes) -> str:
    """A stable, non-reversible fingerprint of a secret: `sha256:` and 12 hex digits."""
    raw = value.encode() if isinstance(value, str) else value
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:12]


def redact(value: str | bytes, prefix: int = _MAX_PREFIX) -> str:
    """`prefix…(sha256:0123456789ab)`. The prefix is at most a quarter of the value."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    keep = min(prefix, _MAX_PREFIX, len(text) // 4)
    return f"{text[:keep]}…({fingerprint(value)})"


def is_redacted(text: str) -> bool:
    return text.endswith(")") and "…(sha256:" in text
