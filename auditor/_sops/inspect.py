"""Plaintext values in a sops file that look like secrets, by key name or by what they hold."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from auditor._sops.document import Leaf, SopsDocument

DEFAULT_KEY_NAMES = (
    r"(?i)(pass(word|wd|phrase)?|pwd|secret|token|api_?key|apikey|access_?key|private_?key|"
    r"client_?secret|credentials?|creds|seed|nkey|signing_?key|encryption_?key|auth|bearer|"
    r"cookie|session|dsn|connection_?string|(^|[_.-])key$)"
)
_PUBLIC = re.compile(r"(?i)(public|pub_?key|_unencrypted$|(^|[_.-])(host|user|username|port|url|endpoint|name|id)$)")


@dataclass(frozen=True)
class PlaintextSecret:
    leaf: Leaf
    reason: str
    """`key name` or the detector that recognised the value (e.g. nkey-seed)."""


ValueCheck = Callable[[str], str | None]
"""Returns the id of a detector that recognises the value as a secret, or None."""


def plaintext_secrets(
    doc: SopsDocument, *, key_pattern: str = DEFAULT_KEY_NAMES, value_check: ValueCheck | None = None
) -> list[PlaintextSecret]:
    pattern = re.compile(key_pattern)
    out: list[PlaintextSecret] = []
    for leaf in doc.leaves:
        if leaf.encrypted or leaf.empty or not isinstance(leaf.value, str):
            continue
        name = leaf.path[-1] if leaf.path else ""
        if value_check is not None:
            found = value_check(leaf.value)
            if found:
                out.append(PlaintextSecret(leaf, found))
                continue
        if any(pattern.search(part) for part in leaf.path) and not _PUBLIC.search(name):
            out.append(PlaintextSecret(leaf, "key name"))
    return out
