"""pki.ca, pki.certificate and pki.deployed: the fleet CA's own records (a folder made by
`auditor pki`), and the node's certificates judged against them."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from msgspec import Meta

from auditor.evidence.contract import Facts, Part, Timestamp


class CaKey(Part, frozen=True, kw_only=True):
    """Where a CA key is kept, without secrets."""

    backend: str | None = None
    key_type: str | None = None
    serial: int | str | None = None
    slot: str | None = None


class CaCertificate(Part, frozen=True, kw_only=True):
    serial: str
    subject: str
    not_before: Timestamp
    not_after: Timestamp
    days_left: float
    current: Annotated[bool, Meta(description="the issuing intermediate")]
    key: Annotated[CaKey, Meta(description="key reference without secrets: backend, key_type, and a YubiKey's serial and slot")]


class Rotation(Part, frozen=True, kw_only=True):
    previous: Annotated[str | None, Meta(description="the intermediate the current one replaced")]
    overlap_days: Annotated[float | None, Meta(description="days the previous intermediate stays valid after the current one's notBefore")]
    bundle_complete: Annotated[bool, Meta(description="certs/ca-bundle.pem holds the root and every unexpired intermediate")]
    bundle_missing: tuple[str, ...]


class IssuanceLog(Part, frozen=True, kw_only=True):
    entries: int
    verified: Annotated[bool, Meta(description="the hash chain, and the inventory compared row by row with the records the log replays to (edited, deleted, added, un-revoked rows; count and head)")]
    problems: tuple[str, ...]
    notes: Annotated[tuple[str, ...], Meta(description="not tampering: an interrupted issuance the next change reconciles, an inventory behind the log after a crash")]
    events: Annotated[dict[str, int], Meta(description="entries per event")]
    last_event: Annotated[dict[str, str], Meta(description="time of the last entry per event")]


class Crl(Part, frozen=True, kw_only=True):
    issuer_serial: str
    issuer: str
    issuer_expired: bool
    present: bool
    signature_valid: bool
    number: int | None
    this_update: Timestamp | None
    next_update: Timestamp | None
    hours_left: Annotated[float | None, Meta(description="hours until nextUpdate (negative: stale)")]
    revoked: int
    problem: str | None


class Counts(Part, frozen=True, kw_only=True):
    total: int
    valid: int
    expired: int
    revoked: int
    superseded: int


class PkiCa(Facts, frozen=True, kw_only=True):
    """One CA folder made by auditor pki: root and intermediates with their key backends, rotation and the overlap bundle, the issuance log's verification, CRL freshness, certificate counts."""

    KIND: ClassVar[str] = "pki.ca"

    folder: str
    name: str
    root: CaCertificate
    intermediates: tuple[CaCertificate, ...]
    current_intermediate: str | None
    rotation: Rotation
    log: IssuanceLog
    crls: tuple[Crl, ...]
    certificates: Counts
    valid_key_types: Annotated[dict[str, int], Meta(description="valid certificates per key type")]


class PkiCertificate(Facts, frozen=True, kw_only=True):
    """One certificate in a CA's inventory: status and state, validity, revocation, profile, key, and where the node holds it."""

    KIND: ClassVar[str] = "pki.certificate"

    serial: str
    node: str
    profile: str
    subject: str
    sans: Annotated[dict[str, tuple[str, ...]], Meta(description="dns and ip names")]
    issuer: str
    issuer_serial: str | None
    not_before: Timestamp
    not_after: Timestamp
    key_type: str
    key_fingerprint: str
    status: Literal["valid", "revoked", "superseded"]
    state: Annotated[Literal["valid", "expired", "revoked", "superseded"], Meta(description="status, with expired for a valid certificate past notAfter")]
    revocation_reason: str | None
    revoked_at: Timestamp | None
    issued_at: Timestamp
    replaces: str | None
    ca: str
    days_left: Annotated[float, Meta(description="days until notAfter (negative: expired)")]
    reused_key: Annotated[bool | None, Meta(description="a renewal that kept the replaced certificate's key")]
    deployed: Annotated[tuple[str, ...], Meta(description="the node's files holding this certificate (same issuer and serial)")]


class PkiDeployed(Facts, frozen=True, kw_only=True):
    """One certificate deployed on the node (a `deployed` path of the pki-inventory source), judged against one CA folder: which of the CA's keys signed it, and whether the CA's issuance log records it."""

    KIND: ClassVar[str] = "pki.deployed"

    path: Annotated[str, Meta(description="the file on the node")]
    ca: Annotated[str, Meta(description="the CA folder")]
    serial: Annotated[str, Meta(description="lower-case hex")]
    subject: str
    issuer: Annotated[str, Meta(description="the issuer name the certificate claims")]
    not_after: Timestamp
    signed_by: Annotated[str | None, Meta(description="serial of the CA certificate (root or intermediate) whose key made the signature; null: none of this CA's keys")]
    signed_by_subject: str | None
    in_log: Annotated[bool, Meta(description="the CA's issuance log records this very certificate (same serial and bytes)")]
    status: Annotated[Literal["valid", "revoked", "superseded"] | None, Meta(description="its status in the log, when in_log")]
