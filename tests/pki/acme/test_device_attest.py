"""device-attest-01: a node whose key is held on a YubiKey proves it with the key's PIV
attestation (here the software PIV card of tests/softpiv, whose attestation root the server
trusts with --attestation-roots in place of Yubico's). The serial is bound to the order, the
PIN and touch policies are checked against the ACME policy, and the certificate is only for
the attested key."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from acme import challenges, messages
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from fido2 import cbor
from josepy import json_util
from ykman.piv import sign_csr_builder
from yubikit.piv import DEFAULT_MANAGEMENT_KEY, KEY_TYPE, PIN_POLICY, SLOT, TOUCH_POLICY, PivSession

import pki.acme.server  # noqa: F401 - registers the permanent-identifier type with acme's messages
from pki.acme import signed
from pki.inventory import serial_hex
from tests.certs import write
from tests.pki.acme.client import Client, csr_for, responder
from tests.pki.acme.conftest import AcmeSetup, Served
from tests.softpiv import SoftPivCard
from tests.softpiv.card import DEFAULT_PIN

pytestmark = pytest.mark.slow
NAME = "cim-hs-1.example.com"
SERIAL = 12345678


class AttestResponse(json_util.JSONObjectWithFields):
    att_obj: str = json_util.field("attObj")


@pytest.fixture(scope="module")
def card() -> SoftPivCard:
    return SoftPivCard(serial=SERIAL)


@pytest.fixture(scope="module")
def served(acme_setup: AcmeSetup, card: SoftPivCard) -> Iterator[Served]:
    acme_setup.policy(
        "names: ['.example.com']\n"
        "attestation: {names: ['cim-hs-*.example.com'], pin_policy: [always], touch_policy: [always, cached]}\n"
        f"accounts:\n  hs-ops: {{yubikeys: [{SERIAL}]}}\n")
    assert card.attestation_root is not None
    roots = write(acme_setup.work / "softpiv-root.pem", card.attestation_root.public_bytes(serialization.Encoding.PEM))
    with acme_setup.serve("--attestation-roots", str(roots), name="attest") as s:
        yield s


def new_order(client: Client, identifiers: list[tuple[str, str]]) -> messages.OrderResource:
    body = messages.NewOrder(identifiers=[messages.Identifier(typ=messages.IdentifierType.from_json(t), value=v)
                                          for t, v in identifiers])
    response = client.acme._post(client.directory["newOrder"], body)
    order = messages.Order.from_json(response.json())
    authzs = [client.acme._authzr_from_response(client.acme._post_as_get(url), uri=url) for url in order.authorizations]
    return messages.OrderResource(body=order, uri=response.headers["Location"], authorizations=authzs)


def slot_key(card: SoftPivCard, pin_policy: PIN_POLICY = PIN_POLICY.ALWAYS) -> tuple[PivSession, Any]:
    session = PivSession(card.connect())
    session.authenticate(DEFAULT_MANAGEMENT_KEY)
    public = session.generate_key(SLOT.AUTHENTICATION, KEY_TYPE.ECCP256, pin_policy=pin_policy,
                                  touch_policy=TOUCH_POLICY.ALWAYS)
    return session, public


def attest(session: PivSession, key_authorization: str) -> str:
    """The device-attest-01 answer: CBOR {fmt: step, attStmt: {alg, sig, x5c}}, base64url."""
    attestation = session.attest_key(SLOT.AUTHENTICATION).public_bytes(serialization.Encoding.DER)
    device = session.get_certificate(SLOT.ATTESTATION).public_bytes(serialization.Encoding.DER)
    session.verify_pin(DEFAULT_PIN)
    sig = session.sign(SLOT.AUTHENTICATION, KEY_TYPE.ECCP256, key_authorization.encode(), hashes.SHA256())
    obj = cbor.encode({"fmt": "step", "attStmt": {"alg": -7, "sig": sig, "x5c": [attestation, device]}})
    return base64.urlsafe_b64encode(obj).rstrip(b"=").decode()


def answer_device(client: Client, order: messages.OrderResource, att_obj_for: Any) -> messages.AuthorizationResource:
    authz = next(a for a in order.authorizations if a.body.identifier.typ.name == "permanent-identifier")
    challb = authz.body.challenges[0]
    assert challb.chall.jobj["type"] == "device-attest-01"
    token = challb.chall.jobj["token"]
    key_authorization = f"{token}.{signed.thumbprint(client.key)}"
    client.acme._post(challb.uri, AttestResponse(att_obj=att_obj_for(key_authorization)))
    return authz


def test_a_yubikey_held_key_obtains_a_certificate(acme_setup: AcmeSetup, served: Served, card: SoftPivCard) -> None:
    client = Client(served.directory, str(acme_setup.trust))
    client.register(*acme_setup.eab("hs-ops"))
    with pytest.raises(messages.Error) as refused:
        new_order(client, [("dns", NAME)])
    assert refused.value.typ.endswith(":rejectedIdentifier") and "needs a key held on a YubiKey" in str(refused.value)

    session, public = slot_key(card)
    order = new_order(client, [("dns", NAME), ("permanent-identifier", str(SERIAL))])
    answer_device(client, order, lambda ka: attest(session, ka))
    with responder(acme_setup.http01_port) as http01:
        dns_authz = next(a for a in order.authorizations if a.body.identifier.typ.name == "dns")
        challb = next(c for c in dns_authz.body.challenges if isinstance(c.chall, challenges.HTTP01))
        client.acme.answer_challenge(challb, http01.add(challb, client.key))
        order = client.acme.poll_authorizations(order, dt.datetime.now() + dt.timedelta(seconds=30))

    other_csr, _ = csr_for([NAME])  # a software key: not the attested one
    with pytest.raises(messages.Error, match="not the key the YubiKey attested"):
        client.acme.finalize_order(order.update(csr_pem=other_csr), dt.datetime.now() + dt.timedelta(seconds=30))

    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])).add_extension(
        x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
    session.verify_pin(DEFAULT_PIN)
    csr = sign_csr_builder(session, SLOT.AUTHENTICATION, public, builder)
    done = client.acme.finalize_order(order.update(csr_pem=csr.public_bytes(serialization.Encoding.PEM)),
                                      dt.datetime.now() + dt.timedelta(seconds=30))
    cert = x509.load_pem_x509_certificates(done.fullchain_pem.encode())[0]
    assert cert.public_key() == public
    serial = serial_hex(cert.serial_number)
    entry = next(json.loads(line) for line in (acme_setup.folder / "log.jsonl").read_text().splitlines()
                 if json.loads(line)["serial"] == serial and json.loads(line)["event"] == "issue")
    assert entry["details"]["acme"]["attestation"] == {
        "serial": SERIAL, "slot": "9a", "pin_policy": "always", "touch_policy": "always", "firmware": "5.7.1"}


def clone(card: SoftPivCard, folder: Path, serial: int) -> SoftPivCard:
    """Another device under the same attestation root."""
    card.save(folder / "card.json")
    other = SoftPivCard.load(folder / "card.json")
    other.serial = serial
    return other


def refused(client: Client, device: SoftPivCard, pin_policy: PIN_POLICY) -> str:
    session, _ = slot_key(device, pin_policy)
    order = new_order(client, [("dns", NAME), ("permanent-identifier", str(device.serial))])
    authz = answer_device(client, order, lambda ka: attest(session, ka))
    deadline = dt.datetime.now() + dt.timedelta(seconds=20)
    while authz.body.status.name == "pending" and dt.datetime.now() < deadline:
        authz, _ = client.acme.poll(authz)
    assert authz.body.status.name == "invalid"
    error = authz.body.challenges[0].error
    assert error is not None and error.typ.endswith(":unauthorized")
    return str(error.detail)


def test_an_attestation_outside_the_policy_is_refused(acme_setup: AcmeSetup, served: Served, card: SoftPivCard,
                                                      tmp_path: Path) -> None:
    client = Client(served.directory, str(acme_setup.trust))
    client.register(*acme_setup.eab("hs-ops"))
    assert "may not use YubiKey 87654321" in refused(client, clone(card, tmp_path, 87654321), PIN_POLICY.ALWAYS)
    assert "PIN policy is never" in refused(client, clone(card, tmp_path, SERIAL), PIN_POLICY.NEVER)
    assert "not a trusted attestation root" in refused(client, SoftPivCard(serial=SERIAL), PIN_POLICY.ALWAYS)
