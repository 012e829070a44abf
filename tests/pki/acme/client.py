"""A real ACME client for tests and the benchmark, built on certbot's `acme` library: accounts
with external account binding, orders from a CSR, http-01 answered by acme's own standalone
HTTP server on the port the ACME server validates."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from acme import challenges, client, messages, standalone
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from josepy.jwa import ES256
from josepy.jwk import JWKEC

from tests.servers import LOOPBACK


def csr_for(names: Sequence[str], key: Any | None = None) -> tuple[bytes, Any]:
    key = key or ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM), key


class Http01Responder:
    """acme's standalone http-01 server on 127.0.0.1:port; `add` publishes a challenge's answer."""

    def __init__(self, port: int) -> None:
        self.resources: set[Any] = set()
        self.servers = standalone.HTTP01DualNetworkedServers((LOOPBACK, port), self.resources)
        self.thread = threading.Thread(target=self.servers.serve_forever, daemon=True)

    def __enter__(self) -> Http01Responder:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.servers.shutdown_and_server_close()

    def add(self, challb: messages.ChallengeBody, account_key: JWKEC) -> challenges.ChallengeResponse:
        response: challenges.ChallengeResponse
        response, validation = challb.response_and_validation(account_key)
        self.resources.add(standalone.HTTP01RequestHandler.HTTP01Resource(chall=challb.chall, response=response,
                                                                          validation=validation))
        return response


class Client:
    """One ACME account (an EC P-256 key) at `directory_url`."""

    def __init__(self, directory_url: str, trust: str, key: Any | None = None) -> None:
        self.key = JWKEC(key=key or ec.generate_private_key(ec.SECP256R1()))
        self.net = client.ClientNetwork(self.key, alg=ES256, verify_ssl=trust,  # type: ignore[arg-type]
                                        user_agent="auditor-tests")
        self.directory = client.ClientV2.get_directory(directory_url, self.net)
        self.acme = client.ClientV2(self.directory, self.net)

    def register(self, kid: str, hmac: str) -> messages.RegistrationResource:
        eab = messages.ExternalAccountBinding.from_data(account_public_key=self.key.public_key(), kid=kid,
                                                         hmac_key=hmac, directory=self.directory)
        reg = messages.NewRegistration.from_data(email="ops@example.com", terms_of_service_agreed=True,
                                                 external_account_binding=eab)
        return self.acme.new_account(reg)

    def order(self, names: Sequence[str], key: Any | None = None) -> tuple[messages.OrderResource, Any]:
        csr, key = csr_for(names, key)
        return self.acme.new_order(csr), key

    def answer_http01(self, order: messages.OrderResource, responder: Http01Responder) -> None:
        for authz in order.authorizations:
            challb = next(c for c in authz.body.challenges if isinstance(c.chall, challenges.HTTP01))
            self.acme.answer_challenge(challb, responder.add(challb, self.key))

    def finish(self, order: messages.OrderResource, seconds: float = 30) -> messages.OrderResource:
        deadline = dt.datetime.now() + dt.timedelta(seconds=seconds)
        return self.acme.poll_and_finalize(order, deadline)

    def obtain(self, names: Sequence[str], responder: Http01Responder) -> tuple[str, Any]:
        order, key = self.order(names)
        self.answer_http01(order, responder)
        return self.finish(order).fullchain_pem, key


@contextmanager
def responder(port: int) -> Iterator[Http01Responder]:
    with Http01Responder(port) as r:
        yield r
