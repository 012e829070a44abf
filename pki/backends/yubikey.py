"""CA keys in a YubiKey's PIV slot 9c (Digital Signature), through yubikit.

The key is generated on the device, never imported, so the device can attest it: the
attestation certificate (signed by the device's slot-f9 key, which chains to Yubico's PIV
attestation CA) is kept in the CA folder beside the key reference. Signing sends the data to
the card after verifying the PIN (slot 9c asks for it before every signature). The PIN is
never tried when at most one attempt is left, so a wrong PIN cannot block the card.

No YubiKey exists in this project's test environment: tests drive this module through a
software PIV card at yubikit's SmartCardConnection seam (tests/softpiv), see docs/pki.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from pki import keys
from pki.attestation import verify
from pki.backends.interface import (
    BackendSettings,
    GeneratedKey,
    KeyBackend,
    SecretSource,
    hardware_key,
)
from pki.errors import BackendError, KeyAccessError, SeveralYubiKeys

SLOT_NAME = "9c"
MIN_PIN_ATTEMPTS = 2
_KEY_TYPES = {
    "ecdsa-p256": "ECCP256", "ecdsa-p384": "ECCP384", "ed25519": "ED25519",
    "rsa-2048": "RSA2048", "rsa-3072": "RSA3072", "rsa-4096": "RSA4096",
}
TOUCH_POLICIES = ("always", "cached", "never")

def open_device(serial: int | None) -> Any:
    """A SmartCardConnection to the one YubiKey connected (or the one with `serial`)."""
    try:
        from ykman.device import list_all_devices
        from yubikit.core.smartcard import SmartCardConnection
    except ImportError:  # pragma: no cover - a declared dependency
        raise BackendError("the YubiKey backend needs yubikey-manager (pip install yubikey-manager)") from None
    try:
        devices = list_all_devices([SmartCardConnection])
    except Exception as exc:
        raise BackendError(f"cannot look for YubiKeys ({type(exc).__name__}: is pcscd running?)") from None
    if serial is not None:
        devices = [(d, i) for d, i in devices if i.serial == serial]
    if not devices:
        which = f" with serial {serial}" if serial is not None else ""
        raise BackendError(f"no YubiKey{which} is connected")
    if len(devices) > 1:
        raise SeveralYubiKeys("several YubiKeys are connected")
    return devices[0][0].open_connection(SmartCardConnection)


def verify_attestation(
    attestation: x509.Certificate, device_ca: x509.Certificate, roots: list[x509.Certificate], at: dt.datetime
) -> str | None:
    """Check slot attestation -> device (f9) certificate -> one of `roots` (and Yubico's
    intermediates); None when sound. See :func:`pki.attestation.verify`."""
    return verify(attestation, device_ca, at=at, roots=roots).problem


class YubiKeyBackend(KeyBackend):
    name = "yubikey"

    def __init__(
        self,
        secrets: SecretSource,
        *,
        serial: int | None = None,
        touch_policy: str = "always",
        connect: Callable[[int | None], Any] | None = None,
    ) -> None:
        if touch_policy not in TOUCH_POLICIES:
            raise BackendError(f"touch policy must be one of {', '.join(TOUCH_POLICIES)}")
        self.secrets = secrets
        self.serial = serial
        self.touch_policy = touch_policy
        self.connect = connect
        self._session: Any = None
        self._connection: Any = None
        self._pin: str | None = None

    @classmethod
    def from_settings(cls, settings: BackendSettings) -> YubiKeyBackend:
        return cls(settings.secrets, serial=settings.serial, touch_policy=settings.touch_policy, connect=settings.connect)

    def _open(self) -> Any:
        if self._session is not None:
            return self._session
        from yubikit.core import ApplicationNotAvailableError
        from yubikit.piv import PivSession

        self._connection = (self.connect or open_device)(self.serial)
        try:
            session = PivSession(self._connection)
        except ApplicationNotAvailableError:
            raise BackendError("this YubiKey has no PIV application enabled") from None
        try:
            actual = session.get_serial()
        except Exception:
            actual = None
        if self.serial is not None and actual != self.serial:
            raise BackendError(f"expected YubiKey {self.serial}, found {actual}")
        self.serial = actual
        self._session = session
        return session

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None
                self._session = None

    def _verify_pin(self, session: Any) -> None:
        from yubikit.core import InvalidPinError

        left = session.get_pin_attempts()
        if left < MIN_PIN_ATTEMPTS:
            raise KeyAccessError(
                f"YubiKey {self.serial}: only {left} PIN attempt(s) left; refusing to risk blocking the PIN "
                "(unblock it with the PUK first: ykman piv access unblock-pin)"
            )
        if self._pin is None:
            self._pin = self.secrets("pin", f"YubiKey {self.serial} PIV")
        try:
            session.verify_pin(self._pin)
        except InvalidPinError as exc:
            self._pin = None
            raise KeyAccessError(f"YubiKey {self.serial}: wrong PIN ({exc.attempts_remaining} attempt(s) left)") from None
        except ValueError:
            self._pin = None
            raise KeyAccessError(f"YubiKey {self.serial}: a PIV PIN has 6 to 8 characters") from None

    def generate(self, key_type: str, label: str) -> GeneratedKey:
        from yubikit.core import NotSupportedError
        from yubikit.core.smartcard import ApduError
        from yubikit.piv import KEY_TYPE, PIN_POLICY, SLOT, TOUCH_POLICY

        if key_type not in _KEY_TYPES:
            raise BackendError(f"key type {key_type} is not offered on a YubiKey")
        session = self._open()
        try:
            session.get_slot_metadata(SLOT.SIGNATURE)
        except ApduError:
            pass  # empty slot
        except NotSupportedError:
            pass  # firmware before 5.3 cannot say; generation replaces what is there
        else:
            raise BackendError(
                f"YubiKey {self.serial} slot 9c already holds a key; refusing to replace it "
                "(delete it first: ykman piv keys delete 9c)"
            )
        management = self.secrets("management-key", f"YubiKey {self.serial} PIV management key (hex)")
        try:
            session.authenticate(bytes.fromhex(management))
        except ValueError:
            raise KeyAccessError("the YubiKey management key must be hex") from None
        except Exception:
            raise KeyAccessError(f"YubiKey {self.serial}: wrong management key") from None
        touch = {"always": TOUCH_POLICY.ALWAYS, "cached": TOUCH_POLICY.CACHED, "never": TOUCH_POLICY.NEVER}
        try:
            public = session.generate_key(
                SLOT.SIGNATURE, KEY_TYPE[_KEY_TYPES[key_type]], PIN_POLICY.ALWAYS, touch[self.touch_policy]
            )
            attestation = session.attest_key(SLOT.SIGNATURE)
            device_ca = session.get_certificate(SLOT.ATTESTATION)
        except NotSupportedError as exc:
            raise BackendError(f"YubiKey {self.serial} cannot do this: {exc}") from None
        except ApduError as exc:
            raise BackendError(f"YubiKey {self.serial} refused to generate the key ({exc})") from None
        if not keys.public_equal(attestation.public_key(), public):
            raise BackendError(f"YubiKey {self.serial}: the attestation is for another key")
        rel = f"attestation/{label}-{SLOT_NAME}.pem"
        bundle = attestation.public_bytes(serialization.Encoding.PEM) + device_ca.public_bytes(serialization.Encoding.PEM)
        ref = {"backend": "yubikey", "serial": self.serial, "slot": SLOT_NAME, "key_type": key_type,
               "spki_sha256": keys.spki_sha256(public), "attestation": rel, "touch_policy": self.touch_policy}
        return GeneratedKey(ref, self._signer(session, key_type, public), {rel: (bundle, 0o644)})

    def open(self, ref: dict[str, Any]) -> CertificateIssuerPrivateKeyTypes:
        from yubikit.core import NotSupportedError
        from yubikit.core.smartcard import ApduError
        from yubikit.piv import SLOT

        key_type = str(ref.get("key_type", ""))
        if ref.get("slot") != SLOT_NAME or key_type not in _KEY_TYPES:
            raise BackendError("ca.json: a YubiKey key reference needs slot 9c and a key type")
        if self.serial is None and isinstance(ref.get("serial"), int):
            self.serial = ref["serial"]
        session = self._open()
        try:
            public = session.get_slot_metadata(SLOT.SIGNATURE).public_key
        except ApduError:
            raise BackendError(f"YubiKey {self.serial} slot 9c holds no key") from None
        except NotSupportedError:
            raise BackendError(f"YubiKey {self.serial}: firmware before 5.3 cannot report the slot key") from None
        if keys.spki_sha256(public) != ref.get("spki_sha256"):
            raise BackendError(f"YubiKey {self.serial} slot 9c holds a different key than this CA's")
        return self._signer(session, key_type, public)

    def _signer(self, session: Any, key_type: str, public: Any) -> CertificateIssuerPrivateKeyTypes:
        from yubikit.core.smartcard import ApduError
        from yubikit.piv import KEY_TYPE, SLOT

        piv_type = KEY_TYPE[_KEY_TYPES[key_type]]

        def sign(data: bytes, algorithm: hashes.HashAlgorithm | None) -> bytes:
            self._verify_pin(session)
            pad = padding.PKCS1v15() if key_type.startswith("rsa-") else None
            try:
                return bytes(session.sign(SLOT.SIGNATURE, piv_type, data, algorithm, pad))
            except ApduError as exc:
                raise BackendError(f"YubiKey {self.serial} refused to sign ({exc}); was it touched?") from None

        return hardware_key(public, sign)
