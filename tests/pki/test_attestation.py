"""pki.attestation against synthetic Yubico-shaped chains: both chain shapes, forgeries, missing roots.

The shipped Yubico certificates and a real device's attestation are tested in
test_yubico_real.py; here the package data folder is replaced by an empty one, so that partial
installs and missing certificates can be tried. Every chain here is made by the tests with
cryptography: roots and intermediates that carry Yubico's names and structure (not Yubico's
keys), device (f9) certificates and slot attestations with Yubico's extensions. They reach
`pki.attestation` the way the operator's files do: PEM files in the folder named by
AUDITOR_YUBICO_ROOTS, or in the package data folder (moved to a temporary folder here).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from pki import attestation
from pki.attestation import (
    OID_FIPS,
    OID_FIRMWARE,
    OID_FORM_FACTOR,
    OID_POLICY,
    OID_SERIAL,
    ROOTS_ENV,
    attestation_facts,
    verify,
)

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
KEY = ec.generate_private_key(ec.SECP256R1())
PIV_ROOT = "Yubico PIV Root CA Serial 263751"
ROOT_1 = "Yubico Attestation Root 1"
INTER_A1 = "Yubico Attestation Intermediate A 1"
PIV_A1 = "Yubico PIV Attestation A 1"
Key = ec.EllipticCurvePrivateKey


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _der_int(value: int) -> bytes:
    body = value.to_bytes((value.bit_length() + 8) // 8, "big")
    return bytes([0x02, len(body)]) + body


def _cert(subject: str, issuer: str, key: Key, signer: Key, *, ca: bool | None,
          extensions: tuple[tuple[x509.ObjectIdentifier, bytes], ...] = (),
          years: int = 20) -> x509.Certificate:
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW - dt.timedelta(days=30)).not_valid_after(NOW + dt.timedelta(days=365 * years)))
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    for oid, value in extensions:
        builder = builder.add_extension(x509.UnrecognizedExtension(oid, value), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _new_key() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


@dataclass(frozen=True)
class Device:
    """One synthetic YubiKey: its f9 certificate and a slot attestation it signed."""

    serial: int
    f9: x509.Certificate
    slot: x509.Certificate
    slot_key: Key


def _device(serial: int, firmware: bytes, issuer: str, issuer_key: Key, *, slot: str = "9a",
            fips: bool = False, f9_ca: bool | None = True, form_factor: int = 0x01) -> Device:
    f9_key, slot_key = _new_key(), _new_key()
    device_ext = ((OID_SERIAL, _der_int(serial)), (OID_FIRMWARE, firmware))
    f9 = _cert("Yubico PIV Attestation", issuer, f9_key, issuer_key, ca=f9_ca,
               extensions=device_ext + (((OID_FIPS, b"\x01"),) if fips else ()))
    attested = _cert(f"YubiKey PIV Attestation {slot}", "Yubico PIV Attestation", slot_key, f9_key, ca=None,
                     extensions=(*device_ext, (OID_POLICY, b"\x02\x03"), (OID_FORM_FACTOR, bytes([form_factor]))))
    return Device(serial, f9, attested, slot_key)


@dataclass(frozen=True)
class Yubico:
    """Yubico-shaped PKI made here (Yubico's names, the tests' keys) and devices under it."""

    piv_root: x509.Certificate
    root_1: x509.Certificate
    intermediates: tuple[x509.Certificate, ...]
    old: Device    # firmware 5.4.3: slot -> f9 -> PIV root
    fips: Device   # a FIPS series device under the PIV root
    new: Device    # firmware 5.7.4: slot -> f9 (no basicConstraints) -> PIV A 1 -> Intermediate A 1 -> Root 1
    fido: Device   # under "Yubico FIDO Attestation A 1" (an intermediate of the bundle that PIV never uses)

    def write(self, folder: Path, *, roots: bool = True, intermediates: bool = True) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        files = {"yubico-piv-ca-1.pem": [self.piv_root], "yubico-ca-1.pem": [self.root_1]} if roots else {}
        if intermediates:
            files["yubico-intermediate.pem"] = list(self.intermediates)
        for name, certs in files.items():
            (folder / name).write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
        return folder


@pytest.fixture(scope="module")
def yubico() -> Yubico:
    piv_key, root1_key, inter_key, piv_a1_key = (_new_key() for _ in range(4))
    piv_root = _cert(PIV_ROOT, PIV_ROOT, piv_key, piv_key, ca=True, years=40)
    root_1 = _cert(ROOT_1, ROOT_1, root1_key, root1_key, ca=True, years=40)
    inter = _cert(INTER_A1, ROOT_1, inter_key, root1_key, ca=True, years=30)
    piv_a1 = _cert(PIV_A1, INTER_A1, piv_a1_key, inter_key, ca=True, years=30)
    fido_key = _new_key()
    fido = _cert("Yubico FIDO Attestation A 1", INTER_A1, fido_key, inter_key, ca=True)
    return Yubico(
        piv_root=piv_root, root_1=root_1, intermediates=(inter, piv_a1, fido),
        old=_device(10203040, b"\x05\x04\x03", PIV_ROOT, piv_key),
        fips=_device(10203041, b"\x05\x04\x03", PIV_ROOT, piv_key, fips=True, form_factor=0x81),
        new=_device(36343039, b"\x05\x07\x04", PIV_A1, piv_a1_key, slot="9c", f9_ca=None),
        fido=_device(44444444, b"\x05\x07\x04", "Yubico FIDO Attestation A 1", fido_key),
    )


@pytest.fixture(autouse=True)
def nothing_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No Yubico certificate unless a test installs one: an empty package data folder, no env."""
    package = tmp_path / "package-data-yubico"
    package.mkdir()
    monkeypatch.setattr(attestation, "package_folder", lambda: package)
    monkeypatch.delenv(ROOTS_ENV, raising=False)
    yield package


@pytest.fixture
def installed(yubico: Yubico, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Yubico:
    """Yubico-shaped roots and intermediates installed through AUDITOR_YUBICO_ROOTS."""
    monkeypatch.setenv(ROOTS_ENV, str(yubico.write(tmp_path / "operator-roots")))
    return yubico


def test_roots_and_piv_intermediates_load_from_the_env_folder(installed: Yubico) -> None:
    found = attestation.installed()
    assert {r.subject.rfc4514_string() for r in found.roots} == {f"CN={PIV_ROOT}", f"CN={ROOT_1}"}
    assert {c.subject.rfc4514_string() for c in found.intermediates} == {f"CN={INTER_A1}", f"CN={PIV_A1}"}
    assert found.problems == ()


def test_the_package_data_folder_is_read_first_and_the_env_folder_adds(
        yubico: Yubico, nothing_installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    yubico.write(nothing_installed, intermediates=False)
    found = attestation.installed()
    assert [r.subject.rfc4514_string() for r in found.roots] == [f"CN={ROOT_1}", f"CN={PIV_ROOT}"]  # by file name
    assert found.intermediates == ()
    monkeypatch.setenv(ROOTS_ENV, str(yubico.write(tmp_path / "env", roots=False)))
    assert len(attestation.installed().intermediates) == 2
    assert verify(yubico.new.slot, yubico.new.f9, at=NOW).valid


def test_missing_folders_are_not_an_error_but_unreadable_files_and_a_bad_env_are_named(
        yubico: Yubico, nothing_installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nothing_installed.rmdir()
    assert attestation.installed() == attestation.Installed((), (), ())
    monkeypatch.setenv(ROOTS_ENV, str(tmp_path / "nowhere"))
    assert attestation.installed().problems == ((ROOTS_ENV, f"{ROOTS_ENV}={tmp_path / 'nowhere'} is not a folder"),)
    folder = yubico.write(tmp_path / "env")
    (folder / "broken.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    (folder / "notes.txt").write_text("ignored: not a .pem file")
    monkeypatch.setenv(ROOTS_ENV, str(folder))
    found = attestation.installed()
    assert [where for where, _ in found.problems] == [f"{folder}/broken.pem"]
    assert len(found.roots) == 2  # the readable files still count


def test_without_installed_roots_the_result_says_so_and_is_not_valid(yubico: Yubico) -> None:
    for device in (yubico.old, yubico.new):
        verdict = verify(device.slot, device.f9, at=NOW)
        assert not verdict.valid and verdict.root is None
        assert verdict.status == attestation.NO_ROOT and verdict.no_root
        assert "no trusted Yubico attestation root is installed" in (verdict.problem or "")
        assert ROOTS_ENV in (verdict.problem or "") and "developers.yubico.com/PKI" in (verdict.problem or "")
    assert verify(yubico.old.slot, yubico.old.f9, at=NOW).chain[-1] == "CN=Yubico PIV Attestation"
    assert attestation.verify_device(yubico.new.f9, at=NOW).status == attestation.NO_ROOT


def test_a_partial_install_reports_the_missing_yubico_certificate(yubico: Yubico, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "only-piv-root"
    folder.mkdir()
    (folder / "yubico-piv-ca-1.pem").write_bytes(yubico.piv_root.public_bytes(serialization.Encoding.PEM))
    monkeypatch.setenv(ROOTS_ENV, str(folder))
    assert verify(yubico.old.slot, yubico.old.f9, at=NOW).valid
    verdict = verify(yubico.new.slot, yubico.new.f9, at=NOW)
    assert verdict.status == attestation.NO_ROOT and f"'CN={PIV_A1}'" in (verdict.problem or "")
    yubico.write(folder, roots=False)  # the intermediates, but still not Root 1
    verdict = verify(yubico.new.slot, yubico.new.f9, at=NOW)
    assert verdict.status == attestation.NO_ROOT and f"'CN={ROOT_1}'" in (verdict.problem or "")
    assert len(verdict.chain) == 4


def test_the_piv_root_shape_verifies(installed: Yubico) -> None:
    verdict = verify(installed.old.slot, installed.old.f9, at=NOW)
    assert verdict.valid and verdict.status == attestation.VALID, verdict.problem
    assert verdict.root == f"CN={PIV_ROOT}"
    assert verdict.chain == ("CN=YubiKey PIV Attestation 9a", "CN=Yubico PIV Attestation", verdict.root)
    facts = attestation_facts(installed.old.slot)
    assert (facts.slot, facts.serial, facts.firmware, facts.pin_policy, facts.touch_policy, facts.form_factor) == (
        "9a", 10203040, "5.4.3", "once", "cached", 1)
    assert not attestation.is_fips_device(installed.old.f9, installed.old.slot)


def test_the_attestation_root_1_shape_builds_its_path_through_intermediates(installed: Yubico) -> None:
    verdict = verify(installed.new.slot, installed.new.f9, at=NOW)
    assert verdict.valid, verdict.problem
    assert verdict.chain == ("CN=YubiKey PIV Attestation 9c", "CN=Yubico PIV Attestation", f"CN={PIV_A1}",
                             f"CN={INTER_A1}", f"CN={ROOT_1}")
    facts = attestation_facts(installed.new.slot)
    assert (facts.slot, facts.serial, facts.firmware) == ("9c", 36343039, "5.7.4")
    inter, piv_a1, _ = installed.intermediates
    missing = verify(installed.new.slot, installed.new.f9, at=NOW, intermediates=[piv_a1])
    assert not missing.valid and "Intermediate A 1" in (missing.problem or "")
    # a path through an end-entity "intermediate" with the right name is refused
    not_ca = _cert(PIV_A1, INTER_A1, _new_key(), _new_key(), ca=False)
    refused = verify(installed.new.slot, installed.new.f9, at=NOW, intermediates=[not_ca, inter])
    assert refused.status == attestation.INVALID


def test_a_fips_device_is_recognised_from_its_extensions(installed: Yubico) -> None:
    assert verify(installed.fips.slot, installed.fips.f9, at=NOW).valid
    assert attestation_facts(installed.fips.slot).serial == 10203041
    assert attestation.is_fips_device(installed.fips.f9, installed.fips.slot)
    # the form factor's FIPS bit alone is enough, the f9 extension alone too
    assert attestation.is_fips_device(installed.old.f9, installed.fips.slot)
    assert attestation.is_fips_device(installed.fips.f9)


def test_out_of_validity_and_across_devices_are_refused(installed: Yubico) -> None:
    slot, f9 = installed.old.slot, installed.old.f9
    late = verify(slot, f9, at=NOW + dt.timedelta(days=365 * 25))
    assert late.status == attestation.INVALID and "is not valid at 2051" in (late.problem or "")
    assert "is not valid at" in (verify(slot, f9, at=NOW - dt.timedelta(days=60)).problem or "")
    other = verify(slot, installed.fips.f9, at=NOW)
    assert other.status == attestation.INVALID and "not signed by the device certificate" in (other.problem or "")


def test_a_tampered_signature_is_refused(installed: Yubico) -> None:
    der = bytearray(installed.old.slot.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01
    tampered = x509.load_der_x509_certificate(bytes(der))
    assert verify(tampered, installed.old.f9, at=NOW).status == attestation.INVALID
    der = bytearray(installed.old.f9.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01
    tampered_f9 = x509.load_der_x509_certificate(bytes(der))
    assert attestation.verify_device(tampered_f9, at=NOW).status == attestation.INVALID


def test_a_forged_chain_with_yubico_names_but_another_key_is_refused(installed: Yubico) -> None:
    forger = _new_key()
    for issuer in (PIV_ROOT, PIV_A1):
        forged = _device(11111111, b"\x05\x07\x04", issuer, forger)
        verdict = verify(forged.slot, forged.f9, at=NOW)
        assert verdict.status == attestation.INVALID, verdict.problem
        assert "not a trusted attestation root" in (verdict.problem or "")
    # a forged root with Yubico's name, offered as an intermediate, is never trusted either
    fake_root = _cert(PIV_ROOT, PIV_ROOT, forger, forger, ca=True)
    forged = _device(11111111, b"\x05\x04\x03", PIV_ROOT, forger)
    assert verify(forged.slot, forged.f9, at=NOW, intermediates=[fake_root]).status == attestation.INVALID


def test_a_chain_to_an_unknown_non_yubico_root_is_invalid_even_without_roots(yubico: Yubico) -> None:
    stranger = _new_key()
    device = _device(22222222, b"\x05\x07\x04", "Someone's Attestation CA", stranger)
    verdict = verify(device.slot, device.f9, at=NOW)
    assert verdict.status == attestation.INVALID and "not a trusted attestation root" in (verdict.problem or "")
    root = _cert("Someone's Attestation CA", "Someone's Attestation CA", stranger, stranger, ca=True)
    assert verify(device.slot, device.f9, at=NOW, extra_roots=[root]).valid


def test_non_piv_intermediates_of_the_bundle_are_not_used(installed: Yubico) -> None:
    fido = installed.intermediates[2]
    assert fido not in attestation.installed().intermediates
    assert not verify(installed.fido.slot, installed.fido.f9, at=NOW).valid
    assert verify(installed.fido.slot, installed.fido.f9, at=NOW, intermediates=installed.intermediates).valid


@settings(max_examples=200, deadline=None)
@given(serial=st.binary(max_size=12), firmware=st.binary(max_size=5), policy=st.binary(max_size=4),
       form=st.binary(max_size=3))
def test_attestation_facts_never_crash_on_odd_extensions(serial: bytes, firmware: bytes, policy: bytes,
                                                         form: bytes) -> None:
    cert = _cert("YubiKey PIV Attestation 9a", "x", KEY, KEY, ca=None, extensions=(
        (OID_SERIAL, serial), (OID_FIRMWARE, firmware), (OID_POLICY, policy), (OID_FORM_FACTOR, form)))
    facts = attestation_facts(cert)
    assert facts.serial is None or facts.serial >= 0
    assert facts.firmware is None or len(firmware) == 3
    assert facts.pin_policy in (None, "never", "once", "always", "match-once", "match-always")
    assert facts.form_factor is None or len(form) == 1
    assert isinstance(attestation.is_fips_device(cert, cert), bool)
