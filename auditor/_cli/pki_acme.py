"""`auditor pki acme`: the CA's ACME server, its external account binding keys and the NixOS
settings that point a node at it. Thin: the protocol is in `pki.acme`, imported lazily (the
server's dependencies, acme, josepy and uvicorn, are loaded by `serve` only)."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from auditor._cli.pki import _dir, _secrets, secret_source
from auditor._terminal import log_handler, warn
from auditor.errors import ConfigError

_LISTEN = re.compile(r"^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):([0-9]{1,5})$")


def register(pki_sub: Any) -> None:
    p = pki_sub.add_parser(
        "acme", allow_abbrev=False, help="the CA's ACME server (RFC 8555) and its account keys",
        description="An ACME server for the CA folder, so ACME clients (lego, certbot, NixOS security.acme) "
                    "renew node certificates from it. See docs/pki.md.",
    )
    sub = p.add_subparsers(dest="acme_command", metavar="COMMAND", required=True)

    c = sub.add_parser(
        "serve", allow_abbrev=False, help="serve ACME for the CA folder until stopped (SIGINT, SIGTERM)",
        description="Serve the directory at http(s)://HOST:PORT/acme/directory. Accounts need an external "
                    "account binding (`auditor pki acme eab`); what they may obtain is CA/acme/policy.yaml. "
                    "Exit 0 after a clean stop, 2 on bad input.",
    )
    _dir(c)
    c.add_argument("--listen", required=True, metavar="HOST:PORT", help="address to listen on, e.g. 127.0.0.1:8443 or [::1]:8443")
    c.add_argument("--tls-cert", type=Path, metavar="FILE", help="serve HTTPS with this certificate chain (PEM)")
    c.add_argument("--tls-key", type=Path, metavar="FILE", help="the key of --tls-cert (PEM)")
    c.add_argument("--http01-port", type=int, default=80, metavar="N", help="port http-01 validation connects to (default 80)")
    c.add_argument("--tlsalpn01-port", type=int, default=443, metavar="N", help="port tls-alpn-01 validation connects to (default 443)")
    c.add_argument("--hosts", type=Path, metavar="FILE", help="hosts-format file of names to addresses used for validation")
    c.add_argument("--dns01-hook", metavar="COMMAND",
                   help="offer dns-01: this command (no shell) gets _acme-challenge.NAME as its last argument and "
                        "prints the TXT values, one per line (e.g. 'dig +short TXT')")
    c.add_argument("--attestation-roots", type=Path, metavar="FILE",
                   help="device-attest-01: trust these roots (PEM) besides Yubico's installed ones")
    c.add_argument("--validation-timeout", type=float, default=10.0, metavar="SECONDS", help="per validation connection (default 10)")
    _secrets(c)
    c.set_defaults(handler=run_serve)

    c = sub.add_parser(
        "eab", allow_abbrev=False, help="make an external account binding key: one ACME account for NAME",
        description="Prints the key id and the HMAC key (a secret: stored 0600 in CA/acme/state.sqlite and "
                    "printed only here). lego: --eab --kid KID --hmac HMAC; certbot: --eab-kid KID --eab-hmac-key HMAC.",
    )
    _dir(c)
    c.add_argument("--name", required=True, help="who the account is for: an operator or a node (CA/acme/policy.yaml 'accounts')")
    c.add_argument("--format", choices=("text", "json"), default="text")
    c.set_defaults(handler=run_eab)

    c = sub.add_parser(
        "nixos", allow_abbrev=False, help="write the NixOS security.acme settings that renew a node from this server",
        description="A NixOS module: security.acme pointed at the ACME server (with EAB and the CA's root from an "
                    "environment file), the node's certificate renewed by lego's http-01 server, NATS reloaded "
                    "after each renewal, and services.nats using the certificate.",
    )
    c.add_argument("--server", required=True, metavar="URL", help="the directory URL, e.g. https://ca.example.com:8443/acme/directory")
    c.add_argument("--domain", required=True, action="append", metavar="NAME", help="the node's DNS name (first: the certificate's name); repeatable")
    c.add_argument("--email", required=True, help="contact address for the ACME account (NixOS and lego need one)")
    c.add_argument("--environment-file", default="/run/secrets/auditor-acme.env", metavar="PATH",
                   help="file on the node with LEGO_EAB=true, LEGO_EAB_KID, LEGO_EAB_HMAC and LEGO_CA_CERTIFICATES")
    c.add_argument("--ca-file", default="/etc/nats/certs/ca.pem", metavar="PATH", help="NATS ca_file on the node (the CA's bundle)")
    c.add_argument("--listen-http", default=":80", metavar="[ADDR]:PORT", help="where lego's http-01 server listens (default :80)")
    c.add_argument("--valid-min-days", type=int, default=20, metavar="N", help="renew when fewer days are left (default 20: 30-day certificates renew at 10 days)")
    c.add_argument("--reload", default="nats", metavar="SERVICE", help="systemd service reloaded after a renewal (default nats)")
    c.add_argument("-o", "--output", default="-", metavar="FILE", help="where to write the module (default: stdout)")
    c.set_defaults(handler=run_nixos)


def _listen(text: str) -> tuple[str, int]:
    match = _LISTEN.match(text)
    if match is None:
        raise ConfigError(f"--listen '{text[:80]}' is not HOST:PORT (e.g. 127.0.0.1:8443 or [::1]:8443)")
    host = match.group(1) or match.group(2)
    port = int(match.group(3))
    if not 1 <= port <= 65535:
        raise ConfigError(f"--listen: port {port} is not between 1 and 65535")
    return host, port


def _port(value: int, option: str) -> int:
    if not 1 <= value <= 65535:
        raise ConfigError(f"{option}: {value} is not a port (1 to 65535)")
    return value


def _tls(args: argparse.Namespace) -> tuple[str | None, str | None]:
    if (args.tls_cert is None) != (args.tls_key is None):
        raise ConfigError("--tls-cert and --tls-key go together")
    if args.tls_cert is None:
        return None, None
    import ssl

    for path in (args.tls_cert, args.tls_key):
        if not path.is_file():
            raise ConfigError(f"{path}: not a regular file")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(args.tls_cert, args.tls_key)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise ConfigError(f"{args.tls_cert}: cannot serve TLS with this certificate and key ({exc})") from None
    return str(args.tls_cert), str(args.tls_key)


def run_serve(args: argparse.Namespace) -> int:
    import logging

    from pki.acme import asgi, policy, validation
    from pki.acme.issuer import Issuer
    from pki.acme.server import AcmeServer
    from pki.acme.store import Store

    host, port = _listen(args.listen)
    http01, tlsalpn01 = _port(args.http01_port, "--http01-port"), _port(args.tlsalpn01_port, "--tlsalpn01-port")
    if not 0.1 <= args.validation_timeout <= 300:
        raise ConfigError("--validation-timeout: between 0.1 and 300 seconds")
    cert, key = _tls(args)
    hosts = validation.load_hosts(args.hosts) if args.hosts else {}
    hook = validation.hook_command(args.dns01_hook) if args.dns01_hook else None
    roots: tuple[Any, ...] = ()
    if args.attestation_roots:
        from auditor._cli.pki import _read_certs

        if not args.attestation_roots.is_file():
            raise ConfigError(f"{args.attestation_roots}: not a regular file")
        roots = tuple(_read_certs(args.attestation_roots))
    issuer = Issuer(args.dir, secret_source(args), lock_timeout=args.lock_timeout)
    intermediate = issuer.check()
    rules = policy.load(issuer.folder, issuer.leaf_profiles())
    settings = validation.Settings(http01_port=http01, tlsalpn01_port=tlsalpn01, hosts=hosts, dns01_hook=hook,
                                   timeout=args.validation_timeout, attestation_roots=roots)
    try:
        sock = asgi.listen(host, port)
    except OSError as exc:
        raise ConfigError(f"--listen {args.listen}: cannot listen: {exc.strerror or exc}") from None
    logging.basicConfig(level=logging.INFO, handlers=[log_handler("%(asctime)s %(name)s: %(message)s")])
    store = Store(issuer.folder)
    server = AcmeServer(issuer, store, rules, settings)
    scheme = "https" if cert else "http"
    shown = f"[{host}]" if ":" in host else host
    warn(f"ACME server for {issuer.folder} (intermediate '{intermediate}', policy: {rules.source}): "
         f"{scheme}://{shown}:{port}/acme/directory")
    try:
        asgi.serve(server, sock, tls_cert=cert, tls_key=key)
    finally:
        store.close()
        sock.close()
    return 0


def run_eab(args: argparse.Namespace) -> int:
    from pki.acme.policy import ACCOUNT_NAME
    from pki.acme.store import Store
    from pki.ca import CA

    if not ACCOUNT_NAME.match(args.name):
        raise ConfigError("--name: letters, digits and . _ @ - only (at most 64)")
    ca = CA.open(args.dir)
    with Store(ca.folder) as store:
        eab = store.create_eab(args.name)
    if args.format == "json":
        print(json.dumps({"name": eab.name, "kid": eab.kid, "hmac": eab.hmac}))
    else:
        print(f"external account binding for '{eab.name}' (binds one account; the HMAC key is a secret):")
        print(f"  kid:  {eab.kid}")
        print(f"  hmac: {eab.hmac}")
        warn(f"lego: --eab --kid {eab.kid} --hmac HMAC    certbot: --eab-kid {eab.kid} --eab-hmac-key HMAC")
    return 0


def run_nixos(args: argparse.Namespace) -> int:
    from auditor._cli._common import emit
    from auditor._schedule.export import AcmeNode, acme_nixos_module

    node = AcmeNode(server=args.server, domains=tuple(args.domain), email=args.email,
                    environment_file=args.environment_file, ca_file=args.ca_file, listen_http=args.listen_http,
                    valid_min_days=args.valid_min_days, reload=args.reload)
    emit(acme_nixos_module(node).content.encode(), args.output)
    return 0
