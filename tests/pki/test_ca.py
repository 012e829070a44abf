"""The CA folder through the library: issuance, rotation, renewal, revocation, locking."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509

from pki.backends.file import FileBackend
from pki.ca import CA, KeyOpener
from pki.errors import CAError, InvalidName, KeyAccessError, PKIError
from pki.verify import verify_chain
from tests.conftest import REPO
from tests.pki.conftest import PASSPHRASE, secrets

MakeCA = Callable[..., tuple[CA, KeyOpener]]
NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(autouse=True)
def _now() -> None:
    """NOW as each test starts: the CA issues from the real clock (5 minutes back), so a NOW
    taken when the module was collected, minutes earlier in a long run, predates its certificates."""
    global NOW
    NOW = dt.datetime.now(dt.UTC)


def bc(cert: x509.Certificate) -> x509.BasicConstraints:
    return cert.extensions.get_extension_for_class(x509.BasicConstraints).value


def test_chain_shape_lifetimes_and_serials(make_ca: MakeCA, tmp_path: Path) -> None:
    ca, opener = make_ca()
    root = ca.root_certificate
    inter = ca.certificate(ca.current_intermediate().serial)
    issued = ca.issue("cim-001", "nats-server", opener, tmp_path / "n", dns=["cim-001.example.com"], ips=["10.0.0.1"])
    leaf = issued.certificate
    assert (bc(root).ca, bc(root).path_length) == (True, 1)
    assert (bc(inter).ca, bc(inter).path_length) == (True, 0)
    assert bc(leaf).ca is False
    assert (root.not_valid_after_utc - root.not_valid_before_utc).days == 20 * 365
    assert (inter.not_valid_after_utc - inter.not_valid_before_utc).days == 3 * 365
    assert (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days == 90
    nc = inter.extensions.get_extension_for_class(x509.NameConstraints)
    assert nc.critical and [str(n.value) for n in nc.value.permitted_subtrees or []] == [
        "example.com", "localhost", "127.0.0.0/8", "10.0.0.0/8"]
    for cert in (root, inter, leaf):
        assert 64 < cert.serial_number.bit_length() <= 159  # positive, >= 64 bits of entropy, <= 20 octets
    assert len({root.serial_number, inter.serial_number, leaf.serial_number}) == 3
    chain = x509.load_pem_x509_certificates((tmp_path / "n/chain.pem").read_bytes())
    assert [c.subject for c in chain] == [inter.subject, root.subject]
    assert (tmp_path / "n/key.pem").stat().st_mode & 0o777 == 0o600
    assert (ca.folder / "private/root.key.pem").stat().st_mode & 0o777 == 0o600
    result = verify_chain(leaf, [root], chain, at=dt.datetime.now(dt.UTC), purpose="server", name="cim-001.example.com",
                          crls=ca.crls(), crl_check_all=True)
    assert result.valid, result.error


def test_a_node_issued_twice_is_refused_and_nothing_is_written(make_ca: MakeCA, tmp_path: Path) -> None:
    ca, opener = make_ca()
    first = ca.issue("cim-001", "nats-client", opener, tmp_path / "a")
    with pytest.raises(CAError, match=f"already has a valid nats-client certificate \\(serial {first.entry.serial}"):
        ca.issue("cim-001", "nats-client", opener, tmp_path / "b")
    assert not (tmp_path / "b").exists()
    # another profile for the same node is fine
    ca.issue("cim-001", "nats-leaf", opener, tmp_path / "c")


def test_existing_files_are_never_overwritten(make_ca: MakeCA, tmp_path: Path) -> None:
    ca, opener = make_ca()
    out = tmp_path / "n"
    out.mkdir()
    (out / "chain.pem").write_text("mine")
    with pytest.raises(CAError, match=r"chain\.pem: already exists"):
        ca.issue("cim-002", "nats-client", opener, out)
    assert sorted(p.name for p in out.iterdir()) == ["chain.pem"]
    assert (out / "chain.pem").read_text() == "mine"
    assert list(ca.list()) and all(e.node != "cim-002" for e in ca.list())


def test_wrong_passphrase_and_corrupt_key_leave_nothing_behind(make_ca: MakeCA, tmp_path: Path) -> None:
    from pki.backends import key_opener

    ca, _ = make_ca()
    wrong = key_opener(ca.folder, lambda kind, what: "not the passphrase")
    with pytest.raises(KeyAccessError, match=r"intermediate-1\.key\.pem: wrong passphrase"):
        ca.issue("cim-003", "nats-client", wrong, tmp_path / "n")
    assert not (tmp_path / "n").exists()
    key = ca.folder / "private/intermediate-1.key.pem"
    key.write_bytes(key.read_bytes()[:120] + b"garbage\n-----END ENCRYPTED PRIVATE KEY-----\n")
    with pytest.raises(KeyAccessError, match="corrupt key file"):
        ca.issue("cim-003", "nats-client", key_opener(ca.folder, secrets), tmp_path / "n")
    assert not (tmp_path / "n").exists()
    assert ca.verify_log().ok


def test_missing_or_non_empty_ca_folders(tmp_path: Path) -> None:
    with pytest.raises(CAError, match="no such CA folder"):
        CA.open(tmp_path / "nope")
    with pytest.raises(CAError, match="not a CA folder"):
        CA.open(tmp_path)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy/notes.txt").write_text("keep me")
    with pytest.raises(CAError, match="not empty"):
        CA.init(tmp_path / "busy", "X", FileBackend(tmp_path / "busy", secrets))
    assert (tmp_path / "busy/notes.txt").read_text() == "keep me"
    with pytest.raises(KeyAccessError, match="at least 8"):
        CA.init(tmp_path / "weak", "X", FileBackend(tmp_path / "weak", lambda k, w: "short"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]  # no half-made CA


def test_a_locked_ca_folder_is_reported(make_ca: MakeCA, tmp_path: Path) -> None:
    ca, opener = make_ca()
    with ca.lock(), pytest.raises(CAError, match=r"locked by another process \(pid \d+\)"):
        CA.open(ca.folder).issue("cim-004", "nats-client", opener, tmp_path / "n", lock_timeout=0.2)
    assert not (tmp_path / "n").exists()


def test_rotation_publishes_an_overlap_bundle(make_ca: MakeCA, tmp_path: Path) -> None:
    ca, opener = make_ca()
    old_serial = ca.current_serial
    before = ca.issue("cim-005", "nats-client", opener, tmp_path / "old").certificate
    ca.create_intermediate("Test Intermediate CA 2", opener, FileBackend(ca.folder, secrets))
    assert ca.current_serial != old_serial
    after = ca.issue("cim-006", "nats-client", opener, tmp_path / "new").certificate
    bundle = x509.load_pem_x509_certificates((ca.folder / "certs/ca-bundle.pem").read_bytes())
    assert [format(c.serial_number, "x") for c in bundle] == [ca.current_serial, old_serial, ca.root.serial]
    for cert in (before, after):  # nodes trusting the bundle accept both generations
        assert verify_chain(cert, bundle[-1:], bundle[:-1], at=dt.datetime.now(dt.UTC), purpose="client").valid
    assert CA.open(ca.folder).current_serial == ca.current_serial


def test_renewal_makes_a_new_key_unless_asked(make_ca: MakeCA, tmp_path: Path) -> None:
    ca, opener = make_ca()
    out = tmp_path / "n"
    first = ca.issue("cim-007", "nats-server", opener, out, dns=["cim-007.example.com"])
    old_key = (out / "key.pem").read_bytes()
    renewed = ca.renew(first.entry.serial, opener, out)
    assert renewed.entry.key_fingerprint != first.entry.key_fingerprint
    assert (out / "key.pem").read_bytes() != old_key
    assert renewed.entry.sans == first.entry.sans and renewed.entry.replaces == first.entry.serial
    kept = ca.renew(renewed.entry.serial, opener, tmp_path / "k", reuse_key=out / "key.pem")
    assert kept.entry.key_fingerprint == renewed.entry.key_fingerprint
    states = {e.serial: e.status for e in ca.list()}
    assert [states[s.entry.serial] for s in (first, renewed, kept)] == ["superseded", "superseded", "valid"]
    with pytest.raises(CAError, match="does not belong"):
        other = ca.issue("cim-008", "nats-client", opener, tmp_path / "o")
        ca.renew(other.entry.serial, opener, tmp_path / "o2", reuse_key=out / "key.pem")


def test_revocation_and_crl(make_ca: MakeCA, tmp_path: Path) -> None:
    ca, opener = make_ca()
    issued = ca.issue("cim-009", "nats-client", opener, tmp_path / "n")
    revoked = ca.revoke(issued.entry.serial.upper(), opener, reason="keyCompromise")
    assert (revoked.status, revoked.revocation_reason) == ("revoked", "keyCompromise")
    crl = x509.load_pem_x509_crl((ca.folder / "crl" / f"{ca.current_serial}.pem").read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(issued.certificate.serial_number) is not None
    with pytest.raises(CAError, match="already revoked"):
        ca.revoke(issued.entry.serial, opener)
    with pytest.raises(PKIError, match="unknown revocation reason"):
        ca.revoke(issued.entry.serial, opener, reason="boredom")
    result = verify_chain(issued.certificate, [ca.root_certificate], ca.intermediate_certificates(),
                          at=dt.datetime.now(dt.UTC), purpose="client", crls=ca.crls(), crl_check_all=True)
    assert not result.valid and "revoked" in (result.error or "")
    # a new CRL has a higher number
    fresh = x509.load_pem_x509_crl(ca.crl(opener))
    number = fresh.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number > crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def test_list_expiring(make_ca: MakeCA, tmp_path: Path) -> None:
    ca, opener = make_ca(backdate_days=120)
    ca.issue("soon", "nats-client", opener, tmp_path / "a", not_before=NOW - dt.timedelta(days=80))
    ca.issue("later", "nats-client", opener, tmp_path / "b")
    ca.issue("gone", "nats-client", opener, tmp_path / "c", not_before=NOW - dt.timedelta(days=100))
    soon = [e.node for e in ca.list(expiring=dt.timedelta(days=30), now=NOW)]
    assert soon == ["soon"]
    states = {e.node: e.state(NOW) for e in ca.list()}
    assert states["gone"] == "expired" and states["later"] == "valid"


def test_two_processes_issuing_at_once_lose_nothing(make_ca: MakeCA, tmp_path: Path) -> None:
    ca, _ = make_ca()
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from pki.backends import key_opener
        from pki.ca import CA
        ca = CA.open(Path({str(ca.folder)!r}))
        opener = key_opener(ca.folder, lambda kind, what: {PASSPHRASE!r})
        signer = ca._signer(ca.current_intermediate(), opener)
        for i in range(15):
            ca.issue(f"{{sys.argv[1]}}-{{i}}", "nats-client", opener, Path({str(tmp_path)!r}) / f"{{sys.argv[1]}}-{{i}}", signer=signer)
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", script, name], env=env, stderr=subprocess.PIPE, text=True)
             for name in ("alpha", "beta")]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    entries = [e for e in CA.open(ca.folder).list() if e.profile == "nats-client"]
    assert len(entries) == 30
    assert len({e.serial for e in entries}) == 30
    assert {e.node for e in entries} == {f"{n}-{i}" for n in ("alpha", "beta") for i in range(15)}
    report = ca.verify_log()
    assert report.ok, report.problems
    assert report.entries == 2 * (2 + 30)  # an intent and its completion for each certificate


def test_names_are_each_signed_once_and_a_credential_never(make_ca: MakeCA, tmp_path: Path) -> None:
    """`--dns n.example.com --dns N.example.com.` is one name (a verifier compares them so): the
    certificate holds it once. A URI with user:password@ would publish the password to every
    peer and store it in the inventory and log: refused, the refusal not quoting it, nothing
    signed or logged."""
    ca, opener = make_ca()
    issued = ca.issue("n", "nats-server", opener, tmp_path / "a", dns=["n.example.com", "N.Example.COM."],
                      ips=["10.0.0.1", "10.0.0.1"])
    san = issued.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["n.example.com"]
    assert [str(i) for i in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.1"]
    log_before = (ca.folder / "log.jsonl").read_bytes()
    with pytest.raises(InvalidName) as refused:
        ca.issue("m", "nats-server", opener, tmp_path / "b", uris=["https://svc:hunter2@x.example/p"])
    assert "hunter2" not in str(refused.value) and "svc" not in str(refused.value)
    assert "'https://x.example/p' is given with user information" in str(refused.value)
    assert (ca.folder / "log.jsonl").read_bytes() == log_before and not (tmp_path / "b").exists()


def test_a_credential_signed_before_the_refusal_is_never_shown_or_stored_again(
        make_ca: MakeCA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A certificate signed with a URI holding user:password@ before `pki` refused such names
    (issued here through the old acceptance): the inventory row and the log's replay name the
    URI without it, so `list`, `renew` and the auditor's pki-inventory evidence never show it,
    the log still verifies against the inventory, and a rebuilt inventory no longer stores it
    (the log, append-only, and the certificate itself keep what was signed; CERT-023 fails the
    certificate)."""
    from pki import build

    ca, opener = make_ca(permitted_dns=("example.com",), permitted_ip=())
    ca.create_intermediate("URI CA", opener, FileBackend(ca.folder, secrets), permitted_dns=["example.com"],
                           permitted_uri=[".example.com"])
    monkeypatch.setattr(build, "_uri", lambda value, kind: value.strip())  # the acceptance before 8b0556d
    issued = ca.issue("n", "nats-client", opener, tmp_path / "a", uris=["https://svc:hunter2@x.example.com/p"])
    monkeypatch.undo()
    san = issued.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["https://svc:hunter2@x.example.com/p"]
    with sqlite3.connect(ca.folder / "inventory.sqlite") as db:  # the row as the code before wrote it
        db.execute("UPDATE certificates SET sans = ? WHERE node = 'n'",
                   (json.dumps({"dns": [], "ip": [], "uri": ["https://svc:hunter2@x.example.com/p"]}),))
    db.close()
    assert b"hunter2" in (ca.folder / "inventory.sqlite").read_bytes()
    (entry,) = [e for e in CA.open(ca.folder).list() if e.node == "n"]
    assert entry.sans["uri"] == ["https://x.example.com/p"]
    assert b"hunter2" not in (ca.folder / "log.jsonl").read_bytes()  # but in the certificate it records (base64)
    assert ca.verify_log().ok
    ca.rebuild_inventory()
    assert b"hunter2" not in (ca.folder / "inventory.sqlite").read_bytes() and ca.verify_log().ok
    renewed = ca.renew(entry.serial, opener, tmp_path / "b")
    names = renewed.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.UniformResourceIdentifier) == ["https://x.example.com/p"]
