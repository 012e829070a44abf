"""ACME error documents: `application/problem+json` bodies with an `urn:ietf:params:acme:error:` type."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

PREFIX = "urn:ietf:params:acme:error:"

# RFC 8555 section 6.7 (and draft-aaron-acme-profiles for invalidProfile): type -> HTTP status
STATUS = {
    "accountDoesNotExist": 400, "alreadyRevoked": 400, "badCSR": 400, "badNonce": 400,
    "badPublicKey": 400, "badRevocationReason": 400, "badSignatureAlgorithm": 400, "caa": 403,
    "compound": 400, "connection": 400, "dns": 400, "externalAccountRequired": 401,
    "incorrectResponse": 400, "invalidContact": 400, "invalidProfile": 400, "malformed": 400,
    "orderNotReady": 403, "rateLimited": 429, "rejectedIdentifier": 400, "serverInternal": 500,
    "tls": 400, "unauthorized": 403, "unsupportedContact": 400, "unsupportedIdentifier": 400,
    "userActionRequired": 403,
}


@dataclass(frozen=True)
class Subproblem:
    kind: str
    detail: str
    identifier: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"type": PREFIX + self.kind, "detail": self.detail}
        if self.identifier is not None:
            doc["identifier"] = self.identifier
        return doc


class AcmeProblem(Exception):
    """An ACME error: `kind` is the short type (`malformed`, `rejectedIdentifier`, ...)."""

    def __init__(self, kind: str, detail: str, subproblems: Sequence[Subproblem] = (),
                 headers: tuple[tuple[str, str], ...] = (), status: int | None = None) -> None:
        if kind not in STATUS:
            raise ValueError(f"unknown ACME error type {kind}")
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.subproblems = tuple(subproblems)
        self.headers = headers
        self._status = status

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"

    @property
    def status(self) -> int:
        return self._status or STATUS[self.kind]

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"type": PREFIX + self.kind, "detail": self.detail, "status": self.status}
        if self.subproblems:
            doc["subproblems"] = [s.to_json() for s in self.subproblems]
        return doc


def error_json(kind: str, detail: str) -> dict[str, Any]:
    """An error object as stored on a challenge or an order."""
    return AcmeProblem(kind, detail).to_json()
