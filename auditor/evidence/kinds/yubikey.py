"""yubikey.presence, yubikey.device, yubikey.slot: YubiKeys and their PIV slots."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from msgspec import Meta

from auditor.evidence.contract import Facts, NonNegative, Part
from auditor.evidence.kinds.x509 import Certificate

TouchPolicy = Literal["never", "always", "cached"]
PinPolicy = Literal["never", "once", "always", "match-once", "match-always"]


class YubikeyPresence(Facts, frozen=True, kw_only=True):
    """Which YubiKeys the device listing (PC/SC) found on the node. An error record when the listing cannot run (no pcscd)."""

    KIND: ClassVar[str] = "yubikey.presence"

    source: Annotated[str, Meta(description="the device source: pcsc, or a test double's name")]
    count: Annotated[NonNegative, Meta(description="devices found")]
    serials: Annotated[tuple[int, ...], Meta(description="serial numbers of the devices found, ascending")]
    without_serial: Annotated[NonNegative, Meta(description="devices whose serial is hidden")]


class PinFacts(Part, frozen=True, kw_only=True):
    default: Annotated[bool | None, Meta(description="still the factory default (null: firmware before 5.3 cannot say)")]
    total_attempts: int | None
    attempts_remaining: Annotated[int, Meta(description="tries left before it blocks")]


class ManagementKey(Part, frozen=True, kw_only=True):
    algorithm: Annotated[str, Meta(description="tdes, aes128, aes192, aes256")]
    default: bool | None
    touch_policy: TouchPolicy | None


class AttestationCa(Part, frozen=True, kw_only=True):
    subject: str
    issuer: str
    status: Annotated[Literal["valid", "invalid", "no-trusted-root"], Meta(description="valid: chains to a trusted root; invalid: refused; no-trusted-root: not checked, the path leads to a Yubico certificate that is not installed (docs/yubikey.md)")]
    valid: Annotated[bool, Meta(description="chains to a trusted attestation root and is valid now")]
    problem: str | None
    chain: tuple[str, ...]
    root: str | None


class YubikeyDevice(Facts, frozen=True, kw_only=True):
    """One YubiKey's PIV application: firmware, form factor, PIN/PUK retries and defaults, management key, and the device attestation certificate (slot f9) with its chain to Yubico's roots."""

    KIND: ClassVar[str] = "yubikey.device"

    serial: int | None
    firmware: Annotated[str, Meta(description="firmware version, e.g. 5.7.4")]
    form_factor: Annotated[str, Meta(description="usb-a-keychain, usb-c-nano, ..., unknown")]
    fips: Annotated[bool, Meta(description="a FIPS series device")]
    pin: Annotated[PinFacts | None, Meta(description="PIN metadata")]
    puk: Annotated[PinFacts | None, Meta(description="PUK metadata (null: firmware before 5.3)")]
    management_key: ManagementKey
    attestation_ca: Annotated[AttestationCa | None, Meta(description="the f9 device certificate (null: none)")]
    slots: Annotated[tuple[str, ...], Meta(description="slots holding a key or certificate")]


class SlotKey(Part, frozen=True, kw_only=True):
    algorithm: Annotated[str, Meta(description="rsa-2048, ecdsa-p256, ed25519, ...")]
    spki_sha256: str
    generated: Annotated[bool | None, Meta(description="generated on a device (PIV metadata; null: firmware before 5.3)")]


class Attestation(Part, frozen=True, kw_only=True):
    present: Annotated[bool, Meta(description="the device attested the slot's key (only keys generated on a device can be)")]
    status: Annotated[Literal["valid", "invalid", "no-trusted-root", "absent"], Meta(description="valid: chains to a trusted root; invalid: refused; no-trusted-root: not checked, the path leads to a Yubico certificate that is not installed (docs/yubikey.md); absent: no attestation")]
    valid: Annotated[bool, Meta(description="the chain reaches a trusted root and every certificate is valid now")]
    problem: str | None
    chain: tuple[str, ...]
    root: str | None
    serial: Annotated[int | None, Meta(description="the serial the attestation names")]
    serial_matches: bool
    firmware: str | None
    pin_policy: PinPolicy | None
    touch_policy: TouchPolicy | None
    key_matches: Annotated[bool, Meta(description="attests this slot's public key")]


class YubikeySlot(Facts, frozen=True, kw_only=True):
    """One PIV slot holding a key or a certificate: key algorithm and origin, PIN and touch policies, the certificate's facts, and the key's attestation verified against Yubico's roots."""

    KIND: ClassVar[str] = "yubikey.slot"

    serial: int | None
    firmware: str
    slot: Annotated[str, Meta(description="9a, 9c, 9d, 9e, 82..95")]
    slot_name: str
    key: SlotKey | None
    pin_policy: PinPolicy | None
    touch_policy: TouchPolicy | None
    certificate: Annotated[Certificate | None, Meta(description="the slot's certificate (null: none)")]
    certificate_problem: str | None
    certificate_matches_key: bool | None
    attestation: Attestation
    generated_on_device: Annotated[bool | None, Meta(description="attestation valid, naming this device's serial and this slot's key; null: it would be, but no installed root could check the chain (status no-trusted-root)")]
    ca_key: Annotated[bool, Meta(description="the slot holds a CA key: its certificate is a CA certificate, or the source's ca_slots name it")]
