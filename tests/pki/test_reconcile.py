"""Reconciliation at start, step by step: an issuance interrupted at each stage is closed or
finished by the next command (the kill loop in test_crash_safety.py does it at random)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pki import issuance
from pki.backends.file import FileBackend
from pki.ca import CA, KeyOpener
from pki.errors import NoInventory
from tests.pki.conftest import secrets

MakeCA = Callable[..., tuple[CA, KeyOpener]]


class Crash(BaseException):
    """Stands for the process dying: nothing catches it, nothing cleans up after it."""


def events(ca: CA) -> list[str]:
    return [json.loads(line)["event"] for line in (ca.folder / "log.jsonl").read_text().splitlines()]


def crash(monkeypatch: pytest.MonkeyPatch, target: object, name: str) -> None:
    def die(*_args: object, **_kwargs: object) -> None:
        raise Crash

    monkeypatch.setattr(target, name, die)


def crashed(monkeypatch: pytest.MonkeyPatch, target: object, name: str, call: Callable[[], object]) -> None:
    """Run `call` with `target.name` dying, as the process would at that point."""
    with monkeypatch.context() as m:
        crash(m, target, name)
        with pytest.raises(Crash):
            call()


def test_a_crash_before_the_signature_is_closed_and_leaves_nothing(make_ca: MakeCA, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    ca, opener = make_ca()
    crashed(monkeypatch, issuance, "sign", lambda: ca.issue("n1", "nats-client", opener, tmp_path / "n1"))
    (staged,) = (tmp_path / "n1").iterdir()
    assert staged.name.startswith(".pki-") and (staged / "key.pem").exists()  # the staged key, for now
    again = CA.open(ca.folder)
    report = again.verify_log()
    assert report.ok and "an issuance was interrupted" in " ".join(report.notes)
    assert sorted(e.node for e in again.list()) == ["Test Intermediate CA", "Test Root CA"]  # list reconciles
    assert events(again)[-2:] == ["intent", "abandon"]
    assert list((tmp_path / "n1").iterdir()) == []
    again.issue("n1", "nats-client", opener, tmp_path / "n1")  # the same run goes through
    assert again.verify_log().ok


def test_a_crash_after_the_completion_is_finished(make_ca: MakeCA, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    ca, opener = make_ca()
    crashed(monkeypatch, CA, "_install_leaf", lambda: ca.issue("n1", "nats-client", opener, tmp_path / "n1"))
    assert not (tmp_path / "n1/cert.pem").exists()
    again = CA.open(ca.folder)
    assert "behind" in " ".join(again.verify_log().notes)
    listed = {e.node: e for e in again.list()}
    assert "n1" in listed and listed["n1"].status == "valid"
    assert sorted(p.name for p in (tmp_path / "n1").iterdir()) == ["cert.pem", "chain.pem", "key.pem"]
    assert (tmp_path / "n1/cert.pem").read_text() == listed["n1"].pem
    report = again.verify_log()
    assert report.ok and report.notes == ()


def test_an_interrupted_intermediate_leaves_no_key_or_crl(make_ca: MakeCA, monkeypatch: pytest.MonkeyPatch) -> None:
    ca, opener = make_ca()
    before = sorted(p.name for p in (ca.folder / "private").iterdir()), sorted(p.name for p in (ca.folder / "crl").iterdir())
    crashed(monkeypatch, issuance, "sign", lambda: ca.create_intermediate("Second", opener, FileBackend(ca.folder, secrets)))
    assert len(list((ca.folder / "private").iterdir())) == len(before[0]) + 1  # staged before the signature
    again = CA.open(ca.folder)
    again.crl(opener)  # any change reconciles first
    assert "abandon" in events(again)
    assert (sorted(p.name for p in (again.folder / "private").iterdir()), sorted(p.name for p in (again.folder / "crl").iterdir())) == before
    again.create_intermediate("Second", opener, FileBackend(again.folder, secrets))
    assert again.verify_log().ok and len(again.intermediates) == 2


def test_a_revocation_logged_but_not_published_is_published(make_ca: MakeCA, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    ca, opener = make_ca()
    issued = ca.issue("n1", "nats-client", opener, tmp_path / "n1")
    crashed(monkeypatch, CA, "_write_crl", lambda: ca.revoke(issued.entry.serial, opener))
    again = CA.open(ca.folder)
    assert all(c.get_revoked_certificate_by_serial_number(issued.certificate.serial_number) is None for c in again.crls())
    again.issue("n2", "nats-client", opener, tmp_path / "n2")  # reconciles: signs the CRL the log calls for
    assert any(c.get_revoked_certificate_by_serial_number(issued.certificate.serial_number) for c in again.crls())
    assert again.verify_log().ok


def test_a_torn_last_line_is_cut_and_a_lost_newline_restored(make_ca: MakeCA, tmp_path: Path) -> None:
    ca, opener = make_ca()
    log = ca.folder / "log.jsonl"
    whole = log.read_bytes()
    log.write_bytes(whole[:-1])  # the newline of a complete entry lost
    ca.issue("n1", "nats-client", opener, tmp_path / "n1")
    assert ca.verify_log().ok
    log.write_bytes(log.read_bytes() + b'{"seq":99,"time":"2026-')  # an append torn by a power cut
    ca.issue("n2", "nats-client", opener, tmp_path / "n2")
    report = ca.verify_log()
    assert report.ok and b'"seq":99' not in log.read_bytes()


def test_a_lost_inventory_is_rebuilt_from_the_log(make_ca: MakeCA, tmp_path: Path) -> None:
    ca, opener = make_ca()
    issued = ca.issue("n1", "nats-client", opener, tmp_path / "n1")
    ca.revoke(issued.entry.serial, opener, reason="keyCompromise")
    before = {e.serial: e for e in ca.list()}
    (ca.folder / "inventory.sqlite").unlink()
    with pytest.raises(NoInventory, match="the CA inventory is missing") as missing:
        list(ca.list())
    assert missing.value.folder == ca.folder
    assert ca.rebuild_inventory() == 3
    assert {e.serial: e for e in ca.list()} == before
    assert ca.verify_log().ok
