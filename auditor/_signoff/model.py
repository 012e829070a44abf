"""Roles, the signed statement, and where sign-offs live beside a findings document.

A sign-off of RESULT.json by one role is three files in RESULT.json.signoffs/:
  ROLE.json      the statement: canonical JSON (sorted keys, no spaces) naming the role, the
                 decision, the signer's key, the time, the SHA-256 of RESULT.json as signed, the
                 evidence bundle's digest and the whole findings document as signed
  ROLE.json.asc  a detached, ASCII-armoured OpenPGP signature over ROLE.json's bytes
  ROLE.pub.asc   the signer's public key, so the sign-off can be checked on another machine
                 (trust comes from the allowed-signers file, never from this key)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROLES: dict[str, str] = {
    "infrastructure": "Infrastructure Lead",
    "security": "Security Lead",
    "operations": "Operations Lead",
    "development": "Development Lead",
}
"""The technical sign-off of the CIM production checklist (../shared/seeds), in its order."""

DECISIONS = ("approve", "reject")
STATEMENT_FORMAT = "auditor-signoff"


def signoff_dir(result_path: Path) -> Path:
    """RESULT.json -> RESULT.json.signoffs/"""
    return result_path.with_name(result_path.name + ".signoffs")


@dataclass(frozen=True)
class SignoffFiles:
    role: str
    statement: Path
    signature: Path
    public_key: Path

    @classmethod
    def of(cls, folder: Path, role: str) -> SignoffFiles:
        return cls(role, folder / f"{role}.json", folder / f"{role}.json.asc", folder / f"{role}.pub.asc")


def recorded_roles(result_path: Path) -> list[str]:
    """Roles with a statement beside `result_path`, in the sign-off order (unknown roles last)."""
    folder = signoff_dir(result_path)
    if not folder.is_dir():
        return []
    found = [p.name[: -len(".json")] for p in folder.glob("*.json") if not p.name.startswith(".")]
    order = list(ROLES)
    return sorted(found, key=lambda r: (order.index(r) if r in order else len(order), r))


def make_statement(
    *,
    role: str,
    decision: str,
    comment: str,
    fingerprint: str,
    signed_at: str,
    result_sha256: str,
    document: Mapping[str, Any],
) -> bytes:
    """The bytes that are signed: canonical JSON, so their meaning does not depend on layout."""
    body = {
        "format": STATEMENT_FORMAT,
        "version": 1,
        "role": role,
        "decision": decision,
        "comment": comment,
        "signer": {"fingerprint": fingerprint},
        "signed_at": signed_at,
        "result": {
            "sha256": result_sha256,
            "target": document.get("target", {}).get("name", ""),
            "evaluated_at": document.get("evaluated_at", ""),
            "bundle_digest": document.get("bundle_digest", ""),
        },
        "findings": dict(document),
    }
    from auditor._models import canonical_json  # not at import: `auditor --help` reads ROLES

    return canonical_json(body)


def parse_statement(data: bytes) -> dict[str, Any] | None:
    """The statement's fields, or None when the bytes are not a statement."""
    try:
        raw = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):  # not UTF-8, not JSON, an integer too long, nested too deep
        return None
    if not isinstance(raw, dict) or raw.get("format") != STATEMENT_FORMAT:
        return None
    result = raw.get("result")
    signer = raw.get("signer")
    if not isinstance(result, dict) or not isinstance(signer, dict) or not isinstance(raw.get("findings"), dict):
        return None
    return raw


@dataclass(frozen=True)
class SignoffCheck:
    """One recorded sign-off as checked: who signed what, and every problem found."""

    role: str
    decision: str = ""
    comment: str = ""
    signed_at: str = ""
    fingerprint: str = ""
    """The primary key fingerprint of the key that made the signature ('' if none verified)."""
    signer: str = ""
    """The signing key's first user id, as the key states it (not itself proof of identity)."""
    problems: tuple[str, ...] = ()
    authorised: bool | None = None
    """True/False when checked against an allowed-signers file; None when not checked."""

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def label(self) -> str:
        return ROLES.get(self.role, self.role)
