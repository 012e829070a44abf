"""NATS connection settings shared by `auditor agent`, `worker`, `fleet` and `serve`.

Authentication is a credentials file (`--nats-creds`, a user JWT and seed) or mutual TLS
(`--nats-cert`, `--nats-key`, `--nats-ca`: a client certificate of the PKI's `nats-client`
profile), or both. User and password may also sit in the URL; wherever a URL is shown (logs,
errors, status) it is shown without them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from auditor.errors import ConfigError

SCHEMES = ("nats", "tls", "ws", "wss")
CONNECT_TIMEOUT_SECONDS = 10
MAX_RECONNECT_WAIT_SECONDS = 30


def shown_url(url: str) -> str:
    """`url` without user-info (user, password or token), fit to print."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparsable URL>"
    if ":" in host:
        host = f"[{host}]"
    return urlunsplit(parts._replace(netloc=f"{host}:{port}" if port else host))


ENVIRONMENT = {"--nats": "AUDITOR_NATS", "--nats-creds": "AUDITOR_NATS_CREDS", "--nats-cert": "AUDITOR_NATS_CERT",
               "--nats-key": "AUDITOR_NATS_KEY", "--nats-ca": "AUDITOR_NATS_CA"}
"""Each option's default comes from this variable (how the exported systemd units pass them)."""


LOCAL = "nats://127.0.0.1:4222"


def add_options(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """--nats URL plus --nats-creds and the mTLS trio; each defaults to its AUDITOR_NATS* variable.
    When NATS is `required`, the URL falls back to the local server (nats://127.0.0.1:4222);
    otherwise (serve's events) no URL means no NATS."""

    def env(option: str) -> str | None:
        return os.environ.get(ENVIRONMENT[option]) or None

    def path(option: str) -> Path | None:
        value = env(option)
        return Path(value) if value else None

    fallback = f", else {LOCAL}" if required else ""
    parser.add_argument("--nats", metavar="URL", default=env("--nats") or (LOCAL if required else None),
                        help=f"NATS server URL (nats:// or tls://; several separated by commas; default $AUDITOR_NATS{fallback})")
    parser.add_argument("--nats-creds", metavar="FILE", type=Path, default=path("--nats-creds"),
                        help="NATS credentials file (.creds; default $AUDITOR_NATS_CREDS)")
    parser.add_argument("--nats-cert", metavar="FILE", type=Path, default=path("--nats-cert"),
                        help="client certificate for mutual TLS (PEM, with its intermediates; the PKI's nats-client "
                             "profile; default $AUDITOR_NATS_CERT)")
    parser.add_argument("--nats-key", metavar="FILE", type=Path, default=path("--nats-key"),
                        help="the client certificate's private key (PEM; default $AUDITOR_NATS_KEY)")
    parser.add_argument("--nats-ca", metavar="FILE", type=Path, default=path("--nats-ca"),
                        help="CA certificates the server's certificate chains to (PEM; default $AUDITOR_NATS_CA)")


@dataclass(frozen=True)
class NatsSettings:
    servers: tuple[str, ...]
    creds: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    ca: Path | None = None
    name: str = "auditor"

    @classmethod
    def from_args(cls, args: argparse.Namespace, *, name: str) -> NatsSettings:
        return cls.make(args.nats, creds=args.nats_creds, cert=args.nats_cert, key=args.nats_key,
                        ca=args.nats_ca, name=name)

    @classmethod
    def make(cls, url: str, *, creds: Path | None = None, cert: Path | None = None, key: Path | None = None,
             ca: Path | None = None, name: str = "auditor") -> NatsSettings:
        servers = tuple(u.strip() for u in url.split(",") if u.strip())
        if not servers:
            raise ConfigError("give a NATS server URL (nats://host:4222)", field="--nats")
        for server in servers:
            try:
                scheme, host = urlsplit(server).scheme, urlsplit(server).hostname
            except ValueError:
                scheme, host = "", None
            if scheme not in SCHEMES or not host:
                raise ConfigError(f"'{shown_url(server)}' is not a NATS URL (nats://host:4222)", field="--nats")
        if (cert is None) != (key is None):
            raise ConfigError("mutual TLS needs both --nats-cert and --nats-key", field="--nats-cert")
        for path, flag in ((creds, "--nats-creds"), (cert, "--nats-cert"), (key, "--nats-key"), (ca, "--nats-ca")):
            if path is not None and not path.is_file():
                raise ConfigError("no such file (a regular file is needed)", file=path, field=flag)
        return cls(servers, creds, cert, key, ca, name)

    @property
    def shown(self) -> str:
        return ",".join(shown_url(s) for s in self.servers)

    @property
    def uses_tls(self) -> bool:
        return self.cert is not None or self.ca is not None or any(s.startswith(("tls://", "wss://")) for s in self.servers)

    def tls_context(self) -> ssl.SSLContext | None:
        if not self.uses_tls:
            return None
        try:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca) if self.ca else None)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"not usable as CA certificates: {getattr(exc, 'reason', None) or exc}",
                              file=self.ca, field="--nats-ca") from None
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.cert is not None and self.key is not None:
            try:
                context.load_cert_chain(str(self.cert), str(self.key), password=_no_password)
            except (ssl.SSLError, OSError, ValueError) as exc:
                raise ConfigError(
                    "the client certificate and key do not load together "
                    f"({getattr(exc, 'reason', None) or type(exc).__name__}); the key must be unencrypted PEM",
                    file=self.cert, field="--nats-cert",
                ) from None
        return context

    def connect_options(self, *, reconnect: bool, log: logging.Logger | None = None) -> dict[str, Any]:
        """Keyword arguments of nats.connect: reconnecting for ever (agents, workers) or failing
        at once (one-shot commands); problems logged without the URL's user-info."""
        options: dict[str, Any] = {
            "servers": list(self.servers),
            "name": self.name,
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "allow_reconnect": reconnect,
            # nats-py: -1 retries for ever; 0 would too (it never gives up on a server), so a
            # one-shot command allows one more attempt and then fails
            "max_reconnect_attempts": -1 if reconnect else 1,
            "reconnect_time_wait": 2 if reconnect else 0.2,
        }
        if self.creds is not None:
            options["user_credentials"] = str(self.creds)
        context = self.tls_context()
        if context is not None:
            options["tls"] = context
        shown = self.shown

        async def on_error(exc: Exception) -> None:
            if log is not None:
                text = " ".join(str(exc).split())[:200]
                for server in self.servers:
                    text = text.replace(server, shown_url(server))
                log.warning("nats %s: %s%s", shown, type(exc).__name__, f": {text}" if text else "")

        async def on_disconnect() -> None:
            if log is not None:
                log.warning("disconnected from %s; reconnecting", shown)

        async def on_reconnect() -> None:
            if log is not None:
                log.info("reconnected to %s", shown)

        options["error_cb"] = on_error
        options["disconnected_cb"] = on_disconnect
        options["reconnected_cb"] = on_reconnect
        return options

    async def connect(self, *, reconnect: bool, log: logging.Logger | None = None) -> Any:
        """A connected nats-py client (retrying until connected when `reconnect`); else
        Unreachable saying what the last attempt met (refused, TLS, authorization)."""
        from nats.aio.client import Client

        options = self.connect_options(reconnect=reconnect, log=log)
        seen: list[Exception] = []
        report = options["error_cb"]

        async def on_error(exc: Exception) -> None:
            seen.append(exc)
            await report(exc)

        options["error_cb"] = on_error
        nc = Client()
        disconnected = options["disconnected_cb"]

        async def on_disconnect() -> None:
            if not nc.is_closed:  # our own close is no disconnection worth a line
                await disconnected()

        options["disconnected_cb"] = on_disconnect
        try:
            await nc.connect(**options)
        except Exception as exc:
            cause = seen[-1] if seen and type(exc).__name__ == "NoServersError" else exc
            raise Unreachable(describe_error(cause, self)) from None
        return nc


async def connect_unless_stopped(settings: NatsSettings, stop: asyncio.Event, log: logging.Logger) -> Any | None:
    """A client connected for the long run (retrying for ever), or None when `stop` is set first."""
    connecting = asyncio.create_task(settings.connect(reconnect=True, log=log))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not connecting.done():
        connecting.cancel()
        with contextlib.suppress(BaseException):
            await connecting
        return None
    return connecting.result()


class Unreachable(Exception):
    """No NATS server of the settings could be connected to; the message says why (no secret)."""


async def close(nc: Any) -> None:
    """Flush what was published (acknowledgements, events) and close, without waiting long."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(nc.flush(), 5)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(nc.close(), 5)


def _no_password() -> bytes:
    raise ValueError("the key is encrypted")


def describe_error(exc: BaseException, settings: NatsSettings) -> str:
    """One line for a NATS failure, without any URL's user-info."""
    if isinstance(exc, Unreachable):
        return str(exc)
    text = " ".join(str(exc).split())[:200]
    for server in settings.servers:
        text = text.replace(server, shown_url(server))
    name = type(exc).__name__
    return f"{name}: {text}" if text and text != name else name
