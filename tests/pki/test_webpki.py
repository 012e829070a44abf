"""The WebPKI checks verify_chain adds to cryptography's verifier (pki.webpki), case by case,
with `openssl verify` as the outside oracle where it has an opinion.

Each case is a chain cryptography's verifier alone accepts (so each failed before pki.webpki)
and verify_chain refuses with the RFC 5280 or CA/B Baseline Requirements section it breaks.
OPENSSL records what OpenSSL's verifier says of the same chain, with -x509_strict and the
matching -purpose / -verify_hostname; the test holds it to that, so a change on either side
shows. Where openssl accepts, the reason we differ is noted beside the case.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import subprocess
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from pki.verify import verify_chain
from tests.conftest import run_cli
from tests.servers import tool

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
SERVER, CLIENT, ANY_EKU = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE
Key = Any


def _ec() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


@dataclass
class Spec:
    """One certificate to make; the defaults make a well-formed one."""

    cn: str
    key: Key = field(default_factory=_ec)
    ca: bool = False
    ski: bool = True
    aki: str = "key"                 # "key", "none", "mismatch", "issuer-serial"
    eku: tuple[x509.ObjectIdentifier, ...] | None = (SERVER,)
    sans: tuple[str, ...] = ()
    nc_critical: bool | None = None  # name constraints permitting example.com, critical or not
    pc_critical: bool | None = None  # policy constraints requireExplicitPolicy 0, critical or not
    self_issued: bool = False        # a "root" issued by another name (cross-signed)


@dataclass(frozen=True)
class Made:
    cert: x509.Certificate
    key: Key


def _general(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def make(spec: Spec, issuer: Made | None = None) -> Made:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, spec.cn)])
    signer = issuer.key if issuer else spec.key
    issuer_name = issuer.cert.subject if issuer else (
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Someone Else")]) if spec.self_issued else name)
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name).public_key(spec.key.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(NOW - dt.timedelta(days=1))
         .not_valid_after(NOW + dt.timedelta(days=90))
         .add_extension(x509.BasicConstraints(ca=spec.ca, path_length=None), critical=True)
         .add_extension(x509.KeyUsage(not spec.ca, False, False, False, False, spec.ca, spec.ca, False, False),
                        critical=True))
    if spec.ski:
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(spec.key.public_key()), critical=False)
    signer_public = signer.public_key()
    if spec.aki == "key":
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_public), critical=False)
    elif spec.aki == "mismatch":
        b = b.add_extension(x509.AuthorityKeyIdentifier(b"\x01" * 20, None, None), critical=False)
    elif spec.aki == "issuer-serial":
        own = x509.SubjectKeyIdentifier.from_public_key(signer_public).digest
        b = b.add_extension(x509.AuthorityKeyIdentifier(own, [x509.DirectoryName(issuer_name)], 1), critical=False)
    if spec.eku is not None:
        b = b.add_extension(x509.ExtendedKeyUsage(list(spec.eku)), critical=False)
    if spec.sans:
        b = b.add_extension(x509.SubjectAlternativeName([_general(n) for n in spec.sans]), critical=False)
    if spec.nc_critical is not None:
        b = b.add_extension(x509.NameConstraints([x509.DNSName("example.com")], None), critical=spec.nc_critical)
    if spec.pc_critical is not None:
        b = b.add_extension(x509.PolicyConstraints(require_explicit_policy=0, inhibit_policy_mapping=None),
                            critical=spec.pc_critical)
    algorithm = hashes.SHA256()
    return Made(b.sign(signer, algorithm), spec.key)


def root_spec(**kw: Any) -> Spec:
    kw.setdefault("eku", None)
    return Spec("Test Root", ca=True, **kw)


def inter_spec(**kw: Any) -> Spec:
    kw.setdefault("eku", None)
    return Spec("Test Intermediate", ca=True, **kw)


def leaf_spec(**kw: Any) -> Spec:
    kw.setdefault("sans", ("www.example.com",))
    return Spec(kw.pop("cn", "www.example.com"), **kw)


@dataclass(frozen=True)
class Case:
    anchors: list[x509.Certificate]
    intermediates: list[x509.Certificate]
    leaf: x509.Certificate
    purpose: str = "server"
    name: str | None = "www.example.com"


def chain(root: Spec | None = None, inter: Spec | None = None, leaf: Spec | None = None, **kw: Any) -> Case:
    r = make(root or root_spec())
    i = make(inter or inter_spec(), r)
    lf = make(leaf or leaf_spec(), i)
    return Case([r.cert], [i.cert], lf.cert, **kw)


def _resign(cert: x509.Certificate, key: Key, serial_der: bytes) -> x509.Certificate:
    """`cert` with its serial's DER replaced (cryptography refuses to build a non-positive
    serial), its TBS signed again by `key` (ECDSA with SHA-256)."""
    tbs = cert.tbs_certificate_bytes
    body = _open_sequence(tbs)
    assert body[:5] == b"\xa0\x03\x02\x01\x02"  # [0] version v3
    serial_len = body[6]
    rest = body[5 + 2 + serial_len:]
    new_tbs = _sequence(body[:5] + serial_der + rest)
    sig = key.sign(new_tbs, ec.ECDSA(hashes.SHA256()))
    ecdsa_sha256 = bytes.fromhex("300a06082a8648ce3d040302")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography warns when it parses such a serial
        return x509.load_der_x509_certificate(_sequence(new_tbs + ecdsa_sha256 + _tlv(0x03, b"\x00" + sig)))


def _open_sequence(der: bytes) -> bytes:
    assert der[0] == 0x30
    if der[1] < 0x80:
        return der[2:2 + der[1]]
    n = der[1] & 0x7F
    length = int.from_bytes(der[2:2 + n], "big")
    return der[2 + n:2 + n + length]


def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def _sequence(body: bytes) -> bytes:
    return _tlv(0x30, body)


def _serial_case(serial_der: bytes) -> Case:
    r = make(root_spec())
    i = make(inter_spec(), r)
    lf = make(leaf_spec(), i)
    return Case([r.cert], [i.cert], _resign(lf.cert, i.key, serial_der))


def _cross_signed_anchor_without_aki() -> Case:
    other = make(Spec("Other Root", ca=True, eku=None))
    anchor = make(root_spec(aki="none"), other)  # the anchor we trust is a cross-signed certificate
    lf = make(leaf_spec(), anchor)
    return Case([anchor.cert], [], lf.cert)


# (case, the words the refusal must hold, what `openssl verify -x509_strict` says, why we differ if it
# accepts). Where openssl refuses for a reason of its own, the comment says so.
CASES: dict[str, tuple[Callable[[], Case], str, bool, str]] = {
    "intermediate without AKI": (lambda: chain(inter=inter_spec(aki="none")), "RFC 5280 4.2.1.1", False, ""),
    "leaf without AKI, purpose client": (lambda: chain(leaf=leaf_spec(aki="none", eku=(CLIENT,)), purpose="client", name=None),
                                         "RFC 5280 4.2.1.1", False, ""),
    # openssl: "unable to get issuer certificate" (it trusts only self-signed anchors without -partial_chain)
    "cross-signed anchor without AKI": (_cross_signed_anchor_without_aki, "RFC 5280 4.2.1.1", False, ""),
    "root without SKI": (lambda: chain(root=root_spec(ski=False)), "RFC 5280 4.2.1.2", False, ""),
    "intermediate without SKI": (lambda: chain(inter=inter_spec(ski=False)), "RFC 5280 4.2.1.2", False, ""),
    # openssl: "unable to get issuer certificate" (an AKI that does not match makes it no self-signed root)
    "root AKI not its SKI": (lambda: chain(root=root_spec(aki="mismatch")), "CA/B BR 7.1.2.1.3", False, ""),
    "root AKI with issuer and serial": (lambda: chain(root=root_spec(aki="issuer-serial")), "CA/B BR 7.1.2.1.3", False, ""),
    "root with an EKU": (lambda: chain(root=root_spec(eku=(SERVER,))), "CA/B BR 7.1.2.1.2", True,
                         "openssl only asks that a CA's EKU, if any, allow the purpose"),
    "name constraints not critical": (lambda: chain(inter=inter_spec(nc_critical=False)), "RFC 5280 4.2.1.10", True,
                                      "openssl applies name constraints whatever their criticality"),
    "policy constraints not critical": (lambda: chain(inter=inter_spec(pc_critical=False)), "RFC 5280 4.2.1.11", True,
                                        "openssl reads policy constraints whatever their criticality"),
    "serial zero": (lambda: _serial_case(b"\x02\x01\x00"), "RFC 5280 4.1.2.2", True,
                    "openssl 3.0 reads a zero serial like any other"),
    "server leaf without EKU": (lambda: chain(leaf=leaf_spec(eku=None)), "CA/B BR 7.1.2.7.10", True,
                                "openssl reads a missing EKU as any usage (RFC 5280 4.2.1.12)"),
    "client leaf without EKU": (lambda: chain(leaf=leaf_spec(eku=None), purpose="client", name=None),
                                "RFC 5280 4.2.1.12", True, "openssl reads a missing EKU as any usage"),
    "server leaf with serverAuth and anyExtendedKeyUsage": (lambda: chain(leaf=leaf_spec(eku=(SERVER, ANY_EKU))),
                                                            "CA/B BR 7.1.2.7.10", True,
                                                            "openssl accepts anyExtendedKeyUsage beside serverAuth"),
    "client leaf with anyExtendedKeyUsage only": (lambda: chain(leaf=leaf_spec(eku=(ANY_EKU,)), purpose="client", name=None),
                                                  "clientAuth", False, ""),
    "CN not among the SANs": (lambda: chain(leaf=leaf_spec(cn="other.example.com")), "CA/B BR 7.1.4.3", True,
                              "openssl matches the name against the SANs and ignores the CN when there are SANs"),
    "CN in another case": (lambda: chain(leaf=leaf_spec(cn="WWW.example.com")), "CA/B BR 7.1.4.3", True,
                           "openssl ignores the CN when there are SANs"),
    "CN an IPv6 address not in RFC 5952 form": (lambda: chain(leaf=leaf_spec(cn="2001:db8:0:0:0:0:0:1", sans=("2001:db8::1",)),
                                                              name="2001:db8::1"), "CA/B BR 7.1.4.3", True,
                                                "openssl ignores the CN when there are SANs"),
    "CN in Unicode, SAN in punycode": (lambda: chain(leaf=leaf_spec(cn="bücher.example.com", sans=("xn--bcher-kva.example.com",)),
                                                     name="xn--bcher-kva.example.com"), "CA/B BR 7.1.4.3", True,
                                       "openssl ignores the CN when there are SANs"),
    "server purpose without SANs": (lambda: chain(leaf=leaf_spec(sans=()), name=None), "CA/B BR 7.1.2.7.12", True,
                                    "openssl -purpose sslserver does not ask for SANs without a name to match"),
    "wildcard over an ICANN public suffix": (lambda: chain(leaf=leaf_spec(cn="*.co.uk", sans=("*.co.uk",)),
                                                           name="example.co.uk"), "CA/B BR 3.2.2.6", True,
                                             "openssl only refuses a wildcard in the last two labels, not a public suffix"),
    "wildcard over a private public suffix": (lambda: chain(leaf=leaf_spec(cn="*.github.io", sans=("*.github.io",)),
                                                            name="someone.github.io"), "CA/B BR 3.2.2.6", True,
                                              "openssl knows no public suffix list"),
    "RSA-1024 leaf": (lambda: chain(leaf=leaf_spec(key=rsa.generate_private_key(65537, 1024))), "CA/B BR 6.1.5", True,  # noqa: S505
                      "openssl verify sets no security level for the chain's keys by default"),
    "RSA modulus of 2052 bits": (lambda: chain(leaf=leaf_spec(key=rsa.generate_private_key(65537, 2052))), "CA/B BR 6.1.5", True,
                                 "openssl has no rule on the modulus length's parity"),
    "RSA intermediate of 2052 bits": (lambda: chain(inter=inter_spec(key=rsa.generate_private_key(65537, 2052))),
                                      "CA/B BR 6.1.5", True, "openssl has no rule on the modulus length's parity"),
    "P-192 leaf": (lambda: chain(leaf=leaf_spec(key=ec.generate_private_key(ec.SECP192R1()))), "CA/B BR 6.1.5", True,
                   "openssl verify sets no security level for the chain's keys by default"),
    "DSA leaf": (lambda: chain(leaf=leaf_spec(key=dsa.generate_private_key(2048))), "CA/B BR 6.1.5", True,
                 "openssl accepts DSA keys"),
}


def _pem(path: Path, *certs: x509.Certificate) -> str:
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    return str(path)


def openssl_accepts(case: Case, tmp: Path, *, at: dt.datetime = NOW) -> bool:
    args = [tool("openssl"), "verify", "-x509_strict", "-attime", str(int(at.timestamp())),
            "-CAfile", _pem(tmp / "roots.pem", *case.anchors)]
    if case.intermediates:
        args += ["-untrusted", _pem(tmp / "inter.pem", *case.intermediates)]
    args += ["-purpose", {"server": "sslserver", "client": "sslclient", "any": "any"}[case.purpose]]
    if case.name:
        try:
            ipaddress.ip_address(case.name)
            args += ["-verify_ip", case.name]
        except ValueError:
            args += ["-verify_hostname", case.name]
    proc = subprocess.run([*args, _pem(tmp / "leaf.pem", case.leaf)], capture_output=True, text=True, check=False)
    return proc.returncode == 0


def _verify(case: Case) -> tuple[bool, str | None]:
    result = verify_chain(case.leaf, case.anchors, case.intermediates, at=NOW, purpose=case.purpose, name=case.name)
    return result.valid, result.error


def test_well_formed_chains_pass_here_and_in_openssl(tmp_path: Path) -> None:
    for case in (chain(), chain(purpose="client", name=None, leaf=leaf_spec(eku=(CLIENT,))),
                 chain(leaf=leaf_spec(cn="*.example.com", sans=("*.example.com",)), name="a.example.com"),
                 chain(leaf=leaf_spec(cn="10.0.0.1", sans=("10.0.0.1",)), name="10.0.0.1"),
                 chain(leaf=leaf_spec(key=rsa.generate_private_key(65537, 2048)))):
        assert _verify(case) == (True, None)
        assert openssl_accepts(case, tmp_path)


@pytest.mark.parametrize("label", list(CASES))
def test_refused_with_its_reference(label: str, tmp_path: Path) -> None:
    build, cites, openssl_says, why = CASES[label]
    case = build()
    valid, error = _verify(case)
    assert not valid and error and cites in error, error
    assert openssl_accepts(case, tmp_path) is openssl_says, f"openssl changed its mind about {label}"
    assert openssl_says is False or why  # where openssl accepts, the difference is explained


CHAIN = chain()


@pytest.mark.parametrize("name", ["a_b.example.com", "bücher.example.com", "", ".", "a..b", "-a.example.com",
                                  "a" * 64 + ".example.com", "exa mple.com", "example.com/x"])
def test_a_name_that_is_not_a_dns_name_is_an_invalid_result(name: str) -> None:
    case = chain()
    result = verify_chain(case.leaf, case.anchors, case.intermediates, at=NOW, purpose="server", name=name)
    assert not result.valid and "is not a valid DNS name" in (result.error or "")


@settings(max_examples=300, deadline=None)
@given(name=st.text(max_size=80) | st.from_regex(r"[a-z0-9_.*-]{0,40}", fullmatch=True))
def test_any_name_gives_a_result_never_an_exception(name: str) -> None:
    case = CHAIN
    result = verify_chain(case.leaf, case.anchors, case.intermediates, at=NOW, purpose="server", name=name)
    assert result.valid is (name.lower() in ("www.example.com", "www.example.com."))
    assert result.valid or (result.error and result.error.isprintable())


def test_an_absolute_name_matches() -> None:
    assert _verify(chain(name="www.example.com.")) == (True, None)


def test_pki_verify_name_with_an_underscore_is_exit_1(tmp_path: Path) -> None:
    case = chain()
    leaf = _pem(tmp_path / "leaf.pem", case.leaf, *case.intermediates)
    roots = _pem(tmp_path / "roots.pem", *case.anchors)
    at = ("--at", NOW.strftime("%Y-%m-%dT%H:%M:%SZ"))
    r = run_cli("pki", "verify", leaf, "--roots", roots, "--name", "a_b.example.com", *at)
    assert (r.code, r.err) == (1, "") and "is not a valid DNS name" in r.out
    r = run_cli("pki", "verify", leaf, "--roots", roots, "--name", "www.example.com", *at)
    assert r.code == 0, r.out + r.err


# -- CRLs ------------------------------------------------------------------------------------------


def _crl(issuer: Made, *, number: bool = True, critical: bool = False) -> x509.CertificateRevocationList:
    b = (x509.CertificateRevocationListBuilder().issuer_name(issuer.cert.subject)
         .last_update(NOW - dt.timedelta(hours=1)).next_update(NOW + dt.timedelta(days=7)))
    if number:
        b = b.add_extension(x509.CRLNumber(1), critical=critical)
    return b.sign(issuer.key, hashes.SHA256())


def test_crls_without_a_usable_crl_number_or_from_an_issuer_without_crl_sign_are_refused(tmp_path: Path) -> None:
    r = make(root_spec())
    i = make(inter_spec(), r)
    lf = make(leaf_spec(), i)

    def check(crl: x509.CertificateRevocationList, issuer: x509.Certificate = i.cert) -> tuple[bool, str | None]:
        result = verify_chain(lf.cert, [r.cert], [issuer], at=NOW, purpose="server", name="www.example.com", crls=[crl])
        return result.valid, result.error

    assert check(_crl(i)) == (True, None)
    valid, error = check(_crl(i, number=False))
    assert not valid and "has no CRL number (RFC 5280 5.2.3)" in (error or "")
    valid, error = check(_crl(i, critical=True))
    assert not valid and "critical (RFC 5280 5.2.3" in (error or "")
    no_crl_sign = (x509.CertificateBuilder().subject_name(i.cert.subject).issuer_name(r.cert.subject)
                   .public_key(i.key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=90))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(False, False, False, False, False, True, False, False, False), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(i.key.public_key()), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(r.key.public_key()), critical=False)
                   .sign(r.key, hashes.SHA256()))
    valid, error = check(_crl(i), no_crl_sign)
    assert not valid and "does not allow signing CRLs (RFC 5280 4.2.1.3)" in (error or "")
    # openssl refuses a critical CRL number ("unhandled critical CRL extension") and an issuer
    # without cRLSign; it accepts a CRL without a number, which RFC 5280 5.2.3 requires of
    # conforming CRL issuers (openssl reads CRLs of any issuer, old ones without numbers too)
    crl_file = tmp_path / "crl.pem"
    for crl, issuer, openssl_says in ((_crl(i, number=False), i.cert, True), (_crl(i, critical=True), i.cert, False),
                                      (_crl(i), no_crl_sign, False), (_crl(i), i.cert, True)):
        crl_file.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
        proc = subprocess.run([tool("openssl"), "verify", "-x509_strict", "-crl_check", "-attime", str(int(NOW.timestamp())),
                               "-CAfile", _pem(tmp_path / "r.pem", r.cert), "-untrusted", _pem(tmp_path / "i.pem", issuer),
                               "-CRLfile", str(crl_file), _pem(tmp_path / "l.pem", lf.cert)],
                              capture_output=True, text=True, check=False)
        assert (proc.returncode == 0) is openssl_says, proc.stdout + proc.stderr


# -- what our own PKI issues passes ----------------------------------------------------------------


def test_the_pkis_certificates_pass_every_check(make_ca: Callable[..., Any], tmp_path: Path) -> None:
    """The CA never signs what these checks refuse: a nats-server certificate whose node name is
    not one of its SANs gets its first DNS SAN as CN, or none (CA/B BR 7.1.4.3); every profile verifies for
    its purpose, and openssl agrees."""
    ca, opener = make_ca()
    now = dt.datetime.now(dt.UTC)
    server = ca.issue("cim-001", "nats-server", opener, tmp_path / "server", dns=["cim-001.example.com"], ips=["10.0.0.1"])
    assert server.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "cim-001.example.com"
    assert server.entry.node == "cim-001"
    # IP addresses only: no CN (openssl reads a CN that looks like a host name as a DNS name and
    # checks it against DNS constraints, and "10.0.0.2" is not in example.com)
    open_ca, open_opener = make_ca("open", permitted_dns=())
    by_ip = open_ca.issue("cim-002", "nats-server", open_opener, tmp_path / "by-ip", ips=["10.0.0.2"])
    assert by_ip.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME) == []
    named = ca.issue("cim-003.example.com", "nats-server", opener, tmp_path / "named", dns=["a.example.com", "cim-003.example.com"])
    assert named.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "cim-003.example.com"
    checks = [(ca, server.certificate, "server", "cim-001.example.com"), (ca, server.certificate, "server", "10.0.0.1"),
              (ca, server.certificate, "client", None), (open_ca, by_ip.certificate, "server", "10.0.0.2"),
              (ca, named.certificate, "server", "a.example.com")]
    for profile in ("nats-client", "nats-leaf", "admin"):
        issued = ca.issue(f"node-{profile}", profile, opener, tmp_path / profile)
        checks.append((ca, issued.certificate, "client", None))
    for issuer, cert, purpose, name in checks:
        anchors, inters = [issuer.root_certificate], issuer.intermediate_certificates()
        result = verify_chain(cert, anchors, inters, at=now, purpose=purpose, name=name, crls=issuer.crls(),
                              crl_check_all=True)
        assert result.valid, (cert.subject.rfc4514_string(), purpose, result.error)
        assert openssl_accepts(Case(anchors, list(inters), cert, purpose=purpose, name=name), tmp_path, at=now)
