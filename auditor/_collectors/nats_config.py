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
from typing import Any, Literal, cast

from auditor._collectors.interface import Collector
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
    NatsConfig,
    NatsUser,
    ReachTable,
    Responses,
    SecretValue,
    Subjects,
)
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
            yield ctx.error(CONFIG, "environment_files", f"cannot read: {exc.strerror or exc}")
            return
        for path in ctx.source.path_option(ctx.root, "paths"):
            shown = ctx.display(path)
            if not path.is_file():
                yield ctx.error(CONFIG, shown, "no such file" if not path.exists() else "not a file")
                continue
            try:
                cfg = self._read(path, env)
            except ConfError as exc:
                yield ctx.error(CONFIG, shown, exc.diagnostics())
                continue
            yield ctx.adapt(shown, NatsConfig, cfg.evidence())
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


def _subjects(p: SubjectPermission | None) -> Subjects:
    return Subjects(allow=None, deny=()) if p is None else Subjects(allow=p.allow, deny=p.deny)
