"""The yubikey collector through yubikit, against software PIV cards (tests/softpiv) at the device seam.

No YubiKey exists here: SoftPivCard answers yubikit's PIV APDUs with real cryptography and
attests keys with its own software attestation CA (never Yubico's), which the tests trust
through the collector's `attestation_roots` option, as an organisation would trust its own f9 CA.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from auditor._collectors import run_collector
from auditor._collectors import yubikey as yk
from auditor._collectors.interface import CollectContext
from auditor._inventory.model import SourceSpec, Target
from auditor.evidence.kinds import data_errors
from auditor.evidence.record import Evidence, Failure, Record
from tests.collecting import failure_of, plain_of
from tests.softpiv import SoftPivCard
from tests.softpiv.devices import SoftPivDevices, provision

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def collect(root: Path, source: yk.DeviceSource | None, **options: Any) -> list[Record]:
    spec = SourceSpec("yubikey", "yubikeys", True, options)
    target = Target(name="t", environment="test", policies=("p",), sources=(spec,), root=root)
    if source is None:
        records = list(run_collector(CollectContext(target, spec, NOW)))
    else:
        with yk.using(source):
            records = list(run_collector(CollectContext(target, spec, NOW)))
    for r in records:
        if isinstance(r, Evidence):
            assert data_errors(r.kind, r.plain) == [], (r.resource, data_errors(r.kind, r.plain))
    return records


def trust(tmp_path: Path, *cards: SoftPivCard) -> list[str]:
    path = tmp_path / "softpiv-roots.pem"
    path.write_bytes(b"".join(c.attestation_root.public_bytes(serialization.Encoding.PEM) for c in cards if c.attestation_root))
    return [path.name]


def by_resource(records: list[Record]) -> dict[str, Record]:
    return {r.resource: r for r in records}


@pytest.fixture(scope="module")
def node_token() -> SoftPivCard:
    card = SoftPivCard(serial=31234567, version=(5, 7, 4))
    provision(card, "9a", "ecdsa-p256", pin_policy="once", touch_policy="cached", subject="cim-prod-001 admin")
    provision(card, "9c", "ed25519", pin_policy="always", touch_policy="always", subject="CIM Signing CA", ca=True)
    provision(card, "9d", "ecdsa-p256", pin_policy="never", imported=True, subject="cim-prod-001 key management")
    return card


def test_devices_slots_policies_and_attestation(tmp_path: Path, node_token: SoftPivCard) -> None:
    records = by_resource(collect(tmp_path, SoftPivDevices([node_token]), attestation_roots=trust(tmp_path, node_token)))
    presence = plain_of(records["yubikeys"])
    assert presence == {"source": SoftPivDevices.name, "count": 1, "serials": [31234567], "without_serial": 0}
    device = plain_of(records["yubikey:31234567"])
    assert device is not None
    assert (device["firmware"], device["form_factor"], device["fips"], device["slots"]) == (
        "5.7.4", "usb-c-keychain", False, ["9a", "9c", "9d"])
    assert device["pin"] == {"default": True, "total_attempts": 3, "attempts_remaining": 3}
    assert device["management_key"]["default"] is True and device["management_key"]["algorithm"] == "aes192"
    assert device["attestation_ca"]["valid"] is True
    assert device["attestation_ca"]["root"] == "CN=SoftPIV Test Attestation Root (not Yubico)"

    signing = plain_of(records["yubikey:31234567/9c"])
    assert signing is not None
    assert signing["key"]["algorithm"] == "ed25519" and signing["key"]["generated"] is True
    assert (signing["pin_policy"], signing["touch_policy"], signing["ca_key"]) == ("always", "always", True)
    assert signing["certificate"]["subject"] == "CN=CIM Signing CA" and signing["certificate_matches_key"] is True
    attestation = signing["attestation"]
    assert attestation["valid"] and attestation["serial"] == 31234567 and attestation["serial_matches"]
    assert attestation["key_matches"] and attestation["firmware"] == "5.7.4"
    assert signing["generated_on_device"] is True

    auth = plain_of(records["yubikey:31234567/9a"])
    assert (auth["pin_policy"], auth["touch_policy"], auth["ca_key"]) == ("once", "cached", False)

    imported = plain_of(records["yubikey:31234567/9d"])
    assert imported is not None
    assert imported["key"]["generated"] is False and imported["pin_policy"] == "never"
    assert imported["attestation"]["present"] is False and imported["generated_on_device"] is False


def test_without_the_cards_root_only_yubicos_roots_are_trusted(tmp_path: Path, node_token: SoftPivCard) -> None:
    records = by_resource(collect(tmp_path, SoftPivDevices([node_token])))
    signing = plain_of(records["yubikey:31234567/9c"])
    assert signing is not None
    assert signing["attestation"]["present"] and not signing["attestation"]["valid"]
    assert "not a trusted attestation root" in signing["attestation"]["problem"]
    assert signing["generated_on_device"] is False
    assert plain_of(records["yubikey:31234567"])["attestation_ca"]["valid"] is False


def test_an_attestation_from_another_device_does_not_count(tmp_path: Path) -> None:
    """A card whose f9 certificate and key were copied from another device: the chain is
    sound, but the serial in the attestation is not this device's."""
    donor = SoftPivCard(serial=11111111)
    card = SoftPivCard(serial=22222222, attestation_root=donor.attestation_root, attestation_root_key=donor.attestation_root_key)
    card.keys[0xF9] = donor.keys[0xF9]
    card.objects.update({k: v for k, v in donor.objects.items() if k == 0x5FFF01})
    card.serial = 22222222
    provision(card, "9c", "ecdsa-p384", pin_policy="always", touch_policy="always", subject="Copied CA", ca=True)
    # the soft card writes its own serial into attestations: make it lie like a cloned f9 would
    card_attest = card.attest

    def cloned(slot: int) -> bytes:
        card.serial = 11111111
        try:
            return card_attest(slot)
        finally:
            card.serial = 22222222

    card.attest = cloned  # type: ignore[method-assign]
    records = by_resource(collect(tmp_path, SoftPivDevices([card]), attestation_roots=trust(tmp_path, donor)))
    signing = plain_of(records["yubikey:22222222/9c"])
    assert signing is not None
    assert signing["attestation"]["valid"] and signing["attestation"]["serial"] == 11111111
    assert not signing["attestation"]["serial_matches"] and not signing["generated_on_device"]


def test_serials_option_and_ca_slots(tmp_path: Path, node_token: SoftPivCard) -> None:
    other = SoftPivCard(serial=40000001, version=(5, 4, 3))
    provision(other, "9a", "ecdsa-p256", subject="spare")
    records = collect(tmp_path, SoftPivDevices([node_token, other]), serials=[40000001], ca_slots=["40000001/9a"])
    found = by_resource(records)
    assert plain_of(found["yubikeys"])["serials"] == [31234567, 40000001]
    assert "yubikey:31234567" not in found
    spare = plain_of(found["yubikey:40000001/9a"])
    assert spare["ca_key"] is True and spare["firmware"] == "5.4.3"


def test_no_devices_is_an_honest_empty_record(tmp_path: Path) -> None:
    (record,) = collect(tmp_path, SoftPivDevices([]))
    assert record.kind == yk.PRESENCE and plain_of(record) == {"source": SoftPivDevices.name, "count": 0, "serials": [],
                                                          "without_serial": 0}


class _Broken(yk.DeviceSource):
    name = "broken"

    def devices(self) -> list[yk.Device]:
        raise yk.Unavailable("cannot list smart-card readers (EstablishContextException): is pcscd running?")


def test_no_pcsc_is_an_error_record_not_a_crash(tmp_path: Path) -> None:
    (record,) = collect(tmp_path, _Broken())
    assert record.kind == yk.PRESENCE and failure_of(failure_of(record)).error and "pcscd" in failure_of(failure_of(record)).error and failure_of(failure_of(record)).required


def test_the_real_pcsc_listing_never_crashes(tmp_path: Path) -> None:
    """ykman's own listing on this machine: without pcscd an error record, with it an honest list."""
    records = collect(tmp_path, None)
    presence = [r for r in records if r.kind == yk.PRESENCE]
    assert len(presence) == 1
    if isinstance(presence[0], Failure):
        assert "pcscd" in presence[0].error
    else:
        data = presence[0].plain or {}
        assert data["source"] == "pcsc" and data["count"] == len(data["serials"]) + data["without_serial"]


def test_a_device_that_cannot_be_opened_is_an_error_record(tmp_path: Path) -> None:
    def refuse() -> Any:
        raise OSError("device busy")

    class One(yk.DeviceSource):
        name = "one"

        def devices(self) -> list[yk.Device]:
            return [yk.Device(123, refuse)]

    records = collect(tmp_path, One())
    assert [r.resource for r in records] == ["yubikeys", "yubikey:123"]
    assert isinstance(records[1], Failure) and "device busy" in records[1].error


def test_an_unreadable_attestation_roots_file_is_reported(tmp_path: Path, node_token: SoftPivCard) -> None:
    (tmp_path / "bad.pem").write_text("not a certificate")
    records = collect(tmp_path, SoftPivDevices([node_token]), attestation_roots=["bad.pem"])
    assert isinstance(records[0], Failure) and records[0].resource == "bad.pem"
    assert any(r.resource == "yubikey:31234567/9c" for r in records)


def test_an_attestation_leading_to_a_yubico_root_that_is_not_installed_is_not_checked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A card whose software CA carries Yubico's root name: without that root installed the
    attestation is `no-trusted-root` (never valid, generated_on_device unknown) and YUBI-002 and
    YUBI-012 report errors telling how to install the roots; installed through
    AUDITOR_YUBICO_ROOTS, the same card verifies."""
    from auditor._engine import evaluate_rules
    from auditor._models import Status
    from pki import attestation as att
    from tests.rules.test_live_and_rotation_rules import production

    monkeypatch.setattr(att, "package_folder", lambda: tmp_path / "no-package-data")
    monkeypatch.delenv(att.ROOTS_ENV, raising=False)
    card = SoftPivCard(serial=19876543, version=(5, 4, 3), attestation_root_name="Yubico PIV Root CA Serial 263751")
    provision(card, "9c", "ecdsa-p384", pin_policy="always", touch_policy="always", subject="Offline CA", ca=True)
    records = collect(tmp_path, SoftPivDevices([card]))
    found = by_resource(records)
    signing, device = plain_of(found["yubikey:19876543/9c"]), plain_of(found["yubikey:19876543"])
    assert device is not None
    assert signing["attestation"]["status"] == "no-trusted-root" and not signing["attestation"]["valid"]
    assert signing["attestation"]["serial_matches"] and signing["attestation"]["key_matches"]
    assert signing["generated_on_device"] is None
    assert device["attestation_ca"]["status"] == "no-trusted-root" and device["attestation_ca"]["valid"] is False
    policy = production()
    only = dataclasses.replace(policy, rules=tuple(r for r in policy.rules if r.id in ("YUBI-002", "YUBI-012")), waivers=())
    findings = evaluate_rules(only, records, target={"name": "t"}, now=NOW).findings
    assert [(f.rule_id, f.status) for f in findings] == [("YUBI-002", Status.ERROR), ("YUBI-012", Status.ERROR)]
    for finding in findings:
        assert "could not be checked" in finding.message and att.ROOTS_ENV in finding.message

    folder = tmp_path / "yubico-roots"
    folder.mkdir()
    assert card.attestation_root is not None
    (folder / "yubico-piv-ca-1.pem").write_bytes(card.attestation_root.public_bytes(serialization.Encoding.PEM))
    (folder / "garbled.pem").write_text("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n")
    monkeypatch.setenv(att.ROOTS_ENV, str(folder))
    records = collect(tmp_path, SoftPivDevices([card]))
    found = by_resource(records)
    signing = plain_of(found["yubikey:19876543/9c"])
    assert signing["attestation"]["status"] == "valid" and signing["generated_on_device"] is True
    assert "Yubico attestation roots: not a PEM certificate file" in (failure_of(found[f"{folder}/garbled.pem"]).error or "")
    findings = evaluate_rules(only, records, target={"name": "t"}, now=NOW).findings
    assert [(f.rule_id, f.status) for f in findings] == [("YUBI-002", Status.PASS), ("YUBI-012", Status.PASS)]
