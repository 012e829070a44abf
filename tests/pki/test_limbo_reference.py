"""Cross-check of `pki.verify.verify_chain` against x509-limbo's path-validation cases.

x509-limbo (C2SP/x509-limbo) is a corpus of chains with the result a conformant verifier
must give, written by people outside this project; tests/pki/data/limbo/README.md says how
the compressed copy here was made. Marked `reference` (excluded from the default run):

    .venv/bin/python -m pytest -m reference tests/pki/test_limbo_reference.py -s

prints the agreement (cases agreeing / total) and fails when the cases we disagree with are
not exactly the ones listed in KNOWN_DISAGREEMENTS, each with the reason we differ.

How a case maps onto verify_chain, as `auditor pki verify --name` and the TLS collector call
it: SERVER cases are purpose "server" with the expected peer name, CLIENT cases purpose
"client" (an e-mail peer name is not checked: verify_chain checks DNS names and IP addresses
only). CRLs are checked for the leaf, max_chain_depth is passed on.
"""

from __future__ import annotations

import datetime as dt
import gzip
import ipaddress
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from pki.load import load_certificates
from pki.verify import verify_chain

pytestmark = pytest.mark.reference
DATA = Path(__file__).parent / "data" / "limbo" / "limbo.json.gz"

_CN = ("limbo's default leaf has CN=example.com, which is not among its SANs: refused by the CN rule "
       "(CA/B BR 7.1.4.3) that limbo's own webpki::cn cases expect; the case tests something else")
KNOWN_DISAGREEMENTS: dict[str, str] = {
    # limbo holds both sides of a question (`conflicts_with`): the issue chose these sides
    "rfc5280::eku::ee-without-eku": "conflicts with webpki::eku::ee-without-eku: a server leaf needs the "
                                    "serverAuth EKU (CA/B BR 7.1.2.7.10), RFC 5280 alone would accept none",
    "webpki::nc::permitted-dns-match-noncritical": "conflicts with rfc5280::nc::permitted-dns-match-noncritical: "
                                                   "name constraints must be critical (RFC 5280 4.2.1.10)",
    # the CN rule against limbo's default leaf
    "rfc5280::nc::permitted-dns-match-more": _CN,
    "rfc5280::nc::permitted-ipv4-match": _CN,
    "rfc5280::nc::permitted-ipv6-match": _CN,
    "webpki::nc::nc-permits-dns-san-pattern": _CN,
    "webpki::san::exact-localhost-ip-san": _CN,
    "webpki::san::leftmost-wildcard-san": _CN,
    # a limbo case whose "self-signed root" is not self-issued
    "cve::cve-2024-0567": "its trust anchor 'CN=Root A' is issued by CN=x509-limbo-root (limbo's root_ca keeps "
                          "the default issuer) and has no AKI: the shape rfc5280::aki::cross-signed-root-missing-aki "
                          "expects to fail (RFC 5280 4.2.1.1)",
    # cryptography's verifier, the base, is stricter than RFC 5280 here (as BoringSSL and rustls-webpki are)
    "crl::issuer-no-keyusage-extension": "cryptography refuses a CA certificate without keyUsage (CA/B BR 7.1.2.1.2)",
    "pathlen::max-chain-depth-1-self-issued": "cryptography counts self-issued intermediates against pathLen "
                                              "(RFC 5280 6.1.4 (l) does not)",
    "pathlen::self-issued-certs-pathlen": "cryptography counts self-issued intermediates against pathLen "
                                          "(RFC 5280 6.1.4 (l) does not)",
    "pathlen::validation-ignores-pathlen-in-leaf": "cryptography refuses cA=true in a server leaf (CA/B BR 7.1.2.7.8)",
    "rfc5280::ca-as-leaf": "cryptography refuses cA=true in a server leaf (CA/B BR 7.1.2.7.8)",
    "rfc5280::nc::permitted-dn-match": "cryptography does not implement directoryName name constraints and "
                                       "fails closed on a critical one",
}


@cache
def _cases() -> tuple[dict[str, Any], ...]:
    with gzip.open(DATA, "rt", encoding="utf-8") as f:
        return tuple(json.load(f)["testcases"])


def _certs(pems: list[str]) -> list[x509.Certificate]:
    """Loaded the way `auditor pki verify` loads files (pki.load: odd serials parse, quietly)."""
    loaded = [item.certificate for p in pems for item in load_certificates(p.encode())]
    assert all(c is not None for c in loaded)
    return [c for c in loaded if c is not None]


def outcome(case: dict[str, Any]) -> tuple[bool | None, str]:
    """(valid?, why) as verify_chain sees the case; None for an internal error (an exception),
    which never agrees with an expected result."""
    try:
        leaf = _certs([case["peer_certificate"]])[0]
        at = dt.datetime.fromisoformat(case["validation_time"]) if case["validation_time"] else dt.datetime.now(dt.UTC)
        peer = case["expected_peer_name"] or {}
        name = peer.get("value") if peer.get("kind") in ("DNS", "IP") else None
        purpose = "client" if case["validation_kind"] == "CLIENT" else "server"
        if purpose == "client":
            name = None
        crls = [x509.load_pem_x509_crl(c.encode()) for c in case["crls"]] or None
        result = verify_chain(leaf, _certs(case["trusted_certs"]), _certs(case["untrusted_intermediates"]),
                              at=at, purpose=purpose, name=name, max_depth=case["max_chain_depth"], crls=crls)
    except Exception as exc:
        return None, f"internal error: {type(exc).__name__}: {exc}"
    return result.valid, result.error or "valid"


def cryptography_outcome(case: dict[str, Any]) -> bool | None:
    """cryptography's verifier alone (the base of verify_chain), for comparison: None on an exception."""
    try:
        leaf = _certs([case["peer_certificate"]])[0]
        at = dt.datetime.fromisoformat(case["validation_time"]) if case["validation_time"] else dt.datetime.now(dt.UTC)
        builder = PolicyBuilder().store(Store(_certs(case["trusted_certs"]))).time(at)
        if case["max_chain_depth"] is not None:
            builder = builder.max_chain_depth(case["max_chain_depth"])
        intermediates = _certs(case["untrusted_intermediates"])
        peer = case["expected_peer_name"] or {}
        if case["validation_kind"] == "CLIENT" or peer.get("kind") not in ("DNS", "IP"):
            builder.build_client_verifier().verify(leaf, intermediates)
        else:
            try:
                subject: x509.DNSName | x509.IPAddress = x509.IPAddress(ipaddress.ip_address(peer["value"]))
            except ValueError:
                subject = x509.DNSName(peer["value"])
            builder.build_server_verifier(subject).verify(leaf, intermediates)
    except VerificationError:
        return False
    except Exception:
        return None
    return True


def test_agreement_with_x509_limbo() -> None:
    cases = _cases()
    base = sum(cryptography_outcome(c) == (c["expected_result"] == "SUCCESS") for c in cases)
    print(f"\nx509-limbo: cryptography's verifier alone agrees on {base} of {len(cases)} cases (no CRLs checked)")
    disagree: dict[str, str] = {}
    for case in cases:
        valid, why = outcome(case)
        if valid is None or valid != (case["expected_result"] == "SUCCESS"):
            disagree[case["id"]] = f"expected {case['expected_result']}, got {'valid' if valid else why}"
    print(f"x509-limbo: verify_chain agrees on {len(cases) - len(disagree)} of {len(cases)} cases")
    for case_id, what in sorted(disagree.items()):
        print(f"  {case_id}: {what}" + (f"  [known: {KNOWN_DISAGREEMENTS[case_id]}]"
                                         if case_id in KNOWN_DISAGREEMENTS else ""))
    assert len(cases) == 194
    assert sorted(disagree) == sorted(KNOWN_DISAGREEMENTS)
