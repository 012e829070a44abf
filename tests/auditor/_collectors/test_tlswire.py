"""The TLS and NATS wire parsers: round trips of built messages and fuzzing with random bytes."""

from __future__ import annotations

import json

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from auditor._collectors._tlswire import (
    WireError,
    certificate_list,
    certificate_request_cas,
    distinguished_name,
    nats_info,
    server_hello_cipher,
)
from tests.certs import CertFactory


def vec(data: bytes, n: int) -> bytes:
    return len(data).to_bytes(n, "big") + data


def handshake(msg_type: int, body: bytes) -> bytes:
    return bytes([msg_type]) + vec(body, 3)


blobs = st.lists(st.binary(min_size=1, max_size=40), max_size=5)


@given(blobs, st.booleans())
def test_certificate_message_round_trip(certs: list[bytes], tls13: bool) -> None:
    if tls13:
        entries = b"".join(vec(c, 3) + vec(b"", 2) for c in certs)
        body = vec(b"", 1) + vec(entries, 3)
    else:
        body = vec(b"".join(vec(c, 3) for c in certs), 3)
    assert certificate_list(handshake(11, body), tls13) == certs


@given(blobs, st.booleans(), st.binary(max_size=8))
def test_certificate_request_round_trip(names: list[bytes], tls13: bool, other_ext: bytes) -> None:
    listed = vec(b"".join(vec(n, 2) for n in names), 2)
    if tls13:
        exts = (13).to_bytes(2, "big") + vec(b"\x04\x03", 2)  # signature_algorithms
        exts += (0xFF01).to_bytes(2, "big") + vec(other_ext, 2)
        if names:
            exts += (47).to_bytes(2, "big") + vec(listed, 2)
        body = vec(b"", 1) + vec(exts, 2)
    else:
        body = vec(b"\x01\x40", 1) + vec(b"\x04\x03", 2) + listed
    assert certificate_request_cas(handshake(13, body), tls13) == names


@given(st.integers(0, 0xFFFF), st.binary(max_size=32))
def test_server_hello_cipher(cipher: int, session: bytes) -> None:
    body = b"\x03\x03" + bytes(32) + vec(session, 1) + cipher.to_bytes(2, "big") + b"\x00"
    assert server_hello_cipher(handshake(2, body)) == cipher


@given(st.binary(max_size=200), st.booleans())
def test_random_bytes_raise_only_wire_errors(data: bytes, tls13: bool) -> None:
    for parse in (
        lambda d: certificate_list(d, tls13),
        lambda d: certificate_request_cas(d, tls13),
        server_hello_cipher,
        distinguished_name,
        nats_info,
    ):
        try:
            parse(data)
        except WireError:
            pass


def test_wrong_message_type_and_truncation() -> None:
    with pytest.raises(WireError, match="type 2, expected 11"):
        certificate_list(handshake(2, b""), False)
    with pytest.raises(WireError, match="truncated"):
        certificate_list(bytes([11, 0, 0, 9, 0]), False)


text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1, max_size=20)


@given(st.lists(st.sampled_from([NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME, NameOID.DOMAIN_COMPONENT]), min_size=1, max_size=4), st.data())
def test_distinguished_name_matches_cryptography(oids: list[x509.ObjectIdentifier], data: st.DataObject) -> None:
    name = x509.Name([x509.NameAttribute(oid, data.draw(text)) for oid in oids])
    assert distinguished_name(name.public_bytes()) == name.rfc4514_string()


def test_distinguished_name_of_a_real_certificate(certs: CertFactory) -> None:
    root, _ = certs.chain()
    assert distinguished_name(root.cert.subject.public_bytes()) == "CN=Test Root CA"


def test_distinguished_name_that_cryptography_would_refuse_is_shown_as_hex() -> None:
    # C=USA (three letters) in a PrintableString: valid DER, refused by cryptography's checks
    value = b"\x13\x03USA"
    oid = b"\x06\x03\x55\x04\x06"
    der = b"\x30\x0e\x31\x0c\x30\x0a" + oid + value
    assert distinguished_name(der) == "2.5.4.6=#" + value.hex()


def test_nats_info() -> None:
    info = {"server_id": "N1", "tls_required": True}
    assert nats_info(b"INFO " + json.dumps(info).encode() + b"\r\n") == info
    with pytest.raises(WireError, match="expected a NATS INFO line"):
        nats_info(b"-ERR 'Authorization Violation'\r\n")
    with pytest.raises(WireError, match="not JSON"):
        nats_info(b"INFO {\r\n")
    with pytest.raises(WireError, match="not a JSON object"):
        nats_info(b"INFO [1]\r\n")
