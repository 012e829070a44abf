"""tls.endpoint: a live TLS endpoint as a client sees it."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from msgspec import Meta

from auditor.evidence.contract import Facts, Part
from auditor.evidence.kinds.x509 import Certificate

Outcome = Literal["accepted", "refused", "untested", "error"]
Version = Literal["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]


class NatsInfo(Part, frozen=True, kw_only=True, omit_defaults=True):
    """What the NATS server's INFO line said before TLS (with handshake_first, only the first two: INFO comes inside TLS)."""

    info_before_tls: bool
    handshake_first: bool
    server_name: str | None = None
    version: str | None = None
    tls_required: bool | None = None
    tls_available: bool | None = None
    tls_verify: bool | None = None
    auth_required: bool | None = None


class Handshake(Part, frozen=True, kw_only=True):
    completed: bool
    version: Version | None
    cipher: str | None
    error: str | None


class ClientCertificateRequest(Part, frozen=True, kw_only=True):
    requested: Annotated[bool, Meta(description="the server sent a CertificateRequest (mTLS)")]
    acceptable_cas: tuple[str, ...]


class Validation(Part, frozen=True, kw_only=True):
    status: Literal["valid", "invalid", "no-anchors", "no-certificate"]
    error: str | None
    name: Annotated[str, Meta(description="the name the chain was validated for")]
    path: tuple[str, ...]
    anchor: str | None


class WeakCiphers(Part, frozen=True, kw_only=True):
    outcome: Outcome
    cipher: str | None
    offered: Annotated[int, Meta(description="weak suites the probe offered")]


class TlsEndpoint(Facts, frozen=True, kw_only=True):
    """One live TLS endpoint as a client sees it: the NATS INFO (for NATS ports), the handshake, the presented chain validated for the endpoint's name, the accepted protocol versions and whether weak cipher suites are accepted."""

    KIND: ClassVar[str] = "tls.endpoint"

    host: str
    port: int
    name: str
    protocol: Literal["tls", "nats"]
    role: str | None
    nats: NatsInfo | None
    tls_offered: Annotated[bool, Meta(description="A TLS handshake got at least as far as the ServerHello.")]
    handshake: Handshake
    client_certificate: ClientCertificateRequest
    presented: Annotated[tuple[Certificate, ...], Meta(description="The certificates the server sent, leaf first.")]
    validation: Validation
    versions: Annotated[dict[Version, Outcome], Meta(description="whether the server accepts each protocol version, offered alone ({} when not probed)")]
    accepted_versions: tuple[str, ...]
    weak_ciphers: WeakCiphers | None
    problems: tuple[str, ...]
