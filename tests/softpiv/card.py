"""SoftPivCard: a TEST DOUBLE of a YubiKey's PIV application, with real cryptography.

No YubiKey exists where auditor is developed and tested, so code that uses yubikit is driven
through this emulator at yubikit's own seam: :class:`SoftPivConnection` implements
`yubikit.core.smartcard.SmartCardConnection` and answers the PIV APDUs yubikit sends
(SELECT, GET VERSION, GET SERIAL, GET METADATA, VERIFY, AUTHENTICATE with the management key
and with slot keys, GENERATE ASYMMETRIC, IMPORT KEY, MOVE/DELETE KEY, GET/PUT DATA, ATTEST). Keys are real
`cryptography` keys, signatures are real, and attestation certificates carry Yubico's
extensions, signed by a software attestation CA (never Yubico's: its names say "SoftPIV").

What it does not model: touch (recorded, never waited for), biometrics, secure messaging
(SCP), PIN/PUK change and reset, retired-slot key history, the CHUID/CCC objects' content,
exact firmware error quirks. A real device remains the authority.

Usage::

    card = SoftPivCard(serial=12345678)
    with PivSession(card.connect()) ...      # or pass `card.connect` where a factory is wanted
    card.attestation_root                   # the software attestation CA to trust in tests

The state can be saved and loaded (JSON with the keys in PEM: test material only).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, utils
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.x509.oid import NameOID
from yubikit.core import TRANSPORT, Tlv
from yubikit.core.smartcard import SmartCardConnection

from pki import keys

PIV_AID = bytes.fromhex("a000000308")
DEFAULT_PIN = "123456"
DEFAULT_PUK = "12345678"
DEFAULT_MANAGEMENT_KEY = bytes.fromhex("010203040506070801020304050607080102030405060708")

SW_OK = 0x9000
SW_WRONG_LENGTH = 0x6700
SW_SECURITY = 0x6982
SW_BLOCKED = 0x6983
SW_CONDITIONS = 0x6985
SW_INCORRECT = 0x6A80
SW_NOT_FOUND = 0x6A82
SW_REF_NOT_FOUND = 0x6A88
SW_P1P2 = 0x6B00
SW_INS = 0x6D00

ALGO_NAMES = {0x07: "rsa-2048", 0x05: "rsa-3072", 0x16: "rsa-4096", 0x11: "ecdsa-p256",
              0x14: "ecdsa-p384", 0xE0: "ed25519"}
SLOTS = {0x9A: 0x5FC105, 0x9C: 0x5FC10A, 0x9D: 0x5FC10B, 0x9E: 0x5FC101, 0xF9: 0x5FFF01,
         **{0x82 + i: 0x5FC10D + i for i in range(20)}}
MGMT_TYPES: dict[int, tuple[Any, int, int]] = {0x03: (TripleDES, 24, 8), 0x08: (algorithms.AES, 16, 16),
              0x0A: (algorithms.AES, 24, 16), 0x0C: (algorithms.AES, 32, 16)}
DEFAULT_PIN_POLICY = {0x9A: 2, 0x9C: 3, 0x9D: 2, 0x9E: 1}


def _new_key(algo: int) -> Any:
    return keys.generate(ALGO_NAMES[algo])


def _encode_public(key: Any) -> bytes:
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        n = public.public_numbers()
        return bytes(Tlv(0x81, n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")) + Tlv(0x82, n.e.to_bytes(3, "big")))
    if isinstance(public, ed25519.Ed25519PublicKey):
        return bytes(Tlv(0x86, public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)))
    return bytes(Tlv(0x86, public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)))


@dataclass
class SlotKey:
    algo: int
    key: Any
    pin_policy: int
    touch_policy: int
    generated: bool


@dataclass
class SoftPivCard:
    """The card's state. `connect()` gives a fresh SmartCardConnection to it."""

    serial: int = 12345678
    version: tuple[int, int, int] = (5, 7, 1)
    form_factor: int = 0x03  # USB-C keychain
    pin: str = DEFAULT_PIN
    puk: str = DEFAULT_PUK
    pin_attempts: int = 3
    pin_retries: int = 3
    management_key: bytes = DEFAULT_MANAGEMENT_KEY
    management_key_type: int = 0x0A  # AES-192, the default from firmware 5.7
    keys: dict[int, SlotKey] = field(default_factory=dict)
    objects: dict[int, bytes] = field(default_factory=dict)
    attestation_root: x509.Certificate | None = None
    attestation_root_key: Any = None
    attestation_root_name: str = "SoftPIV Test Attestation Root (not Yubico)"
    """The software CA's name; tests give it Yubico's to play a device whose root is not installed."""
    touches: int = 0
    log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.attestation_root is None:
            self._make_attestation_ca()

    # -- the software attestation CA (stands in for Yubico's) --------------------------------

    def _make_attestation_ca(self) -> None:
        now = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
        root_key = ec.generate_private_key(ec.SECP384R1())
        root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.attestation_root_name)])
        root = (
            x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
            .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=365 * 40))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .sign(root_key, hashes.SHA384())
        )
        f9_key = ec.generate_private_key(ec.SECP256R1())
        f9 = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SoftPIV Attestation (test double)")]))
            .issuer_name(root_name).public_key(f9_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=365 * 30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.41482.3.7"),
                                                      _der_int(self.serial)), critical=False)
            .sign(root_key, hashes.SHA384())
        )
        self.attestation_root, self.attestation_root_key = root, root_key
        self.keys[0xF9] = SlotKey(0x11, f9_key, 1, 1, False)
        self.objects[SLOTS[0xF9]] = bytes(Tlv(0x70, f9.public_bytes(serialization.Encoding.DER)) + Tlv(0x71, b"\0") + Tlv(0xFE, b""))

    def connect(self, serial: int | None = None) -> SoftPivConnection:
        """A new connection (a factory for code that opens devices by serial)."""
        if serial is not None and serial != self.serial:
            raise LookupError(f"no soft PIV card with serial {serial}")
        return SoftPivConnection(self)

    # -- persistence (test material: keys in clear) -------------------------------------------

    def save(self, path: Path) -> None:
        def key_pem(key: Any) -> str:
            return str(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()).decode())

        assert self.attestation_root is not None
        data = {
            "serial": self.serial, "version": list(self.version), "form_factor": self.form_factor,
            "pin": self.pin, "puk": self.puk, "pin_attempts": self.pin_attempts,
            "management_key": self.management_key.hex(), "management_key_type": self.management_key_type,
            "keys": {f"{slot:02x}": {"algo": k.algo, "key": key_pem(k.key), "pin_policy": k.pin_policy,
                                     "touch_policy": k.touch_policy, "generated": k.generated}
                     for slot, k in self.keys.items()},
            "objects": {f"{oid:x}": value.hex() for oid, value in self.objects.items()},
            "attestation_root": self.attestation_root.public_bytes(serialization.Encoding.PEM).decode(),
            "attestation_root_key": key_pem(self.attestation_root_key),
        }
        path.write_text(json.dumps(data, indent=1))
        os.chmod(path, 0o600)

    @classmethod
    def load(cls, path: Path) -> SoftPivCard:
        data = json.loads(path.read_text())

        def load_key(text: str) -> Any:
            return serialization.load_pem_private_key(text.encode(), None)

        return cls(
            serial=data["serial"], version=tuple(data["version"]), form_factor=data["form_factor"],
            pin=data["pin"], puk=data["puk"], pin_attempts=data["pin_attempts"],
            management_key=bytes.fromhex(data["management_key"]), management_key_type=data["management_key_type"],
            keys={int(s, 16): SlotKey(k["algo"], load_key(k["key"]), k["pin_policy"], k["touch_policy"], k["generated"])
                  for s, k in data["keys"].items()},
            objects={int(o, 16): bytes.fromhex(v) for o, v in data["objects"].items()},
            attestation_root=x509.load_pem_x509_certificate(data["attestation_root"].encode()),
            attestation_root_key=load_key(data["attestation_root_key"]),
        )

    # -- attestation ------------------------------------------------------------------------

    def attest(self, slot: int) -> bytes:
        entry = self.keys[slot]
        f9_cert = x509.load_der_x509_certificate(Tlv.parse_dict(self.objects[SLOTS[0xF9]])[0x70])
        f9_key = self.keys[0xF9].key
        firmware = bytes(self.version)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"YubiKey PIV Attestation {slot:02x}")]))
            .issuer_name(f9_cert.subject).public_key(entry.key.public_key())
            .serial_number(int.from_bytes(os.urandom(16), "big") >> 1)
            .not_valid_before(f9_cert.not_valid_before_utc).not_valid_after(f9_cert.not_valid_after_utc)
        )
        for oid, value in (
            ("1.3.6.1.4.1.41482.3.3", firmware),
            ("1.3.6.1.4.1.41482.3.7", _der_int(self.serial)),
            ("1.3.6.1.4.1.41482.3.8", bytes([entry.pin_policy, entry.touch_policy])),
            ("1.3.6.1.4.1.41482.3.9", bytes([self.form_factor])),
        ):
            builder = builder.add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), value), critical=False)
        return builder.sign(f9_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _der_int(value: int) -> bytes:
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")
    return bytes([0x02, len(body)]) + body


class SoftPivConnection(SmartCardConnection):
    """yubikit's SmartCardConnection, answered by a :class:`SoftPivCard` (a test double)."""

    def __init__(self, card: SoftPivCard) -> None:
        self.card = card
        self.selected = False
        self.pin_verified = False
        self.management_ok = False
        self.witness: bytes | None = None
        self.chained = b""
        self.closed = False

    @property
    def transport(self) -> TRANSPORT:
        return TRANSPORT.USB

    def close(self) -> None:
        self.closed = True

    def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
        if self.closed:
            raise OSError("connection closed")
        cla, ins, p1, p2 = apdu[0], apdu[1], apdu[2], apdu[3]
        data = _apdu_data(apdu)
        if cla & 0x10:  # command chaining: keep the part, answer OK
            self.chained += data
            return b"", SW_OK
        data, self.chained = self.chained + data, b""
        try:
            return self._dispatch(ins, p1, p2, data)
        except (KeyError, ValueError, IndexError):
            return b"", SW_INCORRECT

    # -- instructions -------------------------------------------------------------------------

    def _dispatch(self, ins: int, p1: int, p2: int, data: bytes) -> tuple[bytes, int]:
        card = self.card
        if ins == 0xA4:
            if not data.startswith(PIV_AID[:5]):
                return b"", SW_NOT_FOUND
            self.selected = True
            self.pin_verified = self.management_ok = False
            return bytes(Tlv(0x61, Tlv(0x4F, PIV_AID))), SW_OK
        if not self.selected:
            return b"", SW_CONDITIONS
        card.log.append(f"{ins:02x}")
        if ins == 0xFD:
            return bytes(card.version), SW_OK
        if ins == 0xF8:
            return card.serial.to_bytes(4, "big"), SW_OK
        if ins == 0xF7:
            return self._metadata(p2)
        if ins == 0x20:
            return self._verify(p2, data)
        if ins == 0x87:
            return self._authenticate(p1, p2, data)
        if ins == 0x47:
            return self._generate(p2, data)
        if ins == 0xFE:
            return self._import(p1, p2, data)
        if ins == 0xCB:
            oid = int.from_bytes(Tlv.unpack(0x5C, data), "big")
            if oid not in card.objects:
                return b"", SW_NOT_FOUND
            return bytes(Tlv(0x53, card.objects[oid])), SW_OK
        if ins == 0xDB:
            if not self.management_ok:
                return b"", SW_SECURITY
            parts = Tlv.parse_dict(data)
            oid = int.from_bytes(parts[0x5C], "big")
            if parts.get(0x53):
                card.objects[oid] = parts[0x53]
            else:
                card.objects.pop(oid, None)
            return b"", SW_OK
        if ins == 0xF6:  # MOVE KEY (p1 0xFF: delete)
            if not self.management_ok:
                return b"", SW_SECURITY
            moved = card.keys.pop(p2, None)
            if moved is None:
                return b"", SW_REF_NOT_FOUND
            if p1 != 0xFF:
                card.keys[p1] = moved
            return b"", SW_OK
        if ins == 0xF9:
            entry = card.keys.get(p1)
            if entry is None or not entry.generated or p1 == 0xF9:
                return b"", SW_INCORRECT  # no key, or an imported one: cannot be attested
            return card.attest(p1), SW_OK
        return b"", SW_INS

    def _metadata(self, p2: int) -> tuple[bytes, int]:
        card = self.card
        if p2 == 0x9B:
            default = b"\x01" if card.management_key == DEFAULT_MANAGEMENT_KEY else b"\x00"
            return bytes(Tlv(0x01, bytes([card.management_key_type])) + Tlv(0x02, b"\x00\x01") + Tlv(0x05, default)), SW_OK
        if p2 in (0x80, 0x81):
            is_default = (card.pin == DEFAULT_PIN) if p2 == 0x80 else (card.puk == DEFAULT_PUK)
            left = card.pin_attempts if p2 == 0x80 else 3
            return bytes(Tlv(0x05, b"\x01" if is_default else b"\x00") + Tlv(0x06, bytes([card.pin_retries, left]))), SW_OK
        if p2 == 0x96:
            return b"", SW_REF_NOT_FOUND  # no biometrics
        entry = card.keys.get(p2)
        if entry is None:
            return b"", SW_REF_NOT_FOUND
        return bytes(
            Tlv(0x01, bytes([entry.algo])) + Tlv(0x02, bytes([entry.pin_policy, entry.touch_policy]))
            + Tlv(0x03, b"\x01" if entry.generated else b"\x02") + Tlv(0x04, _encode_public(entry.key))
        ), SW_OK

    def _verify(self, p2: int, data: bytes) -> tuple[bytes, int]:
        card = self.card
        if p2 != 0x80:
            return b"", SW_REF_NOT_FOUND
        if card.pin_attempts == 0:
            return b"", SW_BLOCKED
        if not data:
            return b"", SW_OK if self.pin_verified else 0x63C0 | card.pin_attempts
        if data.rstrip(b"\xff").decode(errors="replace") == card.pin:
            card.pin_attempts = card.pin_retries
            self.pin_verified = True
            return b"", SW_OK
        card.pin_attempts -= 1
        self.pin_verified = False
        return b"", SW_BLOCKED if card.pin_attempts == 0 else 0x63C0 | card.pin_attempts

    def _cipher(self) -> Cipher[modes.ECB]:
        algo, _length, _block = MGMT_TYPES[self.card.management_key_type]
        return Cipher(algo(self.card.management_key), modes.ECB())  # noqa: S305 - PIV's own protocol

    def _authenticate(self, p1: int, p2: int, data: bytes) -> tuple[bytes, int]:
        card = self.card
        inner = Tlv.parse_dict(Tlv.unpack(0x7C, data))
        if p2 == 0x9B:
            if p1 != card.management_key_type:
                return b"", SW_INCORRECT
            block = MGMT_TYPES[card.management_key_type][2]
            if 0x80 in inner and not inner[0x80]:
                self.witness = os.urandom(block)
                enc = self._cipher().encryptor()
                return bytes(Tlv(0x7C, Tlv(0x80, enc.update(self.witness) + enc.finalize()))), SW_OK
            if self.witness is None or inner.get(0x80) != self.witness:
                self.witness = None
                self.management_ok = False
                return b"", SW_SECURITY
            self.witness = None
            self.management_ok = True
            enc = self._cipher().encryptor()
            return bytes(Tlv(0x7C, Tlv(0x82, enc.update(inner[0x81]) + enc.finalize()))), SW_OK
        entry = card.keys.get(p2)
        if entry is None or entry.algo != p1:
            return b"", SW_INCORRECT
        if entry.pin_policy != 1 and not self.pin_verified:
            return b"", SW_SECURITY
        if entry.pin_policy == 3:
            self.pin_verified = False  # PIN policy "always": one signature per verification
        if entry.touch_policy in (2, 3):
            card.touches += 1
        message = inner[0x81]
        key = entry.key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            signature = key.sign(message)
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            digest = {32: hashes.SHA256(), 48: hashes.SHA384()}[len(message)]
            signature = key.sign(message, ec.ECDSA(utils.Prehashed(digest)))
        else:
            numbers = key.private_numbers()
            n = numbers.public_numbers.n
            size = (n.bit_length() + 7) // 8
            signature = pow(int.from_bytes(message, "big"), numbers.d, n).to_bytes(size, "big")
        return bytes(Tlv(0x7C, Tlv(0x82, signature))), SW_OK

    def _generate(self, slot: int, data: bytes) -> tuple[bytes, int]:
        if not self.management_ok:
            return b"", SW_SECURITY
        params = Tlv.parse_dict(Tlv.unpack(0xAC, data))
        algo = params[0x80][0]
        if algo not in ALGO_NAMES or slot not in SLOTS or slot == 0xF9:
            return b"", SW_INCORRECT
        pin_policy = params.get(0xAA, b"\x00")[0] or DEFAULT_PIN_POLICY.get(slot, 2)
        touch_policy = params.get(0xAB, b"\x00")[0] or 1
        key = _new_key(algo)
        self.card.keys[slot] = SlotKey(algo, key, pin_policy, touch_policy, True)
        return bytes(Tlv(0x7F49, _encode_public(key))), SW_OK

    def _import(self, algo: int, slot: int, data: bytes) -> tuple[bytes, int]:
        if not self.management_ok:
            return b"", SW_SECURITY
        parts = Tlv.parse_dict(data)
        key: Any
        if 0x06 in parts:
            curve = {0x11: ec.SECP256R1(), 0x14: ec.SECP384R1()}[algo]
            key = ec.derive_private_key(int.from_bytes(parts[0x06], "big"), curve)
        elif 0x07 in parts:
            key = ed25519.Ed25519PrivateKey.from_private_bytes(parts[0x07])
        else:
            p, q = (int.from_bytes(parts[t], "big") for t in (0x01, 0x02))
            e = 65537
            d = pow(e, -1, (p - 1) * (q - 1))
            key = rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p),
                                        rsa.RSAPublicNumbers(e, p * q)).private_key()
        pin_policy = parts.get(0xAA, b"\x00")[0] or DEFAULT_PIN_POLICY.get(slot, 2)
        touch_policy = parts.get(0xAB, b"\x00")[0] or 1
        self.card.keys[slot] = SlotKey(algo, key, pin_policy, touch_policy, False)
        return b"", SW_OK


def _apdu_data(apdu: bytes) -> bytes:
    """The command data of a short or extended APDU (ISO 7816-4 cases 1 to 4)."""
    n = len(apdu)
    if n <= 5:
        return b""
    if apdu[4] != 0:
        return apdu[5 : 5 + apdu[4]]
    if n == 7:
        return b""  # extended, Le only
    length = int.from_bytes(apdu[5:7], "big")
    return apdu[7 : 7 + length]
