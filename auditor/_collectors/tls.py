"""Live TLS endpoints: the presented chain, protocol, cipher, client-certificate request.

For each endpoint of the source, the probe connects (bounded by `timeout` seconds per step),
speaks as much NATS as needed (reads the plain-text INFO line and checks `tls_required` /
`tls_available`, unless the endpoint is `handshake_first`), and performs a TLS handshake that
verifies nothing itself: it records what the server presented and validates the chain with
cryptography against the target's trust anchors for the endpoint's name.

What the server sent is observed through the ssl module's message callback
(`SSLContext._msg_callback`, in CPython since 3.8): it hands the client every handshake
message it reads, so the presented chain, the CertificateRequest (with its acceptable CA
names) and the ServerHello are seen even when the server ends the handshake because no
client certificate was sent. The stdlib has no public API for any of these in 3.11.

Then, on fresh connections, it probes which protocol versions the server accepts (one
version offered at a time) and whether it accepts any weak cipher suite. An endpoint that
cannot be reached yields an error record; nothing here waits longer than `timeout`.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, get_args

from cryptography import x509

from auditor._collectors._tlswire import (
    MAX_INFO_LINE,
    WireError,
    certificate_list,
    certificate_request_cas,
    distinguished_name,
    nats_info,
    server_hello_cipher,
)
from auditor._collectors._untrusted import UnexpectedValue, one_of, one_of_or_none
from auditor._collectors.certificates import certificate, trust_anchors
from auditor._collectors.interface import Collector
from auditor.evidence.kinds.tls import (
    ClientCertificateRequest,
    NatsInfo,
    Outcome,
    TlsEndpoint,
    Validation,
    Version,
    WeakCiphers,
)
from auditor.evidence.kinds.tls import Handshake as HandshakeFacts
from auditor.evidence.kinds.x509 import Certificate
from auditor.evidence.record import Record
from pki.errors import LoadError
from pki.facts import certificate_facts
from pki.verify import verify_chain

KIND = "tls.endpoint"
DEFAULT_TIMEOUT = 5.0
VERSIONS: tuple[tuple[str, ssl.TLSVersion], ...] = (
    ("TLSv1", ssl.TLSVersion.TLSv1),
    ("TLSv1.1", ssl.TLSVersion.TLSv1_1),
    ("TLSv1.2", ssl.TLSVersion.TLSv1_2),
    ("TLSv1.3", ssl.TLSVersion.TLSv1_3),
)
_CLIENT_CAN = {
    "TLSv1": ssl.HAS_TLSv1,
    "TLSv1.1": ssl.HAS_TLSv1_1,
    "TLSv1.2": ssl.HAS_TLSv1_2,
    "TLSv1.3": ssl.HAS_TLSv1_3,
}
WEAK_CIPHERS = "kRSA:3DES:RC4:DES:aNULL:eNULL:EXPORT:MD5:@SECLEVEL=0"
"""OpenSSL cipher string of the suites the weak-cipher probe offers: no forward secrecy
(static RSA key exchange), 3DES, RC4, DES, anonymous, NULL, export and MD5 suites."""
_ALL_CIPHERS = "ALL:@SECLEVEL=0"
NO_TLS = "the NATS server offers no TLS (neither tls_required nor tls_available in its INFO)"
_VERSION_NAMES: tuple[Version, ...] = get_args(Version)


class ProbeError(Exception):
    """The endpoint could not be probed (refused, timed out, not TLS, not NATS)."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    name: str
    protocol: str
    handshake_first: bool
    role: str | None
    resource: str

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Endpoint:
        host, port = str(options["host"]), int(options["port"])
        name = str(options.get("name") or host)
        return cls(
            host=host,
            port=port,
            name=name,
            protocol=str(options.get("protocol", "tls")),
            handshake_first=bool(options.get("handshake_first", False)),
            role=options.get("role"),
            resource=str(options.get("label") or f"{name}:{port}"),
        )


@dataclass
class Observed:
    """What the client read during one handshake, from the ssl message callback."""

    hello_version: str | None = None
    hello_cipher: int | None = None
    certificates: list[bytes] = field(default_factory=list)
    cert_request: list[bytes] | None = None
    problems: list[str] = field(default_factory=list)

    def callback(self, _conn: Any, direction: str, version: Any, content_type: Any, msg_type: Any, data: bytes) -> None:
        if direction != "read" or content_type != ssl._TLSContentType.HANDSHAKE:  # type: ignore[attr-defined]
            return
        tls13 = version == ssl.TLSVersion.TLSv1_3
        try:
            if msg_type == ssl._TLSMessageType.SERVER_HELLO:  # type: ignore[attr-defined]
                self.hello_version = _version_name(version)
                self.hello_cipher = server_hello_cipher(data)
            elif msg_type == ssl._TLSMessageType.CERTIFICATE:  # type: ignore[attr-defined]
                self.certificates = certificate_list(data, tls13)
            elif msg_type == ssl._TLSMessageType.CERTIFICATE_REQUEST:  # type: ignore[attr-defined]
                self.cert_request = certificate_request_cas(data, tls13)
        except WireError as exc:
            self.problems.append(f"handshake message {int(msg_type)}: {exc}")


@dataclass
class Handshake:
    observed: Observed
    completed: bool
    version: str | None
    cipher: str | None
    error: str | None
    nats: dict[str, Any] | None


def _version_name(version: Any) -> str | None:
    for label, value in VERSIONS:
        if version == value:
            return label
    return None


def _cipher_names(ctx: ssl.SSLContext) -> dict[int, str]:
    return {c["id"] & 0xFFFF: c["name"] for c in ctx.get_ciphers()}


def client_context(*, minimum: ssl.TLSVersion | None = None, maximum: ssl.TLSVersion | None = None, ciphers: str | None = None) -> ssl.SSLContext:
    """A client context that verifies nothing (we validate the chain ourselves) and observes."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers(ciphers or "DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        # the system policy may forbid old versions, and Python deprecates them; the probe
        # has to offer them to learn whether the server still accepts them
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = minimum or ssl.TLSVersion.MINIMUM_SUPPORTED
        if maximum is not None:
            ctx.maximum_version = maximum
    return ctx


class Prober:
    """Probes one endpoint; every socket operation is bounded by `timeout` seconds."""

    def __init__(self, endpoint: Endpoint, timeout: float) -> None:
        self.endpoint = endpoint
        self.timeout = timeout

    def _connect(self) -> tuple[socket.socket, dict[str, Any] | None]:
        ep = self.endpoint
        try:
            sock = socket.create_connection((ep.host, ep.port), timeout=self.timeout)
        except TimeoutError:
            raise ProbeError(f"cannot connect to {ep.host}:{ep.port}: timed out after {self.timeout:g} s") from None
        except OSError as exc:
            raise ProbeError(f"cannot connect to {ep.host}:{ep.port}: {exc.strerror or exc}") from None
        if ep.protocol != "nats" or ep.handshake_first:
            return sock, None
        try:
            return sock, self._read_info(sock)
        except BaseException:
            sock.close()
            raise

    def _read_info(self, sock: socket.socket) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        buf = b""
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProbeError(self._no_info(f"no INFO line within {self.timeout:g} s"))
            sock.settimeout(left)
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                raise ProbeError(self._no_info(f"no INFO line within {self.timeout:g} s")) from None
            except OSError as exc:
                raise ProbeError(f"reading the NATS INFO line: {exc.strerror or exc}") from None
            if not chunk:
                raise ProbeError(self._no_info("the server closed the connection before sending a NATS INFO line"))
            buf += chunk
            if len(buf) > MAX_INFO_LINE:
                raise ProbeError(f"no NATS INFO line in the first {MAX_INFO_LINE} bytes")
        sock.settimeout(self.timeout)
        line, _, _ = buf.partition(b"\n")
        try:
            return nats_info(line)
        except WireError as exc:
            if line.startswith(b"\x16\x03"):
                raise ProbeError("the server answered with TLS, not a NATS INFO line") from None
            raise ProbeError(str(exc)) from None

    @staticmethod
    def _no_info(reason: str) -> str:
        return f"{reason} (if the server sets tls handshake_first, say handshake_first: true for this endpoint)"

    def handshake(self, ctx: ssl.SSLContext) -> Handshake:
        """One connection and handshake; ProbeError when nothing TLS happened at all."""
        observed = Observed()
        ctx._msg_callback = observed.callback  # type: ignore[attr-defined]
        sock, info = self._connect()
        try:
            if info is not None and not (info.get("tls_required") or info.get("tls_available")):
                return Handshake(observed, False, None, None, NO_TLS, info)
            server_hostname = None if _is_ip(self.endpoint.name) else self.endpoint.name
            try:
                tls = ctx.wrap_socket(sock, server_hostname=server_hostname, do_handshake_on_connect=False)
            except (ssl.SSLError, OSError) as exc:
                raise ProbeError(f"TLS setup failed: {exc}") from None
            sock = tls
            try:
                tls.do_handshake()
            except TimeoutError:
                if observed.hello_version is None:
                    raise ProbeError(f"TLS handshake with {self.endpoint.host}:{self.endpoint.port} timed out after {self.timeout:g} s") from None
                return self._result(observed, None, "timed out during the handshake", info)
            except (ssl.SSLError, OSError) as exc:
                return self._result(observed, None, _ssl_reason(exc), info)
            return self._result(observed, tls, None, info)
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    def _result(self, observed: Observed, tls: ssl.SSLSocket | None, error: str | None, info: dict[str, Any] | None) -> Handshake:
        version = tls.version() if tls is not None else observed.hello_version
        negotiated = tls.cipher() if tls is not None else None
        cipher = negotiated[0] if negotiated else None
        if cipher is None and observed.hello_cipher is not None:
            names = _cipher_names(client_context(ciphers=_ALL_CIPHERS))
            cipher = names.get(observed.hello_cipher, f"0x{observed.hello_cipher:04x}")
        return Handshake(observed, tls is not None, version, cipher, error, info)

    def version_outcome(self, label: str, version: ssl.TLSVersion) -> Outcome:
        """accepted, refused, untested (this client cannot offer it) or error."""
        if not _CLIENT_CAN[label]:
            return "untested"
        try:
            ctx = client_context(minimum=version, maximum=version, ciphers=_ALL_CIPHERS)
        except (ssl.SSLError, ValueError):
            return "untested"
        try:
            result = self.handshake(ctx)
        except ProbeError:
            return "error"
        if result.observed.hello_version == label:
            return "accepted"
        return "refused"

    def weak_cipher(self) -> WeakCiphers:
        try:
            ctx = client_context(maximum=ssl.TLSVersion.TLSv1_2, ciphers=WEAK_CIPHERS)
        except ssl.SSLError:
            return WeakCiphers(outcome="untested", cipher=None, offered=0)
        offered = len([c for c in ctx.get_ciphers() if c["protocol"] != "TLSv1.3"])
        try:
            result = self.handshake(ctx)
        except ProbeError:
            return WeakCiphers(outcome="error", cipher=None, offered=offered)
        if result.observed.hello_version is not None and result.cipher is not None:
            return WeakCiphers(outcome="accepted", cipher=result.cipher, offered=offered)
        return WeakCiphers(outcome="refused", cipher=None, offered=offered)


def _is_ip(name: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _ssl_reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).lower().replace("_", " ")
    return " ".join(str(exc).split()) or type(exc).__name__


def _nats_facts(info: dict[str, Any] | None, endpoint: Endpoint) -> NatsInfo | None:
    if endpoint.protocol != "nats":
        return None
    if info is None:  # handshake_first: INFO comes only inside TLS
        return NatsInfo(info_before_tls=False, handshake_first=True)
    return NatsInfo(
        info_before_tls=True,
        handshake_first=False,
        server_name=str(info.get("server_name") or ""),
        version=str(info.get("version") or ""),
        # omitempty in nats-server: absent means false
        tls_required=bool(info.get("tls_required", False)),
        tls_available=bool(info.get("tls_available", False)),
        tls_verify=bool(info.get("tls_verify", False)),
        auth_required=bool(info.get("auth_required", False)),
    )


class TlsCollector(Collector):
    name = "tls"
    kinds = (KIND,)

    def collect(self) -> Iterator[Record]:
        ctx = self.context
        options = ctx.source.options
        timeout = float(options.get("timeout", DEFAULT_TIMEOUT))
        probe_versions = bool(options.get("probe_versions", True))
        anchors, problems = trust_anchors(ctx, KIND)
        yield from problems
        for spec in options.get("endpoints", ()):
            endpoint = Endpoint.from_options(spec)
            try:
                data = self._probe(endpoint, timeout, probe_versions, anchors)
            except (ProbeError, UnexpectedValue) as exc:
                yield ctx.error(KIND, endpoint.resource, str(exc))
                continue
            yield ctx.record(endpoint.resource, data)

    def _probe(self, endpoint: Endpoint, timeout: float, probe_versions: bool, anchors: list[x509.Certificate]) -> TlsEndpoint:
        prober = Prober(endpoint, timeout)
        main = prober.handshake(client_context())
        observed = main.observed
        tls_offered = main.version is not None
        if not tls_offered and main.error != NO_TLS:
            raise ProbeError(f"TLS handshake with {endpoint.host}:{endpoint.port} failed: {main.error}")
        chain = self._chain(observed.certificates)
        versions: dict[Version, Outcome] = {}
        weak = None
        if tls_offered and probe_versions:
            versions = {one_of(label, _VERSION_NAMES, "versions"): prober.version_outcome(label, v) for label, v in VERSIONS}
            weak = prober.weak_cipher()
        return TlsEndpoint(
            host=endpoint.host,
            port=endpoint.port,
            name=endpoint.name,
            protocol=one_of(endpoint.protocol, ("tls", "nats"), "protocol"),
            role=endpoint.role,
            nats=_nats_facts(main.nats, endpoint),
            tls_offered=tls_offered,
            handshake=HandshakeFacts(
                completed=main.completed,
                version=one_of_or_none(main.version, _VERSION_NAMES, "handshake.version"),
                cipher=main.cipher,
                error=main.error,
            ),
            client_certificate=ClientCertificateRequest(
                requested=observed.cert_request is not None,
                acceptable_cas=tuple(_ca_name(n) for n in observed.cert_request or []),
            ),
            presented=tuple(facts for _, facts in chain),
            validation=self._validate([c for c, _ in chain], endpoint, anchors),
            versions=versions,
            accepted_versions=tuple(k for k, v in versions.items() if v == "accepted"),
            weak_ciphers=weak,
            problems=tuple(observed.problems),
        )

    def _chain(self, ders: list[bytes]) -> list[tuple[x509.Certificate, Certificate]]:
        out: list[tuple[x509.Certificate, Certificate]] = []
        for der in ders:
            try:
                cert = x509.load_der_x509_certificate(der)
                out.append((cert, certificate(certificate_facts(cert))))
            except (ValueError, LoadError) as exc:
                raise ProbeError(f"the server presented a malformed certificate: {exc}") from None
        return out

    def _validate(self, chain: list[x509.Certificate], endpoint: Endpoint, anchors: list[x509.Certificate]) -> Validation:
        if not chain:
            return Validation(status="no-certificate", error="the server presented no certificate", name=endpoint.name,
                              path=(), anchor=None)
        if not anchors:
            return Validation(status="no-anchors", error="the target names no trust anchors", name=endpoint.name,
                              path=(), anchor=None)
        result = verify_chain(chain[0], anchors, chain[1:], at=self.context.now, purpose="server", name=endpoint.name)
        return Validation(
            status="valid" if result.valid else "invalid",
            error=result.error,
            name=endpoint.name,
            path=tuple(c.subject.rfc4514_string() for c in result.path),
            anchor=result.anchor.subject.rfc4514_string() if result.anchor else None,
        )


def _ca_name(der: bytes) -> str:
    try:
        return distinguished_name(der)
    except WireError:
        return "#" + der.hex()
