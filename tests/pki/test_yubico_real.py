"""Yubico's real certificates as shipped (pki/data/yubico) and a real YubiKey's attestation.

The shipped roots and intermediates are pinned by their SHA-256 fingerprints (DER), as
published by Yubico and checked independently (../shared/yubico/README.md): a silent swap or
an extra certificate fails here. The vectors in tests/pki/data/yubico/ are one real device's
attestation (YubiKey 4 FIPS, serial 10550341, firmware 4.4.5, slot 9c): its f9 certificate,
signed by Yubico PIV Root CA Serial 263751, and the 9c attestation signed by it. `openssl
verify` is the outside oracle for the chains.

No real 5.7.4+ attestation is at hand, so that shape is checked on "twins": certificates with
the names, validity and extensions of Yubico's Attestation Root 1 and its intermediates but the
tests' own keys, installed as the package data would be; the device presents only its f9
certificate and the slot attestation, and the verifier finds the intermediates.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from pki import attestation
from pki.attestation import (
    OID_FIRMWARE,
    OID_POLICY,
    OID_SERIAL,
    ROOTS_ENV,
    attestation_facts,
    verify,
    verify_device,
)
from tests.servers import tool

VECTORS = Path(__file__).parent / "data" / "yubico"
AT = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
PINNED = {
    "yubico-piv-ca-1.pem": ["63ECE914E54DD87915F34033C85AF4C0696BA1512F8ADD66CED738331207B546"],
    "yubico-ca-1.pem": ["62760C6A6EF91679F454C8902B80FD009825B3F25DA90F1FBACE2EC6586CD5A8"],
    "yubico-intermediate.pem": [
        "4698A1D3389C3EC60016C216250F1D0439922832D65142327436376DC2942B55",  # Attestation Intermediate A 1
        "D4CC3F456FDAF4E7812A21AAB1DFE9D8E27D24E2FD2D6F21C9940109F0DAA754",  # Attestation Intermediate B 1
        "6DE693F05376F5D8CA29069261E1C8626C75D503BD2EDBFD75354CAD1F722870",  # PIV Attestation A 1
        "2D55B7998F4E42569D6D8FA382B6DC77D1DACF07358B19701163892922B17052",  # PIV Attestation B 1
    ],
}
PIV_ROOT = "CN=Yubico PIV Root CA Serial 263751"


def _pem(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


SLOT = _pem(VECTORS / "10550341-9c-attestation.pem")
F9 = _pem(VECTORS / "10550341-f9-device.pem")


SHIPPED = attestation.package_folder()  # the real package data folder, before any test replaces it


def _shipped(name: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(SHIPPED.joinpath(name).read_bytes())


def _by_cn(certs: list[x509.Certificate], cn: str) -> x509.Certificate:
    return next(c for c in certs if c.subject.rfc4514_string() == f"CN={cn}")


@pytest.fixture(autouse=True)
def only_shipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ROOTS_ENV, raising=False)


def test_every_shipped_certificate_is_pinned_by_its_fingerprint() -> None:
    files = sorted(f.name for f in attestation.package_folder().iterdir() if f.name.endswith(".pem"))
    assert files == sorted(PINNED)
    found = {name: [c.fingerprint(hashes.SHA256()).hex().upper() for c in _shipped(name)] for name in files}
    assert found == PINNED


def test_the_loader_trusts_the_two_roots_and_builds_paths_through_the_four_intermediates() -> None:
    found = attestation.installed()
    assert found.problems == ()
    assert sorted(r.subject.rfc4514_string() for r in found.roots) == ["CN=Yubico Attestation Root 1", PIV_ROOT]
    assert len(found.intermediates) == 4
    assert all(f.shipped and f.source.startswith("pki/data/yubico/") for f in found.found)
    assert sorted(f.sha256 for f in found.found) == sorted(fp for fps in PINNED.values() for fp in fps)


def test_a_real_attestation_verifies_through_its_f9_certificate_to_the_piv_root() -> None:
    verdict = verify(SLOT, F9, at=AT)
    assert verdict.status == attestation.VALID, verdict.problem
    assert verdict.chain == ("CN=YubiKey PIV Attestation 9c", "CN=Yubico PIV Attestation", PIV_ROOT)
    facts = attestation_facts(SLOT)
    assert (facts.slot, facts.serial, facts.firmware, facts.pin_policy, facts.touch_policy) == (
        "9c", 10550341, "4.4.5", "always", "always")
    assert attestation.is_fips_device(F9, SLOT)  # a YubiKey 4 FIPS: its f9 carries the FIPS extension
    assert verify_device(F9, at=AT).root == PIV_ROOT


def test_the_shipped_intermediates_chain_to_attestation_root_1() -> None:
    middle = _shipped("yubico-intermediate.pem")
    for piv, inter in (("Yubico PIV Attestation A 1", "Yubico Attestation Intermediate A 1"),
                       ("Yubico PIV Attestation B 1", "Yubico Attestation Intermediate B 1")):
        verdict = verify_device(_by_cn(middle, piv), at=AT)
        assert verdict.chain == (f"CN={piv}", f"CN={inter}", "CN=Yubico Attestation Root 1"), verdict.problem
        assert verdict.valid


def test_another_root_does_not_verify_the_real_attestation() -> None:
    root_1 = _shipped("yubico-ca-1.pem")
    only_root_1 = verify(SLOT, F9, at=AT, roots=root_1, intermediates=[])
    assert only_root_1.status == attestation.NO_ROOT and PIV_ROOT in (only_root_1.problem or "")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    impostor = _twin(_shipped("yubico-piv-ca-1.pem")[0], key, key)
    forged_root = verify(SLOT, F9, at=AT, roots=[impostor], intermediates=[])
    assert forged_root.status == attestation.INVALID and "not a trusted attestation root" in (forged_root.problem or "")


def _with_serial(cert: x509.Certificate, serial: int) -> x509.Certificate:
    """The same DER with the serial extension's value replaced (same length): the signature no longer holds."""
    der = cert.public_bytes(serialization.Encoding.DER)
    old = (10550341).to_bytes(4, "big")
    assert der.count(old) == 1
    return x509.load_der_x509_certificate(der.replace(old, serial.to_bytes(4, "big")))


def test_a_changed_serial_is_refused() -> None:
    changed = _with_serial(SLOT, 10550342)
    assert attestation_facts(changed).serial == 10550342
    verdict = verify(changed, F9, at=AT)
    assert verdict.status == attestation.INVALID and "not signed by the device certificate" in (verdict.problem or "")


def test_the_f9_certificate_of_another_chain_is_refused() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    other_f9 = _twin(F9, key, key)  # Yubico's f9 names and extensions, another key
    assert verify(SLOT, other_f9, at=AT).status == attestation.INVALID
    # and the real f9 does not vouch for an attestation another key signed
    forged_slot = _twin(SLOT, ec.generate_private_key(ec.SECP256R1()), key)
    verdict = verify(forged_slot, F9, at=AT)
    assert verdict.status == attestation.INVALID and "not signed by the device certificate" in (verdict.problem or "")
    assert attestation_facts(forged_slot).serial == 10550341  # it claims the device all the same


def test_out_of_validity_is_refused() -> None:
    late = verify(SLOT, F9, at=dt.datetime(2052, 4, 18, tzinfo=dt.UTC))
    assert late.status == attestation.INVALID and "is not valid at 2052-04-18" in (late.problem or "")


# -- the firmware 5.7.4+ shape, on twins of Yubico's certificates ---------------------------------


def _twin(real: x509.Certificate, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
          signer: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, *,
          not_after: dt.datetime | None = None) -> x509.Certificate:
    """`real`'s names, validity and extensions (key identifiers recomputed) with `key`, signed by `signer`."""
    b = (x509.CertificateBuilder().subject_name(real.subject).issuer_name(real.issuer).public_key(key.public_key())
         .serial_number(real.serial_number).not_valid_before(real.not_valid_before_utc)
         .not_valid_after(not_after or real.not_valid_after_utc))
    for ext in real.extensions:
        value: x509.ExtensionType = ext.value
        if isinstance(value, x509.SubjectKeyIdentifier):
            value = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        elif isinstance(value, x509.AuthorityKeyIdentifier):
            value = x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key())
        b = b.add_extension(value, critical=ext.critical)
    return b.sign(signer, hashes.SHA256())


def _new_rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _der_int(value: int) -> bytes:
    body = value.to_bytes((value.bit_length() + 8) // 8, "big")
    return bytes([0x02, len(body)]) + body


@dataclass(frozen=True)
class Twins:
    root: x509.Certificate
    inter: x509.Certificate
    piv: x509.Certificate
    piv_key: rsa.RSAPrivateKey
    inter_key: rsa.RSAPrivateKey
    f9: x509.Certificate
    slot: x509.Certificate

    def install(self, folder: Path, *intermediates: x509.Certificate) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "yubico-ca-1.pem").write_bytes(self.root.public_bytes(serialization.Encoding.PEM))
        (folder / "yubico-intermediate.pem").write_bytes(
            b"".join(c.public_bytes(serialization.Encoding.PEM) for c in intermediates or (self.inter, self.piv)))
        return folder


def _device(issuer: x509.Name, signer: rsa.RSAPrivateKey, serial: int) -> tuple[x509.Certificate, x509.Certificate]:
    """A firmware 5.7.4 device's f9 certificate (shaped like the real 4.4.5 one) and a 9c attestation."""
    f9_key, slot_key = _new_rsa(), ec.generate_private_key(ec.SECP256R1())
    f9_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Yubico PIV Attestation")])
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    f9 = (x509.CertificateBuilder().subject_name(f9_name).issuer_name(issuer).public_key(f9_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(start)
          .not_valid_after(dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC))
          .add_extension(x509.UnrecognizedExtension(OID_FIRMWARE, b"\x05\x07\x04"), critical=False)
          .add_extension(x509.UnrecognizedExtension(OID_SERIAL, _der_int(serial)), critical=False)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(signer, hashes.SHA256()))
    slot = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "YubiKey PIV Attestation 9c")]))
            .issuer_name(f9_name).public_key(slot_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC))
            .add_extension(x509.UnrecognizedExtension(OID_FIRMWARE, b"\x05\x07\x04"), critical=False)
            .add_extension(x509.UnrecognizedExtension(OID_SERIAL, _der_int(serial)), critical=False)
            .add_extension(x509.UnrecognizedExtension(OID_POLICY, b"\x02\x03"), critical=False)
            .sign(f9_key, hashes.SHA256()))
    return f9, slot


@pytest.fixture(scope="module")
def twins() -> Twins:
    root_key, inter_key, piv_key = _new_rsa(), _new_rsa(), _new_rsa()
    middle = _shipped("yubico-intermediate.pem")
    root = _twin(_shipped("yubico-ca-1.pem")[0], root_key, root_key)
    inter = _twin(_by_cn(middle, "Yubico Attestation Intermediate A 1"), inter_key, root_key)
    piv = _twin(_by_cn(middle, "Yubico PIV Attestation A 1"), piv_key, inter_key)
    f9, slot = _device(piv.subject, piv_key, 36343039)
    return Twins(root, inter, piv, piv_key, inter_key, f9, slot)


@pytest.fixture
def twins_shipped(twins: Twins, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Twins]:
    """The twins in the package data folder's place, as if auditor shipped them."""
    folder = twins.install(tmp_path / "package-data")
    monkeypatch.setattr(attestation, "package_folder", lambda: folder)
    yield twins


def test_the_5_7_4_path_is_built_from_the_shipped_intermediates(twins_shipped: Twins) -> None:
    t = twins_shipped
    verdict = verify(t.slot, t.f9, at=AT)
    assert verdict.status == attestation.VALID, verdict.problem
    assert verdict.chain == ("CN=YubiKey PIV Attestation 9c", "CN=Yubico PIV Attestation", "CN=Yubico PIV Attestation A 1",
                             "CN=Yubico Attestation Intermediate A 1", "CN=Yubico Attestation Root 1")
    facts = attestation_facts(t.slot)
    assert (facts.serial, facts.firmware, facts.pin_policy, facts.touch_policy) == (36343039, "5.7.4", "once", "cached")


def test_the_real_shipped_certificates_refuse_a_twin_chain(twins: Twins) -> None:
    """Names are not trust: a chain under look-alikes of Yubico's intermediates fails against the real ones."""
    verdict = verify(twins.slot, twins.f9, at=AT)
    assert verdict.status == attestation.INVALID, verdict.problem


def test_an_expired_intermediate_is_refused(twins: Twins, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expired = _twin(twins.piv, twins.piv_key, twins.inter_key, not_after=AT - dt.timedelta(days=1))
    folder = twins.install(tmp_path / "package-data", twins.inter, expired)
    monkeypatch.setattr(attestation, "package_folder", lambda: folder)
    verdict = verify(twins.slot, twins.f9, at=AT)
    assert verdict.status == attestation.INVALID
    assert "'CN=Yubico PIV Attestation A 1' is not valid at 2026-06-01" in (verdict.problem or "")


def test_a_swapped_intermediate_is_refused(twins: Twins, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = _new_rsa()
    swapped = _twin(twins.piv, key, twins.inter_key)  # same name and issuer, another key
    folder = twins.install(tmp_path / "package-data", twins.inter, swapped)
    monkeypatch.setattr(attestation, "package_folder", lambda: folder)
    verdict = verify(twins.slot, twins.f9, at=AT)
    assert verdict.status == attestation.INVALID and "not a trusted attestation root" in (verdict.problem or "")
    # the B intermediate in A's place: no path, and A's name is a Yubico certificate not installed
    middle = _shipped("yubico-intermediate.pem")
    monkeypatch.setattr(attestation, "package_folder", lambda: twins.install(
        tmp_path / "b-instead", twins.inter, _by_cn(middle, "Yubico PIV Attestation B 1")))
    assert verify(twins.slot, twins.f9, at=AT).status == attestation.NO_ROOT


# -- openssl verify as the outside oracle ----------------------------------------------------------


def _write(path: Path, *certs: x509.Certificate) -> str:
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    return str(path)


def openssl_ok(tmp_path: Path, leaf: x509.Certificate, roots: list[x509.Certificate],
               untrusted: list[x509.Certificate]) -> bool:
    args = [tool("openssl"), "verify", "-attime", str(int(AT.timestamp())),
            "-CAfile", _write(tmp_path / "roots.pem", *roots)]
    if untrusted:
        args += ["-untrusted", _write(tmp_path / "untrusted.pem", *untrusted)]
    proc = subprocess.run([*args, _write(tmp_path / "leaf.pem", leaf)], capture_output=True, text=True, check=False)
    return proc.returncode == 0


def test_openssl_agrees_on_the_real_vectors(tmp_path: Path) -> None:
    piv_root, root_1 = _shipped("yubico-piv-ca-1.pem"), _shipped("yubico-ca-1.pem")
    changed = _with_serial(SLOT, 10550342)
    key = ec.generate_private_key(ec.SECP256R1())
    cases = [
        ("the real chain", SLOT, F9, piv_root, True),
        ("another root", SLOT, F9, root_1, False),
        ("a changed serial", changed, F9, piv_root, False),
        ("the f9 of another chain", SLOT, _twin(F9, key, key), piv_root, False),
    ]
    for what, slot, f9, roots, expected in cases:
        ours = verify(slot, f9, at=AT, roots=roots, intermediates=[]).valid
        theirs = openssl_ok(tmp_path, slot, roots, [f9])
        assert (what, ours, theirs) == (what, expected, expected)


def test_openssl_agrees_on_the_shipped_intermediates_and_the_5_7_4_twins(twins: Twins, tmp_path: Path) -> None:
    middle = _shipped("yubico-intermediate.pem")
    root_1 = _shipped("yubico-ca-1.pem")
    for cert in middle:
        assert openssl_ok(tmp_path, cert, root_1, middle)
        assert verify_device(cert, at=AT).valid
    chain = [twins.f9, twins.piv, twins.inter]
    assert openssl_ok(tmp_path, twins.slot, [twins.root], chain)
    assert verify(twins.slot, twins.f9, at=AT, roots=[twins.root], intermediates=[twins.piv, twins.inter]).valid
    assert not openssl_ok(tmp_path, twins.slot, root_1, chain)  # the real root refuses the twins
    assert not verify(twins.slot, twins.f9, at=AT, roots=root_1, intermediates=[twins.piv, twins.inter]).valid
