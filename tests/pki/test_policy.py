"""Pre-issuance checks (pki.policy, pki.issuance): each rule refuses by name, nothing is written."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from pki.backends.file import FileBackend
from pki.ca import CA, KeyOpener
from pki.policy import Refused, _matches
from tests.pki.conftest import secrets

MakeCA = Callable[..., tuple[CA, KeyOpener]]


def log_count(ca: CA) -> int:
    return len((ca.folder / "log.jsonl").read_text().splitlines())


def refused(ca: CA, rule: str, call: Callable[[], Any], out: Path | None = None) -> str:
    """`call` is refused for `rule`, on one line, and leaves the log and `out` untouched."""
    before = log_count(ca)
    with pytest.raises(Refused) as info:
        call()
    assert info.value.rule == rule, str(info.value)
    assert "\n" not in str(info.value)
    assert log_count(ca) == before
    if out is not None:
        assert not out.exists()
    return str(info.value)


@pytest.fixture
def trial(make_ca: MakeCA) -> tuple[CA, KeyOpener]:
    """An intermediate limited to DNS names under trial.example.com (and no IP ranges)."""
    return make_ca(permitted_dns=("trial.example.com",), permitted_ip=())


def test_a_name_outside_the_constraints_is_refused_and_does_not_block_the_right_one(
        trial: tuple[CA, KeyOpener], tmp_path: Path) -> None:
    ca, opener = trial
    message = refused(ca, "name-constraints", lambda: ca.issue("n1", "nats-server", opener, tmp_path / "bad",
                                                               dns=["localhost"]), tmp_path / "bad")
    assert "DNS name localhost is outside what 'CN=Test Intermediate CA,O=CIM' may certify (DNS: trial.example.com)" in message
    assert all(e.node != "n1" for e in ca.list())
    ca.issue("n1", "nats-server", opener, tmp_path / "good", dns=["n1.trial.example.com"])


def test_a_dns_only_intermediate_refuses_ip_sans_until_given_ranges(trial: tuple[CA, KeyOpener], make_ca: MakeCA,
                                                                    tmp_path: Path) -> None:
    ca, opener = trial
    message = refused(ca, "name-constraints", lambda: ca.issue("n1", "nats-server", opener, tmp_path / "a",
                                                               dns=["n1.trial.example.com"], ips=["8.8.8.8"]))
    assert "IP address 8.8.8.8" in message and message.endswith("permits no IP names")
    ranged, ranged_opener = make_ca("ranged", permitted_dns=("trial.example.com",), permitted_ip=("10.0.0.0/8",))
    ranged.issue("n1", "nats-server", ranged_opener, tmp_path / "b", dns=["n1.trial.example.com"], ips=["10.0.3.21"])
    message = refused(ranged, "name-constraints", lambda: ranged.issue(
        "n2", "nats-server", ranged_opener, tmp_path / "c", dns=["n2.trial.example.com"], ips=["8.8.8.8"]))
    assert "IP address 8.8.8.8 is outside" in message and "(IP: 10.0.0.0/8)" in message


def test_email_and_uri_constraints(make_ca: MakeCA, tmp_path: Path) -> None:
    ca, opener = make_ca(permitted_dns=("example.com",), permitted_ip=())
    ca.create_intermediate("Mail and URI CA", opener, FileBackend(ca.folder, secrets), permitted_dns=["example.com"],
                           permitted_email=["example.com"], permitted_uri=[".example.com"])
    ca.issue("a1", "nats-client", opener, tmp_path / "ok", emails=["ops@example.com"],
             uris=["spiffe://fleet.example.com/node/a1"])
    for i, (kwargs, text) in enumerate([
        ({"emails": ["ops@example.org"]}, "email address ops@example.org is outside"),
        ({"emails": ["ops@sub.example.com"]}, "email address ops@sub.example.com is outside"),
        ({"uris": ["https://example.com/x"]}, "URI https://example.com/x is outside"),  # .example.com: subdomains only
        ({"uris": ["https://10.0.0.1/x"]}, "URI https://10.0.0.1/x is outside"),  # RFC 5280: no IP hosts
        ({"uris": ["urn:fleet:a1"]}, "URI urn:fleet:a1 is outside"),  # and no URI without a host
    ]):
        message = refused(ca, "name-constraints", lambda kw=kwargs, n=i: ca.issue(  # type: ignore[misc]
            f"x{n}", "nats-client", opener, tmp_path / f"x{n}", **kw), tmp_path / f"x{i}")
        assert text in message


def test_a_common_name_that_is_a_host_name_is_checked_like_openssl(trial: tuple[CA, KeyOpener], tmp_path: Path) -> None:
    ca, opener = trial
    message = refused(ca, "name-constraints", lambda: ca.issue("agent.other.org", "nats-client", opener, tmp_path / "a"))
    assert "DNS name agent.other.org is outside" in message
    ca.issue("agent-1", "nats-client", opener, tmp_path / "b")  # no dot: not a host name to OpenSSL
    ca.issue("agent.trial.example.com", "nats-client", opener, tmp_path / "c")


@pytest.mark.parametrize(("name", "subtree", "inside"), [
    (x509.DNSName("a.example.com"), x509.DNSName("example.com"), True),
    (x509.DNSName("example.com"), x509.DNSName("example.com"), True),
    (x509.DNSName("*.example.com"), x509.DNSName("example.com"), True),
    (x509.DNSName("badexample.com"), x509.DNSName("example.com"), False),
    (x509.DNSName("example.com"), x509.DNSName(".example.com"), False),
    (x509.DNSName("A.Example.COM"), x509.DNSName("example.com"), True),
    (x509.IPAddress(ipaddress.ip_address("10.1.2.3")),
     x509.IPAddress(ipaddress.ip_network("10.0.0.0/8")), True),
    (x509.IPAddress(ipaddress.ip_address("::ffff:10.1.2.3")),
     x509.IPAddress(ipaddress.ip_network("10.0.0.0/8")), False),
    (x509.RFC822Name("a@example.com"), x509.RFC822Name("a@example.com"), True),
    (x509.RFC822Name("b@example.com"), x509.RFC822Name("a@example.com"), False),
    (x509.RFC822Name("a@mail.example.com"), x509.RFC822Name(".example.com"), True),
    (x509.UniformResourceIdentifier("https://a.example.com:8443/x"), x509.UniformResourceIdentifier("a.example.com"), True),
])
def test_rfc5280_matching(name: x509.GeneralName, subtree: x509.GeneralName, inside: bool) -> None:
    assert _matches(name, subtree) is inside


def test_lifetimes_are_bounded_by_the_profile_and_the_issuer(make_ca: MakeCA, tmp_path: Path) -> None:
    ca, opener = make_ca()
    message = refused(ca, "lifetime", lambda: ca.issue("n1", "nats-client", opener, tmp_path / "a", lifetime_days=36000))
    assert "36000 days is longer than profile 'nats-client' allows (398 days)" in message
    message = refused(ca, "lifetime", lambda: ca.issue("n1", "nats-client", opener, tmp_path / "a", lifetime_days=9999999))
    assert "from 1 to 36500" in message
    message = refused(ca, "validity", lambda: ca.issue("n1", "nats-client", opener, tmp_path / "a", lifetime_days=36000,
                                                      allow_long_lifetime=True))
    assert "after its issuer" in message and "ask for at most 109" in message
    long_ca, long_opener = make_ca("long")
    long_ca.create_intermediate("Long CA", long_opener, FileBackend(long_ca.folder, secrets), lifetime_days=7000,
                                allow_long_lifetime=True)
    issued = long_ca.issue("n1", "nats-client", long_opener, tmp_path / "b", lifetime_days=5000, allow_long_lifetime=True)
    assert (issued.certificate.not_valid_after_utc - issued.certificate.not_valid_before_utc).days == 5000
    intents = [json.loads(line) for line in (long_ca.folder / "log.jsonl").read_text().splitlines()]
    last_intent = [e for e in intents if e["event"] == "intent"][-1]
    assert last_intent["details"]["lifetime"] == {"days": 5000, "profile_max": 398, "override": True}


def test_validity_must_start_inside_the_issuers(make_ca: MakeCA, tmp_path: Path) -> None:
    ca, opener = make_ca()
    message = refused(ca, "validity", lambda: ca.issue(
        "n1", "nats-client", opener, tmp_path / "a", not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=10)))
    assert "before its issuer" in message


def csr(key: Any, name: str = "ignored") -> bytes:
    request = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
               .sign(key, hashes.SHA256()))
    return request.public_bytes(serialization.Encoding.PEM)


def test_certificates_from_csrs_and_the_key_policy(make_ca: MakeCA) -> None:
    ca, opener = make_ca()
    key = ec.generate_private_key(ec.SECP256R1())
    issued = ca.issue_from_csr(csr(key, "CN chosen by the requester"), "nats-server", opener, node="web-1",
                               dns=["web-1.example.com"])
    assert issued.certificate.public_key() == key.public_key()
    # the CA chooses the subject: a server certificate's CN is one of its SANs; the node name stays the record's
    assert issued.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "web-1.example.com"
    assert issued.entry.node == "web-1"
    assert issued.entry.serial in ca.records().entries and issued.files == ()
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the weak key is the point
    message = refused(ca, "key", lambda: ca.issue_from_csr(csr(weak), "nats-client", opener, node="weak"))
    assert "rsa-1024 key is not allowed" in message
    p521 = ec.generate_private_key(ec.SECP521R1())
    refused(ca, "key", lambda: ca.issue_from_csr(csr(p521), "nats-client", opener, node="p521"))
    small_e = rsa.generate_private_key(public_exponent=3, key_size=2048)
    assert "exponent 3" in refused(ca, "key", lambda: ca.issue_from_csr(csr(small_e), "nats-client", opener, node="e3"))
    forged = bytearray(x509.load_pem_x509_csr(csr(key)).public_bytes(serialization.Encoding.DER))
    forged[-5] ^= 1  # inside the signature
    assert "does not prove possession" in refused(ca, "key", lambda: ca.issue_from_csr(bytes(forged), "nats-client",
                                                                                      opener, node="forged"))


def test_a_profile_the_linter_rejects_is_refused(make_ca: MakeCA, tmp_path: Path) -> None:
    ca, opener = make_ca(permitted_dns=(), permitted_ip=())  # unconstrained: the linter has the last word
    (ca.folder / "profiles").mkdir()
    (ca.folder / "profiles/ec-encipher.yaml").write_text(
        "name: ec-encipher\nkind: leaf\nlifetime_days: 30\nkey_usage: [digitalSignature, keyEncipherment]\n"
        "extended_key_usage: [clientAuth]\n")
    message = refused(ca, "lint", lambda: ca.issue("n1", "ec-encipher", opener, tmp_path / "a"), tmp_path / "a")
    assert "pkix.key_usage_value_prohibited_for_ec" in message
    message = refused(ca, "lint", lambda: ca.issue("n2", "nats-client", opener, tmp_path / "b", emails=["a..b@example.com"]))
    assert "pkix.invalid_email_address_syntax" in message


def test_an_issuers_eku_limits_its_leaves(make_ca: MakeCA, tmp_path: Path) -> None:
    ca, opener = make_ca()
    (ca.folder / "profiles").mkdir()
    (ca.folder / "profiles/intermediate.yaml").write_text(
        "name: intermediate\nkind: intermediate\nlifetime_days: 365\npath_length: 0\n"
        "key_usage: [keyCertSign, cRLSign]\nextended_key_usage: [clientAuth]\n")
    ca.create_intermediate("Clients only", opener, FileBackend(ca.folder, secrets))
    ca.issue("c1", "nats-client", opener, tmp_path / "ok")
    message = refused(ca, "extended-key-usage", lambda: ca.issue("s1", "nats-server", opener, tmp_path / "a",
                                                                dns=["s1.example.com"]))
    assert "does not allow serverAuth" in message


def test_path_lengths(make_ca: MakeCA, tmp_path: Path) -> None:
    ca, opener = make_ca()
    message = refused(ca, "path-length", lambda: ca.create_intermediate(
        "Deep", opener, FileBackend(ca.folder, secrets), path_length=1))
    assert "path length 1 is more than" in message
    flat = CA.init(tmp_path / "flat", "Flat Root", FileBackend(tmp_path / "flat", secrets), path_length=0)
    from pki.backends import key_opener

    flat_opener = key_opener(flat.folder, secrets)
    message = refused(flat, "path-length", lambda: flat.create_intermediate(
        "Below", flat_opener, FileBackend(flat.folder, secrets)))
    assert "may not have a CA certificate below it" in message
    assert not list((flat.folder / "private").glob("intermediate-*"))  # the staged key was not left behind
    with pytest.raises(Refused, match="from 0 to 8"):
        CA.init(tmp_path / "deep", "Deep Root", FileBackend(tmp_path / "deep", secrets), path_length=99)
    assert not (tmp_path / "deep").exists()
