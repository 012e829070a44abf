"""Vault / OpenBao through hvac: seal and health, audit devices, auth methods, mounts, PKI
mounts (CA certificate, roles, CRL and tidy status), KV v2 metadata and the token in use.

The token comes from the environment variable the inventory names (`token_env`), never from
the inventory. No secret value is ever read: KV v2 is read through its metadata endpoint only
(versions and their created_time, for secret age), the token's own id is never stored and
its accessor only in redacted form. A part the token may not read (403) is recorded as
unreadable, so rules on it report an error rather than a pass.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

from cryptography import x509

from auditor._collectors._untrusted import UnexpectedValue, flag_or_none, mapping, text_or_none
from auditor._collectors.certificates import certificate
from auditor._collectors.interface import Collector
from auditor._timeutil import rfc3339
from auditor.evidence.kinds.vault import (
    AuditDevice,
    AutoTidy,
    CrlConfig,
    Mount,
    Role,
    TidyStatus,
    VaultKvSecret,
    VaultPki,
    VaultServer,
    VaultToken,
)
from auditor.evidence.kinds.x509 import Certificate
from auditor.evidence.record import Record
from auditor.evidence.secret import conceal
from pki.errors import LoadError
from pki.facts import certificate_facts

SERVER, PKI, KV, TOKEN = "vault.server", "vault.pki", "vault.kv-secret", "vault.token"
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_SECRETS = 5000
_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


class VaultUnreachable(Exception):
    pass


def seconds(value: Any) -> int | None:
    """A TTL as Vault gives it (seconds, or a Go duration such as `72h` or `1h30m0s`)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"not a duration: {value!r}")
        return int(value)
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    parts = _GO_DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return int(sum(float(n) * _GO_UNITS[u] for n, u in parts))


def timestamp(value: Any) -> str | None:
    """An RFC 3339 time (Vault writes nanoseconds) or epoch seconds, as RFC 3339 seconds."""
    if value is None or value == "" or value == 0:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return rfc3339(dt.datetime.fromtimestamp(value, dt.UTC))
        except (OverflowError, OSError) as exc:
            raise ValueError(f"time {value} out of range") from exc
    text = str(value)
    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})", text)
    if not match:
        raise ValueError(f"not a timestamp: {text[:40]!r}")
    moment = dt.datetime.fromisoformat(match.group(1) + match.group(3).replace("Z", "+00:00"))
    if moment.year <= 1:  # Go's zero time
        return None
    return rfc3339(moment)


def _data(response: Any) -> dict[str, Any]:
    if isinstance(response, Mapping):
        inner = response.get("data")
        return dict(inner) if isinstance(inner, Mapping) else dict(response)
    return {}


def _entries(table: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """The entries of a table of mounts or audit devices, by path, without the response
    envelope's keys (request_id, ...) that come next to them."""
    return [(path, info) for path, info in sorted(table.items()) if isinstance(info, Mapping) and "type" in info]


def _mount_table(table: Mapping[str, Any], where: str) -> tuple[Mount, ...]:
    out: list[Mount] = []
    for path, info in _entries(table):
        config = mapping(info.get("config") or {}, f"{where}[{len(out)}].config")
        options = mapping(info.get("options") or {}, f"{where}[{len(out)}].options")
        out.append(Mount(
            path=path,
            type=str(info.get("type")),
            description=str(info.get("description") or ""),
            local=bool(info.get("local", False)),
            seal_wrap=bool(info.get("seal_wrap", False)),
            version=str(options.get("version")) if options.get("version") is not None else None,
            default_lease_ttl=seconds(config.get("default_lease_ttl")),
            max_lease_ttl=seconds(config.get("max_lease_ttl")),
            token_type=text_or_none(config.get("token_type"), f"{where}[{len(out)}].token_type"),
        ))
    return tuple(out)


class VaultCollector(Collector):
    name = "vault"
    kinds = (SERVER, PKI, KV, TOKEN)
    client: Any
    unreadable: list[str]

    def collect(self) -> Iterator[Record]:
        ctx = self.context
        opts = ctx.source.options
        address = str(opts["address"])
        label = str(opts.get("label") or address)
        env = str(opts["token_env"])
        token = os.environ.get(env)
        if not token:
            yield ctx.error(SERVER, label, f"environment variable {env} (token_env) is not set: no token to read Vault with")
            return
        import hvac
        import requests

        verify: bool | str = True
        if opts.get("ca_file"):
            verify = str(ctx.path(str(opts["ca_file"])))
        session = requests.Session()
        credentials = ctx.source.credentials.get("address")  # user-info of the URL: basic auth (a proxy's)
        if credentials is not None:
            session.auth = (credentials.username, credentials.password or "")
        client = hvac.Client(
            url=address, token=token, namespace=opts.get("namespace"), verify=verify,
            timeout=float(opts.get("timeout", DEFAULT_TIMEOUT)), session=session,
        )
        self.client = client
        self.unreadable: list[str] = []
        try:
            server = self._server(address)
        except (requests.exceptions.RequestException, VaultUnreachable) as exc:
            yield ctx.error(SERVER, label, f"cannot reach Vault at {address}: {_short(exc)}")
            return
        except (ValueError, TypeError) as exc:  # an answer of the wrong type (UnexpectedValue)
            yield ctx.error(SERVER, label, str(exc))
            return
        yield ctx.record(label, server)
        if server.sealed:
            return  # nothing else can be read from a sealed Vault; the server record says so
        yield from self._token(label)
        mounts = server.mounts or ()
        wanted_pki = opts.get("pki_mounts")
        for m in mounts:
            name = m.path.rstrip("/")
            if m.type == "pki" and (wanted_pki is None or name in wanted_pki):
                yield self._pki(label, name)
        wanted_kv = opts.get("kv_mounts")
        kv_mounts = [m.path.rstrip("/") for m in mounts if m.type == "kv" and m.version == "2"]
        if wanted_kv is not None:
            kv_mounts = [str(k).strip("/") for k in wanted_kv]
        budget = [int(opts.get("max_secrets", DEFAULT_MAX_SECRETS))]
        for mount in kv_mounts:
            yield from self._kv(label, mount, budget)

    def _try(self, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        """Call hvac; a refusal or missing path is recorded as unreadable, not raised."""
        import hvac.exceptions

        try:
            return call(*args, **kwargs)
        except hvac.exceptions.Forbidden:
            self.unreadable.append(f"{what}: permission denied")
        except hvac.exceptions.InvalidPath:
            self.unreadable.append(f"{what}: no such path")
        except hvac.exceptions.VaultError as exc:
            self.unreadable.append(f"{what}: {_short(exc)}")
        return None

    def _server(self, address: str) -> VaultServer:
        import hvac.exceptions

        c = self.client
        try:
            seal = c.sys.read_seal_status()
        except hvac.exceptions.VaultError as exc:
            raise VaultUnreachable(_short(exc)) from None
        if not isinstance(seal, Mapping):
            raise VaultUnreachable("seal-status did not answer with JSON")
        health = self._try("sys/health", c.sys.read_health_status, method="GET", standby_ok=True, sealed_code=200, uninit_code=200)
        health = health if isinstance(health, Mapping) else {}
        self.unreadable = [u for u in self.unreadable if not u.startswith("sys/health")]
        audit: tuple[AuditDevice, ...] | None = None
        auth: tuple[Mount, ...] | None = None
        mounts: tuple[Mount, ...] | None = None
        if not seal.get("sealed"):
            raw_audit = self._try("sys/audit", c.sys.list_enabled_audit_devices)
            if raw_audit is not None:
                audit = _audit_devices(_data(raw_audit))
            raw_auth = self._try("sys/auth", c.sys.list_auth_methods)
            auth = _mount_table(_data(raw_auth), "auth_methods") if raw_auth is not None else None
            raw_mounts = self._try("sys/mounts", c.sys.list_mounted_secrets_engines)
            mounts = _mount_table(_data(raw_mounts), "mounts") if raw_mounts is not None else None
        return VaultServer(
            address=address,
            version=str(seal.get("version") or health.get("version") or ""),
            cluster_name=text_or_none(seal.get("cluster_name"), "cluster_name"),
            initialized=bool(seal.get("initialized", False)),
            sealed=bool(seal.get("sealed", True)),
            seal_type=text_or_none(seal.get("type"), "seal_type"),
            storage_type=text_or_none(seal.get("storage_type"), "storage_type"),
            standby=flag_or_none(health.get("standby"), "standby"),
            server_time=timestamp(health.get("server_time_utc")),
            audit_devices=audit,
            auth_methods=auth,
            mounts=mounts,
            unreadable=tuple(self.unreadable),
        )

    def _token(self, base: str) -> Iterator[Record]:
        ctx = self.context
        self.unreadable = []
        raw = self._try("auth/token/lookup-self", self.client.auth.token.lookup_self)
        if raw is None:
            yield ctx.error(TOKEN, f"{base} token", "; ".join(self.unreadable))
            return
        d = _data(raw)
        display_name = str(d.get("display_name") or "")
        resource = f"{base} token {display_name or 'token'}"
        try:
            data = VaultToken(
                display_name=display_name,
                accessor=conceal(str(d.get("accessor") or "")) if d.get("accessor") else None,
                policies=tuple(sorted(str(p) for p in d.get("policies") or [])),
                type=text_or_none(d.get("type"), "type"),
                ttl=seconds(d.get("ttl")) or 0,
                creation_ttl=seconds(d.get("creation_ttl")) or 0,
                explicit_max_ttl=seconds(d.get("explicit_max_ttl")) or 0,
                creation_time=timestamp(d.get("creation_time")),
                expire_time=timestamp(d.get("expire_time")),
                renewable=bool(d.get("renewable", False)),
                orphan=bool(d.get("orphan", False)),
                num_uses=int(d.get("num_uses") or 0),
            )
        except (ValueError, TypeError) as exc:  # an answer of the wrong type (UnexpectedValue)
            yield ctx.error(TOKEN, resource, str(exc))
            return
        yield ctx.record(resource, data)

    def _pki(self, base: str, mount: str) -> Record:
        ctx = self.context
        c = self.client
        self.unreadable = []
        ca: Certificate | None = None
        pem = self._try(f"{mount}/ca/pem", c.secrets.pki.read_ca_certificate, mount_point=mount)
        if isinstance(pem, str) and "BEGIN CERTIFICATE" in pem:
            try:
                ca = certificate(certificate_facts(x509.load_pem_x509_certificate(pem.encode())))
            except (ValueError, LoadError) as exc:
                self.unreadable.append(f"{mount}/ca/pem: {_short(exc)}")
        elif pem is not None:
            self.unreadable.append(f"{mount}/ca/pem: no CA certificate configured")
        roles: list[Role] | None = None
        listed = self._try(f"{mount}/roles", c.secrets.pki.list_roles, mount_point=mount)
        resource = f"{base} {mount}"
        if listed is not None:
            roles = []
            for name in _data(listed).get("keys") or []:
                role = self._try(f"{mount}/roles/{name}", c.secrets.pki.read_role, name, mount_point=mount)
                if role is not None:
                    try:
                        roles.append(_role(str(name), _data(role), f"roles[{len(roles)}]"))
                    except (ValueError, TypeError) as exc:  # an answer of the wrong type (UnexpectedValue)
                        return ctx.error(PKI, resource, str(exc))
        elif self.unreadable[-1:] == [f"{mount}/roles: no such path"]:
            self.unreadable.pop()  # LIST answers 404 when there are no roles
            roles = []
        crl = self._try(f"{mount}/config/crl", c.secrets.pki.read_crl_configuration, mount_point=mount)
        tidy = self._try(f"{mount}/tidy-status", c.read, f"{mount}/tidy-status")
        auto = self._try(f"{mount}/config/auto-tidy", c.read, f"{mount}/config/auto-tidy")
        try:
            facts = self._pki_facts(mount, ca, roles, crl, tidy, auto)
        except (ValueError, TypeError) as exc:  # an answer of the wrong type (UnexpectedValue)
            return ctx.error(PKI, resource, str(exc))
        return ctx.record(resource, facts)

    def _pki_facts(self, mount: str, ca: Certificate | None, roles: list[Role] | None, crl: Any, tidy: Any,
                   auto: Any) -> VaultPki:
        crl_d, tidy_d, auto_d = _data(crl), _data(tidy), _data(auto)
        return VaultPki(
            mount=mount,
            ca=ca,
            roles=None if roles is None else tuple(roles),
            crl=None if crl is None else CrlConfig(
                disabled=bool(crl_d.get("disable", False)),
                expiry=seconds(crl_d.get("expiry")),
                auto_rebuild=bool(crl_d.get("auto_rebuild", False)),
                ocsp_disabled=bool(crl_d.get("ocsp_disable", False)),
            ),
            tidy=None if tidy is None else TidyStatus(
                state=text_or_none(tidy_d.get("state"), "tidy.state"),
                error=text_or_none(tidy_d.get("error"), "tidy.error"),
                time_finished=timestamp(tidy_d.get("time_finished")),
                last_auto_tidy_finished=timestamp(tidy_d.get("last_auto_tidy_finished")),
            ),
            auto_tidy=None if auto is None else AutoTidy(
                enabled=bool(auto_d.get("enabled", False)),
                interval=seconds(auto_d.get("interval_duration")),
                tidy_cert_store=bool(auto_d.get("tidy_cert_store", False)),
                tidy_revoked_certs=bool(auto_d.get("tidy_revoked_certs", False)),
            ),
            unreadable=tuple(self.unreadable),
        )

    def _kv(self, base: str, mount: str, budget: list[int]) -> Iterator[Record]:
        ctx = self.context
        kv = self.client.secrets.kv.v2
        folders = [""]
        while folders:
            folder = folders.pop(0)
            self.unreadable = []
            listed = self._try(f"{mount}/metadata/{folder}", kv.list_secrets, folder, mount_point=mount)
            if listed is None:
                empty_mount = folder == "" and self.unreadable[-1:] == [f"{mount}/metadata/: no such path"]
                if not empty_mount:  # an empty mount answers LIST with 404
                    yield ctx.error(KV, f"{base} {mount}/{folder}", "; ".join(self.unreadable))
                continue
            for key in sorted(str(k) for k in _data(listed).get("keys") or []):
                if key.endswith("/"):
                    folders.append(folder + key)
                    continue
                if budget[0] <= 0:
                    yield ctx.error(KV, f"{base} {mount}/{folder}", "more secrets than max_secrets: the rest were not read")
                    return
                budget[0] -= 1
                yield self._kv_secret(base, mount, folder + key)

    def _kv_secret(self, base: str, mount: str, path: str) -> Record:
        ctx = self.context
        resource = f"{base} {mount}/{path}"
        self.unreadable = []
        meta = self._try(f"{mount}/metadata/{path}", self.client.secrets.kv.v2.read_secret_metadata, path, mount_point=mount)
        if meta is None:
            return ctx.error(KV, resource, "; ".join(self.unreadable))
        try:
            return ctx.record(resource, _kv_facts(mount, path, _data(meta)))
        except (ValueError, TypeError) as exc:  # an answer of the wrong type (UnexpectedValue)
            return ctx.error(KV, resource, str(exc))


def _kv_facts(mount: str, path: str, d: Mapping[str, Any]) -> VaultKvSecret:
    versions = mapping(d.get("versions") or {}, "versions")
    current = int(d.get("current_version") or 0)
    cur = mapping(versions.get(str(current)) or {}, f"versions.{current}")
    return VaultKvSecret(
        mount=mount,
        path=path,
        current_version=current,
        oldest_version=int(d.get("oldest_version") or 0),
        versions=len(versions),
        max_versions=int(d.get("max_versions") or 0),
        created_time=timestamp(d.get("created_time")),
        updated_time=timestamp(d.get("updated_time")),
        current_created_time=timestamp(cur.get("created_time")),
        current_deleted=bool(cur.get("deletion_time")) or bool(cur.get("destroyed", False)),
        delete_version_after=seconds(d.get("delete_version_after")),
        custom_metadata_keys=_keys(d.get("custom_metadata"), "custom_metadata_keys"),
    )


def _keys(value: Any, where: str) -> tuple[str, ...]:
    """The keys of a JSON object (none for null), sorted."""
    if not value:
        return ()
    if not isinstance(value, Mapping):
        raise UnexpectedValue("object", value, where)
    return tuple(sorted(str(k) for k in value))


def _audit_devices(table: Mapping[str, Any]) -> tuple[AuditDevice, ...]:
    out: list[AuditDevice] = []
    for path, info in _entries(table):
        where = f"audit_devices[{len(out)}]"
        options = mapping(info.get("options") or {}, f"{where}.options")
        out.append(AuditDevice(
            path=path,
            type=str(info.get("type")),
            description=str(info.get("description") or ""),
            local=bool(info.get("local", False)),
            file_path=text_or_none(options.get("file_path"), f"{where}.file_path"),
            mode=text_or_none(options.get("mode"), f"{where}.mode"),
        ))
    return tuple(out)


def _role(name: str, d: Mapping[str, Any], where: str) -> Role:
    domains = d.get("allowed_domains") or []
    return Role(
        name=name,
        allow_any_name=bool(d.get("allow_any_name", False)),
        allow_subdomains=bool(d.get("allow_subdomains", False)),
        allow_glob_domains=bool(d.get("allow_glob_domains", False)),
        allow_bare_domains=bool(d.get("allow_bare_domains", False)),
        allow_localhost=bool(d.get("allow_localhost", False)),
        allow_ip_sans=bool(d.get("allow_ip_sans", False)),
        allow_wildcard_certificates=bool(d.get("allow_wildcard_certificates", False)),
        enforce_hostnames=bool(d.get("enforce_hostnames", False)),
        allowed_domains=tuple(str(x) for x in (domains if isinstance(domains, list) else [domains])),
        key_type=text_or_none(d.get("key_type"), f"{where}.key_type"),
        key_bits=int(d.get("key_bits") or 0),
        ttl=seconds(d.get("ttl")),
        max_ttl=seconds(d.get("max_ttl")),
        server_flag=bool(d.get("server_flag", False)),
        client_flag=bool(d.get("client_flag", False)),
        code_signing_flag=bool(d.get("code_signing_flag", False)),
        no_store=bool(d.get("no_store", False)),
    )


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (text[:200] or type(exc).__name__).replace("1 error occurred: * ", "")
