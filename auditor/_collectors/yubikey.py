"""YubiKeys through yubikey-manager (ykman, yubikit): presence, device facts, PIV slots, attestation.

For every YubiKey the device listing finds: serial, firmware, form factor, FIPS series, PIN
and PUK retries and whether they are still the factory defaults, the management key's
algorithm and whether it is the default (PIV metadata, firmware 5.3 and later), the device's
attestation certificate (slot f9) and its chain; and for every PIV slot holding a key or a
certificate: the key's algorithm, PIN and touch policies and whether it was generated on the
device (metadata), the certificate's facts (pki.facts), and the slot's attestation verified
against Yubico's roots and intermediates (pki.attestation.installed: shipped in the package
data folder, then AUDITOR_YUBICO_ROOTS) plus any `attestation_roots` of the
inventory. A slot's key counts as generated on *this* device only when its attestation chains
to a trusted root, carries this device's serial and attests the slot's public key. An
attestation that leads to a Yubico certificate that is not installed has the status
`no-trusted-root` (not checked): never valid, and `generated_on_device` is then null (unknown).

Nothing is written to a device and no PIN is ever sent: everything read here is readable
without one. Devices are found through a small seam (:class:`DeviceSource`); the default
lists PC/SC readers with ykman. Without PC/SC (no pcscd) the `yubikey.presence` record is an
error record; with PC/SC and no YubiKey it is a record listing none. No YubiKey exists where
auditor is tested: tests plug in a software PIV card (tests/softpiv) at yubikit's
SmartCardConnection seam.
"""

from __future__ import annotations

import abc
import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from cryptography import x509

from auditor._collectors._files import Unreadable, read_bounded
from auditor._collectors._untrusted import (
    UnexpectedValue,
    flag_or_none,
    one_of,
    one_of_or_none,
    text_or_none,
)
from auditor._collectors.certificates import certificate
from auditor._collectors.interface import Collector
from auditor.evidence.kinds.x509 import Certificate
from auditor.evidence.kinds.yubikey import (
    Attestation,
    AttestationCa,
    ManagementKey,
    PinFacts,
    PinPolicy,
    SlotKey,
    TouchPolicy,
    YubikeyDevice,
    YubikeyPresence,
    YubikeySlot,
)
from auditor.evidence.record import Record
from pki import attestation as att
from pki import keys
from pki.errors import LoadError
from pki.facts import certificate_facts

PRESENCE, DEVICE, SLOT = "yubikey.presence", "yubikey.device", "yubikey.slot"
SLOT_NAMES = {0x9A: "authentication", 0x9C: "signature", 0x9D: "key-management", 0x9E: "card-authentication",
              **{0x82 + i: f"retired-{i + 1}" for i in range(20)}}
KEY_TYPES = {"RSA1024": "rsa-1024", "RSA2048": "rsa-2048", "RSA3072": "rsa-3072", "RSA4096": "rsa-4096",
             "ECCP256": "ecdsa-p256", "ECCP384": "ecdsa-p384", "ED25519": "ed25519", "X25519": "x25519"}
PIN_POLICIES: tuple[PinPolicy, ...] = get_args(PinPolicy)
TOUCH_POLICIES: tuple[TouchPolicy, ...] = get_args(TouchPolicy)
STATUSES: tuple[Literal["valid", "invalid", "no-trusted-root"], ...] = ("valid", "invalid", "no-trusted-root")


class Unavailable(Exception):
    """The device listing cannot run (no PC/SC service, no reader access)."""


@dataclass(frozen=True)
class Device:
    """One YubiKey a :class:`DeviceSource` found, and how to open a smart-card connection to it."""

    serial: int | None
    connect: Callable[[], Any]
    info: dict[str, Any] = field(default_factory=dict)
    """What the listing knows beyond PIV: `form_factor`, `fips`, `version` (may be empty)."""


class DeviceSource(abc.ABC):
    """Where YubiKeys come from: PC/SC by default; tests plug in software PIV cards."""

    name: str

    @abc.abstractmethod
    def devices(self) -> list[Device]:
        """The connected devices; raises :class:`Unavailable` when they cannot be listed."""


class PcscDevices(DeviceSource):
    """YubiKeys on PC/SC readers, listed by ykman."""

    name = "pcsc"

    def devices(self) -> list[Device]:
        from ykman.device import list_all_devices
        from ykman.pcsc import list_readers
        from yubikit.core.smartcard import SmartCardConnection

        try:
            list_readers()  # type: ignore[no-untyped-call]  # list_all_devices() would swallow a missing PC/SC service
        except Exception as exc:
            raise Unavailable(f"cannot list smart-card readers ({type(exc).__name__}: {exc}); is pcscd running?") from None
        found = []
        for device, info in list_all_devices([SmartCardConnection]):
            facts = {"form_factor": att.FORM_FACTOR_NAMES.get(int(info.form_factor), "unknown"),
                     "fips": bool(info.is_fips), "version": str(info.version)}
            found.append(Device(info.serial, functools.partial(device.open_connection, SmartCardConnection), facts))
        return found


source_factory: Callable[[], DeviceSource] = PcscDevices
"""The seam: what :class:`YubiKeyCollector` lists devices with (see :func:`using`)."""


@contextlib.contextmanager
def using(source: DeviceSource) -> Iterator[None]:
    """Collect from `source` instead of PC/SC within the block (tests, recordings)."""
    global source_factory
    saved = source_factory
    source_factory = lambda: source  # noqa: E731
    try:
        yield
    finally:
        source_factory = saved


def _key_type(value: Any) -> str:
    return KEY_TYPES.get(getattr(value, "name", ""), str(getattr(value, "name", value)).lower())


def _policy(value: Any) -> str | None:
    name = getattr(value, "name", None)
    return None if name in (None, "DEFAULT") else str(name).lower().replace("_", "-")


class YubiKeyCollector(Collector):
    name = "yubikey"
    kinds = (PRESENCE, DEVICE, SLOT)

    def collect(self) -> Iterator[Record]:
        ctx = self.context
        opts = ctx.source.options
        extra_roots: list[x509.Certificate] = []
        for path in ctx.source.path_option(ctx.root, "attestation_roots"):
            try:
                extra_roots.extend(x509.load_pem_x509_certificates(read_bounded(path)))
            except (Unreadable, ValueError) as exc:
                yield ctx.error(PRESENCE, ctx.display(path), f"unreadable attestation root file: {exc}")
        self.extra_roots = extra_roots
        yubico = att.installed()
        for where, what in yubico.problems:
            yield ctx.error(PRESENCE, where, f"Yubico attestation roots: {what}")
        self.yubico = yubico
        self.ca_slots = {str(s).lower() for s in opts.get("ca_slots", [])}
        source = source_factory()
        try:
            devices = source.devices()
        except Unavailable as exc:
            yield ctx.error(PRESENCE, "yubikeys", str(exc))
            return
        serials = tuple(sorted(d.serial for d in devices if d.serial is not None))
        yield ctx.record("yubikeys", YubikeyPresence(
            source=source.name, count=len(devices), serials=serials,
            without_serial=sum(1 for d in devices if d.serial is None),
        ))
        wanted = {int(s) for s in opts.get("serials", [])}
        for device in devices:
            if wanted and device.serial not in wanted:
                continue
            yield from self._device(device)

    def _device(self, device: Device) -> Iterator[Record]:
        from yubikit.core import ApplicationNotAvailableError
        from yubikit.piv import PivSession

        ctx = self.context
        resource = f"yubikey:{device.serial if device.serial is not None else 'unknown'}"
        try:
            connection = device.connect()
        except Exception as exc:
            yield ctx.error(DEVICE, resource, f"cannot open the YubiKey: {type(exc).__name__}: {exc}")
            return
        try:
            try:
                session = PivSession(connection)
            except ApplicationNotAvailableError:
                yield ctx.error(DEVICE, resource, "the YubiKey has no PIV application enabled")
                return
            yield from self._piv(session, device, resource)
        except Exception as exc:  # a device unplugged mid-read, an unexpected answer
            yield ctx.error(DEVICE, resource, f"reading the YubiKey failed: {type(exc).__name__}: {exc}")
        finally:
            with contextlib.suppress(Exception):
                connection.close()

    def _piv(self, session: Any, device: Device, resource: str) -> Iterator[Record]:
        from yubikit.core import NotSupportedError
        from yubikit.piv import SLOT as PIV_SLOT

        ctx = self.context
        try:
            serial: int | None = session.get_serial()
        except NotSupportedError:
            serial = device.serial
        resource = f"yubikey:{serial}" if serial is not None else resource
        firmware = str(session.version)
        device_ca = _read_certificate(session, PIV_SLOT.ATTESTATION)
        slots: list[str] = []
        records: list[Record] = []
        first_attestation = None
        for slot in SLOT_NAMES:
            slot_id = f"{slot:02x}"
            try:
                found = self._slot(session, slot, serial, firmware, device_ca)
            except UnexpectedValue as exc:  # read from the device, of the wrong type
                slots.append(slot_id)
                records.append(ctx.error(SLOT, f"{resource}/{slot_id}", str(exc)))
                continue
            if found is not None:
                facts, attestation = found
                slots.append(slot_id)
                records.append(ctx.record(f"{resource}/{slot_id}", facts))
                if first_attestation is None:
                    first_attestation = attestation
        try:
            yield ctx.record(resource, self._device_facts(session, device, serial, firmware, device_ca,
                                                          first_attestation, tuple(slots)))
        except UnexpectedValue as exc:
            yield ctx.error(DEVICE, resource, str(exc))
        yield from records

    def _device_facts(self, session: Any, device: Device, serial: int | None, firmware: str,
                      device_ca: x509.Certificate | None, first_attestation: x509.Certificate | None,
                      slots: tuple[str, ...]) -> YubikeyDevice:
        form_factor = text_or_none(device.info.get("form_factor"), "form_factor")
        if form_factor is None and first_attestation is not None:
            code = att.attestation_facts(first_attestation).form_factor
            form_factor = att.FORM_FACTOR_NAMES.get((code or 0) & 0x0F, "unknown")
        fips = flag_or_none(device.info.get("fips"), "fips")
        if fips is None:
            fips = bool(device_ca is not None and att.is_fips_device(device_ca, first_attestation))
        device_ca_facts = None
        if device_ca is not None:
            verdict = att.verify_device(device_ca, at=self.context.now, **self._trust())
            device_ca_facts = AttestationCa(
                subject=device_ca.subject.rfc4514_string(), issuer=device_ca.issuer.rfc4514_string(),
                status=one_of(verdict.status, STATUSES, "attestation_ca.status"), valid=verdict.valid,
                problem=verdict.problem, chain=tuple(verdict.chain), root=verdict.root)
        return YubikeyDevice(
            serial=serial,
            firmware=firmware,
            form_factor=form_factor or "unknown",
            fips=fips,
            pin=_pin_facts(session, "pin"),
            puk=_pin_facts(session, "puk"),
            management_key=_management_facts(session),
            attestation_ca=device_ca_facts,
            slots=slots,
        )

    def _slot(self, session: Any, slot: int, serial: int | None, firmware: str,
              device_ca: x509.Certificate | None) -> tuple[YubikeySlot, x509.Certificate | None] | None:
        """The slot's facts and its attestation certificate; None for an empty slot."""
        from yubikit.core import NotSupportedError
        from yubikit.core.smartcard import ApduError
        from yubikit.piv import SLOT as PIV_SLOT

        piv_slot = PIV_SLOT(slot)
        metadata = None
        metadata_supported = True
        try:
            metadata = session.get_slot_metadata(piv_slot)
        except ApduError:
            pass  # no key in the slot
        except NotSupportedError:
            metadata_supported = False  # before firmware 5.3: the key is known by its certificate only
        cert_read = _read_certificate(session, piv_slot)
        if metadata is None and cert_read is None:
            return None
        public = metadata.public_key if metadata is not None else None
        key = None
        if metadata is not None:
            key = SlotKey(algorithm=_key_type(metadata.key_type), spki_sha256=keys.spki_sha256(public),
                          generated=bool(metadata.generated))
        elif cert_read is not None and not metadata_supported:
            cert_public = cert_read.public_key()
            key = SlotKey(algorithm=keys.key_type_of(cert_public), spki_sha256=keys.spki_sha256(cert_public), generated=None)
        cert_facts: Certificate | None = None
        problem = None
        if cert_read is not None:
            try:
                cert_facts = certificate(certificate_facts(cert_read))
            except LoadError as exc:
                problem = str(exc)
        attestation = None
        if key is not None:
            with contextlib.suppress(ApduError, NotSupportedError):
                attestation = session.attest_key(piv_slot)  # refused for imported keys
        attested = self._attestation(attestation, device_ca, serial, key)
        if metadata is not None:
            pin_policy = one_of_or_none(_policy(metadata.pin_policy), PIN_POLICIES, "pin_policy")
            touch_policy = one_of_or_none(_policy(metadata.touch_policy), TOUCH_POLICIES, "touch_policy")
        else:
            pin_policy, touch_policy = attested.pin_policy, attested.touch_policy
        slot_id = f"{slot:02x}"
        return YubikeySlot(
            serial=serial,
            firmware=firmware,
            slot=slot_id,
            slot_name=SLOT_NAMES[slot],
            key=key,
            pin_policy=pin_policy,
            touch_policy=touch_policy,
            certificate=cert_facts,
            certificate_problem=problem,
            certificate_matches_key=(cert_facts.key.spki_sha256 == key.spki_sha256
                                     if cert_facts is not None and key is not None else None),
            attestation=attested,
            generated_on_device=_generated_on_device(attested),
            ca_key=bool(cert_facts is not None and cert_facts.is_ca)
            or slot_id in self.ca_slots or f"{serial}/{slot_id}" in self.ca_slots,
        ), attestation

    def _trust(self) -> dict[str, Any]:
        return {"roots": self.yubico.roots, "intermediates": self.yubico.intermediates, "extra_roots": self.extra_roots}

    def _attestation(self, cert: x509.Certificate | None, device_ca: x509.Certificate | None,
                     serial: int | None, key: SlotKey | None) -> Attestation:
        if cert is None:
            why = "no key in the slot" if key is None else "the device gave no attestation (an imported key, or firmware before 4.3)"
            return Attestation(present=False, status="absent", valid=False, problem=why, chain=(), root=None, serial=None,
                               serial_matches=False, firmware=None, pin_policy=None, touch_policy=None,
                               key_matches=False)
        facts = att.attestation_facts(cert)
        if device_ca is None:
            verdict = att.Verdict("the device has no attestation certificate in slot f9", (cert.subject.rfc4514_string(),))
        else:
            verdict = att.verify(cert, device_ca, at=self.context.now, **self._trust())
        return Attestation(
            present=True,
            status=one_of(verdict.status, STATUSES, "attestation.status"),
            valid=verdict.valid,
            problem=verdict.problem,
            chain=tuple(verdict.chain),
            root=verdict.root,
            serial=facts.serial,
            serial_matches=facts.serial is not None and facts.serial == serial,
            firmware=facts.firmware,
            pin_policy=one_of_or_none(facts.pin_policy, PIN_POLICIES, "attestation.pin_policy"),
            touch_policy=one_of_or_none(facts.touch_policy, TOUCH_POLICIES, "attestation.touch_policy"),
            key_matches=key is not None and facts.spki_sha256 == key.spki_sha256,
        )


def _generated_on_device(attested: Attestation) -> bool | None:
    """True: attested by this device; None: it would be, but no installed root could check the chain."""
    if not (attested.serial_matches and attested.key_matches):
        return False
    return True if attested.valid else None if attested.status == att.NO_ROOT else False


def _read_certificate(session: Any, slot: Any) -> x509.Certificate | None:
    from yubikit.core import BadResponseError
    from yubikit.core.smartcard import ApduError

    try:
        cert: x509.Certificate = session.get_certificate(slot)
    except (ApduError, BadResponseError, ValueError):
        return None  # no certificate object, or not a certificate
    return cert


def _pin_facts(session: Any, which: str) -> PinFacts | None:
    from yubikit.core import NotSupportedError

    try:
        meta = session.get_pin_metadata() if which == "pin" else session.get_puk_metadata()
    except NotSupportedError:
        if which == "puk":
            return None
        return PinFacts(default=None, total_attempts=None, attempts_remaining=int(session.get_pin_attempts()))
    return PinFacts(default=bool(meta.default_value), total_attempts=int(meta.total_attempts),
                    attempts_remaining=int(meta.attempts_remaining))


def _management_facts(session: Any) -> ManagementKey:
    from yubikit.core import NotSupportedError

    try:
        meta = session.get_management_key_metadata()
    except NotSupportedError:
        return ManagementKey(algorithm="tdes", default=None, touch_policy=None)
    return ManagementKey(algorithm=str(meta.key_type.name).lower(), default=bool(meta.default_value),
                         touch_policy=one_of_or_none(_policy(meta.touch_policy), TOUCH_POLICIES,
                                                     "management_key.touch_policy"))
