"""nats.conf files: the parsed configuration and every user's effective permissions.

Yields one `nats.config` record per config file (listeners, TLS blocks, authorization,
accounts and exports, leafnode remotes with their credentials files, cluster, gateway,
websocket, MQTT, JetStream, monitoring) and one `nats.user` record per user (authentication,
permissions as the server applies them, and what they reach).

Paths inside a nats.conf are node paths (`/etc/nats/leaf.creds`): an absolute path is read
under the target's root (`<root>/etc/nats/leaf.creds`), a relative one from the config's
folder. Includes are resolved from the including file's folder, as the server does, and may
not leave the target's root. Variables fall back to the source's `environment` (and
`environment_files`), never to the auditor's own environment.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, cast, overload

from auditor._collectors import _untrusted as untrusted
from auditor._collectors.interface import Collector
from auditor._collectors.nats_credentials import file_facts_of
from auditor._nats import config as conf
from auditor._nats import settings as conf_settings
from auditor._nats.conf import ConfError, parse_file
from auditor._nats.config import NatsConfig as NatsConfiguration
from auditor._nats.config import User, env_from_files, interpret, secret_kind
from auditor._nats.permissions import (
    WATCHED,
    Permissions,
    SubjectPermission,
    publish_reach,
    subscribe_reach,
)
from auditor.evidence.kinds.nats import (
    Account,
    AccountJetStream,
    Authorization,
    Client,
    Export,
    JetStream,
    Leafnodes,
    Listener,
    ListenerCredential,
    Logging,
    Monitoring,
    NatsConfig,
    NatsUser,
    PlaintextPassword,
    ReachTable,
    Remote,
    RemoteSeed,
    Responses,
    SecretValue,
    Subjects,
    Tls,
    UnknownKey,
    Variable,
)
from auditor.evidence.kinds.nats import Permissions as PermissionsFacts
from auditor.evidence.record import Record
from auditor.evidence.secret import conceal

CONFIG = "nats.config"
USER = "nats.user"


class NatsConfigCollector(Collector):
    name = "nats-config"
    kinds = (CONFIG, USER)

    def collect(self) -> Iterator[Record]:
        ctx = self.context
        env = dict(ctx.source.options.get("environment") or {})
        try:
            env = {**env_from_files(ctx.source.path_option(ctx.root, "environment_files")), **env}
        except OSError as exc:
            yield from ctx.errors(self.kinds, "environment_files", f"cannot read: {exc.strerror or exc}")
            return
        for path in ctx.source.path_option(ctx.root, "paths"):
            shown = ctx.display(path)
            real = ctx.real(path)
            if not real.is_file():
                yield from ctx.errors(self.kinds, shown, "no such file" if not real.exists() else "not a file")
                continue
            try:
                cfg = self._read(path, env)
            except ConfError as exc:
                yield from ctx.errors(self.kinds, shown, exc.diagnostics())
                continue
            try:
                yield ctx.record(shown, config_facts(cfg))
            except untrusted.UnexpectedValue as exc:  # a value of the wrong type in the untrusted config
                yield ctx.error(CONFIG, shown, str(exc))  # its users were read: they are judged below
            for user in cfg.users:
                yield ctx.record(f"{shown} user {user.name}", user_facts(user))

    def _read(self, path: Path, env: dict[str, str]) -> NatsConfiguration:
        """The interpreted config; its parse tree is let go before any record is made."""
        ctx = self.context
        parsed = parse_file(path, env=env, confine=ctx.root, shown=lambda p: ctx.display(Path(p)))
        return interpret(parsed, resolve=functools.partial(self._resolve, base=path.parent), shown=ctx.display)

    def _resolve(self, value: str, base: Path) -> Path:
        """A node path from the config, as a path under the target's root."""
        path = Path(value)
        if path.is_absolute():
            return self.context.root / path.relative_to(path.anchor)
        return base / path


def user_facts(user: User) -> NatsUser:
    """A user of the config as `nats.user` evidence: its permissions as the server applies them
    and what they reach; its password as kind and redacted form only."""
    return NatsUser(
        name=user.name,
        account=user.account,
        auth=cast(Literal["password", "nkey"], user.auth),
        password=secret_value(user.password) if user.password is not None else None,
        nkey=user.nkey,
        file=user.file,
        line=user.line,
        connection_types=user.connection_types,
        permissions_source=cast(Literal["own", "default", "none"], user.permissions_source),
        **permission_fields(user.permissions),
    )


def secret_value(value: str) -> SecretValue:
    """A password or token as evidence: its kind and a redacted form, never the value."""
    return SecretValue(kind=cast(Literal["bcrypt", "plaintext"], secret_kind(value)), redacted=conceal(value))


def permission_fields(perms: Permissions | None) -> dict[str, Any]:
    """The fields of evidence `Permissions` (a user's, or the defaults'): the allow and deny
    lists, allow_responses, and how much of `>`, `$SYS.>` and `$JS.API.>` they reach."""
    responses = None
    if perms is not None and perms.responses is not None:
        r = perms.responses
        responses = Responses(max=r.max_msgs, expires_seconds=float(r.expires), unlimited=r.unlimited)
    reach = ReachTable(
        publish={p: cast(Any, publish_reach(perms, p)) for p in WATCHED},
        subscribe={p: cast(Any, subscribe_reach(perms, p)) for p in WATCHED},
    )
    return {
        "restricted": perms is not None and (perms.publish is not None or perms.subscribe is not None),
        "publish": _subjects(perms.publish if perms else None),
        "subscribe": _subjects(perms.subscribe if perms else None),
        "allow_responses": responses,
        "reach": reach,
    }


def permissions_facts(perms: Permissions) -> PermissionsFacts:
    """Permissions (the defaults of an authorization block) as evidence."""
    return PermissionsFacts(**permission_fields(perms))


def _subjects(p: SubjectPermission | None) -> Subjects:
    return Subjects(allow=None, deny=()) if p is None else Subjects(allow=p.allow, deny=p.deny)


# ------------------------------------------------------------------------ nats.config
def config_facts(cfg: NatsConfiguration) -> NatsConfig:
    """The interpreted configuration as `nats.config` evidence (passwords, tokens and seeds as
    kind and redacted form only). :class:`~auditor._collectors._untrusted.UnexpectedValue` when
    the config holds a value of the wrong type where the server takes a string or a number."""
    s = cfg.settings
    if s is None:
        raise ValueError("the configuration was interpreted for one user only")
    auth = s.authorization
    return NatsConfig(
        path=s.path,
        files=s.files,
        variables=tuple(Variable(name=v.name, file=v.file, line=v.line,
                                 source=cast(Literal["config", "environment", "bcrypt"], v.source))
                        for v in s.variables),
        server_name=s.server_name,
        client=Client(host=s.client.host, port=s.client.port, tls=_tls(s.client.tls),
                      allow_non_tls=s.client.allow_non_tls, tls_required=s.client.tls_required),
        monitoring=Monitoring(enabled=s.monitoring.enabled, host=s.monitoring.host, http_port=s.monitoring.http_port,
                              https_port=s.monitoring.https_port, tls=s.monitoring.tls,
                              base_path=s.monitoring.base_path, line=s.monitoring.line),
        authorization=Authorization(
            defined=auth.defined,
            mode=cast(Literal["none", "users", "token", "user", "operator"], auth.mode),
            required=auth.mode != "none",
            users=auth.users,
            single_user=auth.single_user,
            user=auth.user,
            token=secret_value(auth.token) if auth.token is not None else None,
            password=secret_value(auth.password) if auth.password is not None else None,
            timeout=_number_or_text(auth.timeout, "authorization.timeout"),
            callout=auth.callout,
            no_auth_user=auth.no_auth_user,
            default_permissions=(permissions_facts(auth.default_permissions)
                                 if auth.default_permissions is not None else None),
            file=auth.file,
            line=auth.line,
        ),
        accounts=tuple(_account(a) for a in s.accounts),
        system_account=s.system_account,
        users=len(cfg.users),
        plaintext_passwords=tuple(
            PlaintextPassword(user=u.name, file=u.file, line=u.line)
            for u in cfg.users
            if u.password is not None and secret_kind(u.password) == "plaintext"
        ),
        leafnodes=_leafnodes(s.leafnodes),
        cluster=Listener(**_listener(s.cluster)),
        gateway=Listener(**_listener(s.gateway)),
        websocket=Listener(**_listener(s.websocket)),
        mqtt=Listener(**_listener(s.mqtt)),
        jetstream=_jetstream(s.jetstream),
        operator_mode=s.operator_mode,
        limits=dict(s.limits),
        tls_blocks=tuple(_tls(t) for t in s.tls_blocks),
        unknown_keys=tuple(UnknownKey(key=k.key, file=k.file, line=k.line) for k in s.unknown_keys),
        logging=Logging(**s.logging),
        listener_credentials=tuple(
            ListenerCredential(where=c.where, user=c.user, secret=cast(Literal["password", "token"], c.secret),
                               kind=cast(Literal["bcrypt", "plaintext"], c.kind), file=c.file, line=c.line)
            for c in s.listener_credentials
        ),
    )


@overload
def _tls(t: conf_settings.Tls) -> Tls: ...
@overload
def _tls(t: None) -> None: ...
def _tls(t: conf_settings.Tls | None) -> Tls | None:
    """A tls block as evidence (no key material): the interpreter has checked its types."""
    if t is None:
        return None
    s = t.settings
    return Tls(
        where=t.where,
        file=t.file,
        line=t.line,
        cert_file=s.get("cert_file"),
        key_file=s.get("key_file"),
        ca_file=s.get("ca_file"),
        verify=bool(s.get("verify")),
        verify_and_map=bool(s.get("verify_and_map")),
        insecure=bool(s.get("insecure")),
        handshake_first=s.get("handshake_first"),
        min_version=s.get("min_version"),
        effective_min_version=t.effective_min_version,
        cipher_suites=t.cipher_suites,
        weak_cipher_suites=t.weak_cipher_suites,
        allow_insecure_cipher_suites=bool(s.get("allow_insecure_cipher_suites")),
        curve_preferences=tuple(s.get("curve_preferences") or ()),
        pinned_certs=len(s.get("pinned_certs") or ()),
    )


def _number_or_text(value: object, where: str) -> int | float | str | None:
    """`value`, which must be a number, a string or None."""
    if value is None or (isinstance(value, int | float | str) and not isinstance(value, bool)):
        return value
    raise untrusted.UnexpectedValue("int | float | str | null", value, where)


def _account(a: conf.Account) -> Account:
    js = a.jetstream
    return Account(
        name=a.name,
        users=a.users,
        exports=tuple(Export(type=cast(Literal["stream", "service", "unknown"], e.type), subject=e.subject,
                             accounts=e.accounts, public=e.public, file=e.file, line=e.line) for e in a.exports),
        imports=a.imports,
        jetstream=AccountJetStream(enabled=js.enabled, limits=dict(js.limits)) if js is not None else None,
        line=a.line,
    )


def _listener(block: conf_settings.Listener) -> dict[str, Any]:
    """The fields of evidence `Listener` (also those of `Leafnodes`)."""
    return {"enabled": block.enabled, "host": block.host, "port": block.port, "tls": _tls(block.tls),
            "no_tls": block.no_tls, "line": block.line, "authorization": block.authorization,
            "routes": block.routes}


def _leafnodes(block: conf_settings.Leafnodes) -> Leafnodes:
    remotes = []
    for i, r in enumerate(block.remotes):
        remotes.append(Remote(
            urls=r.urls,
            url_has_password=r.url_has_password,
            account=untrusted.text_or_none(r.account, f"leafnodes.remotes[{i}].account"),
            credentials=file_facts_of(r.credentials) if r.credentials is not None else None,
            seed=RemoteSeed(redacted=conceal(r.seed, prefix=2)) if r.seed is not None else None,
            tls=_tls(r.tls),
            uses_tls=r.uses_tls,
            file=r.file,
            line=r.line,
        ))
    return Leafnodes(**_listener(block), remotes=tuple(remotes))


def _jetstream(js: conf_settings.JetStream) -> JetStream:
    return JetStream(
        enabled=js.enabled,
        store_dir=untrusted.text_or_none(js.store_dir, "jetstream.store_dir"),
        max_memory_store=js.max_memory_store,
        max_file_store=js.max_file_store,
        encrypted=js.encrypted,
        domain=untrusted.text_or_none(js.domain, "jetstream.domain"),
        line=js.line,
    )
