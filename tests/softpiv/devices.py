"""Software PIV cards as the node's "connected YubiKeys" (TEST DOUBLES), and provisioning them through yubikit.

`SoftPivDevices` plugs cards into auditor's yubikey collector at its device seam
(`auditor._collectors.yubikey.using`); every APDU still goes through yubikit's PivSession to
the card's SmartCardConnection. `provision()` sets a slot up the way an operator would with
ykman: generate (or import) a key with PIN/touch policies, then a certificate signed in the
slot (self-signed, or a CA certificate).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from ykman.piv import sign_certificate_builder
from yubikit.piv import KEY_TYPE, PIN_POLICY, SLOT, TOUCH_POLICY, PivSession

from auditor._collectors.yubikey import Device, DeviceSource
from pki import keys
from tests.softpiv.card import DEFAULT_PIN, SoftPivCard


class SoftPivDevices(DeviceSource):
    """TEST DOUBLE: software PIV cards standing for the YubiKeys on a node's readers."""

    name = "softpiv (test double, not a YubiKey)"

    def __init__(self, cards: list[SoftPivCard]) -> None:
        self.cards = cards

    def devices(self) -> list[Device]:
        return [Device(card.serial, card.connect) for card in self.cards]


def provision(
    card: SoftPivCard,
    slot: str,
    key_type: str,
    *,
    pin_policy: str = "default",
    touch_policy: str = "default",
    imported: bool = False,
    subject: str | None = None,
    ca: bool = False,
    not_before: dt.datetime | None = None,
    days: int = 365,
) -> Any:
    """Put a key (generated on the card, or imported) and a certificate signed by it into `slot`."""
    piv_slot = SLOT(int(slot, 16))
    piv_type = KEY_TYPE[{"ecdsa-p256": "ECCP256", "ecdsa-p384": "ECCP384", "ed25519": "ED25519",
                         "rsa-2048": "RSA2048"}[key_type]]
    session = PivSession(card.connect())
    session.authenticate(card.management_key)
    pin = PIN_POLICY[pin_policy.upper()]
    touch = TOUCH_POLICY[touch_policy.upper()]
    if imported:
        private = keys.generate(key_type)
        session.put_key(piv_slot, private, pin, touch)  # type: ignore[arg-type]
        public: Any = private.public_key()
    else:
        public = session.generate_key(piv_slot, piv_type, pin, touch)
    if subject is not None:
        start = not_before or dt.datetime.now(dt.UTC).replace(microsecond=0)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(public)
                   .serial_number(x509.random_serial_number()).not_valid_before(start)
                   .not_valid_after(start + dt.timedelta(days=days)))
        if ca:
            builder = (builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                       .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                                    key_encipherment=False, data_encipherment=False,
                                                    key_agreement=False, key_cert_sign=True, crl_sign=True,
                                                    encipher_only=False, decipher_only=False), critical=True))
        session.verify_pin(card.pin if card.pin else DEFAULT_PIN)
        cert = sign_certificate_builder(session, piv_slot, piv_type, builder,
                                        hashes.SHA384 if key_type == "ecdsa-p384" else hashes.SHA256)
        session.put_certificate(piv_slot, cert)
    return public
