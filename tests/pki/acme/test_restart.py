"""A server restart in the middle of an order does not break it: accounts, nonces, orders and
challenges are in the CA folder's state database, a validation under way is resumed, and an
order interrupted between signing and recording finds its certificate."""

from __future__ import annotations

import base64
import http.server
import signal
import time
from collections.abc import Iterator
from typing import ClassVar

import pytest
from acme import challenges
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pki.acme import policy, validation
from pki.acme.issuer import Issuer
from pki.acme.server import AcmeServer
from pki.acme.store import NewAuthz, Store
from pki.inventory import serial_hex
from tests.pki.acme.client import Client, csr_for
from tests.pki.acme.conftest import AcmeSetup
from tests.pki.acme.test_lego import listed
from tests.pki.conftest import secrets
from tests.servers import http_server

pytestmark = pytest.mark.slow


class SlowHandler(http.server.BaseHTTPRequestHandler):
    """Answers http-01 from `answers`, the first request only after `delay` seconds."""

    answers: ClassVar[dict[str, str]] = {}
    delay = 3.0
    seen = 0

    def do_GET(self) -> None:
        type(self).seen += 1
        if type(self).seen == 1:
            time.sleep(self.delay)
        body = self.answers.get(self.path.rsplit("/", 1)[-1], "").encode()
        self.send_response(200 if body else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture
def slow_responder(acme_setup: AcmeSetup) -> Iterator[type[SlowHandler]]:
    handler = type("Handler", (SlowHandler,), {"answers": {}, "seen": 0})
    with http_server(handler, acme_setup.http01_port):
        yield handler


def test_restarts_and_kills_at_every_step_of_an_order(acme_setup: AcmeSetup, slow_responder: type[SlowHandler]) -> None:
    with acme_setup.serve(name="restart") as served:
        client = Client(served.directory, str(acme_setup.trust))
        client.register(*acme_setup.eab("restart-ops"))
        order, key = client.order(["cim-001.example.com"])
        served.restart(signal.SIGKILL)  # killed with the order pending: the nonce the client holds still works

        authz = order.authorizations[0]
        challb = next(c for c in authz.body.challenges if isinstance(c.chall, challenges.HTTP01))
        response, answer = challb.response_and_validation(client.key)
        slow_responder.answers[challb.chall.encode("token")] = answer
        client.acme.answer_challenge(challb, response)
        deadline = time.monotonic() + 10
        while slow_responder.seen == 0:  # the server is validating: kill it in the middle
            assert time.monotonic() < deadline
            time.sleep(0.05)
        served.restart(signal.SIGKILL)

        done = client.finish(order)  # the restarted server validated again, then issued
        assert slow_responder.seen >= 2
        served.restart(signal.SIGTERM)
        chain = client.acme._post_as_get(done.body.certificate).text  # download again after a restart
        assert chain == done.fullchain_pem
        certs = x509.load_pem_x509_certificates(chain.encode())
        assert certs[0].public_key().public_bytes(serialization.Encoding.DER,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo) == \
            key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        assert listed(acme_setup)[serial_hex(certs[0].serial_number)]["state"] == "valid"
        assert served.starts == 4 and "Traceback" not in served.text()


def _ready_order(store: Store, names: list[str]) -> str:
    """An account and an order whose authorizations are valid (as validation would leave them)."""
    eab = store.create_eab("ops")
    account = store.new_account(thumbprint=f"t-{eab.kid}", jwk='{"kty": "EC"}', kid=eab.kid, contact=())
    assert account is not None
    order = store.new_order(account=account.id, identifiers=[("dns", n) for n in names], profile="nats-server",
                            lifetime_days=30, authzs=[NewAuthz("dns", n, False, ("http-01",)) for n in names],
                            lifetime=3600)
    for authz in store.authzs_of(order.id):
        challenge = store.challenges_of(authz.id)[0]
        assert store.start_challenge(challenge.id, None)
        store.finish_challenge(challenge.id, error=None)
    ready = store.order(order.id)
    assert ready is not None and ready.status == "ready"
    return order.id


def test_an_order_stopped_between_signing_and_recording_finds_its_certificate(acme_setup: AcmeSetup) -> None:
    issuer = Issuer(acme_setup.folder, secrets)
    rules = policy.Policy()
    with Store(acme_setup.folder) as store:
        order_id = _ready_order(store, ["cim-002.example.com"])
        csr_pem, _ = csr_for(["cim-002.example.com"])
        csr = x509.load_pem_x509_csr(csr_pem)
        der = base64.urlsafe_b64encode(csr.public_bytes(serialization.Encoding.DER)).rstrip(b"=").decode()
        assert store.start_finalize(order_id, der)
        # the CA signed and logged, then the server died before recording it in its state
        signed = issuer.issue(csr, node="cim-002.example.com", profile="nats-server", dns=["cim-002.example.com"],
                              lifetime_days=30, details={})
        before = set(listed(acme_setup))
        server = AcmeServer(issuer, store, rules, validation.Settings())
        server.start()
        server.stop()
        order = store.order(order_id)
        assert order is not None and order.status == "valid" and order.serial == signed.serial
        assert set(listed(acme_setup)) == before  # recovered, not issued twice

        second = _ready_order(store, ["cim-003.example.com"])
        csr_pem, _ = csr_for(["cim-003.example.com"])
        raw = base64.urlsafe_b64encode(x509.load_pem_x509_csr(csr_pem).public_bytes(serialization.Encoding.DER))
        assert store.start_finalize(second, raw.rstrip(b"=").decode())
        server = AcmeServer(issuer, store, rules, validation.Settings())
        server.start()  # nothing was signed before the stop: it signs now
        server.stop()
        order = store.order(second)
        assert order is not None and order.status == "valid"
        assert listed(acme_setup)[str(order.serial)]["node"] == "cim-003.example.com"
