"""vault.server, vault.pki, vault.kv-secret, vault.token: Vault or OpenBao through a read-only token."""

from __future__ import annotations

from typing import Annotated, ClassVar

from msgspec import Meta

from auditor.evidence.contract import Facts, Part, Redacted, SecretPart, Timestamp
from auditor.evidence.kinds.x509 import Certificate

Unreadable = Annotated[tuple[str, ...], Meta(description="Parts the token could not read (each then null).")]


class AuditDevice(Part, frozen=True, kw_only=True):
    path: str
    type: str
    description: str
    local: bool
    file_path: str | None
    mode: str | None


class Mount(Part, frozen=True, kw_only=True):
    path: str
    type: str
    description: str
    local: bool
    seal_wrap: bool
    version: str | None
    default_lease_ttl: int | None
    max_lease_ttl: int | None
    token_type: str | None


class VaultServer(Facts, frozen=True, kw_only=True):
    """A Vault/OpenBao server: seal status and health, audit devices, auth methods and secrets engines (null where the token may not read them)."""

    KIND: ClassVar[str] = "vault.server"

    address: Annotated[str, Meta(description="the address read (without user-info)")]
    version: str
    cluster_name: str | None
    initialized: bool
    sealed: bool
    seal_type: str | None
    storage_type: str | None
    standby: bool | None
    server_time: Timestamp | None
    audit_devices: tuple[AuditDevice, ...] | None
    auth_methods: tuple[Mount, ...] | None
    mounts: tuple[Mount, ...] | None
    unreadable: Unreadable


class Role(Part, frozen=True, kw_only=True):
    name: str
    allow_any_name: bool
    allow_subdomains: bool
    allow_glob_domains: bool
    allow_bare_domains: bool
    allow_localhost: bool
    allow_ip_sans: bool
    allow_wildcard_certificates: bool
    enforce_hostnames: bool
    allowed_domains: tuple[str, ...]
    key_type: str | None
    key_bits: int
    ttl: int | None
    max_ttl: int | None
    server_flag: bool
    client_flag: bool
    code_signing_flag: bool
    no_store: bool


class CrlConfig(Part, frozen=True, kw_only=True):
    disabled: bool
    expiry: int | None
    auto_rebuild: bool
    ocsp_disabled: bool


class TidyStatus(Part, frozen=True, kw_only=True):
    state: str | None
    error: str | None
    time_finished: Timestamp | None
    last_auto_tidy_finished: Timestamp | None


class AutoTidy(Part, frozen=True, kw_only=True):
    enabled: bool
    interval: int | None
    tidy_cert_store: bool
    tidy_revoked_certs: bool


class VaultPki(Facts, frozen=True, kw_only=True):
    """A PKI secrets engine mount: its CA certificate (facts as in x509.certificate), roles, CRL configuration and tidy status. TTLs in seconds."""

    KIND: ClassVar[str] = "vault.pki"

    mount: str
    ca: Certificate | None
    roles: tuple[Role, ...] | None
    crl: CrlConfig | None
    tidy: TidyStatus | None
    auto_tidy: AutoTidy | None
    unreadable: Unreadable


class VaultKvSecret(Facts, frozen=True, kw_only=True):
    """The metadata of one KV v2 secret (never its value): versions and when the current one was written, for secret age."""

    KIND: ClassVar[str] = "vault.kv-secret"

    mount: str
    path: str
    current_version: int
    oldest_version: int
    versions: int
    max_versions: int
    created_time: Timestamp | None
    updated_time: Timestamp | None
    current_created_time: Annotated[Timestamp | None, Meta(description="When the current version was written: the secret's age starts here.")]
    current_deleted: bool
    delete_version_after: int | None
    custom_metadata_keys: tuple[str, ...]


class VaultToken(SecretPart, Facts, frozen=True, kw_only=True):
    """The token the scan used (auth/token/lookup-self): TTLs in seconds (0 means it never expires), policies; its id is never stored, its accessor only redacted."""

    KIND: ClassVar[str] = "vault.token"
    SECRETS: ClassVar[tuple[str, ...]] = ("accessor",)

    display_name: str
    accessor: Redacted | None
    policies: tuple[str, ...]
    type: str | None
    ttl: int
    creation_ttl: int
    explicit_max_ttl: int
    creation_time: Timestamp | None
    expire_time: Timestamp | None
    renewable: bool
    orphan: bool
    num_uses: int
