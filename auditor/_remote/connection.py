"""NATS connection settings shared by `auditor agent`, `worker`, `fleet` and `serve`.

Authentication is a credentials file (`--nats-creds`, a user JWT and seed) or mutual TLS
(`--nats-cert`, `--nats-key`, `--nats-ca`: a client certificate of the PKI's `nats-client`
profile), or both. A user and password (or a token) may also sit in the URL: they are taken out
where the URL enters (auditor._urls), passed to nats-py apart from it, and never shown; the
servers' URLs are kept, used and shown without them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from auditor._urls import Credentials, split_url, strip_userinfo
from auditor.errors import ConfigError

SCHEMES = ("nats", "tls", "ws", "wss")
CONNECT_TIMEOUT_SECONDS = 10
MAX_RECONNECT_WAIT_SECONDS = 30


_SEPARATOR = re.compile(r",\s*(?=[A-Za-z][A-Za-z0-9+.-]*://)")
"""Between two server URLs: a comma before the next scheme (a password may hold a comma)."""


class HalfClientCertificate(ConfigError):
    """A client certificate without its key, or a key without its certificate (exit 2)."""


@dataclass(frozen=True)
class NatsSettings:
    servers: tuple[str, ...]
    """The servers' URLs, without user-info: fit to show."""
    creds: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    ca: Path | None = None
    name: str = "auditor"
    login: Credentials | None = None
    """User and password, or a token, from the URLs' user-info (never shown)."""

    @classmethod
    def make(cls, url: str, *, creds: Path | None = None, cert: Path | None = None, key: Path | None = None,
             ca: Path | None = None, name: str = "auditor") -> NatsSettings:
        """Checked settings: `url` is one or more server URLs separated by commas."""
        servers: list[str] = []
        logins: list[Credentials] = []
        for given in (u.strip() for u in _SEPARATOR.split(url)):
            if not given:
                continue
            server, login = split_url(given)
            try:
                scheme, host = urlsplit(server).scheme, urlsplit(server).hostname
            except ValueError:
                scheme, host = "", None
            if scheme not in SCHEMES or not host:
                raise ConfigError(f"'{server.rpartition('@')[2]}' is not a NATS URL (nats://host:4222)")
            servers.append(server)
            if login is not None:
                logins.append(login)
        if not servers:
            raise ConfigError("no NATS server URL (nats://host:4222)")
        if any((x.username, x.password) != (logins[0].username, logins[0].password) for x in logins):
            raise ConfigError("the servers' URLs give different users or passwords; nats-py uses one login for all")
        if (cert is None) != (key is None):
            raise HalfClientCertificate("mutual TLS needs both a client certificate and its key")
        for path, what in ((creds, "credentials file"), (cert, "client certificate"), (key, "client key"),
                           (ca, "CA certificates file")):
            if path is not None and not path.is_file():
                raise ConfigError(f"no such {what} (a regular file is needed)", file=path)
        return cls(tuple(servers), creds, cert, key, ca, name, logins[0] if logins else None)

    @property
    def shown(self) -> str:
        return ",".join(self.servers)

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
                              file=self.ca, ) from None
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.cert is not None and self.key is not None:
            try:
                context.load_cert_chain(str(self.cert), str(self.key), password=_no_password)
            except (ssl.SSLError, OSError, ValueError) as exc:
                raise ConfigError(
                    "the client certificate and key do not load together "
                    f"({getattr(exc, 'reason', None) or type(exc).__name__}); the key must be unencrypted PEM",
                    file=self.cert,
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
        if self.login is not None and self.login.password is not None:
            options["user"], options["password"] = self.login.username, self.login.password
        elif self.login is not None:
            options["token"] = self.login.username  # nats://TOKEN@host, as the server's clients read it
        context = self.tls_context()
        if context is not None:
            options["tls"] = context
        shown = self.shown

        async def on_error(exc: Exception) -> None:
            if log is not None:
                text = strip_userinfo(" ".join(str(exc).split()))[:200]
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
    text = strip_userinfo(" ".join(str(exc).split()))[:200]
    name = type(exc).__name__
    return f"{name}: {text}" if text and text != name else name
