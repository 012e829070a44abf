"""The YubiKey backend through yubikit, against the software PIV card (tests/softpiv).

No YubiKey exists here; SoftPivCard answers yubikit's PIV APDUs with real cryptography.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography import x509
from yubikit.core.smartcard import ApduError
from yubikit.piv import DEFAULT_MANAGEMENT_KEY, KEY_TYPE, SLOT, PivSession

from auditor._cli import main
from pki import keys
from pki.attestation import attestation_facts
from pki.backends import key_opener
from pki.backends.file import FileBackend
from pki.backends.yubikey import YubiKeyBackend, verify_attestation
from pki.ca import CA
from pki.errors import BackendError, KeyAccessError
from tests.pki.conftest import PASSPHRASE
from tests.softpiv import SoftPivCard

MGMT = DEFAULT_MANAGEMENT_KEY.hex()


@pytest.fixture
def card(monkeypatch: pytest.MonkeyPatch) -> SoftPivCard:
    """A software PIV card standing in for the one connected YubiKey."""
    card = SoftPivCard(serial=31415926)
    monkeypatch.setattr("pki.backends.yubikey.open_device", card.connect)
    monkeypatch.setenv("PKI_PASS", PASSPHRASE)
    monkeypatch.setenv("YK_PIN", "123456")
    monkeypatch.setenv("YK_MGMT", MGMT)
    return card


def secrets(kind: str, what: str) -> str:
    return {"passphrase": PASSPHRASE, "pin": "123456", "management-key": MGMT}[kind]


def test_cli_root_in_slot_9c_with_attestation(card: SoftPivCard, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ca_dir = tmp_path / "CA"
    yk = ["--pin-env", "YK_PIN", "--management-key-env", "YK_MGMT"]
    assert main(["pki", "init", "--dir", str(ca_dir), "--name", "CIM Root CA", "--backend", "yubikey", *yk]) == 0
    assert main(["pki", "intermediate", "--dir", str(ca_dir), "--name", "CIM Intermediate CA",
                 "--passphrase-env", "PKI_PASS", *yk]) == 0
    assert main(["pki", "issue", "--dir", str(ca_dir), "--node", "cim-001", "--profile", "nats-client",
                 "--out", str(tmp_path / "n"), "--passphrase-env", "PKI_PASS"]) == 0
    output = capsys.readouterr()
    assert "123456" not in output.out + output.err and MGMT not in output.out + output.err

    ref = json.loads((ca_dir / "ca.json").read_text())["root"]["key"]
    assert (ref["backend"], ref["serial"], ref["slot"], ref["key_type"]) == ("yubikey", 31415926, "9c", "ecdsa-p384")
    root = x509.load_pem_x509_certificate((ca_dir / "certs/root.pem").read_bytes())
    attestation, device_ca = x509.load_pem_x509_certificates((ca_dir / ref["attestation"]).read_bytes())
    assert keys.public_equal(attestation.public_key(), root.public_key())  # the root key was made on the card
    assert card.attestation_root is not None
    assert verify_attestation(attestation, device_ca, [card.attestation_root], dt.datetime.now(dt.UTC)) is None
    facts = attestation_facts(attestation)
    assert (facts.slot, facts.serial, facts.firmware, facts.pin_policy, facts.touch_policy) == (
        "9c", 31415926, "5.7.1", "always", "always")
    assert card.keys[0x9C].generated and card.touches == 3  # root cert, root CRL, intermediate
    # nothing of the key left the card: no key file for the root
    assert sorted(p.name for p in (ca_dir / "private").iterdir()) == ["intermediate-1.key.pem"]


def test_an_occupied_slot_is_not_replaced(card: SoftPivCard, tmp_path: Path) -> None:
    CA.init(tmp_path / "one", "One", YubiKeyBackend(secrets, connect=card.connect))
    before = card.keys[0x9C].key
    with pytest.raises(BackendError, match="slot 9c already holds a key"):
        CA.init(tmp_path / "two", "Two", YubiKeyBackend(secrets, connect=card.connect))
    assert card.keys[0x9C].key is before and not (tmp_path / "two").exists()


def test_pin_is_never_risked_on_its_last_attempt(card: SoftPivCard, tmp_path: Path) -> None:
    ca = CA.init(tmp_path / "CA", "Root", YubiKeyBackend(secrets, connect=card.connect))
    wrong = key_opener(ca.folder, lambda kind, what: "999999" if kind == "pin" else secrets(kind, what),
                       yubikey_connect=card.connect)
    with pytest.raises(KeyAccessError, match=r"wrong PIN \(2 attempt\(s\) left\)"):
        ca.create_intermediate("I", wrong, FileBackend(ca.folder, secrets))
    with pytest.raises(KeyAccessError, match=r"wrong PIN \(1 attempt\(s\) left\)"):
        ca.create_intermediate("I", wrong, FileBackend(ca.folder, secrets))
    with pytest.raises(KeyAccessError, match="refusing to risk blocking"):
        ca.create_intermediate("I", wrong, FileBackend(ca.folder, secrets))
    assert card.pin_attempts == 1
    assert ca.intermediates == [] and not list((ca.folder / "certs").glob("intermediate*"))


def test_wrong_management_key_and_a_swapped_key(card: SoftPivCard, tmp_path: Path) -> None:
    bad = YubiKeyBackend(lambda kind, what: "00" * 24 if kind == "management-key" else secrets(kind, what),
                         connect=card.connect)
    with pytest.raises(KeyAccessError, match="wrong management key"):
        CA.init(tmp_path / "CA0", "Root", bad)
    ca = CA.init(tmp_path / "CA", "Root", YubiKeyBackend(secrets, connect=card.connect))
    session = PivSession(card.connect())
    session.authenticate(DEFAULT_MANAGEMENT_KEY)
    session.delete_key(SLOT.SIGNATURE)
    session.generate_key(SLOT.SIGNATURE, KEY_TYPE.ECCP384)
    with pytest.raises(BackendError, match="holds a different key"):
        ca.create_intermediate("I", key_opener(ca.folder, secrets, yubikey_connect=card.connect),
                               FileBackend(ca.folder, secrets))


def test_soft_card_refuses_to_attest_imported_keys_and_persists(card: SoftPivCard, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    session = PivSession(card.connect())
    session.authenticate(DEFAULT_MANAGEMENT_KEY)
    session.put_key(SLOT.AUTHENTICATION, ec.generate_private_key(ec.SECP256R1()))
    assert session.get_slot_metadata(SLOT.AUTHENTICATION).generated is False
    with pytest.raises(ApduError):
        session.attest_key(SLOT.AUTHENTICATION)
    card.save(tmp_path / "card.json")
    again = SoftPivCard.load(tmp_path / "card.json")
    assert again.serial == card.serial and set(again.keys) == set(card.keys)
    assert PivSession(again.connect()).get_serial() == card.serial
