"""tls.endpoint: a live TLS endpoint as a client sees it."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import msgspec
from msgspec import Meta

from auditor.evidence.contract import Facts, Part
from auditor.evidence.kinds.x509 import Certificate

Outcome = Literal["accepted", "refused", "untested", "error"]


class NatsInfo(Part, frozen=True, kw_only=True):
    """What the NATS server's INFO line said before TLS (absent fields: false, as the server omits them)."""

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
    version: Literal["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"] | None
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


class Versions(Part, frozen=True, kw_only=True):
    """Whether the server accepts each protocol version, offered alone."""

    tls1: Outcome | None = msgspec.field(default=None, name="TLSv1")
    tls1_1: Outcome | None = msgspec.field(default=None, name="TLSv1.1")
    tls1_2: Outcome | None = msgspec.field(default=None, name="TLSv1.2")
    tls1_3: Outcome | None = msgspec.field(default=None, name="TLSv1.3")


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
    versions: Versions
    accepted_versions: tuple[str, ...]
    weak_ciphers: WeakCiphers | None
    problems: tuple[str, ...]
