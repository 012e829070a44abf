"""The protocol in-process (`AcmeServer.handle`), with requests signed by acme's JWS code and
some forged on purpose: every refusal is an ACME error document, never an internal error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from acme import jws as acme_jws
from acme import messages
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given
from hypothesis import strategies as st
from josepy.b64 import b64decode, b64encode
from josepy.jwa import ES256, HS256, RS256
from josepy.jwk import JWK, JWKEC, JWKRSA, JWKOct

from pki.acme import policy, validation
from pki.acme.issuer import Issuer
from pki.acme.server import AcmeServer, Request, Response
from pki.acme.store import Store
from tests.pki.acme.client import csr_for
from tests.pki.conftest import new_ca, secrets

BASE = "https://acme.test"


class Harness:
    """Signs requests like a client; `post` takes a payload (dict, None for POST-as-GET, or bytes)."""

    def __init__(self, server: AcmeServer, store: Store) -> None:
        self.server = server
        self.store = store

    def call(self, method: str, path: str, body: bytes = b"", content_type: str = "application/jose+json") -> Response:
        return self.server.handle(Request(method, path, "https", "acme.test", content_type, body))

    def nonce(self) -> str:
        return dict(self.call("HEAD", "/acme/new-nonce").headers)["Replay-Nonce"]

    def jws(self, path: str, payload: Any, key: JWK, kid: str | None = None, *, url: str | None = None,
            nonce: str | None = None, alg: Any = ES256) -> bytes:
        raw = payload if isinstance(payload, bytes) else b"" if payload is None else json.dumps(payload).encode()
        signed = acme_jws.JWS.sign(raw, key=key, alg=alg, nonce=b64decode(nonce or self.nonce()),
                                   url=url or BASE + path, kid=kid)
        return str(signed.json_dumps()).encode()

    def post(self, path: str, payload: Any, key: JWK, kid: str | None = None, **kw: Any) -> Response:
        return self.call("POST", path, self.jws(path, payload, key, kid, **kw))

    def account(self, name: str = "ops") -> tuple[JWKEC, str]:
        key = JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
        eab = self.store.create_eab(name)
        directory = messages.Directory({"newAccount": BASE + "/acme/new-account"})
        binding = messages.ExternalAccountBinding.from_data(key.public_key(), eab.kid, eab.hmac, directory)
        r = self.post("/acme/new-account", {"contact": ["mailto:ops@example.com"], "termsOfServiceAgreed": True,
                                            "externalAccountBinding": binding}, key)
        assert r.status == 201, r.body
        return key, dict(r.headers)["Location"]


def problem(r: Response, status: int, kind: str, *, post: bool = True) -> dict[str, Any]:
    assert r.content_type == "application/problem+json", (r.status, r.body)
    doc: dict[str, Any] = json.loads(r.body)
    assert (r.status, doc["type"]) == (status, f"urn:ietf:params:acme:error:{kind}"), doc
    assert ("Replay-Nonce" in dict(r.headers)) == post  # a client retries a badNonce with it
    return doc


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ca, _ = new_ca(tmp_path_factory.mktemp("acme-server") / "CA")
    (ca.folder / "acme").mkdir(mode=0o700)
    (ca.folder / "acme" / "policy.yaml").write_text(
        "names: ['.example.com']\nrate_limits: {orders_per_account_per_hour: 3}\n"
        "accounts:\n  narrow: {names: ['cim-9*.example.com']}\n")
    return ca.folder


@pytest.fixture(scope="module")
def harness(folder: Path) -> Iterator[Harness]:
    issuer = Issuer(folder, secrets)
    with Store(folder) as store:
        server = AcmeServer(issuer, store, policy.load(folder, issuer.leaf_profiles()), validation.Settings())
        server.start()
        yield Harness(server, store)
        server.stop()


def test_directory_and_nonces(harness: Harness) -> None:
    r = harness.call("GET", "/acme/directory")
    doc = json.loads(r.body)
    assert doc["newAccount"] == BASE + "/acme/new-account" and doc["meta"]["externalAccountRequired"] is True
    assert doc["meta"]["profiles"] == {"nats-server": "30-day certificates from the CA's nats-server profile"}
    problem(harness.call("POST", "/acme/directory"), 405, "malformed")  # a POST: it gets a nonce
    head = harness.call("HEAD", "/acme/new-nonce")
    assert head.status == 200 and dict(head.headers)["Cache-Control"] == "no-store"
    assert harness.call("GET", "/acme/new-nonce").status == 204
    problem(harness.call("GET", "/acme/nowhere"), 404, "malformed", post=False)
    problem(harness.server.handle(Request("GET", "/acme/directory", "https", "bad host\x00")), 400, "malformed", post=False)


def test_accounts_need_an_external_account_binding(harness: Harness) -> None:
    key = JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    problem(harness.post("/acme/new-account", {"termsOfServiceAgreed": True}, key), 401, "externalAccountRequired")
    eab = harness.store.create_eab("ops")
    directory = messages.Directory({"newAccount": BASE + "/acme/new-account"})
    wrong = messages.ExternalAccountBinding.from_data(key.public_key(), eab.kid, b64encode(b"x" * 32).decode(), directory)
    assert "MAC does not verify" in problem(harness.post("/acme/new-account", {"externalAccountBinding": wrong}, key),
                                            403, "unauthorized")["detail"]
    other = JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    theirs = messages.ExternalAccountBinding.from_data(other.public_key(), eab.kid, eab.hmac, directory)
    assert "binds another key" in problem(harness.post("/acme/new-account", {"externalAccountBinding": theirs}, key),
                                          403, "unauthorized")["detail"]
    good = messages.ExternalAccountBinding.from_data(key.public_key(), eab.kid, eab.hmac, directory)
    r = harness.post("/acme/new-account", {"externalAccountBinding": good}, key)
    assert r.status == 201
    again = harness.post("/acme/new-account", {"onlyReturnExisting": True}, key)
    assert again.status == 200 and dict(again.headers)["Location"] == dict(r.headers)["Location"]
    reuse = messages.ExternalAccountBinding.from_data(other.public_key(), eab.kid, eab.hmac, directory)
    problem(harness.post("/acme/new-account", {"externalAccountBinding": reuse}, other), 403, "unauthorized")
    problem(harness.post("/acme/new-account", {"onlyReturnExisting": True}, other), 400, "accountDoesNotExist")


def test_forged_and_replayed_requests(harness: Harness) -> None:
    key, kid = harness.account()
    path = "/acme/new-order"
    body = {"identifiers": [{"type": "dns", "value": "cim-001.example.com"}]}
    nonce = harness.nonce()
    assert harness.post(path, body, key, kid, nonce=nonce).status == 201
    problem(harness.post(path, body, key, kid, nonce=nonce), 400, "badNonce")  # replayed
    problem(harness.post(path, body, key, kid, nonce="AAAAAAAAAAAAAAAAAAAAAA"), 400, "badNonce")  # never given
    problem(harness.post(path, body, key, kid, url=BASE + "/acme/new-account"), 403, "unauthorized")
    problem(harness.call("POST", path, harness.jws(path, body, key, kid), content_type="application/json"), 415, "malformed")
    mac = JWKOct(key=b"k" * 32)
    problem(harness.post(path, body, mac, kid, alg=HS256), 400, "badSignatureAlgorithm")
    rsa_key = JWKRSA(key=rsa.generate_private_key(65537, 2048))
    assert "does not match" in problem(harness.post(path, body, rsa_key, kid, alg=RS256), 400, "badSignatureAlgorithm")["detail"]
    stranger = JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    problem(harness.post(path, body, stranger, kid), 400, "malformed")  # signed by another key
    problem(harness.post(path, body, key, BASE + "/acme/account/nobody"), 400, "accountDoesNotExist")
    signed = json.loads(harness.jws(path, body, key, kid))
    problem(harness.call("POST", path, json.dumps({**signed, "header": {"kid": kid}}).encode()), 400, "malformed")
    none = {**signed, "protected": b64encode(json.dumps({"alg": "none", "nonce": harness.nonce(), "url": BASE + path,
                                                          "kid": kid}).encode()).decode()}
    problem(harness.call("POST", path, json.dumps(none).encode()), 400, "badSignatureAlgorithm")


@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_body_is_answered_with_an_error_document(harness: Harness, body: bytes) -> None:
    r = harness.call("POST", "/acme/new-order", body)
    assert 400 <= r.status < 500
    assert json.loads(r.body)["type"].startswith("urn:ietf:params:acme:error:")


def test_orders_are_checked_against_the_policy(harness: Harness) -> None:
    key, kid = harness.account("narrow")
    r = harness.post("/acme/new-order", {"identifiers": [
        {"type": "dns", "value": "cim-901.example.com"}, {"type": "dns", "value": "cim-001.example.com"},
        {"type": "dns", "value": "www.example.org"}, {"type": "dns", "value": "bad..name"}]}, key, kid)
    doc = problem(r, 400, "rejectedIdentifier")
    assert [s["identifier"]["value"] for s in doc["subproblems"]] == ["cim-001.example.com", "www.example.org", "bad..name"]
    assert "outside the issuing CA's name constraints" in doc["subproblems"][1]["detail"]
    problem(harness.post("/acme/new-order", {"identifiers": [{"type": "ip", "value": "10.0.0.1"}]}, key, kid), 400,
            "unsupportedIdentifier")
    problem(harness.post("/acme/new-order", {"identifiers": [{"type": "dns", "value": "*.example.com"}]}, key, kid), 400,
            "rejectedIdentifier")
    problem(harness.post("/acme/new-order", {"identifiers": [{"type": "dns", "value": "cim-901.example.com"}],
                                             "notAfter": "2030-01-01T00:00:00Z"}, key, kid), 400, "malformed")
    problem(harness.post("/acme/new-order", {"identifiers": [{"type": "dns", "value": "cim-901.example.com"}],
                                             "profile": "admin"}, key, kid), 400, "invalidProfile")
    for _ in range(3):
        assert harness.post("/acme/new-order", {"identifiers": [{"type": "dns", "value": "cim-901.example.com"}]},
                            key, kid).status == 201
    limited = harness.post("/acme/new-order", {"identifiers": [{"type": "dns", "value": "cim-901.example.com"}]}, key, kid)
    problem(limited, 429, "rateLimited")
    assert 1 <= int(dict(limited.headers)["Retry-After"]) <= 3601


def test_finalize_download_and_revoke(harness: Harness) -> None:
    key, kid = harness.account()
    r = harness.post("/acme/new-order", {"identifiers": [{"type": "dns", "value": "cim-002.example.com"}]}, key, kid)
    order_url = dict(r.headers)["Location"]
    order = json.loads(r.body)
    csr_pem, cert_key = csr_for(["cim-002.example.com"])
    csr_der = x509.load_pem_x509_csr(csr_pem).public_bytes(serialization.Encoding.DER)
    finalize = order["finalize"].removeprefix(BASE)
    problem(harness.post(finalize, {"csr": b64encode(csr_der).decode()}, key, kid), 403, "orderNotReady")
    other_key, other_kid = harness.account("other")
    problem(harness.post(order_url.removeprefix(BASE), None, other_key, other_kid), 404, "malformed")
    for authz_url in order["authorizations"]:  # as a successful validation leaves it
        authz = json.loads(harness.post(authz_url.removeprefix(BASE), None, key, kid).body)
        challenge_id = authz["challenges"][0]["url"].rsplit("/", 1)[-1]
        assert harness.store.start_challenge(challenge_id, None)
        harness.store.finish_challenge(challenge_id, error=None)
    assert json.loads(harness.post(order_url.removeprefix(BASE), None, key, kid).body)["status"] == "ready"
    wrong_csr, _ = csr_for(["cim-003.example.com"])
    wrong_der = x509.load_pem_x509_csr(wrong_csr).public_bytes(serialization.Encoding.DER)
    assert "are not the order's" in problem(harness.post(finalize, {"csr": b64encode(wrong_der).decode()}, key, kid),
                                           400, "badCSR")["detail"]
    problem(harness.post(finalize, {"csr": "not base64!"}, key, kid), 400, "badCSR")
    done = json.loads(harness.post(finalize, {"csr": b64encode(csr_der).decode()}, key, kid).body)
    assert done["status"] == "valid"
    cert_path = done["certificate"].removeprefix(BASE)
    chain = harness.post(cert_path, None, key, kid)
    assert chain.content_type == "application/pem-certificate-chain"
    cert = x509.load_pem_x509_certificates(chain.body)[0]
    problem(harness.post(cert_path, None, other_key, other_kid), 404, "malformed")

    cert_der = cert.public_bytes(serialization.Encoding.DER)
    problem(harness.post("/acme/revoke-cert", {"certificate": b64encode(cert_der).decode()}, other_key, other_kid),
            403, "unauthorized")
    problem(harness.post("/acme/revoke-cert", {"certificate": b64encode(cert_der).decode(), "reason": 2},
                         key, kid), 400, "badRevocationReason")
    by_cert_key = JWKEC(key=cert_key)  # RFC 8555 7.6: signed with the certificate's own key, in a jwk
    r = harness.post("/acme/revoke-cert", {"certificate": b64encode(cert_der).decode(), "reason": 1}, by_cert_key)
    assert r.status == 200, r.body
    problem(harness.post("/acme/revoke-cert", {"certificate": b64encode(cert_der).decode()}, key, kid), 400,
            "alreadyRevoked")


def test_key_change_and_deactivation(harness: Harness) -> None:
    key, kid = harness.account()
    new = JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    inner = acme_jws.JWS.sign(json.dumps({"account": kid, "oldKey": key.public_key().to_partial_json()}).encode(),
                              key=new, alg=ES256, nonce=None, url=BASE + "/acme/key-change")
    r = harness.post("/acme/key-change", json.loads(inner.json_dumps()), key, kid)
    assert r.status == 200, r.body
    problem(harness.post(kid.removeprefix(BASE), None, key, kid), 400, "malformed")  # the old key no longer signs
    assert harness.post(kid.removeprefix(BASE), None, new, kid).status == 200
    r = harness.post(kid.removeprefix(BASE), {"status": "deactivated"}, new, kid)
    assert json.loads(r.body)["status"] == "deactivated"
    problem(harness.post("/acme/new-order", {"identifiers": [{"type": "dns", "value": "cim-001.example.com"}]},
                         new, kid), 403, "unauthorized")
