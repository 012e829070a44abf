"""The NATS options of `agent`, `worker`, `fleet` and `serve`: --nats URL, --nats-creds and the
mutual-TLS trio, each defaulting to its AUDITOR_NATS* variable (how the exported units pass them)."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from auditor._remote.connection import NatsSettings

ENVIRONMENT = {"--nats": "AUDITOR_NATS", "--nats-creds": "AUDITOR_NATS_CREDS", "--nats-cert": "AUDITOR_NATS_CERT",
               "--nats-key": "AUDITOR_NATS_KEY", "--nats-ca": "AUDITOR_NATS_CA"}
"""Each option's default comes from this variable (how the exported systemd units pass them)."""


LOCAL = "nats://127.0.0.1:4222"


def add_nats(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
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


def nats_settings(args: argparse.Namespace, *, name: str) -> NatsSettings:
    """The settings the options give, checked now: a certificate or key that does not load is a
    usage error here, not a reconnect loop later."""
    from auditor._remote.connection import NatsSettings

    settings = NatsSettings.make(args.nats, creds=args.nats_creds, cert=args.nats_cert, key=args.nats_key,
                                 ca=args.nats_ca, name=name)
    settings.tls_context()
    quiet_asyncio()
    return settings


def quiet_asyncio() -> None:
    """asyncio's own warnings (e.g. about TLS connections closing) are not the user's business."""
    logging.getLogger("asyncio").setLevel(logging.ERROR)
