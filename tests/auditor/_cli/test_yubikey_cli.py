"""`auditor yubikey roots`: what Yubico certificates auditor trusts, shipped and added."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.certs import CertFactory
from tests.conftest import run_cli

SHIPPED = {
    "63ECE914E54DD87915F34033C85AF4C0696BA1512F8ADD66CED738331207B546": "CN=Yubico PIV Root CA Serial 263751",
    "62760C6A6EF91679F454C8902B80FD009825B3F25DA90F1FBACE2EC6586CD5A8": "CN=Yubico Attestation Root 1",
    "4698A1D3389C3EC60016C216250F1D0439922832D65142327436376DC2942B55": "CN=Yubico Attestation Intermediate A 1",
    "D4CC3F456FDAF4E7812A21AAB1DFE9D8E27D24E2FD2D6F21C9940109F0DAA754": "CN=Yubico Attestation Intermediate B 1",
    "6DE693F05376F5D8CA29069261E1C8626C75D503BD2EDBFD75354CAD1F722870": "CN=Yubico PIV Attestation A 1",
    "2D55B7998F4E42569D6D8FA382B6DC77D1DACF07358B19701163892922B17052": "CN=Yubico PIV Attestation B 1",
}


@pytest.fixture(autouse=True)
def no_env_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUDITOR_YUBICO_ROOTS", raising=False)


def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    r = run_cli("yubikey", "roots", *args, env=env)
    return r.code, r.out, r.err


def test_json_lists_the_shipped_certificates_and_what_is_not_shipped() -> None:
    code, out, err = _run("--format", "json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert {t["sha256"]: t["subject"] for t in doc["trusted"]} == SHIPPED
    assert all(t["shipped"] and t["source"].startswith("pki/data/yubico/") for t in doc["trusted"])
    roles = {t["subject"]: t["role"] for t in doc["trusted"]}
    assert roles["CN=Yubico PIV Root CA Serial 263751"] == roles["CN=Yubico Attestation Root 1"] == "root"
    assert [n["name"].split(",")[0] for n in doc["not_shipped"]] == [
        "Yubico PIV Attestation B2 1", "Yubico PIV Root CA Serial 263751", "Yubico U2F Root CA Serial 457200631"]
    assert not any(n["installed"] for n in doc["not_shipped"])
    assert doc["env"] == {"name": "AUDITOR_YUBICO_ROOTS", "value": None}


def test_text_names_each_certificate_with_its_fingerprint() -> None:
    code, out, _ = _run()
    assert code == 0
    for fingerprint, subject in SHIPPED.items():
        assert subject in out and f"SHA-256 {fingerprint}" in out
    assert "Not shipped" in out and "AUDITOR_YUBICO_ROOTS" in out


def test_certificates_added_through_the_env_folder_are_listed_as_added(tmp_path: Path, certs: CertFactory) -> None:
    folder = tmp_path / "yubico\x1b[31m"
    folder.mkdir()
    u2f = certs.issue("Yubico U2F Root CA Serial 457200631", ca=True, pathlen=1, days=3650)
    (folder / "u2f.pem").write_bytes(u2f.pem())
    (folder / "broken.pem").write_text("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n")
    code, out, err = _run("--format", "json", env={"AUDITOR_YUBICO_ROOTS": str(folder)})
    assert code == 2  # an unreadable file is a configuration error; what could be read is listed
    doc = json.loads(out)
    added = [t for t in doc["trusted"] if not t["shipped"]]
    assert [(t["subject"], t["role"], t["source"]) for t in added] == [
        ("CN=Yubico U2F Root CA Serial 457200631", "root", f"{folder}/u2f.pem")]
    assert [n["installed"] for n in doc["not_shipped"]] == [False, False, True]
    assert "broken.pem: not a PEM certificate file" in err and "\x1b" not in err
    code, out, err = _run(env={"AUDITOR_YUBICO_ROOTS": str(folder)})
    assert code == 2 and "\x1b" not in out + err and "\\x1b[31m" in out


def test_an_env_that_is_not_a_folder_is_exit_2(tmp_path: Path) -> None:
    code, out, err = _run(env={"AUDITOR_YUBICO_ROOTS": str(tmp_path / "missing")})
    assert code == 2 and "is not a folder" in err and "Yubico PIV Root CA Serial 263751" in out
