"""`auditor pki`: the fleet's CA (root, intermediates, node certificates) from the command line.

Thin: parse, call the `pki` package, print, exit. A `pki.errors.PKIError` becomes a one-line
error with exit code 2 in `auditor._cli.main`; `verify` and `log verify` exit 1 when the answer
is "invalid".
Secrets (passphrases, PINs, management keys) come from the environment variable an option
names, or from a prompt; never from an option's value, and they are never printed.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor._terminal import printable
from auditor.errors import ConfigError
from pki.backends import BACKENDS
from pki.keytypes import CA_KEY_TYPES, KEY_TYPES

if TYPE_CHECKING:
    from pki.backends.interface import KeyBackend, SecretSource
    from pki.ca import CA, LeafOrder

REASONS = (
    "unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
    "cessationOfOperation", "privilegeWithdrawn",
)


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
MAX_DAYS = 36500  # pki.profiles.MAX_LIFETIME_DAYS (not imported: `auditor --help` stays quick)
MAX_PATHLEN = 8  # pki.profiles.MAX_PATH_LENGTH


def _whole(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high` (one-line error otherwise)."""

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text[:40]}' is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range: from {low} to {high}")
        return value

    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text[:40]}' is not a number of seconds") from None
    if not 0 <= value <= 3600:  # NaN fails too
        raise argparse.ArgumentTypeError(f"{text[:40]} is out of range: from 0 to 3600 seconds")
    return value


def register(sub: Any) -> None:
    p = sub.add_parser(
        "pki",
        help="run the fleet's CA: root, intermediates, node certificates, CRLs, inventory",
        description=(
            "A CA for the fleet in a folder: root and intermediate CAs (keys in encrypted files, "
            "on a PKCS#11 token or a YubiKey), node certificates from profiles, an inventory, a "
            "hash-chained issuance log and CRLs. See docs/pki.md."
        ),
    )
    pki_sub = p.add_subparsers(dest="pki_command", metavar="COMMAND", required=True)

    c = pki_sub.add_parser(
        "init", allow_abbrev=False, help="create a CA folder with a new root CA")
    _dir(c)
    c.add_argument("--name", required=True, help='the root CA\'s name, e.g. "CIM Root CA"')
    c.add_argument("--org", help="organisation (O=) for the CA's certificates")
    c.add_argument("--key-type", choices=CA_KEY_TYPES, help="root key type (default: the root profile's, ecdsa-p384)")
    _days_option(c, "root lifetime in days (default: the profile's, 20 years; at most 25 without --allow-long-lifetime)")
    c.add_argument("--pathlen", type=_whole(0, MAX_PATHLEN), metavar="N",
                   help="how many CA levels may follow the root (default: the profile's, 1: root -> intermediate -> leaf)")
    _backend(c)
    c.set_defaults(handler=run_init)

    c = pki_sub.add_parser(
        "intermediate", allow_abbrev=False, help="create (or rotate) the issuing intermediate CA")
    _dir(c)
    c.add_argument("--name", required=True, help='e.g. "CIM Intermediate CA"')
    c.add_argument("--permitted-dns", metavar="DOMAIN", action="append", default=[],
                   help="limit the DNS names it may certify to DOMAIN and its subdomains; repeatable")
    c.add_argument("--permitted-ip", metavar="CIDR", action="append", default=[],
                   help="limit the IP addresses it may certify to this range, e.g. 10.0.0.0/8; repeatable. "
                        "A constrained intermediate certifies no IP address unless given ranges")
    c.add_argument("--permitted-email", metavar="HOST", action="append", default=[],
                   help="limit email addresses to this host (.HOST: its subdomains; user@host: one mailbox); repeatable")
    c.add_argument("--permitted-uri", metavar="HOST", action="append", default=[],
                   help="limit URIs to this host (.HOST: its subdomains); repeatable")
    c.add_argument("--key-type", choices=CA_KEY_TYPES, help="key type (default: the profile's, ecdsa-p384)")
    _days_option(c, "lifetime in days (default: the profile's, 3 years; at most 10 without --allow-long-lifetime)")
    c.add_argument("--pathlen", type=_whole(0, MAX_PATHLEN - 1), metavar="N",
                   help="how many CA levels may follow it (default: the profile's, 0: it signs leaves only)")
    _backend(c)
    c.set_defaults(handler=run_intermediate)

    c = pki_sub.add_parser(
        "issue", allow_abbrev=False, help="issue a node certificate: writes cert.pem, key.pem, chain.pem")
    _dir(c)
    c.add_argument("--node", action="append", default=[], metavar="NAME",
                   help="the node's name (the certificate's CN); repeatable: several nodes in one run, "
                        "the CA key opened once, each node's files in DIR/NAME/")
    c.add_argument("--nodes-file", type=Path, metavar="FILE",
                   help="issue for every node in FILE, one a line: NAME, then its names as dns:NAME, ip:ADDR, "
                        "email:ADDR or uri:URI (# starts a comment); each node's files in DIR/NAME/")
    c.add_argument("--profile", required=True, help="nats-server, nats-client, nats-leaf, admin, or a CA's own")
    c.add_argument("--dns", action="append", default=[], metavar="NAME", help="DNS name (SAN); repeatable")
    c.add_argument("--ip", action="append", default=[], metavar="ADDR", help="IP address (SAN); repeatable")
    c.add_argument("--email", action="append", default=[], metavar="ADDR", help="email address (SAN); repeatable")
    c.add_argument("--uri", action="append", default=[], metavar="URI", help="URI (SAN), e.g. spiffe://fleet/node; repeatable")
    c.add_argument("--out", required=True, type=Path, metavar="DIR",
                   help="folder for cert.pem, key.pem, chain.pem (for several nodes: a folder per node inside it)")
    c.add_argument("--key-type", choices=KEY_TYPES, help="node key type (default: the profile's)")
    _days_option(c, "lifetime in days (default: the profile's, 90 for nodes; at most 398 without --allow-long-lifetime)")
    _secrets(c)
    c.set_defaults(handler=run_issue)

    c = pki_sub.add_parser(
        "renew", allow_abbrev=False, help="renew a node certificate (new key unless --reuse-key)")
    _dir(c)
    c.add_argument("serial", help="serial of the certificate to renew (hex, as `pki list` shows)")
    c.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder for the new cert.pem, key.pem, chain.pem (replaced)")
    c.add_argument("--reuse-key", type=Path, metavar="KEY", help="keep the node's key: the old key.pem")
    _days_option(c, "lifetime in days (default: the profile's)")
    _secrets(c)
    c.set_defaults(handler=run_renew)

    c = pki_sub.add_parser(
        "revoke", allow_abbrev=False, help="revoke a certificate and publish its issuer's CRL")
    _dir(c)
    c.add_argument("serial", help="serial (hex, as `pki list` shows)")
    c.add_argument("--reason", choices=REASONS, default="unspecified")
    _secrets(c)
    c.set_defaults(handler=run_revoke)

    c = pki_sub.add_parser(
        "crl", allow_abbrev=False, help="sign a fresh CRL and write it")
    _dir(c)
    c.add_argument("-o", "--output", required=True, metavar="FILE", help="where to write the CRL (PEM)")
    c.add_argument("--issuer", default="intermediate", help="intermediate (default), root, or a CA serial")
    c.add_argument("--days", type=_whole(1, 3650), help="days until nextUpdate (default: 30; 365 for the root)")
    _secrets(c)
    c.set_defaults(handler=run_crl)

    c = pki_sub.add_parser(
        "list", allow_abbrev=False, help="list the CA's certificates")
    _dir(c)
    c.add_argument("--expiring", metavar="DURATION", help="only valid certificates expiring within DURATION, e.g. 30d")
    c.add_argument("--format", choices=("text", "json"), default="text")
    c.add_argument("--at", metavar="TIME", help="as of this time (default: now)")
    c.set_defaults(handler=run_list)

    c = pki_sub.add_parser(
        "verify", allow_abbrev=False, help="verify a certificate's chain, name, purpose and revocation (exit 1: invalid)",
        description="Exit 0 when valid, 1 when invalid (with the reason), 2 on bad input.",
    )
    c.add_argument("cert", type=Path, metavar="CERT", help="certificate (PEM; further certificates in it are intermediates)")
    src = c.add_mutually_exclusive_group(required=True)
    src.add_argument("--dir", type=Path, metavar="CA", help="verify against this CA folder (its root, intermediates and CRLs)")
    src.add_argument("--roots", type=Path, metavar="FILE", help="trust anchors (PEM) of any PKI")
    c.add_argument("--intermediates", type=Path, metavar="FILE", help="untrusted intermediates (PEM), with --roots")
    c.add_argument("--crl", type=Path, action="append", default=[], metavar="FILE",
                   help="CRL to check the certificate against (with --roots); repeatable")
    c.add_argument("--name", metavar="HOST", help="DNS name or IP address the certificate must hold")
    c.add_argument("--purpose", choices=("server", "client", "any"), default="any")
    c.add_argument("--at", metavar="TIME", help="verify as of this time (default: now)")
    c.set_defaults(handler=run_verify)

    c = pki_sub.add_parser(
        "export", allow_abbrev=False, help="export a node's certificate for NATS: files and the tls {} block")
    _dir(c)
    c.add_argument("--node", required=True)
    c.add_argument("--format", choices=("nats",), default="nats")
    c.add_argument("--profile", help="which of the node's certificates (default: its only one, else nats-server)")
    c.add_argument("--out", type=Path, metavar="DIR", help="folder for nats-cert.pem, nats-ca.pem, nats-tls.conf (default: ./NODE-nats)")
    c.add_argument("--key", type=Path, metavar="FILE", help="the node's key file for key_file (default: DIR/key.pem)")
    c.add_argument("--force", action="store_true", help="replace files in DIR")
    c.set_defaults(handler=run_export)

    c = pki_sub.add_parser(
        "log", allow_abbrev=False, help="the issuance log")
    log_sub = c.add_subparsers(dest="log_command", metavar="COMMAND", required=True)
    v = log_sub.add_parser(
        "verify", allow_abbrev=False,
        help="check the hash chain and the inventory against it: edited, removed or reordered entries; "
             "edited, deleted or un-revoked inventory rows (exit 1)")
    _dir(v)
    v.set_defaults(handler=run_log_verify)
    v = log_sub.add_parser(
        "rebuild", allow_abbrev=False,
        help="replace the inventory (a cache) by one rebuilt from the log, which must verify")
    _dir(v)
    v.add_argument("--lock-timeout", type=_seconds, default=30.0, metavar="SECONDS",
                   help="wait this long for a busy CA folder (default 30)")
    v.set_defaults(handler=run_log_rebuild)

    c = pki_sub.add_parser(
        "profiles", allow_abbrev=False, help="list the certificate profiles")
    c.add_argument("--dir", type=Path, metavar="CA", help="include this CA folder's own profiles")
    c.set_defaults(handler=run_profiles)

    from auditor._cli import pki_acme

    pki_acme.register(pki_sub)


def _dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", required=True, type=Path, metavar="CA", help="the CA folder")


def _secrets(p: argparse.ArgumentParser) -> None:
    p.add_argument("--passphrase-env", metavar="VAR", help="environment variable holding the CA key passphrase (else prompted)")
    p.add_argument("--pin-env", metavar="VAR", help="environment variable holding the token or YubiKey PIN (else prompted)")
    p.add_argument("--management-key-env", metavar="VAR", help="environment variable holding the YubiKey PIV management key, hex (else prompted)")
    p.add_argument("--lock-timeout", type=_seconds, default=30.0, metavar="SECONDS", help="wait this long for a busy CA folder (default 30)")


def _days_option(p: argparse.ArgumentParser, text: str) -> None:
    p.add_argument("--days", type=_whole(1, MAX_DAYS), help=text)
    p.add_argument("--allow-long-lifetime", action="store_true",
                   help="allow --days beyond the profile's maximum (recorded in the issuance log)")


def _backend(p: argparse.ArgumentParser) -> None:
    _secrets(p)
    p.add_argument("--backend", choices=BACKENDS.names(), default=BACKENDS.names()[0],
                   help="where the new CA key is made: encrypted file (default), PKCS#11 token, YubiKey slot 9c")
    p.add_argument("--pkcs11-module", metavar="PATH", help="PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so")
    p.add_argument("--pkcs11-token", metavar="LABEL", help="token label")
    p.add_argument("--yubikey-serial", type=int, metavar="N", help="which YubiKey (default: the only one connected)")
    p.add_argument("--touch-policy", choices=("always", "cached", "never"), default="always",
                   help="YubiKey touch policy for the new key (default: always)")


# -- helpers -----------------------------------------------------------------------------------


def secret_source(args: argparse.Namespace) -> SecretSource:
    options = {"passphrase": "passphrase_env", "pin": "pin_env", "management-key": "management_key_env"}
    cache: dict[tuple[str, str], str] = {}

    def get(kind: str, what: str) -> str:
        var = getattr(args, options[kind], None)
        if var:
            if not _ENV_NAME.match(var):  # never echo it: it may be the secret itself
                raise ConfigError(f"--{kind}-env takes the name of an environment variable, not the {kind}")
            value = os.environ.get(var)
            if value is None:
                raise ConfigError(f"--{kind}-env: the environment variable {var} is not set")
            if not value:
                raise ConfigError(f"--{kind}-env: the environment variable {var} is empty")
            return value
        if (kind, what) in cache:
            return cache[(kind, what)]
        if not sys.stdin.isatty():
            raise ConfigError(
                f"no {kind} for {what}: give --{kind}-env VAR (an environment variable holding it) "
                "or run in a terminal to be asked"
            )
        value = getpass.getpass(f"{kind} for {what}: ")
        if what.startswith("new "):
            if getpass.getpass(f"repeat the {kind}: ") != value:
                raise ConfigError(f"the two {kind}s differ")
        cache[(kind, what)] = value
        return value

    return get


def _backend_for(args: argparse.Namespace, folder: Path, secrets: SecretSource) -> KeyBackend:
    from pki.backends.interface import BackendSettings

    if args.backend == "pkcs11" and not (args.pkcs11_module and args.pkcs11_token):
        raise ConfigError("--backend pkcs11 needs --pkcs11-module PATH and --pkcs11-token LABEL")
    settings = BackendSettings(
        folder, secrets, module=args.pkcs11_module or "", token=args.pkcs11_token or "",
        serial=args.yubikey_serial, touch_policy=args.touch_policy,
    )
    return BACKENDS.load(args.backend).from_settings(settings)


def _open(args: argparse.Namespace) -> tuple[CA, Callable[[dict[str, Any]], Any]]:
    from pki.backends import key_opener
    from pki.ca import CA

    ca = CA.open(args.dir)
    return ca, key_opener(ca.folder, secret_source(args))


def _days(args: argparse.Namespace) -> int | None:
    days: int | None = getattr(args, "days", None)
    return days


def _noted_override(args: argparse.Namespace) -> None:
    if getattr(args, "allow_long_lifetime", False) and getattr(args, "days", None) is not None:
        _say(f"note: --allow-long-lifetime: the issuance log records the {args.days}-day lifetime as an override "
             "where it exceeds the profile's maximum")


def _at(args: argparse.Namespace) -> Any:
    from auditor._timeutil import parse_time, utcnow

    return parse_time(args.at, what="--at") if args.at else utcnow()


def _say(text: str) -> None:
    from auditor._terminal import warn

    warn(text)


# -- commands ----------------------------------------------------------------------------------


def run_init(args: argparse.Namespace) -> int:
    from pki.ca import CA

    secrets = secret_source(args)
    ca = CA.init(args.dir, args.name, _backend_for(args, args.dir, secrets), key_type=args.key_type,
                 organization=args.org, lifetime_days=_days(args), allow_long_lifetime=args.allow_long_lifetime,
                 path_length=args.pathlen)
    root = ca.root_certificate
    print(f"created CA {ca.folder}: root '{ca.name}' serial {ca.root.serial}, valid until "
          f"{root.not_valid_after_utc:%Y-%m-%d}, key: {ca.root.key.get('backend')}")
    _say(f"next: auditor pki intermediate --dir {args.dir} --name \"{ca.name.replace('Root', 'Intermediate')}\"")
    _noted_override(args)
    return 0


def run_intermediate(args: argparse.Namespace) -> int:
    ca, open_key = _open(args)
    previous = ca.current_serial
    cert = ca.create_intermediate(
        args.name, open_key, _backend_for(args, ca.folder, secret_source(args)), key_type=args.key_type,
        permitted_dns=args.permitted_dns, permitted_ip=args.permitted_ip, permitted_email=args.permitted_email,
        permitted_uri=args.permitted_uri, lifetime_days=_days(args), allow_long_lifetime=args.allow_long_lifetime,
        path_length=args.pathlen, lock_timeout=args.lock_timeout,
    )
    print(f"intermediate '{args.name}' serial {ca.current_serial}, valid until {cert.not_valid_after_utc:%Y-%m-%d}")
    if previous:
        print(f"retired intermediate {previous}: its certificates stay valid; "
              f"{ca.folder / 'certs/ca-bundle.pem'} holds old and new for the overlap")
    _noted_override(args)
    return 0


_SAN_KINDS = {"dns": "dns", "ip": "ips", "email": "emails", "uri": "uris"}


def _orders(args: argparse.Namespace) -> tuple[list[LeafOrder], bool]:
    """The nodes to issue for (from --node and --nodes-file) and whether this is a batch
    (several nodes, or a file: each node's files then go to DIR/NODE/)."""
    from pki.ca import LeafOrder

    nodes: list[str] = args.node
    if not nodes and args.nodes_file is None:
        raise ConfigError("give --node NAME (repeatable) or --nodes-file FILE")
    names = {"dns": tuple(args.dns), "ips": tuple(args.ip), "emails": tuple(args.email), "uris": tuple(args.uri)}
    batch = args.nodes_file is not None or len(nodes) > 1
    if batch and any(names.values()):
        raise ConfigError("--dns, --ip, --email and --uri name one node's certificate; for several nodes, "
                          "give each node's names on its line of --nodes-file")
    orders = [LeafOrder(node, args.out / node if batch else args.out, **names) for node in nodes]
    if args.nodes_file is not None:
        orders += _read_nodes_file(args.nodes_file, args.out)
    seen: set[str] = set()
    for order in orders:
        if order.node in seen:
            raise ConfigError(f"node '{printable(order.node[:80])}' is named twice")
        seen.add(order.node)
    return orders, batch


def _read_nodes_file(path: Path, out: Path) -> list[LeafOrder]:
    from auditor._fsutil import read_user_bytes
    from pki.ca import LeafOrder

    data = read_user_bytes(path, what="node list")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", file=path) from None
    orders = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        found: dict[str, list[str]] = {kind: [] for kind in _SAN_KINDS.values()}
        for word in words[1:]:
            kind, sep, value = word.partition(":")
            if not sep or kind not in _SAN_KINDS or not value:
                raise ConfigError(f"'{printable(word[:80])}': write a name as dns:NAME, ip:ADDR, email:ADDR or uri:URI",
                                  file=path, line=number)
            found[_SAN_KINDS[kind]].append(value)
        orders.append(LeafOrder(words[0], out / words[0], **{kind: tuple(values) for kind, values in found.items()}))
    if not orders:
        raise ConfigError("names no node", file=path)
    return orders


def run_issue(args: argparse.Namespace) -> int:
    """Issue for one node, or for several in one run (pki.ca.CA.issue_many: the CA key opened
    and the lock taken once; each certificate through the same checks, pkilint and log). A
    refusal stops the run; the certificates issued before it stay issued (they are listed)."""
    orders, batch = _orders(args)
    ca, open_key = _open(args)
    if not batch:
        order = orders[0]
        issued = ca.issue(order.node, args.profile, open_key, order.out_dir, dns=order.dns, ips=order.ips,
                          emails=order.emails, uris=order.uris, key_type=args.key_type, lifetime_days=_days(args),
                          allow_long_lifetime=args.allow_long_lifetime, lock_timeout=args.lock_timeout)
        _print_issued(issued)
    else:
        from pki.build import parse_names
        from pki.ca import check_node
        from pki.fsutil import make_folder

        for order in orders:  # every node's input checked before anything is made
            check_node(order.node)
            parse_names(order.dns, order.ips, order.emails, order.uris)
        make_folder(args.out, exist_ok=True)
        done = ca.issue_many(orders, args.profile, open_key, key_type=args.key_type, lifetime_days=_days(args),
                             allow_long_lifetime=args.allow_long_lifetime, lock_timeout=args.lock_timeout,
                             issued=_print_issued)
        _say(f"issued {len(done)} certificates")
    _noted_override(args)
    return 0


def _print_issued(issued: Any) -> None:
    e = issued.entry
    print(f"issued {e.profile} certificate for {e.node}: serial {e.serial}, valid until {e.not_after}")
    for path in issued.files:
        print(f"  {path}")


def run_renew(args: argparse.Namespace) -> int:
    ca, open_key = _open(args)
    issued = ca.renew(args.serial, open_key, args.out, reuse_key=args.reuse_key, lifetime_days=_days(args),
                      allow_long_lifetime=args.allow_long_lifetime, lock_timeout=args.lock_timeout)
    _print_issued(issued)
    print(f"  (replaces serial {issued.entry.replaces}, now superseded; key {'kept' if args.reuse_key else 'new'})")
    _noted_override(args)
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    ca, open_key = _open(args)
    entry = ca.revoke(args.serial, open_key, reason=args.reason, lock_timeout=args.lock_timeout)
    print(f"revoked {entry.serial} ({entry.node}, {entry.profile}) reason {args.reason}; "
          f"CRL updated: {ca.folder / 'crl' / f'{entry.issuer_serial}.pem'}")
    return 0


def run_crl(args: argparse.Namespace) -> int:
    from auditor._cli._common import emit

    ca, open_key = _open(args)
    data = ca.crl(open_key, issuer=args.issuer, days=args.days, lock_timeout=args.lock_timeout)
    emit(data, args.output)
    if args.output not in (None, "-"):
        _say(f"wrote {args.output}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    import json

    from auditor._timeutil import parse_duration
    from pki.ca import CA

    now = _at(args)
    window = parse_duration(args.expiring, what="--expiring") if args.expiring else None
    ca = CA.open(args.dir)
    entries = list(ca.list(expiring=window, now=now))
    if args.format == "json":
        print(json.dumps([e.summary(now) for e in entries], indent=2))
        return 0
    if not entries:
        print("no certificates" + (f" expiring within {args.expiring}" if window else ""))
        return 0
    print(f"{'SERIAL':<34} {'STATE':<10} {'PROFILE':<13} {'NOT AFTER':<21} NODE")
    for e in entries:
        print(f"{e.serial:<34} {e.state(now):<10} {e.profile:<13} {e.not_after:<21} {e.node}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from pki.verify import verify_chain

    at = _at(args)
    leaf, extra = _read_cert_file(args.cert)
    if args.name and args.purpose == "client":
        raise ConfigError("--name checks a server's name; use it with --purpose server (or any)")
    purpose = "server" if args.name else args.purpose
    if args.dir is not None:
        if args.intermediates or args.crl:
            raise ConfigError("--intermediates and --crl go with --roots; --dir uses the CA's own")
        ca, _ = _open(args)
        anchors = [ca.root_certificate]
        intermediates = [*extra, *ca.intermediate_certificates()]
        crls: list[Any] | None = ca.crls()
        check_all = True
    else:
        from pki.crl import load_crls

        anchors = _read_certs(args.roots)
        intermediates = [*extra, *(_read_certs(args.intermediates) if args.intermediates else [])]
        crls = None
        if args.crl:
            crls = []
            for path in args.crl:
                crls.extend(load_crls(_read(path), str(path)))
        check_all = False
    result = verify_chain(leaf, anchors, intermediates, at=at, purpose=purpose, name=args.name,
                          crls=crls, crl_check_all=check_all)
    subject = leaf.subject.rfc4514_string()
    if result.valid:
        path = " <- ".join(c.subject.rfc4514_string() for c in result.path)
        print(f"OK: {args.cert}: {subject}; chain: {path}")
        return 0
    print(f"INVALID: {args.cert}: {subject}: {result.error}")
    return 1


def _read(path: Path) -> bytes:
    from auditor._fsutil import read_user_bytes

    return read_user_bytes(path, what="certificate or CRL file")


def _read_certs(path: Path) -> list[Any]:
    from auditor._collectors.certificates import load_within_limit
    from pki.errors import LoadError

    data = _read(path)
    try:
        loaded = load_within_limit(data)
    except LoadError as exc:  # certificates are read from bytes: the file's name is added here
        raise ConfigError(str(exc), file=path) from None
    bad = [item for item in loaded if item.certificate is None]
    if bad:
        where = f" (line {bad[0].line})" if bad[0].line else ""
        raise ConfigError(f"{path}{where}: {bad[0].error}")
    return [item.certificate for item in loaded]


def _read_cert_file(path: Path) -> tuple[Any, list[Any]]:
    certs = _read_certs(path)
    return certs[0], certs[1:]


def run_export(args: argparse.Namespace) -> int:
    from pki.ca import CA
    from pki.export import export_nats

    ca = CA.open(args.dir)
    out = args.out or Path(f"{args.node}-nats")
    result = export_nats(ca, args.node, out, key_file=args.key, profile=args.profile, overwrite=args.force)
    for path in result.files:
        _say(f"wrote {path}")
    if not result.key_file.exists():
        _say(f"note: key_file {result.key_file} does not exist yet: put the node's key.pem there "
             "(the CA never keeps node keys)")
    sys.stdout.write(result.tls_block)
    return 0


def run_log_verify(args: argparse.Namespace) -> int:
    from auditor._terminal import printable
    from pki.ca import CA

    ca = CA.open(args.dir)
    report = ca.verify_log()
    if report.ok:
        print(f"OK: {report.entries} entries, hash chain intact, matches the inventory (head {report.head[:16]}…)")
    else:
        print(f"TAMPERED: {ca.folder / 'log.jsonl'}: {len(report.problems)} problem(s)")
        for problem in report.problems:
            print(f"  {printable(problem)}")
    for note in report.notes:
        print(f"  note: {printable(note)}")
    return 0 if report.ok else 1


def run_log_rebuild(args: argparse.Namespace) -> int:
    from pki.ca import CA

    ca = CA.open(args.dir)
    count = ca.rebuild_inventory(lock_timeout=args.lock_timeout)
    print(f"rebuilt {ca.folder / 'inventory.sqlite'} from the log: {count} certificates")
    return 0


def run_profiles(args: argparse.Namespace) -> int:
    from pki.profiles import load_profile, shipped_names

    names = set(shipped_names())
    if args.dir is not None and (args.dir / "profiles").is_dir():
        names |= {p.stem for p in (args.dir / "profiles").glob("*.yaml")}
    for name in sorted(names):
        p = load_profile(name, args.dir)
        usage = ",".join(p.extended_key_usage) or ",".join(p.key_usage)
        print(f"{p.name:<13} {p.kind:<12} {p.lifetime_days:>5} days  {p.key_type:<11} {usage:<22} {p.description}")
    return 0
