from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pki.errors import LoadError
from pki.facts import KeyFacts, SanFacts, certificate_facts
from pki.load import load_certificates
from tests.certs import CertFactory


def test_pem_bundle_der_and_skipped_keys(certs: CertFactory) -> None:
    root, inter = certs.chain()
    leaf = certs.issue("leaf", issuer=inter, dns=("a.example.com",))
    bundle = leaf.key_pem() + leaf.pem() + inter.pem() + root.pem()
    loaded = load_certificates(bundle)
    assert [c.certificate.subject for c in loaded if c.certificate] == [leaf.name, inter.name, root.name]
    assert [c.index for c in loaded] == [0, 1, 2]
    der = load_certificates(leaf.der())
    assert der[0].encoding == "der" and der[0].certificate == leaf.cert


def test_truncated_block_is_reported_and_others_survive(certs: CertFactory) -> None:
    root, inter = certs.chain()
    truncated = inter.pem()[:-40]
    loaded = load_certificates(root.pem() + truncated)
    assert loaded[0].certificate == root.cert
    assert loaded[1].certificate is None and "truncated" in (loaded[1].error or "")


def test_corrupt_base64_is_an_error_not_a_crash(certs: CertFactory) -> None:
    root, _ = certs.chain()
    pem = root.pem().replace(b"M", b"!", 3)
    (item,) = load_certificates(pem)
    assert item.certificate is None and item.error


@pytest.mark.parametrize("data", [b"", b"\x00" * 10, b"-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n"])
def test_no_certificate(data: bytes) -> None:
    with pytest.raises(LoadError):
        load_certificates(data)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2000))
def test_random_bytes_never_crash(data: bytes) -> None:
    try:
        for item in load_certificates(data):
            assert (item.certificate is None) != (item.error is None)
    except LoadError:
        pass


_FUZZ = CertFactory()
_ROOT, _INTER = _FUZZ.chain()
_LEAF_DER = _FUZZ.issue("fuzz", issuer=_INTER, dns=("f.example.com",)).der()


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=len(_LEAF_DER) - 1), st.integers(min_value=0, max_value=255))
def test_mutated_der_parses_or_fails_cleanly(pos: int, value: int) -> None:
    data = bytearray(_LEAF_DER)
    data[pos] = value
    try:
        for item in load_certificates(bytes(data)):
            if item.certificate is not None:
                try:
                    facts = certificate_facts(item.certificate)
                except LoadError as exc:
                    assert str(exc).startswith("malformed certificate")
                else:
                    assert isinstance(facts.subject, str)
    except LoadError:
        pass


def test_facts(certs: CertFactory) -> None:
    root, inter = certs.chain()
    leaf = certs.issue("node", issuer=inter, key="rsa2048", dns=("a.example.com",), ips=("10.0.0.1",), eku=("server",), days=90)
    f = certificate_facts(leaf.cert)
    assert f.subject == "CN=node" and f.issuer == "CN=Test Intermediate CA"
    assert f.key.type == "rsa" and f.key.size == 2048
    assert f.signature.hash == "sha256"
    assert f.san == SanFacts(dns=("a.example.com",), ip=("10.0.0.1",))
    assert f.to_dict()["san"] == {"dns": ["a.example.com"], "ip": ["10.0.0.1"], "email": [], "uri": []}
    assert f.extended_key_usage == ("serverAuth",)
    assert f.is_ca is False and f.self_signed is False
    assert f.lifetime_days == 90
    assert int(f.serial, 16) == leaf.cert.serial_number
    r = certificate_facts(root.cert)
    assert r.is_ca and r.path_length == 1 and r.self_signed and r.key.curve == "secp384r1"
    assert "keyCertSign" in r.key_usage
    i = certificate_facts(certs.issue("nc", issuer=root, ca=True, pathlen=0, permitted_dns=("example.com",)).cert)
    assert i.name_constraints is not None and i.name_constraints.permitted_dns == ("example.com",)
    e = certificate_facts(certs.issue("ed", key="ed25519", issuer=None).cert)
    assert e.key == KeyFacts("ed25519", 256, None, e.key.spki_sha256) and len(e.key.spki_sha256) == 64
    assert e.signature.hash is None
    dt.datetime.fromisoformat(f.not_after.replace("Z", "+00:00"))


def test_legacy_sha1_self_signed_is_recognised() -> None:
    from importlib import resources

    pem = resources.files("auditor._demo").joinpath("node/cim-prod-001/etc/nats/certs/monitor-legacy.pem").read_bytes()
    (item,) = load_certificates(pem)
    assert item.certificate is not None
    f = certificate_facts(item.certificate)
    assert f.signature.hash == "sha1" and f.self_signed is True and f.key.size == 1024
