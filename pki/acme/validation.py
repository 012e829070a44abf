"""Challenge validation: the server checks what the client put in place.

- **http-01** (RFC 8555 8.3): GET `http://NAME:PORT/.well-known/acme-challenge/TOKEN` answers
  the key authorization. Redirects are not followed.
- **tls-alpn-01** (RFC 8737): a TLS handshake to NAME:PORT with SNI NAME and ALPN
  `acme-tls/1` presents a certificate whose only SAN is NAME and whose critical acmeIdentifier
  extension holds SHA-256 of the key authorization.
- **dns-01** (RFC 8555 8.4): the operator's hook command is run (no shell) with the record name
  `_acme-challenge.NAME` as its last argument and prints the TXT values, one per line (quotes
  around a value are removed, so `dig +short TXT` is a hook); one must be the base64url
  SHA-256 of the key authorization.
- **device-attest-01** (draft-acme-device-attest, smallstep's `step` format): the client sends
  `attObj`, CBOR {fmt: "step", attStmt: {alg, sig, x5c: [slot attestation, f9 device
  certificate, ...]}}. The chain must lead to Yubico's PIV attestation roots
  (:mod:`pki.attestation`), the serial in it must be the identifier's value, and `sig` is
  the attested key's signature over the key authorization (proof of possession).

Where validation connects: the address of NAME in the `--hosts` file, else the system
resolver; the ports are `--http01-port` and `--tlsalpn01-port` (80 and 443 by default).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import ipaddress
import os
import socket
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from pki import attestation
from pki.errors import PKIError
from pki.fsutil import ReadError, read_regular

ACME_IDENTIFIER_OID = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.31")
MAX_HTTP_BODY = 8 * 1024
MAX_HOOK_OUTPUT = 64 * 1024
MAX_ATTESTATION = 32 * 1024
MAX_HOSTS_BYTES = 1024 * 1024
CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)}


class ValidationFailed(Exception):
    """The client's answer did not prove control: `kind` is the ACME error type."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True)
class Settings:
    http01_port: int = 80
    tlsalpn01_port: int = 443
    hosts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    dns01_hook: tuple[str, ...] | None = None
    timeout: float = 10.0
    attestation_roots: tuple[x509.Certificate, ...] = ()
    """Trusted in addition to Yubico's roots (shipped, see pki.attestation): an organisation's own, a test's."""


def printable(text: str, limit: int = 200) -> str:
    return text[:limit].translate(CONTROL)


def load_hosts(path: Path) -> dict[str, tuple[str, ...]]:
    """A hosts-format file: `ADDRESS NAME [NAME...]` per line, `#` comments."""
    try:
        text = read_regular(path, MAX_HOSTS_BYTES).decode("utf-8")
    except ReadError as exc:
        raise PKIError(f"{path}: " + ("is a folder, not a regular file" if exc.why == "folder" else exc.reason)) from None
    except UnicodeDecodeError as exc:
        raise PKIError(f"{path}: cannot read: {exc}") from None
    hosts: dict[str, list[str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        try:
            address = str(ipaddress.ip_address(fields[0]))
        except ValueError:
            raise PKIError(f"{path}:{number}: '{printable(fields[0], 60)}' is not an IP address") from None
        if len(fields) < 2:
            raise PKIError(f"{path}:{number}: an address needs at least one name")
        for name in fields[1:]:
            hosts.setdefault(name.lower().rstrip("."), []).append(address)
    return {k: tuple(v) for k, v in hosts.items()}


def resolve(name: str, settings: Settings) -> list[str]:
    if name in settings.hosts:
        return list(settings.hosts[name])
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise ValidationFailed("dns", f"cannot resolve {name}: {exc}") from None
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in seen:
            seen.append(address)
    if not seen:
        raise ValidationFailed("dns", f"{name} has no address")
    return seen


def _connect(name: str, port: int, settings: Settings) -> tuple[socket.socket, str]:
    errors = []
    for address in resolve(name, settings):
        try:
            return socket.create_connection((address, port), timeout=settings.timeout), address
        except OSError as exc:
            errors.append(f"{address}:{port}: {exc.strerror or exc}")
    raise ValidationFailed("connection", f"cannot connect to {name}: {'; '.join(errors)}")


def key_authorization_digest(key_authorization: str) -> bytes:
    return hashlib.sha256(key_authorization.encode()).digest()


# -- http-01 -----------------------------------------------------------------------------------


class _Connected(http.client.HTTPConnection):
    """An HTTP connection over a socket already connected to the address chosen."""

    def __init__(self, sock: socket.socket, host: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.sock = sock

    def connect(self) -> None:  # the socket is already connected
        return


def http01(name: str, token: str, key_authorization: str, settings: Settings) -> None:
    port = settings.http01_port
    sock, address = _connect(name, port, settings)
    host = name if port == 80 else f"{name}:{port}"
    conn = _Connected(sock, host, port, settings.timeout)
    try:
        conn.request("GET", f"/.well-known/acme-challenge/{token}",
                     headers={"Host": host, "User-Agent": "auditor-acme", "Accept": "*/*"})
        response = conn.getresponse()
        body = response.read(MAX_HTTP_BODY + 1)
    except (OSError, http.client.HTTPException) as exc:
        raise ValidationFailed("connection", f"http://{host}/.well-known/acme-challenge/: {exc}") from None
    finally:
        conn.close()
    where = f"http://{host}/.well-known/acme-challenge/{token} (at {address})"
    if response.status != 200:
        raise ValidationFailed("unauthorized", f"{where} answered HTTP {response.status}")
    if len(body) > MAX_HTTP_BODY:
        raise ValidationFailed("unauthorized", f"{where} answered more than {MAX_HTTP_BODY} bytes")
    if body.rstrip(b" \t\r\n").decode(errors="replace") != key_authorization:
        raise ValidationFailed("incorrectResponse", f"{where} answered something else than the key authorization")


# -- tls-alpn-01 -------------------------------------------------------------------------------


def tlsalpn01(name: str, key_authorization: str, settings: Settings) -> None:
    port = settings.tlsalpn01_port
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the certificate is self-signed by design (RFC 8737)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["acme-tls/1"])
    sock, address = _connect(name, port, settings)
    where = f"{name}:{port} (at {address})"
    try:
        with ctx.wrap_socket(sock, server_hostname=name) as tls:
            protocol = tls.selected_alpn_protocol()
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as exc:
        raise ValidationFailed("tls", f"{where}: TLS handshake failed: {exc}") from None
    finally:
        sock.close()
    if protocol != "acme-tls/1":
        raise ValidationFailed("tls", f"{where} did not negotiate the acme-tls/1 protocol")
    if not der:
        raise ValidationFailed("tls", f"{where} presented no certificate")
    try:
        cert = x509.load_der_x509_certificate(der)
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        ext = cert.extensions.get_extension_for_oid(ACME_IDENTIFIER_OID)
    except (ValueError, x509.ExtensionNotFound):
        raise ValidationFailed("unauthorized", f"{where}: the certificate lacks a SAN or the acmeIdentifier extension") from None
    names = list(sans)
    if len(names) != 1 or not isinstance(names[0], x509.DNSName) or names[0].value.lower() != name:
        raise ValidationFailed("unauthorized", f"{where}: the certificate's only SAN must be {name}")
    if not ext.critical or not isinstance(ext.value, x509.UnrecognizedExtension):
        raise ValidationFailed("unauthorized", f"{where}: the acmeIdentifier extension must be critical")
    if ext.value.value != b"\x04\x20" + key_authorization_digest(key_authorization):
        raise ValidationFailed("incorrectResponse", f"{where}: the acmeIdentifier does not match the key authorization")


# -- dns-01 ------------------------------------------------------------------------------------


def dns01(name: str, key_authorization: str, settings: Settings) -> None:
    if not settings.dns01_hook:
        raise ValidationFailed("dns", "dns-01 is not configured on this server (--dns01-hook)")
    record = f"_acme-challenge.{name}"
    values = run_hook([*settings.dns01_hook, record], settings.timeout)
    expected = _b64(key_authorization_digest(key_authorization))
    if expected not in values:
        raise ValidationFailed("incorrectResponse", f"no TXT record of {record} holds the expected value "
                                                    f"({len(values)} value(s) found)")


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def run_hook(args: Sequence[str], timeout: float) -> list[str]:
    """Run the hook (no shell), read at most MAX_HOOK_OUTPUT bytes; TXT values, one per line."""
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        except OSError as exc:
            raise ValidationFailed("dns", f"cannot run the dns-01 hook {printable(args[0], 80)}: {exc.strerror or exc}") from None
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            assert proc.stdout is not None
            out = proc.stdout.read(MAX_HOOK_OUTPUT + 1)
            if len(out) > MAX_HOOK_OUTPUT:
                proc.kill()
            proc.stdout.close()
            code = proc.wait()
        finally:
            timer.cancel()
        if len(out) > MAX_HOOK_OUTPUT:
            raise ValidationFailed("dns", f"the dns-01 hook printed more than {MAX_HOOK_OUTPUT} bytes")
        if code != 0:
            err.seek(0)
            first = (err.read(400).decode(errors="replace").strip().splitlines() or [""])[0]
            why = "timed out" if code < 0 else f"exited with {code}"
            raise ValidationFailed("dns", f"the dns-01 hook {why}" + (f": {printable(first)}" if first else ""))
    values = []
    for line in out.decode(errors="replace").splitlines():
        value = line.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if value:
            values.append(value)
    return values


# -- device-attest-01 --------------------------------------------------------------------------

COSE_ALGORITHMS = {-7: "ES256", -35: "ES384", -257: "RS256", -8: "EdDSA"}


def device_attest01(value: str, key_authorization: str, att_obj: bytes, settings: Settings,
                    now: dt.datetime) -> dict[str, Any]:
    """Check a YubiKey PIV attestation for the permanent identifier `value` (the serial);
    returns what it proves (the attested key's SPKI hash, serial, policies, chain)."""
    if len(att_obj) > MAX_ATTESTATION:
        raise ValidationFailed("malformed", f"attObj is larger than {MAX_ATTESTATION} bytes")
    from fido2 import cbor

    try:
        obj = cbor.decode(att_obj)
    except Exception:  # fido2's decoder raises ValueError, KeyError, IndexError on bad input
        raise ValidationFailed("malformed", "attObj is not CBOR") from None
    if not isinstance(obj, dict) or obj.get("fmt") != "step" or not isinstance(obj.get("attStmt"), dict):
        raise ValidationFailed("malformed", "attObj must be {fmt: \"step\", attStmt: {...}} (a YubiKey PIV attestation)")
    stmt = obj["attStmt"]
    x5c, alg, sig = stmt.get("x5c"), stmt.get("alg"), stmt.get("sig")
    if not isinstance(x5c, list) or len(x5c) < 2 or not all(isinstance(c, bytes) for c in x5c) or len(x5c) > 6:
        raise ValidationFailed("malformed", "attStmt.x5c must list the slot attestation and the device certificate (DER)")
    if alg not in COSE_ALGORITHMS or not isinstance(sig, bytes):
        raise ValidationFailed("malformed", f"attStmt.alg must be one of {sorted(COSE_ALGORITHMS)} and sig bytes")
    try:
        chain = [x509.load_der_x509_certificate(c) for c in x5c]
    except ValueError:
        raise ValidationFailed("malformed", "attStmt.x5c holds something that is not a certificate") from None
    leaf, device = chain[0], chain[1]
    installed = attestation.installed()
    verdict = attestation.verify(leaf, device, at=now, roots=installed.roots,
                                 intermediates=(*installed.intermediates, *chain[2:]),
                                 extra_roots=settings.attestation_roots)
    if not verdict.valid:
        raise ValidationFailed("unauthorized", f"the attestation is not trusted: {verdict.problem}")
    facts = attestation.attestation_facts(leaf)
    if facts.serial is None or str(facts.serial) != value:
        raise ValidationFailed("unauthorized", f"the attestation is for YubiKey serial {facts.serial}, not {printable(value, 40)}")
    _check_possession(leaf, COSE_ALGORITHMS[alg], sig, key_authorization.encode())
    return {
        "serial": facts.serial, "spki_sha256": facts.spki_sha256, "slot": facts.slot,
        "pin_policy": facts.pin_policy, "touch_policy": facts.touch_policy, "firmware": facts.firmware,
        "chain": list(verdict.chain),
    }


def _check_possession(leaf: x509.Certificate, alg: str, sig: bytes, message: bytes) -> None:
    key = leaf.public_key()
    try:
        if alg in ("ES256", "ES384") and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(sig, message, ec.ECDSA(hashes.SHA256() if alg == "ES256" else hashes.SHA384()))
        elif alg == "RS256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(sig, message, padding.PKCS1v15(), hashes.SHA256())
        elif alg == "EdDSA" and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(sig, message)
        else:
            raise ValidationFailed("malformed", f"attStmt.alg {alg} does not fit the attested key")
    except InvalidSignature:
        raise ValidationFailed("unauthorized", "attStmt.sig is not the attested key's signature over the key authorization") from None


def hook_command(text: str) -> tuple[str, ...]:
    """The operator's hook command line, split like a shell would split words (no expansion)."""
    import shlex

    try:
        args = tuple(shlex.split(text))
    except ValueError as exc:
        raise PKIError(f"--dns01-hook: {exc}") from None
    if not args:
        raise PKIError("--dns01-hook: empty command")
    if os.sep in args[0] and not Path(args[0]).is_file():
        raise PKIError(f"--dns01-hook: {printable(args[0], 120)}: no such file")
    return args
