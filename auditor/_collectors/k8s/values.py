"""What a literal value in a manifest looks like, without ever keeping the value.

Container environment values and ConfigMap entries are described by their shape (empty, a
reference such as `$(VAR)`, a file path, or text), by whether they look like a known kind of
secret, and by the sensitive assignments found inside configuration text (`password: ...`).
Only redacted forms (`auditor._redact.redact`) ever reach evidence.
"""

from __future__ import annotations

import re
from typing import Any

from auditor.evidence.secret import conceal

_REFERENCE = re.compile(r"^(\$\([A-Za-z_][A-Za-z0-9_.-]*\)|\$\{[^}]+\}|\$[A-Za-z_][A-Za-z0-9_]*)$")
_PATH = re.compile(r"^/[^\s]*$")

# (reason, pattern): known shapes of secrets
SECRET_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("private key", re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")),
    ("NATS credentials", re.compile(r"-----BEGIN NATS USER JWT-----")),
    ("NATS nkey seed", re.compile(r"\bS[ANOPUXC][A-Z2-7]{56}\b")),
    ("JWT", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("AWS access key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("Vault token", re.compile(r"\bhv[sbr]\.[A-Za-z0-9_-]{20,}")),
    ("GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b")),
    ("password in URL", re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@")),
)

SENSITIVE_NAME = re.compile(
    r"(?i)(pass(word|wd|phrase)?|secret|token|api[-_.]?key|private[-_.]?key|signing[-_.]?key|"
    r"encryption[-_.]?key|access[-_.]?key|credentials?|creds|seed)"
)
"""Names of settings whose literal value is a secret (used inside configuration text)."""

_ASSIGNMENT = re.compile(
    r"""^\s*["']?(?P<name>[A-Za-z0-9_.-]+)["']?\s*(?::|=)\s*(?P<value>"[^"]*"|'[^']*'|[^\s#,;{}]+)"""
)


def value_kind(value: str) -> str:
    """empty, reference ($(VAR), ${VAR}, $VAR), path (/...) or text."""
    if not value.strip():
        return "empty"
    if _REFERENCE.match(value.strip()):
        return "reference"
    if _PATH.match(value.strip()):
        return "path"
    return "text"


def secret_shape(value: str) -> str | None:
    """The kind of secret a value looks like, or None."""
    for reason, pattern in SECRET_SHAPES:
        if pattern.search(value):
            return reason
    return None


def embedded_secrets(text: str) -> list[dict[str, Any]]:
    """Assignments of sensitive settings to literal values inside configuration text.

    `password: "s3cret"` and `api_key = abc` count; `password: $NATS_PASS` (a reference) and
    empty values do not. Returns [{name, line}] (line 1-based within the text); no values.
    """
    out: list[dict[str, Any]] = []
    if "\n" not in text.strip():
        return out  # a single value is judged by its key name, not as configuration text
    for number, line in enumerate(text.splitlines(), start=1):
        match = _ASSIGNMENT.match(line)
        if not match or not SENSITIVE_NAME.search(match.group("name")):
            continue
        value = match.group("value").strip("\"'")
        if value_kind(value) == "text":
            out.append({"name": match.group("name"), "line": number})
    return out


def describe_value(value: str) -> dict[str, Any]:
    """The shape of a literal value, with its redacted form; never the value itself."""
    return {
        "value_kind": value_kind(value),
        "secret_like": secret_shape(value),
        "redacted": conceal(value) if value else None,
        "length": len(value),
    }
