"""NATS evidence: nats.conf files and their users, credentials, and the monitoring API."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from msgspec import Meta

from auditor.evidence.contract import Facts, Mode, Part, Redacted, SecretPart

Reach = Literal["all", "some", "none"]
Number = int | float


# ------------------------------------------------------------------ shared parts
class FileFacts(Part, frozen=True, kw_only=True):
    """A file on the node: whether it exists, its mode and owner."""

    path: Annotated[str, Meta(description="as the configuration names it")]
    resolved: Annotated[str, Meta(description="where it was read (relative to the target's root)")]
    exists: bool
    mode: Mode | None
    uid: int | None
    gid: int | None
    owner: str | None
    group: str | None
    readable_by_group: bool
    readable_by_others: bool
    writable_by_group_or_others: bool


class SecretValue(SecretPart, frozen=True, kw_only=True):
    """A password or token: its kind and redacted form, never the value."""

    SECRETS: ClassVar[tuple[str, ...]] = ("redacted",)

    kind: Literal["bcrypt", "plaintext"]
    redacted: Redacted


class Subjects(Part, frozen=True, kw_only=True):
    allow: Annotated[tuple[str, ...] | None, Meta(description="null: everything is allowed")]
    deny: tuple[str, ...]


class Responses(Part, frozen=True, kw_only=True):
    max: int
    expires_seconds: float
    unlimited: bool


class ReachTable(Part, frozen=True, kw_only=True):
    """How much of `>`, `$SYS.>` and `$JS.API.>` the permissions reach."""

    publish: dict[str, Reach]
    subscribe: dict[str, Reach]


class Permissions(Part, frozen=True, kw_only=True):
    restricted: bool
    publish: Subjects
    subscribe: Subjects
    allow_responses: Responses | None
    reach: ReachTable


class Tls(Part, frozen=True, kw_only=True):
    """A tls block of the configuration (no key material)."""

    where: Annotated[str, Meta(description="client, cluster, gateway, leafnodes, leafnodes.remotes[N], websocket, mqtt")]
    file: str
    line: int
    cert_file: str | None
    key_file: str | None
    ca_file: str | None
    verify: bool
    verify_and_map: bool
    insecure: bool
    handshake_first: bool | str | None
    min_version: str | None
    cipher_suites: tuple[str, ...]
    weak_cipher_suites: tuple[str, ...]
    pinned_certs: int
    effective_min_version: Annotated[str, Meta(description="min_version, or 1.2 (the server's default) when the block sets none")]
    allow_insecure_cipher_suites: bool
    curve_preferences: tuple[str, ...]


# ------------------------------------------------------------------ nats.config
class Variable(Part, frozen=True, kw_only=True):
    name: str
    file: str
    line: int
    source: Literal["config", "environment", "bcrypt"]


class Client(Part, frozen=True, kw_only=True):
    host: str
    port: int
    tls: Tls | None
    allow_non_tls: bool
    tls_required: bool


class Monitoring(Part, frozen=True, kw_only=True):
    enabled: bool
    host: str | None
    http_port: int | None
    https_port: int | None
    tls: bool
    base_path: str | None
    line: int | None


class Authorization(Part, frozen=True, kw_only=True):
    defined: bool
    mode: Literal["none", "users", "token", "user", "operator"]
    required: bool
    users: int
    single_user: bool
    user: str | None = None
    token: SecretValue | None
    password: SecretValue | None
    timeout: Number | str | None
    callout: bool = False
    no_auth_user: str | None
    default_permissions: Permissions | None
    file: str | None
    line: int | None


class Export(Part, frozen=True, kw_only=True):
    type: Literal["stream", "service", "unknown"]
    subject: str | None
    accounts: tuple[str, ...]
    public: bool
    file: str | None = None
    line: int | None = None


class AccountJetStream(Part, frozen=True, kw_only=True):
    enabled: bool
    limits: dict[str, Any]


class Account(Part, frozen=True, kw_only=True):
    name: str
    users: int
    exports: tuple[Export, ...]
    imports: int
    jetstream: AccountJetStream | None
    line: int | None


class PlaintextPassword(Part, frozen=True, kw_only=True):
    user: str
    file: str
    line: int


class Listener(Part, frozen=True, kw_only=True):
    """cluster, gateway, websocket, mqtt (and leafnodes) blocks."""

    enabled: bool
    host: str | None
    port: int | None
    tls: Tls | None
    no_tls: bool
    line: int | None
    authorization: bool = False
    routes: tuple[str, ...] = ()


class RemoteSeed(SecretPart, frozen=True, kw_only=True):
    SECRETS: ClassVar[tuple[str, ...]] = ("redacted",)

    redacted: Redacted


class Remote(Part, frozen=True, kw_only=True):
    IDENTITY: ClassVar[tuple[str, ...]] = ("urls", "account")
    LABEL: ClassVar[str] = "{resource} leafnode remote {urls}"

    urls: Annotated[tuple[str, ...], Meta(description="without user-info")]
    url_has_password: bool
    account: str | None
    credentials: FileFacts | None
    seed: RemoteSeed | None
    tls: Tls | None
    uses_tls: bool
    file: str
    line: int


class Leafnodes(Listener, frozen=True, kw_only=True):
    remotes: tuple[Remote, ...] = ()


class JetStream(Part, frozen=True, kw_only=True):
    enabled: bool
    store_dir: str | None
    max_memory_store: int | None
    max_file_store: int | None
    encrypted: bool
    domain: str | None
    line: int | None


class UnknownKey(Part, frozen=True, kw_only=True):
    key: str
    file: str
    line: int


class Logging(Part, frozen=True, kw_only=True):
    """The server's logging switches (false when not set)."""

    debug: bool
    trace: bool
    trace_verbose: bool
    trace_headers: bool
    syslog: bool


class ListenerCredential(Part, frozen=True, kw_only=True):
    """A password or token of a cluster, gateway, leafnode, websocket or MQTT authorization block, as its kind only."""

    where: str
    user: str | None
    secret: Literal["password", "token"]
    kind: Literal["bcrypt", "plaintext"]
    file: str
    line: int


class NatsConfig(Facts, frozen=True, kw_only=True):
    """One nats.conf (with its includes) as the server reads it. No secret values: passwords and tokens appear as kind and redacted form only."""

    KIND: ClassVar[str] = "nats.config"

    path: str
    files: tuple[str, ...]
    variables: tuple[Variable, ...]
    server_name: str | None
    client: Client
    monitoring: Monitoring
    authorization: Authorization
    accounts: tuple[Account, ...]
    system_account: str | None
    users: int
    plaintext_passwords: tuple[PlaintextPassword, ...]
    leafnodes: Leafnodes
    cluster: Listener
    gateway: Listener
    websocket: Listener
    mqtt: Listener
    jetstream: JetStream
    operator_mode: bool
    limits: Annotated[dict[str, int], Meta(description="max_payload, max_pending, max_connections, ... as set")]
    tls_blocks: Annotated[tuple[Tls, ...], Meta(description="every tls block of the configuration")]
    unknown_keys: tuple[UnknownKey, ...]
    logging: Logging
    listener_credentials: Annotated[tuple[ListenerCredential, ...], Meta(description="passwords and tokens of the cluster, gateway, leafnode, websocket and MQTT authorization blocks, as kinds only")]


class NatsUser(Permissions, Facts, frozen=True, kw_only=True):
    """One user of a nats.conf: how it authenticates and its permissions as the server applies them (default_permissions included), with what they reach of `>`, `$SYS.>` and `$JS.API.>`."""

    KIND: ClassVar[str] = "nats.user"

    name: str
    account: str
    auth: Literal["password", "nkey"]
    password: SecretValue | None
    nkey: str | None
    file: str
    line: int
    connection_types: tuple[str, ...]
    permissions_source: Literal["own", "default", "none"]


# ------------------------------------------------------------------ credentials
class Seed(SecretPart, frozen=True, kw_only=True):
    SECRETS: ClassVar[tuple[str, ...]] = ("redacted",)

    kind: Annotated[str, Meta(description="operator, account, user, server, cluster, curve")]
    public_key: str
    redacted: Redacted
    matches_subject: Annotated[bool | None, Meta(description="the seed belongs to the JWT's subject (null outside a .creds file)")] = None


class JwtChain(Part, frozen=True, kw_only=True):
    status: Annotated[Literal["verified", "incomplete", "broken", "refused"], Meta(
        description="verified: every link found and signed; incomplete: an issuer's JWT was not collected; "
                    "broken: a bad signature, an issuer that may not sign it; refused: the account revoked "
                    "the user or disallows its bearer token")]
    path: tuple[str, ...]
    detail: str


class JwtResponses(Part, frozen=True, kw_only=True):
    max: Number
    ttl: Number


class JwtUser(Part, frozen=True, kw_only=True):
    publish: Subjects
    subscribe: Subjects
    responses: JwtResponses | None
    bearer_token: bool
    allowed_connection_types: tuple[str, ...]
    limits: dict[str, Number]


class JwtExport(Part, frozen=True, kw_only=True):
    subject: str | None
    type: str | None
    token_req: bool
    public: bool


class JwtAccount(Part, frozen=True, kw_only=True):
    exports: tuple[JwtExport, ...]
    imports: int
    signing_keys: int
    limits: dict[str, Number | bool]
    jetstream_enabled: bool


class JwtOperator(Part, frozen=True, kw_only=True):
    signing_keys: int
    system_account: str | None
    account_server_url: str | None


class NatsJwt(Facts, frozen=True, kw_only=True):
    """One NATS JWT (alone or in a .creds file): claims, signature, signing chain, file mode and owner, and the .creds seed (redacted)."""

    KIND: ClassVar[str] = "nats.jwt"

    path: str
    container: Literal["creds", "jwt"]
    type: Annotated[str, Meta(description="operator, account or user")]
    name: str | None
    subject: str
    issuer: str
    issuer_account: str | None
    issued_at: str | None
    not_before: str | None
    expires_at: str | None
    expires: bool
    signature: Literal["valid", "invalid"]
    issuer_kind_ok: Annotated[bool, Meta(description="the issuer key's type may issue this kind of JWT")]
    version: int
    user: Annotated[JwtUser | None, Meta(description="claims of a user JWT")] = None
    account: Annotated[JwtAccount | None, Meta(description="claims of an account JWT")] = None
    operator: Annotated[JwtOperator | None, Meta(description="claims of an operator JWT")] = None
    chain: JwtChain
    file: FileFacts | None
    seed: Seed | None


class NatsNkey(SecretPart, Facts, frozen=True, kw_only=True):
    """One nkey seed file: the key's kind and public key, the seed redacted, the file's mode and owner."""

    KIND: ClassVar[str] = "nats.nkey"
    SECRETS: ClassVar[tuple[str, ...]] = ("redacted",)

    path: str
    kind: str
    public_key: str
    redacted: Redacted
    matches_subject: bool | None = None
    file: FileFacts | None


# ------------------------------------------------------------------ monitoring API
class Monitored(Facts, frozen=True, kw_only=True):
    """One answer of the monitoring API: a read-only GET, secrets redacted, user-info stripped."""

    url: str
    http_status: int
    response: Annotated[dict[str, Any], Meta(description="the server's JSON answer, sanitised (any field the server sends)")]


class NatsVarz(Monitored, frozen=True, kw_only=True):
    """/varz of a running server: version, listeners, auth_required, tls_required/tls_verify, cluster, leaf, JetStream."""

    KIND: ClassVar[str] = "nats.varz"


class NatsConnz(Monitored, frozen=True, kw_only=True):
    """/connz?auth=1: the open connections with TLS version, cipher, authorized user and account (JWTs redacted)."""

    KIND: ClassVar[str] = "nats.connz"


class NatsLeafz(Monitored, frozen=True, kw_only=True):
    """/leafz: the leafnode connections."""

    KIND: ClassVar[str] = "nats.leafz"


class NatsAccountz(Monitored, frozen=True, kw_only=True):
    """/accountz: the server's accounts and system account."""

    KIND: ClassVar[str] = "nats.accountz"


class NatsHealthz(Monitored, frozen=True, kw_only=True):
    """/healthz: the server's health."""

    KIND: ClassVar[str] = "nats.healthz"


class NatsJsz(Monitored, frozen=True, kw_only=True):
    """/jsz: JetStream usage and configuration."""

    KIND: ClassVar[str] = "nats.jsz"


MONITORED: dict[str, type[Monitored]] = {
    "varz": NatsVarz, "connz": NatsConnz, "leafz": NatsLeafz, "accountz": NatsAccountz, "healthz": NatsHealthz,
    "jsz": NatsJsz,
}
"""The kind of each monitoring endpoint's answer."""
