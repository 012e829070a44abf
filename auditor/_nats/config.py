"""What nats-server makes of a parsed nats.conf: listeners, TLS, users and permissions, leafnodes.

Interprets the parts an audit needs, with the server's key names and aliases (keys are
case-insensitive, as in server/opts.go), the server's defaults (the client port and the
monitoring port bind every interface unless told otherwise) and its permission semantics
(see :mod:`auditor._nats.permissions`). A wrong type in a part it interprets is a
:class:`ConfError` naming the file and line. The results are typed values (:class:`Settings`
and its parts); secret values in them (passwords, tokens, seeds) are kept out of their `repr`, and
the collector turns them into evidence with redacted forms only.

Paths inside the config (`/etc/nats/leaf.creds`) are node paths: the `resolve` function given
to :func:`interpret` maps them to files the auditor can read (a scan maps them under the
target's root; the CLI reads them as they are).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor import _limits as limits
from auditor._nats import gourl
from auditor._nats.conf import ConfError, ParsedConfig, Value, read_text
from auditor._nats.options import check as check_options
from auditor._nats.options import go_duration, go_upper, parse_listen
from auditor._nats.permissions import Permissions, ResponsePermission, SubjectPermission

if TYPE_CHECKING:  # the settings model is imported where a whole config is interpreted
    from auditor._nats.settings import (
        JetStream,
        Leafnodes,
        Listener,
        ListenerCredential,
        Monitoring,
        Remote,
        Settings,
        Tls,
    )

BCRYPT = re.compile(r"^\$2[abxy]\$\d{2}\$.*")
"""The server's test for a bcrypt password or token (server/auth.go validBcryptPrefix)."""

DEFAULT_HOST = "0.0.0.0"  # noqa: S104 - the server's default bind, which rules check for
GLOBAL_ACCOUNT = "$G"


def secret_kind(value: str) -> str:
    return "bcrypt" if BCRYPT.match(value) else "plaintext"


# ------------------------------------------------------------------------- typed access


def _fail(v: Value, message: str) -> ConfError:
    return ConfError(message, file=v.file, line=v.line)


def entries(m: Value) -> Iterator[tuple[str, Value]]:
    """A map's (lower-cased key, value) pairs, as the server reads them."""
    for k, v in m.data.items():
        yield k.lower(), v


def as_map(v: Value, what: str) -> Value:
    if v.kind != "map":
        raise _fail(v, f"{what}: expected a map, got {v.kind}")
    return v


def as_str(v: Value, what: str) -> str:
    if v.kind != "string":
        raise _fail(v, f"{what}: expected a string, got {v.kind} {v.raw or v.plain()!r}")
    return str(v.data)


def as_int(v: Value, what: str) -> int:
    if v.kind != "integer":
        raise _fail(v, f"{what}: expected an integer, got {v.kind}")
    return int(v.data)


def as_bool(v: Value, what: str) -> bool:
    if v.kind != "bool":
        raise _fail(v, f"{what}: expected true or false, got {v.kind}")
    return bool(v.data)


def storage_size(v: Value) -> int | None:
    """A JetStream size: bytes, or a string of digits and K, M, G or T (powers of 1024); None if empty."""
    if v.kind == "integer":
        return int(v.data)
    text = str(v.data)
    if not text:
        return None
    return int(text[:-1]) * int(1024 ** ("KMGT".index(text[-1]) + 1))


def as_str_list(v: Value, what: str) -> list[str]:
    if v.kind == "string":
        return [str(v.data)]
    if v.kind != "array":
        raise _fail(v, f"{what}: expected a string or a list of strings, got {v.kind}")
    out = [item.data for item in v.data if item.kind == "string"]
    if len(out) != len(v.data):
        bad = next(item for item in v.data if item.kind != "string")
        raise _fail(bad, f"{what}: every entry must be a string, got {bad.kind}")
    return out


# ------------------------------------------------------------------------------- model


def parse_tls(v: Value, where: str) -> Tls:
    from auditor._nats.settings import Tls

    m = as_map(v, f"{where}.tls")
    settings: dict[str, Any] = {}
    for k, item in entries(m):
        name = f"{where}.tls.{k}"
        if k in ("cert_file", "key_file", "ca_file", "min_version"):
            settings[k] = as_str(item, name)
        elif k in ("verify", "verify_and_map", "insecure", "verify_cert_and_check_known_urls",
                   "allow_insecure_cipher_suites"):
            settings[k] = as_bool(item, name)
        elif k in ("cipher_suites", "curve_preferences", "pinned_certs"):
            settings[k] = as_str_list(item, name)
        elif k in ("handshake_first", "first", "immediate"):
            settings["handshake_first"] = item.plain() if item.kind in ("bool", "string") else None
        elif k == "timeout":
            settings[k] = item.data if item.kind in ("integer", "float") else item.plain()
        else:
            settings[k] = None if _looks_secret(k) else "set"
    return Tls(where, m.file, m.line, settings)


def _is_user_key(key: str) -> bool:
    from auditor._nats.creds import CredsError, decode_public_key

    try:
        return decode_public_key(key)[0] == "user"
    except CredsError:
        return False


def _looks_secret(key: str) -> bool:
    return any(word in key for word in ("pass", "key", "token", "secret", "seed"))


@dataclass(frozen=True)
class User:
    name: str
    account: str
    auth: str  # password, nkey
    permissions: Permissions | None
    permissions_source: str  # own, default, none
    file: str
    line: int
    password: str | None = field(default=None, repr=False)
    nkey: str | None = None
    connection_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class Authorization:
    """The top-level authorization block (passwords and tokens kept out of `repr`)."""

    defined: bool
    file: str | None = None
    line: int | None = None
    mode: str = "none"  # none, users, token, user, operator
    users: int = 0
    single_user: bool = False
    user: str | None = None
    token: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    timeout: object = None
    """As written: a number or a string (anything else the server does not take)."""
    callout: bool = False
    no_auth_user: str | None = None
    default_permissions: Permissions | None = None


@dataclass(frozen=True)
class Export:
    type: str  # stream, service, unknown
    subject: str | None
    accounts: tuple[str, ...]
    public: bool
    file: str
    line: int


@dataclass(frozen=True)
class AccountJetStream:
    enabled: bool
    limits: dict[str, int]


@dataclass(frozen=True)
class Account:
    name: str
    users: int
    exports: tuple[Export, ...]
    imports: int
    jetstream: AccountJetStream | None
    line: int


@dataclass
class NatsConfig:
    """The interpreted configuration (the parse tree is not kept: a config of 100,000 users would
    hold it as long as its users)."""

    file: str
    users: list[User] = field(default_factory=list)
    default_permissions: Permissions | None = None
    settings: Settings | None = None
    """None when only one user was interpreted."""
    user_names: list[str] = field(default_factory=list)
    """Every user's name (or nkey) when only one user was interpreted."""

    def user(self, name: str) -> User:
        for u in self.users:
            if u.name == name:
                return u
        known = ", ".join(self.user_names or [u.name for u in self.users]) or "none"
        raise ConfError(f"no user '{name}' in this config (users: {known})", file=self.file)


def interpret(
    parsed: ParsedConfig,
    *,
    resolve: Callable[[str], Path] | None = None,
    shown: Callable[[Path], str] | None = None,
    only_user: str | None = None,
) -> NatsConfig:
    """Interpret a parsed config. `resolve` maps a node path in the config to a readable path.

    With `only_user`, the whole config is still checked as the server checks it, but only
    that user is interpreted (`auditor nats can` needs no more) and `settings` stays None.
    """
    return _Interpreter(parsed, resolve or Path, shown or str, only_user).run()


class _Interpreter:
    def __init__(self, parsed: ParsedConfig, resolve: Callable[[str], Path], shown: Callable[[Path], str],
                 only_user: str | None = None) -> None:
        self.only_user = only_user
        self.parsed = parsed
        self.root = parsed.root
        self.resolve = resolve
        self.shown = shown
        self.tls_blocks: list[Tls] = []
        self.unknown: list[dict[str, Any]] = []
        self.all_names: list[str] = []
        self.user_count = 0

    def run(self) -> NatsConfig:
        check_options(self.root)
        cfg = NatsConfig(self.root.file)
        top = dict(entries(self.root))
        if self.only_user is not None:
            self.authorization(top.get("authorization"), cfg)
            self.accounts(top.get("accounts"), cfg)
            cfg.user_names = self.all_names
            return cfg
        from auditor._nats.settings import Client, Settings, UnknownKey

        host: str | None = None
        port = 4222
        if "listen" in top:
            host, port = parse_listen(top["listen"], "listen")
        if "host" in top or "net" in top:
            host = as_str(top.get("host") or top["net"], "host")
        if "port" in top:
            port = as_int(top["port"], "port")
        host = host or DEFAULT_HOST
        client_tls = self.tls(top.get("tls"), "client")
        allow_non_tls = as_bool(top["allow_non_tls"], "allow_non_tls") if "allow_non_tls" in top else False

        auth = self.authorization(top.get("authorization"), cfg)
        accounts = self.accounts(top.get("accounts"), cfg)
        operator_mode = any(k in top for k in ("operator", "operators", "roots", "root", "root_operators", "root_operator", "trusted", "trusted_keys"))
        no_auth_user = as_str(top["no_auth_user"], "no_auth_user") if "no_auth_user" in top else None
        if operator_mode:
            mode = "operator"
        elif cfg.users:
            mode = "users"
        elif auth.token:
            mode = "token"
        elif auth.single_user:
            mode = "user"
        else:
            mode = "none"
        auth = replace(auth, mode=mode, no_auth_user=no_auth_user)

        server_name = as_str(top["server_name"], "server_name") if "server_name" in top else None
        monitoring = self.monitoring(top, host)
        leafnodes = self.leafnodes(top.get("leafnodes") or top.get("leaf"))
        cluster = self.listener_block(top.get("cluster"), "cluster")
        gateway = self.listener_block(top.get("gateway"), "gateway")
        websocket = self.listener_block(top.get("websocket") or top.get("ws"), "websocket")
        mqtt = self.listener_block(top.get("mqtt"), "mqtt")
        cfg.settings = Settings(
            path=self.root.file,
            files=tuple(self.parsed.files),
            variables=tuple(self.parsed.variables),
            server_name=server_name,
            client=Client(host, port, client_tls, allow_non_tls),
            monitoring=monitoring,
            authorization=auth,
            accounts=tuple(accounts),
            system_account=_system_account(top),
            leafnodes=leafnodes,
            cluster=cluster,
            gateway=gateway,
            websocket=websocket,
            mqtt=mqtt,
            jetstream=self.jetstream(top),
            operator_mode=operator_mode,
            logging={
                k: bool(top[k].data) if k in top and top[k].kind == "bool" else False
                for k in ("debug", "trace", "trace_verbose", "trace_headers", "syslog")
            },
            listener_credentials=tuple(self.listener_credentials(top)),
            limits={
                k: int(top[k].data)
                for k in ("max_payload", "max_pending", "max_connections", "max_subscriptions", "max_control_line")
                if k in top and top[k].kind == "integer"
            },
            tls_blocks=tuple(self.tls_blocks),
            unknown_keys=tuple(
                UnknownKey(k, v.file, v.line)
                for k, v in self.root.data.items()
                if k.lower() not in _TOP_KEYS and not v.used
            ),
        )
        return cfg

    # -- blocks
    def tls(self, v: Value | None, where: str) -> Tls | None:
        if v is None:
            return None
        t = parse_tls(v, where)
        self.tls_blocks.append(t)
        return t

    def monitoring(self, top: dict[str, Value], host: str) -> Monitoring:
        from auditor._nats.settings import Monitoring

        http_host: str | None = None
        http_port = https_port = None
        line = None
        for key in ("http", "https", "http_port", "monitor_port", "https_port"):
            if key not in top:
                continue
            v = top[key]
            line = v.line
            if key in ("http", "https"):
                h, p = parse_listen(v, key)
                http_host = h if h is not None else http_host
                if key == "http":
                    http_port = p
                else:
                    https_port = p
            elif key == "https_port":
                https_port = as_int(v, key)
            else:
                http_port = as_int(v, key)
        enabled = bool(http_port) or bool(https_port)
        return Monitoring(
            enabled=enabled,
            host=(http_host or host) if enabled else None,
            http_port=http_port or None,
            https_port=https_port or None,
            tls=bool(https_port),
            base_path=as_str(top["http_base_path"], "http_base_path") if "http_base_path" in top else None,
            line=line,
        )

    def permissions(self, v: Value, where: str) -> Permissions:
        m = as_map(v, where)
        publish: SubjectPermission | None = None
        subscribe: SubjectPermission | None = None
        responses: ResponsePermission | None = None
        for k, item in entries(m):
            if k in ("pub", "publish", "import"):
                publish = self.subject_permission(item, f"{where}.{k}", queues=False)
            elif k in ("sub", "subscribe", "export"):
                subscribe = self.subject_permission(item, f"{where}.{k}", queues=True)
            elif k in ("allow_responses", "publish_allow_responses"):
                responses = self.responses(item, f"{where}.{k}")
            elif not item.used:
                raise _fail(item, f"Unknown field {k!r} parsing permissions ({where})")
        return Permissions.from_config(publish, subscribe, responses)

    def subject_permission(self, v: Value, where: str, *, queues: bool) -> SubjectPermission | None:
        if v.kind == "map":
            if not v.data:
                return None
            allow: list[str] | None = None
            deny: list[str] = []
            for k, item in entries(v):
                if k == "allow":
                    allow = self.subjects(item, f"{where}.allow", queues) or None
                elif k == "deny":
                    deny = self.subjects(item, f"{where}.deny", queues)
                elif not item.used:
                    raise _fail(item, f"Unknown field name {k!r} parsing subject permissions, only 'allow' or 'deny' are permitted")
            return SubjectPermission(tuple(allow) if allow is not None else None, tuple(deny))
        subjects = self.subjects(v, where, queues)
        # an empty list reads as no allow list at all: everything is allowed (as the server does)
        return SubjectPermission(tuple(subjects) if subjects else None, ())

    def subjects(self, v: Value, where: str, queues: bool) -> list[str]:
        return as_str_list(v, where)  # options.check has validated the subjects and queues

    def responses(self, v: Value, where: str) -> ResponsePermission | None:
        if v.kind == "bool":
            return ResponsePermission(1, 120.0) if v.data else None
        m = as_map(v, where)
        max_msgs, expires = 1, 120.0
        for k, item in entries(m):
            if k in ("max", "max_msgs", "max_messages", "max_responses"):
                n = as_int(item, f"{where}.{k}")
                max_msgs = n if n != 0 else max_msgs
            elif k in ("expires", "expiration", "ttl"):
                text = as_str(item, f"{where}.{k}")
                try:
                    seconds = go_duration(text)
                except ValueError as exc:
                    raise _fail(item, f"{where}.{k}: {exc}") from None
                expires = seconds if seconds != 0 else expires
            elif not item.used:
                raise _fail(item, f"Unknown field {k!r} parsing permissions ({where})")
        return ResponsePermission(max_msgs, expires)

    def users(self, v: Value, account: str, where: str) -> list[tuple[User, bool]]:
        if v.kind != "array":
            raise _fail(v, f"{where}: expected users field to be an array, got {v.kind}")
        self.user_count += len(v.data)
        if self.user_count > limits.get("nats-users"):
            raise _fail(v, limits.exceeded("nats-users", f"{where}: too many users ({self.user_count:,} so far)"))
        out: list[tuple[User, bool]] = []
        for i, entry in enumerate(v.data):
            m = as_map(entry, f"{where}[{i}]")
            if self.only_user is not None:
                named = next((str(x.data) for k, x in m.data.items() if k.lower() in ("user", "username", "nkey")), "")
                self.all_names.append(named)
                if named != self.only_user:
                    continue
            name = password = nkey = None
            perms: Permissions | None = None
            types: list[str] = []
            for k, item in entries(m):
                if k == "nkey":
                    nkey = as_str(item, f"{where}[{i}].nkey")
                elif k in ("user", "username"):
                    name = as_str(item, f"{where}[{i}].{k}")
                elif k in ("pass", "password"):
                    password = as_str(item, f"{where}[{i}].{k}")
                elif k in ("permission", "permissions", "authorization"):
                    perms = self.permissions(item, f"{where}[{i}].{k}")
                elif k in ("allowed_connection_types", "connection_types", "clients"):
                    types = [go_upper(t) for t in as_str_list(item, f"{where}[{i}].{k}")]  # as the server keeps them
                elif k == "proxy_required":
                    pass
                elif not item.used:
                    raise _fail(item, f"{where}[{i}]: unknown field {k!r}")
            if nkey is None and name is None:
                raise _fail(m, f"{where}[{i}]: user entry requires a user")
            if nkey is not None and (name is not None or password is not None):
                raise _fail(m, f"{where}[{i}]: nkey users do not take usernames or passwords")
            if nkey is not None and not _is_user_key(nkey):
                raise _fail(m, f"{where}[{i}]: {nkey[:12]!r} is not a valid public nkey for a user")
            user = User(
                name=nkey or name or "",
                account=account,
                auth="nkey" if nkey else "password",
                permissions=perms,
                permissions_source="own" if perms is not None else "none",
                file=m.file,
                line=m.line,
                password=password,
                nkey=nkey,
                connection_types=tuple(types),
            )
            out.append((user, perms is not None))
        return out

    def with_defaults(self, users: list[tuple[User, bool]], defaults: Permissions | None) -> list[User]:
        out = []
        for user, own in users:
            if not own and defaults is not None:
                user = User(**{**user.__dict__, "permissions": defaults, "permissions_source": "default"})
            out.append(user)
        return out

    def authorization(self, v: Value | None, cfg: NatsConfig) -> Authorization:
        if v is None:
            return Authorization(defined=False)
        info: dict[str, Any] = {}
        m = as_map(v, "authorization")
        raw_users: list[tuple[User, bool]] = []
        defaults: Permissions | None = None
        for k, item in entries(m):
            if k in ("user", "username"):
                info["single_user"] = True
                info["user"] = as_str(item, f"authorization.{k}")
            elif k in ("pass", "password"):
                info["password"] = as_str(item, f"authorization.{k}")
            elif k == "token":
                info["token"] = as_str(item, "authorization.token")
            elif k == "timeout":
                info["timeout"] = item.data if item.kind in ("integer", "float") else item.plain()
            elif k == "users":
                raw_users = self.users(item, GLOBAL_ACCOUNT, "authorization.users")
            elif k in ("default_permission", "default_permissions", "permissions"):
                defaults = self.permissions(item, f"authorization.{k}")
            elif k in ("auth_callout", "auth_hook"):
                info["callout"] = True
            elif k == "proxy_required":
                pass
            elif not item.used:
                raise _fail(item, f"authorization: unknown field {k!r}")
        cfg.default_permissions = defaults
        users = self.with_defaults(raw_users, defaults)
        cfg.users.extend(users)
        return Authorization(defined=True, file=m.file, line=m.line, users=len(users), default_permissions=defaults,
                             **info)

    def accounts(self, v: Value | None, cfg: NatsConfig) -> list[Account]:
        if v is None:
            return []
        if v.kind == "array":
            return [Account(n, 0, (), 0, None, v.line) for n in as_str_list(v, "accounts")]
        if v.kind != "map":  # the server ignores any other value
            return []
        m = as_map(v, "accounts")
        out = []
        for name, acc in m.data.items():
            if acc.used:
                continue
            am = as_map(acc, f"accounts.{name}")
            raw_users: list[tuple[User, bool]] = []
            defaults: Permissions | None = None
            exports: list[Export] = []
            imports = 0
            jetstream: AccountJetStream | None = None
            for k, item in entries(am):
                where = f"accounts.{name}.{k}"
                if k == "users":
                    raw_users = self.users(item, name, where)
                elif k == "default_permissions":
                    defaults = self.permissions(item, where)
                elif k == "exports":
                    exports = self.exports(item, where)
                elif k == "imports":
                    imports = len(item.data) if item.kind == "array" else 0
                elif k == "jetstream":
                    jetstream = self.account_jetstream(item)
            users = self.with_defaults(raw_users, defaults)
            cfg.users.extend(users)
            out.append(Account(name, len(users), tuple(exports), imports, jetstream, am.line))
        return out

    def exports(self, v: Value, where: str) -> list[Export]:
        if v.kind != "array":
            raise _fail(v, f"{where}: expected an array of exports")
        out = []
        for i, e in enumerate(v.data):
            em = as_map(e, f"{where}[{i}]")
            d = dict(entries(em))
            kind = "stream" if "stream" in d else "service" if "service" in d else "unknown"
            subject = as_str(d[kind], f"{where}[{i}].{kind}") if kind in d else None
            accounts = as_str_list(d["accounts"], f"{where}[{i}].accounts") if "accounts" in d else []
            out.append(Export(kind, subject, tuple(accounts), not accounts and "token_req" not in d, em.file, em.line))
        return out

    def account_jetstream(self, v: Value) -> AccountJetStream:
        if v.kind in ("bool", "string"):
            on = v.data is True or str(v.data).lower() in ("enabled", "enable", "true")
            return AccountJetStream(on, {})
        m = as_map(v, "jetstream")
        return AccountJetStream(True, {k: int(item.data) for k, item in entries(m) if item.kind == "integer"})

    def jetstream(self, top: dict[str, Value]) -> JetStream:
        from auditor._nats.settings import JetStream

        info: dict[str, Any] = {"enabled": False, "store_dir": None, "max_memory_store": None,
                                "max_file_store": None, "encrypted": False, "domain": None, "line": None}
        v = top.get("jetstream")
        if "store_dir" in top or "storedir" in top:
            info["store_dir"] = (top.get("store_dir") or top["storedir"]).data
        if v is None:
            return JetStream(**info)
        info["line"] = v.line
        if v.kind in ("bool", "string"):
            info["enabled"] = v.data is True or str(v.data).lower() in ("enabled", "enable", "true")
            return JetStream(**info)
        m = as_map(v, "jetstream")
        info["enabled"] = True
        for k, item in entries(m):
            if k in ("store", "store_dir", "storedir"):
                info["store_dir"] = as_str(item, f"jetstream.{k}")
            elif k in ("max_memory_store", "max_mem_store", "max_mem"):
                info["max_memory_store"] = storage_size(item)
            elif k in ("max_file_store", "max_file"):
                info["max_file_store"] = storage_size(item)
            elif k in ("key", "ek", "encryption_key"):
                info["encrypted"] = True
            elif k in ("enable", "enabled"):
                info["enabled"] = as_bool(item, f"jetstream.{k}")
            elif k == "domain":
                info["domain"] = item.plain()
        return JetStream(**info)

    def listener_block(self, v: Value | None, where: str) -> Listener:
        from auditor._nats.settings import Listener

        info: dict[str, Any] = {"enabled": False, "host": None, "port": None, "tls": None, "no_tls": False, "line": None}
        if v is None:
            return Listener()
        m = as_map(v, where)
        info["enabled"] = True
        info["line"] = m.line
        d = dict(entries(m))
        if "listen" in d:
            h, p = parse_listen(d["listen"], f"{where}.listen")
            info["host"], info["port"] = h, p
        if "host" in d:
            info["host"] = as_str(d["host"], f"{where}.host")
        if "port" in d:
            info["port"] = as_int(d["port"], f"{where}.port")
        if info["host"] is None and info["port"] is not None:
            info["host"] = DEFAULT_HOST
        if "no_tls" in d:
            info["no_tls"] = as_bool(d["no_tls"], f"{where}.no_tls")
        t = self.tls(d.get("tls"), where)
        info["tls"] = t
        info["authorization"] = "authorization" in d
        if "routes" in d:
            info["routes"] = tuple(_strip_userinfo(u) for u in as_str_list(d["routes"], f"{where}.routes"))
        return Listener(**info)

    def listener_credentials(self, top: dict[str, Value]) -> list[ListenerCredential]:
        """Passwords and tokens of the cluster, gateway, leafnode, websocket and MQTT authorization blocks."""
        from auditor._nats.settings import ListenerCredential

        out: list[ListenerCredential] = []
        for block, aliases in (("cluster", ()), ("gateway", ()), ("leafnodes", ("leaf",)), ("websocket", ("ws",)),
                               ("mqtt", ())):
            v = next((top[k] for k in (block, *aliases) if k in top), None)
            auth = dict(entries(v)).get("authorization") if v is not None and v.kind == "map" else None
            if auth is None or auth.kind != "map":
                continue
            where = f"{block}.authorization"
            found = dict(entries(auth))
            user = next((str(found[k].data) for k in ("user", "username") if k in found), None)
            for key, item in found.items():
                if key in ("pass", "password", "token") and item.kind == "string":
                    what = "token" if key == "token" else "password"
                    out.append(ListenerCredential(where, user if key != "token" else None, what,
                                                  secret_kind(str(item.data)), item.file, item.line))
            users = found.get("users")
            for i, entry in enumerate(users.data if users is not None and users.kind == "array" else []):
                fields = dict(entries(entry)) if entry.kind == "map" else {}
                secret = next((fields[k] for k in ("pass", "password") if k in fields), None)
                if secret is not None and secret.kind == "string":
                    name = next((str(fields[k].data) for k in ("user", "username") if k in fields), None)
                    out.append(ListenerCredential(f"{where}.users[{i}]", name, "password",
                                                  secret_kind(str(secret.data)), secret.file, secret.line))
        return out

    def leafnodes(self, v: Value | None) -> Leafnodes:
        from auditor._nats.settings import Leafnodes, Remote, file_facts

        listener = vars(self.listener_block(v, "leafnodes"))
        if v is None:
            return Leafnodes(**listener)
        d = dict(entries(v))
        remotes = d.get("remotes")
        if remotes is None:
            return Leafnodes(**listener)
        if remotes.kind != "array":
            raise _fail(remotes, "leafnodes.remotes: expected an array")
        out: list[Remote] = []
        for i, r in enumerate(remotes.data):
            where = f"leafnodes.remotes[{i}]"
            rm = dict(entries(as_map(r, where)))
            urls: list[str] = []
            for key in ("url", "urls"):
                if key in rm:
                    urls += as_str_list(rm[key], f"{where}.{key}")
            t = self.tls(rm.get("tls"), where)
            creds = None
            for key in ("creds", "credentials"):
                if key in rm:
                    path = as_str(rm[key], f"{where}.{key}")
                    resolved = self.resolve(path)
                    creds = file_facts(path, resolved, self.shown(resolved))
            seed = None
            for key in ("nkey", "seed"):
                if key in rm:
                    seed = as_str(rm[key], f"{where}.{key}")
            read = [gourl.parse(u) for u in urls]  # as the server reads them (urlsplit refuses `h]:7422`)
            schemes = {url.scheme for url in read}
            account = rm.get("account") or rm.get("local")
            out.append(Remote(
                urls=tuple(_strip_userinfo(u) for u in urls),
                url_has_password=any(url.password for url in read),
                account=account.data if account is not None else None,
                credentials=creds,
                seed=seed,
                tls=t,
                uses_tls=t is not None or bool(schemes & {"tls", "wss"}),
                file=r.file,
                line=r.line,
            ))
        return Leafnodes(**listener, remotes=tuple(out))


def _system_account(top: dict[str, Value]) -> str | None:
    v = top.get("system_account") or top.get("system")
    return str(v.data) if v is not None and v.kind == "string" else None


def _strip_userinfo(url: str) -> str:
    """A URL without its user and password (`tls://u:p@h:7422` -> `tls://h:7422`)."""
    if "@" not in url:
        return url
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url.rsplit("@", 1)[-1]
    return f"{scheme}://{rest.rsplit('@', 1)[-1]}"


_TOP_KEYS = frozenset("""
listen client_advertise port server_name host net debug trace trace_verbose trace_headers logtime
logtime_utc mappings maps disable_sublist_cache no_sublist_cache accounts default_sentinel
authorization http https http_port monitor_port https_port http_base_path cluster gateway leaf
leafnodes store_dir storedir jetstream logfile log_file logfile_size_limit log_size_limit
logfile_max_num log_max_num syslog remote_syslog pidfile pid_file ports_file_dir prof_port
prof_block_rate max_control_line max_payload max_pending max_connections max_conn
max_traced_msg_len max_subscriptions max_subs max_sub_tokens ping_interval ping_max
write_deadline write_timeout lame_duck_duration lame_duck_grace_period operator operators roots
root root_operators root_operator resolver account_resolver accounts_resolver resolver_tls
resolver_preload resolver_pinned_accounts no_auth_user system_account system no_system_account
no_system no_sys_acc no_header_support trusted trusted_keys tls ocsp ocsp_cache allow_non_tls
connect_error_reports reconnect_error_reports websocket ws mqtt server_tags default_js_domain
max_closed_clients tags server_metadata metadata proxies reconnect_error_reports
""".split())


def env_from_files(paths: list[Path]) -> dict[str, str]:
    """KEY=VALUE lines (systemd EnvironmentFile style); comments and blank lines skipped."""
    env: dict[str, str] = {}
    for path in paths:
        for line in read_text(path).splitlines():
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, _, value = line.partition("=")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            env[key.strip().removeprefix("export ").strip()] = value
    return env
