"""The server's settings besides its users (listeners, TLS, monitoring, JetStream, leafnodes):
the typed values :func:`auditor._nats.config.interpret` makes of a whole config.

Apart from :mod:`auditor._nats.config` so that `auditor nats can`, which interprets one user,
does not define them (each dataclass costs about a millisecond to define).
"""

from __future__ import annotations

import grp
import pwd
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from auditor._nats.conf import VariableUse
    from auditor._nats.config import Account, Authorization

WEAK_CIPHER = re.compile(r"RC4|3DES|_CBC_|^TLS_RSA_|_NULL_|EXPORT")
DEFAULT_TLS_MIN_VERSION = "1.2"
"""What nats-server uses when a tls block sets no min_version."""


@dataclass(frozen=True)
class Tls:
    where: str
    file: str
    line: int
    settings: dict[str, Any]

    @property
    def verify(self) -> bool:
        return bool(self.settings.get("verify") or self.settings.get("verify_and_map"))

    @property
    def cipher_suites(self) -> tuple[str, ...]:
        return tuple(self.settings.get("cipher_suites") or ())

    @property
    def weak_cipher_suites(self) -> tuple[str, ...]:
        return tuple(c for c in self.cipher_suites if WEAK_CIPHER.search(c))

    @property
    def effective_min_version(self) -> str:
        return str(self.settings.get("min_version") or DEFAULT_TLS_MIN_VERSION)


@dataclass(frozen=True)
class FileFacts:
    path: str
    resolved: str
    exists: bool
    mode: str | None = None
    uid: int | None = None
    gid: int | None = None
    owner: str | None = None
    group: str | None = None

    @property
    def readable_by_group(self) -> bool:
        return self.mode is not None and bool(int(self.mode, 8) & stat.S_IRGRP)

    @property
    def readable_by_others(self) -> bool:
        return self.mode is not None and bool(int(self.mode, 8) & stat.S_IROTH)

    @property
    def writable_by_group_or_others(self) -> bool:
        return self.mode is not None and bool(int(self.mode, 8) & (stat.S_IWGRP | stat.S_IWOTH))


def file_facts(path: str, resolved: Path, shown: str) -> FileFacts:
    try:
        st = resolved.stat()
    except OSError:
        return FileFacts(path, shown, False)
    try:
        owner: str | None = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = None
    try:
        group: str | None = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = None
    return FileFacts(path, shown, True, f"{stat.S_IMODE(st.st_mode):04o}", st.st_uid, st.st_gid, owner, group)


@dataclass(frozen=True)
class Client:
    host: str
    port: int
    tls: Tls | None
    allow_non_tls: bool

    @property
    def tls_required(self) -> bool:
        return self.tls is not None and not self.allow_non_tls


@dataclass(frozen=True)
class Monitoring:
    enabled: bool
    host: str | None
    http_port: int | None
    https_port: int | None
    tls: bool
    base_path: str | None
    line: int | None


@dataclass(frozen=True)
class Listener:
    """A cluster, gateway, websocket, MQTT or leafnodes block."""

    enabled: bool = False
    host: str | None = None
    port: int | None = None
    tls: Tls | None = None
    no_tls: bool = False
    line: int | None = None
    authorization: bool = False
    routes: tuple[str, ...] = ()
    """Without user-info."""


@dataclass(frozen=True)
class Remote:
    """A leafnode remote (its seed kept out of `repr`)."""

    urls: tuple[str, ...]
    """Without user-info."""
    url_has_password: bool
    account: object
    """As written (the server takes a string)."""
    credentials: FileFacts | None
    seed: str | None = field(repr=False)
    tls: Tls | None
    uses_tls: bool
    file: str
    line: int


@dataclass(frozen=True)
class Leafnodes(Listener):
    remotes: tuple[Remote, ...] = ()


@dataclass(frozen=True)
class JetStream:
    enabled: bool = False
    store_dir: object = None
    """As written (the server takes a string)."""
    max_memory_store: int | None = None
    max_file_store: int | None = None
    encrypted: bool = False
    domain: object = None
    """As written (the server takes a string)."""
    line: int | None = None


@dataclass(frozen=True)
class UnknownKey:
    key: str
    file: str
    line: int


@dataclass(frozen=True)
class ListenerCredential:
    """A password or token of a cluster, gateway, leafnode, websocket or MQTT authorization block: its kind only."""

    where: str
    user: str | None
    secret: str  # password, token
    kind: str  # bcrypt, plaintext
    file: str
    line: int


@dataclass(frozen=True)
class Settings:
    """What the server makes of the whole configuration (besides its users)."""

    path: str
    files: tuple[str, ...]
    variables: tuple[VariableUse, ...]
    server_name: str | None
    client: Client
    monitoring: Monitoring
    authorization: Authorization
    accounts: tuple[Account, ...]
    system_account: str | None
    leafnodes: Leafnodes
    cluster: Listener
    gateway: Listener
    websocket: Listener
    mqtt: Listener
    jetstream: JetStream
    operator_mode: bool
    logging: dict[str, bool]
    """debug, trace, trace_verbose, trace_headers, syslog (false when not set)."""
    listener_credentials: tuple[ListenerCredential, ...]
    limits: dict[str, int]
    tls_blocks: tuple[Tls, ...]
    unknown_keys: tuple[UnknownKey, ...]
