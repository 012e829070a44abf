"""Challenge validation against real servers on loopback: http-01 (acme's standalone server and
a plain one that answers wrongly), tls-alpn-01 (a TLS server with the acme-tls/1 certificate or
without it), dns-01 through a hook command, and the hosts file."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import http.server
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from pki.acme import validation
from pki.acme.validation import Settings, ValidationFailed
from pki.errors import PKIError
from tests.servers import LOOPBACK, closed_port, free_port, http_server, ssl_server

NAME = "cim-001.example.com"
HOSTS = {NAME: (LOOPBACK,)}
KEY_AUTH = "token123.thumbprint456"


@contextlib.contextmanager
def answering(body: bytes, status: int = 200) -> Iterator[int]:
    """An http-01 responder for NAME answering `body` with `status`; yields its port."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            assert self.headers["Host"].startswith(NAME)
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            return

    with http_server(Handler) as port:
        yield port


def test_http01(tmp_path: Path) -> None:
    with answering(KEY_AUTH.encode() + b"\n") as port:
        validation.http01(NAME, "token123", KEY_AUTH, Settings(http01_port=port, hosts=HOSTS))
    with answering(b"something else") as port, pytest.raises(ValidationFailed) as wrong:
        validation.http01(NAME, "token123", KEY_AUTH, Settings(http01_port=port, hosts=HOSTS))
    assert wrong.value.kind == "incorrectResponse"
    with answering(b"", 404) as port, pytest.raises(ValidationFailed, match="answered HTTP 404"):
        validation.http01(NAME, "token123", KEY_AUTH, Settings(http01_port=port, hosts=HOSTS))
    with answering(b"x" * 20000) as port, pytest.raises(ValidationFailed, match="more than"):
        validation.http01(NAME, "token123", KEY_AUTH, Settings(http01_port=port, hosts=HOSTS))
    with pytest.raises(ValidationFailed) as refused:
        validation.http01(NAME, "token123", KEY_AUTH, Settings(http01_port=closed_port(), hosts=HOSTS))
    assert refused.value.kind == "connection"
    with pytest.raises(ValidationFailed) as unknown:
        validation.http01("no-such-host.invalid", "t", KEY_AUTH, Settings(http01_port=closed_port()))
    assert unknown.value.kind == "dns"


def alpn_cert(tmp_path: Path, names: list[str], digest: bytes, critical: bool = True) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acme")]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acme")])).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(x509.UnrecognizedExtension(validation.ACME_IDENTIFIER_OID, b"\x04\x20" + digest), critical=critical)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "alpn.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "alpn.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "alpn.pem", tmp_path / "alpn.key")
    ctx.set_alpn_protocols(["acme-tls/1"])
    return ctx


def test_tlsalpn01(tmp_path: Path) -> None:
    digest = hashlib.sha256(KEY_AUTH.encode()).digest()
    with ssl_server(alpn_cert(tmp_path, [NAME], digest)) as port:
        validation.tlsalpn01(NAME, KEY_AUTH, Settings(tlsalpn01_port=port, hosts=HOSTS))
    with ssl_server(alpn_cert(tmp_path, [NAME], hashlib.sha256(b"other").digest())) as port, \
            pytest.raises(ValidationFailed) as wrong:
        validation.tlsalpn01(NAME, KEY_AUTH, Settings(tlsalpn01_port=port, hosts=HOSTS))
    assert wrong.value.kind == "incorrectResponse"
    with ssl_server(alpn_cert(tmp_path, [NAME, "other.example.com"], digest)) as port, \
            pytest.raises(ValidationFailed, match="only SAN"):
        validation.tlsalpn01(NAME, KEY_AUTH, Settings(tlsalpn01_port=port, hosts=HOSTS))
    with ssl_server(alpn_cert(tmp_path, [NAME], digest, critical=False)) as port, \
            pytest.raises(ValidationFailed, match="must be critical"):
        validation.tlsalpn01(NAME, KEY_AUTH, Settings(tlsalpn01_port=port, hosts=HOSTS))
    plain = alpn_cert(tmp_path, [NAME], digest)
    plain.set_alpn_protocols(["http/1.1"])
    with ssl_server(plain) as port, pytest.raises(ValidationFailed) as no_alpn:
        validation.tlsalpn01(NAME, KEY_AUTH, Settings(tlsalpn01_port=port, hosts=HOSTS))
    assert no_alpn.value.kind == "tls"


def hook(tmp_path: Path, body: str) -> tuple[str, ...]:
    script = tmp_path / "hook.py"
    script.write_text(f"import sys, time\n{body}\n")
    return (sys.executable, str(script))


def test_dns01_through_a_hook(tmp_path: Path) -> None:
    value = validation._b64(hashlib.sha256(KEY_AUTH.encode()).digest())
    record = "_acme-challenge." + NAME
    ok = hook(tmp_path, f"assert sys.argv[-1] == {record!r}\nprint('\"other\"')\nprint('\"{value}\"')")
    validation.dns01(NAME, KEY_AUTH, Settings(dns01_hook=ok))
    with pytest.raises(ValidationFailed) as missing:
        validation.dns01(NAME, KEY_AUTH, Settings(dns01_hook=hook(tmp_path, "print('nope')")))
    assert missing.value.kind == "incorrectResponse"
    with pytest.raises(ValidationFailed, match=r"exited with 3: boom\\x1b\[31m"):
        validation.dns01(NAME, KEY_AUTH, Settings(dns01_hook=hook(tmp_path, "sys.stderr.write('boom\\x1b[31m\\n'); sys.exit(3)")))
    with pytest.raises(ValidationFailed, match="timed out"):
        validation.dns01(NAME, KEY_AUTH, Settings(dns01_hook=hook(tmp_path, "time.sleep(30)"), timeout=0.5))
    with pytest.raises(ValidationFailed, match="more than"):
        validation.dns01(NAME, KEY_AUTH, Settings(dns01_hook=hook(tmp_path, "sys.stdout.write('x' * 200000)")))
    with pytest.raises(ValidationFailed, match="cannot run"):
        validation.dns01(NAME, KEY_AUTH, Settings(dns01_hook=(str(tmp_path / "absent"),)))
    with pytest.raises(ValidationFailed, match="not configured"):
        validation.dns01(NAME, KEY_AUTH, Settings())
    assert validation.hook_command("dig +short TXT") == ("dig", "+short", "TXT")
    with pytest.raises(PKIError, match="no such file"):
        validation.hook_command("/nonexistent/hook $(reboot)")


def test_hosts_file(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text("# test hosts\n127.0.0.1 a.example.com B.example.com.\n::1 a.example.com\n\n")
    assert validation.load_hosts(path) == {"a.example.com": ("127.0.0.1", "::1"), "b.example.com": ("127.0.0.1",)}
    path.write_text("127.0.0.1 ok.example.com\nnot-an-ip bad.example.com\n")
    with pytest.raises(PKIError, match=r"hosts:2: 'not-an-ip' is not an IP address"):
        validation.load_hosts(path)
    path.write_text("127.0.0.1\n")
    with pytest.raises(PKIError, match=r"hosts:1: an address needs at least one name"):
        validation.load_hosts(path)
    with pytest.raises(PKIError, match="not a regular file"):
        validation.load_hosts(tmp_path)
    assert free_port() > 0


def test_device_attest01_with_a_real_yubikey_attestation() -> None:
    """A real YubiKey's slot 9c attestation (tests/pki/data/yubico) chains to Yubico's shipped
    root and names serial 10550341; without that key's signature the proof of possession fails."""
    from cryptography.hazmat.primitives.serialization import Encoding
    from fido2 import cbor

    data = Path(__file__).parent.parent / "data" / "yubico"
    x5c = [x509.load_pem_x509_certificate((data / name).read_bytes()).public_bytes(Encoding.DER)
           for name in ("10550341-9c-attestation.pem", "10550341-f9-device.pem")]
    now = dt.datetime.now(dt.UTC)

    def att_obj(alg: int = -7) -> bytes:
        return bytes(cbor.encode({"fmt": "step", "attStmt": {"alg": alg, "sig": b"\x30\x06\x02\x01\x01\x02\x01\x01",
                                                             "x5c": x5c}}))

    with pytest.raises(ValidationFailed, match="not the attested key's signature") as caught:
        validation.device_attest01("10550341", KEY_AUTH, att_obj(), Settings(), now)
    assert caught.value.kind == "unauthorized"
    with pytest.raises(ValidationFailed, match="for YubiKey serial 10550341, not 12345"):
        validation.device_attest01("12345", KEY_AUTH, att_obj(), Settings(), now)
    with pytest.raises(ValidationFailed, match="is not valid at"):
        validation.device_attest01("10550341", KEY_AUTH, att_obj(), Settings(), dt.datetime(2060, 1, 1, tzinfo=dt.UTC))
    with pytest.raises(ValidationFailed, match="attObj is not CBOR"):
        validation.device_attest01("10550341", KEY_AUTH, b"\xff\x00garbage", Settings(), now)
    with pytest.raises(ValidationFailed, match="must list the slot attestation"):
        validation.device_attest01("10550341", KEY_AUTH, bytes(cbor.encode({"fmt": "step", "attStmt": {"x5c": []}})),
                                   Settings(), now)


def _cbor(value: object) -> bytes:
    from fido2 import cbor

    return bytes(cbor.encode({"fmt": "step", "attStmt": value}))


ATT_VALUES = st.recursive(
    st.booleans() | st.integers(min_value=-(2**63), max_value=2**63) | st.binary(max_size=40) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["fmt", "attStmt", "x5c", "alg", "sig"]), inner, max_size=3),
    max_leaves=12)


@given(st.binary(max_size=600) | ATT_VALUES.map(_cbor))
def test_any_attestation_object_is_refused_cleanly(att_obj: bytes) -> None:
    with pytest.raises(ValidationFailed):
        validation.device_attest01("1", KEY_AUTH, att_obj, Settings(), dt.datetime.now(dt.UTC))
